/**
 * Upstream provider presets: any OpenID Connect provider ({@linkcode oidc}), any OAuth 2.0
 * provider with a user endpoint ({@linkcode oauth2}), GitHub ({@linkcode github}) and Google
 * ({@linkcode google}).
 *
 * @module
 */
import * as oauth from "oauth4webapi";
import { boundedFetch, isLoopbackUrl, requireHttps } from "./_common.ts";
import { createUpstream } from "./upstream.ts";
import type { Upstream, UpstreamIdentity, UpstreamOptions } from "./upstream.ts";

/** Options for {@linkcode oidc}. */
export interface OidcOptions extends UpstreamOptions {
  /** The provider's issuer identifier (discovery at `<issuer>/.well-known/openid-configuration`); https, or http on loopback. */
  issuer: string;
}

const insecureFor = (issuer: string) =>
  isLoopbackUrl(issuer) ? { [oauth.allowInsecureRequests]: true } : {};

/** A JSON object from a bounded upstream response, or a thrown error. */
async function jsonObject(res: Response): Promise<Record<string, unknown>> {
  if (!res.ok) {
    await res.body?.cancel();
    throw new Error(`upstream user endpoint answered ${res.status}`);
  }
  const body = await res.json();
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new Error("upstream user endpoint did not return an object");
  }
  return body as Record<string, unknown>;
}

/**
 * Sign in through any OpenID Connect provider: discovery (OIDC and RFC 8414 document),
 * authorization code with PKCE S256, `state`, `nonce`, RFC 9207 `iss` when the provider
 * supports it, ID token validated (signature, `iss`, `aud`, `nonce`, times), then userinfo
 * merged into the profile. The Gatehouse subject defaults to `<name>:<sub>` (name `"oidc"`).
 *
 * @example
 * ```ts
 * import { createAuthServer } from "@gatehouse/oauth";
 * import { oidc } from "@gatehouse/oauth/identity";
 *
 * const auth = createAuthServer({
 *   issuer: "https://mcp.example.com",
 *   resources: ["https://mcp.example.com/mcp"],
 *   authenticate: oidc({
 *     issuer: "https://login.example.com",
 *     clientId: "gatehouse",
 *     clientSecret: "from-your-secret-store",
 *     scopes: ["openid", "profile", "offline_access"],
 *   }),
 * });
 * ```
 *
 * @throws {TypeError} for a missing client id or a non-https issuer (http only on loopback).
 */
export function oidc(options: OidcOptions): Upstream {
  const issuerUrl = requireHttps("oidc: issuer", options?.issuer);
  const insecure = insecureFor(options.issuer);
  return createUpstream({
    name: "oidc",
    displayName: new URL(options.issuer).host,
    oidc: true,
    issuer: options.issuer,
    scopes: ["openid", "profile", "email"],
    async metadata(fetcher) {
      const res = await oauth.discoveryRequest(issuerUrl, {
        algorithm: "oidc",
        [oauth.customFetch]: fetcher,
        ...insecure,
      });
      return await oauth.processDiscoveryResponse(issuerUrl, res);
    },
    async identify(as, client, tokens, fetcher): Promise<UpstreamIdentity> {
      const claims = oauth.getValidatedIdTokenClaims(tokens);
      if (!claims) throw new Error("no ID token");
      const profile: Record<string, unknown> = { ...claims };
      if (as.userinfo_endpoint) {
        const res = await oauth.userInfoRequest(as, client, tokens.access_token, {
          [oauth.customFetch]: fetcher,
          ...insecure,
        });
        // processUserInfoResponse checks the userinfo `sub` equals the ID token's.
        Object.assign(profile, await oauth.processUserInfoResponse(as, client, claims.sub, res));
      }
      return { subject: claims.sub, profile };
    },
  }, options);
}

/** Options for {@linkcode oauth2}. */
export interface OAuth2Options extends UpstreamOptions {
  /** The provider's authorization endpoint (https, or http on loopback). */
  authorizationEndpoint: string;
  /** The provider's token endpoint. */
  tokenEndpoint: string;
  /** The endpoint returning the signed-in user as JSON (called with the access token). */
  userinfoEndpoint: string;
  /** RFC 7009 revocation endpoint, if the provider has one (revoking a grant revokes upstream). */
  revocationEndpoint?: string;
  /** The provider's issuer, checked against an RFC 9207 `iss` in the callback. Default: the authorization endpoint's origin. */
  issuer?: string;
  /** The user's stable id from the user object. Default: `sub`, else `id`, as a string. */
  userSubject?: (user: Record<string, unknown>) => string | undefined;
  /** Extra headers for the user endpoint (e.g. an API version). */
  userinfoHeaders?: Record<string, string>;
}

/**
 * Sign in through a plain OAuth 2.0 provider (no OpenID Connect): authorization code with
 * PKCE S256 and `state`, then the user endpoint maps to the subject through `userSubject`.
 *
 * @throws {TypeError} for a missing client id, name, or a non-https endpoint.
 */
export function oauth2(options: OAuth2Options): Upstream {
  for (
    const [what, u] of [
      ["authorizationEndpoint", options?.authorizationEndpoint],
      ["tokenEndpoint", options?.tokenEndpoint],
      ["userinfoEndpoint", options?.userinfoEndpoint],
    ] as const
  ) requireHttps(`oauth2: ${what}`, u);
  if (options.revocationEndpoint) {
    requireHttps("oauth2: revocationEndpoint", options.revocationEndpoint);
  }
  const issuer = options.issuer ?? new URL(options.authorizationEndpoint).origin;
  const as: oauth.AuthorizationServer = {
    issuer,
    authorization_endpoint: options.authorizationEndpoint,
    token_endpoint: options.tokenEndpoint,
    userinfo_endpoint: options.userinfoEndpoint,
    ...(options.revocationEndpoint ? { revocation_endpoint: options.revocationEndpoint } : {}),
  };
  const userSubject = options.userSubject ??
    ((u) =>
      typeof u.sub === "string"
        ? u.sub
        : typeof u.id === "string" || typeof u.id === "number"
        ? String(u.id)
        : undefined);
  return createUpstream({
    name: "oauth2",
    displayName: new URL(options.authorizationEndpoint).host,
    oidc: false,
    issuer: options.authorizationEndpoint,
    scopes: [],
    metadata: () => Promise.resolve(as),
    async identify(_as, _client, tokens, fetcher): Promise<UpstreamIdentity> {
      const user = await jsonObject(
        await fetcher(options.userinfoEndpoint, {
          headers: {
            authorization: `Bearer ${tokens.access_token}`,
            accept: "application/json",
            "user-agent": "gatehouse",
            ...options.userinfoHeaders,
          },
        }),
      );
      const subject = userSubject(user);
      if (typeof subject !== "string" || !subject) throw new Error("no user id");
      return { subject, profile: user };
    },
  }, options);
}

/** Options for {@linkcode github}. */
export interface GitHubOptions extends UpstreamOptions {
  /** GitHub Enterprise Server: its web origin (default `https://github.com`). */
  baseUrl?: string;
  /** GitHub Enterprise Server: its API root (default `https://api.github.com`, GHES `<baseUrl>/api/v3`). */
  apiUrl?: string;
}

/**
 * Sign in with GitHub (an OAuth app or GitHub App; not OpenID Connect). Follows GitHub's
 * documented behaviour: the token endpoint answers JSON only with `Accept:
 * application/json` and reports errors in a 200 body (mapped to RFC 6749 errors here); the
 * user comes from `GET /user` (subject: the numeric `id`, stable across renames). Default
 * scope `read:user`. GitHub has no RFC 7009 endpoint, so revoking a grant does not revoke
 * the GitHub token.
 */
export function github(options: GitHubOptions): Upstream {
  const base = (options?.baseUrl ?? "https://github.com").replace(/\/+$/, "");
  const api = (options?.apiUrl ??
    (options?.baseUrl ? `${base}/api/v3` : "https://api.github.com")).replace(/\/+$/, "");
  const tokenEndpoint = `${base}/login/oauth/access_token`;
  // Bounded here too: this wrapper reads the body before the upstream flow's own bounded fetch.
  const inner = boundedFetch(
    options?.fetch ?? ((i: RequestInfo | URL, init?: RequestInit) => fetch(i, init)),
  );
  // GitHub answers token errors with 200 {error}; make them RFC 6749 §5.2 400s.
  const githubFetch: typeof fetch = async (input, init) => {
    const res = await inner(input, init);
    const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    if (res.status !== 200 || !url.startsWith(tokenEndpoint)) return res;
    const text = await res.text();
    let body: Record<string, unknown> | undefined;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    if (body && typeof body.error === "string") {
      const error = body.error === "bad_refresh_token" || body.error === "bad_verification_code"
        ? "invalid_grant"
        : body.error;
      return Response.json({ error }, { status: 400 });
    }
    return new Response(text, { status: res.status, headers: res.headers });
  };
  return oauth2({
    ...options,
    name: options.name ?? "github",
    displayName: options.displayName ?? "GitHub",
    authorizationEndpoint: `${base}/login/oauth/authorize`,
    tokenEndpoint,
    userinfoEndpoint: `${api}/user`,
    issuer: base,
    scopes: options.scopes ?? ["read:user"],
    clientAuth: options.clientAuth ?? "client_secret_post",
    userinfoHeaders: { accept: "application/vnd.github+json" },
    userSubject: (u) => typeof u.id === "number" ? String(u.id) : undefined,
    fetch: githubFetch,
  });
}

/** Options for {@linkcode google}. */
export interface GoogleOptions extends UpstreamOptions {
  /** Override the issuer (only for a test stand-in). Default `https://accounts.google.com`. */
  issuer?: string;
}

/**
 * Sign in with Google (OpenID Connect). Asks for `openid email profile` and, so that the
 * upstream token can be refreshed, `access_type=offline` with `prompt=consent` (Google only
 * issues a refresh token then). Revoking a grant revokes the Google token (Google publishes
 * an RFC 7009 `revocation_endpoint`).
 */
export function google(options: GoogleOptions): Upstream {
  return oidc({
    ...options,
    issuer: options?.issuer ?? "https://accounts.google.com",
    name: options?.name ?? "google",
    displayName: options?.displayName ?? "Google",
    scopes: options?.scopes ?? ["openid", "email", "profile"],
    authorizationParams: {
      access_type: "offline",
      prompt: "consent",
      ...options?.authorizationParams,
    },
  });
}

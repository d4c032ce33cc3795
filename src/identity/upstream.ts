/**
 * Sign-in through an upstream OAuth 2.0 / OpenID Connect provider, as a Gatehouse
 * `authenticate`: the browser goes to the provider (PKCE S256, `state`, `nonce`), comes back
 * to `<issuer>/callback/<name>`, and the pending MCP authorization continues with the
 * upstream identity and its tokens as grant props (sealed at rest). `oauth4webapi` is the
 * client. The upstream token never reaches the MCP client.
 *
 * @module
 */
import * as oauth from "oauth4webapi";
import type { AuthenticatorHost, AuthenticatorPlugin } from "../authenticator.ts";
import type { AuthenticateContext, AuthenticateResult } from "../config.ts";
import {
  basePath,
  boundedFetch,
  cookie,
  errorCode,
  isLoopbackUrl,
  randomToken,
  setCookie,
  sha256,
  timingSafeEqual,
} from "./_common.ts";
import { bindingOf, findLogin, saveLogin } from "./_login.ts";
import { UpstreamError, UpstreamTokens } from "./upstream_tokens.ts";
import type { UpstreamTokenSet } from "./upstream_tokens.ts";
import type {
  Upstream,
  UpstreamDefinition,
  UpstreamIdentity,
  UpstreamOptions,
} from "./upstream_types.ts";

export { UpstreamError };
export type { UpstreamTokenSet };

export type { Upstream, UpstreamDefinition, UpstreamIdentity, UpstreamOptions };

const BROWSER_COOKIE = "gatehouse_browser";
const PENDING_TTL_MS = 10 * 60 * 1000;

interface PendingSignIn {
  provider: string;
  browser: string;
  sealed: string;
  returnTo: string;
  bind: string;
  redirectUri?: string;
  clientState?: string;
  /** Registered by anyone (DCR, metadata document): no automatic redirect on our failures. */
  selfRegistered?: boolean;
}

/** Storage or crypto trouble while signing in: a 503 page (GET) or "not signed in" (POST). */
export function unavailable(
  h: AuthenticatorHost,
  name: string,
  req: Request,
  e: unknown,
): AuthenticateResult {
  console.error(`[gatehouse] ${name}: sign-in unavailable (${errorCode(e)})`);
  return req.method === "GET"
    ? h.errorPage(
      503,
      "Temporarily unavailable",
      "Signing in is not possible right now. Please try again in a moment.",
    )
    : "";
}

/** Build an upstream `authenticate` from a definition and the operator's options (internal). */
export function createUpstream(def: UpstreamDefinition, options: UpstreamOptions): Upstream {
  if (!options || typeof options.clientId !== "string" || !options.clientId) {
    throw new TypeError(`${def.name}: clientId is required`);
  }
  const name = options.name ?? def.name;
  if (!/^[a-z0-9][a-z0-9_-]{0,31}$/.test(name)) {
    throw new TypeError(`${def.name}: name must be 1-32 of a-z 0-9 _ -`);
  }
  const displayName = options.displayName ?? def.displayName;
  const callbackPath = `/callback/${name}`;
  const doFetch = boundedFetch(options.fetch ?? ((i, init) => fetch(i, init)));
  const insecure = isLoopbackUrl(def.issuer);
  const httpOptions = {
    [oauth.customFetch]: doFetch,
    ...(insecure ? { [oauth.allowInsecureRequests]: true } : {}),
  };
  const client: oauth.Client = { client_id: options.clientId };
  const clientAuth = !options.clientSecret
    ? oauth.None()
    : (options.clientAuth ?? def.clientAuth) === "client_secret_post"
    ? oauth.ClientSecretPost(options.clientSecret)
    : oauth.ClientSecretBasic(options.clientSecret);
  const scopes = options.scopes ?? def.scopes;
  let host: AuthenticatorHost | undefined;
  let asPromise: Promise<oauth.AuthorizationServer> | undefined;
  const metadata = () =>
    asPromise ??= def.metadata(doFetch).catch((e) => {
      asPromise = undefined;
      throw e;
    });
  const attached = (): AuthenticatorHost => {
    if (!host) throw new Error(`${name}: pass it to createAuthServer as "authenticate"`);
    return host;
  };
  const callbackUrl = () => attached().base + callbackPath;
  const tokens = new UpstreamTokens({
    name,
    skew: options.refreshSkewSeconds ?? 60,
    host: attached,
    refresh: async (refreshToken) => {
      const as = await metadata();
      const res = await oauth.refreshTokenGrantRequest(
        as,
        client,
        clientAuth,
        refreshToken,
        httpOptions,
      );
      return await oauth.processRefreshTokenResponse(as, client, res);
    },
  });

  /** Start: remember the authorization request, send the browser to the provider. */
  async function start(req: Request, ctx: AuthenticateContext): Promise<Response> {
    const h = attached();
    let as: oauth.AuthorizationServer;
    try {
      as = await metadata();
    } catch (e) {
      console.error(`[gatehouse] ${name}: provider metadata unavailable (${errorCode(e)})`);
      return h.errorPage(
        502,
        `${displayName} is unavailable`,
        `Signing in with ${displayName} is not possible right now. Please try again later.`,
      );
    }
    if (!as.authorization_endpoint) {
      return h.errorPage(502, `${displayName} is unavailable`, "The provider is misconfigured.");
    }
    const state = randomToken();
    const nonce = def.oidc ? randomToken() : undefined;
    const codeVerifier = oauth.generateRandomCodeVerifier();
    // The browser that starts a sign-in must be the one that finishes it (login CSRF).
    const existing = cookie(req, BROWSER_COOKIE);
    const browser = existing && existing.length === 43 ? existing : randomToken();
    const stateHash = await sha256(state);
    const pending: PendingSignIn = {
      provider: name,
      browser: await sha256(browser),
      sealed: await h.sealer.seal({ codeVerifier, nonce }, `gatehouse/upstream/${stateHash}`),
      returnTo: req.url,
      bind: await bindingOf(ctx.client.client_id, ctx.codeChallenge),
      redirectUri: ctx.redirectUri,
      clientState: ctx.state,
      selfRegistered: ctx.client.source === "dcr" || ctx.client.source === "cimd",
    };
    await h.store.put(["upstream", "pending", stateHash], pending, h.now() + PENDING_TTL_MS);
    const url = new URL(as.authorization_endpoint);
    const q = url.searchParams;
    for (const [k, v] of Object.entries(options.authorizationParams ?? {})) q.set(k, v);
    q.set("response_type", "code");
    q.set("client_id", options.clientId);
    q.set("redirect_uri", callbackUrl());
    if (scopes.length) q.set("scope", scopes.join(" "));
    q.set("state", state);
    if (nonce) q.set("nonce", nonce);
    q.set("code_challenge", await oauth.calculatePKCECodeChallenge(codeVerifier));
    q.set("code_challenge_method", "S256");
    const headers = new Headers({ location: url.href, "cache-control": "no-store" });
    headers.append(
      "set-cookie",
      setCookie(h, BROWSER_COOKIE, browser, basePath(h) + "/callback/", PENDING_TTL_MS / 1000),
    );
    return new Response(null, { status: 302, headers });
  }

  /** GET /callback/<name>: finish the sign-in, continue the MCP authorization. */
  async function callback(req: Request): Promise<Response> {
    const h = attached();
    const url = new URL(req.url);
    const state = url.searchParams.get("state");
    const expired = () =>
      h.errorPage(
        400,
        "Sign-in expired",
        `This sign-in with ${displayName} has expired, was already used, or was not started here. Start again from the application.`,
      );
    if (!state || state.length > 512) return expired();
    const stateHash = await sha256(state);
    const pending = await h.store.swap<PendingSignIn | { used: true }, { used: true }>(
      ["upstream", "pending", stateHash],
      { used: true },
      h.now() + PENDING_TTL_MS,
    );
    if (!pending || "used" in pending || pending.provider !== name) return expired();
    const browser = cookie(req, BROWSER_COOKIE);
    if (!browser || !timingSafeEqual(await sha256(browser), pending.browser)) {
      return h.errorPage(
        403,
        "Sign-in refused",
        "This sign-in was started in another browser. Start again from the application.",
      );
    }
    // From here on the MCP client's request is known: the user's own "no" at the provider goes
    // back to it as access_denied. Our failures do too for operator-configured clients; for
    // self-registered ones (anyone could have registered that redirect URI) they are a page
    // with a plain link, never an automatic redirect (RFC 9700 §4.11.2).
    const deny = (description: string, userDecision = false) => {
      if (!pending.redirectUri) return h.errorPage(403, "Sign-in failed", description);
      const res = h.redirectToClient(pending.redirectUri, {
        error: "access_denied",
        error_description: description,
        state: pending.clientState,
      });
      if (userDecision || !pending.selfRegistered) return res;
      const to = new URL(pending.redirectUri);
      return h.errorPage(403, "Sign-in failed", `${description}.`, {
        href: res.headers.get("location")!,
        host: to.protocol === "http:" || to.protocol === "https:" ? to.host : to.protocol,
      });
    };
    const secrets = await h.sealer.open<{ codeVerifier: string; nonce?: string }>(
      pending.sealed,
      `gatehouse/upstream/${stateHash}`,
    );
    if (!secrets) return deny(`sign-in with ${displayName} failed`);
    let identity: UpstreamIdentity;
    let response: oauth.TokenEndpointResponse;
    try {
      const as = await metadata();
      const params = oauth.validateAuthResponse(as, client, url.searchParams, state);
      const res = await oauth.authorizationCodeGrantRequest(
        as,
        client,
        clientAuth,
        params,
        callbackUrl(),
        secrets.codeVerifier,
        httpOptions,
      );
      response = await oauth.processAuthorizationCodeResponse(as, client, res, {
        expectedNonce: secrets.nonce ?? oauth.expectNoNonce,
        requireIdToken: def.oidc,
      });
      // The ID token's signature too, against the provider's JWKS (asymmetric algorithms only):
      // not only the token endpoint's TLS (OIDC Core §3.1.3.7), which a proxy or a wrong
      // `fetch` can break — its claims reach the app's subject/props/claims hooks.
      if (def.oidc) await oauth.validateApplicationLevelSignature(as, res, httpOptions);
      identity = await def.identify(as, client, response, doFetch);
    } catch (e) {
      if (e instanceof oauth.AuthorizationResponseError && e.error === "access_denied") {
        return deny(`the user denied sign-in with ${displayName}`, true);
      }
      console.error(`[gatehouse] ${name}: sign-in failed (${errorCode(e)})`);
      return deny(`sign-in with ${displayName} failed`);
    }
    const now = Math.floor(h.now() / 1000);
    const upstream: UpstreamTokenSet = {
      provider: name,
      subject: identity.subject,
      access_token: response.access_token,
      token_type: response.token_type,
      ...(response.refresh_token ? { refresh_token: response.refresh_token } : {}),
      ...(typeof response.expires_in === "number" ? { expires_at: now + response.expires_in } : {}),
      ...(response.scope ? { scope: response.scope } : {}),
    };
    let subject: string;
    let extraProps: Record<string, unknown> | undefined;
    let claims: Record<string, unknown> | undefined;
    try {
      subject = options.subject ? options.subject(identity) : `${name}:${identity.subject}`;
      extraProps = options.props?.(identity);
      claims = options.claims?.(identity);
    } catch (e) {
      console.error(`[gatehouse] ${name}: subject/props/claims hook failed (${errorCode(e)})`);
      return deny(`sign-in with ${displayName} failed`);
    }
    if (typeof subject !== "string" || !subject) return deny(`sign-in with ${displayName} failed`);
    const setLogin = await saveLogin(h, name, pending.bind, {
      subject,
      props: { ...extraProps, upstream },
      claims,
    });
    const headers = new Headers({ location: pending.returnTo, "cache-control": "no-store" });
    headers.append("set-cookie", setLogin);
    return new Response(null, { status: 303, headers });
  }

  const providers = new Set([name]);
  const authenticate = async (
    req: Request,
    ctx: AuthenticateContext,
  ): Promise<AuthenticateResult> => {
    const h = attached();
    try {
      const who = await findLogin(h, req, ctx, providers);
      if (who) return who;
      return req.method === "GET" ? await start(req, ctx) : "";
    } catch (e) {
      return unavailable(h, name, req, e);
    }
  };

  const plugin: AuthenticatorPlugin & { start: typeof start; providers: Set<string> } = {
    attach(h) {
      host = h;
      if (!h.quiet) {
        console.log(
          `[gatehouse] ${displayName} sign-in: register this callback URL at the provider: ${
            h.base + callbackPath
          }`,
        );
      }
    },
    routes: () => ({ [callbackPath]: { GET: callback } }),
    async grantRevoked(_grant, props) {
      const up = props?.upstream as UpstreamTokenSet | undefined;
      if (!up || up.provider !== name) return;
      const as = await metadata();
      if (!as.revocation_endpoint) return;
      // RFC 7009: the refresh token first (it usually ends the whole upstream grant).
      for (
        const [token, hint] of [[up.refresh_token, "refresh_token"], [
          up.access_token,
          "access_token",
        ]]
      ) {
        if (!token) continue;
        const res = await oauth.revocationRequest(as, client, clientAuth, token, {
          ...httpOptions,
          additionalParameters: { token_type_hint: hint! },
        });
        await oauth.processRevocationResponse(res);
      }
    },
    start,
    providers,
  };

  const userinfo = async (authInfo: { extra?: Record<string, unknown> } | undefined) => {
    const token = await tokens.accessToken(authInfo);
    const as = await metadata();
    if (!as.userinfo_endpoint) throw new UpstreamError("upstream_unavailable");
    let res: Response;
    try {
      res = await doFetch(as.userinfo_endpoint, {
        headers: {
          authorization: `Bearer ${token}`,
          accept: "application/json",
          "user-agent": "gatehouse",
        },
      });
    } catch {
      throw new UpstreamError("upstream_unavailable");
    }
    if (!res.ok) throw new UpstreamError("upstream_unavailable");
    const body = await res.json().catch(() => undefined);
    if (typeof body !== "object" || body === null || Array.isArray(body)) {
      throw new UpstreamError("upstream_unavailable");
    }
    return body as Record<string, unknown>;
  };

  Object.defineProperty(authenticate, "name", { value: name });
  return Object.assign(authenticate, {
    displayName,
    callbackPath,
    accessToken: (a: { extra?: Record<string, unknown> } | undefined) => tokens.accessToken(a),
    userinfo,
    gatehouse: plugin,
  }) as unknown as Upstream;
}

/**
 * Harness for the client-compatibility suite: one Gatehouse server on memory
 * storage, an MCP endpoint on the same origin protected by `auth.verify`, a
 * sign-in step (cookie session) and a user agent that signs in and approves
 * the consent page. Everything runs in process: `fetch` routes requests for
 * the server's origin to its handler and requests for a client's hosted
 * documents (metadata documents, JWKS) to the documents registered with
 * {@link Harness.host} — a public https host cannot exist here, so that
 * routing is the one stand-in (as in server_cimd_test.ts).
 */
import assert from "node:assert/strict";
import { createAuthServer, generateSigningKey } from "../../mod.ts";
import type { AuditEvent, AuthServer } from "../../mod.ts";
import { memoryStorage } from "../../storage/memory.ts";
import { base64url } from "jose";

export const ORIGIN = "https://mcp.example.com";
export const MCP_URL = ORIGIN + "/mcp";
export const PRM_URL = ORIGIN + "/.well-known/oauth-protected-resource/mcp";

const key = generateSigningKey();

export interface Harness {
  auth: AuthServer;
  events: AuditEvent[];
  /** Requests that reached the server origin, as "METHOD /path". */
  log: string[];
  /** Requests for hosted client documents (URLs). */
  hostedCalls: string[];
  /** fetch as a client sees the world: the server origin and the hosted documents. */
  fetch: typeof fetch;
  /** Publish a JSON document at a public https URL (a client's metadata document or JWKS). */
  host(url: string, body: unknown): void;
  /** The user agent: sign in (once), approve consent, return the URL the server redirected to. */
  userAgent(authorizationUrl: string, opts?: { expectWarning?: RegExp }): Promise<UserAgentResult>;
}

export interface UserAgentResult {
  /** Where the browser was finally sent (the client's redirect URI with code/state/iss). */
  redirect: URL;
  /** The consent page's HTML (to assert what the user was shown). */
  consentHtml: string;
}

/** A fresh PKCE pair (S256). */
export async function pkce(): Promise<{ verifier: string; challenge: string }> {
  const verifier = base64url.encode(crypto.getRandomValues(new Uint8Array(32)));
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return { verifier, challenge: base64url.encode(new Uint8Array(digest)) };
}

/** Start a server and its world. */
export async function harness(): Promise<Harness> {
  const events: AuditEvent[] = [];
  const log: string[] = [];
  const hostedCalls: string[] = [];
  const hosted = new Map<string, unknown>();
  const hostedFetch: typeof fetch = (input) => {
    const url = input instanceof Request ? input.url : String(input);
    hostedCalls.push(url);
    return Promise.resolve(
      hosted.has(url)
        ? Response.json(hosted.get(url), { headers: { "cache-control": "max-age=300" } })
        : new Response("not found", { status: 404 }),
    );
  };
  const auth = createAuthServer({
    issuer: ORIGIN,
    resources: [{ resource: MCP_URL, name: "Notes" }],
    scopes: ["mcp:read", "mcp:write"],
    defaultScopes: ["mcp:read"],
    storage: memoryStorage(),
    keys: [await key],
    // Sign-in: a session cookie, else the login form (the app's own page).
    authenticate: (req) => {
      const m = /(?:^|;\s*)session=([a-z]+)/.exec(req.headers.get("cookie") ?? "");
      if (m) return m[1];
      const back = encodeURIComponent(req.url);
      return new Response(
        `<form method="post" action="/login?return_to=${back}"><input name="user" value="alice"></form>`,
        { status: 200, headers: { "content-type": "text/html" } },
      );
    },
    fetch: hostedFetch,
    // The stand-in hosts do not resolve here, so they are allow-listed (src/_outbound.ts).
    outbound: { allow: ["claude.ai", "chatgpt.com", "app.example.org", "inspector.example.org"] },
    onEvent: (e) => void events.push(e),
    quiet: true,
  });
  const app = async (req: Request): Promise<Response> => {
    const url = new URL(req.url);
    log.push(`${req.method} ${url.pathname}`);
    if (url.pathname === "/login" && req.method === "POST") {
      const user = new URLSearchParams(await req.text()).get("user") ?? "";
      return new Response(null, {
        status: 303,
        headers: {
          location: url.searchParams.get("return_to") ?? "/",
          "set-cookie": `session=${user}; HttpOnly; Secure; SameSite=Lax`,
        },
      });
    }
    if (auth.owns(req)) return auth.handle(req);
    if (url.pathname === "/mcp") {
      const r = await auth.verify(req);
      if (!r.ok) return r.response;
      return Response.json({
        jsonrpc: "2.0",
        id: 1,
        result: { subject: r.claims.subject, clientId: r.claims.clientId },
      });
    }
    return new Response("not found", { status: 404 });
  };
  const clientFetch: typeof fetch = (input, init) => {
    const req = new Request(input, init);
    if (new URL(req.url).origin === ORIGIN) return app(req);
    if (hosted.has(req.url)) return hostedFetch(req.url);
    return Promise.reject(new TypeError(`no route to ${req.url} in this test world`));
  };
  const cookies = new Map<string, string>();
  const browse = async (url: string, init: RequestInit = {}) => {
    const headers = new Headers(init.headers);
    if (cookies.size) headers.set("cookie", [...cookies].map(([k, v]) => `${k}=${v}`).join("; "));
    const res = await clientFetch(url, { ...init, headers, redirect: "manual" });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(";");
      const i = pair.indexOf("=");
      cookies.set(pair.slice(0, i), pair.slice(i + 1));
    }
    return res;
  };
  const submit = (pageUrl: string, html: string, extra: Record<string, string>) => {
    const action = /<form method="post" action="([^"]+)"/.exec(html)?.[1];
    assert.ok(action, "page has a form: " + html.slice(0, 200));
    const fields = new URLSearchParams();
    for (const m of html.matchAll(/<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"/g)) {
      fields.set(m[1], m[2].replace(/&amp;/g, "&"));
    }
    for (const [k, v] of Object.entries(extra)) fields.set(k, v);
    return browse(new URL(action.replace(/&amp;/g, "&"), pageUrl).href, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: fields.toString(),
    });
  };
  return {
    auth,
    events,
    log,
    hostedCalls,
    fetch: clientFetch,
    host: (url, body) => void hosted.set(url, body),
    async userAgent(authorizationUrl, opts = {}) {
      let res = await browse(authorizationUrl);
      let consentHtml = "";
      let pageUrl = authorizationUrl;
      for (let hops = 0; hops < 6; hops++) {
        if (res.status === 302 || res.status === 303) {
          const loc = new URL(res.headers.get("location")!, pageUrl);
          await res.body?.cancel();
          if (loc.origin !== ORIGIN) return { redirect: loc, consentHtml };
          pageUrl = loc.href;
          res = await browse(loc.href);
          continue;
        }
        const html = await res.text();
        assert.equal(res.status, 200, `authorization page ${res.status}: ${html.slice(0, 300)}`);
        if (html.includes('name="decision"')) {
          consentHtml = html;
          if (opts.expectWarning) assert.match(html, opts.expectWarning);
          res = await submit(pageUrl, html, { decision: "approve" });
        } else res = await submit(pageUrl, html, {});
      }
      throw new Error("too many hops during authorization");
    },
  };
}

/** POST a form with the harness fetch. */
export function postForm(
  h: Harness,
  path: string,
  fields: Record<string, string>,
): Promise<Response> {
  return h.fetch(ORIGIN + path, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(fields).toString(),
  });
}

/** Call the MCP endpoint with a bearer token; returns the status. */
export async function callMcp(h: Harness, accessToken?: string): Promise<Response> {
  return await h.fetch(MCP_URL, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(accessToken ? { authorization: `Bearer ${accessToken}` } : {}),
    },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
  });
}

/** The `resource_metadata` and `scope` of a 401 challenge. */
export function challengeOf(res: Response): { resourceMetadata: string; scope?: string } {
  const h = res.headers.get("www-authenticate") ?? "";
  const rm = /resource_metadata="([^"]+)"/.exec(h)?.[1];
  assert.ok(rm, "challenge names resource_metadata: " + h);
  return { resourceMetadata: rm, scope: /scope="([^"]+)"/.exec(h)?.[1] };
}

/** A client written from its public documentation and observed behaviour. */
export interface ScriptedClient {
  /** Well-known paths fetched after the first 401, in this client's order (each must answer 200). */
  discovery: string[];
  /** Dynamic registration body, or… */
  registration?: Record<string, unknown>;
  /** …a Client ID Metadata Document hosted at `metadataDocument.client_id`. */
  metadataDocument?: Record<string, unknown> & { client_id: string };
  /** Redirect URI sent at /authorize (and /token). */
  redirectUri: string;
  /** The `scope` parameter, from the challenge's and PRM's scopes (undefined: none sent). */
  scope(challengeScope: string | undefined, prmScopes: string[]): string | undefined;
  /** Whether `resource` (RFC 8707) is sent at /authorize and /token. */
  sendsResource: boolean;
  /** Client authentication fields for /token and /revoke (default: `client_id` only). */
  clientAuth?(clientId: string, tokenEndpoint: string): Promise<Record<string, string>>;
}

/** What a scripted run produced, for the profile's own assertions. */
export interface ScriptedRun {
  clientId: string;
  registered?: Record<string, unknown>;
  asMetadata: Record<string, unknown>;
  prm: Record<string, unknown>;
  authorizationUrl: URL;
  redirect: URL;
  consentHtml: string;
  tokens: Record<string, unknown>;
  refreshed: Record<string, unknown>;
}

/**
 * Drive a scripted client through the whole flow: 401 → discovery → registration or
 * metadata document → authorize (sign in + consent) → token → MCP call → refresh →
 * revoke (after which the MCP call is refused and the refresh token is dead).
 */
export async function runScripted(h: Harness, c: ScriptedClient): Promise<ScriptedRun> {
  const first = await callMcp(h);
  assert.equal(first.status, 401);
  const challenge = challengeOf(first);
  await first.body?.cancel();
  assert.equal(challenge.resourceMetadata, PRM_URL);
  const docs: Record<string, Record<string, unknown>> = {};
  for (const path of c.discovery) {
    const res = await h.fetch(ORIGIN + path, { headers: { "mcp-protocol-version": "2025-11-25" } });
    assert.equal(res.status, 200, `discovery ${path}`);
    const body = await res.json();
    docs[path.includes("oauth-protected-resource") ? "prm" : "as"] = body;
  }
  const prm = docs.prm, as = docs.as;
  assert.ok(prm && as, "discovery found both documents");
  assert.equal(prm.resource, MCP_URL);
  assert.deepEqual(prm.authorization_servers, [ORIGIN]);
  assert.equal(as.issuer, ORIGIN);
  assert.ok((as.code_challenge_methods_supported as string[]).includes("S256"));
  let clientId: string;
  let registered: Record<string, unknown> | undefined;
  if (c.metadataDocument) {
    assert.equal(as.client_id_metadata_document_supported, true);
    h.host(c.metadataDocument.client_id, c.metadataDocument);
    clientId = c.metadataDocument.client_id;
  } else {
    const res = await h.fetch(as.registration_endpoint as string, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(c.registration),
    });
    assert.equal(res.status, 201, await res.clone().text());
    registered = await res.json();
    clientId = registered!.client_id as string;
  }
  const { verifier, challenge: codeChallenge } = await pkce();
  const authorizationUrl = new URL(as.authorization_endpoint as string);
  const q = authorizationUrl.searchParams;
  q.set("response_type", "code");
  q.set("client_id", clientId);
  q.set("redirect_uri", c.redirectUri);
  q.set("code_challenge", codeChallenge);
  q.set("code_challenge_method", "S256");
  q.set("state", "state-" + crypto.randomUUID());
  const scope = c.scope(challenge.scope, prm.scopes_supported as string[]);
  if (scope !== undefined) q.set("scope", scope);
  if (c.sendsResource) q.set("resource", MCP_URL);
  const { redirect, consentHtml } = await h.userAgent(authorizationUrl.href);
  assert.equal(redirect.href.split("?")[0], c.redirectUri.split("?")[0]);
  assert.equal(redirect.searchParams.get("state"), q.get("state"));
  assert.equal(redirect.searchParams.get("iss"), ORIGIN);
  const code = redirect.searchParams.get("code");
  assert.ok(code, "authorization code: " + redirect.href);
  const tokenEndpoint = as.token_endpoint as string;
  const auth = () =>
    c.clientAuth?.(clientId, tokenEndpoint) ?? Promise.resolve({ client_id: clientId });
  const resource: Record<string, string> = c.sendsResource ? { resource: MCP_URL } : {};
  const tokenRes = await postForm(h, new URL(tokenEndpoint).pathname, {
    grant_type: "authorization_code",
    code,
    code_verifier: verifier,
    redirect_uri: c.redirectUri,
    ...resource,
    ...(await auth()),
  });
  assert.equal(tokenRes.status, 200, await tokenRes.clone().text());
  const tokens = await tokenRes.json();
  assert.equal(tokens.token_type, "Bearer");
  assert.equal(typeof tokens.refresh_token, "string", "a refresh token is issued");
  const ok = await callMcp(h, tokens.access_token);
  assert.equal(ok.status, 200);
  assert.equal((await ok.json()).result.clientId, clientId);
  const refreshRes = await postForm(h, new URL(tokenEndpoint).pathname, {
    grant_type: "refresh_token",
    refresh_token: tokens.refresh_token,
    ...resource,
    ...(await auth()),
  });
  assert.equal(refreshRes.status, 200, await refreshRes.clone().text());
  const refreshed = await refreshRes.json();
  assert.notEqual(refreshed.refresh_token, tokens.refresh_token, "rotated");
  assert.equal((await callMcp(h, refreshed.access_token)).status, 200);
  const revoke = await postForm(h, new URL(as.revocation_endpoint as string).pathname, {
    token: refreshed.refresh_token,
    token_type_hint: "refresh_token",
    ...(await auth()),
  });
  assert.equal(revoke.status, 200);
  assert.equal((await callMcp(h, refreshed.access_token)).status, 401, "revoked grant");
  const dead = await postForm(h, new URL(tokenEndpoint).pathname, {
    grant_type: "refresh_token",
    refresh_token: refreshed.refresh_token,
    ...(await auth()),
  });
  assert.equal(dead.status, 400);
  assert.equal((await dead.json()).error, "invalid_grant");
  return {
    clientId,
    registered,
    asMetadata: as,
    prm,
    authorizationUrl,
    redirect,
    consentHtml,
    tokens,
    refreshed,
  };
}

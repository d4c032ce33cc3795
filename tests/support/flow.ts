/**
 * Test helpers that drive the authorization server the way a client and a
 * user would: register, authorize (read the consent form, submit it),
 * exchange, refresh. Everything goes through `auth.handle`.
 */
import assert from "node:assert/strict";
import { createAuthServer } from "../../mod.ts";
import type { AuditEvent, AuthServer, AuthServerConfig } from "../../mod.ts";
import { generateSigningKey } from "../../src/keys.ts";
import { base64url } from "jose";

export const ISSUER = "https://as.example.com";
export const RESOURCE = "https://mcp.example.com/mcp";
export const REDIRECT = "http://127.0.0.1:33418/callback";

/** A fresh PKCE pair. */
export async function pkce(): Promise<{ verifier: string; challenge: string }> {
  const verifier = base64url.encode(crypto.getRandomValues(new Uint8Array(32)));
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return { verifier, challenge: base64url.encode(new Uint8Array(digest)) };
}

const sharedKey = generateSigningKey();

export interface TestServer {
  auth: AuthServer;
  events: AuditEvent[];
  /** Call the server with a path relative to the issuer origin. */
  call(path: string, init?: RequestInit): Promise<Response>;
  /** POST a form. */
  form(
    path: string,
    fields: Record<string, string>,
    headers?: Record<string, string>,
  ): Promise<Response>;
  /** Move the clock. */
  advance(ms: number): void;
}

/** A server on the memory store with a signed-in user "alice" and a movable clock. */
export async function testServer(overrides: Partial<AuthServerConfig> = {}): Promise<TestServer> {
  const events: AuditEvent[] = [];
  let offset = 0;
  const auth = createAuthServer({
    issuer: ISSUER,
    resources: [{ resource: RESOURCE, name: "Notes MCP" }],
    scopes: ["mcp:read", "mcp:write", "mcp:admin"],
    defaultScopes: ["mcp:read"],
    keys: [await sharedKey],
    authenticate: () => "alice",
    onEvent: (e) => {
      events.push(e);
    },
    now: () => Date.now() + offset,
    quiet: true,
    ...overrides,
  });
  const origin = new URL(overrides.issuer ?? ISSUER).origin;
  const call = (path: string, init?: RequestInit) => auth.handle(new Request(origin + path, init));
  return {
    auth,
    events,
    call,
    form: (path, fields, headers = {}) =>
      call(path, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
        body: new URLSearchParams(fields).toString(),
      }),
    advance: (ms) => {
      offset += ms;
    },
  };
}

/** Register a client; asserts 201. */
export async function register(
  s: TestServer,
  meta: Record<string, unknown> = {},
): Promise<{ client_id: string; client_secret?: string; [k: string]: unknown }> {
  const res = await s.call("/register", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      redirect_uris: [REDIRECT],
      token_endpoint_auth_method: "none",
      grant_types: ["authorization_code", "refresh_token"],
      client_name: "Test Client",
      ...meta,
    }),
  });
  assert.equal(res.status, 201, await res.clone().text());
  return await res.json();
}

/** Extract the hidden fields from a consent page. */
export function consentFields(html: string): { consent_id: string; csrf: string } {
  const get = (name: string) => {
    const m = new RegExp(`name="${name}" value="([^"]+)"`).exec(html);
    assert.ok(m, `consent page has ${name}`);
    return m[1];
  };
  return { consent_id: get("consent_id"), csrf: get("csrf") };
}

/** Build an /authorize query. */
export function authorizeQuery(params: Record<string, string | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, v);
  return "/authorize?" + q.toString();
}

/** Run authorize → consent → approve; returns the redirect URL. */
export async function authorize(
  s: TestServer,
  clientId: string,
  opts: {
    challenge: string;
    scope?: string;
    resource?: string;
    state?: string;
    redirectUri?: string;
    decision?: string;
  },
): Promise<URL> {
  const page = await s.call(authorizeQuery({
    response_type: "code",
    client_id: clientId,
    redirect_uri: opts.redirectUri ?? REDIRECT,
    code_challenge: opts.challenge,
    code_challenge_method: "S256",
    scope: opts.scope,
    resource: opts.resource ?? RESOURCE,
    state: opts.state ?? "st-1",
  }));
  assert.equal(
    page.status,
    200,
    `consent page expected, got ${page.status} ${page.headers.get("location")}`,
  );
  const fields = consentFields(await page.text());
  const res = await s.form("/authorize", { ...fields, decision: opts.decision ?? "approve" });
  assert.equal(res.status, 302);
  return new URL(res.headers.get("location")!);
}

/** Full flow up to tokens for a public client. */
export async function tokensFor(
  s: TestServer,
  opts: { scope?: string; meta?: Record<string, unknown> } = {},
): Promise<{ client_id: string; access_token: string; refresh_token: string; scope: string }> {
  const client = await register(s, opts.meta);
  const { verifier, challenge } = await pkce();
  const loc = await authorize(s, client.client_id, { challenge, scope: opts.scope });
  const code = loc.searchParams.get("code");
  assert.ok(code);
  const res = await s.form("/token", {
    grant_type: "authorization_code",
    code,
    code_verifier: verifier,
    redirect_uri: REDIRECT,
    client_id: client.client_id,
    resource: RESOURCE,
  });
  assert.equal(res.status, 200, await res.clone().text());
  return { client_id: client.client_id, ...(await res.json()) };
}

/** `Authorization: Basic` header value for client credentials (RFC 6749 §2.3.1 encoding). */
export function basic(id: string, secret: string): string {
  const enc = (s: string) => encodeURIComponent(s).replace(/%20/g, "+");
  return "Basic " + btoa(`${enc(id)}:${enc(secret)}`);
}

/** Assert a JSON OAuth error: status, `error` code, and exactly `error` + `error_description` strings. */
export async function expectError(
  res: Response,
  status: number,
  error: string,
): Promise<Record<string, unknown>> {
  const text = await res.text();
  assert.equal(res.status, status, text);
  assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
  const body = JSON.parse(text);
  assert.equal(body.error, error, text);
  assert.deepEqual(Object.keys(body).sort(), ["error", "error_description"]);
  assert.equal(typeof body.error_description, "string");
  return body;
}

/** Authorize + approve and return the code (and the PKCE verifier) for a registered client. */
export async function codeFor(
  s: TestServer,
  clientId: string,
  opts: { scope?: string; resource?: string; redirectUri?: string; state?: string } = {},
): Promise<{ code: string; verifier: string }> {
  const { verifier, challenge } = await pkce();
  const loc = await authorize(s, clientId, { challenge, ...opts });
  const code = loc.searchParams.get("code");
  assert.ok(code, `expected a code, got ${loc.href}`);
  return { code, verifier };
}

/** POST a refresh_token grant for a public client. */
export function refreshWith(
  s: TestServer,
  refreshToken: string,
  clientId: string,
): Promise<Response> {
  return s.form("/token", {
    grant_type: "refresh_token",
    refresh_token: refreshToken,
    client_id: clientId,
  });
}

/** A refresh that must succeed (200): the token response's JSON body. */
export async function refreshOk(
  s: TestServer,
  refreshToken: string,
  clientId: string,
): Promise<Record<string, string | number>> {
  const res = await refreshWith(s, refreshToken, clientId);
  assert.equal(res.status, 200, await res.clone().text());
  return await res.json();
}

/**
 * Serve an authorization server over real HTTP (127.0.0.1, free port): `configFor` gets the
 * origin (`http://127.0.0.1:<port>`, to use as issuer) and returns the config.
 * `close` shuts the HTTP server down.
 */
export async function serveAuthServer(
  configFor: (origin: string) => AuthServerConfig | Promise<AuthServerConfig>,
): Promise<{ origin: string; auth: AuthServer; close: () => Promise<void> }> {
  const ref: { auth?: AuthServer } = {};
  const server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen: () => {} },
    (req) => ref.auth!.handle(req),
  );
  const origin = `http://127.0.0.1:${server.addr.port}`;
  const auth = ref.auth = createAuthServer(await configFor(origin));
  return { origin, auth, close: () => server.shutdown() };
}

/**
 * Register a `client_secret_basic` client, authorize and redeem the code with Basic auth
 * (asserts 200): its id, secret, the `auth` header to reuse, and the token response.
 */
export async function confidentialTokens(
  s: TestServer,
  opts: { scope?: string; resource?: string } = {},
): Promise<{
  id: string;
  secret: string;
  auth: Record<string, string>;
  access_token: string;
  refresh_token: string;
  [k: string]: unknown;
}> {
  const c = await register(s, { token_endpoint_auth_method: "client_secret_basic" });
  const { code, verifier } = await codeFor(s, c.client_id, opts);
  const auth = { authorization: basic(c.client_id, c.client_secret!) };
  const res = await s.form("/token", {
    grant_type: "authorization_code",
    code,
    code_verifier: verifier,
    redirect_uri: REDIRECT,
  }, auth);
  assert.equal(res.status, 200);
  const t = await res.json();
  return { id: c.client_id, secret: c.client_secret!, auth, ...t };
}

/**
 * Approve the consent page `html` (POST /authorize) and redeem the code for the public
 * client `clientId` with the PKCE `verifier`: the /token response, unread.
 */
export async function approveAndRedeem(
  s: TestServer,
  html: string,
  clientId: string,
  verifier: string,
): Promise<Response> {
  const approved = await s.form("/authorize", { ...consentFields(html), decision: "approve" });
  const loc = new URL(approved.headers.get("location")!);
  return await s.form("/token", {
    grant_type: "authorization_code",
    code: loc.searchParams.get("code")!,
    code_verifier: verifier,
    redirect_uri: REDIRECT,
    client_id: clientId,
  });
}

/**
 * GET /authorize for `clientId` with a fresh PKCE S256 challenge, {@link REDIRECT} and
 * {@link RESOURCE}; `params` add or override query parameters (undefined drops one).
 * The response, unread, and the PKCE verifier.
 */
export async function authorizePage(
  s: TestServer,
  clientId: string,
  params: Record<string, string | undefined> = {},
): Promise<{ res: Response; verifier: string }> {
  const { challenge, verifier } = await pkce();
  const res = await s.call(authorizeQuery({
    response_type: "code",
    client_id: clientId,
    redirect_uri: REDIRECT,
    code_challenge: challenge,
    code_challenge_method: "S256",
    resource: RESOURCE,
    ...params,
  }));
  return { res, verifier };
}

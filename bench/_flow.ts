/**
 * Bench helper (internal): drive a Gatehouse server in-process through `auth.handle`
 * (register → authorize → consent → token), the same way tests/support/flow.ts does,
 * without test assertions.
 */
import { createAuthServer, memoryStorage } from "../mod.ts";
import type { AuthServer, Storage } from "../mod.ts";
import { base64url } from "jose";
import type { JWK } from "jose";

export const ISSUER = "https://as.example.com";
export const RESOURCE = "https://mcp.example.com/mcp";
export const REDIRECT = "http://127.0.0.1:33418/callback";
const ORIGIN = new URL(ISSUER).origin;

/** A fresh PKCE pair. */
export async function pkce(): Promise<{ verifier: string; challenge: string }> {
  const verifier = base64url.encode(crypto.getRandomValues(new Uint8Array(32)));
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return { verifier, challenge: base64url.encode(new Uint8Array(digest)) };
}

/** A server on the given storage, always-signed-in user "alice", quiet. */
export function server(
  key: JWK,
  mode: "strict" | "cached" | "stateless",
  storage: Storage = memoryStorage(),
): AuthServer {
  return createAuthServer({
    issuer: ISSUER,
    resources: [{ resource: RESOURCE, name: "Bench MCP" }],
    scopes: ["mcp:read", "mcp:write", "mcp:admin"],
    defaultScopes: ["mcp:read"],
    keys: [key],
    storage,
    authenticate: () => "alice",
    revocation: { mode },
    // The bench hammers /token with one client: rate limits off (they would 429,
    // and their counter write is not part of the path being measured).
    rateLimits: false,
    quiet: true,
  });
}

const call = (auth: AuthServer, path: string, init?: RequestInit) =>
  auth.handle(new Request(ORIGIN + path, init));

/** POST an urlencoded form. */
export function form(
  auth: AuthServer,
  path: string,
  fields: Record<string, string>,
): Promise<Response> {
  return call(auth, path, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(fields).toString(),
  });
}

async function must(res: Response, status: number, what: string): Promise<Response> {
  if (res.status !== status) {
    throw new Error(`${what}: expected ${status}, got ${res.status}: ${await res.text()}`);
  }
  return res;
}

/** Register a public client for code + refresh. */
export async function register(auth: AuthServer): Promise<string> {
  const res = await must(
    await call(auth, "/register", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        redirect_uris: [REDIRECT],
        token_endpoint_auth_method: "none",
        grant_types: ["authorization_code", "refresh_token"],
        client_name: "Bench Client",
      }),
    }),
    201,
    "register",
  );
  return (await res.json()).client_id;
}

/** authorize (consent page) → approve → code. */
export async function code(
  auth: AuthServer,
  clientId: string,
  scope = "mcp:read mcp:write",
): Promise<{ code: string; verifier: string }> {
  const { verifier, challenge } = await pkce();
  const q = new URLSearchParams({
    response_type: "code",
    client_id: clientId,
    redirect_uri: REDIRECT,
    code_challenge: challenge,
    code_challenge_method: "S256",
    scope,
    resource: RESOURCE,
    state: "st",
  });
  const page = await must(await call(auth, "/authorize?" + q), 200, "authorize");
  const html = await page.text();
  const field = (name: string) => {
    const m = new RegExp(`name="${name}" value="([^"]+)"`).exec(html);
    if (!m) throw new Error(`consent page has no ${name}`);
    return m[1];
  };
  const res = await must(
    await form(auth, "/authorize", {
      consent_id: field("consent_id"),
      csrf: field("csrf"),
      decision: "approve",
    }),
    302,
    "consent",
  );
  const c = new URL(res.headers.get("location")!).searchParams.get("code");
  if (!c) throw new Error(`no code in ${res.headers.get("location")}`);
  return { code: c, verifier };
}

/** Fields of an authorization_code token request. */
export function codeExchange(clientId: string, c: { code: string; verifier: string }) {
  return {
    grant_type: "authorization_code",
    code: c.code,
    code_verifier: c.verifier,
    redirect_uri: REDIRECT,
    client_id: clientId,
    resource: RESOURCE,
  };
}

/** Full flow; returns the token response. */
export async function tokens(
  auth: AuthServer,
): Promise<{ clientId: string; access_token: string; refresh_token: string }> {
  const clientId = await register(auth);
  const c = await code(auth, clientId);
  const res = await must(await form(auth, "/token", codeExchange(clientId, c)), 200, "token");
  return { clientId, ...(await res.json()) };
}

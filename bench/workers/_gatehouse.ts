/**
 * The Gatehouse bench server (internal): what a Worker author writes — `createAuthServer` on the
 * given storage, "alice" always signed in, `/mcp` answered after `auth.verify` (strict).
 */
import { createAuthServer } from "../../mod.ts";
import type { AuthServer, Storage } from "../../mod.ts";

/** A Gatehouse server for `https://<host>` on `storage`, signing with `jwk` (JSON). */
export function gatehouseServer(host: string, storage: Storage, jwk: string): AuthServer {
  return createAuthServer({
    issuer: `https://${host}`,
    resources: [{ resource: `https://${host}/mcp`, name: "Bench MCP" }],
    scopes: ["mcp:read", "mcp:write"],
    defaultScopes: ["mcp:read"],
    keys: [JSON.parse(jwk)],
    storage,
    authenticate: () => "alice",
    // Peers have no rate limiting and the bench hammers /token with one client: limits off
    // (with them on, each limited request adds one counter write per rule).
    rateLimits: false,
    quiet: true,
  });
}

/** Serve `/mcp` (verified) or the authorization server. */
export async function serve(auth: AuthServer, req: Request): Promise<Response> {
  if (new URL(req.url).pathname === "/mcp") {
    const r = await auth.verify(req);
    return r.ok ? new Response("api") : r.response;
  }
  return auth.handle(req);
}

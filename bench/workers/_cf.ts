/**
 * The peer (internal): `@cloudflare/workers-oauth-provider` configured like the Gatehouse bench
 * servers. Its `defaultHandler` answers `/authorize` by signing in "alice" at once
 * (`parseAuthRequest` → `completeAuthorization`, no consent page: the CF provider leaves consent
 * UI to the app); `/mcp` is its `apiRoute` (the provider validates the bearer token first).
 */
import { OAuthProvider } from "@cloudflare/workers-oauth-provider";

interface CfEnv {
  OAUTH_PROVIDER: {
    parseAuthRequest(req: Request): Promise<unknown>;
    completeAuthorization(o: Record<string, unknown>): Promise<{ redirectTo: string }>;
  };
}

/** A CF provider for `https://<host>`. */
// deno-lint-ignore no-explicit-any
export function cfProvider(host: string): OAuthProvider<any> {
  // deno-lint-ignore no-explicit-any
  return new OAuthProvider<any>({
    apiRoute: `https://${host}/mcp`,
    apiHandler: { fetch: () => new Response("api") },
    defaultHandler: {
      async fetch(req: Request, env: CfEnv) {
        if (new URL(req.url).pathname !== "/authorize") return new Response("nf", { status: 404 });
        const request = await env.OAUTH_PROVIDER.parseAuthRequest(req);
        const { redirectTo } = await env.OAUTH_PROVIDER.completeAuthorization({
          request,
          userId: "alice",
          metadata: {},
          scope: ["mcp:read", "mcp:write"],
          props: { userId: "alice" },
          // The bench mints many codes for one user+client; keep earlier grants alive.
          revokeExistingGrants: false,
        });
        return Response.redirect(redirectTo, 302);
      },
      // deno-lint-ignore no-explicit-any
    } as any,
    authorizeEndpoint: "/authorize",
    tokenEndpoint: "/token",
    clientRegistrationEndpoint: "/register",
    scopesSupported: ["mcp:read", "mcp:write"],
    resourceMetadata: { resource: `https://${host}/mcp` },
  });
}

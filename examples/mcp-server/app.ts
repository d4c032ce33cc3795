/**
 * The demo: the Gatehouse authorization server and a protected MCP server on
 * one origin. `main.ts` serves it on http://localhost:8787 with state in a
 * Deno KV file; the end-to-end tests serve it on a random port.
 */
import { createAuthServer } from "../../mod.ts";
import type { AuditEvent, AuthServer, Storage } from "../../mod.ts";
import { protectMcp } from "../../mcp.ts";
import type { JWK } from "jose";
import { createMcpServer, SCOPE_HIERARCHY, TOOL_SCOPES } from "./tools.ts";
import { demoAuthenticate, demoSignIn } from "./demo_login.ts";

const MCP_CORS: Record<string, string> = {
  "access-control-allow-origin": "*",
  "access-control-allow-methods": "GET, POST, DELETE, OPTIONS",
  "access-control-allow-headers":
    "authorization, content-type, accept, mcp-protocol-version, mcp-session-id, last-event-id",
  "access-control-expose-headers": "www-authenticate, mcp-session-id",
  "access-control-max-age": "86400",
};

/** Options for {@link createDemoApp}. */
export interface DemoOptions {
  /** Public origin, e.g. `http://localhost:8787`. */
  origin: string;
  /** Where state lives. */
  storage: Storage;
  /** Signing keys (omit for an ephemeral key). */
  keys?: JWK[];
  /** Audit events go here (default: one log line each). */
  onEvent?: (e: AuditEvent) => void;
  /** Sign-in hook (default: the one-click demo sign-in). */
  authenticate?: Parameters<typeof createAuthServer>[0]["authenticate"];
}

/** The demo app: `handler` serves everything; `auth` is the authorization server. */
export function createDemoApp(
  opts: DemoOptions,
): { handler: (req: Request) => Promise<Response>; auth: AuthServer; mcpUrl: string } {
  const mcpUrl = opts.origin + "/mcp";
  const auth = createAuthServer({
    issuer: opts.origin,
    resources: [{ resource: mcpUrl, name: "Gatehouse example MCP server" }],
    scopes: ["mcp:read", "mcp:write", "mcp:admin"],
    defaultScopes: ["mcp:read"],
    scopeHierarchy: SCOPE_HIERARCHY,
    scopeDescriptions: {
      "mcp:read": "See who you are and use the read-only tools",
      "mcp:write": "Change things through the MCP tools",
      "mcp:admin": "Administer the server (includes write and read)",
    },
    storage: opts.storage,
    keys: opts.keys,
    authenticate: opts.authenticate ?? demoAuthenticate,
    onEvent: opts.onEvent ??
      ((e) =>
        console.log(
          `[audit] ${e.type} sub=${e.subject ?? "-"} client=${e.clientId ?? "-"} scopes=${
            e.scopes?.join(",") ?? "-"
          }`,
        )),
    revocation: { mode: "strict" },
  });
  const mcp = protectMcp(() => createMcpServer(), {
    verify: (req, o) => auth.verify(req, o),
    scopes: ["mcp:read"],
    toolScopes: TOOL_SCOPES,
    scopeHierarchy: SCOPE_HIERARCHY,
  });
  const handler = async (req: Request): Promise<Response> => {
    const path = new URL(req.url).pathname;
    if (auth.owns(req)) return auth.handle(req);
    if (path === "/mcp") {
      // Browser-based MCP clients (e.g. the Inspector in direct mode) need CORS; bearer
      // tokens are not ambient credentials, so any origin may call.
      if (req.method === "OPTIONS") return new Response(null, { status: 204, headers: MCP_CORS });
      const res = await mcp(req);
      const out = new Response(res.body, res);
      for (const [k, v] of Object.entries(MCP_CORS)) out.headers.set(k, v);
      return out;
    }
    const signIn = await demoSignIn(req);
    if (signIn) return signIn;
    if (path === "/") {
      return new Response(
        `Gatehouse demo\n\nMCP endpoint:   ${mcpUrl}\nAS metadata:    ${opts.origin}/.well-known/oauth-authorization-server\n`,
        { headers: { "content-type": "text/plain; charset=utf-8" } },
      );
    }
    return new Response("not found", { status: 404 });
  };
  return { handler, auth, mcpUrl };
}

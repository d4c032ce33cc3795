/**
 * The demo: the Gatehouse authorization server and a protected MCP server on
 * one origin. `main.ts` serves it on http://localhost:8787 with state in a
 * Deno KV file; the end-to-end tests serve it on a random port.
 */
import { createAuthServer } from "../../mod.ts";
import type { AuditEvent, AuthServer, Storage } from "../../mod.ts";
import { createToolGate, protectMcp } from "../../mcp.ts";
import type { McpToolGate, MutationEvent, ToolCallEvent, ToolCallLimits } from "../../mcp.ts";
import { createMcpHandler } from "@modelcontextprotocol/server";
import type { JWK } from "jose";
import { createMcpServer, demoTools, SCOPE_HIERARCHY } from "./tools.ts";
import { demoAuthenticate, demoSignIn } from "./demo_login.ts";
import { upstreamTools } from "./upstream.ts";
import type { Upstream } from "../../src/identity/mod.ts";
import type { EncryptionKey } from "../../src/props.ts";

/** The demo's tool-call limits: 50 calls per user and 1000 per client, per hour. */
export const DEMO_TOOL_CALL_LIMITS: ToolCallLimits = {
  perSubject: { limit: 50, windowSeconds: 3600 },
  perClient: { limit: 1000, windowSeconds: 3600 },
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
  /** Rate limits (default: on, Gatehouse's defaults); `false` turns them off (load tests). */
  rateLimits?: false;
  /** Sign-in hook (default: the one-click demo sign-in). */
  authenticate?: Parameters<typeof createAuthServer>[0]["authenticate"];
  /**
   * Tool-call limits (default {@link DEMO_TOOL_CALL_LIMITS}); `false` turns them off, as
   * `GATEHOUSE_RATE_LIMITS=off` does for `npm start`.
   */
  toolCallLimits?: ToolCallLimits | false;
  /** Tool-call audit events (default: one log line each). */
  onToolCall?: (e: ToolCallEvent) => void;
  /** Confirmed mutations (default: one log line each). */
  onMutation?: (e: MutationEvent) => void;
  /** Sign in through an upstream OIDC provider instead (see upstream.ts). */
  upstream?: Upstream;
  /** Keys sealing grant props (the upstream tokens). */
  encryptionKeys?: EncryptionKey[];
}

/** The demo app: `handler` serves everything; `auth` is the authorization server. */
export function createDemoApp(
  opts: DemoOptions,
): {
  handler: (req: Request, info?: unknown) => Promise<Response>;
  auth: AuthServer;
  mcpUrl: string;
  gate: McpToolGate;
} {
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
    authenticate: opts.authenticate ?? opts.upstream ?? demoAuthenticate,
    encryptionKeys: opts.encryptionKeys,
    onEvent: opts.onEvent ??
      ((e) =>
        console.log(
          `[audit] ${e.type} sub=${e.subject ?? "-"} client=${e.clientId ?? "-"} scopes=${
            e.scopes?.join(",") ?? "-"
          }`,
        )),
    revocation: { mode: "strict" },
    rateLimits: opts.rateLimits,
  });
  const gate = createToolGate({
    tools: [...demoTools(opts.storage), ...upstreamTools(opts.upstream)],
    storage: opts.storage,
    scopeHierarchy: SCOPE_HIERARCHY,
    limits: opts.toolCallLimits ?? DEMO_TOOL_CALL_LIMITS,
    onToolCall: opts.onToolCall ??
      ((e) =>
        console.log(
          `[tool] ${e.tool} ${e.outcome} sub=${e.subject} client=${e.clientId} ${e.durationMs}ms`,
        )),
    onMutation: opts.onMutation ??
      ((e) => console.log(`[mutation] ${e.tool} sub=${e.subject} via=${e.via}`)),
  });
  // SDK v2: one handler serves 2026-07-28 clients and (statelessly) 2025-era clients.
  const mcpHandler = createMcpHandler(({ authInfo }) => createMcpServer(gate, authInfo));
  const mcp = protectMcp((req, { authInfo }) => mcpHandler.fetch(req, { authInfo }), {
    verify: (req, o) => auth.verify(req, o),
    scopes: ["mcp:read"],
    tools: gate,
    scopeHierarchy: SCOPE_HIERARCHY,
    // Bearer tokens are not ambient credentials, so any origin may call (browser clients such
    // as the Inspector in direct mode).
    cors: { origins: "*" },
  });
  // `info` is Deno.serve's connection info: the client IP for per-IP rate limits.
  const handler = async (req: Request, info?: unknown): Promise<Response> => {
    const path = new URL(req.url).pathname;
    if (auth.owns(req)) return auth.handle(req, info);
    if (path === "/mcp") return await mcp(req);
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
  return { handler, auth, mcpUrl, gate };
}

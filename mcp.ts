/**
 * `@gatehouse/oauth/mcp`: glue between the Gatehouse verifier and the MCP TypeScript SDK,
 * v1 (`@modelcontextprotocol/sdk`) and v2 (`@modelcontextprotocol/server`).
 *
 * - {@linkcode protectMcp} wraps an MCP endpoint into a `(req: Request) => Promise<Response>`
 *   that authenticates every request, answers 401/403 with RFC 6750 / RFC 9728 challenges,
 *   refuses bodies it cannot inspect (413/415), applies tool-call limits (429) and CORS, then
 *   runs an SDK v1 server on a stateless transport, or your SDK v2 `createMcpHandler`.
 * - {@linkcode createToolGate}: tools declared with their scopes ({@linkcode defineTool}),
 *   `tools/list` annotated (or filtered), mutating tools confirmed exactly once (elicitation,
 *   or a confirmation token and the built-in `confirm` tool), `onToolCall` / `onMutation`
 *   audit hooks, per-subject and per-client limits.
 * - {@linkcode requireScopes} inside a tool; {@linkcode mcpHandlerVerifyToken} and
 *   {@linkcode agentsAuthContext} adapt the verifier to Vercel's `mcp-handler` and
 *   Cloudflare's `agents`.
 *
 * Nothing here imports SDK v2, and SDK v1's transport is loaded only when a v1 server is
 * served, so one entry serves both generations.
 *
 * @example
 * ```ts
 * import { createVerifier } from "@gatehouse/oauth/verify";
 * import { createToolGate, defineTool, protectMcp } from "@gatehouse/oauth/mcp";
 * import { memoryStorage } from "@gatehouse/oauth/storage/memory";
 * import { createMcpHandler, McpServer } from "@modelcontextprotocol/server";
 * import * as z from "zod";
 *
 * const verifier = createVerifier({
 *   issuer: "http://localhost:8787",
 *   audience: "http://localhost:8787/mcp",
 *   jwksUri: "http://localhost:8787/jwks",
 * });
 * const gate = createToolGate({
 *   storage: memoryStorage(),
 *   tools: [
 *     defineTool({
 *       name: "echo",
 *       scopes: ["mcp:read"],
 *       inputSchema: { text: z.string() },
 *       run: ({ text }) => ({ content: [{ type: "text", text }] }),
 *     }),
 *   ],
 * });
 * const mcp = createMcpHandler(({ authInfo }) =>
 *   gate.install(new McpServer({ name: "demo", version: "1.0.0" }), authInfo)
 * );
 * Deno.serve(
 *   protectMcp((req, { authInfo }) => mcp.fetch(req, { authInfo }), { verifier, tools: gate }),
 * );
 * ```
 *
 * @module
 */

export type { AuthInfo } from "@modelcontextprotocol/sdk/server/auth/types";
export {
  type McpRequestContext,
  type McpServerLike,
  type McpTarget,
  type McpTransportLike,
  protectMcp,
  type ProtectMcpOptions,
  toAuthInfo,
  type V1TransportOptions,
} from "./src/mcp/protect.ts";
export { InsufficientScopeError, requireScopes } from "./src/mcp/scopes.ts";
export {
  type CallLimit,
  createToolGate,
  DEFAULT_TOOL_CALL_LIMITS,
  type LimitDecision,
  type McpToolGate,
  principalOf,
  type ToolCallLimits,
  type ToolGateOptions,
  type ToolHookFailure,
  type ToolRegistrar,
} from "./src/mcp/tools.ts";
export {
  defineTool,
  type McpToolDefinition,
  type MutationEvent,
  type SchemaShape,
  type ShapeOutput,
  type ToolCallContext,
  type ToolCallEvent,
  type ToolCallOutcome,
  type ToolContent,
  type ToolResult,
} from "./src/mcp/types.ts";
export { type CorsOptions, corsPreflight, withCors } from "./src/mcp/cors.ts";
export {
  agentsAuthContext,
  type AgentsMcpAuthContext,
  mcpHandlerVerifyToken,
  type VerifyTokenOptions,
} from "./src/mcp/adapters.ts";

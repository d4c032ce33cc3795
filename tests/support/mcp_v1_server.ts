/**
 * An MCP server on SDK v1 (the example server before it moved to SDK v2), kept so protectMcp is
 * tested with v1 servers. Its tools. Each tool states the scope it needs in
 * {@linkcode TOOL_SCOPES} (checked by `protectMcp` before the tool runs) and checks it again
 * with `requireScopes` (so the tool is safe even when mounted without `toolScopes`).
 *
 * Scopes: `mcp:read` ⊆ `mcp:write` ⊆ `mcp:admin` (see {@linkcode SCOPE_HIERARCHY}).
 *
 * @module
 */

// @ts-types="@modelcontextprotocol/sdk/server/mcp"
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import * as z from "zod";
import { requireScopes } from "../../mcp.ts";

/** scope → scopes it includes: admin ⊇ write ⊇ read. */
export const SCOPE_HIERARCHY: Record<string, string[]> = {
  "mcp:admin": ["mcp:write"],
  "mcp:write": ["mcp:read"],
};

/** The scopes each tool needs; pass as `protectMcp(..., { toolScopes: TOOL_SCOPES })`. */
export const TOOL_SCOPES: Record<string, string[]> = {
  whoami: ["mcp:read"],
  echo: ["mcp:read"],
  admin_stats: ["mcp:admin"],
};

let callsServed = 0;
const startedAt = Date.now();

/** Creates a fresh MCP server with the example tools (one per request in stateless mode). */
export function createMcpServer(): McpServer {
  const server = new McpServer({ name: "gatehouse-example", version: "0.1.0" });

  server.registerTool("whoami", {
    description: "Who is calling: subject, client and granted scopes from the access token.",
  }, (extra) => {
    requireScopes(extra, TOOL_SCOPES.whoami);
    callsServed++;
    const auth = extra.authInfo;
    const info = {
      subject: auth?.extra?.subject ?? null,
      clientId: auth?.clientId ?? null,
      scopes: auth?.scopes ?? [],
      expiresAt: auth?.expiresAt ?? null,
      resource: auth?.resource?.href ?? null,
    };
    return {
      content: [{ type: "text", text: JSON.stringify(info) }],
      structuredContent: info,
    };
  });

  server.registerTool("echo", {
    description: "Echoes the given text back.",
    inputSchema: { text: z.string().max(10_000) },
  }, ({ text }, extra) => {
    requireScopes(extra, TOOL_SCOPES.echo);
    callsServed++;
    return { content: [{ type: "text", text }] };
  });

  server.registerTool("admin_stats", {
    description: "Process statistics (administrators only).",
  }, (extra) => {
    requireScopes(extra, TOOL_SCOPES.admin_stats);
    callsServed++;
    const stats = { callsServed, uptimeSeconds: Math.round((Date.now() - startedAt) / 1000) };
    return { content: [{ type: "text", text: JSON.stringify(stats) }] };
  });

  return server;
}

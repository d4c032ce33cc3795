/**
 * The example MCP server's tools (MCP TypeScript SDK v2), each declared with the scopes it
 * needs. `add_note` is a confirmed mutation: its first call only previews what would be added.
 *
 * Scopes: `mcp:read` ⊆ `mcp:write` ⊆ `mcp:admin` (see {@linkcode SCOPE_HIERARCHY}).
 *
 * @module
 */
import { McpServer } from "@modelcontextprotocol/server";
import * as z from "zod";
import { defineTool, type McpToolDefinition, type McpToolGate } from "../../mcp.ts";
import type { AuthInfo } from "../../mcp.ts";
import { envelope, type Storage } from "../../storage/mod.ts";

/** scope → scopes it includes: admin ⊇ write ⊇ read. */
export const SCOPE_HIERARCHY: Record<string, string[]> = {
  "mcp:admin": ["mcp:write"],
  "mcp:write": ["mcp:read"],
};

let callsServed = 0;
const startedAt = Date.now();

const text = (value: string) => ({ content: [{ type: "text" as const, text: value }] });

/** A note as `list_notes` returns it. */
interface Note {
  text: string;
  createdAt: string;
}

/** The demo's tools; notes live in `storage` under `["demo-note", subject, …]`. */
export function demoTools(storage: Storage): McpToolDefinition[] {
  return [
    defineTool({
      name: "whoami",
      description: "Who is calling: subject, client and granted scopes from the access token.",
      scopes: ["mcp:read"],
      inputSchema: {},
      run: (_args, call) => {
        callsServed++;
        const info = {
          subject: call.subject || null,
          clientId: call.clientId,
          scopes: call.scopes,
          expiresAt: call.authInfo.expiresAt ?? null,
          resource: call.authInfo.resource?.href ?? null,
        };
        return { ...text(JSON.stringify(info)), structuredContent: info };
      },
    }),
    defineTool({
      name: "echo",
      description: "Echoes the given text back.",
      scopes: ["mcp:read"],
      inputSchema: { text: z.string().max(10_000) },
      run: (args) => {
        callsServed++;
        return text(args.text);
      },
    }),
    defineTool({
      name: "list_notes",
      description: "Lists the notes you added with add_note.",
      scopes: ["mcp:read"],
      inputSchema: {},
      run: async (_args, call) => {
        callsServed++;
        const entries = await storage.list(["demo-note", call.subject], { limit: 100 });
        const notes = entries.map((e) => e.value.data as Note);
        return {
          ...text(notes.length ? notes.map((n) => `- ${n.text}`).join("\n") : "(no notes yet)"),
          structuredContent: { notes },
        };
      },
    }),
    defineTool({
      name: "add_note",
      description: "Adds a note (asks you to confirm first).",
      scopes: ["mcp:write"],
      inputSchema: { text: z.string().min(1).max(500) },
      preview: (args) => `Add the note "${args.text}" to your notes.`,
      run: async (args, call) => {
        callsServed++;
        const createdAt = new Date().toISOString();
        const id = `${createdAt}-${crypto.randomUUID()}`;
        await storage.set(
          ["demo-note", call.subject, id],
          envelope({ text: args.text, createdAt }),
        );
        return text(`Added the note "${args.text}".`);
      },
    }),
    defineTool({
      name: "admin_stats",
      description: "Process statistics (administrators only).",
      scopes: ["mcp:admin"],
      inputSchema: {},
      run: () => {
        callsServed++;
        const stats = { callsServed, uptimeSeconds: Math.round((Date.now() - startedAt) / 1000) };
        return text(JSON.stringify(stats));
      },
    }),
  ];
}

/** A fresh SDK v2 server with the gate's tools (one per request: the SDK serves statelessly). */
export function createMcpServer(gate: McpToolGate, authInfo?: AuthInfo): McpServer {
  return gate.install(new McpServer({ name: "gatehouse-example", version: "0.2.0" }), authInfo);
}

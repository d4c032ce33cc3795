/**
 * Shared pieces of the tool-gate tests (tests/mcp_tools_test.ts,
 * tests/security_mcp_attack_test.ts): a verifier with its token minter, and an
 * SDK v1 server with app-managed sessions whose one tool (`add`, scope
 * `mcp:write`) asks for confirmation by elicitation before it runs.
 *
 * @module
 */
// @ts-types="@modelcontextprotocol/sdk/server/mcp"
import { McpServer as McpServerV1 } from "@modelcontextprotocol/sdk/server/mcp.js";
// @ts-types="@modelcontextprotocol/sdk/server/webStandardStreamableHttp"
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import * as z from "zod";
import { createVerifier } from "../../verify.ts";
import { createToolGate, defineTool, protectMcp } from "../../mcp.ts";
import { memoryStorage } from "../../storage/memory.ts";
import { SCOPE_HIERARCHY } from "./mcp_v1_server.ts";
import { ISSUER, makeKey, RESOURCE, signToken, T0 } from "./verify_fixtures.ts";

/** A verifier for {@link RESOURCE} (EdDSA key `kid`, scope hierarchy, clock at T0) and `tokenWith`. */
export async function gateVerifier(kid: string): Promise<{
  verifier: ReturnType<typeof createVerifier>;
  tokenWith: (scope: string, sub?: string) => Promise<string>;
}> {
  const key = await makeKey("EdDSA", kid);
  const verifier = createVerifier({
    issuer: ISSUER,
    audience: RESOURCE,
    jwks: { keys: [key.publicJwk as never] },
    scopeHierarchy: SCOPE_HIERARCHY,
    now: () => T0,
  });
  const tokenWith = (scope: string, sub = "user-1") => signToken(key, { claims: { scope, sub } });
  return { verifier, tokenWith };
}

/**
 * Serve (127.0.0.1, free port) an SDK v1 server with sessions kept by the app and a gated `add`
 * tool that asks `Add "<text>"?` and, on accept, pushes the text to `notes`.
 * Call `server.shutdown()` when done.
 */
export function serveV1Elicitation(verifier: ReturnType<typeof createVerifier>): {
  server: Deno.HttpServer<Deno.NetAddr>;
  handler: (req: Request) => Promise<Response>;
  url: string;
  notes: string[];
} {
  const notes: string[] = [];
  const gate = createToolGate({
    storage: memoryStorage(),
    limits: false,
    tools: [defineTool({
      name: "add",
      scopes: ["mcp:write"],
      inputSchema: { text: z.string() },
      preview: ({ text }) => `Add "${text}"?`,
      run: ({ text }) => {
        notes.push(text);
        return { content: [{ type: "text", text: "added" }] };
      },
    })],
  });
  const sessions = new Map<string, WebStandardStreamableHTTPServerTransport>();
  const handler = protectMcp(async (req) => {
    const existing = sessions.get(req.headers.get("mcp-session-id") ?? "");
    if (existing) return existing;
    const transport: WebStandardStreamableHTTPServerTransport =
      new WebStandardStreamableHTTPServerTransport({
        sessionIdGenerator: () => crypto.randomUUID(),
        onsessioninitialized: (id) => void sessions.set(id, transport),
      });
    await gate.install(new McpServerV1({ name: "v1", version: "1" })).connect(transport);
    return transport;
  }, { verifier, tools: gate });
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, handler);
  return { server, handler, url: `http://127.0.0.1:${server.addr.port}/mcp`, notes };
}

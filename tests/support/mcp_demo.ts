/**
 * The demo app on a loopback port for MCP end-to-end tests, tokens through the SDK's OAuth
 * flow, and SDK v1 / v2 clients carrying them.
 */
import assert from "node:assert/strict";
import {
  Client as ClientV2,
  StreamableHTTPClientTransport as HttpV2,
} from "@modelcontextprotocol/client";
// @ts-types="@modelcontextprotocol/sdk/client/index"
import { Client as ClientV1 } from "@modelcontextprotocol/sdk/client/index.js";
// @ts-types="@modelcontextprotocol/sdk/client/streamableHttp"
import { StreamableHTTPClientTransport as HttpV1 } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
// @ts-types="@modelcontextprotocol/sdk/client/auth"
import { auth } from "@modelcontextprotocol/sdk/client/auth.js";
import { createDemoApp } from "../../examples/mcp-server/app.ts";
import { memoryStorage } from "../../storage/memory.ts";
import type { Storage } from "../../storage/mod.ts";
import { generateSigningKey } from "../../mod.ts";
import type { MutationEvent, ToolCallEvent, ToolCallLimits } from "../../mcp.ts";
import { TestProvider } from "./mcp_client.ts";

export interface Demo {
  mcpUrl: string;
  origin: string;
  toolEvents: ToolCallEvent[];
  mutations: MutationEvent[];
  close(): Promise<void>;
}

/** The demo on a loopback port with the given storage and limits. */
export async function startDemo(
  options: { storage?: Storage; limits?: ToolCallLimits | false } = {},
): Promise<Demo> {
  let handler: (req: Request) => Promise<Response> = () =>
    Promise.resolve(new Response("starting", { status: 503 }));
  const server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen: () => {} },
    (req) => handler(req),
  );
  const origin = `http://localhost:${server.addr.port}`;
  const toolEvents: ToolCallEvent[] = [];
  const mutations: MutationEvent[] = [];
  const app = createDemoApp({
    origin,
    storage: options.storage ?? memoryStorage(),
    keys: [await generateSigningKey()],
    onEvent: () => {},
    toolCallLimits: options.limits ?? false,
    onToolCall: (e) => void toolEvents.push(e),
    onMutation: (e) => void mutations.push(e),
  });
  handler = app.handler;
  return { mcpUrl: app.mcpUrl, origin, toolEvents, mutations, close: () => server.shutdown() };
}

/** An access token for `user` with `scope`, through the SDK's OAuth flow against the demo. */
export async function tokenFor(demo: Demo, user: string, scope: string): Promise<string> {
  const provider = new TestProvider(user);
  assert.equal(await auth(provider, { serverUrl: demo.mcpUrl, scope }), "REDIRECT");
  assert.equal(
    await auth(provider, { serverUrl: demo.mcpUrl, authorizationCode: provider.lastCode! }),
    "AUTHORIZED",
  );
  return provider.saved!.access_token;
}

type Elicit = (message: string) => { action: "accept" | "decline"; content?: { confirm: boolean } };

/** SDK v2 client on 2026-07-28; with `elicit`, it declares elicitation and answers with it. */
export async function clientV2(demo: Demo, token: string, elicit?: Elicit): Promise<ClientV2> {
  const client = new ClientV2(
    { name: "e2e-v2", version: "1.0.0" },
    {
      capabilities: elicit ? { elicitation: { form: {} } } : {},
      versionNegotiation: { mode: { pin: "2026-07-28" } },
    },
  );
  if (elicit) {
    client.setRequestHandler("elicitation/create", (req) => elicit(req.params.message));
  }
  await client.connect(
    new HttpV2(new URL(demo.mcpUrl), {
      requestInit: { headers: { authorization: `Bearer ${token}` } },
    }),
  );
  return client;
}

/** SDK v1 client (2025-era protocol). */
export async function clientV1(demo: Demo, token: string): Promise<ClientV1> {
  const client = new ClientV1({ name: "e2e-v1", version: "1.0.0" });
  await client.connect(
    new HttpV1(new URL(demo.mcpUrl), {
      requestInit: { headers: { authorization: `Bearer ${token}` } },
    }),
  );
  return client;
}

/**
 * A raw JSON-RPC `tools/call` POST to the demo's MCP endpoint with the bearer `token`, outside
 * any SDK (to see status codes and headers). `protocolVersion` sets `mcp-protocol-version`
 * (left out when undefined); `id` is the JSON-RPC id (default 1). The response, unread.
 */
export function rawToolCall(
  demo: Demo,
  token: string,
  name: string,
  args: Record<string, unknown>,
  opts: { id?: number; protocolVersion?: string } = {},
): Promise<Response> {
  const headers: Record<string, string> = {
    authorization: `Bearer ${token}`,
    "content-type": "application/json",
    accept: "application/json, text/event-stream",
  };
  if (opts.protocolVersion) headers["mcp-protocol-version"] = opts.protocolVersion;
  return fetch(demo.mcpUrl, {
    method: "POST",
    headers,
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: opts.id ?? 1,
      method: "tools/call",
      params: { name, arguments: args },
    }),
  });
}

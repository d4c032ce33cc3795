/**
 * The tool gate and protectMcp's request checks, with real SDK servers: `toolList: "hide"`,
 * throwing audit hooks, CORS before authentication, bodies that cannot be inspected (413/415,
 * issue 8 item 7), elicitation as a server request on an SDK v1 session, the 50-call
 * counter, and the adapters for Vercel's `mcp-handler` and Cloudflare's `agents`.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { AsyncLocalStorage } from "node:async_hooks";
import { createMcpHandler, McpServer as McpServerV2 } from "@modelcontextprotocol/server";
// @ts-types="@modelcontextprotocol/sdk/client/index"
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
// @ts-types="@modelcontextprotocol/sdk/client/streamableHttp"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import * as z from "zod";
import {
  agentsAuthContext,
  type AgentsMcpAuthContext,
  createToolGate,
  defineTool,
  mcpHandlerVerifyToken,
  protectMcp,
  type ToolCallEvent,
  type ToolHookFailure,
} from "../mcp.ts";
import { memoryStorage } from "../storage/memory.ts";
import { takeSlot } from "../src/mcp/_counter.ts";
import { createMcpServer, TOOL_SCOPES } from "./support/mcp_v1_server.ts";
import { gateVerifier, serveV1Elicitation } from "./support/mcp_gate.ts";
import { RESOURCE } from "./support/verify_fixtures.ts";

const { verifier, tokenWith } = await gateVerifier("tools-key");

function rpc(method: string, params: unknown, token?: string, init: RequestInit = {}): Request {
  const headers = new Headers(init.headers);
  headers.set("content-type", "application/json");
  headers.set("accept", "application/json, text/event-stream");
  headers.set("mcp-protocol-version", "2025-06-18");
  if (token) headers.set("authorization", `Bearer ${token}`);
  return new Request(RESOURCE, {
    method: "POST",
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
    ...init,
    headers,
  });
}

/** The JSON-RPC message of a response (JSON, or the SDK v2 legacy leg's one SSE event). */
async function message(res: Response) {
  const text = await res.text();
  if (!res.headers.get("content-type")?.includes("text/event-stream")) return JSON.parse(text);
  const data = text.split("\n").find((l) => l.startsWith("data: "));
  return JSON.parse(data!.slice(6));
}

function v2Gate(
  opts: {
    hide?: boolean;
    events?: ToolCallEvent[];
    throwing?: boolean;
    failures?: ToolHookFailure[];
    quiet?: boolean;
  } = {},
) {
  let ran = 0;
  const gate = createToolGate({
    storage: memoryStorage(),
    ...(opts.failures ? { onHookError: (f: ToolHookFailure) => void opts.failures!.push(f) } : {}),
    quiet: opts.quiet,
    toolList: opts.hide ? "hide" : "annotate",
    limits: false,
    onToolCall: (e) => {
      opts.events?.push(e);
      if (opts.throwing) throw new Error("audit sink down");
    },
    onMutation: () => opts.throwing ? Promise.reject(new Error("mutation sink down")) : undefined,
    tools: [
      defineTool({
        name: "read",
        scopes: ["mcp:read"],
        inputSchema: {},
        run: () => ({ content: [{ type: "text", text: "read ok" }] }),
      }),
      defineTool({
        name: "admin",
        scopes: ["mcp:admin"],
        inputSchema: { n: z.number() },
        run: () => {
          ran++;
          return { content: [{ type: "text", text: "admin ok" }] };
        },
      }),
    ],
  });
  const mcp = createMcpHandler(({ authInfo }) =>
    gate.install(new McpServerV2({ name: "t", version: "1" }), authInfo)
  );
  const handler = protectMcp((req, { authInfo }) => mcp.fetch(req, { authInfo }), {
    verifier,
    tools: gate,
    cors: { origins: ["https://app.example"] },
    maxBodyBytes: 64 * 1024,
  });
  return { handler, ran: () => ran };
}

describe("tools/list", () => {
  it('toolList "hide": a read-only token sees only the tools it can call', async () => {
    const { handler } = v2Gate({ hide: true });
    const res = await handler(rpc("tools/list", {}, await tokenWith("mcp:read")));
    assert.equal(res.status, 200);
    const names = (await message(res)).result.tools.map((t: { name: string }) => t.name);
    assert.deepEqual(names, ["read"]);
    const admin = await handler(rpc("tools/list", {}, await tokenWith("mcp:admin")));
    const all = (await message(admin)).result.tools.map((t: { name: string }) => t.name);
    assert.deepEqual(all, ["read", "admin"], "the hierarchy applies (admin ⊇ read)");
  });

  it('default "annotate": every tool, required scopes in _meta', async () => {
    const { handler } = v2Gate();
    const res = await handler(rpc("tools/list", {}, await tokenWith("mcp:read")));
    const tools = (await message(res)).result.tools;
    assert.deepEqual(
      tools.map((t: { _meta: Record<string, unknown> }) => t._meta["gatehouse/scopes"]),
      [
        ["mcp:read"],
        ["mcp:admin"],
      ],
    );
  });
});

describe("audit hooks", () => {
  it("a throwing onToolCall never breaks the call and is reported to the console", async () => {
    const events: ToolCallEvent[] = [];
    const { handler } = v2Gate({ events, throwing: true });
    const logged: unknown[][] = [];
    const original = console.error;
    console.error = (...args: unknown[]) => void logged.push(args);
    try {
      const res = await handler(
        rpc("tools/call", { name: "read", arguments: {} }, await tokenWith("mcp:read")),
      );
      assert.equal(res.status, 200);
      assert.equal((await message(res)).result.content[0].text, "read ok");
    } finally {
      console.error = original;
    }
    assert.equal(events.length, 1);
    assert.equal(events[0].outcome, "ok");
    assert.equal(events[0].subject, "user-1");
    assert.deepEqual(events[0].scopesRequired, ["mcp:read"]);
    assert.ok(logged.some((a) => String(a[0]).includes("onToolCall hook threw")));
    assert.ok(logged.every((a) => !String(a.join(" ")).includes("    at ")), "no stack trace");
  });

  it("a throwing preview is an error result and an audited call (outcome error), nothing issued", async () => {
    const events: ToolCallEvent[] = [];
    const storage = memoryStorage();
    let ran = 0;
    const gate = createToolGate({
      storage,
      limits: false,
      onToolCall: (e) => void events.push(e),
      tools: [defineTool({
        name: "wipe",
        scopes: ["mcp:read"],
        inputSchema: { path: z.string() },
        preview: () => {
          throw new Error("preview backend down");
        },
        run: () => {
          ran++;
          return { content: [{ type: "text", text: "wiped" }] };
        },
      })],
    });
    const mcp = createMcpHandler(({ authInfo }) =>
      gate.install(new McpServerV2({ name: "t", version: "1" }), authInfo)
    );
    const handler = protectMcp((req, { authInfo }) => mcp.fetch(req, { authInfo }), {
      verifier,
      tools: gate,
    });
    const res = await handler(
      rpc("tools/call", { name: "wipe", arguments: { path: "/x" } }, await tokenWith("mcp:read")),
    );
    assert.equal(res.status, 200);
    const { result } = await message(res);
    assert.equal(result.isError, true);
    assert.match(result.content[0].text, /preview backend down/);
    assert.equal(ran, 0);
    assert.equal(events.length, 1);
    assert.equal(events[0].tool, "wipe");
    assert.equal(events[0].outcome, "error");
    assert.equal(events[0].phase, "preview");
    assert.deepEqual(await storage.list(["mcp-confirm"]), [], "no confirmation token issued");
  });

  it("a tool that throws or answers isError: an error result, audited with outcome error", async () => {
    const events: ToolCallEvent[] = [];
    const gate = createToolGate({
      storage: memoryStorage(),
      limits: false,
      onToolCall: (e) => void events.push(e),
      tools: [
        defineTool({
          name: "broken",
          scopes: ["mcp:read"],
          inputSchema: {},
          run: () => {
            throw new Error("upstream API down");
          },
        }),
        defineTool({
          name: "refusing",
          scopes: ["mcp:read"],
          inputSchema: {},
          run: () => ({ isError: true, content: [{ type: "text", text: "no such note" }] }),
        }),
      ],
    });
    const mcp = createMcpHandler(({ authInfo }) =>
      gate.install(new McpServerV2({ name: "t", version: "1" }), authInfo)
    );
    const handler = protectMcp((req, { authInfo }) => mcp.fetch(req, { authInfo }), {
      verifier,
      tools: gate,
    });
    const token = await tokenWith("mcp:read");
    for (const name of ["broken", "refusing"]) {
      const res = await handler(rpc("tools/call", { name, arguments: {} }, token));
      assert.equal(res.status, 200, name);
      assert.equal((await message(res)).result.isError, true, name);
    }
    assert.deepEqual(events.map((e) => `${e.tool}:${e.outcome}`), [
      "broken:error",
      "refusing:error",
    ]);
    for (const e of events) {
      assert.equal(e.subject, "user-1");
      assert.deepEqual(e.scopesRequired, ["mcp:read"]);
      assert.ok(e.durationMs >= 0, `durationMs ${e.durationMs}`);
    }
  });

  it("a throwing onToolCall is also an onHookError event; quiet leaves the console alone", async () => {
    const failures: ToolHookFailure[] = [];
    const { handler } = v2Gate({ events: [], throwing: true, failures, quiet: true });
    const logged: unknown[][] = [];
    const original = console.error;
    console.error = (...args: unknown[]) => void logged.push(args);
    try {
      const res = await handler(
        rpc("tools/call", { name: "read", arguments: {} }, await tokenWith("mcp:read")),
      );
      assert.equal(res.status, 200);
    } finally {
      console.error = original;
    }
    assert.deepEqual(failures, [{
      hook: "onToolCall",
      tool: "read",
      error: "Error: audit sink down",
    }]);
    assert.equal(logged.length, 0);
  });
});

describe("protectMcp request checks", () => {
  it("CORS: preflight answered before authentication; exposes WWW-Authenticate", async () => {
    const { handler } = v2Gate();
    const pre = await handler(
      new Request(RESOURCE, {
        method: "OPTIONS",
        headers: {
          origin: "https://app.example",
          "access-control-request-method": "POST",
          "access-control-request-headers": "authorization, content-type, mcp-method, mcp-name",
        },
      }),
    );
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get("access-control-allow-origin"), "https://app.example");
    assert.match(pre.headers.get("access-control-allow-headers")!, /mcp-method/);
    const other = await handler(
      new Request(RESOURCE, {
        method: "OPTIONS",
        headers: { origin: "https://evil.example", "access-control-request-method": "POST" },
      }),
    );
    assert.equal(other.headers.get("access-control-allow-origin"), null);
    const unauth = await handler(rpc("tools/list", {}, undefined, {
      headers: { origin: "https://app.example" },
    }));
    await unauth.body?.cancel();
    assert.equal(unauth.status, 401);
    assert.equal(unauth.headers.get("access-control-allow-origin"), "https://app.example");
    assert.match(unauth.headers.get("access-control-expose-headers")!, /www-authenticate/);
    assert.match(unauth.headers.get("access-control-expose-headers")!, /mcp-session-id/);
  });

  it("a body over the inspection limit is refused with 413 and never runs (declared or chunked)", async () => {
    const { handler, ran } = v2Gate();
    const token = await tokenWith("mcp:read");
    const padding = "x".repeat(70 * 1024);
    const body = JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "tools/call",
      params: { name: "admin", arguments: { n: 1 }, _meta: { padding } },
    });
    const declared = await handler(rpc("tools/call", {}, token, { body }));
    assert.equal(declared.status, 413);
    await declared.body?.cancel();
    // Chunked: no Content-Length, the stream is abandoned at the cap.
    let pulled = 0;
    const bytes = new TextEncoder().encode(body);
    const stream = new ReadableStream<Uint8Array>({
      pull(c) {
        if (pulled >= bytes.length) return c.close();
        c.enqueue(bytes.slice(pulled, pulled + 8192));
        pulled += 8192;
      },
    });
    const chunked = await handler(rpc("tools/call", {}, token, { body: stream }));
    assert.equal(chunked.status, 413);
    await chunked.body?.cancel();
    assert.ok(pulled <= 64 * 1024 + 8192 * 2, `read ${pulled} bytes`);
    const gz = await handler(rpc("tools/call", { name: "admin", arguments: { n: 1 } }, token, {
      headers: { "content-encoding": "gzip" },
    }));
    assert.equal(gz.status, 415);
    await gz.body?.cancel();
    assert.equal(ran(), 0);
    // Within the limit, the read-only token still gets the 403 for the admin tool.
    const small = await handler(rpc("tools/call", { name: "admin", arguments: { n: 1 } }, token));
    assert.equal(small.status, 403);
    await small.body?.cancel();
    assert.equal(ran(), 0);
  });

  it("a body that stops arriving is refused with 408 and never runs", async () => {
    let ran = 0;
    const handler = protectMcp(() => {
      ran++;
      return new Response("ran");
    }, { verifier, toolScopes: TOOL_SCOPES, bodyTimeoutMs: 50 });
    const stalled = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new TextEncoder().encode('{"jsonrpc":"2.0","id":1,"method":"tools/call"'));
      },
      pull: () => new Promise<void>(() => {}),
    });
    const res = await handler(
      rpc("tools/call", {}, await tokenWith("mcp:admin"), { body: stalled }),
    );
    assert.equal(res.status, 408);
    await res.body?.cancel();
    assert.equal(ran, 0);
  });

  it("SDK v1 server with toolScopes: an oversized body for the admin tool gets 413 (issue 8 item 7)", async () => {
    const handler = protectMcp(createMcpServer, {
      verifier,
      toolScopes: TOOL_SCOPES,
      maxBodyBytes: 1024,
    });
    const res = await handler(rpc("tools/call", {
      name: "admin_stats",
      arguments: {},
      _meta: { padding: "y".repeat(2048) },
    }, await tokenWith("mcp:read")));
    assert.equal(res.status, 413);
    await res.body?.cancel();
  });
});

describe("SDK v1 session: elicitation is a server request", () => {
  it("a client with the elicitation capability is asked; the mutation runs on accept", async () => {
    const { server, url, notes } = serveV1Elicitation(verifier);
    try {
      const token = await tokenWith("mcp:write");
      const client = new Client({ name: "v1", version: "1" }, {
        capabilities: { elicitation: {} },
      });
      const asked: string[] = [];
      const { ElicitRequestSchema } = await import("@modelcontextprotocol/sdk/types.js");
      client.setRequestHandler(ElicitRequestSchema, (req) => {
        asked.push(req.params.message);
        return { action: "accept", content: { confirm: true } };
      });
      await client.connect(
        new StreamableHTTPClientTransport(new URL(url), {
          requestInit: { headers: { authorization: `Bearer ${token}` } },
        }),
      );
      const result = await client.callTool({ name: "add", arguments: { text: "tea" } });
      assert.deepEqual(asked, ['Add "tea"?']);
      assert.deepEqual(result.content, [{ type: "text", text: "added" }]);
      assert.deepEqual(notes, ["tea"]);
      await client.close();
    } finally {
      await server.shutdown();
    }
  });
});

describe("tool-call counter", () => {
  it("60 concurrent calls against a limit of 50 on memory: exactly 50 admitted", async () => {
    const storage = memoryStorage();
    const results = await Promise.all(
      Array.from({ length: 60 }, () => takeSlot(storage, ["sub", "u"], 50, 3600)),
    );
    assert.equal(results.filter((r) => r.ok).length, 50);
    const counts = results.filter((r) => r.ok).map((r) => r.count).sort((a, b) => a - b);
    assert.deepEqual(counts, Array.from({ length: 50 }, (_, i) => i + 1));
    const refused = results.find((r) => !r.ok)!;
    assert.ok(refused.retryAfter > 0 && refused.retryAfter <= 3600);
  });
});

describe("tool-call limits with the counter store down", () => {
  it("protectMcp answers 503 with Retry-After and a JSON-RPC error (logged without detail), never throws", async () => {
    const { StorageError } = await import("../storage/mod.ts");
    const inner = memoryStorage();
    const down = () => Promise.reject(new StorageError("driver down: secret-detail"));
    let ran = 0;
    const gate = createToolGate({
      storage: { ...inner, get: down, swap: down },
      limits: { perSubject: { limit: 5, windowSeconds: 60 }, perClient: false },
      tools: [defineTool({
        name: "ping",
        scopes: ["mcp:read"],
        inputSchema: {},
        run: () => {
          ran++;
          return { content: [{ type: "text", text: "pong" }] };
        },
      })],
    });
    const mcp = createMcpHandler(({ authInfo }) =>
      gate.install(new McpServerV2({ name: "t", version: "1" }), authInfo)
    );
    const handler = protectMcp((req, { authInfo }) => mcp.fetch(req, { authInfo }), {
      verifier,
      tools: gate,
    });
    const logged: string[] = [];
    const original = console.error;
    console.error = (...args: unknown[]) => void logged.push(args.join(" "));
    let res: Response;
    try {
      res = await handler(
        rpc("tools/call", { name: "ping", arguments: {} }, await tokenWith("mcp:read")),
      );
    } finally {
      console.error = original;
    }
    assert.equal(res.status, 503);
    assert.equal(res.headers.get("retry-after"), "1");
    const body = await res.json();
    assert.equal(body.jsonrpc, "2.0");
    assert.equal(body.id, 1);
    assert.equal(typeof body.error.code, "number");
    assert.equal(ran, 0);
    assert.equal(logged.length, 1);
    assert.match(logged[0], /tool-call limits unavailable \(StorageError\)/);
    assert.ok(!logged[0].includes("secret-detail"));
  });
});

describe("limits without protectMcp", () => {
  it("the tool itself refuses over the limit: error result with the retry hint", async () => {
    const gate = createToolGate({
      storage: memoryStorage(),
      limits: { perSubject: { limit: 1, windowSeconds: 60 }, perClient: false },
      tools: [defineTool({
        name: "ping",
        scopes: [],
        inputSchema: {},
        run: () => ({ content: [{ type: "text", text: "pong" }] }),
      })],
    });
    const mcp = createMcpHandler(({ authInfo }) =>
      gate.install(new McpServerV2({ name: "t", version: "1" }), authInfo)
    );
    const authInfo = { token: "t", clientId: "c", scopes: [], extra: { subject: "s" } };
    const call = async () =>
      (await message(
        await mcp.fetch(rpc("tools/call", { name: "ping", arguments: {} }), {
          authInfo,
        }),
      )).result;
    assert.equal((await call()).content[0].text, "pong");
    const refused = await call();
    assert.equal(refused.isError, true);
    assert.equal(refused.structuredContent.error, "rate_limited");
    assert.ok(
      refused.structuredContent.retryAfter > 0 && refused.structuredContent.retryAfter <= 60,
    );
  });
});

describe("adapters (the packages are not installed: each is called the way the library calls it)", () => {
  it("mcp-handler: withMcpAuth calls verifyToken(req, bearerToken) and reads the AuthInfo", async () => {
    const verifyToken = mcpHandlerVerifyToken(verifier, { scopes: ["mcp:read"] });
    const token = await tokenWith("mcp:write");
    const req = new Request(RESOURCE, { headers: { authorization: `Bearer ${token}` } });
    // withMcpAuth splits the Authorization header and passes the token (or undefined).
    const bearer = req.headers.get("authorization")?.split(" ")[1];
    const info = await verifyToken(req, bearer);
    assert.ok(info);
    assert.equal(info.token, token);
    assert.deepEqual(info.scopes, ["mcp:write"]);
    assert.equal(info.extra?.subject, "user-1");
    // withMcpAuth compares expiresAt (seconds) with Date.now() / 1000.
    assert.ok(typeof info.expiresAt === "number" && info.expiresAt < 1e11);
    assert.equal(await verifyToken(req, undefined), undefined);
    assert.equal(await verifyToken(req, "not-a-token"), undefined);
    const none = mcpHandlerVerifyToken(verifier, { scopes: ["mcp:admin"] });
    assert.equal(await none(req, bearer), undefined, "missing scope → undefined → its 401");
  });

  it("agents: the auth context reaches tools as getMcpAuthContext() does (AsyncLocalStorage)", async () => {
    // agents keeps the context in an AsyncLocalStorage around the SDK v2 handler's fetch.
    const als = new AsyncLocalStorage<AgentsMcpAuthContext>();
    const seen: unknown[] = [];
    const mcp = createMcpHandler(() => {
      const server = new McpServerV2({ name: "agents", version: "1" });
      server.registerTool("who", { inputSchema: {} }, () => {
        seen.push(als.getStore());
        return { content: [{ type: "text" as const, text: "ok" }] };
      });
      return server;
    });
    const token = await tokenWith("mcp:read", "agent-user");
    const req = rpc("tools/call", { name: "who", arguments: {} }, token);
    const result = await verifier.verify(req);
    assert.ok(result.ok);
    const ctx = agentsAuthContext(result.claims, { plan: "pro" });
    const res = await als.run(ctx, () => mcp.fetch(req));
    assert.equal(res.status, 200);
    await res.body?.cancel();
    assert.deepEqual(seen, [{
      userId: "agent-user",
      clientId: result.claims.clientId,
      scopes: ["mcp:read"],
      props: {
        plan: "pro",
        grantId: result.claims.grantId,
        resource: RESOURCE,
        expiresAt: result.claims.expiresAt,
      },
    }]);
  });
});

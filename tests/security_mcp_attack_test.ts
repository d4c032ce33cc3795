/**
 * Attacks on the MCP tool gate by a malicious client holding a valid token (security review):
 * each test is one input that once got past `protectMcp` / `createToolGate`.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createMcpHandler, McpServer as McpServerV2 } from "@modelcontextprotocol/server";
// @ts-types="@modelcontextprotocol/sdk/client/index"
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
// @ts-types="@modelcontextprotocol/sdk/client/streamableHttp"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { createToolGate, defineTool, protectMcp, type ToolCallEvent } from "../mcp.ts";
import { memoryStorage } from "../storage/memory.ts";
import { createDemoApp } from "../examples/mcp-server/app.ts";
import { RESOURCE } from "./support/verify_fixtures.ts";
import { gateVerifier, serveV1Elicitation } from "./support/mcp_gate.ts";

const { verifier, tokenWith } = await gateVerifier("attack-key");

function post(body: unknown, token: string, headers: Record<string, string> = {}): Request {
  return new Request(RESOURCE, {
    method: "POST",
    body: typeof body === "string" ? body : JSON.stringify(body),
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "mcp-protocol-version": "2025-06-18",
      authorization: `Bearer ${token}`,
      ...headers,
    },
  });
}

function pingGate(limit: number) {
  let ran = 0;
  const gate = createToolGate({
    storage: memoryStorage(),
    limits: { perSubject: { limit, windowSeconds: 3600 }, perClient: false },
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
  return { handler, ran: () => ran };
}

describe("tool-call limits", () => {
  it("a JSON-RPC batch of 50 calls to one tool counts 50 calls, not 1", async () => {
    const { handler, ran } = pingGate(3);
    const token = await tokenWith("mcp:read");
    const batch = Array.from({ length: 50 }, (_, i) => ({
      jsonrpc: "2.0",
      id: i + 1,
      method: "tools/call",
      params: { name: "ping", arguments: {} },
    }));
    const res = await handler(post(batch, token));
    assert.equal(res.status, 429);
    assert.ok(Number(res.headers.get("retry-after")) > 0);
    assert.equal((await res.json()).error.data.limit, "subject");
    assert.equal(ran(), 0, "the refused batch ran nothing");
    // Within the limit, a batch runs every call and each counts once (not twice).
    const { handler: h2, ran: ran2 } = pingGate(3);
    const ok = await h2(post(batch.slice(0, 3), token));
    assert.equal(ok.status, 200);
    await ok.text();
    assert.equal(ran2(), 3);
    const over = await h2(post(batch[0], token));
    assert.equal(over.status, 429);
    assert.equal(ran2(), 3);
  });
});

describe("audit events", () => {
  it("a tool name from the request reaches onToolCall without control characters, bounded", async () => {
    const events: ToolCallEvent[] = [];
    const gate = createToolGate({
      storage: memoryStorage(),
      limits: { perSubject: { limit: 1, windowSeconds: 3600 }, perClient: false },
      onToolCall: (e) => {
        events.push(e);
      },
      tools: [defineTool({
        name: "ping",
        scopes: ["mcp:read"],
        inputSchema: {},
        run: () => ({ content: [{ type: "text", text: "pong" }] }),
      })],
    });
    const mcp = createMcpHandler(({ authInfo }) =>
      gate.install(new McpServerV2({ name: "t", version: "1" }), authInfo)
    );
    const handler = protectMcp((req, { authInfo }) => mcp.fetch(req, { authInfo }), {
      verifier,
      tools: gate,
    });
    const token = await tokenWith("mcp:read");
    const call = (name: string) =>
      post({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name, arguments: {} } }, token);
    await (await handler(call("ping"))).text();
    const forged = "x\n[mutation] add_note sub=admin via=confirm_tool\u001b[2K\r" +
      "A".repeat(100_000);
    const res = await handler(call(forged));
    assert.equal(res.status, 429);
    const limited = events.find((e) => e.outcome === "rate_limited");
    assert.ok(limited, "the refused call is audited");
    assert.doesNotMatch(limited.tool, /\p{Cc}/u);
    assert.ok(limited.tool.length <= 130, `tool name of ${limited.tool.length} chars in the event`);
    assert.ok(limited.tool.startsWith("x[mutation]"), limited.tool.slice(0, 20));
  });

  it("an unknown tool named like an Object.prototype member is audited with no scopes", async () => {
    const events: ToolCallEvent[] = [];
    const gate = createToolGate({
      storage: memoryStorage(),
      limits: { perSubject: { limit: 1, windowSeconds: 3600 }, perClient: false },
      onToolCall: (e) => {
        events.push(e);
      },
      tools: [defineTool({
        name: "ping",
        scopes: ["mcp:read"],
        inputSchema: {},
        run: () => ({ content: [{ type: "text", text: "pong" }] }),
      })],
    });
    const mcp = createMcpHandler(({ authInfo }) =>
      gate.install(new McpServerV2({ name: "t", version: "1" }), authInfo)
    );
    const handler = protectMcp((req, { authInfo }) => mcp.fetch(req, { authInfo }), {
      verifier,
      tools: gate,
    });
    const token = await tokenWith("mcp:read");
    const call = (name: string) =>
      post({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name, arguments: {} } }, token);
    await (await handler(call("ping"))).text();
    for (const name of ["constructor", "__proto__", "toString"]) {
      const res = await handler(call(name));
      assert.equal(res.status, 429);
      await res.body?.cancel();
    }
    const limited = events.filter((e) => e.outcome === "rate_limited");
    assert.deepEqual(limited.map((e) => e.tool), ["constructor", "__proto__", "toString"]);
    for (const e of limited) assert.deepEqual(e.scopesRequired, []);
  });
});

/** Sends one raw HTTP/1.1 request (so the method's spelling reaches the server as typed). */
async function rawHttp(port: number, head: string, body: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const bytes = new TextEncoder().encode(body);
  await conn.write(
    new TextEncoder().encode(
      `${head}\r\ncontent-length: ${bytes.byteLength}\r\nconnection: close\r\n\r\n`,
    ),
  );
  await conn.write(bytes);
  const chunks: Uint8Array[] = [];
  const buf = new Uint8Array(65536);
  while (true) {
    const n = await conn.read(buf);
    if (n === null) break;
    chunks.push(buf.slice(0, n));
  }
  conn.close();
  return new TextDecoder().decode(new Uint8Array(chunks.flatMap((c) => [...c])));
}

describe("tool scopes", () => {
  it("a lower-case post method (Deno.serve passes it through, SDK v2 serves it) is still inspected", async () => {
    let ran = 0;
    const mcp = createMcpHandler(() => {
      const server = new McpServerV2({ name: "t", version: "1" });
      server.registerTool("admin", { description: "admin" }, () => {
        ran++;
        return { content: [{ type: "text", text: "admin ok" }] };
      });
      return server;
    });
    const handler = protectMcp((req, { authInfo }) => mcp.fetch(req, { authInfo }), {
      verifier,
      toolScopes: { admin: ["mcp:admin"] },
    });
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handler);
    try {
      const token = await tokenWith("mcp:read");
      const body = JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "tools/call",
        params: {
          name: "admin",
          arguments: {},
          _meta: {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientInfo": { name: "m", version: "1" },
            "io.modelcontextprotocol/clientCapabilities": {},
          },
        },
      });
      for (const method of ["post", "Post"]) {
        const res = await rawHttp(
          server.addr.port,
          `${method} /mcp HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer ${token}\r\n` +
            "content-type: application/json\r\naccept: application/json, text/event-stream\r\n" +
            "mcp-protocol-version: 2026-07-28\r\nmcp-method: tools/call\r\nmcp-name: admin",
          body,
        );
        assert.equal(ran, 0, `${method}: the admin tool ran for a read-only token`);
        assert.match(res, /^HTTP\/1\.1 403 /, res.slice(0, 200));
        assert.match(res, /insufficient_scope/);
      }
    } finally {
      await server.shutdown();
    }
  });
});

describe("SDK v1 sessions", () => {
  it("another user's token cannot use a session id: no forged elicitation answer, no DELETE", async () => {
    const { server, handler, url, notes } = serveV1Elicitation(verifier);
    // Alice's client is asked to confirm and has not answered yet.
    const alice = new Client({ name: "alice", version: "1" }, {
      capabilities: { elicitation: {} },
    });
    let answer: ((a: { action: "decline" }) => void) | undefined;
    try {
      const { ElicitRequestSchema } = await import("@modelcontextprotocol/sdk/types.js");
      let asked!: () => void;
      const wasAsked = new Promise<void>((r) => asked = r);
      alice.setRequestHandler(ElicitRequestSchema, () => {
        asked();
        return new Promise((r) => answer = r);
      });
      const transport = new StreamableHTTPClientTransport(new URL(url), {
        requestInit: { headers: { authorization: `Bearer ${await tokenWith("mcp:write")}` } },
      });
      await alice.connect(transport);
      const call = alice.callTool({ name: "add", arguments: { text: "from mallory" } });
      await wasAsked;
      const sessionId = transport.sessionId!;
      // Mallory (another user) learned the session id and answers for Alice.
      const mallory = await tokenWith("mcp:write", "mallory");
      const headers = {
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        "mcp-protocol-version": "2025-06-18",
        "mcp-session-id": sessionId,
        authorization: `Bearer ${mallory}`,
      };
      for (const id of [0, 1, 2]) {
        const forged = await handler(
          new Request(url, {
            method: "POST",
            headers,
            body: JSON.stringify({
              jsonrpc: "2.0",
              id,
              result: { action: "accept", content: { confirm: true } },
            }),
          }),
        );
        assert.equal(forged.status, 404, `forged answer id ${id}: ${forged.status}`);
        await forged.body?.cancel();
      }
      const del = await handler(new Request(url, { method: "DELETE", headers }));
      assert.equal(del.status, 404);
      answer!({ action: "decline" });
      const result = await call;
      assert.deepEqual(notes, [], "nothing was added without Alice's answer");
      assert.match(JSON.stringify(result.content), /Cancelled/);
    } finally {
      answer?.({ action: "decline" });
      await alice.close();
      await server.shutdown();
    }
  });
});

describe("the demo", () => {
  it("sign-in form: a 64 MiB body is refused (413) after reading at most 128 KiB", async () => {
    const { handler } = createDemoApp({
      origin: "http://127.0.0.1:8787",
      storage: memoryStorage(),
      onEvent: () => {},
    });
    const total = 64 * 1024 * 1024;
    let pulled = 0;
    const chunk = new TextEncoder().encode("user=demo&" + "x".repeat(16 * 1024 - 10));
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        if (pulled >= total) return c.close();
        pulled += chunk.byteLength;
        c.enqueue(chunk);
      },
    });
    const res = await handler(
      new Request("http://127.0.0.1:8787/demo/sign-in", {
        method: "POST",
        body,
        headers: { "content-type": "application/x-www-form-urlencoded" },
        duplex: "half",
      } as RequestInit),
    );
    assert.equal(res.status, 413);
    await res.body?.cancel();
    assert.ok(pulled <= 128 * 1024, `read ${pulled} bytes`);
    const declared = await handler(
      new Request("http://127.0.0.1:8787/demo/sign-in", {
        method: "POST",
        body: "user=demo",
        headers: { "content-length": String(total) },
      }),
    );
    assert.equal(declared.status, 413);
    await declared.body?.cancel();
  });

  it("sign-in form: a return_to with CR/LF, a backslash or non-ASCII is a 400, never a 500 or a redirect", async () => {
    const { handler } = createDemoApp({
      origin: "http://127.0.0.1:8787",
      storage: memoryStorage(),
      onEvent: () => {},
    });
    for (
      const returnTo of [
        "/authorize?x\r\nSet-Cookie: a=b",
        "/authorize?x\nLocation: https://evil.example",
        "/authorize?\\evil.example",
        "/authorize?é",
      ]
    ) {
      const res = await handler(
        new Request("http://127.0.0.1:8787/demo/sign-in", {
          method: "POST",
          body: new URLSearchParams({ user: "demo", return_to: returnTo }),
        }),
      );
      assert.equal(res.status, 400, JSON.stringify(returnTo));
      assert.equal(res.headers.get("location"), null);
      await res.body?.cancel();
    }
    const ok = await handler(
      new Request("http://127.0.0.1:8787/demo/sign-in", {
        method: "POST",
        body: new URLSearchParams({ user: "demo", return_to: "/authorize?client_id=c" }),
      }),
    );
    assert.equal(ok.status, 303);
    assert.equal(ok.headers.get("location"), "/authorize?client_id=c");
  });
});

/**
 * Tool-level authorization end to end: the demo (SDK v2 server behind protectMcp) over real
 * HTTP, driven by the real SDK clients — v2 (`@modelcontextprotocol/client`, 2026-07-28 and
 * its elicitation through input-required results) and v1 (`@modelcontextprotocol/sdk`,
 * 2025-era, served by the v2 SDK's stateless legacy fallback). Tokens come from the demo's
 * authorization server through the SDK's own OAuth flow (tests/support/mcp_client.ts).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  Client as ClientV2,
  StreamableHTTPClientTransport as HttpV2,
} from "@modelcontextprotocol/client";
import { clientV1, clientV2, rawToolCall, startDemo, tokenFor } from "./support/mcp_demo.ts";
import { TestProvider } from "./support/mcp_client.ts";

function textOf(result: unknown): string {
  const content = (result as { content: { type: string; text?: string }[] }).content;
  return content.map((c) => c.text ?? "").join("\n");
}

function noteTexts(result: unknown): string[] {
  const sc = (result as { structuredContent: { notes: { text: string }[] } }).structuredContent;
  return sc.notes.map((n) => n.text);
}

test("SDK v2 client's own OAuth (2026-07-28): 401 → discovery → registration → PKCE → tools", async () => {
  const demo = await startDemo();
  try {
    const provider = new TestProvider("erin");
    const client = new ClientV2({ name: "v2-oauth", version: "1.0.0" }, {
      versionNegotiation: { mode: "auto" },
    });
    const transport = new HttpV2(new URL(demo.mcpUrl), { authProvider: provider as never });
    await assert.rejects(client.connect(transport));
    assert.ok(provider.lastCallback, "the v2 client sent the user to /authorize");
    assert.equal(provider.lastAuthorizationUrl!.searchParams.get("resource"), demo.mcpUrl);
    await transport.finishAuth(provider.lastCallback!.searchParams);
    const again = new ClientV2({ name: "v2-oauth", version: "1.0.0" }, {
      versionNegotiation: { mode: "auto" },
    });
    await again.connect(new HttpV2(new URL(demo.mcpUrl), { authProvider: provider as never }));
    assert.equal(again.getNegotiatedProtocolVersion(), "2026-07-28");
    const who = await again.callTool({ name: "whoami", arguments: {} });
    assert.equal((who.structuredContent as { subject: string }).subject, "erin");
    await again.close();
  } finally {
    await demo.close();
  }
});

test("read-only token: every tool listed with its scopes in _meta; add_note → 403 insufficient_scope", async () => {
  const demo = await startDemo();
  try {
    const token = await tokenFor(demo, "alice", "mcp:read");
    const client = await clientV2(demo, token);
    const { tools } = await client.listTools();
    const scopes = Object.fromEntries(tools.map((t) => [t.name, t._meta?.["gatehouse/scopes"]]));
    assert.deepEqual(scopes, {
      whoami: ["mcp:read"],
      echo: ["mcp:read"],
      list_notes: ["mcp:read"],
      add_note: ["mcp:write"],
      admin_stats: ["mcp:admin"],
      confirm: [],
    });
    assert.equal(tools.find((t) => t.name === "add_note")?._meta?.["gatehouse/confirmation"], true);
    await assert.rejects(client.callTool({ name: "add_note", arguments: { text: "x" } }));
    const raw = await rawToolCall(demo, token, "add_note", { text: "x" });
    await raw.body?.cancel();
    assert.equal(raw.status, 403);
    const challenge = raw.headers.get("www-authenticate")!;
    assert.match(challenge, /error="insufficient_scope"/);
    assert.match(challenge, /scope="mcp:read mcp:write"/);
    await client.close();
  } finally {
    await demo.close();
  }
});

test("SDK v2 client with elicitation: add_note asks first, runs once on accept, nothing on decline", async () => {
  const demo = await startDemo();
  try {
    const token = await tokenFor(demo, "alice", "mcp:write");
    const asked: string[] = [];
    let answer: "accept" | "decline" = "decline";
    const client = await clientV2(demo, token, (message) => {
      asked.push(message);
      return answer === "accept"
        ? { action: "accept", content: { confirm: true } }
        : { action: "decline" };
    });
    const declined = await client.callTool({ name: "add_note", arguments: { text: "no" } });
    assert.match(textOf(declined), /Cancelled/);
    assert.deepEqual(asked, ['Add the note "no" to your notes.']);
    answer = "accept";
    const added = await client.callTool({ name: "add_note", arguments: { text: "milk" } });
    assert.notEqual(added.isError, true);
    assert.match(textOf(added), /Added the note "milk"/);
    assert.equal(asked.length, 2);
    const list = await client.callTool({ name: "list_notes", arguments: {} });
    assert.deepEqual(noteTexts(list), ["milk"]);
    assert.equal(demo.mutations.length, 1);
    assert.equal(demo.mutations[0].via, "elicitation");
    assert.equal(demo.mutations[0].subject, "alice");
    const outcomes = demo.toolEvents.map((e) =>
      `${e.tool}:${e.outcome}${e.phase ? "/" + e.phase : ""}`
    );
    assert.deepEqual(outcomes, [
      "add_note:ok/elicit",
      "add_note:denied",
      "add_note:ok/elicit",
      "add_note:confirmed",
      "list_notes:ok",
    ]);
    await client.close();
  } finally {
    await demo.close();
  }
});

test("an elicitation's requestState cannot be used with the confirm tool (the user decides, not the model)", async () => {
  const demo = await startDemo();
  try {
    const token = await tokenFor(demo, "alice", "mcp:write");
    const manual = new ClientV2(
      { name: "manual", version: "1.0.0" },
      {
        capabilities: { elicitation: { form: {} } },
        versionNegotiation: { mode: { pin: "2026-07-28" } },
        inputRequired: { autoFulfill: false },
      },
    );
    await manual.connect(
      new HttpV2(new URL(demo.mcpUrl), {
        requestInit: { headers: { authorization: `Bearer ${token}` } },
      }),
    );
    const asked = await manual.callTool(
      { name: "add_note", arguments: { text: "sneaky" } },
      { allowInputRequired: true } as never,
    ) as unknown as {
      resultType?: string;
      requestState?: string;
      inputRequests?: Record<string, { method: string; params: { message: string } }>;
    };
    assert.equal(asked.resultType, "input_required");
    assert.equal(asked.inputRequests?.gatehouse_confirm.method, "elicitation/create");
    assert.equal(
      asked.inputRequests?.gatehouse_confirm.params.message,
      'Add the note "sneaky" to your notes.',
    );
    const viaTool = await manual.callTool({
      name: "confirm",
      arguments: { confirmationToken: asked.requestState!, idempotencyKey: "x" },
    });
    assert.equal(viaTool.isError, true);
    assert.equal((viaTool.structuredContent as { error: string }).error, "invalid_token");
    assert.equal(demo.mutations.length, 0);
    await manual.close();
  } finally {
    await demo.close();
  }
});

for (const generation of ["v2", "v1"] as const) {
  test(`SDK ${generation} client without elicitation: preview + confirmationToken, confirm tool exactly once`, async () => {
    const demo = await startDemo();
    try {
      const alice = await tokenFor(demo, "alice", "mcp:write");
      const bob = await tokenFor(demo, "bob", "mcp:write");
      const connect = (t: string) => generation === "v2" ? clientV2(demo, t) : clientV1(demo, t);
      const a = await connect(alice);
      const b = await connect(bob);
      const first = await a.callTool({ name: "add_note", arguments: { text: "eggs" } });
      const sc = first.structuredContent as Record<string, unknown>;
      assert.equal(sc.confirmationRequired, true);
      assert.equal(sc.preview, 'Add the note "eggs" to your notes.');
      assert.equal(typeof sc.confirmationToken, "string");
      const token = sc.confirmationToken as string;
      assert.ok((sc.expiresAt as number) - Date.now() / 1000 <= 300);
      assert.deepEqual(noteTexts(await a.callTool({ name: "list_notes", arguments: {} })), []);

      // Bob cannot use Alice's token, and trying does not consume it.
      const stolen = await b.callTool({
        name: "confirm",
        arguments: { confirmationToken: token, idempotencyKey: "k1" },
      });
      assert.equal(stolen.isError, true);
      assert.equal((stolen.structuredContent as { error: string }).error, "invalid_token");

      const ok = await a.callTool({
        name: "confirm",
        arguments: { confirmationToken: token, idempotencyKey: "k1" },
      });
      assert.notEqual(ok.isError, true);
      assert.match(textOf(ok), /Added the note "eggs"/);
      // Same key again: the stored result, no second execution.
      const again = await a.callTool({
        name: "confirm",
        arguments: { confirmationToken: token, idempotencyKey: "k1" },
      });
      assert.deepEqual(again.content, ok.content);
      // The token works once: a new key is refused.
      const replay = await a.callTool({
        name: "confirm",
        arguments: { confirmationToken: token, idempotencyKey: "k2" },
      });
      assert.equal(replay.isError, true);
      assert.equal((replay.structuredContent as { error: string }).error, "invalid_token");
      assert.deepEqual(noteTexts(await a.callTool({ name: "list_notes", arguments: {} })), [
        "eggs",
      ]);
      assert.deepEqual(noteTexts(await b.callTool({ name: "list_notes", arguments: {} })), []);
      assert.equal(demo.mutations.length, 1);
      assert.equal(demo.mutations[0].via, "confirm_tool");
      // A refused token is audited under "confirm" (the tool it names is not trusted).
      const confirms = demo.toolEvents.filter((e) => e.tool !== "list_notes");
      assert.deepEqual(
        confirms.map((e) => `${e.subject}:${e.tool}:${e.outcome}:${e.reason ?? ""}`),
        [
          "alice:add_note:ok:",
          "bob:confirm:denied:invalid_token",
          "alice:add_note:confirmed:",
          "alice:add_note:confirmed:replayed",
          "alice:confirm:denied:invalid_token",
        ],
      );
      for (const e of demo.toolEvents) {
        assert.ok(e.clientId && e.grantId && e.durationMs >= 0, JSON.stringify(e));
      }
      await Promise.all([a.close(), b.close()]);
    } finally {
      await demo.close();
    }
  });
}

test("tool-call limit: over it the request is refused (429 + Retry-After, JSON-RPC error), audited", async () => {
  const demo = await startDemo({ limits: { perSubject: { limit: 3, windowSeconds: 3600 } } });
  try {
    const token = await tokenFor(demo, "carol", "mcp:read");
    const client = await clientV2(demo, token);
    for (let i = 0; i < 3; i++) await client.callTool({ name: "echo", arguments: { text: "hi" } });
    await assert.rejects(
      client.callTool({ name: "echo", arguments: { text: "hi" } }),
      /429|Too many/,
    );
    const raw = await rawToolCall(demo, token, "echo", { text: "x" }, {
      id: 7,
      protocolVersion: "2025-06-18",
    });
    assert.equal(raw.status, 429);
    const retryAfter = Number(raw.headers.get("retry-after"));
    assert.ok(retryAfter > 0 && retryAfter <= 3600);
    const body = await raw.json();
    assert.equal(body.id, 7);
    assert.equal(body.error.data.retryAfter, retryAfter);
    // tools/list is not a tool call: still served.
    assert.ok((await client.listTools()).tools.length > 0);
    const outcomes = demo.toolEvents.map((e) => e.outcome);
    assert.deepEqual(outcomes, ["ok", "ok", "ok", "rate_limited", "rate_limited"]);
    await client.close();
  } finally {
    await demo.close();
  }
});

/**
 * End to end with the real MCP SDK client against the example server (the
 * same app `npm start` serves), over real HTTP on a loopback port.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
// @ts-types="@modelcontextprotocol/sdk/client/index"
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
// @ts-types="@modelcontextprotocol/sdk/client/streamableHttp"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
// @ts-types="@modelcontextprotocol/sdk/client/auth"
import { auth, UnauthorizedError } from "@modelcontextprotocol/sdk/client/auth.js";
import { createDemoApp } from "../examples/mcp-server/app.ts";
import { memoryStorage } from "../storage/memory.ts";
import { generateSigningKey } from "../mod.ts";
import type { AuditEvent } from "../mod.ts";
import { TestProvider } from "./support/mcp_client.ts";

async function startDemo() {
  let handler: (req: Request) => Promise<Response> = () =>
    Promise.resolve(new Response("starting", { status: 503 }));
  const server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen: () => {} },
    (req) => handler(req),
  );
  const origin = `http://localhost:${server.addr.port}`;
  const events: AuditEvent[] = [];
  const app = createDemoApp({
    origin,
    storage: memoryStorage(),
    keys: [await generateSigningKey()],
    onEvent: (e) => void events.push(e),
  });
  handler = app.handler;
  return { ...app, origin, events, close: () => server.shutdown() };
}

async function connect(mcpUrl: string, provider: TestProvider): Promise<Client> {
  const client = new Client({ name: "e2e", version: "1.0.0" });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider }),
  );
  return client;
}

test("MCP SDK client: 401 → discovery → DCR → PKCE → tools → step-up → refresh → revocation", async () => {
  const demo = await startDemo();
  try {
    const provider = new TestProvider("alice");
    // 1. No token: the transport gets 401, discovers via resource_metadata, registers,
    //    and sends the user to /authorize (our provider signs in and clicks Allow).
    const first = new StreamableHTTPClientTransport(new URL(demo.mcpUrl), {
      authProvider: provider,
    });
    const c0 = new Client({ name: "e2e", version: "1.0.0" });
    await assert.rejects(c0.connect(first), UnauthorizedError);
    assert.ok(provider.info?.client_id, "client registered dynamically");
    assert.ok(provider.lastCode, "authorization code received");
    const authzUrl = provider.lastAuthorizationUrl!;
    assert.equal(authzUrl.searchParams.get("code_challenge_method"), "S256");
    assert.equal(authzUrl.searchParams.get("resource"), demo.mcpUrl);
    assert.equal(authzUrl.searchParams.get("scope"), "mcp:read", "scope from the 401 challenge");
    await first.finishAuth(provider.lastCode!);
    assert.equal(provider.saved?.scope, "mcp:read");

    // 2. Authorized: list tools and call one; the tool sees authInfo.
    const client = await connect(demo.mcpUrl, provider);
    const tools = await client.listTools();
    assert.deepEqual(tools.tools.map((t) => t.name).sort(), [
      "add_note",
      "admin_stats",
      "confirm",
      "echo",
      "list_notes",
      "whoami",
    ]);
    const who = await client.callTool({ name: "whoami", arguments: {} });
    const whoText = JSON.stringify(who.content);
    assert.match(whoText, /alice/);
    assert.match(whoText, new RegExp(provider.info!.client_id));

    // 3. The admin tool needs mcp:admin: 403 insufficient_scope naming it.
    const raw = await fetch(demo.mcpUrl, {
      method: "POST",
      headers: {
        authorization: `Bearer ${provider.saved!.access_token}`,
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        "mcp-protocol-version": "2025-06-18",
      },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 9,
        method: "tools/call",
        params: { name: "admin_stats", arguments: {} },
      }),
    });
    assert.equal(raw.status, 403);
    await raw.body?.cancel();
    const challenge = raw.headers.get("www-authenticate")!;
    assert.match(challenge, /error="insufficient_scope"/);
    assert.match(challenge, /scope="[^"]*mcp:admin[^"]*"/);
    // The SDK transport sees the 403, tries to up-scope (its refresh keeps the old scope), and gives up.
    await assert.rejects(client.callTool({ name: "admin_stats", arguments: {} }));

    // 4. Re-authorize with the wider scope (as an SDK app does after that error).
    provider.invalidateCredentials("tokens");
    const scope = /scope="([^"]+)"/.exec(challenge)![1];
    assert.equal(await auth(provider, { serverUrl: demo.mcpUrl, scope }), "REDIRECT");
    assert.equal(
      await auth(provider, { serverUrl: demo.mcpUrl, authorizationCode: provider.lastCode! }),
      "AUTHORIZED",
    );
    assert.match(provider.saved!.scope!, /mcp:admin/);
    const admin = await connect(demo.mcpUrl, provider);
    const stats = await admin.callTool({ name: "admin_stats", arguments: {} });
    assert.notEqual(stats.isError, true);

    // 5. Refresh: the SDK rotates the refresh token.
    const before = { ...provider.saved! };
    assert.equal(await auth(provider, { serverUrl: demo.mcpUrl }), "AUTHORIZED");
    assert.notEqual(provider.saved!.access_token, before.access_token);
    assert.notEqual(provider.saved!.refresh_token, before.refresh_token);
    assert.ok((await admin.callTool({ name: "whoami", arguments: {} })).content);
    assert.ok(demo.events.some((e) => e.type === "token.refreshed"));

    // 6. Revocation (RFC 7009): the very next call is refused (strict mode).
    const rev = await fetch(`${demo.origin}/revoke`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        token: provider.saved!.refresh_token!,
        client_id: provider.info!.client_id,
      }),
    });
    assert.equal(rev.status, 200);
    await rev.body?.cancel();
    const afterRevoke = await fetch(demo.mcpUrl, {
      method: "POST",
      headers: {
        authorization: `Bearer ${provider.saved!.access_token}`,
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
      },
      body: JSON.stringify({ jsonrpc: "2.0", id: 10, method: "tools/list" }),
    });
    assert.equal(afterRevoke.status, 401);
    assert.match(afterRevoke.headers.get("www-authenticate")!, /error="invalid_token"/);
    await afterRevoke.body?.cancel();
    await assert.rejects(admin.callTool({ name: "whoami", arguments: {} }));
    await Promise.all([c0.close(), client.close(), admin.close()]);
  } finally {
    await demo.close();
  }
});

test("browser clients: /mcp answers CORS preflight and exposes WWW-Authenticate on the 401", async () => {
  const demo = await startDemo();
  try {
    const pre = await fetch(demo.mcpUrl, {
      method: "OPTIONS",
      headers: {
        origin: "http://localhost:6274",
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type, mcp-protocol-version",
      },
    });
    assert.equal(pre.status, 204);
    await pre.body?.cancel();
    assert.match(pre.headers.get("access-control-allow-headers")!, /authorization/);
    const res = await fetch(demo.mcpUrl, {
      method: "POST",
      headers: { origin: "http://localhost:6274", "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
    });
    assert.equal(res.status, 401);
    await res.body?.cancel();
    assert.equal(res.headers.get("access-control-allow-origin"), "*");
    assert.match(res.headers.get("access-control-expose-headers")!, /www-authenticate/);
    assert.match(res.headers.get("www-authenticate")!, /resource_metadata=/);
  } finally {
    await demo.close();
  }
});

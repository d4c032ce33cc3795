/**
 * mcp.ts tests with a real McpServer (the example tools) behind protectMcp and the SDK's
 * WebStandardStreamableHTTPServerTransport, plus a real SDK client over HTTP.
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
// @ts-types="@modelcontextprotocol/sdk/client/index"
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
// @ts-types="@modelcontextprotocol/sdk/client/streamableHttp"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
// @ts-types="@modelcontextprotocol/sdk/server/webStandardStreamableHttp"
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import { createVerifier, type VerifyFunction } from "../verify.ts";
import { InsufficientScopeError, protectMcp, requireScopes, toAuthInfo } from "../mcp.ts";
import { createMcpServer, SCOPE_HIERARCHY, TOOL_SCOPES } from "./support/mcp_v1_server.ts";
import { ISSUER, makeKey, RESOURCE, signToken, T0 } from "./support/verify_fixtures.ts";

const PRM = "http://localhost:8787/.well-known/oauth-protected-resource/mcp";
const key = await makeKey("EdDSA", "mcp-key");

function makeVerifier() {
  return createVerifier({
    issuer: ISSUER,
    audience: RESOURCE,
    jwks: { keys: [key.publicJwk as never] },
    scopesSupported: ["mcp:read", "mcp:write", "mcp:admin"],
    scopeHierarchy: SCOPE_HIERARCHY,
    now: () => T0,
  });
}

let nextId = 1;
function rpc(method: string, params: unknown, token?: string): Request {
  const headers: Record<string, string> = {
    "content-type": "application/json",
    accept: "application/json, text/event-stream",
  };
  if (token) headers.authorization = `Bearer ${token}`;
  return new Request(RESOURCE, {
    method: "POST",
    headers,
    body: JSON.stringify({ jsonrpc: "2.0", id: nextId++, method, params }),
  });
}

const callTool = (name: string, args: Record<string, unknown>, token?: string) =>
  rpc("tools/call", { name, arguments: args }, token);

const tokenWith = (scope: string) => signToken(key, { claims: { scope } });

describe("protectMcp with toolScopes (pre-check from the JSON-RPC body)", () => {
  const verifier = makeVerifier();
  const handler = protectMcp(createMcpServer, { verifier, toolScopes: TOOL_SCOPES });

  it("no token: 401 with resource_metadata and scope, no error param", async () => {
    const res = await handler(rpc("tools/list", {}));
    assert.equal(res.status, 401);
    assert.equal(
      res.headers.get("www-authenticate"),
      `Bearer resource_metadata="${PRM}", scope="mcp:read mcp:write mcp:admin"`,
    );
  });

  it("no token on a tools/call: the challenge names that tool's scope", async () => {
    const res = await handler(callTool("admin_stats", {}));
    assert.equal(res.status, 401);
    assert.equal(
      res.headers.get("www-authenticate"),
      `Bearer resource_metadata="${PRM}", scope="mcp:admin"`,
    );
  });

  it("invalid token: 401 invalid_token", async () => {
    const bad = await signToken(key, { claims: { aud: "http://localhost:8787/elsewhere" } });
    const res = await handler(rpc("tools/list", {}, bad));
    assert.equal(res.status, 401);
    assert.match(res.headers.get("www-authenticate") ?? "", /^Bearer error="invalid_token"/);
  });

  it("initialize and tools/list work with a token", async () => {
    const token = await tokenWith("mcp:read");
    const init = await handler(
      rpc("initialize", {
        protocolVersion: "2025-06-18",
        capabilities: {},
        clientInfo: { name: "test", version: "1" },
      }, token),
    );
    assert.equal(init.status, 200);
    assert.equal((await init.json()).result.serverInfo.name, "gatehouse-example");
    const res = await handler(rpc("tools/list", {}, token));
    assert.equal(res.status, 200);
    const names = (await res.json()).result.tools.map((t: { name: string }) => t.name).sort();
    assert.deepEqual(names, ["admin_stats", "echo", "whoami"]);
  });

  it("whoami sees authInfo (subject, client, scopes, resource)", async () => {
    const token = await tokenWith("mcp:read mcp:write");
    const res = await handler(callTool("whoami", {}, token));
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(body.result.isError, undefined);
    assert.deepEqual(body.result.structuredContent, {
      subject: "user-1",
      clientId: "client-1",
      scopes: ["mcp:read", "mcp:write"],
      expiresAt: T0 / 1000 + 300,
      resource: RESOURCE,
    });
  });

  it("admin tool with only mcp:read: 403 insufficient_scope naming mcp:admin", async () => {
    const res = await handler(callTool("admin_stats", {}, await tokenWith("mcp:read")));
    assert.equal(res.status, 403);
    assert.equal(
      res.headers.get("www-authenticate"),
      `Bearer error="insufficient_scope", scope="mcp:admin", resource_metadata="${PRM}"`,
    );
    assert.equal((await res.json()).error, "insufficient_scope");
  });

  it("hierarchy: mcp:admin can call echo; mcp:write cannot call admin_stats", async () => {
    const admin = await tokenWith("mcp:admin");
    const echo = await handler(callTool("echo", { text: "hi" }, admin));
    assert.equal(echo.status, 200);
    assert.deepEqual((await echo.json()).result.content, [{ type: "text", text: "hi" }]);
    const stats = await handler(callTool("admin_stats", {}, admin));
    assert.equal(stats.status, 200);
    assert.match((await stats.json()).result.content[0].text, /callsServed/);
    const denied = await handler(callTool("admin_stats", {}, await tokenWith("mcp:write")));
    assert.equal(denied.status, 403);
  });

  it("a batch needs the union of its tools' scopes", async () => {
    const token = await tokenWith("mcp:read");
    const req = new Request(RESOURCE, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        authorization: `Bearer ${token}`,
      },
      body: JSON.stringify([
        { jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "whoami" } },
        { jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "admin_stats" } },
      ]),
    });
    const res = await handler(req);
    assert.equal(res.status, 403);
    assert.equal(
      res.headers.get("www-authenticate"),
      `Bearer error="insufficient_scope", scope="mcp:read mcp:admin", resource_metadata="${PRM}"`,
    );
  });

  it("options.scopes applies to every request", async () => {
    const strict = protectMcp(createMcpServer, { verifier, scopes: ["mcp:write"] });
    const res = await strict(rpc("tools/list", {}, await tokenWith("mcp:read")));
    assert.equal(res.status, 403);
    assert.equal(
      res.headers.get("www-authenticate"),
      `Bearer error="insufficient_scope", scope="mcp:write", resource_metadata="${PRM}"`,
    );
  });
});

describe("protectMcp without toolScopes (requireScopes inside the tool)", () => {
  it("the tool's requireScopes becomes a 403 step-up challenge", async () => {
    const verifier = makeVerifier();
    const handler = protectMcp(createMcpServer, { verifier });
    const res = await handler(callTool("admin_stats", {}, await tokenWith("mcp:read")));
    assert.equal(res.status, 403);
    assert.equal(
      res.headers.get("www-authenticate"),
      `Bearer error="insufficient_scope", scope="mcp:admin", resource_metadata="${PRM}"`,
    );
    const ok = await handler(callTool("whoami", {}, await tokenWith("mcp:admin")));
    assert.equal(ok.status, 200, "requireScopes honours the verifier's hierarchy");
  });

  it("works with a bare verify function of the same shape (e.g. the server's auth.verify)", async () => {
    const verifier = makeVerifier();
    const calls: (string[] | undefined)[] = [];
    const verify: VerifyFunction = (req, opts) => {
      calls.push(opts?.scopes);
      return verifier.verify(req, opts);
    };
    const handler = protectMcp(createMcpServer, { verify, scopeHierarchy: SCOPE_HIERARCHY });
    const admin = await handler(callTool("echo", { text: "x" }, await tokenWith("mcp:admin")));
    assert.equal(admin.status, 200);
    const res = await handler(callTool("admin_stats", {}, await tokenWith("mcp:write")));
    assert.equal(res.status, 403);
    assert.match(res.headers.get("www-authenticate") ?? "", /scope="mcp:admin"/);
    assert.deepEqual(calls.at(-1), ["mcp:admin"], "step-up re-verifies with the needed scopes");
  });

  it("with SSE responses a failed requireScopes is reported in-band as a tool error", async () => {
    const handler = protectMcp(createMcpServer, {
      verifier: makeVerifier(),
      transport: { sessionIdGenerator: undefined, enableJsonResponse: false },
    });
    const res = await handler(callTool("admin_stats", {}, await tokenWith("mcp:read")));
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.match(text, /insufficient_scope/);
    assert.match(text, /"isError":true/);
  });
});

describe("protectMcp with a stateful transport managed by the app", () => {
  it("sessions keep working, authInfo reaches tools, every request is re-verified", async () => {
    const verifier = makeVerifier();
    const sessions = new Map<string, WebStandardStreamableHTTPServerTransport>();
    const handler = protectMcp(async (req) => {
      const existing = sessions.get(req.headers.get("mcp-session-id") ?? "");
      if (existing) return existing;
      const transport: WebStandardStreamableHTTPServerTransport =
        new WebStandardStreamableHTTPServerTransport({
          sessionIdGenerator: () => crypto.randomUUID(),
          enableJsonResponse: true,
          onsessioninitialized: (id) => {
            sessions.set(id, transport);
          },
        });
      await createMcpServer().connect(transport);
      return transport;
    }, { verifier, toolScopes: TOOL_SCOPES });
    const token = await tokenWith("mcp:read");
    const init = await handler(
      rpc("initialize", {
        protocolVersion: "2025-06-18",
        capabilities: {},
        clientInfo: { name: "test", version: "1" },
      }, token),
    );
    assert.equal(init.status, 200);
    const sid = init.headers.get("mcp-session-id");
    assert.ok(sid);
    const withSession = (req: Request) => {
      req.headers.set("mcp-session-id", sid);
      req.headers.set("mcp-protocol-version", "2025-06-18");
      return req;
    };
    const who = await handler(withSession(callTool("whoami", {}, token)));
    assert.equal(who.status, 200);
    assert.equal((await who.json()).result.structuredContent.subject, "user-1");
    const denied = await handler(withSession(callTool("admin_stats", {}, token)));
    assert.equal(denied.status, 403);
    const anonymous = await handler(withSession(callTool("whoami", {})));
    assert.equal(anonymous.status, 401, "a session id is not a credential");
  });
});

describe("custom handler targets and helpers", () => {
  it("a handler target receives authInfo and verified claims", async () => {
    const handler = protectMcp(
      (_req, ctx) => Response.json({ sub: ctx.verified.subject, client: ctx.authInfo.clientId }),
      { verifier: makeVerifier() },
    );
    const res = await handler(rpc("ping", {}, await tokenWith("mcp:read")));
    assert.deepEqual(await res.json(), { sub: "user-1", client: "client-1" });
    const none = await handler(rpc("ping", {}));
    assert.equal(none.status, 401);
  });

  it("a handler target may throw InsufficientScopeError for a 403", async () => {
    const handler = protectMcp((_req, ctx) => {
      requireScopes(ctx, ["mcp:write"]);
      return new Response("never");
    }, { verifier: makeVerifier() });
    const res = await handler(rpc("ping", {}, await tokenWith("mcp:read")));
    assert.equal(res.status, 403);
    assert.equal(
      res.headers.get("www-authenticate"),
      `Bearer error="insufficient_scope", scope="mcp:write", resource_metadata="${PRM}"`,
    );
  });

  it("toAuthInfo maps a VerifiedToken", async () => {
    const token = await tokenWith("mcp:read mcp:write");
    const r = await makeVerifier().verify(token);
    assert.ok(r.ok);
    const info = toAuthInfo(r.claims);
    assert.equal(info.token, token);
    assert.equal(info.clientId, "client-1");
    assert.deepEqual(info.scopes, ["mcp:read", "mcp:write"]);
    assert.equal(info.expiresAt, T0 / 1000 + 300);
    assert.ok(info.resource instanceof URL);
    assert.equal(info.resource.href, RESOURCE);
    assert.equal(info.extra?.subject, "user-1");
    assert.equal(info.extra?.grantId, "grant-1");
  });

  it("requireScopes outside protectMcp: plain check, throws InsufficientScopeError", () => {
    const authInfo = { token: "t", clientId: "c", scopes: ["mcp:read"] };
    assert.doesNotThrow(() => requireScopes({ authInfo }, ["mcp:read"]));
    assert.throws(
      () => requireScopes({ authInfo }, ["mcp:read", "mcp:admin"]),
      (e: unknown) =>
        e instanceof InsufficientScopeError && e.scopes.join(" ") === "mcp:read mcp:admin",
    );
    assert.throws(() => requireScopes({}, ["mcp:read"]), InsufficientScopeError);
  });

  it("protectMcp requires a verifier or verify", () => {
    assert.throws(() => protectMcp(createMcpServer, {}), TypeError);
  });
});

describe("a real SDK client over HTTP", () => {
  it("connects, lists tools and calls whoami with a bearer token", async () => {
    const verifier = makeVerifier();
    const handler = protectMcp(createMcpServer, { verifier, toolScopes: TOOL_SCOPES });
    const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, handler);
    try {
      const token = await tokenWith("mcp:read");
      const url = new URL(`http://127.0.0.1:${server.addr.port}/mcp`);
      const client = new Client({ name: "gatehouse-test", version: "1.0.0" });
      const transport = new StreamableHTTPClientTransport(url, {
        requestInit: { headers: { authorization: `Bearer ${token}` } },
      });
      await client.connect(transport);
      const tools = await client.listTools();
      assert.equal(tools.tools.length, 3);
      const who = await client.callTool({ name: "whoami", arguments: {} });
      assert.equal((who.structuredContent as { subject: string }).subject, "user-1");
      await client.close();
      assert.ok(verifier.stats().cacheHits >= 2, "the repeated bearer hits the cache");
    } finally {
      await server.shutdown();
    }
  });
});

/**
 * The demo with an upstream OIDC provider (issue 9 §6): `createDemoApp` (what `npm start`
 * serves) with the provider built from the three environment variables, against a real
 * `oidc-provider` on loopback; the real MCP SDK client signs in through it; `whoami` shows
 * the upstream subject and `upstream_userinfo` returns the provider's userinfo.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { base64url } from "jose";
// @ts-types="@modelcontextprotocol/sdk/client/index"
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
// @ts-types="@modelcontextprotocol/sdk/client/streamableHttp"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
// @ts-types="@modelcontextprotocol/sdk/client/auth"
import { UnauthorizedError } from "@modelcontextprotocol/sdk/client/auth.js";
import { createDemoApp } from "../../examples/mcp-server/app.ts";
import { upstreamFromEnv } from "../../examples/mcp-server/upstream.ts";
import { generateSigningKey, memoryStorage } from "../../mod.ts";
import { Browser } from "../support/browser.ts";
import { CLIENT_REDIRECT, TestProvider } from "../support/mcp_client.ts";
import { signInThroughUpstream, startUpstreamOidc } from "../support/upstream_oidc.ts";

test("demo env: none set → no upstream; partial → names the missing ones; http only on loopback", () => {
  assert.equal(upstreamFromEnv(() => undefined), undefined);
  assert.throws(
    () =>
      upstreamFromEnv((n) => n === "GATEHOUSE_UPSTREAM_ISSUER" ? "https://idp.example" : undefined),
    /GATEHOUSE_UPSTREAM_CLIENT_ID and GATEHOUSE_UPSTREAM_CLIENT_SECRET/,
  );
  const env = (issuer: string) => (n: string) =>
    ({
      GATEHOUSE_UPSTREAM_ISSUER: issuer,
      GATEHOUSE_UPSTREAM_CLIENT_ID: "id",
      GATEHOUSE_UPSTREAM_CLIENT_SECRET: "secret",
    } as Record<string, string>)[n];
  assert.throws(
    () => upstreamFromEnv(env("http://idp.example")),
    /https \(http only on a loopback/,
  );
  assert.equal(upstreamFromEnv(env("http://127.0.0.1:9999"))?.callbackPath, "/callback/oidc");
  assert.equal(upstreamFromEnv(env("https://idp.example"))?.name, "oidc");
});

test("demo with GATEHOUSE_UPSTREAM_*: sign-in through the provider, whoami shows the upstream subject, upstream_userinfo works", async () => {
  let handler: (req: Request) => Promise<Response> = () =>
    Promise.resolve(new Response("starting", { status: 503 }));
  const server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen: () => {} },
    (r) => handler(r),
  );
  const origin = `http://127.0.0.1:${server.addr.port}`;
  const upstream = await startUpstreamOidc([origin + "/callback/oidc"]);
  const logs: string[] = [];
  const log = console.log;
  console.log = (m: string) => void logs.push(m);
  try {
    const up = upstreamFromEnv((n) =>
      ({
        GATEHOUSE_UPSTREAM_ISSUER: upstream.issuer,
        GATEHOUSE_UPSTREAM_CLIENT_ID: upstream.clientId,
        GATEHOUSE_UPSTREAM_CLIENT_SECRET: upstream.clientSecret,
      } as Record<string, string>)[n]
    );
    const app = createDemoApp({
      origin,
      storage: memoryStorage(),
      keys: [await generateSigningKey()],
      upstream: up,
      encryptionKeys: [{
        kid: "d",
        key: base64url.encode(crypto.getRandomValues(new Uint8Array(32))),
      }],
      onEvent: () => {},
    });
    handler = app.handler;
    assert.ok(
      logs.some((l) => l.includes(`${origin}/callback/oidc`)),
      "the callback URL is printed at start",
    );

    const browser = new Browser();
    const provider = new (class extends TestProvider {
      override async redirectToAuthorization(url: URL): Promise<void> {
        const { url: end } = await signInThroughUpstream(browser, url.href, {
          issuer: upstream.issuer,
          clientRedirect: CLIENT_REDIRECT,
          user: "carol",
        });
        this.lastCode = end.searchParams.get("code") ?? undefined;
        if (!this.lastCode) throw new Error(end.href);
      }
    })();
    const first = new StreamableHTTPClientTransport(new URL(app.mcpUrl), {
      authProvider: provider,
    });
    await assert.rejects(new Client({ name: "d", version: "1" }).connect(first), UnauthorizedError);
    await first.finishAuth(provider.lastCode!);
    const client = new Client({ name: "d", version: "1" });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(app.mcpUrl), { authProvider: provider }),
    );
    const tools = (await client.listTools()).tools.map((t) => t.name);
    assert.ok(tools.includes("upstream_userinfo"));
    const who = await client.callTool({ name: "whoami", arguments: {} });
    assert.equal(JSON.parse((who.content as { text: string }[])[0].text).subject, "carol");
    const info = await client.callTool({ name: "upstream_userinfo", arguments: {} });
    const userinfo = JSON.parse((info.content as { text: string }[])[0].text);
    assert.equal(userinfo.sub, "carol");
    assert.equal(userinfo.email, "carol@example.test");
    await client.close();
  } finally {
    console.log = log;
    await server.shutdown();
    await upstream.close();
  }
});

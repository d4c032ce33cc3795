/**
 * mcp-remote (the stdio↔remote proxy many desktop clients run), written from its source
 * and README (npm `mcp-remote`, github.com/geelen/mcp-remote): it delegates OAuth to the
 * MCP SDK's `auth()` with a Node provider whose redirect URL is
 * `http://localhost:{port}/oauth/callback` (default 3334, or another free port) and whose
 * registration metadata is client_name "MCP CLI Proxy",
 * client_uri "https://github.com/modelcontextprotocol/mcp-cli", public client,
 * authorization_code + refresh_token.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { harness } from "./_harness.ts";
import { runSdk, SdkProvider } from "./_sdk.ts";

function mcpRemote(port: number) {
  const redirectUrl = `http://localhost:${port}/oauth/callback`;
  return {
    redirectUrl,
    clientMetadata: {
      redirect_uris: [redirectUrl],
      token_endpoint_auth_method: "none",
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      client_name: "MCP CLI Proxy",
      client_uri: "https://github.com/modelcontextprotocol/mcp-cli",
    },
  };
}

test("mcp-remote: registration on the default port 3334 → full flow", async () => {
  const h = await harness();
  const run = await runSdk(h, new SdkProvider(h, mcpRemote(3334)));
  const info = run.provider.info as Record<string, unknown>;
  assert.equal(info.client_name, "MCP CLI Proxy");
  assert.equal(info.client_uri, "https://github.com/modelcontextprotocol/mcp-cli");
  assert.deepEqual(info.redirect_uris, ["http://localhost:3334/oauth/callback"]);
  assert.match(run.provider.consentHtml, /MCP CLI Proxy/);
});

test("mcp-remote: a random free port", async () => {
  const port = 40000 + Math.floor(Math.random() * 20000);
  const h = await harness();
  const run = await runSdk(h, new SdkProvider(h, mcpRemote(port)));
  assert.equal(
    run.provider.lastAuthorizationUrl?.searchParams.get("redirect_uri"),
    `http://localhost:${port}/oauth/callback`,
  );
});

/**
 * The MCP Inspector, written from its documentation and issues: it runs the MCP SDK's
 * `auth()` in the browser with redirect http://localhost:6274/oauth/callback (the guided
 * "debug" flow uses /oauth/callback/debug) — https://github.com/modelcontextprotocol/inspector/issues/556;
 * it identifies by dynamic registration, a static client, or a Client ID Metadata
 * Document given with --client-metadata-url
 * (https://github.com/modelcontextprotocol/modelcontextprotocol/pull/3143).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { harness } from "./_harness.ts";
import { runSdk, SdkProvider } from "./_sdk.ts";

const CALLBACK = "http://localhost:6274/oauth/callback";
const DEBUG_CALLBACK = "http://localhost:6274/oauth/callback/debug";
const metadata = (redirect: string) => ({
  redirect_uris: [redirect],
  token_endpoint_auth_method: "none",
  grant_types: ["authorization_code", "refresh_token"],
  response_types: ["code"],
  client_name: "MCP Inspector",
  client_uri: "https://github.com/modelcontextprotocol/inspector",
});

test("MCP Inspector: dynamic registration, quick flow (/oauth/callback)", async () => {
  const h = await harness();
  const run = await runSdk(
    h,
    new SdkProvider(h, { redirectUrl: CALLBACK, clientMetadata: metadata(CALLBACK) }),
  );
  assert.match(run.provider.consentHtml, /MCP Inspector/);
  assert.equal(run.firstTokens.scope, "mcp:read mcp:write");
});

test("MCP Inspector: guided flow (/oauth/callback/debug)", async () => {
  const h = await harness();
  const run = await runSdk(
    h,
    new SdkProvider(h, { redirectUrl: DEBUG_CALLBACK, clientMetadata: metadata(DEBUG_CALLBACK) }),
  );
  assert.deepEqual((run.provider.info as Record<string, unknown>).redirect_uris, [DEBUG_CALLBACK]);
});

test("MCP Inspector: --client-metadata-url (metadata document), loopback warning on consent", async () => {
  const h = await harness();
  const docUrl = "https://inspector.example.org/oauth/client-metadata.json";
  h.host(docUrl, { client_id: docUrl, ...metadata(CALLBACK) });
  const run = await runSdk(
    h,
    new SdkProvider(h, {
      redirectUrl: CALLBACK,
      clientMetadata: metadata(CALLBACK),
      clientMetadataUrl: docUrl,
    }),
  );
  assert.equal(run.provider.info?.client_id, docUrl);
  assert.ok(!h.log.includes("POST /register"));
  assert.match(run.provider.consentHtml, /only redirects to this computer/);
});

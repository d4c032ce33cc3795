/**
 * Cursor, written from public reports:
 * - dynamic registration as a public client (token_endpoint_auth_method none), redirect
 *   cursor://anysphere.cursor-mcp/oauth/callback, the private-use scheme from Cursor's MCP
 *   docs (https://github.com/makeplane/plane-mcp-server/issues/159,
 *   https://github.com/different-ai/openwork/pull/3059);
 * - newer builds register the hosted callback https://www.cursor.com/agents/mcp/oauth/callback
 *   alongside it (https://github.com/erp-mafia/accounted/pull/2225,
 *   https://github.com/bytebase/bytebase/issues/20510).
 * RFC 8252 §7.1 private-use schemes are accepted; PKCE binds the code to the client.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { harness, runScripted } from "./_harness.ts";
import type { ScriptedClient } from "./_harness.ts";

const SCHEME = "cursor://anysphere.cursor-mcp/oauth/callback";
const HOSTED = "https://www.cursor.com/agents/mcp/oauth/callback";

const cursor = (redirectUri: string): ScriptedClient => ({
  discovery: [
    "/.well-known/oauth-protected-resource/mcp",
    "/.well-known/oauth-authorization-server",
  ],
  registration: {
    client_name: "Cursor",
    redirect_uris: [SCHEME, HOSTED],
    grant_types: ["authorization_code", "refresh_token"],
    response_types: ["code"],
    token_endpoint_auth_method: "none",
  },
  redirectUri,
  scope: (challengeScope, prmScopes) => challengeScope ?? prmScopes.join(" "),
  sendsResource: true,
});

test("Cursor desktop: cursor:// private-use scheme callback", async () => {
  const h = await harness();
  const run = await runScripted(h, cursor(SCHEME));
  assert.equal(run.redirect.protocol, "cursor:");
  assert.deepEqual(run.registered?.redirect_uris, [SCHEME, HOSTED]);
});

test("Cursor: hosted https callback", async () => {
  const h = await harness();
  const run = await runScripted(h, cursor(HOSTED));
  assert.equal(run.redirect.origin, "https://www.cursor.com");
});

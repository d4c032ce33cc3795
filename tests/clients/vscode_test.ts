/**
 * VS Code (GitHub Copilot Chat MCP), written from public reports:
 * - dynamic registration with redirect_uris https://insiders.vscode.dev/redirect,
 *   https://vscode.dev/redirect, http://127.0.0.1/ and http://127.0.0.1:33418/; the desktop
 *   app redirects to http://127.0.0.1:33418/, or to another free loopback port when 33418 is
 *   taken (https://github.com/microsoft/vscode/issues/278512); the manual-client dialog lists
 *   http://127.0.0.1:33418 and https://vscode.dev/redirect
 *   (https://github.com/contextstream/mcp-server/issues/57);
 * - requests the scope named by the challenge or the protected-resource metadata, sends
 *   `resource` (same issue #278512's authorize URL);
 * - vscode.dev (the web build) comes back through https://vscode.dev/redirect.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { harness, runScripted } from "./_harness.ts";
import type { ScriptedClient } from "./_harness.ts";

const REDIRECTS = [
  "https://insiders.vscode.dev/redirect",
  "https://vscode.dev/redirect",
  "http://127.0.0.1/",
  "http://127.0.0.1:33418/",
];

const vscode = (redirectUri: string): ScriptedClient => ({
  discovery: [
    "/.well-known/oauth-protected-resource/mcp",
    "/.well-known/oauth-authorization-server",
  ],
  registration: {
    client_name: "Visual Studio Code",
    redirect_uris: REDIRECTS,
    grant_types: ["authorization_code", "refresh_token"],
    response_types: ["code"],
    token_endpoint_auth_method: "none",
  },
  redirectUri,
  scope: (challengeScope, prmScopes) => challengeScope ?? prmScopes.join(" "),
  sendsResource: true,
});

test("VS Code desktop: loopback 127.0.0.1:33418", async () => {
  const h = await harness();
  const run = await runScripted(h, vscode("http://127.0.0.1:33418/"));
  assert.deepEqual(run.registered?.redirect_uris, REDIRECTS);
  assert.equal(run.redirect.host, "127.0.0.1:33418");
});

test("VS Code desktop: 33418 busy → another loopback port still matches (RFC 8252 §7.3)", async () => {
  const h = await harness();
  const run = await runScripted(h, vscode("http://127.0.0.1:59656/"));
  assert.equal(run.redirect.host, "127.0.0.1:59656");
});

test("vscode.dev: https://vscode.dev/redirect", async () => {
  const h = await harness();
  const run = await runScripted(h, vscode("https://vscode.dev/redirect"));
  assert.equal(run.redirect.origin, "https://vscode.dev");
  assert.match(run.consentHtml, /vscode\.dev/);
});

/**
 * Claude Code (CLI), written from its documentation and public reports:
 * - a random loopback callback port, redirect `http://localhost:PORT/callback`
 *   (code.claude.com/docs/en/mcp, quoted in https://github.com/labsai/EDDI/pull/805;
 *   https://github.com/anthropics/claude-code/issues/10439);
 * - since v2.1.81 it identifies with the metadata document
 *   https://claude.ai/oauth/claude-code-client-metadata when the server supports it
 *   (https://github.com/anthropics/claude-code/issues/44388,
 *   https://github.com/dropseed/plain/pull/108), else dynamic registration with the
 *   discovered scope as the registration's `scope` (https://github.com/getmunin/munin/pull/744)
 *   and a client_name like "Claude Code (server)" (https://github.com/anthropics/claude-code/issues/2527);
 * - adds `offline_access` to the requested scope even when the server does not list it
 *   (https://github.com/anthropics/claude-code/issues/41610) — Gatehouse ignores it.
 * - the document lists portless loopback redirect URIs, http://localhost/callback and
 *   http://127.0.0.1/callback, and no application_type, while requests carry an ephemeral port
 *   (https://github.com/anthropics/claude-code/issues/41011, /issues/37767): RFC 8252 §7.3
 *   loopback matching (any port) is what makes it work.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { harness, MCP_URL, runScripted } from "./_harness.ts";
import type { ScriptedClient } from "./_harness.ts";

const DOC_URL = "https://claude.ai/oauth/claude-code-client-metadata";
const port = 40000 + Math.floor(Math.random() * 20000);
const CALLBACK = `http://localhost:${port}/callback`;

const claudeCode = (overrides: Partial<ScriptedClient> = {}): ScriptedClient => ({
  discovery: [
    "/.well-known/oauth-protected-resource/mcp",
    "/.well-known/oauth-authorization-server",
  ],
  metadataDocument: {
    client_id: DOC_URL,
    client_name: "Claude Code",
    redirect_uris: ["http://localhost/callback", "http://127.0.0.1/callback"],
    grant_types: ["authorization_code", "refresh_token"],
    response_types: ["code"],
    token_endpoint_auth_method: "none",
  },
  redirectUri: CALLBACK,
  scope: (challengeScope, prmScopes) =>
    [challengeScope ?? prmScopes.join(" "), "offline_access"].join(" "),
  sendsResource: true,
  ...overrides,
});

test("Claude Code: metadata document, random loopback port, offline_access ignored, localhost warning shown", async () => {
  const h = await harness();
  const run = await runScripted(h, claudeCode());
  assert.equal(run.clientId, DOC_URL);
  assert.equal(run.redirect.port, String(port));
  assert.match(run.authorizationUrl.searchParams.get("scope")!, /offline_access/);
  assert.equal(
    run.tokens.scope,
    "mcp:read mcp:write",
    "offline_access dropped, refresh token anyway",
  );
  assert.equal(run.refreshed.scope, "mcp:read mcp:write");
  // Anyone can publish a loopback-only document: the user is warned.
  assert.match(run.consentHtml, /only redirects to this computer/);
});

test("Claude Code: dynamic registration (older versions) with the discovered scope registered", async () => {
  const h = await harness();
  const run = await runScripted(
    h,
    claudeCode({
      metadataDocument: undefined,
      registration: {
        client_name: "Claude Code (notes)",
        redirect_uris: [CALLBACK],
        grant_types: ["authorization_code", "refresh_token"],
        response_types: ["code"],
        token_endpoint_auth_method: "none",
        scope: "mcp:read mcp:write offline_access",
      },
    }),
  );
  // Registered scope keeps what the server knows; offline_access is dropped, not refused.
  assert.equal(run.registered?.scope, "mcp:read mcp:write");
  assert.equal(run.tokens.scope, "mcp:read mcp:write");
  assert.equal(run.authorizationUrl.searchParams.get("resource"), MCP_URL);
});

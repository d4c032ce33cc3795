/**
 * Claude (claude.ai web and desktop connectors), written from public reports:
 * - discovery: POST /mcp → 401, then the path-suffixed protected-resource
 *   metadata, then /.well-known/oauth-authorization-server
 *   (https://github.com/anthropics/claude-ai-mcp/issues/124);
 * - identifies with the metadata document https://claude.ai/oauth/mcp-oauth-client-metadata
 *   (https://github.com/anthropics/claude-ai-mcp/issues/518), chosen only when the server
 *   advertises client_id_metadata_document_supported and "none" in
 *   token_endpoint_auth_methods_supported, otherwise dynamic registration
 *   (https://github.com/brendanlong/lion-reader/pull/1519);
 * - fixed https callback https://claude.ai/api/mcp/auth_callback (same issue #124);
 * - registers without a `scope` field (https://github.com/getmunin/munin/pull/744) and does
 *   not add offline_access (https://github.com/anthropics/claude-ai-mcp/issues/42).
 * The document's grant_types carry the jwt-bearer extra a hosted connector lists (Gatehouse
 * issue 7, case 1): the server must drop it, not refuse the client.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { harness, runScripted } from "./_harness.ts";
import type { ScriptedClient } from "./_harness.ts";

const CALLBACK = "https://claude.ai/api/mcp/auth_callback";
const DOC_URL = "https://claude.ai/oauth/mcp-oauth-client-metadata";
const DISCOVERY = [
  "/.well-known/oauth-protected-resource/mcp",
  "/.well-known/oauth-authorization-server",
];

const claudeWeb = (overrides: Partial<ScriptedClient> = {}): ScriptedClient => ({
  discovery: DISCOVERY,
  metadataDocument: {
    client_id: DOC_URL,
    client_name: "Claude",
    client_uri: "https://claude.ai",
    redirect_uris: [CALLBACK, "https://claude.com/api/mcp/auth_callback"],
    grant_types: [
      "authorization_code",
      "refresh_token",
      "urn:ietf:params:oauth:grant-type:jwt-bearer",
    ],
    response_types: ["code"],
    token_endpoint_auth_method: "none",
  },
  redirectUri: CALLBACK,
  scope: (challengeScope) => challengeScope,
  sendsResource: true,
  ...overrides,
});

test("Claude web: metadata document (with a jwt-bearer extra) → consent → token → refresh → revoke", async () => {
  const h = await harness();
  const run = await runScripted(h, claudeWeb());
  // Claude picks the metadata document only when both conditions hold.
  assert.equal(run.asMetadata.client_id_metadata_document_supported, true);
  assert.ok((run.asMetadata.token_endpoint_auth_methods_supported as string[]).includes("none"));
  assert.equal(run.clientId, DOC_URL);
  assert.match(run.consentHtml, /Claude/);
  assert.match(run.consentHtml, /claude\.ai/);
  assert.doesNotMatch(run.consentHtml, /only redirects to this computer/);
  // The scope the 401 challenge named, exactly.
  assert.equal(run.authorizationUrl.searchParams.get("scope"), "mcp:read mcp:write");
  assert.equal(run.tokens.scope, "mcp:read mcp:write");
  assert.deepEqual(h.log.slice(0, 3), [
    "POST /mcp",
    "GET /.well-known/oauth-protected-resource/mcp",
    "GET /.well-known/oauth-authorization-server",
  ]);
  assert.deepEqual(h.hostedCalls, [DOC_URL], "document fetched once, then cached");
});

test("Claude web: dynamic registration fallback (no scope field) → full flow", async () => {
  const h = await harness();
  const run = await runScripted(
    h,
    claudeWeb({
      metadataDocument: undefined,
      registration: {
        client_name: "Claude",
        redirect_uris: [CALLBACK],
        grant_types: ["authorization_code", "refresh_token"],
        response_types: ["code"],
        token_endpoint_auth_method: "none",
      },
    }),
  );
  assert.deepEqual(run.registered?.grant_types, ["authorization_code", "refresh_token"]);
  assert.equal(run.registered?.scope, undefined);
  assert.equal(run.redirect.origin, "https://claude.ai");
});

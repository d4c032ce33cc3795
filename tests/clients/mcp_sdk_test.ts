/**
 * The MCP TypeScript SDK client (@modelcontextprotocol/sdk 1.x `auth()`), run for real:
 * its own discovery (RFC 9728 then RFC 8414 with fallbacks), dynamic registration or a
 * SEP-991 metadata document (chosen when the server advertises
 * client_id_metadata_document_supported and the app sets clientMetadataUrl), PKCE,
 * `resource`, refresh; and private_key_jwt through the SDK's own
 * createPrivateKeyJwtAuth (auth-extensions), whose assertion audience is the issuer.
 * The v2 client (@modelcontextprotocol/client 2.x) runs the same flow and additionally
 * checks the metadata's issuer echo (RFC 8414 §3.3) and the authorization response's
 * `iss` (RFC 9207), and requires an https token endpoint.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
// @ts-types="@modelcontextprotocol/sdk/client/auth-extensions"
import { createPrivateKeyJwtAuth } from "@modelcontextprotocol/sdk/client/auth-extensions.js";
import { exportJWK, generateKeyPair } from "jose";
import { harness } from "./_harness.ts";
import { runSdk, SdkProvider } from "./_sdk.ts";
import type { SdkAuth } from "./_sdk.ts";
import { auth as authV2 } from "@modelcontextprotocol/client";

const port = 40000 + Math.floor(Math.random() * 20000);
const REDIRECT = `http://127.0.0.1:${port}/callback`;
const metadata = {
  client_name: "SDK app",
  redirect_uris: [REDIRECT],
  grant_types: ["authorization_code", "refresh_token"],
  response_types: ["code"],
  token_endpoint_auth_method: "none",
};

test("MCP SDK client: dynamic registration → consent → token → refresh → revoke", async () => {
  const h = await harness();
  const run = await runSdk(
    h,
    new SdkProvider(h, { redirectUrl: REDIRECT, clientMetadata: metadata }),
  );
  assert.ok(run.provider.info?.client_id);
  assert.equal(run.firstTokens.scope, "mcp:read mcp:write", "the challenge's scope");
  assert.ok(h.log.includes("POST /register"));
  // The SDK's discovery order, as it ran: challenge, PRM from the header, AS metadata.
  const discovery = h.log.filter((l) => l.startsWith("GET /.well-known"));
  assert.deepEqual(discovery.slice(0, 2), [
    "GET /.well-known/oauth-protected-resource/mcp",
    "GET /.well-known/oauth-authorization-server",
  ]);
});

test("MCP SDK client: metadata document (clientMetadataUrl) instead of registration", async () => {
  const h = await harness();
  const docUrl = "https://app.example.org/oauth/client.json";
  h.host(docUrl, { client_id: docUrl, ...metadata });
  const run = await runSdk(
    h,
    new SdkProvider(h, {
      redirectUrl: REDIRECT,
      clientMetadata: metadata,
      clientMetadataUrl: docUrl,
    }),
  );
  assert.equal(run.provider.info?.client_id, docUrl);
  assert.ok(!h.log.includes("POST /register"), "no registration");
  assert.match(run.provider.consentHtml, /only redirects to this computer/);
});

test("MCP SDK client: private_key_jwt via the SDK's createPrivateKeyJwtAuth (registration with jwks)", async () => {
  const h = await harness();
  const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid: "sdk-1", alg: "ES256" };
  const reg = await h.fetch("https://mcp.example.com/register", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      ...metadata,
      token_endpoint_auth_method: "private_key_jwt",
      jwks: { keys: [jwk] },
    }),
  });
  assert.equal(reg.status, 201);
  const info = await reg.json();
  const provider = new SdkProvider(h, {
    redirectUrl: REDIRECT,
    clientMetadata: metadata,
    addClientAuthentication: createPrivateKeyJwtAuth({
      issuer: info.client_id,
      subject: info.client_id,
      privateKey: { ...(await exportJWK(privateKey)), kid: "sdk-1" },
      alg: "ES256",
    }),
  });
  provider.info = info;
  const run = await runSdk(h, provider);
  assert.equal(run.firstTokens.scope, "mcp:read mcp:write");
});

test("MCP SDK v2 client (@modelcontextprotocol/client): registration, iss checked → full flow", async () => {
  const h = await harness();
  const provider = new SdkProvider(h, { redirectUrl: REDIRECT, clientMetadata: metadata });
  const run = await runSdk(h, provider, authV2 as unknown as SdkAuth);
  assert.equal(provider.lastIss, "https://mcp.example.com");
  assert.equal(run.firstTokens.scope, "mcp:read mcp:write");
  // v2 adds offline_access only when the server lists it; Gatehouse does not (MCP 2026).
  assert.doesNotMatch(provider.lastAuthorizationUrl!.searchParams.get("scope") ?? "", /offline/);
});

test("MCP SDK v2 client: metadata document", async () => {
  const h = await harness();
  const docUrl = "https://app.example.org/oauth/v2-client.json";
  h.host(docUrl, { client_id: docUrl, ...metadata });
  const provider = new SdkProvider(h, {
    redirectUrl: REDIRECT,
    clientMetadata: metadata,
    clientMetadataUrl: docUrl,
  });
  const run = await runSdk(h, provider, authV2 as unknown as SdkAuth);
  assert.equal(run.provider.info?.client_id, docUrl);
  assert.ok(!h.log.includes("POST /register"));
});

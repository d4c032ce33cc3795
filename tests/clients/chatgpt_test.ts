/**
 * ChatGPT (connectors / apps), written from public reports:
 * - identifies with a metadata document at https://chatgpt.com/oauth/<id>/client.json
 *   declaring token_endpoint_auth_method private_key_jwt, token_endpoint_auth_signing_alg
 *   RS256 and jwks_uri https://chatgpt.com/oauth/jwks.json, redirect
 *   https://chatgpt.com/connector/oauth/<id> (https://github.com/Altinity/altinity-mcp/issues/118,
 *   https://github.com/pomerium/pomerium/issues/6692); it also lists
 *   token_endpoint_auth_methods_supported ["none", "private_key_jwt"]
 *   (https://github.com/gamedevpl/www.gamedev.pl/pull/641) and prefers private_key_jwt when
 *   the server advertises it (https://github.com/operately/operately/issues/5164);
 *   RSA signing key with a dated kid (https://github.com/engram-app/Engram/issues/1633);
 * - with dynamic registration: redirect https://chatgpt.com/connector_platform_oauth_redirect,
 *   scope = the PRM's scopes, resource sent; a reconnect sends no scope at all
 *   (https://community.openai.com/t/oauth-missing-scopes-after-reconnect/1366784).
 * The assertion's `aud` is not documented publicly; the token endpoint URL (RFC 7523 §3) is used.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { harness, MCP_URL, ORIGIN, pkce, postForm, runScripted } from "./_harness.ts";

const ID = "tU1UVEq8rRTK";
const DOC_URL = `https://chatgpt.com/oauth/${ID}/client.json`;
const JWKS_URL = "https://chatgpt.com/oauth/jwks.json";
const CIMD_CALLBACK = `https://chatgpt.com/connector/oauth/${ID}`;
const DCR_CALLBACK = "https://chatgpt.com/connector_platform_oauth_redirect";
const DISCOVERY = [
  "/.well-known/oauth-protected-resource/mcp",
  "/.well-known/oauth-authorization-server",
];

test("ChatGPT: metadata document with private_key_jwt (RS256, jwks_uri) → full flow with client assertions", async () => {
  const { privateKey, publicKey } = await generateKeyPair("RS256");
  const kid = "cimd-20260428030119";
  const h = await harness();
  h.host(JWKS_URL, { keys: [{ ...(await exportJWK(publicKey)), kid, alg: "RS256", use: "sig" }] });
  let assertions = 0;
  const run = await runScripted(h, {
    discovery: DISCOVERY,
    metadataDocument: {
      client_id: DOC_URL,
      client_uri: "https://chatgpt.com/",
      redirect_uris: [CIMD_CALLBACK],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      client_name: "ChatGPT",
      token_endpoint_auth_method: "private_key_jwt",
      token_endpoint_auth_methods_supported: ["none", "private_key_jwt"],
      token_endpoint_auth_signing_alg: "RS256",
      jwks_uri: JWKS_URL,
    },
    redirectUri: CIMD_CALLBACK,
    scope: (_c, prmScopes) => prmScopes.join(" "),
    sendsResource: true,
    clientAuth: async (clientId, tokenEndpoint) => {
      assertions++;
      const now = Math.floor(Date.now() / 1000);
      const jwt = await new SignJWT({ jti: crypto.randomUUID() })
        .setProtectedHeader({ alg: "RS256", kid, typ: "JWT" })
        .setIssuer(clientId).setSubject(clientId).setAudience(tokenEndpoint)
        .setIssuedAt(now).setExpirationTime(now + 60).sign(privateKey);
      return {
        client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        client_assertion: jwt,
      };
    },
  });
  // ChatGPT prefers private_key_jwt when it is advertised.
  assert.ok(
    (run.asMetadata.token_endpoint_auth_methods_supported as string[]).includes("private_key_jwt"),
  );
  assert.deepEqual(run.asMetadata.token_endpoint_auth_signing_alg_values_supported, [
    "RS256",
    "ES256",
    "EdDSA",
  ]);
  assert.equal(assertions, 4, "token, refresh, revoke and the dead refresh each carried one");
  assert.equal(run.tokens.scope, "mcp:read mcp:write");
  assert.match(run.consentHtml, /ChatGPT/);
  assert.deepEqual(h.hostedCalls.sort(), [DOC_URL, JWKS_URL].sort(), "each fetched once");
  // Without the assertion the same client is refused, and told why.
  const bare = await postForm(h, "/token", {
    grant_type: "refresh_token",
    refresh_token: "x",
    client_id: DOC_URL,
  });
  assert.equal(bare.status, 401);
  assert.match(
    (await bare.json()).error_description,
    /registered for private_key_jwt but authenticated with none/,
  );
});

test("ChatGPT: dynamic registration fallback, PRM scopes, then a reconnect without scope gets the defaults", async () => {
  const h = await harness();
  const registration = {
    client_name: "ChatGPT",
    redirect_uris: [DCR_CALLBACK],
    grant_types: ["authorization_code", "refresh_token"],
    response_types: ["code"],
    token_endpoint_auth_method: "none",
  };
  const run = await runScripted(h, {
    discovery: DISCOVERY,
    registration,
    redirectUri: DCR_CALLBACK,
    scope: (_c, prmScopes) => prmScopes.join(" "),
    sendsResource: true,
  });
  assert.equal(run.tokens.scope, "mcp:read mcp:write");
  // Reconnect: /authorize without scope → the configured default scopes, not an error.
  const clientId = run.clientId;
  const { verifier, challenge } = await pkce();
  const url = new URL(ORIGIN + "/authorize");
  for (
    const [k, v] of Object.entries({
      response_type: "code",
      client_id: clientId,
      redirect_uri: DCR_CALLBACK,
      state: "oauth_s_reconnect",
      code_challenge: challenge,
      code_challenge_method: "S256",
      resource: MCP_URL,
    })
  ) url.searchParams.set(k, v);
  const { redirect } = await h.userAgent(url.href);
  const tok = await postForm(h, "/token", {
    grant_type: "authorization_code",
    code: redirect.searchParams.get("code")!,
    code_verifier: verifier,
    redirect_uri: DCR_CALLBACK,
    resource: MCP_URL,
    client_id: clientId,
  });
  assert.equal(tok.status, 200);
  assert.equal((await tok.json()).scope, "mcp:read");
});

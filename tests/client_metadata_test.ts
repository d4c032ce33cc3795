/**
 * Tolerant client metadata (issue 7 items 1–2; README "Tolerance decisions"):
 * values Gatehouse does not support are dropped from the effective metadata
 * (RFC 7591 §3.2.1), the same rules for registrations and Client ID Metadata
 * Documents; security-relevant fields stay exact. Documents are served by an
 * injected `fetch` (a public https host cannot exist here; see server_cimd_test.ts).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  approveAndRedeem,
  authorizeQuery,
  codeFor,
  expectError,
  pkce,
  REDIRECT,
  RESOURCE,
  testServer,
} from "./support/flow.ts";
import type { TestServer } from "./support/flow.ts";

const JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const CLIENT_ID = "https://connector.example.net/oauth/metadata.json";
/** The stand-in host does not resolve here: allow-listed (see src/_outbound.ts). */
const OUTBOUND = { allow: ["connector.example.net"] };

function postJson(s: TestServer, body: unknown) {
  return s.call("/register", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

function docHost(doc: unknown): typeof fetch {
  return (input) => {
    const url = input instanceof Request ? input.url : String(input);
    return Promise.resolve(
      url === CLIENT_ID
        ? new Response(JSON.stringify(doc), { headers: { "content-type": "application/json" } })
        : new Response("not found", { status: 404 }),
    );
  };
}

test("metadata document with a jwt-bearer grant type: accepted, grant dropped, flow works, jwt-bearer at /token → unsupported_grant_type", async () => {
  // The shape a hosted connector publishes (issue 7 case 1).
  const doc = {
    client_id: CLIENT_ID,
    client_name: "Hosted Connector",
    redirect_uris: ["https://connector.example.net/oauth/callback"],
    grant_types: ["authorization_code", "refresh_token", JWT_BEARER],
    response_types: ["code"],
    token_endpoint_auth_method: "none",
  };
  const s = await testServer({ fetch: docHost(doc), outbound: OUTBOUND });
  const { code, verifier } = await codeFor(s, CLIENT_ID, {
    redirectUri: "https://connector.example.net/oauth/callback",
  });
  const tok = await s.form("/token", {
    grant_type: "authorization_code",
    code,
    code_verifier: verifier,
    redirect_uri: "https://connector.example.net/oauth/callback",
    client_id: CLIENT_ID,
    resource: RESOURCE,
  });
  assert.equal(tok.status, 200);
  const body = await tok.json();
  assert.equal(body.scope, "mcp:read");
  assert.equal(typeof body.refresh_token, "string", "refresh_token kept from the document");
  const jwt = await s.form("/token", {
    grant_type: JWT_BEARER,
    assertion: "eyJhbGciOiJub25lIn0.e30.",
    client_id: CLIENT_ID,
  });
  const err = await expectError(jwt, 400, "unsupported_grant_type");
  assert.match(err.error_description as string, /jwt-bearer/);
});

test("registration with a jwt-bearer grant type → 201 showing the effective grant_types", async () => {
  const s = await testServer();
  const res = await postJson(s, {
    redirect_uris: [REDIRECT],
    token_endpoint_auth_method: "none",
    grant_types: ["authorization_code", "refresh_token", JWT_BEARER],
    client_name: "Fallback",
  });
  assert.equal(res.status, 201);
  const body = await res.json();
  assert.deepEqual(body.grant_types, ["authorization_code", "refresh_token"]);
  const stored = await s.auth.admin.getClient(body.client_id);
  assert.deepEqual(stored?.grant_types, ["authorization_code", "refresh_token"]);
});

test("registration where nothing supported remains → 400 invalid_client_metadata naming the rule", async () => {
  const s = await testServer();
  for (
    const grant_types of [["client_credentials"], [JWT_BEARER, "client_credentials"], [
      "refresh_token",
    ]]
  ) {
    const err = await expectError(
      await postJson(s, { redirect_uris: [REDIRECT], grant_types }),
      400,
      "invalid_client_metadata",
    );
    assert.match(err.error_description as string, /authorization_code is required/);
  }
  const rt = await expectError(
    await postJson(s, { redirect_uris: [REDIRECT], response_types: ["token"] }),
    400,
    "invalid_client_metadata",
  );
  assert.match(rt.error_description as string, /"code" is required/);
  assert.equal((await s.auth.admin.listClients()).length, 0);
});

test("a wrongly typed or oversized field → 400 naming the field and the rule (not zod's 'Invalid input')", async () => {
  const s = await testServer();
  const cases: [Record<string, unknown>, string, string][] = [
    [
      { client_name: "n".repeat(201) },
      "invalid_client_metadata",
      "client_name: must be a string of at most 200 characters",
    ],
    [
      { client_name: 5 },
      "invalid_client_metadata",
      "client_name: must be a string of at most 200 characters",
    ],
    [
      { redirect_uris: REDIRECT },
      "invalid_redirect_uri",
      "redirect_uris: must be an array of URI strings",
    ],
    [{ redirect_uris: [] }, "invalid_redirect_uri", "redirect_uris: must list at least one URI"],
    [
      { redirect_uris: [5] },
      "invalid_redirect_uri",
      "redirect_uris.0: must be a string of at most 2000 characters",
    ],
    [{ scope: 5 }, "invalid_client_metadata", "scope: must be a string of at most 2000 characters"],
    [
      { grant_types: "authorization_code" },
      "invalid_client_metadata",
      "grant_types: must be an array of strings",
    ],
    [
      { response_types: [1] },
      "invalid_client_metadata",
      "response_types.0: each entry must be a string",
    ],
    [
      { token_endpoint_auth_method: 1 },
      "invalid_client_metadata",
      "token_endpoint_auth_method: must be a string",
    ],
  ];
  for (const [extra, error, description] of cases) {
    const err = await expectError(
      await postJson(s, { redirect_uris: [REDIRECT], ...extra }),
      400,
      error,
    );
    assert.equal(err.error_description, description, JSON.stringify(extra));
  }
  assert.equal((await s.auth.admin.listClients()).length, 0);
});

test("every tolerated field: dropped or kept as the README table says; unknown fields ignored", async () => {
  const s = await testServer();
  const res = await postJson(s, {
    redirect_uris: [REDIRECT],
    token_endpoint_auth_method: "none",
    grant_types: ["authorization_code", "implicit", "client_credentials", "authorization_code"],
    response_types: ["code", "id_token", "token"],
    scope: "openid mcp:read offline_access mcp:root mcp:write",
    client_name: "Tolerant",
    client_uri: "not a url",
    logo_uri: "http://insecure.example.com/logo.png",
    tos_uri: "https://app.example.com/tos",
    policy_uri: "javascript:alert(1)",
    contacts: ["ops@example.com", 42, "x".repeat(400)],
    software_id: "x".repeat(500),
    software_version: "1.2.3",
    software_statement: "eyJhbGciOiJub25lIn0.e30.",
    application_type: "native",
    jwks_uri: "https://app.example.com/jwks", // not private_key_jwt: unused, dropped
    token_endpoint_auth_signing_alg: "HS256", // idem
    client_id: "chosen-by-client",
    client_secret: "chosen-by-client",
    client_id_issued_at: 1,
    registration_access_token: "x",
    "client_name#fr": "Tolérant",
    post_logout_redirect_uris: ["https://app.example.com/bye"],
    x_vendor_extension: { anything: true },
  });
  assert.equal(res.status, 201, await res.clone().text());
  const body = await res.json();
  assert.deepEqual(body.grant_types, ["authorization_code"]);
  assert.deepEqual(body.response_types, ["code"]);
  assert.equal(body.scope, "mcp:read mcp:write");
  assert.equal(body.client_name, "Tolerant");
  assert.equal(body.tos_uri, "https://app.example.com/tos");
  assert.deepEqual(body.contacts, ["ops@example.com"]);
  assert.equal(body.software_version, "1.2.3");
  assert.notEqual(body.client_id, "chosen-by-client");
  assert.notEqual(body.client_id_issued_at, 1);
  for (
    const gone of [
      "client_uri",
      "logo_uri",
      "policy_uri",
      "software_id",
      "software_statement",
      "application_type",
      "jwks_uri",
      "token_endpoint_auth_signing_alg",
      "client_secret",
      "registration_access_token",
      "client_name#fr",
      "post_logout_redirect_uris",
      "x_vendor_extension",
    ]
  ) assert.equal(body[gone], undefined, gone);
  assert.deepEqual(
    Object.keys(body).sort(),
    [
      "client_id",
      "client_id_issued_at",
      "client_name",
      "contacts",
      "grant_types",
      "redirect_uris",
      "response_types",
      "scope",
      "software_version",
      "token_endpoint_auth_method",
      "tos_uri",
    ],
  );
  // A scope with nothing known left is simply omitted (informational, not a ceiling).
  const r2 = await postJson(s, {
    redirect_uris: [REDIRECT],
    token_endpoint_auth_method: "none",
    scope: "openid offline_access",
  });
  assert.equal(r2.status, 201);
  assert.equal((await r2.json()).scope, undefined);
});

test("exact fields stay exact: redirect URIs, auth method, jwks rules", async () => {
  const s = await testServer();
  const cases: [Record<string, unknown>, string, RegExp][] = [
    [{ redirect_uris: ["http://evil.example.com/cb"] }, "invalid_redirect_uri", /must use https/],
    [{ redirect_uris: [REDIRECT + "#frag"] }, "invalid_redirect_uri", /fragment/],
    [{ redirect_uris: [] }, "invalid_redirect_uri", /at least one/],
    [
      { redirect_uris: [REDIRECT], token_endpoint_auth_method: "client_secret_jwt" },
      "invalid_client_metadata",
      /"client_secret_jwt" is not supported/,
    ],
    [
      { redirect_uris: [REDIRECT], token_endpoint_auth_method: "tls_client_auth" },
      "invalid_client_metadata",
      /not supported \(supported: none, client_secret_basic, client_secret_post, private_key_jwt\)/,
    ],
    [
      { redirect_uris: [REDIRECT], token_endpoint_auth_method: "private_key_jwt" },
      "invalid_client_metadata",
      /requires jwks or jwks_uri/,
    ],
    [
      {
        redirect_uris: [REDIRECT],
        token_endpoint_auth_method: "private_key_jwt",
        jwks_uri: "https://a.example/jwks",
        jwks: { keys: [{ kty: "OKP", crv: "Ed25519", x: "AA" }] },
      },
      "invalid_client_metadata",
      /must not both be present/,
    ],
    [
      {
        redirect_uris: [REDIRECT],
        token_endpoint_auth_method: "private_key_jwt",
        jwks_uri: "http://a.example/jwks",
      },
      "invalid_client_metadata",
      /jwks_uri must be an absolute https URL/,
    ],
    [
      {
        redirect_uris: [REDIRECT],
        token_endpoint_auth_method: "private_key_jwt",
        jwks: { keys: [{ kty: "OKP", crv: "Ed25519", x: "AA", d: "AA" }] },
      },
      "invalid_client_metadata",
      /public keys only/,
    ],
    [
      {
        redirect_uris: [REDIRECT],
        token_endpoint_auth_method: "private_key_jwt",
        jwks: { keys: [{ kty: "oct", k: "AA" }] },
      },
      "invalid_client_metadata",
      /RSA, EC or OKP/,
    ],
    [
      {
        redirect_uris: [REDIRECT],
        token_endpoint_auth_method: "private_key_jwt",
        jwks_uri: "https://a.example/jwks",
        token_endpoint_auth_signing_alg: "HS256",
      },
      "invalid_client_metadata",
      /"HS256" is not supported/,
    ],
    [
      { redirect_uris: [REDIRECT], client_name: "x".repeat(201) },
      "invalid_client_metadata",
      /client_name/,
    ],
  ];
  for (const [meta, code, rule] of cases) {
    const err = await expectError(await postJson(s, meta), 400, code);
    assert.match(err.error_description as string, rule, JSON.stringify(meta).slice(0, 120));
  }
  assert.equal((await s.auth.admin.listClients()).length, 0);
});

test("metadata document: the same tolerance; the consent page shows it and the flow completes", async () => {
  const doc = {
    client_id: CLIENT_ID,
    client_name: "Doc Client",
    redirect_uris: [REDIRECT],
    grant_types: ["authorization_code", "refresh_token", "client_credentials", JWT_BEARER],
    response_types: ["code", "token"],
    scope: "mcp:read offline_access openid",
    logo_uri: "not a url",
    application_type: "web",
    x_unknown: [1, 2, 3],
  };
  const s = await testServer({ fetch: docHost(doc), outbound: OUTBOUND });
  const { challenge, verifier } = await pkce();
  const page = await s.call(authorizeQuery({
    response_type: "code",
    client_id: CLIENT_ID,
    redirect_uri: REDIRECT,
    code_challenge: challenge,
    code_challenge_method: "S256",
    resource: RESOURCE,
  }));
  assert.equal(page.status, 200);
  const html = await page.text();
  assert.match(html, /Doc Client/);
  const tok = await approveAndRedeem(s, html, CLIENT_ID, verifier);
  assert.equal(tok.status, 200);
  const body = await tok.json();
  assert.equal(body.scope, "mcp:read");
  assert.equal(typeof body.refresh_token, "string");
  const cc = await s.form("/token", { grant_type: "client_credentials", client_id: CLIENT_ID });
  await expectError(cc, 400, "unsupported_grant_type");
});

test("token_endpoint_auth_methods_supported (RP metadata choices): the first usable choice replaces an unusable method", async () => {
  const s = await testServer();
  const res = await postJson(s, {
    redirect_uris: [REDIRECT],
    token_endpoint_auth_method: "tls_client_auth",
    token_endpoint_auth_methods_supported: ["tls_client_auth", "none"],
  });
  assert.equal(res.status, 201);
  const body = await res.json();
  assert.equal(body.token_endpoint_auth_method, "none");
  assert.equal(body.client_secret, undefined);
  assert.equal(body.token_endpoint_auth_methods_supported, undefined);
  // A usable primary method is kept, whatever the choices say.
  const kept = await postJson(s, {
    redirect_uris: [REDIRECT],
    token_endpoint_auth_method: "client_secret_post",
    token_endpoint_auth_methods_supported: ["none", "client_secret_post"],
  });
  assert.equal((await kept.json()).token_endpoint_auth_method, "client_secret_post");
  // A metadata document naming a shared-secret method with a "none" alternative gets "none".
  const doc = {
    client_id: CLIENT_ID,
    client_name: "Choosy",
    redirect_uris: [REDIRECT],
    token_endpoint_auth_method: "client_secret_basic",
    token_endpoint_auth_methods_supported: ["client_secret_basic", "none"],
  };
  const d = await testServer({ fetch: docHost(doc), outbound: OUTBOUND });
  const { code, verifier } = await codeFor(d, CLIENT_ID);
  const tok = await d.form("/token", {
    grant_type: "authorization_code",
    code,
    code_verifier: verifier,
    redirect_uri: REDIRECT,
    client_id: CLIENT_ID,
  });
  assert.equal(tok.status, 200, await tok.clone().text());
});

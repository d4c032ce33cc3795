import { test } from "node:test";
import assert from "node:assert/strict";
import {
  consentFields,
  expectError,
  ISSUER,
  pkce,
  REDIRECT,
  RESOURCE,
  testServer,
} from "./support/flow.ts";

const ENDPOINT_KEYS = [
  "authorization_endpoint",
  "token_endpoint",
  "registration_endpoint",
  "revocation_endpoint",
  "introspection_endpoint",
  "jwks_uri",
];

async function metadataAt(s: Awaited<ReturnType<typeof testServer>>, path: string) {
  const res = await s.call(path);
  assert.equal(res.status, 200, `${path}: ${res.status}`);
  assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
  assert.equal(res.headers.get("access-control-allow-origin"), "*", `${path} CORS`);
  return await res.json();
}

test("RFC 8414 document at /.well-known/oauth-authorization-server and openid-configuration", async () => {
  const s = await testServer();
  for (
    const path of [
      "/.well-known/oauth-authorization-server",
      "/.well-known/openid-configuration",
    ]
  ) {
    const md = await metadataAt(s, path);
    assert.equal(md.issuer, ISSUER);
    assert.deepEqual(md.code_challenge_methods_supported, ["S256"]);
    assert.equal(md.authorization_response_iss_parameter_supported, true);
    assert.deepEqual(md.response_types_supported, ["code"]);
    assert.ok(md.grant_types_supported.includes("authorization_code"));
    assert.ok(md.grant_types_supported.includes("refresh_token"));
    for (const k of ENDPOINT_KEYS) {
      assert.equal(typeof md[k], "string", `${k} listed`);
      assert.ok(md[k].startsWith(ISSUER + "/"), `${k} under the issuer`);
    }
    assert.equal(md.authorization_endpoint, ISSUER + "/authorize");
    assert.equal(md.token_endpoint, ISSUER + "/token");
    assert.equal(md.registration_endpoint, ISSUER + "/register");
    assert.equal(md.revocation_endpoint, ISSUER + "/revoke");
    assert.equal(md.introspection_endpoint, ISSUER + "/introspect");
    assert.equal(md.jwks_uri, ISSUER + "/jwks");
    assert.ok(md.token_endpoint_auth_methods_supported.includes("private_key_jwt"));
  }
});

test("issuer with a path: all three discovery URLs, identical issuer, endpoints under the path", async () => {
  const issuer = "https://as.example.com/t1";
  const s = await testServer({ issuer });
  for (
    const path of [
      "/.well-known/oauth-authorization-server/t1",
      "/.well-known/openid-configuration/t1",
      "/t1/.well-known/openid-configuration",
    ]
  ) {
    const md = await metadataAt(s, path);
    assert.equal(md.issuer, issuer, path);
    for (const k of ENDPOINT_KEYS) {
      assert.ok(md[k].startsWith(issuer + "/"), `${path} ${k} = ${md[k]}`);
    }
  }
  // The root documents are not this issuer's (no path insertion): 404.
  await expectError(await s.call("/.well-known/oauth-authorization-server"), 404, "not_found");
  // Endpoints really live under /t1.
  const jwks = await s.call("/t1/jwks");
  assert.equal(jwks.status, 200);
  await expectError(await s.call("/jwks"), 404, "not_found");
  const tok = await s.form("/t1/token", {});
  assert.equal(tok.status, 400);
  assert.deepEqual(
    await s.auth.metadata(),
    await metadataAt(s, "/t1/.well-known/openid-configuration"),
  );
});

test("RFC 9728 protected-resource metadata at the path-suffixed URL and the root; no offline_access", async () => {
  const s = await testServer({
    scopes: ["mcp:read", "mcp:write", "offline_access"],
    resources: [{
      resource: RESOURCE,
      name: "Notes MCP",
      scopes: ["mcp:read", "mcp:write", "offline_access"],
    }],
  });
  for (
    const path of [
      "/.well-known/oauth-protected-resource/mcp",
      "/.well-known/oauth-protected-resource",
    ]
  ) {
    const prm = await metadataAt(s, path);
    assert.equal(prm.resource, RESOURCE);
    assert.deepEqual(prm.authorization_servers, [ISSUER]);
    assert.deepEqual(prm.scopes_supported, ["mcp:read", "mcp:write"], path);
    assert.ok(!prm.scopes_supported.includes("offline_access"));
    assert.deepEqual(prm.bearer_methods_supported, ["header"]);
    assert.equal(prm.resource_name, "Notes MCP");
  }
  // A path that is not a configured resource is not served.
  await expectError(await s.call("/.well-known/oauth-protected-resource/other"), 404, "not_found");
});

test("jwks publishes public keys only", async () => {
  const s = await testServer();
  const res = await s.call("/jwks");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("access-control-allow-origin"), "*");
  const { keys } = await res.json();
  assert.ok(keys.length >= 1);
  for (const k of keys) {
    assert.equal(k.d, undefined, "no private part");
    assert.equal(typeof k.kid, "string");
    assert.equal(typeof k.x, "string");
    assert.equal(k.use, "sig");
  }
});

test("POST on metadata and jwks → 405 with Allow; OPTIONS → 204 with CORS", async () => {
  const s = await testServer();
  for (
    const path of [
      "/.well-known/oauth-authorization-server",
      "/.well-known/openid-configuration",
      "/.well-known/oauth-protected-resource",
      "/jwks",
    ]
  ) {
    const res = await s.call(path, { method: "POST", body: "x" });
    assert.equal(res.headers.get("allow"), "GET", path);
    await expectError(res, 405, "invalid_request");
    const pre = await s.call(path, {
      method: "OPTIONS",
      headers: { origin: "https://app.example", "access-control-request-method": "GET" },
    });
    assert.equal(pre.status, 204, path);
    assert.equal(pre.headers.get("access-control-allow-origin"), "*");
    assert.match(pre.headers.get("access-control-allow-methods") ?? "", /GET/);
    assert.match(pre.headers.get("access-control-allow-headers") ?? "", /authorization/);
  }
  // Token is POST-only.
  const get = await s.call("/token");
  assert.equal(get.headers.get("allow"), "POST");
  await expectError(get, 405, "invalid_request");
});

test("unknown path → 404 JSON", async () => {
  const s = await testServer();
  for (const path of ["/nope", "/.well-known/nope", "/token/extra", "/"]) {
    await expectError(await s.call(path), 404, "not_found");
    assert.equal(s.auth.owns(new Request(ISSUER + path)), false, path);
  }
  assert.equal(s.auth.owns(new Request(ISSUER + "/token")), true);
});

test("closed registration: no registration_endpoint in metadata", async () => {
  const s = await testServer({ registration: "closed" });
  const md = await metadataAt(s, "/.well-known/oauth-authorization-server");
  assert.equal(md.registration_endpoint, undefined);
  assert.equal(md.token_endpoint, ISSUER + "/token");
});

test("HEAD on metadata returns headers without a body", async () => {
  const s = await testServer();
  const res = await s.call("/.well-known/oauth-authorization-server", { method: "HEAD" });
  assert.equal(res.status, 200);
  assert.equal(await res.text(), "");
});

test("issuer with a path: the whole flow runs under /t1 and iss is the full issuer", async () => {
  const issuer = "https://as.example.com/t1";
  const s = await testServer({ issuer });
  const reg = await s.call("/t1/register", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ redirect_uris: [REDIRECT], token_endpoint_auth_method: "none" }),
  });
  assert.equal(reg.status, 201);
  const { client_id } = await reg.json();
  const { verifier, challenge } = await pkce();
  const q = new URLSearchParams({
    response_type: "code",
    client_id,
    redirect_uri: REDIRECT,
    code_challenge: challenge,
    code_challenge_method: "S256",
    state: "s1",
  });
  await expectError(await s.call("/authorize?" + q), 404, "not_found");
  const page = await s.call("/t1/authorize?" + q);
  assert.equal(page.status, 200);
  const html = await page.text();
  assert.ok(html.includes(`action="${issuer}/authorize"`));
  const res = await s.form("/t1/authorize", { ...consentFields(html), decision: "approve" });
  const loc = new URL(res.headers.get("location")!);
  assert.equal(loc.searchParams.get("iss"), issuer);
  const tok = await s.form("/t1/token", {
    grant_type: "authorization_code",
    code: loc.searchParams.get("code")!,
    code_verifier: verifier,
    redirect_uri: REDIRECT,
    client_id,
  });
  assert.equal(tok.status, 200);
  const { access_token } = await tok.json();
  const v = await s.auth.verify(access_token);
  assert.equal(v.ok, true);
});

import { test } from "node:test";
import assert from "node:assert/strict";
import { memoryStorage } from "../mod.ts";
import { expectError, REDIRECT, register, testServer } from "./support/flow.ts";
import type { TestServer } from "./support/flow.ts";

function postJson(s: TestServer, body: unknown, contentType = "application/json") {
  return s.call("/register", {
    method: "POST",
    headers: { "content-type": contentType },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

test("201 with the registered metadata; public client gets no secret", async () => {
  const s = await testServer();
  const res = await postJson(s, {
    redirect_uris: [REDIRECT],
    token_endpoint_auth_method: "none",
    client_name: "My App",
    scope: "mcp:read",
  });
  assert.equal(res.status, 201);
  assert.equal(res.headers.get("cache-control"), "no-store");
  assert.equal(res.headers.get("access-control-allow-origin"), "*");
  const body = await res.json();
  assert.match(body.client_id, /^[A-Za-z0-9_-]{20,}$/);
  assert.deepEqual(body.redirect_uris, [REDIRECT]);
  assert.equal(body.token_endpoint_auth_method, "none");
  assert.deepEqual(body.grant_types, ["authorization_code"]);
  assert.deepEqual(body.response_types, ["code"]);
  assert.equal(body.client_name, "My App");
  assert.equal(body.scope, "mcp:read");
  assert.equal(typeof body.client_id_issued_at, "number");
  assert.equal(body.client_secret, undefined);
  assert.equal(body.client_secret_hash, undefined);
  assert.equal(body.source, undefined);
  const stored = await s.auth.admin.getClient(body.client_id);
  assert.equal(stored?.client_name, "My App");
});

test("confidential client: secret returned once, stored only as a hash", async () => {
  const storage = memoryStorage();
  const s = await testServer({ storage });
  const res = await postJson(s, {
    redirect_uris: [REDIRECT],
    client_name: "Confidential",
  });
  assert.equal(res.status, 201);
  const body = await res.json();
  // RFC 7591 default method.
  assert.equal(body.token_endpoint_auth_method, "client_secret_basic");
  assert.match(body.client_secret, /^[A-Za-z0-9_-]{43}$/);
  assert.equal(body.client_secret_expires_at, 0);
  const dump = JSON.stringify(await storage.list([]));
  assert.ok(dump.includes(body.client_id));
  assert.ok(!dump.includes(body.client_secret), "raw secret never stored");
  assert.ok(dump.includes("client_secret_hash"));
  // Never returned again.
  const again = await s.auth.admin.getClient(body.client_id);
  assert.equal(again?.client_secret, undefined);
  assert.equal(again?.client_secret_hash, undefined);
  assert.ok(!JSON.stringify(await s.auth.admin.listClients()).includes(body.client_secret));
});

test("redirect URIs: https, loopback http and private-use schemes are accepted", async () => {
  const s = await testServer();
  for (
    const uri of [
      "https://app.example.com/cb",
      "http://127.0.0.1:8080/cb",
      "http://localhost/cb",
      "http://[::1]:3000/callback",
      "cursor://anysphere.cursor-retrieval/oauth/callback",
      "com.example.app:/oauth2redirect",
    ]
  ) {
    const c = await register(s, { redirect_uris: [uri] });
    assert.deepEqual(c.redirect_uris, [uri]);
  }
});

test("redirect URIs: non-loopback http, javascript:, data:, fragment, relative → 400 invalid_redirect_uri", async () => {
  const s = await testServer();
  for (
    const uri of [
      "http://app.example.com/cb",
      "http://127.0.0.1.nip.io/cb",
      "http://localhost.evil.example/cb",
      "javascript://%0aalert(1)",
      "javascript:alert(1)",
      "JavaScript:alert(1)",
      "data:text/html,<script>alert(1)</script>",
      "vbscript:msgbox",
      "file:///etc/passwd",
      "https://app.example.com/cb#frag",
      "https://app.example.com/cb#",
      "/relative/cb",
      "cb",
      "",
    ]
  ) {
    const res = await postJson(s, {
      redirect_uris: [REDIRECT, uri],
      token_endpoint_auth_method: "none",
    });
    await expectError(res, 400, "invalid_redirect_uri");
  }
  assert.equal((await s.auth.admin.listClients()).length, 0, "nothing registered");
});

test("missing or empty redirect_uris → 400 invalid_redirect_uri", async () => {
  const s = await testServer();
  await expectError(await postJson(s, { client_name: "x" }), 400, "invalid_redirect_uri");
  await expectError(await postJson(s, { redirect_uris: [] }), 400, "invalid_redirect_uri");
  await expectError(
    await postJson(s, { redirect_uris: "https://a.example/cb" }),
    400,
    "invalid_redirect_uri",
  );
});

test("bad JSON, non-object JSON and wrong content type → 400", async () => {
  const s = await testServer();
  const good = JSON.stringify({ redirect_uris: [REDIRECT] });
  await expectError(await postJson(s, "{not json"), 400, "invalid_client_metadata");
  await expectError(await postJson(s, "[1,2]"), 400, "invalid_client_metadata");
  await expectError(await postJson(s, "null"), 400, "invalid_client_metadata");
  await expectError(await postJson(s, '"str"'), 400, "invalid_client_metadata");
  await expectError(await postJson(s, ""), 400, "invalid_client_metadata");
  await expectError(await postJson(s, good, "text/plain"), 400, "invalid_client_metadata");
  await expectError(
    await postJson(s, good, "application/x-www-form-urlencoded"),
    400,
    "invalid_client_metadata",
  );
  // Parameters on the media type are fine.
  const ok = await postJson(s, good, "application/json; charset=utf-8");
  assert.equal(ok.status, 201);
});

// Tolerated values (dropped from the effective metadata) are in client_metadata_test.ts.
test("nothing usable, unsupported auth method, malformed fields → invalid_client_metadata", async () => {
  const s = await testServer();
  const base = { redirect_uris: [REDIRECT] };
  for (
    const extra of [
      { grant_types: ["client_credentials"] },
      { grant_types: ["refresh_token"] },
      { grant_types: "authorization_code" },
      { response_types: ["token"] },
      { token_endpoint_auth_method: "private_key_jwt" },
      { token_endpoint_auth_method: "client_secret_jwt" },
      { scope: 42 },
      { client_name: 7 },
    ]
  ) {
    const body = await expectError(
      await postJson(s, { ...base, ...extra }),
      400,
      "invalid_client_metadata",
    );
    assert.ok((body.error_description as string).length > 0, JSON.stringify(extra));
  }
  assert.equal((await s.auth.admin.listClients()).length, 0);
});

test('registration "closed" → 403 and no client is created', async () => {
  const s = await testServer({ registration: "closed" });
  await expectError(await postJson(s, { redirect_uris: [REDIRECT] }), 403, "access_denied");
  assert.equal((await s.auth.admin.listClients()).length, 0);
  assert.ok(!s.events.some((e) => e.type === "client.registered"));
});

test("registration policy function: true allows, false and throwing refuse with 403", async () => {
  const seen: Record<string, unknown>[] = [];
  const allow = await testServer({
    registration: (m) => {
      seen.push(m);
      return m.client_name === "Allowed";
    },
  });
  const ok = await postJson(allow, { redirect_uris: [REDIRECT], client_name: "Allowed" });
  assert.equal(ok.status, 201);
  assert.equal(seen[0].client_name, "Allowed");
  await expectError(
    await postJson(allow, { redirect_uris: [REDIRECT], client_name: "Other" }),
    403,
    "access_denied",
  );
  const asyncNo = await testServer({ registration: () => Promise.resolve(false) });
  await expectError(await postJson(asyncNo, { redirect_uris: [REDIRECT] }), 403, "access_denied");
  const throwing = await testServer({
    registration: () => {
      throw new Error("policy exploded");
    },
  });
  const res = await postJson(throwing, { redirect_uris: [REDIRECT] });
  const body = await expectError(res, 403, "access_denied");
  assert.ok(!String(body.error_description).includes("exploded"));
  const rejecting = await testServer({ registration: () => Promise.reject(new Error("no")) });
  await expectError(await postJson(rejecting, { redirect_uris: [REDIRECT] }), 403, "access_denied");
  assert.equal((await throwing.auth.admin.listClients()).length, 0);
});

test("client_name over 200 characters → invalid_client_metadata", async () => {
  const s = await testServer();
  await expectError(
    await postJson(s, { redirect_uris: [REDIRECT], client_name: "n".repeat(201) }),
    400,
    "invalid_client_metadata",
  );
});

test("GET /register → 405", async () => {
  const s = await testServer();
  const res = await s.call("/register");
  assert.equal(res.headers.get("allow"), "POST");
  await expectError(res, 405, "invalid_request");
});

test("unknown metadata fields are ignored, not stored", async () => {
  const s = await testServer();
  const c = await register(s, { client_secret_hash: "x", source: "cimd", jwks_uri: "https://x" });
  const stored = await s.auth.admin.getClient(c.client_id);
  assert.equal(stored?.client_secret_hash, undefined);
  assert.equal(stored?.jwks_uri, undefined);
  assert.equal(c.client_secret, undefined);
});

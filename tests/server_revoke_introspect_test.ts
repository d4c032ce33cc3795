import { test } from "node:test";
import assert from "node:assert/strict";
import {
  basic,
  confidentialTokens as confidentialTokensFor,
  expectError,
  ISSUER,
  refreshWith,
  register,
  RESOURCE,
  testServer,
  tokensFor,
} from "./support/flow.ts";
import type { TestServer } from "./support/flow.ts";

const RS_ID = "notes-resource-server";
const RS_SECRET = "rs-secret-0123456789abcdef";

const confidentialTokens = (s: TestServer) =>
  confidentialTokensFor(s, { scope: "mcp:read mcp:write" });

async function grantRevoked(s: TestServer, clientId: string): Promise<boolean> {
  const gs = await s.auth.admin.listGrants({ clientId, includeRevoked: true });
  assert.equal(gs.length, 1);
  return gs[0].revokedAt !== undefined;
}

// ---------- RFC 7009 ----------

test("revoke an access token → the whole grant is revoked", async () => {
  const s = await testServer();
  const t = await tokensFor(s);
  const res = await s.form("/revoke", { token: t.access_token, client_id: t.client_id });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("cache-control"), "no-store");
  assert.equal(await grantRevoked(s, t.client_id), true);
  assert.equal((await s.auth.verify(t.access_token)).ok, false);
  await expectError(
    await refreshWith(s, t.refresh_token, t.client_id),
    400,
    "invalid_grant",
  );
  const ev = s.events.find((e) => e.type === "token.revoked");
  assert.equal(ev?.reason, "access_token");
  assert.equal(ev?.subject, "alice");
});

test("revoke a refresh token (with token_type_hint) → grant revoked", async () => {
  const s = await testServer();
  const t = await tokensFor(s);
  const res = await s.form("/revoke", {
    token: t.refresh_token,
    token_type_hint: "refresh_token",
    client_id: t.client_id,
  });
  assert.equal(res.status, 200);
  assert.equal(await grantRevoked(s, t.client_id), true);
  assert.equal((await s.auth.verify(t.access_token)).ok, false);
});

test("revoke a refresh token that was already rotated → the grant (and its successor) revoked", async () => {
  const s = await testServer();
  const t = await tokensFor(s);
  const next = await (await refreshWith(s, t.refresh_token, t.client_id)).json();
  assert.ok(next.refresh_token);
  // Another client presenting the rotated token changes nothing.
  const other = await register(s);
  const foreign = await s.form("/revoke", { token: t.refresh_token, client_id: other.client_id });
  assert.equal(foreign.status, 200);
  assert.equal(await grantRevoked(s, t.client_id), false);
  // Its own client signing out with the old token ends the grant.
  const res = await s.form("/revoke", { token: t.refresh_token, client_id: t.client_id });
  assert.equal(res.status, 200);
  assert.equal(await grantRevoked(s, t.client_id), true);
  assert.equal((await s.auth.verify(next.access_token)).ok, false);
  await expectError(await refreshWith(s, next.refresh_token, t.client_id), 400, "invalid_grant");
  assert.equal(s.events.filter((e) => e.type === "token.revoked").length, 1);
});

test("unknown / garbage token → 200 and nothing revoked", async () => {
  const s = await testServer();
  const t = await tokensFor(s);
  for (
    const token of ["unknown", "a.b.c", t.access_token.slice(0, -4) + "AAAA", "x".repeat(9000)]
  ) {
    const res = await s.form("/revoke", { token, client_id: t.client_id });
    assert.equal(res.status, 200, token.slice(0, 20));
  }
  assert.equal(await grantRevoked(s, t.client_id), false);
  // Revoking twice is fine.
  assert.equal(
    (await s.form("/revoke", { token: t.refresh_token, client_id: t.client_id })).status,
    200,
  );
  assert.equal(
    (await s.form("/revoke", { token: t.refresh_token, client_id: t.client_id })).status,
    200,
  );
});

test("token of another client → 200 but not revoked", async () => {
  const s = await testServer();
  const t = await tokensFor(s);
  const other = await register(s);
  for (const token of [t.access_token, t.refresh_token]) {
    const res = await s.form("/revoke", { token, client_id: other.client_id });
    assert.equal(res.status, 200);
  }
  assert.equal(await grantRevoked(s, t.client_id), false);
  assert.equal((await s.auth.verify(t.access_token)).ok, true);
});

test("revoke: missing token → 400 invalid_request; unauthenticated → 401 invalid_client", async () => {
  const s = await testServer();
  const t = await tokensFor(s);
  await expectError(await s.form("/revoke", { client_id: t.client_id }), 400, "invalid_request");
  await expectError(await s.form("/revoke", { token: t.refresh_token }), 401, "invalid_client");
  await expectError(
    await s.form("/revoke", { token: t.refresh_token, client_id: "nobody" }),
    401,
    "invalid_client",
  );
  const c = await confidentialTokens(s);
  const wrong = await s.form("/revoke", { token: c.refresh_token }, {
    authorization: basic(c.id, "wrong"),
  });
  assert.match(wrong.headers.get("www-authenticate") ?? "", /^Basic/);
  await expectError(wrong, 401, "invalid_client");
  await expectError(
    await s.call("/revoke", { method: "POST", body: "token=x" }),
    400,
    "invalid_request",
  );
  assert.equal(await grantRevoked(s, t.client_id), false);
  assert.equal(await grantRevoked(s, c.id), false);
  const ok = await s.form("/revoke", { token: c.refresh_token }, c.auth);
  assert.equal(ok.status, 200);
  assert.equal(await grantRevoked(s, c.id), true);
});

// ---------- RFC 7662 ----------

function introspect(s: TestServer, token: string, headers: Record<string, string>) {
  return s.form("/introspect", { token }, headers);
}

test("introspect: active access and refresh tokens with their claims", async () => {
  const s = await testServer();
  const c = await confidentialTokens(s);
  const a = await introspect(s, c.access_token, c.auth);
  assert.equal(a.status, 200);
  assert.equal(a.headers.get("cache-control"), "no-store");
  const ab = await a.json();
  assert.equal(ab.active, true);
  assert.equal(ab.sub, "alice");
  assert.equal(ab.client_id, c.id);
  assert.equal(ab.scope, "mcp:read mcp:write");
  assert.equal(ab.aud, RESOURCE);
  assert.equal(ab.iss, ISSUER);
  assert.equal(typeof ab.exp, "number");
  assert.equal(typeof ab.iat, "number");
  assert.equal(ab.token_type, "Bearer");
  const r = await introspect(s, c.refresh_token, c.auth);
  const rb = await r.json();
  assert.equal(rb.active, true);
  assert.equal(rb.sub, "alice");
  assert.equal(rb.client_id, c.id);
  assert.equal(rb.scope, "mcp:read mcp:write");
  assert.equal(rb.token_type, "refresh_token");
  assert.ok(rb.exp > ab.exp);
});

test("introspect: revoked, expired and garbage tokens → active false only", async () => {
  const s = await testServer({ refreshTokenTtl: 3600 });
  const c = await confidentialTokens(s);
  for (const token of ["garbage", "a.b.c", "", c.access_token + "x"]) {
    if (!token) continue;
    const res = await introspect(s, token, c.auth);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { active: false });
  }
  // Expired access token (15 min), refresh still active.
  s.advance(901_000);
  assert.deepEqual(await (await introspect(s, c.access_token, c.auth)).json(), { active: false });
  assert.equal((await (await introspect(s, c.refresh_token, c.auth)).json()).active, true);
  // Expired refresh token.
  s.advance(3600_000);
  assert.deepEqual(await (await introspect(s, c.refresh_token, c.auth)).json(), {
    active: false,
  });
  // Revoked.
  const d = await confidentialTokens(s);
  await s.form("/revoke", { token: d.access_token }, d.auth);
  assert.deepEqual(await (await introspect(s, d.access_token, d.auth)).json(), { active: false });
  assert.deepEqual(await (await introspect(s, d.refresh_token, d.auth)).json(), {
    active: false,
  });
  // A rotated (used) refresh token is not active.
  const e = await confidentialTokens(s);
  const rot = await s.form("/token", {
    grant_type: "refresh_token",
    refresh_token: e.refresh_token,
  }, e.auth);
  assert.equal(rot.status, 200);
  assert.deepEqual(await (await introspect(s, e.refresh_token, e.auth)).json(), {
    active: false,
  });
});

test("introspect: public client caller → 401; no credentials → 401; missing token → 400", async () => {
  const s = await testServer();
  const t = await tokensFor(s);
  await expectError(
    await s.form("/introspect", { token: t.access_token, client_id: t.client_id }),
    401,
    "invalid_client",
  );
  await expectError(await s.form("/introspect", { token: t.access_token }), 401, "invalid_client");
  const c = await confidentialTokens(s);
  await expectError(await s.form("/introspect", {}, c.auth), 400, "invalid_request");
});

test("introspect: configured introspectionClients work; wrong credentials → 401", async () => {
  const s = await testServer({
    introspectionClients: [{ clientId: RS_ID, clientSecret: RS_SECRET }],
  });
  const t = await tokensFor(s);
  const ok = await introspect(s, t.access_token, { authorization: basic(RS_ID, RS_SECRET) });
  assert.equal(ok.status, 200);
  const body = await ok.json();
  assert.equal(body.active, true);
  assert.equal(body.sub, "alice");
  for (
    const authz of [
      basic(RS_ID, RS_SECRET + "x"),
      basic(RS_ID, ""),
      basic("someone", RS_SECRET),
      "Basic " + btoa(RS_ID),
      "Basic %%%",
      "Bearer " + RS_SECRET,
    ]
  ) {
    const res = await introspect(s, t.access_token, { authorization: authz });
    await expectError(res, 401, "invalid_client");
  }
  // Static credentials in the body are not accepted.
  await expectError(
    await s.form("/introspect", {
      token: t.access_token,
      client_id: RS_ID,
      client_secret: RS_SECRET,
    }),
    401,
    "invalid_client",
  );
});

test("revoke and introspect are POST-only", async () => {
  const s = await testServer();
  for (const path of ["/revoke", "/introspect"]) {
    const res = await s.call(path + "?token=x");
    assert.equal(res.headers.get("allow"), "POST");
    await expectError(res, 405, "invalid_request");
  }
});

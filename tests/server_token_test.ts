import { test } from "node:test";
import assert from "node:assert/strict";
import {
  basic,
  codeFor,
  expectError,
  REDIRECT,
  refreshWith,
  register,
  RESOURCE,
  testServer,
  tokensFor,
} from "./support/flow.ts";
import type { TestServer } from "./support/flow.ts";
import { memoryStorage } from "../mod.ts";
import type { Storage } from "../mod.ts";

const RESOURCE_B = "https://files.example.com/mcp";

/** Every token-endpoint error: no-store and the exact RFC 6749 §5.2 body. */
async function tokenError(res: Response, status: number, error: string) {
  assert.equal(res.headers.get("cache-control"), "no-store", "no-store on errors");
  return await expectError(res, status, error);
}

async function exchange(
  s: TestServer,
  fields: Record<string, string>,
  headers: Record<string, string> = {},
) {
  return await s.form("/token", { grant_type: "authorization_code", ...fields }, headers);
}

async function publicCode(s: TestServer, opts: { scope?: string; resource?: string } = {}) {
  const c = await register(s);
  const { code, verifier } = await codeFor(s, c.client_id, opts);
  return {
    clientId: c.client_id,
    code,
    verifier,
    fields: {
      code,
      code_verifier: verifier,
      redirect_uri: REDIRECT,
      client_id: c.client_id,
    } as Record<string, string>,
  };
}

test("wrong content type and unreadable body → 400 invalid_request", async () => {
  const s = await testServer();
  const p = await publicCode(s);
  const body = new URLSearchParams({ grant_type: "authorization_code", ...p.fields }).toString();
  for (const ct of ["application/json", "text/plain", "multipart/form-data; boundary=x", ""]) {
    const res = await s.call("/token", {
      method: "POST",
      headers: ct ? { "content-type": ct } : {},
      body,
    });
    await tokenError(res, 400, "invalid_request");
  }
  const bad = await s.call("/token", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new Uint8Array([0x67, 0x72, 0xff, 0xfe, 0x3d, 0x80]),
  });
  await tokenError(bad, 400, "invalid_request");
  const big = await s.call("/token", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: "grant_type=authorization_code&x=" + "a".repeat(70 * 1024),
  });
  await tokenError(big, 413, "invalid_request");
  // The code survived all of that.
  assert.equal((await exchange(s, p.fields)).status, 200);
});

test("missing / unsupported / repeated grant_type", async () => {
  const s = await testServer();
  const p = await publicCode(s);
  await tokenError(await s.form("/token", { ...p.fields }), 400, "invalid_request");
  await tokenError(
    await s.form("/token", { grant_type: "", ...p.fields }),
    400,
    "invalid_request",
  );
  for (
    const g of [
      "password",
      "client_credentials",
      "implicit",
      "urn:ietf:params:oauth:grant-type:device_code",
    ]
  ) {
    await tokenError(
      await s.form("/token", { grant_type: g, ...p.fields }),
      400,
      "unsupported_grant_type",
    );
  }
  const twice = await s.call("/token", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "authorization_code", ...p.fields }).toString() +
      "&code=" + p.code,
  });
  await tokenError(twice, 400, "invalid_request");
  assert.equal((await exchange(s, p.fields)).status, 200);
});

test("authorization_code: missing code or verifier → invalid_request; wrong verifier → invalid_grant", async () => {
  const s = await testServer();
  const p = await publicCode(s);
  const { code: _c, ...noCode } = p.fields;
  await tokenError(await exchange(s, noCode), 400, "invalid_request");
  const { code_verifier: _v, ...noVerifier } = p.fields;
  await tokenError(await exchange(s, noVerifier), 400, "invalid_request");
  await tokenError(
    await exchange(s, { ...p.fields, code_verifier: "A".repeat(43) }),
    400,
    "invalid_grant",
  );
  await tokenError(
    await exchange(s, { ...p.fields, code_verifier: "short" }),
    400,
    "invalid_grant",
  );
  await tokenError(await exchange(s, { ...p.fields, code: "nope" }), 400, "invalid_grant");
  // None of the failed attempts burned the code.
  assert.equal((await exchange(s, p.fields)).status, 200);
});

test("authorization_code: wrong or missing redirect_uri → invalid_grant", async () => {
  const s = await testServer();
  const p = await publicCode(s);
  await tokenError(
    await exchange(s, { ...p.fields, redirect_uri: "http://127.0.0.1:1/callback" }),
    400,
    "invalid_grant",
  );
  const { redirect_uri: _r, ...noRedirect } = p.fields;
  await tokenError(await exchange(s, noRedirect), 400, "invalid_grant");
  assert.equal((await exchange(s, p.fields)).status, 200);
});

test("authorization_code issued to another client → invalid_grant (and not burned)", async () => {
  const s = await testServer();
  const p = await publicCode(s);
  const other = await register(s);
  await tokenError(
    await exchange(s, { ...p.fields, client_id: other.client_id }),
    400,
    "invalid_grant",
  );
  assert.equal((await exchange(s, p.fields)).status, 200);
});

test("expired authorization code → invalid_grant", async () => {
  const s = await testServer();
  const p = await publicCode(s);
  s.advance(61_000);
  await tokenError(await exchange(s, p.fields), 400, "invalid_grant");
});

test("replayed code → invalid_grant, the first grant revoked, code.replay_detected", async () => {
  const s = await testServer();
  const p = await publicCode(s);
  const first = await exchange(s, p.fields);
  assert.equal(first.status, 200);
  const tokens = await first.json();
  assert.equal((await s.auth.verify(tokens.access_token)).ok, true);
  await tokenError(await exchange(s, p.fields), 400, "invalid_grant");
  const v = await s.auth.verify(tokens.access_token);
  assert.equal(v.ok, false, "strict verify refuses the first token");
  const ev = s.events.find((e) => e.type === "code.replay_detected");
  assert.ok(ev);
  assert.equal(ev.clientId, p.clientId);
  assert.equal(typeof ev.grantId, "string");
  assert.equal(ev.subject, "alice", "the attacked user is named");
  assert.deepEqual(ev.scopes, ["mcp:read"]);
  assert.ok(s.events.some((e) => e.type === "grant.revoked" && e.grantId === ev.grantId));
  // Its refresh token is dead too.
  await tokenError(
    await refreshWith(s, tokens.refresh_token, p.clientId),
    400,
    "invalid_grant",
  );
});

test("resource at /token differing from the authorization → invalid_target", async () => {
  const s = await testServer({
    resources: [{ resource: RESOURCE }, { resource: RESOURCE_B }],
  });
  const p = await publicCode(s, { resource: RESOURCE });
  await tokenError(
    await exchange(s, { ...p.fields, resource: RESOURCE_B }),
    400,
    "invalid_target",
  );
  await tokenError(
    await exchange(s, { ...p.fields, resource: "https://unknown.example.com/" }),
    400,
    "invalid_target",
  );
  await tokenError(
    await exchange(s, { ...p.fields, resource: RESOURCE + "#x" }),
    400,
    "invalid_target",
  );
  const ok = await exchange(s, { ...p.fields, resource: RESOURCE });
  assert.equal(ok.status, 200);
});

async function confidential(s: TestServer, method = "client_secret_basic") {
  const c = await register(s, { token_endpoint_auth_method: method });
  assert.ok(c.client_secret);
  const { code, verifier } = await codeFor(s, c.client_id);
  return {
    id: c.client_id,
    secret: c.client_secret!,
    fields: { code, code_verifier: verifier, redirect_uri: REDIRECT } as Record<string, string>,
  };
}

test("confidential client: client_secret_basic works; wrong secret → 401 with WWW-Authenticate", async () => {
  const s = await testServer();
  const c = await confidential(s);
  const wrong = await exchange(s, c.fields, { authorization: basic(c.id, "wrong-secret") });
  assert.match(wrong.headers.get("www-authenticate") ?? "", /^Basic /);
  await tokenError(wrong, 401, "invalid_client");
  const malformed = await exchange(s, c.fields, { authorization: "Basic !!!not-base64" });
  assert.match(malformed.headers.get("www-authenticate") ?? "", /^Basic /);
  await tokenError(malformed, 401, "invalid_client");
  const noColon = await exchange(s, c.fields, { authorization: "Basic " + btoa(c.id) });
  await tokenError(noColon, 401, "invalid_client");
  const bearer = await exchange(s, c.fields, { authorization: "Bearer " + c.secret });
  await tokenError(bearer, 401, "invalid_client");
  // No credentials at all (public-style) for a confidential client.
  await tokenError(await exchange(s, { ...c.fields, client_id: c.id }), 401, "invalid_client");
  const ok = await exchange(s, c.fields, { authorization: basic(c.id, c.secret) });
  assert.equal(ok.status, 200, await ok.clone().text());
  assert.equal(ok.headers.get("cache-control"), "no-store");
});

test("confidential client: client_secret_post when registered basic → 401; both methods → 400", async () => {
  const s = await testServer();
  const c = await confidential(s);
  const post = await exchange(s, { ...c.fields, client_id: c.id, client_secret: c.secret });
  await tokenError(post, 401, "invalid_client");
  const both = await exchange(s, { ...c.fields, client_id: c.id, client_secret: c.secret }, {
    authorization: basic(c.id, c.secret),
  });
  await tokenError(both, 400, "invalid_request");
  const mismatch = await exchange(s, { ...c.fields, client_id: "someone-else" }, {
    authorization: basic(c.id, c.secret),
  });
  await tokenError(mismatch, 400, "invalid_request");
  // A client_secret_post client authenticates in the body only.
  const p = await confidential(s, "client_secret_post");
  await tokenError(
    await exchange(s, p.fields, { authorization: basic(p.id, p.secret) }),
    401,
    "invalid_client",
  );
  await tokenError(
    await exchange(s, { ...p.fields, client_id: p.id, client_secret: "nope" }),
    401,
    "invalid_client",
  );
  const ok = await exchange(s, { ...p.fields, client_id: p.id, client_secret: p.secret });
  assert.equal(ok.status, 200);
  // A public client presenting a secret is refused.
  const pub = await publicCode(s);
  await tokenError(
    await exchange(s, { ...pub.fields, client_secret: "x" }),
    401,
    "invalid_client",
  );
  await tokenError(
    await exchange(s, { ...pub.fields, client_id: "unknown-client" }),
    401,
    "invalid_client",
  );
});

function refresh(s: TestServer, fields: Record<string, string>) {
  return s.form("/token", { grant_type: "refresh_token", ...fields });
}

test("refresh: narrowing scope works; widening → invalid_scope (token not burned)", async () => {
  const s = await testServer();
  const t = await tokensFor(s, { scope: "mcp:read mcp:write" });
  await tokenError(
    await refresh(s, {
      refresh_token: t.refresh_token,
      client_id: t.client_id,
      scope: "mcp:read mcp:admin",
    }),
    400,
    "invalid_scope",
  );
  const narrow = await refresh(s, {
    refresh_token: t.refresh_token,
    client_id: t.client_id,
    scope: "mcp:read",
  });
  assert.equal(narrow.status, 200, await narrow.clone().text());
  const b = await narrow.json();
  assert.equal(b.scope, "mcp:read");
  // The rotated refresh token keeps the grant's full scope (RFC 6749 §6).
  const full = await refresh(s, { refresh_token: b.refresh_token, client_id: t.client_id });
  assert.equal(full.status, 200);
  assert.equal((await full.json()).scope, "mcp:read mcp:write");
  assert.ok(!s.events.some((e) => e.type === "refresh.reuse_detected"));
});

test("refresh: resource not in the grant → invalid_target (token not burned)", async () => {
  const s = await testServer({
    resources: [{ resource: RESOURCE }, { resource: RESOURCE_B }],
  });
  const c = await register(s);
  const { code, verifier } = await codeFor(s, c.client_id, { resource: RESOURCE });
  const res = await exchange(s, {
    code,
    code_verifier: verifier,
    redirect_uri: REDIRECT,
    client_id: c.client_id,
  });
  assert.equal(res.status, 200);
  const t = await res.json();
  await tokenError(
    await refresh(s, {
      refresh_token: t.refresh_token,
      client_id: c.client_id,
      resource: RESOURCE_B,
    }),
    400,
    "invalid_target",
  );
  await tokenError(
    await refresh(s, {
      refresh_token: t.refresh_token,
      client_id: c.client_id,
      resource: "https://nowhere.example/",
    }),
    400,
    "invalid_target",
  );
  const ok = await refresh(s, {
    refresh_token: t.refresh_token,
    client_id: c.client_id,
    resource: RESOURCE,
  });
  assert.equal(ok.status, 200, await ok.clone().text());
});

test("refresh by another client → invalid_grant (and the owner's token still works)", async () => {
  const s = await testServer();
  const t = await tokensFor(s);
  const other = await register(s);
  await tokenError(
    await refresh(s, { refresh_token: t.refresh_token, client_id: other.client_id }),
    400,
    "invalid_grant",
  );
  assert.equal(
    (await refresh(s, { refresh_token: t.refresh_token, client_id: t.client_id })).status,
    200,
  );
});

test("refresh: missing, unknown, expired refresh token", async () => {
  const s = await testServer({ refreshTokenTtl: 120 });
  const t = await tokensFor(s);
  await tokenError(await refresh(s, { client_id: t.client_id }), 400, "invalid_request");
  await tokenError(
    await refresh(s, { refresh_token: "unknown", client_id: t.client_id }),
    400,
    "invalid_grant",
  );
  s.advance(121_000);
  await tokenError(
    await refresh(s, { refresh_token: t.refresh_token, client_id: t.client_id }),
    400,
    "invalid_grant",
  );
});

test("client registered without refresh_token: no refresh token issued; refresh grant → unauthorized_client", async () => {
  const s = await testServer();
  const c = await register(s, { grant_types: ["authorization_code"] });
  const { code, verifier } = await codeFor(s, c.client_id);
  const res = await exchange(s, {
    code,
    code_verifier: verifier,
    redirect_uri: REDIRECT,
    client_id: c.client_id,
  });
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.equal(body.refresh_token, undefined);
  await tokenError(
    await refresh(s, { refresh_token: "x", client_id: c.client_id }),
    400,
    "unauthorized_client",
  );
});

test("successful token responses are no-store too", async () => {
  const s = await testServer();
  const p = await publicCode(s);
  const res = await exchange(s, p.fields);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("cache-control"), "no-store");
  assert.equal(res.headers.get("pragma"), "no-cache");
  const t = await res.json();
  const r = await refresh(s, { refresh_token: t.refresh_token, client_id: p.clientId });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get("cache-control"), "no-store");
});

test("a grant revoked while a refresh is in flight stays revoked (no lost revocation)", async () => {
  const inner = memoryStorage();
  // The revocation lands right after the refresh read the grant (a concurrent admin call).
  let afterGrantRead: (() => Promise<unknown>) | undefined;
  const storage: Storage = {
    ...inner,
    async get(key) {
      const v = await inner.get(key);
      if (key[0] === "grant" && afterGrantRead) {
        const f = afterGrantRead;
        afterGrantRead = undefined;
        await f();
      }
      return v;
    },
  };
  const s = await testServer({ storage });
  const t = await tokensFor(s);
  afterGrantRead = () => s.auth.admin.revokeGrants({ clientId: t.client_id });
  const res = await refresh(s, { refresh_token: t.refresh_token, client_id: t.client_id });
  assert.equal(afterGrantRead, undefined, "the revocation ran during the refresh");
  const grants = await s.auth.admin.listGrants({ clientId: t.client_id, includeRevoked: true });
  assert.equal(grants.length, 1);
  assert.equal(typeof grants[0].revokedAt, "number", "revocation survived the refresh");
  if (res.status === 200) {
    const body = await res.json();
    assert.equal((await s.auth.verify(body.access_token)).ok, false);
    await tokenError(
      await refresh(s, { refresh_token: body.refresh_token, client_id: t.client_id }),
      400,
      "invalid_grant",
    );
  } else {
    await tokenError(res, 400, "invalid_grant");
  }
});

test("access tokens are audience-bound: verify for another resource refuses them", async () => {
  const s = await testServer({ resources: [{ resource: RESOURCE }, { resource: RESOURCE_B }] });
  const c = await register(s);
  const { code, verifier } = await codeFor(s, c.client_id, { resource: RESOURCE_B });
  const res = await exchange(s, {
    code,
    code_verifier: verifier,
    redirect_uri: REDIRECT,
    client_id: c.client_id,
  });
  assert.equal(res.status, 200);
  const t = await res.json();
  assert.equal((await s.auth.verify(t.access_token, { resource: RESOURCE_B })).ok, true);
  const other = await s.auth.verify(t.access_token, { resource: RESOURCE });
  assert.equal(other.ok, false);
  if (!other.ok) assert.equal(other.status, 401);
});

test("a code whose grant was revoked before redemption → invalid_grant", async () => {
  const s = await testServer();
  const p = await publicCode(s);
  assert.equal(await s.auth.admin.revokeGrants({ clientId: p.clientId }), 1);
  await tokenError(await exchange(s, p.fields), 400, "invalid_grant");
});

/**
 * Grant-centric token state (issue 12): codes and refresh tokens are `<grantId>.<secret>`,
 * the grant record holds their hashes. The grant id is not secret (it is `gid` in every
 * access token), so a forged `gid.garbage` must open and revoke nothing; a token displaced
 * from the grant (two or more rotations back) is still detected as reuse through its
 * tombstone; 0.1.0 refresh tokens (opaque, their own record) keep working once; /revoke and
 * /introspect accept both forms.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeJwt } from "jose";
import { memoryStorage } from "../storage/memory.ts";
import { envelope } from "../storage/mod.ts";
import type { Storage } from "../storage/mod.ts";
import { denoKvStorage } from "../storage/deno_kv.ts";
import {
  basic,
  codeFor,
  confidentialTokens,
  expectError,
  REDIRECT,
  refreshOk as refresh,
  refreshWith,
  register,
  RESOURCE,
  testServer,
  tokensFor,
} from "./support/flow.ts";
import type { TestServer } from "./support/flow.ts";

type Body = Record<string, string | number>;

const reuses = (s: TestServer) =>
  s.events.filter((e) => e.type === "refresh.reuse_detected").length;

/** SHA-256, base64url: how storage keys a token. */
async function sha256b64(text: string): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
  return btoa(String.fromCharCode(...d)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** A well-formed secret nobody issued: 32 random bytes, base64url. */
function garbage(): string {
  return btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))))
    .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

test("a forged `gid.garbage` refresh token → invalid_grant; the grant stays active", async () => {
  const s = await testServer();
  const t = await tokensFor(s);
  const gid = decodeJwt(t.access_token).gid as string;
  assert.ok(t.refresh_token.startsWith(`${gid}.`));
  for (const forged of [`${gid}.${garbage()}`, `${gid}.x`, `${gid}.`, `${gid}`]) {
    await expectError(await refreshWith(s, forged, t.client_id), 400, "invalid_grant");
  }
  assert.equal(reuses(s), 0);
  assert.equal((await s.auth.admin.listGrants({ clientId: t.client_id })).length, 1);
  assert.equal((await s.auth.verify(t.access_token)).ok, true);
  // The genuine token still rotates.
  await refresh(s, t.refresh_token, t.client_id);
});

test("a forged `gid.garbage` code → invalid_grant, and the real code still works", async () => {
  const s = await testServer();
  const c = await register(s);
  const { code, verifier } = await codeFor(s, c.client_id);
  const gid = code.slice(0, code.indexOf("."));
  const exchange = (value: string) =>
    s.form("/token", {
      grant_type: "authorization_code",
      code: value,
      code_verifier: verifier,
      redirect_uri: REDIRECT,
      client_id: c.client_id,
    });
  await expectError(await exchange(`${gid}.${garbage()}`), 400, "invalid_grant");
  assert.equal(s.events.filter((e) => e.type === "code.replay_detected").length, 0);
  const ok = await exchange(code);
  assert.equal(ok.status, 200);
  await ok.body?.cancel();
  // Now the code is used: presenting it again is a replay and revokes the grant.
  await expectError(await exchange(code), 400, "invalid_grant");
  assert.equal(s.events.filter((e) => e.type === "code.replay_detected").length, 1);
  assert.equal((await s.auth.admin.listGrants({ clientId: c.client_id })).length, 0);
});

test("tokens two and three rotations back are reuse (their tombstones) → grant revoked", async () => {
  for (const back of [2, 3]) {
    const storage = memoryStorage();
    const s = await testServer({ storage });
    const t = await tokensFor(s);
    const chain = [t.refresh_token];
    for (let i = 0; i < back; i++) {
      chain.push((await refresh(s, chain.at(-1)!, t.client_id)).refresh_token as string);
    }
    // Rotated tokens that left the grant's `previous` slot have a tombstone each.
    assert.equal((await storage.list(["refresh"])).length, back - 1);
    s.advance(1_000); // inside the retry window: still theft
    await expectError(await refreshWith(s, chain[0], t.client_id), 400, "invalid_grant");
    assert.equal(reuses(s), 1, `${back} back`);
    assert.equal((await s.auth.admin.listGrants({ clientId: t.client_id })).length, 0);
    await expectError(await refreshWith(s, chain.at(-1)!, t.client_id), 400, "invalid_grant");
  }
});

test("a replayed approval is refused and makes no second grant; so is approve after deny", async () => {
  const s = await testServer();
  const c = await register(s);
  const page = async () => {
    const res = await s.call(
      `/authorize?response_type=code&client_id=${c.client_id}&redirect_uri=${
        encodeURIComponent(REDIRECT)
      }&code_challenge=${"A".repeat(43)}&code_challenge_method=S256&resource=${
        encodeURIComponent(RESOURCE)
      }`,
    );
    const html = await res.text();
    const field = (n: string) => new RegExp(`name="${n}" value="([^"]+)"`).exec(html)![1];
    return { consent_id: field("consent_id"), csrf: field("csrf") };
  };
  const f = await page();
  assert.equal((await s.form("/authorize", { ...f, decision: "approve" })).status, 302);
  const again = await s.form("/authorize", { ...f, decision: "approve" });
  assert.equal(again.status, 400);
  assert.match(await again.text(), /already answered/);
  assert.equal((await s.auth.admin.listGrants({ includeRevoked: true })).length, 1);
  // A denied form cannot be approved afterwards.
  const g = await page();
  const denied = await s.form("/authorize", { ...g, decision: "deny" });
  assert.equal(denied.status, 302);
  assert.equal(new URL(denied.headers.get("location")!).searchParams.get("error"), "access_denied");
  assert.equal((await s.form("/authorize", { ...g, decision: "approve" })).status, 400);
  assert.equal((await s.auth.admin.listGrants()).length, 1, "only the first approval's grant");
});

/** A grant and a refresh token written exactly as Gatehouse 0.1.0 stored them. */
async function legacyGrant(s: TestServer, storage: Storage) {
  const c = await register(s);
  const now = Date.now();
  const gid = "legacyGrant0123456789a"; // 0.1.0 grant ids: 16 random bytes, base64url
  await storage.set(
    ["grant", gid],
    envelope({
      id: gid,
      subject: "alice",
      clientId: c.client_id,
      scopes: ["mcp:read"],
      resources: [RESOURCE],
      createdAt: now,
      expiresAt: now + 40 * 86_400_000,
    }, now + 40 * 86_400_000),
  );
  const token = garbage(); // 0.1.0 refresh tokens: 32 random bytes, no grant id
  const exp = now + 30 * 86_400_000;
  await storage.set(
    ["refresh", await sha256b64(token)],
    envelope({
      grantId: gid,
      clientId: c.client_id,
      scopes: ["mcp:read"],
      exp,
      // No `publicClient` snapshot: 0.1.0 records predate it, so /token reads the client.
    }, exp),
  );
  return { clientId: c.client_id, gid, token };
}

test("a 0.1.0 refresh token works once: new-format successor; a retry gets the same pair; later reuse revokes", async () => {
  const storage = memoryStorage();
  const s = await testServer({ storage });
  const old = await legacyGrant(s, storage);
  const first = await refresh(s, old.token, old.clientId);
  assert.ok(String(first.refresh_token).startsWith(`${old.gid}.`), "a new-format token");
  const v = await s.auth.verify(first.access_token as string);
  assert.ok(v.ok);
  if (v.ok) assert.equal(v.claims.grantId, old.gid);
  // The old record is now a tombstone; the grant carries the new token's hash.
  const rec = await storage.get(["refresh", await sha256b64(old.token)]);
  assert.equal((rec?.data as { used?: boolean }).used, true);
  // Retry inside the window: the same successor pair, nothing revoked.
  s.advance(5_000);
  const retry = await refresh(s, old.token, old.clientId);
  assert.equal(retry.refresh_token, first.refresh_token);
  assert.equal(retry.access_token, first.access_token);
  assert.equal(reuses(s), 0);
  // The successor rotates normally.
  const second = await refresh(s, first.refresh_token as string, old.clientId);
  // The 0.1.0 token again, now two rotations back: reuse, the grant is revoked.
  await expectError(await refreshWith(s, old.token, old.clientId), 400, "invalid_grant");
  assert.equal(reuses(s), 1);
  assert.equal((await s.auth.verify(second.access_token as string)).ok, false);
});

test("a 0.1.0 refresh token after the retry window, or from another client, is reuse", async () => {
  const storage = memoryStorage();
  const s = await testServer({ storage });
  const old = await legacyGrant(s, storage);
  const other = await register(s);
  // Another client presenting the live 0.1.0 token: refused, nothing consumed.
  await expectError(await refreshWith(s, old.token, other.client_id), 400, "invalid_grant");
  const first = await refresh(s, old.token, old.clientId);
  s.advance(60_001);
  await expectError(await refreshWith(s, old.token, old.clientId), 400, "invalid_grant");
  assert.equal(reuses(s), 1);
  assert.equal((await s.auth.verify(first.access_token as string)).ok, false);
});

test("/introspect and /revoke take both refresh-token forms", async () => {
  const storage = memoryStorage();
  const s = await testServer({ storage });
  const t = await confidentialTokens(s);
  const introspect = async (token: string) =>
    await (await s.form("/introspect", { token }, t.auth)).json();
  // New form: the current token is active, with its grant id; a forged secret is not.
  const gid = decodeJwt(t.access_token).gid as string;
  const live = await introspect(t.refresh_token);
  assert.equal(live.active, true);
  assert.equal(live.token_type, "refresh_token");
  assert.equal(live.gid, gid);
  assert.equal(live.client_id, t.id);
  assert.equal((await introspect(`${gid}.${garbage()}`)).active, false);
  // Rotated: inactive.
  const next = await (await s.form("/token", {
    grant_type: "refresh_token",
    refresh_token: t.refresh_token,
  }, t.auth)).json();
  assert.equal((await introspect(t.refresh_token)).active, false);
  assert.equal((await introspect(next.refresh_token)).active, true);
  // /revoke with the rotated token (the holder signing out with a stale copy) ends the grant.
  assert.equal((await s.form("/revoke", { token: t.refresh_token }, t.auth)).status, 200);
  assert.equal((await introspect(next.refresh_token)).active, false);
  assert.equal((await s.auth.admin.listGrants({ clientId: t.id })).length, 0);

  // 0.1.0 form, for a confidential client: active until used; /revoke ends its grant.
  const c = await register(s, { token_endpoint_auth_method: "client_secret_basic" });
  const auth = { authorization: basic(c.client_id, c.client_secret!) };
  const gid2 = "legacyGrant0123456789b";
  const exp = Date.now() + 86_400_000;
  await storage.set(
    ["grant", gid2],
    envelope({
      id: gid2,
      subject: "alice",
      clientId: c.client_id,
      scopes: ["mcp:read"],
      resources: [RESOURCE],
      createdAt: Date.now(),
      expiresAt: exp,
    }, exp),
  );
  const token = garbage();
  await storage.set(
    ["refresh", await sha256b64(token)],
    envelope({ grantId: gid2, clientId: c.client_id, scopes: ["mcp:read"], exp }, exp),
  );
  const legacy = await (await s.form("/introspect", { token }, auth)).json();
  assert.equal(legacy.active, true);
  assert.equal(legacy.gid, gid2);
  assert.equal((await s.form("/revoke", { token }, auth)).status, 200);
  assert.equal((await s.form("/introspect", { token }, auth)).status, 200);
  assert.equal((await s.auth.admin.listGrants({ clientId: c.client_id })).length, 0);
});

test("20 simultaneous uses of one 0.1.0 refresh token (memory, Deno KV): one rotation, one pair, no reuse", async () => {
  for (const open of [() => Promise.resolve(null), () => Deno.openKv(":memory:")]) {
    const kv = await open();
    const storage = kv ? denoKvStorage(kv) : memoryStorage();
    try {
      const s = await testServer({ storage });
      const old = await legacyGrant(s, storage);
      const results = await Promise.all(
        Array.from({ length: 20 }, () => refreshWith(s, old.token, old.clientId)),
      );
      const bodies = await Promise.all(results.map((r) => r.json()));
      assert.deepEqual(results.map((r) => r.status), Array(20).fill(200), JSON.stringify(bodies));
      assert.equal(new Set(bodies.map((b) => `${b.access_token} ${b.refresh_token}`)).size, 1);
      assert.equal(reuses(s), 0);
      await refresh(s, bodies[0].refresh_token, old.clientId);
    } finally {
      kv?.close();
    }
  }
});

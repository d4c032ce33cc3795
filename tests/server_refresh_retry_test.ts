/**
 * Retry-safe refresh rotation (issue 7 item 5; RFC 9700 §4.14.2): inside the
 * reuse window the same refresh token from the same client gets the same
 * successor pair back and nothing is revoked; after the window, from another
 * client, or two rotations back, reuse revokes the grant. The successor pair
 * is never stored in clear. (The 200-concurrent-refreshes test on every
 * driver is in server_drivers_test.ts.)
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { memoryStorage } from "../storage/memory.ts";
import {
  expectError,
  refreshOk as refresh,
  refreshWith,
  register,
  RESOURCE,
  testServer,
  tokensFor,
} from "./support/flow.ts";
import type { TestServer } from "./support/flow.ts";

type Body = Record<string, string | number>;

const revoked = (s: TestServer) =>
  s.events.filter((e) => e.type === "refresh.reuse_detected" || e.type === "grant.revoked").length;

test("a retry inside the window gets the same successor pair; nothing is revoked", async () => {
  const s = await testServer();
  const t = await tokensFor(s, { scope: "mcp:read mcp:write" });
  const first = await refresh(s, t.refresh_token, t.client_id);
  s.advance(30_000);
  const retry = await refresh(s, t.refresh_token, t.client_id);
  assert.equal(retry.access_token, first.access_token);
  assert.equal(retry.refresh_token, first.refresh_token, "the successor, never the old token back");
  assert.notEqual(retry.refresh_token, t.refresh_token);
  assert.equal(retry.scope, "mcp:read mcp:write");
  assert.equal(retry.token_type, "Bearer");
  assert.equal(first.expires_in, 900);
  assert.equal(retry.expires_in, 870, "the remaining lifetime of the same access token");
  assert.equal(revoked(s), 0);
  assert.equal((await s.auth.verify(retry.access_token as string)).ok, true);
  assert.ok(s.events.some((e) => e.type === "token.refreshed" && /retry/.test(e.reason ?? "")));
  // The successor keeps working, and rotating it is a normal rotation.
  const next = await refresh(s, first.refresh_token as string, t.client_id);
  assert.equal((await s.auth.verify(next.access_token as string)).ok, true);
  assert.equal(revoked(s), 0);
});

test("after the window, reuse is theft: the grant is revoked (successor dies too)", async () => {
  const s = await testServer();
  const t = await tokensFor(s);
  const first = await refresh(s, t.refresh_token, t.client_id);
  s.advance(60_001);
  await expectError(await refreshWith(s, t.refresh_token, t.client_id), 400, "invalid_grant");
  assert.ok(s.events.some((e) => e.type === "refresh.reuse_detected"));
  assert.equal((await s.auth.verify(first.access_token as string)).ok, false);
  await expectError(
    await refreshWith(s, first.refresh_token as string, t.client_id),
    400,
    "invalid_grant",
  );
});

test("a token two rotations back is theft even inside the window", async () => {
  const s = await testServer();
  const t = await tokensFor(s);
  const first = await refresh(s, t.refresh_token, t.client_id);
  const second = await refresh(s, first.refresh_token as string, t.client_id);
  s.advance(5_000);
  await expectError(await refreshWith(s, t.refresh_token, t.client_id), 400, "invalid_grant");
  assert.ok(s.events.some((e) => e.type === "refresh.reuse_detected"));
  assert.equal((await s.auth.verify(second.access_token as string)).ok, false);
});

test("the same token from another client inside the window is theft", async () => {
  const s = await testServer();
  const t = await tokensFor(s);
  const other = await register(s);
  const first = await refresh(s, t.refresh_token, t.client_id);
  await expectError(await refreshWith(s, t.refresh_token, other.client_id), 400, "invalid_grant");
  assert.ok(s.events.some((e) => e.type === "refresh.reuse_detected"));
  assert.equal((await s.auth.verify(first.access_token as string)).ok, false);
});

test("refreshReuseWindow: 0 makes every reuse theft", async () => {
  const s = await testServer({ refreshReuseWindow: 0 });
  const t = await tokensFor(s);
  await refresh(s, t.refresh_token, t.client_id);
  s.advance(1);
  await expectError(await refreshWith(s, t.refresh_token, t.client_id), 400, "invalid_grant");
  assert.ok(s.events.some((e) => e.type === "refresh.reuse_detected"));
});

test("a retry asking for a narrower scope: the same successor refresh token, an access token for that scope", async () => {
  const s = await testServer();
  const t = await tokensFor(s, { scope: "mcp:read mcp:write" });
  const form = (scope?: string) =>
    s.form("/token", {
      grant_type: "refresh_token",
      refresh_token: t.refresh_token,
      client_id: t.client_id,
      ...(scope ? { scope } : {}),
      resource: RESOURCE,
    });
  const first = await (await form("mcp:read mcp:write")).json();
  const narrower = await form("mcp:read");
  assert.equal(narrower.status, 200);
  const b = await narrower.json();
  assert.equal(b.refresh_token, first.refresh_token);
  assert.equal(b.scope, "mcp:read");
  assert.notEqual(b.access_token, first.access_token);
  const v = await s.auth.verify(b.access_token);
  assert.ok(v.ok);
  if (v.ok) assert.deepEqual(v.claims.scopes, ["mcp:read"]);
  // A wider scope is refused as on any refresh, and is not treated as theft.
  await expectError(await form("mcp:admin"), 400, "invalid_scope");
  assert.equal(revoked(s), 0);
  assert.equal((await s.auth.verify(first.access_token)).ok, true);
});

test("nothing secret is stored in clear: the sealed successor opens only with the old token", async () => {
  const storage = memoryStorage();
  const s = await testServer({ storage });
  const t = await tokensFor(s);
  const first = await refresh(s, t.refresh_token, t.client_id);
  const dump = JSON.stringify(await storage.list([]));
  for (const secret of [t.refresh_token, first.refresh_token, first.access_token, t.access_token]) {
    assert.equal(dump.includes(String(secret)), false);
  }
  // The payload part of the JWT (base64url of the claims) is not in storage either.
  assert.equal(dump.includes(String(first.access_token).split(".")[1]), false);
  // The sealed pair sits in the grant's `previous` slot, next to the rotated token's hash only.
  const grants = await storage.list(["grant"]);
  assert.equal(grants.length, 1);
  const previous = (grants[0].value.data as { previous: { sealed: string; hash: string } })
    .previous;
  assert.match(previous.sealed, /^v1\.[\w-]{16}\.[\w-]+$/);
  assert.match(previous.hash, /^[\w-]{43}$/);
});

test("a token displaced from the grant's previous slot leaves a tombstone of what reuse detection reads", async () => {
  const storage = memoryStorage();
  const s = await testServer({ storage });
  const t = await tokensFor(s);
  const first = await refresh(s, t.refresh_token, t.client_id);
  assert.deepEqual(await storage.list(["refresh"]), []);
  await refresh(s, String(first.refresh_token), t.client_id);
  const tombstones = await storage.list(["refresh"]);
  assert.equal(tombstones.length, 1);
  const grantId = t.refresh_token.split(".")[0];
  // Only the marker, the grant and the rotating client (no rotation time, nothing sealed).
  assert.deepEqual(tombstones[0].value.data, { used: true, grantId, clientId: t.client_id });
  assert.equal(revoked(s), 0);
  await expectError(await refreshWith(s, t.refresh_token, t.client_id), 400, "invalid_grant");
  assert.equal(revoked(s), 2); // refresh.reuse_detected + grant.revoked
});

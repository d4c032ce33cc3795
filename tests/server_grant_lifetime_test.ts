/**
 * Grant lifetime across refresh rotation: the grant always outlives the newest
 * refresh token, and rotation extends it only when needed (at most once per
 * refresh lifetime), inside the rotation's own grant write.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { memoryStorage } from "../storage/memory.ts";
import type { Storage } from "../storage/mod.ts";
import { refreshWith, testServer, tokensFor } from "./support/flow.ts";

/** Counts the writes that change a grant's stored expiry (the grant is written on every rotation: issue 12). */
function countingExtensions(inner: Storage): Storage & { extensions: () => number } {
  let changes = 0;
  let last: number | null | undefined;
  const seen = (k: readonly string[], v: { exp: number | null }) => {
    if (k[0] !== "grant") return;
    if (v.exp !== last) changes++;
    last = v.exp;
  };
  return {
    ...inner,
    name: "counting",
    consistency: inner.consistency,
    get: (k) => inner.get(k),
    delete: (k) => inner.delete(k),
    swap: (k, v) => inner.swap(k, v),
    compareAndSwap: async (k, e, v) => {
      const ok = await inner.compareAndSwap(k, e, v);
      if (ok) seen(k, v);
      return ok;
    },
    list: (p, o) => inner.list(p, o),
    set: (k, v) => (seen(k, v), inner.set(k, v)),
    extensions: () => changes,
  };
}

test("refresh rotation extends the grant only when needed, and it outlives the refresh token", async () => {
  const day = 86_400_000;
  const storage = countingExtensions(memoryStorage());
  const s = await testServer({ storage, refreshTokenTtl: 10 * 86_400 });
  let t = await tokensFor(s);
  assert.equal(storage.extensions(), 1, "expiry set once at consent");
  const refresh = async () => {
    const res = await refreshWith(s, t.refresh_token, t.client_id);
    assert.equal(res.status, 200, await res.clone().text());
    t = { ...t, ...(await res.json()) };
  };
  // Created to outlive its first refresh token's successor (code + 2 × refresh + access
  // lifetimes): the first rotation does not extend it (issue 12).
  await refresh();
  assert.equal(storage.extensions(), 1);
  for (let i = 0; i < 5; i++) await refresh(); // still well inside: no extension
  assert.equal(storage.extensions(), 1);
  // Keep refreshing every 9 days for 45 days: the grant never lapses under the refresh token.
  for (let i = 0; i < 5; i++) {
    s.advance(9 * day);
    await refresh();
    assert.equal((await s.auth.verify(t.access_token)).ok, true, `day ${9 * (i + 1)}`);
  }
  // Extended on day 18 (to day 38) and day 36 only: at most once per refresh lifetime.
  assert.equal(storage.extensions(), 3, `extended only when needed (${storage.extensions()})`);
  // Unused for longer than the refresh lifetime: the refresh token is dead.
  s.advance(11 * day);
  const dead = await refreshWith(s, t.refresh_token, t.client_id);
  assert.equal(dead.status, 400);
});

test("a revocation between reading the grant and extending it is not undone", async () => {
  // Revoke, then refresh with a token issued before: the grant stays revoked.
  const s = await testServer({ refreshTokenTtl: 3600 });
  const t = await tokensFor(s);
  const [grant] = await s.auth.admin.listGrants({ clientId: t.client_id });
  assert.equal(await s.auth.admin.revokeGrant(grant.id), true);
  const res = await refreshWith(s, t.refresh_token, t.client_id);
  assert.equal(res.status, 400);
  assert.equal((await s.auth.admin.listGrants({ clientId: t.client_id })).length, 0);
});

/**
 * No write ever undoes a revocation (issue 8 item 8). `/revoke` racing a
 * refresh — the first refresh of a grant, and one that extends the grant —
 * on every strong driver, each on its real backend:
 *
 * - deterministic: a storage wrapper pauses the refresh (or the revocation)
 *   before its k-th storage call with a promise gate, runs the other request
 *   to completion, then releases it; every k is tried. No sleeps.
 * - randomized: both requests fired together, in random order after a random
 *   number of yields, many rounds.
 *
 * After each race: the grant is revoked in storage, the old access token and
 * anything the refresh returned fail strict verification, and the refresh
 * token it returned cannot be used.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Storage } from "../storage/mod.ts";
import { refreshWith, testServer, tokensFor } from "./support/flow.ts";
import type { TestServer } from "./support/flow.ts";
import { openStrongDrivers, STRONG_DRIVERS } from "./support/strong_drivers.ts";
import type { DriverUnderTest } from "./support/strong_drivers.ts";

/** A storage wrapper that can hold the k-th call (after arming) until released. */
interface Gated extends Storage {
  /** Hold the `k`-th call from now; `paused` resolves with its op when reached. */
  arm(k: number): { paused: Promise<string>; release: () => void };
}

function gated(inner: Storage): Gated {
  let countdown = 0;
  let reached: ((op: string) => void) | undefined;
  let gate: Promise<void> = Promise.resolve();
  const pass = async (op: string, key: readonly string[]) => {
    if (countdown > 0 && --countdown === 0) {
      reached?.(`${op} ${key[0]}`);
      await gate;
    }
  };
  const wrap =
    <A extends unknown[], R>(op: string, f: (...a: A) => Promise<R>) =>
    async (...a: A): Promise<R> => {
      await pass(op, a[0] as readonly string[]);
      return await f(...a);
    };
  return {
    name: inner.name,
    consistency: inner.consistency,
    get: wrap("get", (k) => inner.get(k)),
    set: wrap("set", (k, v) => inner.set(k, v)),
    delete: wrap("delete", (k) => inner.delete(k)),
    swap: wrap("swap", (k, v) => inner.swap(k, v)),
    compareAndSwap: wrap("compareAndSwap", (k, e, v) => inner.compareAndSwap(k, e, v)),
    list: wrap("list", (p, o) => inner.list(p, o)),
    arm(k) {
      countdown = k;
      let release = () => {};
      gate = new Promise((r) => (release = r));
      const paused = new Promise<string>((r) => (reached = r));
      return { paused, release };
    },
  };
}

const HOUR = 3600;
type Tokens = Awaited<ReturnType<typeof tokensFor>>;

/** Tokens whose next refresh is the grant's first, or (extend) one that must extend the grant. */
async function setup(
  make: () => Storage,
  extend: boolean,
): Promise<{ s: TestServer; store: Gated; t: Tokens }> {
  const store = gated(make());
  // Every storage call is a pause point and the steps are counted: rate-limit counters
  // (their own storage calls) are off.
  const s = await testServer({
    storage: store,
    refreshTokenTtl: HOUR,
    accessTokenTtl: 2 * HOUR,
    rateLimits: false,
  });
  let t = await tokensFor(s);
  if (extend) {
    // Grant created to last code + 2 × refresh + access lifetimes (4.02 h here): a refresh
    // at 0.9 h does not extend it; the next one, at 1.8 h, must (the one raced below).
    // Access tokens live 2 h, so the one /revoke presents is still valid.
    s.advance(0.9 * HOUR * 1000);
    const res = await refreshWith(s, t.refresh_token, t.client_id);
    assert.equal(res.status, 200);
    t = { ...t, ...(await res.json()) };
    s.advance(0.9 * HOUR * 1000);
  }
  return { s, store, t };
}

const revoke = (s: TestServer, t: Tokens) =>
  s.form("/revoke", { token: t.access_token, client_id: t.client_id });

/** The invariant: the grant stays revoked and nothing the refresh handed out works. */
async function assertRevoked(s: TestServer, t: Tokens, refreshed: Response, label: string) {
  assert.equal((await s.auth.admin.listGrants({ clientId: t.client_id })).length, 0, label);
  const all = await s.auth.admin.listGrants({ clientId: t.client_id, includeRevoked: true });
  assert.equal(all.length, 1, label);
  assert.ok(all[0].revokedAt, `${label}: revocation undone`);
  assert.equal((await s.auth.verify(t.access_token)).ok, false, label);
  if (refreshed.status === 200) {
    const body = await refreshed.json();
    assert.equal((await s.auth.verify(body.access_token)).ok, false, label);
    const next = await refreshWith(s, body.refresh_token, t.client_id);
    assert.equal(next.status, 400, `${label}: refresh token from the race still works`);
    await next.body?.cancel();
  } else {
    assert.equal(refreshed.status, 400, label);
    assert.equal((await refreshed.json()).error, "invalid_grant", label);
  }
}

/** Pause `first` before its k-th storage call, run `second` fully, release; for every k. */
async function sweep(
  d: DriverUnderTest,
  extend: boolean,
  pauseRefresh: boolean,
): Promise<number> {
  let interleavings = 0;
  for (let k = 1;; k++) {
    const { s, store, t } = await setup(d.make, extend);
    const { paused, release } = store.arm(k);
    const first = pauseRefresh ? refreshWith(s, t.refresh_token, t.client_id) : revoke(s, t);
    const where = await Promise.race([paused, first.then(() => undefined)]);
    if (where === undefined) {
      store.arm(0);
      release();
      await (await first).body?.cancel();
      return interleavings;
    }
    const second =
      await (pauseRefresh ? revoke(s, t) : refreshWith(s, t.refresh_token, t.client_id));
    release();
    const done = await first;
    const refreshed = pauseRefresh ? done : second;
    await (pauseRefresh ? second : done).body?.cancel();
    await assertRevoked(s, t, refreshed, `${d.name} k=${k} (${where})`);
    interleavings++;
  }
}

let opened: Awaited<ReturnType<typeof openStrongDrivers>>;
before(async () => {
  opened = await openStrongDrivers();
});
after(async () => {
  await opened.close();
});
const driver = (name: string) => opened.drivers.find((d) => d.name === name)!;

for (const name of STRONG_DRIVERS) {
  describe(`revocation vs refresh on ${name}`, () => {
    for (const extend of [false, true]) {
      const which = extend ? "a refresh that extends the grant" : "the grant's first refresh";
      test(`deterministic: /revoke at every step of ${which}, and vice versa`, async () => {
        const refreshSteps = await sweep(driver(name), extend, true);
        const revokeSteps = await sweep(driver(name), extend, false);
        console.log(
          `[interleavings] ${name}, ${which}: revoke inside the refresh at ${refreshSteps} points, ` +
            `refresh inside the revoke at ${revokeSteps} points`,
        );
        // Every storage call of each request was a pause point: a refresh is 2 calls (read
        // the grant, compare-and-swap it; an extension rides on the same write); /revoke is
        // 4 (client, grant, grant, compare-and-swap).
        assert.equal(refreshSteps, 2);
        assert.equal(revokeSteps, 4);
      });
    }

    test("randomized: refresh and /revoke fired together, 30 rounds", async () => {
      let refreshWon = 0;
      for (let round = 0; round < 30; round++) {
        const { s, t } = await setup(driver(name).make, round % 2 === 1);
        const yields = (n: number) =>
          Array.from({ length: n }).reduce<Promise<unknown>>(
            (p) => p.then(() => null),
            Promise.resolve(),
          );
        const refreshFirst = Math.random() < 0.5;
        const a = yields(Math.floor(Math.random() * 20));
        const b = yields(Math.floor(Math.random() * 20));
        const [refreshed, revoked] = await Promise.all([
          (refreshFirst ? Promise.resolve() : b).then(() =>
            refreshWith(s, t.refresh_token, t.client_id)
          ),
          (refreshFirst ? a : Promise.resolve()).then(() => revoke(s, t)),
        ]);
        assert.equal(revoked.status, 200);
        await revoked.body?.cancel();
        if (refreshed.status === 200) refreshWon++;
        await assertRevoked(s, t, refreshed, `${name} round ${round}`);
      }
      console.log(
        `[random] ${name}: refresh answered 200 in ${refreshWon} of 30 rounds; grant revoked in all`,
      );
    });
  });
}

test("Workers KV (eventual): how often a revocation racing a grant-extending refresh is undone", async () => {
  // Measured, not asserted: KV's compareAndSwap is a get, a comparison and a put, so
  // the extension can land over the revocation. The README reports the count.
  let undone = 0;
  const rounds = 30;
  for (let round = 0; round < rounds; round++) {
    const { s, t } = await setup(opened.workersKv.make, true);
    const [refreshed, revoked] = await Promise.all([
      refreshWith(s, t.refresh_token, t.client_id),
      revoke(s, t),
    ]);
    assert.equal(revoked.status, 200);
    await revoked.body?.cancel();
    await refreshed.body?.cancel();
    const all = await s.auth.admin.listGrants({ clientId: t.client_id, includeRevoked: true });
    assert.equal(all.length, 1);
    if (!all[0].revokedAt) undone++;
  }
  console.log(`[observed] workers kv: revocation undone in ${undone} of ${rounds} races`);
});

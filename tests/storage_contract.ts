/**
 * The storage contract suite: one set of tests, run unchanged against every
 * driver (memory, Deno KV, Workers KV and Durable Objects inside workerd,
 * Upstash over a real redis-server). A test file calls {@link storageContract}
 * with a factory that opens the driver under test on its real backend.
 *
 * @module
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Envelope, Storage, StorageKey } from "../storage/mod.ts";
import { envelope, isLive } from "../storage/mod.ts";
import { createRateLimiter } from "../src/limits/mod.ts";

/**
 * Opens the driver under test. Each call with a different `namespace` must
 * give a driver isolated from the others (a different key prefix, object name
 * or database) over the same backend.
 */
export type StorageFactory = (namespace: string) => Storage | Promise<Storage>;

/** What the concurrent-swap test observed. */
export interface SwapRace {
  /** Number of simultaneous swaps issued. */
  total: number;
  /** How many of them returned the original value (1 on a strong driver). */
  sawOriginal: number;
  /** How many distinct previous values were returned. */
  distinctPrevious: number;
}

/** Options for {@link storageContract}. */
export interface ContractOptions {
  /** Simultaneous swaps of one key in the concurrency test (default 200). */
  concurrency?: number;
  /** Receives the concurrency observation (used by eventual drivers to assert and document it). */
  onSwapRace?: (race: SwapRace) => void;
  /** Receives how many of the simultaneous compareAndSwaps won (1 on a strong driver). */
  onCasRace?: (race: { total: number; wins: number }) => void;
  /** Receives the rate-limit counter race (simultaneous hits vs. hits allowed). */
  onCounterRace?: (race: { total: number; limit: number; allowed: number }) => void;
}

/** Register the contract tests for one driver under `describe(label)`. */
export function storageContract(
  label: string,
  factory: StorageFactory,
  options: ContractOptions = {},
): void {
  let counter = 0;
  const open = (): Promise<Storage> =>
    Promise.resolve(factory(`${label}-${++counter}-${crypto.randomUUID().slice(0, 8)}`));

  describe(`storage contract: ${label}`, () => {
    test("get of an absent key is undefined; set then get round-trips the envelope", async () => {
      const s = await open();
      assert.equal(await s.get(["grant", "nope"]), undefined);
      const value: Envelope = {
        v: 1,
        exp: Date.now() + 3_600_000,
        data: {
          sub: "user-1",
          scopes: ["read", "write"],
          n: 42.5,
          ok: true,
          none: null,
          nested: { deep: [1, { x: "y" }], empty: {} },
          text: 'line\nbreak "quoted" tab\t ünïcødé 🔑',
        },
      };
      await s.set(["grant", "g1"], value);
      assert.deepEqual(await s.get(["grant", "g1"]), value);
      assert.ok(isLive(await s.get(["grant", "g1"])));
    });

    test("envelope fields are stored verbatim (null exp, unknown schema version)", async () => {
      const s = await open();
      await s.set(["client", "c1"], envelope({ name: "c" }));
      assert.deepEqual(await s.get(["client", "c1"]), { v: 1, exp: null, data: { name: "c" } });
      const future: Envelope = { v: 2, exp: null, data: ["migrate", "me"] };
      await s.set(["client", "c2"], future);
      assert.deepEqual(await s.get(["client", "c2"]), future);
      assert.equal(isLive(await s.get(["client", "c2"])), false);
    });

    test("set overwrites; delete removes; deleting an absent key is not an error", async () => {
      const s = await open();
      await s.set(["consent", "a"], envelope(1));
      await s.set(["consent", "a"], envelope(2));
      assert.deepEqual((await s.get(["consent", "a"]))?.data, 2);
      await s.delete(["consent", "a"]);
      assert.equal(await s.get(["consent", "a"]), undefined);
      await s.delete(["consent", "a"]);
      await s.delete(["consent", "never-written"]);
      assert.equal(await s.get(["consent", "a"]), undefined);
    });

    test("swap returns the replaced value and writes the new one", async () => {
      const s = await open();
      assert.equal(await s.swap(["code", "h1"], envelope("first")), undefined);
      assert.deepEqual((await s.get(["code", "h1"]))?.data, "first");
      const prev = await s.swap(["code", "h1"], envelope({ used: true }, Date.now() + 60_000));
      assert.deepEqual(prev, envelope("first"));
      assert.deepEqual((await s.get(["code", "h1"]))?.data, { used: true });
      assert.deepEqual((await s.swap(["code", "h1"], envelope("third")))?.data, { used: true });
      await s.delete(["code", "h1"]);
      assert.equal(await s.swap(["code", "h1"], envelope("again")), undefined);
    });

    test("expiry is enforced on read: an envelope with a past exp is never live", async () => {
      const s = await open();
      const past = Date.now() - 1_000;
      await s.set(["code", "old"], envelope("stale", past));
      assert.equal(isLive(await s.get(["code", "old"])), false);
      await s.set(["code", "new"], envelope("fresh", Date.now() + 3_600_000));
      assert.ok(isLive(await s.get(["code", "new"])));
      // A swap over an expired record must not hand back a live record.
      const prev = await s.swap(["code", "old"], envelope("tombstone", Date.now() + 60_000));
      assert.equal(isLive(prev), false);
      assert.deepEqual((await s.get(["code", "old"]))?.data, "tombstone");
      // Swapping in an already-expired value leaves nothing live behind.
      await s.swap(["code", "new"], envelope("dead", past));
      assert.equal(isLive(await s.get(["code", "new"])), false);
    });

    test("list returns entries under a prefix in key order, honouring limit", async () => {
      const s = await open();
      for (const id of ["c", "a", "e", "b", "d"]) await s.set(["grant", id], envelope(id));
      await s.set(["grantx", "z"], envelope("not under grant"));
      await s.set(["refresh", "r"], envelope("r"));
      const all = await s.list(["grant"]);
      assert.deepEqual(all.map((e) => e.key), ["a", "b", "c", "d", "e"].map((id) => ["grant", id]));
      assert.deepEqual(
        all.map((e) => e.value),
        ["a", "b", "c", "d", "e"].map((id) => envelope(id)),
      );
      assert.deepEqual((await s.list(["grant"], { limit: 2 })).map((e) => e.key[1]), ["a", "b"]);
      assert.equal((await s.list(["grant"], { limit: 50 })).length, 5);
      assert.deepEqual((await s.list(["refresh"])).map((e) => e.key), [["refresh", "r"]]);
      assert.deepEqual(await s.list(["nothing"]), []);
      const everything = (await s.list([])).map((e) => e.key.join("/")).sort();
      assert.deepEqual(everything, [
        "grant/a",
        "grant/b",
        "grant/c",
        "grant/d",
        "grant/e",
        "grantx/z",
        "refresh/r",
      ]);
      await s.delete(["grant", "c"]);
      assert.deepEqual((await s.list(["grant"])).map((e) => e.key[1]), ["a", "b", "d", "e"]);
    });

    test("list pages through more entries than one backend page", async () => {
      const s = await open();
      const ids = Array.from({ length: 45 }, (_, i) => `k${String(i).padStart(3, "0")}`);
      await Promise.all(ids.map((id) => s.set(["client", id], envelope(id))));
      const listed = await s.list(["client"]);
      assert.deepEqual(listed.map((e) => e.key[1]), ids);
      assert.deepEqual(
        (await s.list(["client"], { limit: 31 })).map((e) => e.key[1]),
        ids.slice(0, 31),
      );
    });

    test("drivers opened on different namespaces are isolated", async () => {
      const a = await open();
      const b = await open();
      await a.set(["grant", "same"], envelope("from a"));
      await b.set(["grant", "same"], envelope("from b"));
      assert.deepEqual((await a.get(["grant", "same"]))?.data, "from a");
      assert.deepEqual((await b.get(["grant", "same"]))?.data, "from b");
      await b.set(["grant", "only-b"], envelope("b"));
      assert.deepEqual((await a.list([])).map((e) => e.key), [["grant", "same"]]);
      assert.deepEqual((await a.swap(["grant", "same"], envelope("a2")))?.data, "from a");
      await a.delete(["grant", "same"]);
      assert.deepEqual((await b.get(["grant", "same"]))?.data, "from b");
      assert.equal((await b.list(["grant"])).length, 2);
    });

    test("keys with unusual characters round-trip through get, swap and list", async () => {
      const s = await open();
      const keys: StorageKey[] = [
        ["client", "ünïcødé ✓ 🔑 日本"],
        ["cimd", "https://app.example/.well-known/client.json?x=1#frag"],
        ["consent", "a/b c"],
        ["consent", "100% sure: %3A %25"],
        ["grant", " leading and trailing "],
      ];
      for (const [i, key] of keys.entries()) await s.set(key, envelope({ i }));
      for (const [i, key] of keys.entries()) assert.deepEqual((await s.get(key))?.data, { i });
      assert.deepEqual((await s.swap(keys[1], envelope("x")))?.data, { i: 1 });
      const listed = await s.list([]);
      const byKey = new Map(listed.map((e) => [JSON.stringify(e.key), e.value.data]));
      assert.equal(listed.length, keys.length);
      for (const [i, key] of keys.entries()) {
        assert.deepEqual(byKey.get(JSON.stringify(key)), i === 1 ? "x" : { i });
      }
      assert.deepEqual((await s.list(["consent"])).map((e) => e.key[1]).sort(), [
        "100% sure: %3A %25",
        "a/b c",
      ]);
      assert.equal(await s.get(["consent", "a"]), undefined);
      assert.equal(await s.get(["consent", "100% sure"]), undefined);
    });

    test("large-ish values (48 KB) round-trip", async () => {
      const s = await open();
      const big = "x".repeat(40_000) + "0123456789abcdef".repeat(500);
      const value = envelope({ big, list: Array.from({ length: 200 }, (_, i) => i) });
      await s.set(["cimd", "big"], value);
      assert.deepEqual(await s.get(["cimd", "big"]), value);
      assert.deepEqual(await s.swap(["cimd", "big"], envelope("small")), value);
      assert.deepEqual((await s.list(["cimd"]))[0].value, envelope("small"));
    });

    test("simultaneous swaps of one key: each observes a distinct previous value", async () => {
      const s = await open();
      const total = options.concurrency ?? 200;
      const key = ["code", "contended"];
      await s.set(key, envelope({ writer: "original" }, Date.now() + 600_000));
      const results = await Promise.all(
        Array.from(
          { length: total },
          (_, i) => s.swap(key, envelope({ writer: i }, Date.now() + 600_000)),
        ),
      );
      const writers = results.map((r) => (r?.data as { writer: number | string }).writer);
      const sawOriginal = writers.filter((w) => w === "original").length;
      const distinctPrevious = new Set(writers).size;
      const final = (await s.get(key))?.data as { writer: number | string };
      // Every driver: each swap returned the original or some writer's value,
      // and the final value is one of the writers'.
      for (const w of writers) assert.ok(w === "original" || (typeof w === "number" && w < total));
      assert.equal(typeof final.writer, "number");
      const race: SwapRace = { total, sawOriginal, distinctPrevious };
      if (s.consistency === "strong") {
        // Linearisable exchange: one caller got the original, every other
        // caller got a distinct earlier writer's value, and the one writer
        // nobody observed is the value left behind.
        assert.equal(sawOriginal, 1);
        assert.equal(distinctPrevious, total);
        assert.equal(writers.includes(final.writer), false);
      } else {
        assert.ok(sawOriginal >= 1);
      }
      options.onSwapRace?.(race);
    });

    test("compareAndSwap writes only over the exact expected value (or absence)", async () => {
      const s = await open();
      const key = ["grant", "cas"];
      const exp = Date.now() + 600_000;
      const first = envelope({ id: "g", scopes: ["a"], n: 1 }, exp);
      assert.equal(await s.compareAndSwap(key, envelope("other"), first), false);
      assert.equal(await s.get(key), undefined);
      assert.equal(await s.compareAndSwap(key, undefined, first), true);
      assert.equal(await s.compareAndSwap(key, undefined, envelope("again")), false);
      // A value read back compares equal to what is stored.
      const read = await s.get(key);
      const second = envelope({ id: "g", scopes: ["a"], n: 2, revokedAt: 5 }, exp);
      assert.equal(await s.compareAndSwap(key, read, second), true);
      // The stale read no longer matches: the write computed from it is refused.
      assert.equal(await s.compareAndSwap(key, read, envelope({ id: "g", n: 3 }, exp)), false);
      assert.deepEqual(await s.get(key), second);
      // An expired value compares as whatever the backend still holds (it may have purged it).
      await s.set(["grant", "expired"], envelope("dead", Date.now() - 1000));
      const held = await s.get(["grant", "expired"]);
      assert.equal(await s.compareAndSwap(["grant", "expired"], envelope("other"), first), false);
      assert.equal(await s.compareAndSwap(["grant", "expired"], held, first), true);
    });

    test("simultaneous compareAndSwaps from one expected value: at most one wins", async () => {
      const s = await open();
      const total = options.concurrency ?? 200;
      const key = ["refresh", "contended"];
      const original = envelope({ live: true }, Date.now() + 600_000);
      await s.set(key, original);
      const results = await Promise.all(
        Array.from(
          { length: total },
          (_, i) => s.compareAndSwap(key, original, envelope({ writer: i }, Date.now() + 600_000)),
        ),
      );
      const wins = results.filter(Boolean).length;
      const final = (await s.get(key))?.data as { writer: number };
      assert.equal(typeof final.writer, "number");
      options.onCasRace?.({ total, wins });
      if (s.consistency === "strong") {
        assert.equal(wins, 1);
        assert.equal(results[final.writer], true, "the one winner's value is the one stored");
      } else {
        assert.ok(wins >= 1);
      }
    });

    test("rate-limit counter: of N simultaneous hits exactly `limit` are allowed (strong drivers)", async () => {
      const s = await open();
      const total = Math.min(options.concurrency ?? 200, 100);
      const limit = 37;
      const limiter = createRateLimiter(s);
      const rule = { limit, windowSeconds: 3600 };
      const results = await Promise.all(
        Array.from({ length: total }, () => limiter.hit("contract", "203.0.113.9", rule)),
      );
      const allowed = results.filter((r) => r.allowed).length;
      const counts = results.map((r) => r.count).sort((a, b) => a - b);
      if (s.consistency === "strong") {
        assert.equal(typeof s.increment, "function", "strong drivers count atomically");
        assert.equal(allowed, limit);
        assert.deepEqual(counts, Array.from({ length: total }, (_, i) => i + 1));
      } else {
        assert.ok(allowed >= limit, "an eventual driver may only undercount");
      }
      for (const r of results) assert.ok(r.retryAfter >= 1 && r.retryAfter <= 3600);
      // Another caller has its own counter.
      assert.equal((await limiter.hit("contract", "198.51.100.7", rule)).count, 1);
      options.onCounterRace?.({ total, limit, allowed });
    });
  });
}

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Redis } from "@upstash/redis";
import { upstashStorage } from "../storage/upstash.ts";
import { envelope, StorageError } from "../storage/mod.ts";
import { storageContract } from "./storage_contract.ts";
import { startRedis } from "./support/redis.ts";
import type { RedisServer } from "./support/redis.ts";
import { startUpstashBridge } from "./support/upstash_bridge.ts";
import type { UpstashBridge } from "./support/upstash_bridge.ts";
import { RespConnection } from "./support/resp.ts";

let redis: RedisServer;
let bridge: UpstashBridge;

before(async () => {
  redis = await startRedis();
  bridge = await startUpstashBridge({ redisPort: redis.port, timeoutMs: 1000 });
});

after(async () => {
  await bridge.close();
  await redis.stop();
});

/**
 * The real @upstash/redis client, pointed at the bridge in front of the real
 * redis-server. Auto-pipelining is off unless asked for, so each operation is
 * its own HTTP request (200 simultaneous swaps are 200 concurrent requests,
 * as from 200 separate edge instances).
 */
function client(
  options: { automaticDeserialization?: boolean; enableAutoPipelining?: boolean } = {},
): Redis {
  return new Redis({
    url: bridge.url,
    token: bridge.token,
    retry: false,
    enableAutoPipelining: false,
    ...options,
  });
}

storageContract(
  "upstash (@upstash/redis → REST bridge → redis-server)",
  (ns) => upstashStorage(client(), { prefix: `t:${ns}:`, scanCount: 10 }),
);
storageContract(
  "upstash, client defaults (auto-pipelining on) with automaticDeserialization off",
  (ns) =>
    upstashStorage(client({ automaticDeserialization: false, enableAutoPipelining: true }), {
      prefix: `raw:${ns}:`,
      scanCount: 10,
    }),
);

describe("upstash driver specifics", () => {
  test("stores JSON text under prefix + joined key, with a PXAT expiry from exp", async () => {
    const s = upstashStorage(client(), { prefix: "layout:" });
    const exp = Date.now() + 3_600_000;
    await s.set(["refresh", "h:1"], envelope({ r: 1 }, exp));
    await s.set(["client", "c"], envelope({ c: 1 }));
    const conn = await RespConnection.connect(redis.port);
    try {
      const raw = await conn.command("GET", "layout:refresh:h%3A1");
      assert.ok(raw instanceof Uint8Array);
      assert.deepEqual(JSON.parse(new TextDecoder().decode(raw)), envelope({ r: 1 }, exp));
      assert.equal(await conn.command("PEXPIRETIME", "layout:refresh:h%3A1"), Math.ceil(exp));
      assert.equal(await conn.command("PTTL", "layout:client:c"), -1);
    } finally {
      await conn.close();
    }
  });

  test("glob metacharacters in a prefix match literally in list", async () => {
    const a = upstashStorage(client(), { prefix: "g*[x]?:" });
    const b = upstashStorage(client(), { prefix: "g-other:" });
    await a.set(["grant", "1"], envelope(1));
    await b.set(["grant", "2"], envelope(2));
    assert.deepEqual((await a.list([])).map((e) => e.key), [["grant", "1"]]);
  });

  test("redis stopped mid-run → StorageError (no hang); after a restart the next op succeeds", async () => {
    const s = upstashStorage(client(), { prefix: "fault:" });
    await s.set(["grant", "g"], envelope("before"));
    await redis.stop();
    await assert.rejects(s.get(["grant", "g"]), StorageError);
    await assert.rejects(s.swap(["code", "c"], envelope("x")), StorageError);
    await assert.rejects(s.list(["grant"]), StorageError);
    await redis.restart();
    // Nothing is persisted (--save ""), so the key is gone, but the driver works again.
    assert.equal(await s.get(["grant", "g"]), undefined);
    await s.set(["grant", "g"], envelope("after"));
    assert.deepEqual((await s.get(["grant", "g"]))?.data, "after");
  });

  test("redis frozen (SIGSTOP) → the bridge times out and the driver throws StorageError", async () => {
    const s = upstashStorage(client(), { prefix: "frozen:" });
    await s.set(["grant", "g"], envelope("x"));
    redis.pause();
    try {
      await assert.rejects(s.swap(["code", "c"], envelope("x")), (err: unknown) => {
        assert.ok(err instanceof StorageError);
        assert.match(err.message, /did not answer/);
        return true;
      });
    } finally {
      redis.resume();
    }
    assert.deepEqual((await s.get(["grant", "g"]))?.data, "x");
  });

  test("200 simultaneous swaps are 200 separate HTTP requests to the bridge", async () => {
    const s = upstashStorage(client(), { prefix: "requests:" });
    await s.set(["code", "c"], envelope("original"));
    const before = bridge.requests;
    const previous = await Promise.all(
      Array.from({ length: 200 }, (_, i) => s.swap(["code", "c"], envelope(i))),
    );
    assert.equal(bridge.requests - before, 200);
    assert.equal(previous.filter((p) => p?.data === "original").length, 1);
  });

  test("a wrong token is a StorageError, not a silent miss; its message quotes no value", async () => {
    const bad = new Redis({ url: bridge.url, token: "wrong", retry: false });
    await assert.rejects(upstashStorage(bad).get(["grant", "g"]), StorageError);
    await assert.rejects(
      upstashStorage(bad).set(["grant", "g"], envelope("secret-value-123")),
      (err: unknown) => {
        assert.ok(err instanceof StorageError);
        assert.match(err.message, /Unauthorized/);
        assert.doesNotMatch(err.message, /secret-value-123/);
        return true;
      },
    );
  });

  test("an empty prefix is refused", () => {
    assert.throws(() => upstashStorage(client(), { prefix: "" }), TypeError);
  });
});

/**
 * A client assertion's `jti` is single use on every strongly consistent driver, each on
 * its real backend (Deno KV, Upstash REST bridge → redis-server, a Durable Object in
 * workerd): of 50 concurrent presentations of one assertion exactly one authenticates.
 * Workers KV is eventually consistent: the test records how many got through there
 * (README "What can race on Workers KV").
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { Redis } from "@upstash/redis";
import { denoKvStorage } from "../storage/deno_kv.ts";
import { upstashStorage } from "../storage/upstash.ts";
import type { Storage } from "../storage/mod.ts";
import { startRedis } from "./support/redis.ts";
import type { RedisServer } from "./support/redis.ts";
import { startUpstashBridge } from "./support/upstash_bridge.ts";
import type { UpstashBridge } from "./support/upstash_bridge.ts";
import { startWorkerd } from "./support/workerd.ts";
import type { WorkerdHarness } from "./support/workerd.ts";
import { ISSUER, REDIRECT, testServer } from "./support/flow.ts";
import { assertionClient, assertionFields } from "./support/assertion.ts";

let kv: Deno.Kv;
let redis: RedisServer;
let bridge: UpstashBridge;
let workerd: WorkerdHarness;

before(async () => {
  kv = await Deno.openKv(":memory:");
  redis = await startRedis();
  bridge = await startUpstashBridge({ redisPort: redis.port, timeoutMs: 1000 });
  workerd = await startWorkerd();
});

after(async () => {
  kv.close();
  await bridge.close();
  await redis.stop();
  await workerd.dispose();
});

async function race(storage: Storage): Promise<number> {
  const k = await assertionClient("EdDSA");
  const s = await testServer({ storage });
  const reg = await s.call("/register", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      redirect_uris: [REDIRECT],
      token_endpoint_auth_method: "private_key_jwt",
      jwks: k.jwks,
    }),
  });
  assert.equal(reg.status, 201);
  const id = (await reg.json()).client_id;
  const assertion = await k.sign(id, ISSUER + "/token");
  const results = await Promise.all(
    Array.from(
      { length: 50 },
      () => s.form("/introspect", { token: "x", ...assertionFields(assertion) }),
    ),
  );
  for (const r of results) {
    assert.ok(r.status === 200 || r.status === 401, `status ${r.status}`);
    await r.body?.cancel();
  }
  return results.filter((r) => r.status === 200).length;
}

test("jti single use: Deno KV", async () => {
  assert.equal(await race(denoKvStorage(kv, { prefix: ["jti-race"] })), 1);
});

test("jti single use: Upstash (REST → redis-server)", async () => {
  const redisClient = new Redis({ url: bridge.url, token: bridge.token, retry: false });
  assert.equal(await race(upstashStorage(redisClient, { prefix: "jti-race:" })), 1);
});

test("jti single use: Durable Object (workerd)", async () => {
  assert.equal(await race(workerd.storage("do", "jti-race")), 1);
});

test("Workers KV (eventual): at least one succeeds; how many is what KV allows", async () => {
  const n = await race(workerd.storage("kv", "jti-race"));
  assert.ok(n >= 1 && n <= 50, `${n} of 50 authenticated`);
  console.log(`[workers-kv] ${n} of 50 concurrent presentations of one jti authenticated`);
});

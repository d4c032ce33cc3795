/**
 * A client assertion's `jti` is single use on every strongly consistent driver, each on
 * its real backend (Deno KV, Upstash REST bridge → redis-server, a Durable Object in
 * workerd): of 50 concurrent presentations of one assertion exactly one authenticates.
 * Workers KV is eventually consistent: the test records how many got through there
 * (README "What can race on Workers KV").
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import type { Storage } from "../storage/mod.ts";
import { type OpenDrivers, openStrongDrivers } from "./support/strong_drivers.ts";
import { ISSUER, REDIRECT, testServer } from "./support/flow.ts";
import { assertionClient, assertionFields } from "./support/assertion.ts";

let opened: OpenDrivers;
before(async () => {
  opened = await openStrongDrivers({ bridgeTimeoutMs: 1000 });
});
after(async () => {
  await opened.close();
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
  assert.equal(await race(opened.byName("deno-kv").make()), 1);
});

test("jti single use: Upstash (REST → redis-server)", async () => {
  assert.equal(await race(opened.upstash()), 1);
});

test("jti single use: Durable Object (workerd)", async () => {
  assert.equal(await race(opened.byName("workerd durable object").make()), 1);
});

test("Workers KV (eventual): at least one succeeds; how many is what KV allows", async () => {
  const n = await race(opened.workersKv.make());
  assert.ok(n >= 1 && n <= 50, `${n} of 50 authenticated`);
  console.log(`[workers-kv] ${n} of 50 concurrent presentations of one jti authenticated`);
});

/**
 * On Cloudflare Workers the default client-IP extractor reads
 * CF-Connecting-IP (set by Cloudflare; a client can't choose it): the Workers
 * example in workerd (Miniflare, Durable Object storage), per-IP limit of
 * /register (20 a minute), counters in the Durable Object.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Miniflare } from "miniflare";
import { generateSigningKey } from "../../mod.ts";
import { bundle } from "../support/runtimes/bundle.ts";

const ISSUER = "https://auth.workers.example";

test("workerd: per-IP limits key on CF-Connecting-IP, counted in the Durable Object", async () => {
  const built = await bundle("examples/workers/worker.ts", "workerd");
  const mf = new Miniflare({
    modules: true,
    script: built.code,
    compatibilityDate: "2026-04-01",
    durableObjects: { GATEHOUSE: "GatehouseStorageObject" },
    bindings: {
      GATEHOUSE_ISSUER: ISSUER,
      GATEHOUSE_STORAGE: "durable-object",
      GATEHOUSE_SIGNING_KEYS: JSON.stringify([await generateSigningKey()]),
    },
  });
  try {
    await mf.ready;
    const reg = async (ip: string, xff?: string) => {
      const res = await mf.dispatchFetch(ISSUER + "/register", {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "cf-connecting-ip": ip,
          ...(xff ? { "x-forwarded-for": xff } : {}),
        },
        body: JSON.stringify({
          redirect_uris: ["http://127.0.0.1:3000/cb"],
          token_endpoint_auth_method: "none",
        }),
      });
      await res.text();
      return res.status;
    };
    // 41 requests span at most two fixed windows: one of them gets 21 → a 429,
    // never before the 21st. A fresh X-Forwarded-For each time changes nothing.
    const statuses: number[] = [];
    for (let i = 0; i < 41; i++) statuses.push(await reg("203.0.113.5", `10.0.0.${i}`));
    assert.deepEqual(statuses.slice(0, 20), Array(20).fill(201));
    assert.ok(statuses.includes(429), statuses.join(","));
    assert.equal(await reg("203.0.113.6"), 201, "another client IP has its own budget");
  } finally {
    await mf.dispose();
  }
});

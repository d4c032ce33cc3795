import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { envelope, StorageError } from "../storage/mod.ts";
import { durableObjectStorage } from "../storage/durable_object.ts";
import { storageContract } from "./storage_contract.ts";
import { startWorkerd } from "./support/workerd.ts";
import type { WorkerdHarness } from "./support/workerd.ts";

let workerd: WorkerdHarness;

before(async () => {
  workerd = await startWorkerd();
});

after(async () => {
  await workerd.dispose();
});

// The driver runs inside workerd and talks to a real GatehouseStorageObject.
storageContract("durable-object in workerd (KV-backed)", (ns) => workerd.storage("do", ns));
storageContract(
  "durable-object in workerd (SQLite-backed, 7-key list pages)",
  (ns) => workerd.storage("do-sqlite", ns),
);
// The same object reached over stub.fetch only (a stub without JS RPC): atomicity holds there too.
storageContract(
  "durable-object in workerd over stub.fetch",
  (ns) => workerd.storage("do-fetch", ns),
);

describe("durable-object driver specifics", () => {
  test("sweep (the alarm's job) deletes expired entries and keeps live ones", async () => {
    const s = workerd.storage("do", "sweep");
    await s.set(["code", "dead"], envelope("x", Date.now() - 1));
    await s.set(["code", "live"], envelope("y", Date.now() + 3_600_000));
    await s.set(["client", "forever"], envelope("z"));
    const swept = await workerd.post("/do-raw/sweep", { op: "sweep" });
    assert.equal(swept.status, 200);
    assert.equal(swept.body.deleted, 1);
    assert.equal(await s.get(["code", "dead"]), undefined);
    assert.equal((await s.get(["code", "live"]))?.data, "y");
    assert.equal((await s.get(["client", "forever"]))?.data, "z");
  });

  test("the object answers a request it cannot serve with a 500 error reply", async () => {
    // (Miniflare does not enforce Durable Object key/value size limits, so a
    // malformed request is the failure the real object can be made to show.)
    const bad = await workerd.post("/do-raw/errors", { op: "bogus" });
    assert.equal(bad.status, 500);
    assert.match(String(bad.body.error), /unknown op/);
    const notJson = await workerd.mf.dispatchFetch("http://storage.test/do-raw/errors", {
      method: "POST",
      body: "{",
    });
    assert.equal(notJson.status, 500);
    await notJson.body?.cancel();
  });

  test("inside workerd the driver calls the object over JS RPC, never fetch", async () => {
    const r = await workerd.post("/transport/do/rpc", envelope("v"));
    assert.deepEqual([r.body.rpc, r.body.fetch], [2, 0]);
    assert.equal((r.body.value as { data: unknown }).data, "v");
  });

  test("the SQLite-backed object (its contract above) is reached over JS RPC too", async () => {
    const r = await workerd.post("/transport/do-sqlite/rpc", envelope("s"));
    assert.deepEqual([r.body.rpc, r.body.fetch], [2, 0]);
    assert.equal((r.body.value as { data: unknown }).data, "s");
  });

  test("an object class without RPC is reached over fetch after one refusal", async () => {
    // PlainStorageObject does not extend DurableObject: workerd refuses the first `handle` call
    // before it runs; the driver then stays on fetch (set over fetch, get over fetch).
    const r = await workerd.post("/transport/do-plain/fallback", envelope("w"));
    assert.deepEqual([r.body.rpc, r.body.fetch], [1, 2]);
    assert.equal((r.body.value as { data: unknown }).data, "w");
    const s = workerd.storage("do-plain", "plain");
    assert.equal(await s.swap(["code", "c"], envelope(1)), undefined);
    assert.equal((await s.swap(["code", "c"], envelope(2)))?.data, 1);
  });

  test("an error thrown by the object over RPC is a StorageError, not retried over fetch", async () => {
    // Stubs, not workerd: a real storage failure cannot be provoked in Miniflare.
    let fetches = 0;
    const storage = durableObjectStorage({
      idFromName: (name: string) => name,
      get: () => ({
        fetch: () => {
          fetches++;
          return Promise.resolve(Response.json({}));
        },
        handle: () => Promise.reject(new Error("disk full")),
      }),
    });
    await assert.rejects(
      storage.swap(["code", "c"], envelope(1)),
      /durable-object: swap failed: disk full/,
    );
    assert.equal(fetches, 0);
  });

  test("stub failures (thrown, 5xx, non-JSON) surface as StorageError", async () => {
    // Stubs, not workerd: a Durable Object cannot be made unreachable on demand.
    const namespace = (fetch: () => Promise<Response>) => ({
      idFromName: (name: string) => name,
      get: () => ({ fetch }),
    });
    const thrown = durableObjectStorage(
      namespace(() => Promise.reject(new Error("Durable Object is overloaded"))),
    );
    await assert.rejects(thrown.swap(["code", "c"], envelope(1)), StorageError);
    const http503 = durableObjectStorage(
      namespace(() => Promise.resolve(new Response("unavailable", { status: 503 }))),
    );
    await assert.rejects(http503.get(["grant", "g"]), StorageError);
    const errorReply = durableObjectStorage(
      namespace(() => Promise.resolve(Response.json({ error: "disk full" }, { status: 500 }))),
    );
    await assert.rejects(errorReply.set(["grant", "g"], envelope(1)), /disk full/);
  });
});

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { denoKvStorage } from "../storage/deno_kv.ts";
import type { DenoKvLike } from "../storage/deno_kv.ts";
import { envelope, StorageError } from "../storage/mod.ts";
import { storageContract } from "./storage_contract.ts";

let memKv: Deno.Kv;
let fileKv: Deno.Kv;
let dir: string;

before(async () => {
  memKv = await Deno.openKv(":memory:");
  dir = await Deno.makeTempDir({ prefix: "gatehouse-kv-" });
  fileKv = await Deno.openKv(`${dir}/gatehouse.sqlite3`);
});

after(async () => {
  memKv.close();
  fileKv.close();
  await Deno.remove(dir, { recursive: true });
});

storageContract("deno-kv :memory:", (ns) => denoKvStorage(memKv, { prefix: ["t", ns] }));
storageContract("deno-kv file", (ns) => denoKvStorage(fileKv, { prefix: ["t", ns] }));

describe("deno-kv driver specifics", () => {
  test("values persist across reopening the file database", async () => {
    const path = `${dir}/reopen.sqlite3`;
    const first = await Deno.openKv(path);
    await denoKvStorage(first).set(["grant", "g"], envelope({ kept: true }));
    first.close();
    const second = await Deno.openKv(path);
    try {
      assert.deepEqual((await denoKvStorage(second).get(["grant", "g"]))?.data, { kept: true });
      // Stored under the default prefix, as JSON text.
      const raw = await second.get(["gatehouse", "grant", "g"]);
      assert.equal(typeof raw.value, "string");
      assert.deepEqual(JSON.parse(raw.value as string), envelope({ kept: true }));
    } finally {
      second.close();
    }
  });

  test("a value over Deno KV's 64 KiB limit fails with StorageError", async () => {
    const s = denoKvStorage(memKv, { prefix: ["limits"] });
    await assert.rejects(s.set(["cimd", "huge"], envelope("x".repeat(70_000))), StorageError);
  });

  test("backend failures surface as StorageError (closed database)", async () => {
    const kv = await Deno.openKv(":memory:");
    const s = denoKvStorage(kv);
    await s.set(["grant", "a"], envelope(1));
    kv.close();
    await assert.rejects(s.get(["grant", "a"]), StorageError);
    await assert.rejects(s.swap(["grant", "a"], envelope(2)), StorageError);
    await assert.rejects(s.compareAndSwap(["grant", "a"], undefined, envelope(2)), StorageError);
    await assert.rejects(s.list(["grant"]), StorageError);
  });

  test("swap gives up with StorageError when compare-and-set never succeeds", async () => {
    // A stub rather than real KV: a commit that always loses its check cannot
    // be produced deterministically on a real database.
    let commits = 0;
    const stub: DenoKvLike = {
      get: () => Promise.resolve({ value: null, versionstamp: null }),
      set: () => Promise.resolve(),
      delete: () => Promise.resolve(),
      list: () => ({ async *[Symbol.asyncIterator]() {} }),
      atomic() {
        const op = {
          check: () => op,
          set: () => op,
          commit: () => Promise.resolve({ ok: (commits++, false) }),
        };
        return op;
      },
    };
    const s = denoKvStorage(stub, { maxSwapAttempts: 3 });
    await assert.rejects(s.swap(["code", "c"], envelope(1)), /gave up after 3/);
    assert.equal(commits, 3);
    await assert.rejects(
      s.compareAndSwap(["code", "c"], undefined, envelope(1)),
      /gave up after 3/,
    );
    assert.equal(commits, 6);
  });
});

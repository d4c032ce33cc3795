/**
 * The confirmation store on its own (memory driver): binding, expiry, key reuse, and the
 * stored result for replays. The concurrency proofs per driver are in
 * tests/e2e_mcp_confirm_drivers_test.ts.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { memoryStorage } from "../storage/memory.ts";
import { envelope } from "../storage/mod.ts";
import { sha256 } from "../src/_crypto.ts";
import { canonicalJson, ConfirmationError, ConfirmationStore } from "../src/mcp/_confirm.ts";

const alice = { subject: "alice", clientId: "c1" };
const pending = (args: Record<string, unknown>) => ({
  ...alice,
  tool: "add_note",
  args,
  argsHash: "h",
  preview: "p",
});

describe("ConfirmationStore", () => {
  it("runs once with the stored arguments; the same key replays the result", async () => {
    const store = new ConfirmationStore(memoryStorage());
    const { token, expiresAt } = await store.issue(pending({ text: "a" }));
    assert.ok(expiresAt - Date.now() / 1000 <= 300 && expiresAt - Date.now() / 1000 > 295);
    const seen: unknown[] = [];
    const first = await store.run(token, "k", alice, (p) => {
      seen.push(p.args);
      return Promise.resolve("done");
    });
    assert.deepEqual(first, { result: "done", executed: true, pending: pending({ text: "a" }) });
    const again = await store.run(token, "k", alice, () => Promise.resolve("twice"));
    assert.equal(again.result, "done");
    assert.equal(again.executed, false);
    assert.deepEqual(seen, [{ text: "a" }]);
  });

  it("another subject or client: refused, token not consumed", async () => {
    const store = new ConfirmationStore(memoryStorage());
    const { token } = await store.issue(pending({}));
    for (const who of [{ subject: "bob", clientId: "c1" }, { subject: "alice", clientId: "c2" }]) {
      await assert.rejects(
        store.run(token, "k", who, () => Promise.resolve(1)),
        (e) => e instanceof ConfirmationError && e.code === "invalid_token",
      );
    }
    assert.equal((await store.run(token, "k", alice, () => Promise.resolve(1))).executed, true);
  });

  it("a key reused with another token: key_reused; a used token with a new key: invalid_token", async () => {
    const store = new ConfirmationStore(memoryStorage());
    const a = await store.issue(pending({ n: 1 }));
    const b = await store.issue(pending({ n: 2 }));
    await store.run(a.token, "k", alice, () => Promise.resolve("a"));
    await assert.rejects(
      store.run(b.token, "k", alice, () => Promise.resolve("b")),
      (e) => e instanceof ConfirmationError && e.code === "key_reused",
    );
    await assert.rejects(
      store.run(a.token, "k2", alice, () => Promise.resolve("again")),
      (e) => e instanceof ConfirmationError && e.code === "invalid_token",
    );
    // b was not consumed by the refused attempt.
    assert.equal((await store.run(b.token, "k3", alice, () => Promise.resolve("b"))).result, "b");
  });

  it("an expired token is refused", async () => {
    const storage = memoryStorage();
    const store = new ConfirmationStore(storage);
    const { token } = await store.issue(pending({}));
    const key = ["mcp-confirm", await sha256(token)];
    const rec = await storage.get(key);
    await storage.set(key, envelope(rec!.data, Date.now() - 1));
    await assert.rejects(
      store.run(token, "k", alice, () => Promise.resolve(1)),
      (e) => e instanceof ConfirmationError && e.code === "invalid_token",
    );
  });

  it("only the hash of the token is stored", async () => {
    const storage = memoryStorage();
    const store = new ConfirmationStore(storage);
    const { token } = await store.issue(pending({}));
    const all = JSON.stringify(await storage.list([]));
    assert.ok(!all.includes(token));
  });

  it("canonicalJson: key order does not change the hash input", () => {
    assert.equal(
      canonicalJson({ b: 1, a: [1, { d: 2, c: 3 }] }),
      canonicalJson({ a: [1, { c: 3, d: 2 }], b: 1 }),
    );
    assert.notEqual(canonicalJson({ a: 1 }), canonicalJson({ a: "1" }));
  });
});

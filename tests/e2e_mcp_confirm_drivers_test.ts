/**
 * Confirmed mutations exactly once on every storage driver, each on its real backend (memory,
 * Deno KV, Upstash → REST bridge → redis-server, a Durable Object and Workers KV inside workerd
 * via Miniflare), through the demo over HTTP with the real SDK v2 client: 50 concurrent
 * `confirm` calls with one idempotency key, and 50 with one token and 50 different keys.
 * Strong drivers must execute once; Workers KV (eventual) is measured and reported only.
 * Also the per-subject tool-call limit: 60 concurrent calls against a limit of 50.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { ALL_DRIVERS, type OpenDrivers, openStrongDrivers } from "./support/strong_drivers.ts";
import { clientV2, rawToolCall, startDemo, tokenFor } from "./support/mcp_demo.ts";

let opened: OpenDrivers;
before(async () => {
  opened = await openStrongDrivers({ bridgeTimeoutMs: 5000 });
});
after(async () => {
  await opened.close();
});

const CONCURRENCY = 50;

for (const name of ALL_DRIVERS) {
  describe(`confirmations on ${name}`, () => {
    test(`${CONCURRENCY} concurrent confirms, one idempotency key / one token many keys`, async () => {
      const d = opened.byName(name);
      const demo = await startDemo({ storage: d.make() });
      try {
        const token = await tokenFor(demo, "alice", "mcp:write");
        const client = await clientV2(demo, token);
        const preview = async (text: string) => {
          const r = await client.callTool({ name: "add_note", arguments: { text } });
          return (r.structuredContent as { confirmationToken: string }).confirmationToken;
        };
        const confirm = (confirmationToken: string, idempotencyKey: string) =>
          client.callTool({ name: "confirm", arguments: { confirmationToken, idempotencyKey } });

        // One idempotency key, 50 at once: every caller gets the one result.
        const t1 = await preview("same-key");
        const sameKey = await Promise.all(
          Array.from({ length: CONCURRENCY }, () => confirm(t1, "one-key")),
        );
        const okSame = sameKey.filter((r) => r.isError !== true).length;
        const runsSame = demo.mutations.filter((m) => m.args.text === "same-key").length;

        // One token, 50 different keys at once: the token works once.
        const t2 = await preview("many-keys");
        const manyKeys = await Promise.all(
          Array.from({ length: CONCURRENCY }, (_, i) => confirm(t2, `key-${i}`)),
        );
        const okMany = manyKeys.filter((r) => r.isError !== true).length;
        const runsMany = demo.mutations.filter((m) => m.args.text === "many-keys").length;

        const notes = await client.callTool({ name: "list_notes", arguments: {} });
        const texts = (notes.structuredContent as { notes: { text: string }[] }).notes
          .map((x) => x.text).sort();
        console.log(
          `[confirm ${d.name}] same key: ${runsSame} execution(s), ${okSame}/${CONCURRENCY} ` +
            `got the result; one token, ${CONCURRENCY} keys: ${runsMany} execution(s), ` +
            `${okMany} accepted; notes stored: ${texts.length}`,
        );
        if (d.strong) {
          assert.equal(runsSame, 1);
          assert.equal(okSame, CONCURRENCY);
          for (const r of sameKey) assert.deepEqual(r.content, sameKey[0].content);
          assert.equal(runsMany, 1);
          assert.equal(okMany, 1);
          assert.deepEqual(texts, ["many-keys", "same-key"]);
        } else {
          assert.ok(runsSame >= 1 && runsMany >= 1);
        }
        await client.close();
      } finally {
        await demo.close();
      }
    });

    test(`tool-call limit 50/hour: 60 concurrent calls`, async () => {
      const d = opened.byName(name);
      const demo = await startDemo({
        storage: d.make(),
        limits: { perSubject: { limit: 50, windowSeconds: 3600 }, perClient: false },
      });
      try {
        const token = await tokenFor(demo, "dave", "mcp:read");
        const call = () =>
          rawToolCall(demo, token, "echo", { text: "x" }, { protocolVersion: "2025-06-18" }).then(
            async (r) => {
              await r.body?.cancel();
              return r.status;
            },
          );
        const statuses = await Promise.all(Array.from({ length: 60 }, call));
        const ok = statuses.filter((s) => s === 200).length;
        const limited = statuses.filter((s) => s === 429).length;
        console.log(
          `[limit ${d.name}] 60 concurrent calls, limit 50: ${ok} served, ${limited} × 429`,
        );
        if (d.strong) {
          assert.equal(ok, 50);
          assert.equal(limited, 10);
        } else {
          assert.equal(ok + limited, 60);
        }
      } finally {
        await demo.close();
      }
    });
  });
}

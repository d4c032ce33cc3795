/**
 * `boundedFetch` (src/identity/_common.ts), the fetch every upstream call goes through. The
 * injected `fetch` here is a stand-in answering with in-memory streams: the point is how the
 * wrapper reads what comes back (cap, Content-Length, a body that never ends).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { BodyError } from "../../src/_body.ts";
import { boundedFetch, MAX_UPSTREAM_BODY } from "../../src/identity/_common.ts";

test("boundedFetch: a body within the cap is returned whole, status and headers kept", async () => {
  const f = boundedFetch(() =>
    Promise.resolve(Response.json({ ok: true }, { status: 201, headers: { "x-a": "1" } }))
  );
  const res = await f("https://up.example/x");
  assert.equal(res.status, 201);
  assert.equal(res.headers.get("x-a"), "1");
  assert.deepEqual(await res.json(), { ok: true });
});

test("boundedFetch: a declared Content-Length over the cap is refused without reading", async () => {
  let pulled = 0;
  let cancelled = false;
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      pulled++;
      c.enqueue(new Uint8Array(1024));
    },
    cancel() {
      cancelled = true;
    },
  });
  const f = boundedFetch(() =>
    Promise.resolve(
      new Response(body, { headers: { "content-length": String(MAX_UPSTREAM_BODY + 1) } }),
    )
  );
  await assert.rejects(
    f("https://up.example/x"),
    (e) => e instanceof BodyError && e.reason === "too_large",
  );
  assert.equal(cancelled, true);
  assert.ok(pulled <= 1, `read ${pulled} chunks of a body refused by its Content-Length`);
});

test("boundedFetch: an undeclared body past the cap is cut off and cancelled", async () => {
  let cancelled = false;
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      c.enqueue(new Uint8Array(64 * 1024));
    },
    cancel() {
      cancelled = true;
    },
  });
  const f = boundedFetch(() => Promise.resolve(new Response(body)));
  await assert.rejects(
    f("https://up.example/x"),
    (e) => e instanceof BodyError && e.reason === "too_large",
  );
  assert.equal(cancelled, true);
});

test("boundedFetch: the signal ends a body that never finishes, even when fetch ignores it", async () => {
  let cancelled = false;
  let started!: () => void;
  const reading = new Promise<void>((r) => started = r);
  const body = new ReadableStream<Uint8Array>({
    pull() {
      started();
      return new Promise(() => {}); // never delivers
    },
    cancel() {
      cancelled = true;
    },
  });
  const ac = new AbortController();
  // This stand-in ignores init.signal, as an injected fetch may.
  const f = boundedFetch(() => Promise.resolve(new Response(body)));
  const pending = f("https://up.example/x", { signal: ac.signal });
  await reading;
  ac.abort();
  await assert.rejects(pending, (e) => e instanceof BodyError && e.reason === "timeout");
  assert.equal(cancelled, true);
});

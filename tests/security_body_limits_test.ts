/**
 * Issue 8 item 5: every body is read as a bounded stream and abandoned at its cap, with
 * `Content-Length` checked first — request bodies on every endpoint (over a real socket,
 * `Deno.serve` + a lazily generated 300 MiB chunked upload), and on the resource side the
 * verifier's JWKS and introspection responses (a real local server streaming 300 MiB, or
 * trickling) and its form-body inspection. Cap exceeded → 413; too slow → fail closed (503 on
 * the resource side), never a 500.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { BodyError, readBounded } from "../src/_body.ts";
import { BODY_TIMEOUT_MS, MAX_BODY, readForm } from "../src/_http.ts";
import { OAuthError } from "../src/errors.ts";
import { createVerifier } from "../verify.ts";
import { createAuthServer } from "../mod.ts";

const MiB = 1024 * 1024;
const HUGE = 300 * MiB;

/**
 * A lazily generated body of `total` bytes; `pulled()` says how many bytes were produced,
 * `stop()` ends it early (so a client that keeps uploading after the answer stops producing).
 */
function lazyBody(total: number, byte = 0x61) {
  let pulled = 0;
  let stopped = false;
  const chunk = new Uint8Array(64 * 1024).fill(byte);
  const stream = new ReadableStream<Uint8Array>({
    pull(c) {
      if (stopped || pulled >= total) return c.close();
      pulled += chunk.length;
      c.enqueue(chunk.slice());
    },
  }, { highWaterMark: 0 });
  return {
    stream,
    pulled: () => pulled,
    stop: () => {
      stopped = true;
    },
  };
}

// ---------- the helper ----------

test("readBounded: Content-Length over the cap is refused before a byte is read", async () => {
  const body = lazyBody(HUGE);
  const req = new Request("http://x/", {
    method: "POST",
    body: body.stream,
    headers: { "content-length": String(HUGE) },
    duplex: "half",
  } as RequestInit);
  await assert.rejects(
    () => readBounded(req, 1024),
    (e) => e instanceof BodyError && e.reason === "too_large",
  );
  assert.equal(body.pulled(), 0);
});

test("readBounded: a stream is abandoned one chunk past the cap; exactly the cap is accepted", async () => {
  const body = lazyBody(HUGE);
  await assert.rejects(
    () => readBounded(body.stream, MAX_BODY),
    (e) => e instanceof BodyError && e.reason === "too_large",
  );
  assert.ok(body.pulled() <= MAX_BODY + 64 * 1024, `pulled ${body.pulled()}`);
  const exact = await readBounded(lazyBody(MAX_BODY).stream, MAX_BODY);
  assert.equal(exact.byteLength, MAX_BODY);
  assert.equal((await readBounded(null, 10)).byteLength, 0);
  const used = new Response("abc");
  await used.text();
  await assert.rejects(() => readBounded(used, 10), (e) => e instanceof BodyError);
});

test("readBounded: a stalled stream ends in a timeout error and is cancelled", async () => {
  let cancelled = false;
  const stalled = new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(new Uint8Array([1]));
    },
    cancel() {
      cancelled = true;
    },
  });
  await assert.rejects(
    () => readBounded(stalled, 1024, { timeoutMs: 1 }),
    (e) => e instanceof BodyError && e.reason === "timeout",
  );
  assert.equal(cancelled, true);
  const ac = new AbortController();
  ac.abort();
  await assert.rejects(
    () => readBounded(lazyBody(10).stream, 1024, { signal: ac.signal }),
    (e) => e instanceof BodyError && e.reason === "timeout",
  );
});

// ---------- every endpoint, over a real socket ----------

const auth = createAuthServer({
  issuer: "http://127.0.0.1:1",
  resources: ["http://127.0.0.1:1/mcp"],
  authenticate: () => "alice",
  quiet: true,
});
let serverRead = 0;
const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
  // Count what the endpoint actually pulls from the socket.
  const counted = req.body?.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(c, ctl) {
        serverRead += c.byteLength;
        ctl.enqueue(c);
      },
    }),
  );
  return auth.handle(
    new Request(req.url, { method: req.method, headers: req.headers, body: counted }),
  );
});
after(() => server.shutdown());
const origin = `http://127.0.0.1:${server.addr.port}`;

const ENDPOINTS: [string, string][] = [
  ["/register", "application/json"],
  ["/token", "application/x-www-form-urlencoded"],
  ["/authorize", "application/x-www-form-urlencoded"],
  ["/introspect", "application/x-www-form-urlencoded"],
  ["/revoke", "application/x-www-form-urlencoded"],
];

for (const [path, type] of ENDPOINTS) {
  test(`${path}: a 300 MiB chunked upload is refused with 413 after reading at most 256 KiB`, async () => {
    serverRead = 0;
    const body = lazyBody(HUGE);
    const rss0 = Deno.memoryUsage().rss;
    const res = await fetch(origin + path, {
      method: "POST",
      headers: { "content-type": type },
      body: body.stream,
      duplex: "half",
    } as RequestInit);
    const produced = body.pulled();
    body.stop();
    const text = await res.text();
    const growth = Deno.memoryUsage().rss - rss0;
    assert.equal(res.status, 413, text);
    if (path === "/authorize") assert.match(res.headers.get("content-type")!, /^text\/html/);
    else assert.equal(JSON.parse(text).error, "invalid_request");
    assert.ok(serverRead <= 256 * 1024, `server read ${serverRead} bytes`);
    // The client produced what the socket buffers held, not the 300 MiB.
    assert.ok(produced <= 32 * MiB, `client produced ${produced} bytes`);
    assert.ok(growth < 64 * MiB, `memory grew ${growth} bytes`);
  });

  test(`${path}: Content-Length over the cap → 413 before any body byte is read`, async () => {
    serverRead = 0;
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
    try {
      await conn.write(
        new TextEncoder().encode(
          `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: ${type}\r\n` +
            `Content-Length: ${HUGE}\r\nConnection: close\r\n\r\n`,
        ),
      );
      const buf = new Uint8Array(2048);
      const n = await conn.read(buf);
      const head = new TextDecoder().decode(buf.subarray(0, n ?? 0));
      assert.match(head, /^HTTP\/1\.1 413 /);
      assert.equal(serverRead, 0);
    } finally {
      conn.close();
    }
  });
}

// ---------- resource side ----------

/** A local server whose responses are whatever `respond` streams; counts bytes produced. */
function upstream(respond: () => Response) {
  const s = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => respond());
  return { url: `http://127.0.0.1:${s.addr.port}`, close: () => s.shutdown() };
}

/** `{"keys":[` followed by whitespace forever (a valid JSON prefix): only a cap can stop it. */
function endlessJson(prefix: string) {
  let produced = 0;
  const head = new TextEncoder().encode(prefix);
  const pad = new Uint8Array(64 * 1024).fill(0x20);
  const stream = () =>
    new ReadableStream<Uint8Array>({
      pull(c) {
        if (produced >= HUGE) return c.close();
        const chunk = produced === 0 ? head : pad;
        produced += chunk.length;
        c.enqueue(chunk.slice());
      },
    }, { highWaterMark: 0 });
  return { stream, produced: () => produced };
}

/** Sends the first bytes, then nothing (the connection stays open). */
function trickle(prefix: string) {
  return new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(new TextEncoder().encode(prefix));
    },
  });
}

const ISS = "https://as.example.com";
const AUD = "https://mcp.example.com/mcp";
const token = `${btoa('{"alg":"EdDSA","typ":"at+jwt","kid":"k1"}')}.e30.c2ln`.replaceAll("=", "");

test("verifier JWKS: a 300 MiB JWKS is abandoned at 64 KiB → 503, no 500, keys unavailable", async () => {
  const body = endlessJson('{"keys":[');
  const up = upstream(() =>
    new Response(body.stream(), { headers: { "content-type": "application/json" } })
  );
  try {
    const v = createVerifier({ issuer: ISS, audience: AUD, jwksUri: up.url + "/jwks" });
    const r = await v.verify(token);
    assert.equal(r.ok, false);
    assert.equal(r.ok ? 0 : r.status, 503);
    assert.equal(r.ok ? "" : r.error, "temporarily_unavailable");
    assert.ok(body.produced() <= 32 * MiB, `upstream produced ${body.produced()} bytes`);
  } finally {
    await up.close();
  }
});

test("verifier JWKS: a trickling JWKS times out → 503 (fail closed)", async () => {
  const up = upstream(() =>
    new Response(trickle('{"keys":['), { headers: { "content-type": "application/json" } })
  );
  try {
    const v = createVerifier({
      issuer: ISS,
      audience: AUD,
      jwksUri: up.url + "/jwks",
      jwksCache: { timeoutMs: 200 },
    });
    const r = await v.verify(token);
    assert.equal(r.ok ? 0 : r.status, 503);
  } finally {
    await up.close();
  }
});

test("verifier introspection: 300 MiB answer abandoned at 64 KiB, trickle and silence time out → 503", async () => {
  const body = endlessJson('{"active":true,"aud":"' + AUD + '"');
  const big = upstream(() =>
    new Response(body.stream(), { headers: { "content-type": "application/json" } })
  );
  const slow = upstream(() =>
    new Response(trickle('{"active":'), { headers: { "content-type": "application/json" } })
  );
  let release: () => void = () => {};
  const silent = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Promise<Response>((r) => (release = () => r(new Response("{}")))),
  );
  try {
    const mk = (endpoint: string) =>
      createVerifier({
        issuer: ISS,
        audience: AUD,
        introspection: { endpoint, clientId: "rs", clientSecret: "secret", timeoutMs: 200 },
      });
    for (
      const endpoint of [big.url, slow.url, `http://127.0.0.1:${silent.addr.port}`]
    ) {
      const r = await mk(endpoint).verify("opaque-token");
      assert.equal(r.ok, false, endpoint);
      assert.equal(r.ok ? 0 : r.status, 503, endpoint);
      assert.equal(r.ok ? "" : r.error, "temporarily_unavailable");
    }
    assert.ok(body.produced() <= 32 * MiB, `upstream produced ${body.produced()} bytes`);
  } finally {
    release();
    await Promise.all([big.close(), slow.close(), silent.shutdown()]);
  }
});

test("verifier: a 300 MiB form body is not buffered to look for access_token → 413", async () => {
  const body = lazyBody(HUGE);
  const v = createVerifier({ issuer: ISS, audience: AUD, keys: [] });
  const r = await v.verify(
    new Request(AUD, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", authorization: "Bearer x" },
      body: body.stream,
      duplex: "half",
    } as RequestInit),
  );
  assert.equal(r.ok ? 0 : r.status, 413);
  assert.ok(body.pulled() <= 256 * 1024, `read ${body.pulled()} bytes`);
});

test("a request body that stops arriving → 408 invalid_request (the endpoints allow 10 s)", async () => {
  const stalled = new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(new TextEncoder().encode("grant_type=refresh"));
    },
  });
  const req = new Request("http://x/token", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: stalled,
    duplex: "half",
  } as RequestInit);
  await assert.rejects(
    () => readForm(req, 5),
    (e) => e instanceof OAuthError && e.status === 408 && e.code === "invalid_request",
  );
  assert.equal(BODY_TIMEOUT_MS, 10_000);
});

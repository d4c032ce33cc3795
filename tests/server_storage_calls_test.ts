/**
 * Storage calls on the token path (issue 12), counted by wrapping the driver.
 * The counts are deterministic, so they are asserted exactly; the README's
 * per-flow numbers come from here. On Workers KV a `swap` or
 * `compareAndSwap` is one KV get plus one KV put, less the get when the
 * driver's read memo holds the value the caller just read (the last test
 * counts a whole flow on Miniflare's KV).
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { memoryStorage } from "../storage/memory.ts";
import type { Storage } from "../storage/mod.ts";
import { workersKvStorage } from "../storage/workers_kv.ts";
import type { KvNamespaceLike } from "../storage/workers_kv.ts";
import { startWorkerd } from "./support/workerd.ts";
import type { WorkerdHarness } from "./support/workerd.ts";
import {
  authorizePage,
  basic,
  codeFor,
  confidentialTokens,
  consentFields,
  REDIRECT,
  refreshOk,
  refreshWith,
  register,
  RESOURCE,
  testServer,
  tokensFor,
} from "./support/flow.ts";

type Counts = Record<string, number>;

/** Counts every driver call as `op key-kind` (e.g. `get grant`). */
function counting(inner: Storage): Storage & { take: () => Counts } {
  let counts: Counts = {};
  const count = (op: string, key: readonly string[]) => {
    const k = `${op} ${key[0] ?? ""}`;
    counts[k] = (counts[k] ?? 0) + 1;
  };
  return {
    name: inner.name,
    consistency: inner.consistency,
    get: (k) => (count("get", k), inner.get(k)),
    set: (k, v) => (count("set", k), inner.set(k, v)),
    delete: (k) => (count("delete", k), inner.delete(k)),
    swap: (k, v) => (count("swap", k), inner.swap(k, v)),
    compareAndSwap: (k, e, v) => (count("compareAndSwap", k), inner.compareAndSwap(k, e, v)),
    list: (p, o) => (count("list", p), inner.list(p, o)),
    take: () => {
      const out = counts;
      counts = {};
      return out;
    },
  };
}

/** Workers KV operations for driver calls: swap / compareAndSwap = get + put. */
function kvOps(c: Counts): { gets: number; puts: number } {
  let gets = 0;
  let puts = 0;
  for (const [k, n] of Object.entries(c)) {
    const op = k.split(" ")[0];
    if (op === "get") gets += n;
    if (op === "set") puts += n;
    if (op === "swap" || op === "compareAndSwap") (gets += n, puts += n);
  }
  return { gets, puts };
}

test("public client: code exchange 2 calls, each refresh 2 (the grant: read + compare-and-swap)", async () => {
  const storage = counting(memoryStorage());
  const s = await testServer({ storage, rateLimits: false }); // the token path alone
  const client = await register(s);
  const { code, verifier } = await codeFor(s, client.client_id);
  storage.take();
  const res = await s.form("/token", {
    grant_type: "authorization_code",
    code,
    code_verifier: verifier,
    redirect_uri: REDIRECT,
    client_id: client.client_id,
    resource: RESOURCE,
  });
  assert.equal(res.status, 200);
  let t = await res.json();
  const exchange = storage.take();
  assert.deepEqual(exchange, { "get grant": 1, "compareAndSwap grant": 1 });
  assert.deepEqual(kvOps(exchange), { gets: 2, puts: 1 }); // the KV driver skips one get: below
  // The first refresh is the same; every later one adds the tombstone of the token the
  // rotation displaces from the grant's `previous` slot (one put).
  for (const which of ["first", "second"]) {
    const r = await refreshWith(s, t.refresh_token, client.client_id);
    assert.equal(r.status, 200);
    t = await r.json();
    const refresh = storage.take();
    assert.deepEqual(refresh, {
      "get grant": 1,
      "compareAndSwap grant": 1,
      ...(which === "second" ? { "set refresh": 1 } : {}),
    }, `${which} refresh`);
  }
});

test("a refresh that extends the grant (once per refresh lifetime) costs nothing extra", async () => {
  const storage = counting(memoryStorage());
  const s = await testServer({
    storage,
    refreshTokenTtl: 3600,
    accessTokenTtl: 900,
    rateLimits: false, // the token path alone
  });
  let t = await tokensFor(s);
  const exp = async () => (await s.auth.admin.listGrants({ clientId: t.client_id }))[0].expiresAt;
  // [hours later, whether this refresh must extend the grant]
  const steps: [number, boolean][] = [[0.9, false], [0.9, true]];
  for (const [hours, extends_] of steps) {
    const before = await exp();
    s.advance(hours * 3_600_000);
    storage.take();
    const r = await refreshWith(s, t.refresh_token, t.client_id);
    assert.equal(r.status, 200);
    t = { ...t, ...(await r.json()) };
    assert.deepEqual(storage.take(), {
      "get grant": 1,
      "compareAndSwap grant": 1,
      // The token displaced from `previous` has expired (1 h): no tombstone is needed.
    });
    assert.equal((await exp()) !== before, extends_);
    storage.take();
  }
});

test("a retry inside the reuse window: 2 calls, the grant (the sealed pair is in it) and the client", async () => {
  const storage = counting(memoryStorage());
  const s = await testServer({ storage, rateLimits: false }); // the token path alone
  const t = await tokensFor(s);
  const first = await refreshWith(s, t.refresh_token, t.client_id);
  assert.equal(first.status, 200);
  const pair = await first.json();
  storage.take();
  const retry = await refreshWith(s, t.refresh_token, t.client_id);
  assert.equal(retry.status, 200);
  const again = await retry.json();
  assert.equal(again.refresh_token, pair.refresh_token, "the same successor");
  assert.equal(again.access_token, pair.access_token);
  // The presented token is the grant's `previous` one, which carries no client snapshot: the
  // client is read; nothing is written.
  assert.deepEqual(storage.take(), { "get grant": 1, "get client": 1 });
});

test("confidential client: the client record is read (its secret is checked)", async () => {
  const storage = counting(memoryStorage());
  const s = await testServer({ storage, rateLimits: false }); // the token path alone
  const client = await register(s, { token_endpoint_auth_method: "client_secret_basic" });
  const { code, verifier } = await codeFor(s, client.client_id);
  storage.take();
  const auth = { authorization: basic(client.client_id, client.client_secret!) };
  const res = await s.form("/token", {
    grant_type: "authorization_code",
    code,
    code_verifier: verifier,
    redirect_uri: REDIRECT,
  }, auth);
  assert.equal(res.status, 200);
  const t = await res.json();
  assert.equal(storage.take()["get client"], 1);
  const r = await s.form(
    "/token",
    { grant_type: "refresh_token", refresh_token: t.refresh_token },
    auth,
  );
  assert.equal(r.status, 200);
  assert.equal(storage.take()["get client"], 1);
  // A wrong secret is still refused although the code record is read first.
  const bad = await s.form("/token", {
    grant_type: "refresh_token",
    refresh_token: (await r.json()).refresh_token,
  }, { authorization: basic(client.client_id, "wrong") });
  assert.equal(bad.status, 401);
});

test("confidential client: /token reads the client and the grant together, not one after the other", async () => {
  // The grant's read answers only once the client's read has started (or, were they sequential,
  // after 50 turns of the event loop, and the overlap below is then false).
  const inner = memoryStorage();
  let clientReadStarted = () => {};
  let gate: Promise<void> | undefined;
  const log: string[] = [];
  const storage: Storage = {
    ...inner,
    name: inner.name,
    consistency: inner.consistency,
    get: async (k) => {
      if (gate && k[0] === "client") (log.push("client read"), clientReadStarted());
      if (gate && k[0] === "grant") {
        log.push("grant read");
        await gate;
        log.push("grant answered");
      }
      return await inner.get(k);
    },
  };
  const s = await testServer({ storage, rateLimits: false });
  const t = await confidentialTokens(s);
  for (const _ of [1, 2]) {
    log.length = 0;
    gate = new Promise<void>((resolve) => {
      let open = false;
      clientReadStarted = () => (open = true, resolve());
      let turns = 50;
      const tick = () => open ? undefined : --turns > 0 ? setTimeout(tick, 0) : resolve();
      tick();
    });
    const res = await s.form("/token", {
      grant_type: "refresh_token",
      refresh_token: t.refresh_token,
    }, t.auth);
    assert.equal(res.status, 200);
    t.refresh_token = (await res.json()).refresh_token;
    assert.ok(
      log.indexOf("client read") < log.indexOf("grant answered"),
      `client read while the grant read was pending: ${log.join(", ")}`,
    );
  }
  gate = undefined;
});

test("a public client presenting another client's code or refresh token is still refused", async () => {
  const s = await testServer();
  const t = await tokensFor(s);
  const other = await register(s);
  const r = await refreshWith(s, t.refresh_token, other.client_id);
  assert.equal(r.status, 400);
  assert.equal((await r.json()).error, "invalid_grant");
  const unknown = await refreshWith(s, t.refresh_token, "no-such-client");
  assert.equal(unknown.status, 401);
  assert.equal((await unknown.json()).error, "invalid_client");
  // The token was not consumed by those attempts.
  const ok = await refreshWith(s, t.refresh_token, t.client_id);
  assert.equal(ok.status, 200);
});

test("/revoke reads each record once: an unknown token 1 grant + 1 tombstone read; a rotated one ends its grant", async () => {
  const storage = counting(memoryStorage());
  const s = await testServer({ storage, rateLimits: false });
  const t = await tokensFor(s);
  const next = await refreshOk(s, t.refresh_token, t.client_id);
  await refreshOk(s, String(next.refresh_token), t.client_id); // t.refresh_token: tombstoned now
  const revoke = async (token: string) => {
    storage.take();
    const res = await s.form("/revoke", { token, client_id: t.client_id });
    assert.equal(res.status, 200);
    return storage.take();
  };
  const grantId = t.refresh_token.split(".")[0];
  assert.deepEqual(await revoke(`${grantId}.${"A".repeat(43)}`), {
    "get client": 1,
    "get grant": 1,
    "get refresh": 1,
  });
  assert.deepEqual(await revoke("not-a-token"), { "get client": 1, "get refresh": 1 });
  assert.equal(s.events.filter((e) => e.type === "token.revoked").length, 0);
  // Two rotations back: the grant, the tombstone, then the revocation's own read and write.
  assert.deepEqual(await revoke(t.refresh_token), {
    "get client": 1,
    "get grant": 2,
    "get refresh": 1,
    "compareAndSwap grant": 1,
  });
  assert.equal(s.events.filter((e) => e.type === "token.revoked").length, 1);
  // Again: the grant is revoked already, so nothing is written and nothing reported.
  assert.deepEqual(await revoke(t.refresh_token), {
    "get client": 1,
    "get grant": 2,
    "get refresh": 1,
  });
  assert.equal(s.events.filter((e) => e.type === "token.revoked").length, 1);
  assert.equal((await refreshWith(s, String(next.refresh_token), t.client_id)).status, 400);
});

let workerd: WorkerdHarness;
before(async () => {
  workerd = await startWorkerd();
});
after(async () => {
  await workerd.dispose();
});

test("a full flow on Workers KV (Miniflare's local KV): 11 KV calls, per step", async () => {
  // The real KV binding (Miniflare), counted. The driver's read-memo clock is held still, so
  // the count does not depend on how fast this machine is (entries are trusted < 1 s).
  const kv = await workerd.mf.getKVNamespace("KV") as unknown as KvNamespaceLike;
  let calls: string[] = [];
  const counted: KvNamespaceLike = {
    get: (k) => (calls.push(`get ${k.split(":")[1]}`), kv.get(k)),
    put: (k, v, o) => (calls.push(`put ${k.split(":")[1]}`), kv.put(k, v, o)),
    delete: (k) => (calls.push(`delete ${k.split(":")[1]}`), kv.delete(k)),
    list: (o) => (calls.push("list"), kv.list(o)),
  };
  const t0 = Date.now();
  const storage = workersKvStorage(counted, { prefix: "flow:", now: () => t0 });
  const s = await testServer({ storage, rateLimits: false });
  const take = () => {
    const out = calls.sort();
    calls = [];
    return out;
  };
  const client = await register(s);
  assert.deepEqual(take(), ["put client"], "register");
  const { res, verifier } = await authorizePage(s, client.client_id);
  assert.equal(res.status, 200);
  const fields = consentFields(await res.text());
  assert.deepEqual(take(), ["get client"], "consent page");
  const approved = await s.form("/authorize", { ...fields, decision: "approve" });
  assert.equal(approved.status, 302);
  // The grant is created only where absent (get + put; the consent answer's single use); the
  // client read is the compare-and-swap's expected value (put only: the memo).
  assert.deepEqual(take(), ["get client", "get grant", "put client", "put grant"], "approve");
  const code = new URL(approved.headers.get("location")!).searchParams.get("code")!;
  const tok = await s.form("/token", {
    grant_type: "authorization_code",
    code,
    code_verifier: verifier,
    redirect_uri: REDIRECT,
    client_id: client.client_id,
  });
  assert.equal(tok.status, 200);
  const t = await tok.json();
  assert.deepEqual(take(), ["get grant", "put grant"], "code exchange");
  assert.equal((await s.auth.verify(t.access_token)).ok, true);
  assert.deepEqual(take(), ["get grant"], "/mcp (strict revocation check)");
  const r = await refreshWith(s, t.refresh_token, client.client_id);
  assert.equal(r.status, 200);
  await r.body?.cancel();
  assert.deepEqual(take(), ["get grant", "put grant"], "refresh");
});

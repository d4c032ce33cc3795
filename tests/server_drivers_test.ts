/**
 * The authorization server on every storage driver, each on its real
 * backend: memory, Deno KV, Upstash (@upstash/redis → REST bridge →
 * redis-server), Workers KV and a Durable Object inside workerd (Miniflare).
 * Full flow, concurrency (single-use codes, refresh rotation) and faults.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { memoryStorage } from "../storage/memory.ts";
import type { Storage } from "../storage/mod.ts";
import { isLive } from "../storage/mod.ts";
import { ALL_DRIVERS, type OpenDrivers, openStrongDrivers } from "./support/strong_drivers.ts";
import {
  authorize,
  pkce,
  REDIRECT,
  refreshWith,
  register,
  RESOURCE,
  testServer,
  tokensFor,
} from "./support/flow.ts";
import type { TestServer } from "./support/flow.ts";

let opened: OpenDrivers;
before(async () => {
  opened = await openStrongDrivers({ bridgeTimeoutMs: 1000 });
});
after(async () => {
  await opened.close();
});

async function codeFor(s: TestServer, clientId: string) {
  const { verifier, challenge } = await pkce();
  const loc = await authorize(s, clientId, { challenge });
  return { code: loc.searchParams.get("code")!, verifier };
}

for (const name of ALL_DRIVERS) {
  describe(`server on ${name}`, () => {
    test("full flow: register, authorize, exchange, verify, refresh, reuse detection, revoke", async () => {
      const d = opened.byName(name);
      const s = await testServer({ storage: d.make() });
      const t = await tokensFor(s, { scope: "mcp:read mcp:write" });
      assert.equal((await s.auth.verify(t.access_token)).ok, true);
      const r = await refreshWith(s, t.refresh_token, t.client_id);
      assert.equal(r.status, 200);
      const rotated = await r.json();
      assert.equal((await s.auth.verify(rotated.access_token)).ok, true);
      assert.equal((await s.auth.admin.listGrants({ subject: "alice" })).length, 1);
      const rev = await s.form("/revoke", { token: rotated.access_token, client_id: t.client_id });
      assert.equal(rev.status, 200);
      assert.equal((await s.auth.verify(rotated.access_token)).ok, false);
      const dead = await refreshWith(s, rotated.refresh_token, t.client_id);
      assert.equal(dead.status, 400);
      assert.equal((await s.auth.admin.listGrants({ subject: "alice" })).length, 0);
    });

    test("200 simultaneous redemptions of one code", async () => {
      const d = opened.byName(name);
      const s = await testServer({ storage: d.make() });
      const client = await register(s);
      const { code, verifier } = await codeFor(s, client.client_id);
      const results = await Promise.all(
        Array.from({ length: 200 }, () =>
          s.form("/token", {
            grant_type: "authorization_code",
            code,
            code_verifier: verifier,
            redirect_uri: REDIRECT,
            client_id: client.client_id,
            resource: RESOURCE,
          }).then(async (res) => ({ status: res.status, body: await res.json() }))),
      );
      const ok = results.filter((r) => r.status === 200).length;
      assert.ok(
        results.every((r) =>
          r.status === 200 || (r.status === 400 && r.body.error === "invalid_grant")
        ),
      );
      if (d.strong) {
        assert.equal(ok, 1, `exactly one token on ${d.name}`);
      } else {
        // Workers KV is eventually consistent: get-then-put cannot be atomic. In local workerd
        // the observed count is printed so the README can report it; at least one succeeds.
        console.log(`[observed] ${d.name}: ${ok} of 200 concurrent code redemptions got a token`);
        assert.ok(ok >= 1);
      }
      // Replay detected: the grant is revoked, so the winner's token is dead too (strict verify).
      const winner = results.find((r) => r.status === 200);
      assert.equal((await s.auth.verify(winner!.body.access_token)).ok, false);
      assert.ok(s.events.some((e) => e.type === "code.replay_detected"));
    });

    test("200 simultaneous refreshes of one token: one rotation, every caller gets the same working pair", async () => {
      const d = opened.byName(name);
      const storage = d.make();
      const s = await testServer({ storage });
      const t = await tokensFor(s);
      const results = await Promise.all(
        Array.from({ length: 200 }, () =>
          refreshWith(s, t.refresh_token, t.client_id)
            .then(async (res) => ({ status: res.status, body: await res.json() }))),
      );
      const ok = results.filter((r) => r.status === 200);
      const pairs = new Set(ok.map((r) => `${r.body.access_token} ${r.body.refresh_token}`));
      const refreshTokens = new Set(ok.map((r) => r.body.refresh_token as string));
      const live = await liveRefreshTokens(storage, refreshTokens);
      const reuse = s.events.filter((e) => e.type === "refresh.reuse_detected").length;
      if (d.strong) {
        assert.equal(ok.length, 200, JSON.stringify(results.find((r) => r.status !== 200)));
        assert.equal(pairs.size, 1, "every caller got the same successor pair");
        assert.equal(live, 1, "exactly one rotation in storage: the grant's current token");
        assert.equal(reuse, 0);
        assert.equal(s.events.filter((e) => e.type === "grant.revoked").length, 0);
        // The pair works: the access token verifies, the refresh token rotates.
        const [only] = ok;
        assert.equal((await s.auth.verify(only.body.access_token)).ok, true);
        assert.notEqual(only.body.refresh_token, t.refresh_token);
        const next = await refreshWith(s, only.body.refresh_token, t.client_id);
        assert.equal(next.status, 200);
      } else {
        const working = [];
        for (const rt of refreshTokens) {
          const next = await refreshWith(s, rt, t.client_id);
          if (next.status === 200) working.push(rt);
          await next.body?.cancel();
        }
        console.log(
          `[observed] ${d.name}: 200 concurrent refreshes → ${ok.length} answered 200, ` +
            `${pairs.size} distinct pairs, ${live} of them the grant's current token, ${reuse} reuse detections, ` +
            `${working.length} of the distinct refresh tokens still refreshable`,
        );
        assert.ok(ok.length >= 1);
      }
    });
  });
}

/** How many of `tokens` are a grant's current (unrotated, unexpired) refresh token in storage. */
async function liveRefreshTokens(storage: Storage, tokens: Set<string>): Promise<number> {
  const hashes = new Set(await Promise.all([...tokens].map(sha256b64)));
  const entries = await storage.list(["grant"]);
  return entries.filter((e) => {
    const slot = (e.value.data as { refresh?: { hash: string; exp: number } }).refresh;
    return isLive(e.value, Date.now()) && slot && slot.exp > Date.now() && hashes.has(slot.hash);
  }).length;
}

/** SHA-256, base64url (how storage keeps token hashes). */
async function sha256b64(text: string): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
  return btoa(String.fromCharCode(...d)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** A driver that fails on demand, to check that outages give 503 and leave nothing half-written. */
function flaky(inner: Storage): Storage & { fail: (ops: string[] | null) => void } {
  let failing: string[] | null = null;
  const guard = <T>(op: string, f: () => Promise<T>) =>
    failing && failing.includes(op) ? Promise.reject(new Error(`backend down (${op})`)) : f();
  return {
    name: "flaky",
    consistency: inner.consistency,
    fail: (ops) => {
      failing = ops;
    },
    get: (k) => guard("get", () => inner.get(k)),
    set: (k, v) => guard("set", () => inner.set(k, v)),
    delete: (k) => guard("delete", () => inner.delete(k)),
    swap: (k, v) => guard("swap", () => inner.swap(k, v)),
    compareAndSwap: (k, e, v) => guard("compareAndSwap", () => inner.compareAndSwap(k, e, v)),
    list: (p, o) => guard("list", () => inner.list(p, o)),
  };
}

describe("storage faults", () => {
  test("a throwing backend gives 503 temporarily_unavailable JSON on every endpoint, then recovers", async () => {
    const store = flaky(memoryStorage());
    const s = await testServer({ storage: store });
    const client = await register(s);
    const { code, verifier } = await codeFor(s, client.client_id);
    store.fail(["get", "set", "swap", "compareAndSwap", "delete", "list"]);
    const reg = await s.call("/register", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ redirect_uris: [REDIRECT], token_endpoint_auth_method: "none" }),
    });
    assert.equal(reg.status, 503);
    assert.deepEqual(Object.keys(await reg.json()).sort(), ["error", "error_description"]);
    const tok = await s.form("/token", {
      grant_type: "authorization_code",
      code,
      code_verifier: verifier,
      redirect_uri: REDIRECT,
      client_id: client.client_id,
    });
    assert.equal(tok.status, 503);
    assert.equal((await tok.json()).error, "temporarily_unavailable");
    const page = await s.call(`/authorize?client_id=${client.client_id}&response_type=code`);
    assert.equal(page.status, 503);
    assert.match(page.headers.get("content-type")!, /text\/html/);
    await page.body?.cancel();
    // Recovery: the code was not consumed by the failed attempt.
    store.fail(null);
    const ok = await s.form("/token", {
      grant_type: "authorization_code",
      code,
      code_verifier: verifier,
      redirect_uri: REDIRECT,
      client_id: client.client_id,
    });
    assert.equal(ok.status, 200);
  });

  test("failure while rotating a refresh token leaves the old token usable (nothing half-written)", async () => {
    const store = flaky(memoryStorage());
    const s = await testServer({ storage: store });
    const t = await tokensFor(s);
    store.fail(["compareAndSwap"]);
    const fail = await refreshWith(s, t.refresh_token, t.client_id);
    assert.equal(fail.status, 503);
    await fail.body?.cancel();
    store.fail(null);
    const ok = await refreshWith(s, t.refresh_token, t.client_id);
    assert.equal(ok.status, 200);
    assert.equal(s.events.filter((e) => e.type === "refresh.reuse_detected").length, 0);
  });

  test("Redis stopped mid-run: 503, and the next request after restart succeeds", async () => {
    const s = await testServer({
      storage: opened.upstash(),
    });
    await register(s);
    await opened.redis.stop();
    try {
      const down = await s.call("/register", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ redirect_uris: [REDIRECT], token_endpoint_auth_method: "none" }),
      });
      assert.equal(down.status, 503);
      assert.equal((await down.json()).error, "temporarily_unavailable");
    } finally {
      await opened.redis.restart();
    }
    const up = await register(s);
    assert.ok(up.client_id);
  });
});

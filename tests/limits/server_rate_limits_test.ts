/**
 * Rate limits on the authorization-server endpoints: per client IP (from
 * the connection info `handle(req, info)` receives, as `Deno.serve` passes
 * it, or a trusted extractor) and per client id. Over the limit: 429 with
 * Retry-After, an RFC 6749-shaped JSON body, or an HTML page on /authorize.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { DEFAULT_LIMITS, headerClientIp } from "../../src/limits/mod.ts";
import {
  authorizeQuery,
  basic,
  pkce,
  REDIRECT,
  refreshWith,
  register,
  RESOURCE,
  testServer,
  tokensFor,
} from "../support/flow.ts";
import type { TestServer } from "../support/flow.ts";

const ISSUER = "https://as.example.com";

/**
 * Windows are fixed (aligned to the epoch): a server whose clock starts 1 s
 * into a window a few minutes ahead, so no test straddles a window boundary.
 * (Ahead, not behind: drivers drop counters whose expiry is past by the real clock.)
 */
function limitedServer(overrides: Parameters<typeof testServer>[0] = {}) {
  let t = (Math.floor(Date.now() / 60_000) + 5) * 60_000 + 1000;
  return testServer({ now: () => t, ...overrides }).then((s) => ({
    ...s,
    advance: (ms: number) => {
      t += ms;
    },
  }));
}
const from = (ip: string) => ({ remoteAddr: { hostname: ip, port: 50000, transport: "tcp" } });

function token(s: TestServer, ip: string, fields: Record<string, string>, headers = {}) {
  return s.auth.handle(
    new Request(ISSUER + "/token", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
      body: new URLSearchParams(fields).toString(),
    }),
    from(ip),
  );
}

const badCode = (clientId: string) => ({
  grant_type: "authorization_code",
  code: "nope",
  code_verifier: "v".repeat(43),
  redirect_uri: REDIRECT,
  client_id: clientId,
});

test("per IP on /token: the 121st request in a minute is 429 with Retry-After and a JSON error; other IPs and the next window pass", async () => {
  const s = await limitedServer();
  const c = await register(s);
  const limit = DEFAULT_LIMITS.token.ip && DEFAULT_LIMITS.token.ip.limit;
  assert.equal(limit, 120);
  const statuses: number[] = [];
  for (let i = 0; i < limit + 1; i++) {
    const res = await token(s, "198.51.100.1", badCode(c.client_id));
    statuses.push(res.status);
    if (i < limit) await res.body?.cancel();
    else {
      assert.equal(res.status, 429);
      const retry = Number(res.headers.get("retry-after"));
      assert.ok(retry >= 1 && retry <= 60, `Retry-After ${retry}`);
      assert.equal(res.headers.get("access-control-allow-origin"), "*");
      assert.equal(res.headers.get("content-type"), "application/json");
      const body = await res.json();
      assert.equal(body.error, "temporarily_unavailable");
      assert.match(body.error_description, /Too many requests/);
    }
  }
  assert.equal(
    statuses.filter((x) => x === 400).length,
    limit,
    "all earlier requests were answered",
  );
  const other = await token(s, "198.51.100.2", badCode(c.client_id));
  assert.equal(other.status, 400);
  await other.body?.cancel();
  s.advance(60_000);
  const later = await token(s, "198.51.100.1", badCode(c.client_id));
  assert.equal(later.status, 400, "a new window");
  await later.body?.cancel();
});

test("per client on /token: one client over its limit is refused from any IP; other clients pass", async () => {
  const s = await limitedServer({
    rateLimits: { token: { client: { limit: 5, windowSeconds: 60 } } },
  });
  const a = await register(s);
  const b = await register(s);
  for (let i = 0; i < 5; i++) {
    const r = await token(s, `203.0.113.${i}`, badCode(a.client_id));
    assert.equal(r.status, 400);
    await r.body?.cancel();
  }
  const over = await token(s, "203.0.113.99", badCode(a.client_id));
  assert.equal(over.status, 429);
  assert.equal((await over.json()).error, "temporarily_unavailable");
  const okB = await token(s, "203.0.113.99", badCode(b.client_id));
  assert.equal(okB.status, 400);
  await okB.body?.cancel();
  // One audit event for the first refusal of the window, not one per 429.
  const again = await token(s, "203.0.113.98", badCode(a.client_id));
  assert.equal(again.status, 429);
  await again.body?.cancel();
  const limited = s.events.filter((e) => e.type === "rate_limited");
  assert.equal(limited.length, 1);
  assert.equal(limited[0].clientId, a.client_id);
  assert.equal(limited[0].reason, "token per-client limit");
});

test("/authorize over the limit: an HTML 429 page, never a redirect", async () => {
  const s = await limitedServer({
    rateLimits: { authorize: { ip: { limit: 2, windowSeconds: 60 } } },
  });
  const c = await register(s);
  const { challenge } = await pkce();
  const q = authorizeQuery({
    response_type: "code",
    client_id: c.client_id,
    redirect_uri: REDIRECT,
    code_challenge: challenge,
    code_challenge_method: "S256",
    resource: RESOURCE,
  });
  const go = () => s.auth.handle(new Request(ISSUER + q), from("192.0.2.1"));
  for (let i = 0; i < 2; i++) assert.equal((await go()).status, 200);
  const res = await go();
  assert.equal(res.status, 429);
  assert.equal(res.headers.get("location"), null);
  assert.match(res.headers.get("content-type")!, /text\/html/);
  assert.ok(Number(res.headers.get("retry-after")) >= 1);
  // The page's inline style is allowed by its CSP; framing is not.
  const csp = res.headers.get("content-security-policy") ?? "";
  assert.match(csp, /style-src 'unsafe-inline'/);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.equal(res.headers.get("x-frame-options"), "DENY");
  assert.equal(res.headers.get("x-content-type-options"), "nosniff");
  assert.match(await res.text(), /Too many requests/);
});

test("/register per IP: 20 a minute, the 21st is 429 and stores nothing", async () => {
  const s = await limitedServer();
  const reg = () =>
    s.auth.handle(
      new Request(ISSUER + "/register", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ redirect_uris: [REDIRECT], token_endpoint_auth_method: "none" }),
      }),
      from("192.0.2.50"),
    );
  for (let i = 0; i < 20; i++) assert.equal((await reg()).status, 201);
  const over = await reg();
  assert.equal(over.status, 429);
  await over.body?.cancel();
  assert.equal((await s.auth.admin.listClients()).length, 20);
});

test("X-Forwarded-For is not trusted by default; a trusted header extractor is used when configured", async () => {
  const lim = { register: { ip: { limit: 1, windowSeconds: 60 } } };
  const reg = (s: TestServer, headers: Record<string, string>) =>
    s.auth.handle(
      new Request(ISSUER + "/register", {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: JSON.stringify({ redirect_uris: [REDIRECT], token_endpoint_auth_method: "none" }),
      }),
      from("192.0.2.60"),
    );
  const s = await limitedServer({ rateLimits: lim });
  assert.equal((await reg(s, { "x-forwarded-for": "1.1.1.1" })).status, 201);
  const spoof = await reg(s, { "x-forwarded-for": "2.2.2.2" });
  assert.equal(
    spoof.status,
    429,
    "a new X-Forwarded-For value does not reset the socket IP's count",
  );
  await spoof.body?.cancel();
  const proxied = await limitedServer({ rateLimits: lim, clientIp: headerClientIp("x-real-ip") });
  assert.equal((await reg(proxied, { "x-real-ip": "1.1.1.1" })).status, 201);
  assert.equal((await reg(proxied, { "x-real-ip": "2.2.2.2" })).status, 201);
  const again = await reg(proxied, { "x-real-ip": "1.1.1.1" });
  assert.equal(again.status, 429);
  await again.body?.cancel();
});

test("rateLimits: false turns every limit off", async () => {
  const s = await limitedServer({ rateLimits: false });
  const c = await register(s);
  for (let i = 0; i < 150; i++) {
    const r = await token(s, "198.51.100.9", badCode(c.client_id));
    assert.equal(r.status, 400);
    await r.body?.cancel();
  }
});

test("simultaneous requests: the counter is exact (memory driver), exactly `limit` pass", async () => {
  const s = await limitedServer({
    rateLimits: { revoke: { ip: { limit: 25, windowSeconds: 60 } } },
  });
  const c = await register(s);
  const results = await Promise.all(
    Array.from({ length: 80 }, () =>
      s.auth.handle(
        new Request(ISSUER + "/revoke", {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams({ token: "x", client_id: c.client_id }).toString(),
        }),
        from("198.51.100.77"),
      )),
  );
  const statuses = results.map((r) => r.status);
  await Promise.all(results.map((r) => r.body?.cancel()));
  assert.equal(statuses.filter((x) => x === 429).length, 55);
  assert.equal(statuses.filter((x) => x === 200).length, 25);
});

test("a failing counter store fails open (logged once), never a 5xx", async () => {
  const { memoryStorage } = await import("../../storage/memory.ts");
  const inner = memoryStorage();
  const storage = {
    ...inner,
    increment: () => Promise.reject(new Error("backend down")),
  };
  const s = await limitedServer({ storage });
  const logged: string[] = [];
  const err = console.error;
  console.error = (m: string) => logged.push(m);
  try {
    const c = await register(s);
    for (let i = 0; i < 3; i++) {
      const r = await token(s, "198.51.100.3", badCode(c.client_id));
      assert.equal(r.status, 400);
      await r.body?.cancel();
    }
  } finally {
    console.error = err;
  }
  assert.equal(logged.filter((l) => /rate limit counters unavailable/.test(l)).length, 1);
});

test("a driver without increment is counted with compareAndSwap: still exact", async () => {
  const { memoryStorage } = await import("../../storage/memory.ts");
  const { createRateLimiter } = await import("../../src/limits/mod.ts");
  const { increment: _increment, ...withoutIncrement } = memoryStorage();
  const limiter = createRateLimiter(withoutIncrement);
  const rule = { limit: 25, windowSeconds: 3600 };
  const results = await Promise.all(
    Array.from({ length: 80 }, () => limiter.hit("cas", "192.0.2.9", rule)),
  );
  assert.equal(results.filter((r) => r.allowed).length, 25);
  assert.deepEqual(
    results.map((r) => r.count).sort((a, b) => a - b),
    Array.from({ length: 80 }, (_, i) => i + 1),
  );
});

test("createRateLimiter: a long or non-printable caller id is counted under a fixed-size hash key", async () => {
  const { memoryStorage } = await import("../../storage/memory.ts");
  const { createRateLimiter } = await import("../../src/limits/mod.ts");
  const inner = memoryStorage();
  const keys: string[] = [];
  const storage = {
    ...inner,
    increment: (key: readonly string[], exp: number) => {
      keys.push(key[2]);
      return inner.increment!(key, exp);
    },
  };
  const limiter = createRateLimiter(storage);
  const rule = { limit: 1, windowSeconds: 3600 };
  const long = "https://client.example/" + "a".repeat(100);
  assert.equal((await limiter.hit("t", long, rule)).allowed, true);
  assert.equal((await limiter.hit("t", long, rule)).allowed, false);
  // Same 64-character prefix, another caller: its own counter.
  assert.equal((await limiter.hit("t", long + "b", rule)).allowed, true);
  assert.equal((await limiter.hit("t", "caller with spaces", rule)).allowed, true);
  assert.equal((await limiter.hit("t", "192.0.2.1", rule)).allowed, true);
  assert.equal(keys[0], keys[1]);
  assert.notEqual(keys[0], keys[2]);
  for (const k of [keys[0], keys[2], keys[3]]) assert.match(k, /^h:[A-Za-z0-9_-]{43}$/);
  assert.equal(keys[4], "192.0.2.1");
});

test("per client on /token also counts public clients the endpoint knows without a lookup (refresh)", async () => {
  // A public client's refresh is answered from the token's recorded client snapshot
  // (no client read); the limit still applies to it.
  const s = await limitedServer({
    rateLimits: { token: { client: { limit: 3, windowSeconds: 60 } } },
  });
  let t = await tokensFor(s); // 1 hit: the code exchange
  for (let i = 0; i < 2; i++) {
    const r = await refreshWith(s, t.refresh_token, t.client_id);
    assert.equal(r.status, 200);
    t = { ...t, ...(await r.json()) };
  }
  const over = await refreshWith(s, t.refresh_token, t.client_id);
  assert.equal(over.status, 429);
  assert.equal((await over.json()).error, "temporarily_unavailable");
});

test("cost: one atomic increment per rule that applies (a refresh with an IP: 2 extra calls)", async () => {
  const { memoryStorage } = await import("../../storage/memory.ts");
  const inner = memoryStorage();
  const increments: string[] = [];
  const storage = {
    ...inner,
    increment: (key: readonly string[], exp: number) => {
      increments.push(key.slice(0, 2).join(" "));
      return inner.increment!(key, exp);
    },
  };
  const s = await limitedServer({ storage });
  const t = await tokensFor(s);
  increments.length = 0;
  const res = await s.auth.handle(
    new Request(ISSUER + "/token", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "refresh_token",
        refresh_token: t.refresh_token,
        client_id: t.client_id,
      }).toString(),
    }),
    from("198.51.100.20"),
  );
  assert.equal(res.status, 200);
  await res.body?.cancel();
  assert.deepEqual(increments, ["ratelimit token:ip", "ratelimit token:client"]);
});

/** A form POST to `path` from `ip`. */
function postFrom(
  s: TestServer,
  path: string,
  ip: string,
  fields: Record<string, string>,
  headers: Record<string, string> = {},
) {
  return s.auth.handle(
    new Request(ISSUER + path, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
      body: new URLSearchParams(fields).toString(),
    }),
    from(ip),
  );
}

/** The request after `n` allowed ones is 429 with Retry-After and an RFC 6749 JSON body. */
async function refusedAfter(
  n: number,
  send: (i: number) => Promise<Response>,
  what: string,
): Promise<void> {
  for (let i = 0; i < n; i++) {
    const r = await send(i);
    assert.equal(r.status, 200, `${what}: request ${i + 1} of ${n}`);
    await r.body?.cancel();
  }
  const over = await send(n);
  assert.equal(over.status, 429, `${what}: request ${n + 1}`);
  const retry = Number(over.headers.get("retry-after"));
  assert.ok(retry >= 1 && retry <= 60, `${what}: Retry-After ${retry}`);
  assert.equal((await over.json()).error, "temporarily_unavailable", what);
}

test("default limits on /revoke and /introspect, per IP (60 / 1200 a minute) and per client (300 / 3000)", async () => {
  assert.deepEqual(
    [DEFAULT_LIMITS.revoke.ip, DEFAULT_LIMITS.revoke.client],
    [{ limit: 60, windowSeconds: 60 }, { limit: 300, windowSeconds: 60 }],
  );
  assert.deepEqual(
    [DEFAULT_LIMITS.introspect.ip, DEFAULT_LIMITS.introspect.client],
    [{ limit: 1200, windowSeconds: 60 }, { limit: 3000, windowSeconds: 60 }],
  );
  const cases = [
    ["/revoke", 60, 300],
    ["/introspect", 1200, 3000],
  ] as const;
  for (const [path, perIp, perClient] of cases) {
    const s = await limitedServer(); // the defaults: no rateLimits option
    const a = await register(s, { token_endpoint_auth_method: "client_secret_basic" });
    const b = await register(s, { token_endpoint_auth_method: "client_secret_basic" });
    const as = (c: typeof a) => ({ authorization: basic(c.client_id, c.client_secret!) });
    const send = (ip: string, c = a) => postFrom(s, path, ip, { token: "x" }, as(c));
    // Per IP: one address over its budget; another address (same client) still passes.
    await refusedAfter(perIp, () => send("198.51.100.20"), `${path} per IP`);
    const otherIp = await send("198.51.100.21");
    assert.equal(otherIp.status, 200, `${path}: another IP`);
    await otherIp.body?.cancel();
    // Per client, from addresses that each stay under their own budget: the client's total
    // counts (perIp + 1 requests so far), then another client still passes.
    const ipOf = (i: number) => `10.${(i >> 8) & 255}.${i & 255}.${path.length}`;
    await refusedAfter(perClient - perIp - 1, (i) => send(ipOf(i)), `${path} per client`);
    const otherClient = await send("10.255.255.1", b);
    assert.equal(otherClient.status, 200, `${path}: another client`);
    await otherClient.body?.cancel();
  }
});

test("DEFAULT_LIMITS is the README's table (per IP / per client, a minute each)", async () => {
  const readme = await Deno.readTextFile(new URL("../../README.md", import.meta.url));
  const section = readme.slice(readme.indexOf("## Rate limits"));
  const rows = [...section.matchAll(/^\| `\/(\w+)` \| (\d+) \| (\d+|—) \|$/gm)];
  assert.equal(rows.length, 5, "five endpoint rows");
  for (const [, endpoint, ip, client] of rows) {
    const rule = DEFAULT_LIMITS[endpoint as keyof typeof DEFAULT_LIMITS];
    assert.deepEqual(rule.ip, { limit: Number(ip), windowSeconds: 60 }, endpoint);
    assert.deepEqual(
      rule.client,
      client === "—" ? false : { limit: Number(client), windowSeconds: 60 },
      endpoint,
    );
  }
});

/**
 * Remote-key and introspection tests: JWKS over HTTP (a real local Deno.serve and an injected
 * fetch), HTTP caching, rotation without restart, the unknown-kid flood bound, and RFC 7662
 * introspection against a tiny local stub.
 */

import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createVerifier, type VerifierOptions } from "../verify.ts";
import {
  ISSUER,
  makeKey,
  RESOURCE,
  signToken,
  T0,
  type TestKey,
} from "./support/verify_fixtures.ts";

const k1 = await makeKey("EdDSA", "k1");
const k2 = await makeKey("EdDSA", "k2");
const kEs = await makeKey("ES256", "k-es");

/** An injected fetch serving a mutable JWKS, counting calls. */
function jwksFetch(initial: TestKey[], cacheControl?: string) {
  const state = {
    keys: initial,
    calls: 0,
    fail: false,
    cacheControl,
    pending: [] as (() => void)[],
    hold: false,
  };
  const fetchImpl = (async (input: string | URL | Request) => {
    state.calls++;
    assert.equal(String(input), `${ISSUER}/jwks`);
    if (state.hold) await new Promise<void>((resolve) => state.pending.push(resolve));
    if (state.fail) throw new TypeError("connection refused");
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (state.cacheControl) headers["cache-control"] = state.cacheControl;
    return new Response(JSON.stringify({ keys: state.keys.map((k) => k.publicJwk) }), { headers });
  }) as typeof fetch;
  return { state, fetchImpl };
}

function remoteVerifier(fetchImpl: typeof fetch, extra: Partial<VerifierOptions> = {}) {
  let clock = T0;
  const verifier = createVerifier({
    issuer: ISSUER,
    audience: RESOURCE,
    jwksUri: `${ISSUER}/jwks`,
    fetch: fetchImpl,
    now: () => clock,
    ...extra,
  });
  return {
    verifier,
    advance(ms: number) {
      clock += ms;
    },
    at: () => clock,
  };
}

describe("remote JWKS over a real local server", () => {
  const served = { keys: [k1] as TestKey[], hits: 0 };
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, (req) => {
    served.hits++;
    if (new URL(req.url).pathname !== "/jwks") return new Response("nope", { status: 404 });
    return Response.json({ keys: served.keys.map((k) => k.publicJwk) });
  });
  after(() => server.shutdown());
  const base = `http://127.0.0.1:${server.addr.port}`;

  it("fetches keys lazily and picks up a rotated key without restart", async () => {
    let clock = T0;
    const verifier = createVerifier({
      issuer: ISSUER,
      audience: RESOURCE,
      jwksUri: `${base}/jwks`,
      now: () => clock,
    });
    assert.equal(served.hits, 0);
    assert.equal((await verifier.verify(await signToken(k1))).ok, true);
    assert.equal(served.hits, 1);
    served.keys = [k1, k2];
    const rotated = await signToken(k2, { at: clock + 31_000 });
    clock += 31_000;
    assert.equal((await verifier.verify(rotated)).ok, true);
    assert.equal(served.hits, 2);
    assert.equal(verifier.stats().jwksFetches, 2);
  });
});

describe("remote JWKS caching (injected fetch and clock)", () => {
  it("unknown kid within the cool-down is rejected without a fetch, then fetched after", async () => {
    const { state, fetchImpl } = jwksFetch([k1]);
    const { verifier, advance } = remoteVerifier(fetchImpl);
    assert.equal((await verifier.verify(await signToken(k1))).ok, true);
    state.keys = [k1, k2];
    const t2 = await signToken(k2);
    const r = await verifier.verify(t2);
    assert.equal(r.ok ? 0 : r.status, 401);
    assert.equal(state.calls, 1, "no refetch inside the cool-down");
    advance(30_000);
    assert.equal((await verifier.verify(t2)).ok, true);
    assert.equal(state.calls, 2);
  });

  it("a flood of 100 unknown kids causes at most one fetch per cool-down", async () => {
    const { state, fetchImpl } = jwksFetch([k1]);
    const { verifier, advance } = remoteVerifier(fetchImpl, { cache: false });
    const valid = await signToken(k1);
    assert.equal((await verifier.verify(valid)).ok, true);
    assert.equal(state.calls, 1);
    const forged = await Promise.all(
      Array.from({ length: 100 }, (_, i) => signToken(k2, { header: { kid: `unknown-${i}` } })),
    );
    advance(1_000);
    for (const t of forged) {
      const r = await verifier.verify(t);
      assert.equal(r.ok ? 0 : r.status, 401);
    }
    assert.equal(state.calls, 1, "within the cool-down: no fetch at all");
    advance(30_000);
    const results = await Promise.all(forged.map((t) => verifier.verify(t)));
    assert.ok(results.every((r) => !r.ok && r.status === 401));
    assert.equal(state.calls, 2, "concurrent misses share one in-flight fetch");
    for (const t of forged) await verifier.verify(t);
    assert.equal(state.calls, 2);
    assert.equal((await verifier.verify(valid)).ok, true, "known keys keep working");
  });

  it("concurrent first verifies share one in-flight fetch", async () => {
    const { state, fetchImpl } = jwksFetch([k1]);
    state.hold = true;
    const { verifier } = remoteVerifier(fetchImpl);
    const tokens = await Promise.all(Array.from({ length: 10 }, () => signToken(k1)));
    const pending = Promise.all(tokens.map((t) => verifier.verify(t)));
    while (state.pending.length === 0) await Promise.resolve();
    state.hold = false;
    for (const release of state.pending) release();
    const results = await pending;
    assert.ok(results.every((r) => r.ok));
    assert.equal(state.calls, 1);
  });

  it("honours Cache-Control max-age (bounded below by the cool-down)", async () => {
    const { state, fetchImpl } = jwksFetch([k1], "public, max-age=120");
    const { verifier, advance } = remoteVerifier(fetchImpl, { cache: false });
    const t = await signToken(k1, { claims: { exp: T0 / 1000 + 3600 } });
    await verifier.verify(t);
    advance(119_000);
    await verifier.verify(t);
    assert.equal(state.calls, 1);
    advance(1_000);
    assert.equal((await verifier.verify(t)).ok, true);
    assert.equal(state.calls, 2);
    state.cacheControl = "max-age=0";
    advance(120_000);
    await verifier.verify(t);
    assert.equal(state.calls, 3);
    advance(29_000);
    await verifier.verify(t);
    assert.equal(state.calls, 3, "max-age=0 is raised to the cool-down");
  });

  it("defaults to 10 minutes without Cache-Control", async () => {
    const { state, fetchImpl } = jwksFetch([k1]);
    const { verifier, advance } = remoteVerifier(fetchImpl, { cache: false });
    const t = await signToken(k1, { claims: { exp: T0 / 1000 + 3600 } });
    await verifier.verify(t);
    advance(599_000);
    await verifier.verify(t);
    assert.equal(state.calls, 1);
    advance(1_000);
    await verifier.verify(t);
    assert.equal(state.calls, 2);
  });

  it("unreachable JWKS and no key known: 503; stale keys survive a failed refresh", async () => {
    const { state, fetchImpl } = jwksFetch([k1]);
    state.fail = true;
    const { verifier, advance } = remoteVerifier(fetchImpl, { cache: false });
    const t = await signToken(k1, { claims: { exp: T0 / 1000 + 3600 } });
    const r = await verifier.verify(t);
    assert.equal(r.ok ? 0 : r.status, 503);
    if (!r.ok) {
      assert.equal(r.error, "temporarily_unavailable");
      assert.equal(r.response.headers.get("cache-control"), "no-store");
    }
    await verifier.verify(t);
    assert.equal(state.calls, 1, "the cool-down also bounds retries");
    state.fail = false;
    advance(30_000);
    assert.equal((await verifier.verify(t)).ok, true);
    state.fail = true;
    advance(700_000);
    assert.equal((await verifier.verify(t)).ok, true, "stale keys are kept");
    assert.equal(state.calls, 3);
  });

  it("a JWKS key whose type does not match the header alg is not used", async () => {
    const { fetchImpl } = jwksFetch([k1, kEs]);
    const { verifier } = remoteVerifier(fetchImpl, { algorithms: ["EdDSA"] });
    assert.equal((await verifier.verify(await signToken(k1))).ok, true);
    const es = await verifier.verify(await signToken(kEs));
    assert.equal(es.ok ? 0 : es.status, 401);
    const wrongKid = await verifier.verify(await signToken(k1, { header: { kid: "k-es" } }));
    assert.equal(wrongKid.ok ? 0 : wrongKid.status, 401);
  });
});

describe("introspection (RFC 7662) against a local stub", () => {
  const seen: { auth: string | null; body: string }[] = [];
  const active = new Map<string, Record<string, unknown>>();
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, async (req) => {
    const body = await req.text();
    seen.push({ auth: req.headers.get("authorization"), body });
    if (req.headers.get("authorization") !== `Basic ${btoa("rs%3A1:s3cr%26t")}`) {
      return Response.json({ error: "invalid_client" }, { status: 401 });
    }
    const token = new URLSearchParams(body).get("token") ?? "";
    return Response.json(active.get(token) ?? { active: false });
  });
  after(() => server.shutdown());
  const endpoint = `http://127.0.0.1:${server.addr.port}/introspect`;

  function introspectingVerifier(extra: Partial<VerifierOptions> = {}) {
    let clock = T0;
    const verifier = createVerifier({
      issuer: ISSUER,
      audience: RESOURCE,
      introspection: { endpoint, clientId: "rs:1", clientSecret: "s3cr&t" },
      now: () => clock,
      ...extra,
    });
    return {
      verifier,
      advance(ms: number) {
        clock += ms;
      },
    };
  }

  const info = (extra: Record<string, unknown> = {}) => ({
    active: true,
    iss: ISSUER,
    aud: RESOURCE,
    sub: "user-9",
    client_id: "client-9",
    scope: "mcp:read mcp:write",
    exp: T0 / 1000 + 600,
    iat: T0 / 1000,
    gid: "g-9",
    ...extra,
  });

  it("opaque token: active answer becomes VerifiedToken, sent with client_secret_basic", async () => {
    active.set("opaque-1", info());
    const { verifier } = introspectingVerifier();
    const r = await verifier.verify(
      new Request(RESOURCE, { headers: { authorization: "Bearer opaque-1" } }),
      { scopes: ["mcp:write"] },
    );
    assert.equal(r.ok, true);
    if (!r.ok) return;
    assert.equal(r.claims.subject, "user-9");
    assert.equal(r.claims.clientId, "client-9");
    assert.deepEqual(r.claims.scopes, ["mcp:read", "mcp:write"]);
    assert.equal(r.claims.grantId, "g-9");
    const last = seen.at(-1);
    assert.equal(last?.body, "token=opaque-1&token_type_hint=access_token");
  });

  it("inactive, wrong audience, wrong issuer and expired answers are 401", async () => {
    active.set("wrong-aud", info({ aud: "http://localhost:8787/other" }));
    active.set("wrong-iss", info({ iss: "http://evil" }));
    active.set("expired", info({ exp: T0 / 1000 - 60 }));
    const { verifier } = introspectingVerifier();
    for (const token of ["nobody-knows", "wrong-aud", "wrong-iss", "expired"]) {
      const r = await verifier.verify(token);
      assert.equal(r.ok ? 0 : r.status, 401, token);
    }
  });

  it("by default asks on every verify, so revocation is seen immediately", async () => {
    active.set("opaque-2", info());
    const { verifier } = introspectingVerifier();
    assert.equal((await verifier.verify("opaque-2")).ok, true);
    active.delete("opaque-2");
    const r = await verifier.verify("opaque-2");
    assert.equal(r.ok ? 0 : r.status, 401);
    assert.equal(verifier.stats().introspections, 2);
  });

  it("cacheTtlMs reuses an active answer", async () => {
    active.set("opaque-3", info());
    const { verifier, advance } = introspectingVerifier({
      introspection: { endpoint, clientId: "rs:1", clientSecret: "s3cr&t", cacheTtlMs: 5_000 },
    });
    await verifier.verify("opaque-3");
    advance(4_999);
    await verifier.verify("opaque-3");
    assert.equal(verifier.stats().introspections, 1);
    advance(1);
    await verifier.verify("opaque-3");
    assert.equal(verifier.stats().introspections, 2);
  });

  it("bad client credentials or an unreachable endpoint give 503", async () => {
    active.set("opaque-4", info());
    const { verifier: wrongSecret } = introspectingVerifier({
      introspection: { endpoint, clientId: "rs:1", clientSecret: "nope" },
    });
    const r = await wrongSecret.verify("opaque-4");
    assert.equal(r.ok ? 0 : r.status, 503);
    const { verifier: down } = introspectingVerifier({
      fetch: (() => Promise.reject(new TypeError("refused"))) as typeof fetch,
    });
    const r2 = await down.verify("opaque-4");
    assert.equal(r2.ok ? 0 : r2.status, 503);
  });

  it("with local keys too: JWT checks run first, then introspection must say active", async () => {
    const { fetchImpl } = jwksFetch([k1]);
    const jwt = await signToken(k1);
    const forged = await signToken(k2, { header: { kid: "k1" } });
    active.set(jwt, info());
    active.set(forged, info());
    const combined = (url: string | URL | Request, init?: RequestInit) =>
      String(url).endsWith("/jwks") ? fetchImpl(url, init) : fetch(url, init);
    const { verifier } = introspectingVerifier({
      jwksUri: `${ISSUER}/jwks`,
      fetch: combined as typeof fetch,
    });
    const before = verifier.stats().introspections;
    assert.equal((await verifier.verify(jwt)).ok, true);
    const r = await verifier.verify(forged);
    assert.equal(r.ok ? 0 : r.status, 401);
    assert.equal(verifier.stats().introspections, before + 1, "forged token never sent out");
    active.delete(jwt);
    const revoked = await verifier.verify(jwt);
    assert.equal(revoked.ok ? 0 : revoked.status, 401);
    assert.equal(verifier.stats().signatureChecks, 2, "second verify of jwt hit the cache");
  });
});

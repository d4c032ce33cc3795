/**
 * What each verifier mode sees after a revoke (the README table "What a
 * verifier sees after a revoke" states exactly this). The authorization server
 * is the real one; the remote verifier reaches its /jwks and /introspect
 * through `fetch` = `auth.handle` (same code as over the network, no socket).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createVerifier } from "../verify.ts";
import { RESOURCE, testServer, tokensFor } from "./support/flow.ts";
import type { TestServer } from "./support/flow.ts";

const ISSUER = "https://as.example.com";
const INTROSPECTOR = { clientId: "rs-notes", clientSecret: "rs-notes-secret-0123456789" };

async function setup(revocation?: { mode: "strict" | "cached" | "stateless"; ttlMs?: number }) {
  const s = await testServer({ introspectionClients: [INTROSPECTOR], revocation });
  const t = await tokensFor(s, { scope: "mcp:read mcp:write" });
  let clock = Date.now();
  const remote = (introspection?: { scopes?: string[]; cacheTtlMs?: number }) =>
    createVerifier({
      issuer: ISSUER,
      audience: RESOURCE,
      jwksUri: ISSUER + "/jwks",
      introspection: introspection && {
        endpoint: ISSUER + "/introspect",
        ...INTROSPECTOR,
        ...introspection,
      },
      fetch: (input, init) => s.auth.handle(new Request(input, init)),
      now: () => clock,
    });
  return {
    s,
    t,
    remote,
    advance: (ms: number) => {
      clock += ms;
      s.advance(ms);
    },
  };
}

const revoke = async (s: TestServer, token: string, clientId: string) =>
  assert.equal((await s.form("/revoke", { token, client_id: clientId })).status, 200);

test("same-process strict (default): a revoked grant fails on the very next call", async () => {
  const { s, t } = await setup();
  assert.equal((await s.auth.verify(t.access_token)).ok, true);
  await revoke(s, t.access_token, t.client_id);
  const r = await s.auth.verify(t.access_token);
  assert.equal(r.ok, false);
  assert.equal(r.ok ? 0 : r.status, 401);
});

test("same-process cached: accepted for at most ttlMs after the revoke, then 401", async () => {
  const { s, t, advance } = await setup({ mode: "cached", ttlMs: 10_000 });
  assert.equal((await s.auth.verify(t.access_token)).ok, true);
  await revoke(s, t.access_token, t.client_id);
  assert.equal((await s.auth.verify(t.access_token)).ok, true, "within ttlMs: still accepted");
  advance(10_001);
  assert.equal((await s.auth.verify(t.access_token)).ok, false);
});

test("same-process stateless: a revoked token is accepted until it expires", async () => {
  const { s, t, advance } = await setup({ mode: "stateless" });
  await revoke(s, t.access_token, t.client_id);
  assert.equal((await s.auth.verify(t.access_token)).ok, true);
  advance(900_000 + 5_001);
  assert.equal((await s.auth.verify(t.access_token)).ok, false);
});

test("remote JWKS only: a revoked token is accepted until it expires (accessTokenTtl)", async () => {
  const { s, t, remote, advance } = await setup();
  const v = remote();
  await revoke(s, t.access_token, t.client_id);
  assert.equal((await v.verify(t.access_token, { scopes: ["mcp:write"] })).ok, true);
  advance(900_000 + 5_001); // default accessTokenTtl 900 s + 5 s clock tolerance
  const r = await v.verify(t.access_token);
  assert.equal(r.ok, false);
  assert.equal(v.stats().introspections, 0);
});

test("remote + introspection for selected scopes: write calls see the revoke, read calls do not", async () => {
  const { s, t, remote } = await setup();
  const v = remote({ scopes: ["mcp:write"] });
  assert.equal((await v.verify(t.access_token, { scopes: ["mcp:read"] })).ok, true);
  assert.equal(v.stats().introspections, 0, "read calls stay local");
  assert.equal((await v.verify(t.access_token, { scopes: ["mcp:write"] })).ok, true);
  assert.equal(v.stats().introspections, 1);
  await revoke(s, t.access_token, t.client_id);
  const w = await v.verify(t.access_token, { scopes: ["mcp:write"] });
  assert.equal(w.ok, false);
  assert.equal(w.ok ? 0 : w.status, 401);
  assert.equal(v.stats().introspections, 2);
  // Read calls are checked locally; the cache entry was dropped, the signature still holds.
  assert.equal((await v.verify(t.access_token, { scopes: ["mcp:read"] })).ok, true);
});

test("remote + introspection with cacheTtlMs: a revoke is seen within cacheTtlMs", async () => {
  const { s, t, remote, advance } = await setup();
  const v = remote({ scopes: ["mcp:write"], cacheTtlMs: 30_000 });
  assert.equal((await v.verify(t.access_token, { scopes: ["mcp:write"] })).ok, true);
  await revoke(s, t.access_token, t.client_id);
  assert.equal((await v.verify(t.access_token, { scopes: ["mcp:write"] })).ok, true, "cached");
  assert.equal(v.stats().introspections, 1);
  advance(30_000);
  assert.equal((await v.verify(t.access_token, { scopes: ["mcp:write"] })).ok, false);
  assert.equal(v.stats().introspections, 2);
});

test("remote + introspection for every call (no scopes): every call sees the revoke", async () => {
  const { s, t, remote } = await setup();
  const v = remote({});
  assert.equal((await v.verify(t.access_token)).ok, true);
  await revoke(s, t.access_token, t.client_id);
  assert.equal((await v.verify(t.access_token)).ok, false);
  assert.equal(v.stats().introspections, 2);
});

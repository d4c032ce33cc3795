/**
 * Signing-key rotation on the server: publish the next key, sign with it,
 * keep verifying tokens from the previous key until it is retired. Also the
 * ES256 option end to end.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeProtectedHeader } from "jose";
import type { JWK } from "jose";
import { generateSigningKey } from "../mod.ts";
import { createVerifier } from "../verify.ts";
import { memoryStorage } from "../storage/memory.ts";
import { ISSUER, refreshWith, RESOURCE, testServer, tokensFor } from "./support/flow.ts";

function publicOnly(jwk: JWK): JWK {
  const { d: _d, ...pub } = jwk;
  return pub;
}

test("rotation: old-key tokens verify while the old key is published, fail once it is retired", async () => {
  const storage = memoryStorage();
  const oldKey = await generateSigningKey();
  const newKey = await generateSigningKey();
  const before = await testServer({ storage, keys: [oldKey] });
  const t = await tokensFor(before);
  assert.equal(decodeProtectedHeader(t.access_token).kid, oldKey.kid);

  // Step 1: the new key signs, the old one is still published (public part only).
  const during = await testServer({ storage, keys: [newKey, publicOnly(oldKey)] });
  const jwks = await (await during.call("/jwks")).json();
  assert.deepEqual(jwks.keys.map((k: JWK) => k.kid), [newKey.kid, oldKey.kid]);
  assert.ok(jwks.keys.every((k: JWK) => k.d === undefined));
  assert.equal((await during.auth.verify(t.access_token)).ok, true, "old token still valid");
  const fresh = await tokensFor(during);
  assert.equal(decodeProtectedHeader(fresh.access_token).kid, newKey.kid);
  // A refresh on the rotated server returns a token signed by the new key.
  const r = await refreshWith(during, t.refresh_token, t.client_id);
  assert.equal(r.status, 200);
  assert.equal(decodeProtectedHeader((await r.json()).access_token).kid, newKey.kid);

  // Step 2: the old key is retired: its tokens no longer verify, new ones do.
  const after = await testServer({ storage, keys: [newKey] });
  const res = await after.auth.verify(fresh.access_token);
  assert.equal(res.ok, true);
  const stale = await after.auth.verify(t.access_token);
  assert.equal(stale.ok, false);
  if (!stale.ok) assert.equal(stale.status, 401);
});

test("a remote verifier picks up a newly published key without a restart", async () => {
  const storage = memoryStorage();
  const k1 = await generateSigningKey();
  const k2 = await generateSigningKey();
  let current = await testServer({ storage, keys: [k1] });
  const fetchJwks: typeof fetch = (input) =>
    current.call(new URL(input instanceof Request ? input.url : String(input)).pathname);
  let clock = 0;
  const verifier = createVerifier({
    issuer: ISSUER,
    audience: RESOURCE,
    jwksUri: ISSUER + "/jwks",
    fetch: fetchJwks,
    now: () => Date.now() + clock,
  });
  const t1 = await tokensFor(current);
  assert.equal((await verifier.verify(t1.access_token)).ok, true);
  // The server rotates: k2 signs. The verifier sees an unknown kid and refetches.
  current = await testServer({ storage, keys: [k2, publicOnly(k1)] });
  clock += 60_000; // past the refetch cool-down
  const t2 = await tokensFor(current);
  assert.equal((await verifier.verify(t2.access_token)).ok, true);
  assert.ok(verifier.stats().jwksFetches >= 2);
});

test("ES256 keys: tokens are signed with ES256 and verify", async () => {
  const key = await generateSigningKey("ES256");
  const s = await testServer({ keys: [key] });
  const t = await tokensFor(s);
  assert.equal(decodeProtectedHeader(t.access_token).alg, "ES256");
  const md = await (await s.call("/.well-known/oauth-authorization-server")).json();
  assert.equal(md.issuer, ISSUER);
  assert.equal((await s.auth.verify(t.access_token)).ok, true);
});

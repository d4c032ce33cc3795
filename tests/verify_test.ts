/**
 * Verifier tests: every rejection, every challenge header, scope hierarchy, the verified-token
 * cache and the revocation modes. Imports only the `./verify` entry (plus test fixtures).
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import * as jose from "jose";
import {
  canonicalResource,
  createVerifier,
  missingScopes,
  resourceMetadataUrlFor,
  type VerifiedToken,
  type VerifierOptions,
  type VerifyResult,
} from "../verify.ts";
import {
  b64json,
  ISSUER,
  makeKey,
  RESOURCE,
  signRaw,
  signToken,
  T0,
  type TestKey,
} from "./support/verify_fixtures.ts";

const PRM = "http://localhost:8787/.well-known/oauth-protected-resource/mcp";
const HIERARCHY = { "mcp:admin": ["mcp:write"], "mcp:write": ["mcp:read"] };

const ed = await makeKey("EdDSA", "ed-1");
const es = await makeKey("ES256", "es-1");

function setup(extra: Partial<VerifierOptions> = {}, keys: TestKey[] = [ed, es]) {
  let clock = T0;
  const verifier = createVerifier({
    issuer: ISSUER,
    audience: RESOURCE,
    jwks: { keys: keys.map((k) => k.publicJwk as never) },
    scopesSupported: ["mcp:read", "mcp:write", "mcp:admin", "offline_access"],
    scopeHierarchy: HIERARCHY,
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

function bearer(token: string, init: RequestInit = {}, url = RESOURCE): Request {
  const headers = new Headers(init.headers);
  headers.set("authorization", `Bearer ${token}`);
  return new Request(url, { ...init, headers });
}

async function expectFailure(
  result: VerifyResult,
  status: number,
  error: string,
  descriptionPattern?: RegExp,
): Promise<{ header: string | null; body: Record<string, string> }> {
  assert.equal(result.ok, false);
  if (result.ok) throw new Error("unreachable");
  assert.equal(result.status, status);
  assert.equal(result.error, error);
  assert.equal(result.response.status, status);
  assert.equal(result.response.headers.get("cache-control"), "no-store");
  const body = await result.response.json();
  if (descriptionPattern) assert.match(body.error_description, descriptionPattern);
  return { header: result.response.headers.get("www-authenticate"), body };
}

async function expectInvalid(token: string, pattern: RegExp, extra: Partial<VerifierOptions> = {}) {
  const { verifier } = setup(extra);
  const { header, body } = await expectFailure(
    await verifier.verify(bearer(token)),
    401,
    "invalid_token",
    pattern,
  );
  assert.ok(header?.startsWith('Bearer error="invalid_token"'));
  assert.equal(body.error, "invalid_token");
  assert.ok(
    !JSON.stringify(body).includes(token.slice(0, 20)),
    "description must not echo the token",
  );
  assert.ok(!header?.includes(token.slice(0, 20)));
}

describe("accepts valid tokens", () => {
  it("`keys: [...]` is shorthand for `jwks: { keys }`", async () => {
    const verifier = createVerifier({
      issuer: ISSUER,
      audience: RESOURCE,
      keys: [ed.publicJwk as never],
      now: () => T0,
    });
    const token = await signToken(ed, {});
    assert.equal((await verifier.verify(token)).ok, true);
    assert.throws(
      () => createVerifier({ issuer: ISSUER, audience: RESOURCE }),
      /one of jwks, keys, jwksUri or introspection/,
    );
  });
  it("EdDSA token from a Request yields VerifiedToken", async () => {
    const { verifier } = setup();
    const token = await signToken(ed, { claims: { scope: "mcp:read mcp:write", jti: "j-1" } });
    const result = await verifier.verify(bearer(token), { scopes: ["mcp:read"] });
    assert.equal(result.ok, true);
    if (!result.ok) return;
    const c: VerifiedToken = result.claims;
    assert.equal(c.token, token);
    assert.equal(c.subject, "user-1");
    assert.equal(c.clientId, "client-1");
    assert.deepEqual(c.scopes, ["mcp:read", "mcp:write"]);
    assert.equal(c.issuedAt, T0 / 1000);
    assert.equal(c.expiresAt, T0 / 1000 + 300);
    assert.equal(c.grantId, "grant-1");
    assert.equal(c.jti, "j-1");
    assert.equal(c.resource, RESOURCE);
    assert.equal(c.claims.iss, ISSUER);
  });

  it("ES256 token given as a raw string", async () => {
    const { verifier } = setup();
    const result = await verifier.verify(await signToken(es));
    assert.equal(result.ok, true);
  });

  it("typ application/at+jwt and case-insensitive scheme are accepted", async () => {
    const { verifier } = setup();
    const token = await signToken(ed, { header: { typ: "application/at+jwt" } });
    const req = new Request(RESOURCE, { headers: { authorization: `bearer ${token}` } });
    assert.equal((await verifier.verify(req)).ok, true);
  });

  it("audience comparison is canonical (uppercase scheme/host, trailing slash)", async () => {
    const { verifier } = setup({ audience: "HTTP://LOCALHOST:8787/mcp/" });
    assert.equal(verifier.resource, RESOURCE);
    assert.equal(verifier.resourceMetadataUrl, PRM);
    const token = await signToken(ed, { claims: { aud: "http://Localhost:8787/mcp/" } });
    assert.equal((await verifier.verify(token)).ok, true);
    const arr = await signToken(ed, { claims: { aud: ["http://other/x", RESOURCE] } });
    assert.equal((await verifier.verify(arr)).ok, true);
  });

  it("accepts iat within the clock tolerance", async () => {
    const { verifier } = setup();
    const token = await signToken(ed, { at: T0 + 4000 });
    assert.equal((await verifier.verify(token)).ok, true);
  });
});

describe("rejects bad tokens (401 invalid_token)", () => {
  it("alg none", async () => {
    const token = `${b64json({ alg: "none", typ: "at+jwt", kid: "ed-1" })}.${
      b64json({
        iss: ISSUER,
        aud: RESOURCE,
        sub: "u",
        client_id: "c",
        iat: T0 / 1000,
        exp: T0 / 1000 + 60,
        jti: "j",
      })
    }.`;
    await expectInvalid(token, /algorithm/);
  });

  it("alg outside the allowlist (ES256 token, verifier allows only EdDSA)", async () => {
    await expectInvalid(await signToken(es), /algorithm/, { algorithms: ["EdDSA"] });
  });

  it("HS256 signed with the public key bytes (alg confusion)", async () => {
    const secret = new TextEncoder().encode(JSON.stringify(ed.publicJwk));
    const raw = jose.base64url.decode(ed.publicJwk.x as string);
    for (const key of [secret, raw]) {
      const token = await new jose.SignJWT({
        iss: ISSUER,
        aud: RESOURCE,
        sub: "u",
        client_id: "c",
        jti: "j",
        iat: T0 / 1000,
        exp: T0 / 1000 + 60,
      }).setProtectedHeader({ alg: "HS256", typ: "at+jwt", kid: "ed-1" }).sign(key);
      await expectInvalid(token, /algorithm/);
    }
  });

  it("header alg not matching the key type (EdDSA header, kid of the ES256 key)", async () => {
    const token = await signToken(ed, { header: { kid: "es-1" } });
    await expectInvalid(token, /no key/);
  });

  it("typ other than at+jwt, or missing", async () => {
    await expectInvalid(await signToken(ed, { header: { typ: "JWT" } }), /at\+jwt/);
    await expectInvalid(await signToken(ed, { header: { typ: undefined } }), /at\+jwt/);
  });

  it("crit header", async () => {
    const token = await signRaw(ed, {
      alg: "EdDSA",
      typ: "at+jwt",
      kid: "ed-1",
      crit: ["x"],
      x: 1,
    });
    await expectInvalid(token, /critical/);
    // The raw signer itself produces acceptable tokens, so the rejection above is about crit.
    const { verifier } = setup();
    assert.equal(
      (await verifier.verify(await signRaw(ed, { alg: "EdDSA", typ: "at+jwt", kid: "ed-1" }))).ok,
      true,
    );
  });

  it("wrong iss", async () => {
    await expectInvalid(await signToken(ed, { claims: { iss: "http://evil" } }), /issuer/);
  });

  it("wrong aud: token for resource A presented to resource B", async () => {
    const tokenForA = await signToken(ed, { claims: { aud: "http://localhost:8787/other" } });
    await expectInvalid(tokenForA, /audience/);
    const prefix = await signToken(ed, { claims: { aud: "http://localhost:8787/mcp/extra" } });
    await expectInvalid(prefix, /audience/);
  });

  it("expired (beyond tolerance) and the tolerance edge", async () => {
    const { verifier, advance } = setup({ cache: false });
    const token = await signToken(ed);
    advance(300_000 + 4_000);
    assert.equal((await verifier.verify(token)).ok, true);
    advance(1_000);
    await expectFailure(await verifier.verify(token), 401, "invalid_token", /expired/);
  });

  it("not yet valid: iat or nbf in the future beyond tolerance", async () => {
    await expectInvalid(await signToken(ed, { at: T0 + 6000 }), /future/);
    await expectInvalid(await signToken(ed, { claims: { nbf: T0 / 1000 + 60 } }), /not yet valid/);
  });

  it("tampered header, payload and signature", async () => {
    const token = await signToken(ed);
    const [h, p, s] = token.split(".");
    const header = JSON.parse(new TextDecoder().decode(jose.base64url.decode(h)));
    const payload = JSON.parse(new TextDecoder().decode(jose.base64url.decode(p)));
    await expectInvalid(`${b64json({ ...header, x: 1 })}.${p}.${s}`, /signature/);
    await expectInvalid(`${h}.${b64json({ ...payload, scope: "mcp:admin" })}.${s}`, /signature/);
    const sig = jose.base64url.decode(s);
    sig[5] ^= 1;
    await expectInvalid(`${h}.${p}.${jose.base64url.encode(sig)}`, /signature/);
    await expectInvalid(`${h}.${p}.${s.slice(0, -4)}`, /signature/);
  });

  it("malformed base64url, JSON and structure", async () => {
    const token = await signToken(ed);
    const [h, p, s] = token.split(".");
    await expectInvalid(`${h}.${p}`, /malformed/);
    await expectInvalid(`${h}.${p}.${s}.x`, /malformed/);
    await expectInvalid(`${h}.${p}~.${s}`, /malformed/);
    await expectInvalid(`${h}.${p}.${s}==`, /malformed/);
    await expectInvalid(`${jose.base64url.encode("{not json")}.${p}.${s}`, /malformed/);
    await expectInvalid(`${b64json([1, 2])}.${p}.${s}`, /malformed/);
    await expectInvalid(`${h}.${b64json("str")}.${s}`, /malformed/);
    await expectInvalid("abc", /malformed/);
  });

  it("missing required claims", async () => {
    for (const claim of ["iss", "sub", "aud", "client_id", "exp", "iat", "jti"]) {
      await expectInvalid(
        await signToken(ed, { claims: { [claim]: undefined } }),
        new RegExp(claim),
      );
    }
    await expectInvalid(await signToken(ed, { claims: { exp: "soon" } }), /exp/);
    await expectInvalid(await signToken(ed, { claims: { scope: ["mcp:read"] } }), /scope/);
  });

  it("unknown kid with a local JWKS", async () => {
    const other = await makeKey("EdDSA", "ed-2");
    await expectInvalid(await signToken(other), /no key/);
  });

  it("a valid signature from a different key under a known kid", async () => {
    const impostor = await makeKey("EdDSA", "ed-1");
    await expectInvalid(await signToken(impostor), /signature/);
  });
});

describe("challenges", () => {
  it("missing token: 401 with resource_metadata and scope, no error param", async () => {
    const { verifier } = setup();
    const r = await verifier.verify(new Request(RESOURCE));
    const { header, body } = await expectFailure(r, 401, "invalid_token");
    assert.equal(
      header,
      `Bearer resource_metadata="${PRM}", scope="mcp:read mcp:write mcp:admin"`,
    );
    // The body mirrors the challenge: no credentials → no `error` member (RFC 6750 §3.1).
    assert.deepEqual(Object.keys(body), ["error_description"]);
    const r2 = await verifier.verify(new Request(RESOURCE), { scopes: ["mcp:write"] });
    assert.equal(
      (await expectFailure(r2, 401, "invalid_token")).header,
      `Bearer resource_metadata="${PRM}", scope="mcp:write"`,
    );
    const r3 = await verifier.verify("");
    assert.equal(r3.ok ? 0 : r3.status, 401);
  });

  it("a non-Bearer Authorization scheme counts as no bearer credentials", async () => {
    const { verifier } = setup();
    const r = await verifier.verify(
      new Request(RESOURCE, { headers: { authorization: "Basic dXNlcjpwYXNz" } }),
    );
    const { header } = await expectFailure(r, 401, "invalid_token");
    assert.equal(header, `Bearer resource_metadata="${PRM}", scope="mcp:read mcp:write mcp:admin"`);
  });

  it("missing token without scopesSupported omits scope", async () => {
    const { verifier } = setup({ scopesSupported: undefined });
    const { header } = await expectFailure(
      await verifier.verify(new Request(RESOURCE)),
      401,
      "invalid_token",
    );
    assert.equal(header, `Bearer resource_metadata="${PRM}"`);
  });

  it("invalid token: exact header", async () => {
    const { verifier } = setup({ resourceMetadataUrl: "https://rs.example/prm" });
    const token = await signToken(ed, { claims: { iss: "http://evil" } });
    const { header } = await expectFailure(
      await verifier.verify(bearer(token), { scopes: ["mcp:read"] }),
      401,
      "invalid_token",
    );
    assert.equal(
      header,
      'Bearer error="invalid_token", error_description="token was issued by another issuer", ' +
        'resource_metadata="https://rs.example/prm", scope="mcp:read"',
    );
  });

  it("expired token: exact header with scopesSupported (no offline_access)", async () => {
    const { verifier, advance } = setup();
    const token = await signToken(ed);
    advance(400_000);
    const { header } = await expectFailure(
      await verifier.verify(bearer(token)),
      401,
      "invalid_token",
    );
    assert.equal(
      header,
      `Bearer error="invalid_token", error_description="token expired", resource_metadata="${PRM}", ` +
        `scope="mcp:read mcp:write mcp:admin"`,
    );
  });

  it("insufficient scope: 403 naming all scopes the operation needs", async () => {
    const { verifier } = setup();
    const token = await signToken(ed, { claims: { scope: "mcp:read" } });
    const r = await verifier.verify(bearer(token), { scopes: ["mcp:read", "mcp:admin"] });
    const { header, body } = await expectFailure(r, 403, "insufficient_scope");
    assert.equal(
      header,
      `Bearer error="insufficient_scope", scope="mcp:read mcp:admin", resource_metadata="${PRM}"`,
    );
    assert.equal(body.error, "insufficient_scope");
  });

  it("malformed Authorization header: 400 invalid_request", async () => {
    const { verifier } = setup();
    for (const value of ["Bearer", "Bearer a b", "Bearer ab\u00e9", "Bearer a,Basic b"]) {
      const req = new Request(RESOURCE, { headers: { authorization: value } });
      const { header } = await expectFailure(await verifier.verify(req), 400, "invalid_request");
      assert.equal(
        header,
        `Bearer error="invalid_request", error_description="malformed Authorization header", ` +
          `resource_metadata="${PRM}", scope="mcp:read mcp:write mcp:admin"`,
      );
    }
  });

  it("token in the query string: 400 invalid_request", async () => {
    const { verifier } = setup();
    const token = await signToken(ed);
    const r = await verifier.verify(new Request(`${RESOURCE}?access_token=${token}`));
    const { header, body } = await expectFailure(r, 400, "invalid_request", /query string/);
    assert.ok(header?.startsWith('Bearer error="invalid_request"'));
    assert.ok(!JSON.stringify(body).includes(token));
    const both = await verifier.verify(bearer(token, {}, `${RESOURCE}?access_token=x`));
    await expectFailure(both, 400, "invalid_request");
  });

  it("two credentials (header + body access_token): 400; body alone: 400", async () => {
    const { verifier } = setup();
    const token = await signToken(ed);
    const form = { "content-type": "application/x-www-form-urlencoded" };
    const req = bearer(token, { method: "POST", headers: form, body: `access_token=${token}` });
    await expectFailure(await verifier.verify(req), 400, "invalid_request", /more than one/);
    const bodyOnly = new Request(RESOURCE, {
      method: "POST",
      headers: form,
      body: `access_token=${token}`,
    });
    await expectFailure(
      await verifier.verify(bodyOnly),
      400,
      "invalid_request",
      /Authorization header/,
    );
    // The request body is still readable afterwards.
    assert.equal(await req.text(), `access_token=${token}`);
  });

  it("JSON POST body is left intact", async () => {
    const { verifier } = setup();
    const req = bearer(await signToken(ed), { method: "POST", body: '{"jsonrpc":"2.0"}' });
    assert.equal((await verifier.verify(req)).ok, true);
    assert.equal(await req.text(), '{"jsonrpc":"2.0"}');
  });
});

describe("scope hierarchy", () => {
  it("broader scope satisfies narrower requirements, transitively", async () => {
    const { verifier } = setup();
    const admin = await signToken(ed, { claims: { scope: "mcp:admin" } });
    const r = await verifier.verify(admin, { scopes: ["mcp:read", "mcp:write", "mcp:admin"] });
    assert.equal(r.ok, true);
    const write = await signToken(ed, { claims: { scope: "mcp:write" } });
    assert.equal((await verifier.verify(write, { scopes: ["mcp:read"] })).ok, true);
    const w = await verifier.verify(write, { scopes: ["mcp:admin"] });
    await expectFailure(w, 403, "insufficient_scope");
  });

  it("without a hierarchy, scopes must match exactly", async () => {
    const { verifier } = setup({ scopeHierarchy: undefined });
    const admin = await signToken(ed, { claims: { scope: "mcp:admin" } });
    await expectFailure(
      await verifier.verify(admin, { scopes: ["mcp:read"] }),
      403,
      "insufficient_scope",
    );
  });

  it("missingScopes handles cycles", () => {
    const h = { a: ["b"], b: ["a", "c"] };
    assert.deepEqual(missingScopes(["a"], ["b", "c", "d"], h), ["d"]);
    assert.deepEqual(missingScopes([], ["x"]), ["x"]);
  });
});

describe("helpers", () => {
  it("canonicalResource and resourceMetadataUrlFor", () => {
    assert.equal(canonicalResource("HTTPS://Example.COM:443/MCP/"), "https://example.com/MCP");
    assert.equal(canonicalResource("https://example.com/"), "https://example.com");
    assert.equal(canonicalResource("https://example.com/a#frag"), "https://example.com/a");
    assert.equal(canonicalResource("not a url"), "not a url");
    assert.equal(resourceMetadataUrlFor(RESOURCE), PRM);
    assert.equal(
      resourceMetadataUrlFor("https://example.com/"),
      "https://example.com/.well-known/oauth-protected-resource",
    );
  });

  it("createVerifier rejects bad configuration", () => {
    assert.throws(() => createVerifier({ issuer: "", audience: RESOURCE, jwks: { keys: [] } }));
    assert.throws(() => createVerifier({ issuer: ISSUER, audience: RESOURCE }));
    assert.throws(() =>
      createVerifier({
        issuer: ISSUER,
        audience: RESOURCE,
        jwks: { keys: [] },
        algorithms: ["HS256" as never],
      })
    );
  });

  it("never throws on hostile input", async () => {
    const { verifier } = setup();
    for (const input of [undefined, null, 42, {}, "x".repeat(20000)] as unknown[]) {
      const r = await verifier.verify(input as string);
      assert.equal(r.ok, false);
    }
  });
});

describe("verified-token cache", () => {
  it("a token is cached on its second check; later repeats skip the signature check", async () => {
    const { verifier } = setup();
    const token = await signToken(ed);
    assert.equal((await verifier.verify(bearer(token))).ok, true);
    assert.equal(verifier.stats().signatureChecks, 1);
    assert.equal((await verifier.verify(token)).ok, true);
    assert.equal(verifier.stats().signatureChecks, 2);
    assert.equal(verifier.stats().cacheHits, 0);
    for (let i = 0; i < 5; i++) assert.equal((await verifier.verify(bearer(token))).ok, true);
    assert.equal(verifier.stats().signatureChecks, 2);
    assert.equal(verifier.stats().cacheHits, 5);
  });

  it("each verified token has its own scopes array", async () => {
    const { verifier } = setup();
    const [a, b] = await Promise.all([
      signToken(ed, { claims: { scope: "mcp:read mcp:write mcp:read" } }),
      signToken(ed, { claims: { scope: "mcp:read mcp:write mcp:read" } }),
    ]);
    const ra = await verifier.verify(a);
    assert.ok(ra.ok);
    assert.deepEqual(ra.claims.scopes, ["mcp:read", "mcp:write"]);
    ra.claims.scopes.push("mcp:admin");
    const rb = await verifier.verify(b);
    assert.ok(rb.ok);
    assert.deepEqual(rb.claims.scopes, ["mcp:read", "mcp:write"]);
    assert.notEqual(rb.claims.scopes, ra.claims.scopes);
  });

  it("tokens seen once do not evict the cached ones (second-sight admission)", async () => {
    const { verifier } = setup({ cache: { maxEntries: 2 } });
    const [a, b] = await Promise.all([signToken(ed), signToken(ed)]);
    for (const t of [a, a, b, b]) assert.equal((await verifier.verify(t)).ok, true);
    const once = await Promise.all(Array.from({ length: 6 }, () => signToken(ed)));
    for (const t of once) assert.equal((await verifier.verify(t)).ok, true);
    assert.equal(verifier.stats().signatureChecks, 10);
    assert.equal((await verifier.verify(a)).ok, true);
    assert.equal((await verifier.verify(b)).ok, true);
    assert.equal(verifier.stats().signatureChecks, 10, "a and b still cached");
    assert.equal(verifier.stats().cacheHits, 2);
  });

  it("a token seen again only after maxEntries others counts as seen once", async () => {
    const { verifier } = setup({ cache: { maxEntries: 2 } });
    const [x, y, z] = await Promise.all([signToken(ed), signToken(ed), signToken(ed)]);
    for (const t of [x, y, z, x]) assert.equal((await verifier.verify(t)).ok, true);
    assert.equal(verifier.stats().signatureChecks, 4);
    assert.equal((await verifier.verify(x)).ok, true); // second sight within the window
    assert.equal((await verifier.verify(x)).ok, true); // cached
    assert.equal(verifier.stats().signatureChecks, 5);
    assert.equal(verifier.stats().cacheHits, 1);
  });

  it("with revocation state to keep, a token is cached on first sight", async () => {
    const { verifier } = setup({
      revocation: { mode: "cached", ttlMs: 60_000, isRevoked: () => Promise.resolve(false) },
    });
    const token = await signToken(ed);
    for (let i = 0; i < 3; i++) assert.equal((await verifier.verify(token)).ok, true);
    assert.equal(verifier.stats().signatureChecks, 1);
    assert.equal(verifier.stats().cacheHits, 2);
  });

  it("scopes are still checked on a cache hit", async () => {
    const { verifier } = setup();
    const token = await signToken(ed, { claims: { scope: "mcp:read" } });
    assert.equal((await verifier.verify(token, { scopes: ["mcp:read"] })).ok, true);
    assert.equal((await verifier.verify(token, { scopes: ["mcp:read"] })).ok, true); // admitted
    await expectFailure(
      await verifier.verify(token, { scopes: ["mcp:write"] }),
      403,
      "insufficient_scope",
    );
    assert.equal(verifier.stats().signatureChecks, 2);
    assert.equal(verifier.stats().cacheHits, 1);
  });

  it("honours exp with the injected clock", async () => {
    const { verifier, advance } = setup();
    const token = await signToken(ed);
    assert.equal((await verifier.verify(token)).ok, true);
    advance(304_000);
    assert.equal((await verifier.verify(token)).ok, true);
    advance(2_000);
    await expectFailure(await verifier.verify(token), 401, "invalid_token", /expired/);
  });

  it("is bounded (LRU eviction)", async () => {
    const { verifier } = setup({ cache: { maxEntries: 2 } });
    const [a, b, c] = await Promise.all([signToken(ed), signToken(ed), signToken(ed)]);
    // Each token is checked twice (second-sight admission) before it is cached.
    for (const t of [a, a, b, b]) await verifier.verify(t);
    await verifier.verify(a); // a is now most recent
    await verifier.verify(c);
    await verifier.verify(c); // cached: evicts b
    assert.equal(verifier.stats().signatureChecks, 6);
    await verifier.verify(a);
    assert.equal(verifier.stats().signatureChecks, 6);
    await verifier.verify(b);
    assert.equal(verifier.stats().signatureChecks, 7);
  });

  it("cache: false checks the signature every time", async () => {
    const { verifier } = setup({ cache: false });
    const token = await signToken(ed);
    await verifier.verify(token);
    await verifier.verify(token);
    assert.equal(verifier.stats().signatureChecks, 2);
  });

  it("failed verifications are not cached", async () => {
    const { verifier } = setup();
    const token = await signToken(ed, { claims: { iss: "http://evil" } });
    await verifier.verify(token);
    await verifier.verify(token);
    assert.equal(verifier.stats().signatureChecks, 2);
  });
});

describe("revocation modes", () => {
  function revocationSetup(mode: "strict" | "cached" | "stateless", ttlMs?: number) {
    const revoked = new Set<string>();
    const seen: VerifiedToken[] = [];
    const ctx = setup({
      revocation: {
        mode,
        ttlMs,
        isRevoked(claims) {
          seen.push(claims);
          return Promise.resolve(revoked.has(claims.grantId ?? ""));
        },
      },
    });
    return { ...ctx, revoked, seen };
  }

  it("strict: isRevoked on every verify, even on a cache hit", async () => {
    const { verifier, revoked, seen } = revocationSetup("strict");
    const token = await signToken(ed);
    assert.equal((await verifier.verify(token)).ok, true);
    assert.equal((await verifier.verify(token)).ok, true);
    assert.equal(seen.length, 2);
    assert.equal(seen[0].grantId, "grant-1");
    assert.equal(verifier.stats().signatureChecks, 1);
    revoked.add("grant-1");
    await expectFailure(await verifier.verify(token), 401, "invalid_token", /revoked/);
    assert.equal(seen.length, 3);
  });

  it("cached: isRevoked result reused for ttlMs", async () => {
    const { verifier, revoked, seen, advance } = revocationSetup("cached", 10_000);
    const token = await signToken(ed);
    assert.equal((await verifier.verify(token)).ok, true);
    revoked.add("grant-1");
    advance(9_999);
    assert.equal((await verifier.verify(token)).ok, true, "stale answer within ttl");
    assert.equal(seen.length, 1);
    advance(1);
    await expectFailure(await verifier.verify(token), 401, "invalid_token", /revoked/);
    assert.equal(seen.length, 2);
  });

  it("stateless: isRevoked never called", async () => {
    const { verifier, revoked, seen } = revocationSetup("stateless");
    revoked.add("grant-1");
    const token = await signToken(ed);
    assert.equal((await verifier.verify(token)).ok, true);
    assert.equal((await verifier.verify(token)).ok, true);
    assert.equal(seen.length, 0);
  });

  it("a failing revocation backend fails closed with 503", async () => {
    const { verifier } = setup({
      revocation: { mode: "strict", isRevoked: () => Promise.reject(new Error("db down")) },
    });
    const r = await verifier.verify(await signToken(ed));
    const { header, body } = await expectFailure(r, 503, "temporarily_unavailable");
    assert.equal(header, null);
    assert.equal(body.error, "temporarily_unavailable");
  });
});

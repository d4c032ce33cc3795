/**
 * Review of the performance changes (config validation rewrite, Durable Object RPC
 * transport, Workers KV prefetch, verify fast path): each test pins a behaviour the change
 * must keep, found by comparing the new code with the previous release's on edge cases.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { ConfigError, createAuthServer } from "../mod.ts";
import type { AuthServerConfig } from "../mod.ts";
import { base64url } from "jose";
import { createVerifier, type VerifyResult } from "../verify.ts";
import { ISSUER, makeKey, RESOURCE, signToken, T0 } from "./support/verify_fixtures.ts";

const base = (): Record<string, unknown> => ({
  issuer: "https://as.example.com",
  resources: ["https://mcp.example.com/mcp"],
  authenticate: () => "alice",
  quiet: true,
});

function refused(config: Record<string, unknown>, field: string): void {
  assert.throws(
    () => createAuthServer(config as unknown as AuthServerConfig),
    (e: unknown) => {
      assert.ok(e instanceof ConfigError, `ConfigError, got ${e}`);
      assert.ok(e.message.includes(`"${field}`), `names ${field}: ${e.message}`);
      return true;
    },
  );
}

test("config: an unknown field named like an Object.prototype member, or empty, is refused", () => {
  for (
    const k of [
      "constructor",
      "toString",
      "hasOwnProperty",
      "valueOf",
      "__proto__",
      "",
      "__defineGetter__",
    ]
  ) {
    const own = base();
    Object.defineProperty(own, k, {
      value: 1,
      enumerable: true,
      configurable: true,
      writable: true,
    });
    refused(own, "(config)");
    refused({ ...JSON.parse(`{${JSON.stringify(k)}: 1}`), ...base() }, "(config)");
  }
});

test("config: scope maps and rate limits must be plain objects (a Map, Date or RegExp was accepted and ignored)", () => {
  for (
    const odd of [
      new Map([["mcp:admin", ["mcp:read"]]]),
      new Date(0),
      /x/,
      new (class Hierarchy {})(),
    ]
  ) {
    refused({ ...base(), scopeHierarchy: odd }, "scopeHierarchy");
    refused({ ...base(), scopeDescriptions: odd }, "scopeDescriptions");
    refused({ ...base(), rateLimits: odd }, "rateLimits");
  }
  refused({ ...base(), scopeDescriptions: new String("x") }, "scopeDescriptions");
  // Plain and null-prototype objects still pass.
  for (const make of [() => ({}), () => Object.create(null)]) {
    const h = Object.assign(make(), { "mcp:admin": ["mcp:read"] });
    const d = Object.assign(make(), { "mcp:read": "Read" });
    const r = Object.assign(make(), { token: { ip: false } });
    createAuthServer(
      { ...base(), scopeHierarchy: h, scopeDescriptions: d, rateLimits: r } as never,
    );
  }
});

test("store prefetch: a driver hint that throws synchronously or returns no promise changes nothing", async () => {
  const { Store } = await import("../src/_store.ts");
  const { memoryStorage } = await import("../mod.ts");
  for (
    const prefetch of [
      () => {
        throw new Error("sync failure");
      },
      () => undefined,
      () => Promise.reject(new Error("async failure")),
      () => ({ then: 1 }),
    ]
  ) {
    const driver = { ...memoryStorage(), prefetch } as unknown as import("../mod.ts").Storage;
    const store = new Store(driver, Date.now);
    // Never throws, never rejects: the consent answer's outcome does not depend on the hint.
    await store.prefetch(["grant", "g"]);
  }
});

// --- verify fast path (perfC) ------------------------------------------------------------

const verifyKeyP = makeKey("EdDSA", "k1");

/** A token whose header and payload parts are exactly `h` and `p`, validly signed. */
async function signParts(h: string, p: string): Promise<string> {
  const key = await verifyKeyP;
  const input = `${h}.${p}`;
  const sig = await crypto.subtle.sign(
    { name: "Ed25519" },
    key.privateKey,
    new TextEncoder().encode(input),
  );
  return `${input}.${base64url.encode(new Uint8Array(sig))}`;
}

test("verify: validly signed tokens whose parts are odd encodings answer alike on both paths", async () => {
  const key = await verifyKeyP;
  const make = (full: boolean) =>
    createVerifier({
      issuer: ISSUER,
      audience: RESOURCE,
      jwks: { keys: [key.publicJwk as never] },
      now: () => T0,
      // The full path is forced by a revocation check that never revokes.
      revocation: full ? { mode: "strict", isRevoked: () => Promise.resolve(false) } : undefined,
    });
  const fast = make(false);
  const full = make(true);
  const warm = await signToken(key);
  assert.equal((await fast.verify(warm)).ok, true);
  assert.equal((await full.verify(warm)).ok, true);
  const summary = (r: VerifyResult) =>
    r.ok ? { ok: true, claims: r.claims.claims } : {
      ok: false,
      status: r.status,
      error: r.error,
      challenge: r.response.headers.get("www-authenticate"),
    };
  const enc = new TextEncoder();
  const b64 = (bytes: Uint8Array) => base64url.encode(bytes);
  const iat = Math.floor(T0 / 1000);
  const claims = JSON.stringify({
    iss: ISSUER,
    sub: "u",
    aud: RESOURCE,
    client_id: "c",
    scope: "mcp:read",
    iat,
    exp: iat + 300,
    jti: "j",
  });
  const header = JSON.stringify({ alg: "EdDSA", typ: "at+jwt", kid: "k1" });
  const withBytes = (...b: number[]) =>
    new Uint8Array([...enc.encode(claims.slice(0, -1) + ',"n":"'), ...b, ...enc.encode('"}')]);
  const payloads: Record<string, Uint8Array> = {
    plain: enc.encode(claims),
    leadingSpace: enc.encode(" " + claims),
    bom: enc.encode("\ufeff" + claims),
    array: enc.encode(`[${claims}]`),
    duplicateSub: enc.encode(claims.replace("{", '{"sub":"other",')),
    protoKey: enc.encode(claims.replace("{", '{"__proto__":{"sub":"x"},')),
    invalidUtf8: withBytes(0xc3, 0x28),
    overlongUtf8: withBytes(0xc0, 0xaf),
    latin1Byte: withBytes(0xe9),
    surrogateUtf8: withBytes(0xed, 0xa0, 0x80),
    utf8: withBytes(...enc.encode("é✓𝄞")),
  };
  let refusedOdd = 0;
  for (const [name, bytes] of Object.entries(payloads)) {
    const p = b64(bytes);
    const odd = [
      p + "=".repeat((4 - (p.length % 4)) % 4 || 4), // padded
      p.slice(0, 4) + "\n" + p.slice(4), // white space atob skips
      p.slice(0, 4) + " \t" + p.slice(4, -1), // …with the length kept ≢ 1 (mod 4)
      "+" + p.slice(1), // standard base64's alphabet
      "/" + p.slice(1),
    ];
    for (const part of [p, ...odd]) {
      for (const h of [b64(enc.encode(header)), b64(enc.encode(" " + header))]) {
        const token = await signParts(h, part);
        const a = summary(await fast.verify(token));
        const b = summary(await full.verify(token));
        assert.deepEqual(a, b, `${name}: ${part.slice(0, 12)}`);
        if (part !== p) {
          assert.equal(a.ok, false, `${name}: not base64url, yet accepted`);
          refusedOdd++;
        }
      }
    }
  }
  assert.equal(refusedOdd, Object.keys(payloads).length * 5 * 2);
  // Both paths checked the same signatures (the fast one never checks where the full would not).
  assert.equal(fast.stats().signatureChecks, full.stats().signatureChecks);
});

test("verify: the verified-token cache never holds more than maxEntries (eviction in batches)", async () => {
  const key = await verifyKeyP;
  for (const maxEntries of [1, 5, 33, 64]) {
    const v = createVerifier({
      issuer: ISSUER,
      audience: RESOURCE,
      jwks: { keys: [key.publicJwk as never] },
      now: () => T0,
      cache: { maxEntries },
    });
    const tokens = await Promise.all(Array.from({ length: 100 }, () => signToken(key)));
    // Twice each: a token seen once is not cached (second-sight admission).
    for (const t of tokens) {
      assert.equal((await v.verify(t)).ok, true);
      assert.equal((await v.verify(t)).ok, true);
    }
    // A cached token is answered without a signature check. Newest first, so every token still
    // cached after the first pass is met before the misses (re-inserted) evict anything.
    const before = v.stats().signatureChecks;
    for (const t of [...tokens].reverse()) assert.equal((await v.verify(t)).ok, true);
    const checked = v.stats().signatureChecks - before;
    assert.ok(
      tokens.length - checked <= maxEntries,
      `${maxEntries}: ${tokens.length - checked} cached`,
    );
    assert.ok(tokens.length - checked >= 1, "the newest token was cached");
  }
});

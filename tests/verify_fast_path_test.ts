/**
 * The verifier's fresh-token fast path (a token string, local keys, no revocation hop; issue 12)
 * must answer exactly as the full path (forced here by a revocation check that never revokes):
 * same ok / status / error / challenge for valid tokens, non-ASCII payloads, and one-character
 * mutations across a token. The two verifiers' signature-check counters show which path ran.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { createVerifier, type VerifyResult } from "../verify.ts";
import { portableDecode } from "../src/_jwt.ts";
import { ISSUER, makeKey, RESOURCE, signToken, T0 } from "./support/verify_fixtures.ts";

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

async function pair(token: string): Promise<[unknown, unknown]> {
  const key = await keyP;
  // Fresh verifiers each time: no verified-token cache shared between the two paths.
  const make = (full: boolean) =>
    createVerifier({
      issuer: ISSUER,
      audience: RESOURCE,
      jwks: { keys: [key.publicJwk as never] },
      now: () => T0,
      revocation: full ? { mode: "strict", isRevoked: () => Promise.resolve(false) } : undefined,
    });
  const summary = (r: VerifyResult) => {
    if (r.ok) return { ok: true, sub: r.claims.subject, claims: r.claims.claims };
    return {
      ok: false,
      status: r.status,
      error: r.error,
      challenge: r.response.headers.get("www-authenticate"),
    };
  };
  const fastVerifier = make(false);
  const fullVerifier = make(true);
  const fast = summary(await fastVerifier.verify(token));
  const full = summary(await fullVerifier.verify(token));
  // Same number of signature checks: the fast path never checks where the full one would not.
  assert.equal(fastVerifier.stats().signatureChecks, fullVerifier.stats().signatureChecks);
  return [fast, full];
}

const keyP = makeKey("EdDSA", "k1");

test("fast path = full path: valid, non-ASCII and oddly encoded tokens", async () => {
  const key = await keyP;
  const valid = await signToken(key);
  const [fast, full] = await pair(valid);
  assert.deepEqual(fast, full);
  assert.equal((fast as { ok: boolean }).ok, true);

  const unicode = await signToken(key, { claims: { sub: "zoë ✓ 𝄞", name: "Ünïcødé" } });
  const [uf, ul] = await pair(unicode);
  assert.deepEqual(uf, ul);
  assert.equal((uf as { sub: string }).sub, "zoë ✓ 𝄞");

  const [a, b] = await pair(`${valid}=`); // padded signature
  assert.deepEqual(a, b);
  const dot = valid.lastIndexOf(".");
  const [c, d] = await pair(valid.slice(0, dot + 1) + valid.slice(dot + 2)); // 85 chars
  assert.deepEqual(c, d);
  assert.equal((c as { ok: boolean }).ok, false);
});

test("fast path = full path for one-character mutations across the token", async () => {
  const key = await keyP;
  const token = await signToken(key);
  // Every position, replaced by a neighbouring alphabet character, a dot or a non-ASCII char.
  for (let i = 0; i < token.length; i += i + 3 >= token.length ? 1 : 3) {
    const ch = token[i];
    const next = ch === "." ? "A" : ALPHABET[(ALPHABET.indexOf(ch) + 1) % 64];
    for (const repl of [next, ".", "é"]) {
      const mutated = token.slice(0, i) + repl + token.slice(i + 1);
      const [fast, full] = await pair(mutated);
      assert.deepEqual(fast, full, `position ${i} → ${repl}`);
      // The last character carries 4 unused bits that the (loose) decoder ignores: changing only
      // them leaves the signature bytes unchanged, so both paths accept it alike.
      const unusedBitsOnly = i === token.length - 1 && repl === next;
      if (!unusedBitsOnly) {
        assert.equal((fast as { ok: boolean }).ok, false, `position ${i} → ${repl} accepted`);
      }
    }
  }
});

test("the portable base64url decoder (Node 20, edge-runtime) equals the native loose one", () => {
  const native: ((s: string, o: object) => Uint8Array) | undefined = (Uint8Array as unknown as {
    fromBase64?: (s: string, o: object) => Uint8Array;
  }).fromBase64;
  assert.ok(native, "this Deno has Uint8Array.fromBase64 to compare with");
  for (let len = 0; len < 70; len++) {
    for (let round = 0; round < 20; round++) {
      let text = "";
      for (let i = 0; i < len; i++) text += ALPHABET[Math.floor(Math.random() * 64)];
      if (len % 4 === 1) {
        assert.throws(() => portableDecode(text), /malformed base64url/);
        continue;
      }
      const want: Uint8Array = native(text, { alphabet: "base64url", lastChunkHandling: "loose" });
      assert.deepEqual([...portableDecode(text)], [...want], text);
    }
  }
  for (const bad of ["ab+c", "ab/c", "ab=c", "abc ", "abé1", "a.bc"]) {
    assert.throws(() => portableDecode(bad), /malformed base64url/, bad);
  }
});

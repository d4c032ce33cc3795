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

/** Calls to `atob` while `run` runs: the fast path decodes the payload with it, the full path not. */
async function countingAtob<T>(run: () => Promise<T>): Promise<[T, number]> {
  const real = globalThis.atob;
  let calls = 0;
  globalThis.atob = (data: string) => {
    calls++;
    return real(data);
  };
  try {
    return [await run(), calls];
  } finally {
    globalThis.atob = real;
  }
}

/** The same token through a warmed fast-path verifier and the full path; `fastDecoded`: atob ran. */
async function pair(token: string): Promise<[unknown, unknown, boolean]> {
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
  // A fresh verifier's first call cannot take the fast path (its keys are imported on first
  // use): one other valid token first, so the keys are ready and the header is remembered.
  const warm = await warmP;
  assert.equal((await fastVerifier.verify(warm)).ok, true);
  assert.equal((await fullVerifier.verify(warm)).ok, true);
  const [fast, fastAtob] = await countingAtob(async () =>
    summary(await fastVerifier.verify(token))
  );
  const [full, fullAtob] = await countingAtob(async () =>
    summary(await fullVerifier.verify(token))
  );
  assert.equal(fullAtob, 0);
  // Same number of signature checks: the fast path never checks where the full one would not.
  assert.equal(fastVerifier.stats().signatureChecks, fullVerifier.stats().signatureChecks);
  return [fast, full, fastAtob > 0];
}

const keyP = makeKey("EdDSA", "k1");
const warmP = keyP.then((key) => signToken(key));

test("fast path = full path: valid, non-ASCII and oddly encoded tokens", async () => {
  const key = await keyP;
  const valid = await signToken(key);
  const [fast, full, fastPath] = await pair(valid);
  assert.deepEqual(fast, full);
  assert.equal((fast as { ok: boolean }).ok, true);
  assert.ok(fastPath, "a valid token took the fast path");

  const unicode = await signToken(key, { claims: { sub: "zoë ✓ 𝄞", name: "Ünïcødé" } });
  const [uf, ul, unicodeFast] = await pair(unicode);
  assert.deepEqual(uf, ul);
  assert.ok(unicodeFast, "a non-ASCII payload took the fast path");
  assert.equal((uf as { sub: string }).sub, "zoë ✓ 𝄞");

  const [a, b] = await pair(`${valid}=`); // padded signature
  assert.deepEqual(a, b);
  const dot = valid.lastIndexOf(".");
  const [c, d] = await pair(valid.slice(0, dot + 1) + valid.slice(dot + 2)); // 85 chars
  assert.deepEqual(c, d);
  assert.equal((c as { ok: boolean }).ok, false);

  // Payload padded with "=" or split by white space: atob would accept both, base64url does not.
  const first = valid.indexOf(".");
  const second = valid.indexOf(".", first + 1);
  const payload = valid.slice(first + 1, second);
  for (
    const odd of [
      payload + "=".repeat((4 - (payload.length % 4)) % 4 || 4),
      payload.slice(0, 8) + " " + payload.slice(8),
      payload.slice(0, 8) + "    " + payload.slice(8), // decodes to the same bytes in atob
      payload.slice(0, 8) + "\t" + payload.slice(8, -1),
    ]
  ) {
    const [e, f] = await pair(valid.slice(0, first + 1) + odd + valid.slice(second));
    assert.deepEqual(e, f);
    assert.equal((e as { ok: boolean }).ok, false);
  }

  // A payload whose base64url has "-" and "_", written with standard base64's "+" and "/".
  const dashes = await signToken(key, { claims: { note: "???>>>~~~" } });
  const [d1, d2] = [dashes.indexOf("."), dashes.lastIndexOf(".")];
  const part = dashes.slice(d1 + 1, d2);
  assert.ok(part.includes("-") && part.includes("_"));
  const standard = part.replaceAll("-", "+").replaceAll("_", "/");
  const [g, h] = await pair(dashes.slice(0, d1 + 1) + standard + dashes.slice(d2));
  assert.deepEqual(g, h);
  assert.equal((g as { ok: boolean }).ok, false);
});

test("fast path = full path for one-character mutations across the token", async () => {
  const key = await keyP;
  const token = await signToken(key);
  // Every position, replaced by a neighbouring alphabet character, a dot, a non-ASCII char, or
  // what `atob` (the fast path's payload decoder) reads or skips but base64url refuses.
  for (let i = 0; i < token.length; i += i + 3 >= token.length ? 1 : 3) {
    const ch = token[i];
    const next = ch === "." ? "A" : ALPHABET[(ALPHABET.indexOf(ch) + 1) % 64];
    for (const repl of [next, ".", "é", "+", "/", "=", " ", "\n"]) {
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

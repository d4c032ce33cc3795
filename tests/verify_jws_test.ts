/**
 * The dependency-free JWS helpers (src/_jwt.ts) against the RFC 8037 published Ed25519 vector,
 * plus base64url edge cases.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import {
  decodeBase64Url,
  importVerificationKey,
  parseCompactJws,
  verifySignature,
} from "../src/_jwt.ts";
import { b64json } from "./support/verify_fixtures.ts";

const vectors = JSON.parse(
  await Deno.readTextFile(new URL("../../shared/vectors.json", import.meta.url)).catch(() =>
    Deno.readTextFile("/work/shared/vectors.json")
  ),
);

test("RFC 8037 A.4 Ed25519 JWS vector verifies with the raw Web Crypto path", async () => {
  const v = vectors.rfc8037_appendix_a4_ed25519_jws;
  const key = await importVerificationKey({ ...v.private_jwk, d: undefined }, ["EdDSA"]);
  assert.ok(key);
  assert.equal(key.alg, "EdDSA");
  // The vector's payload is plain text, so build the parsed form by hand.
  const jws = {
    header: { alg: "EdDSA" },
    payload: {},
    signingInput: new TextEncoder().encode(v.signing_input),
    signature: decodeBase64Url(v.signature),
  };
  assert.equal(await verifySignature(key, jws), true);
  const tampered = { ...jws, signingInput: new TextEncoder().encode(v.signing_input + "x") };
  assert.equal(await verifySignature(key, tampered), false);
  const token = `${b64json({ alg: "EdDSA" })}.${b64json({ a: 1 })}.${v.signature}`;
  assert.deepEqual(parseCompactJws(token).payload, { a: 1 });
  assert.throws(() => parseCompactJws(`${v.signing_input}.${v.signature}`), /payload/);
});

test("RFC 8037 vector key is refused when EdDSA is not allowed or alg pins another", async () => {
  const v = vectors.rfc8037_appendix_a4_ed25519_jws;
  const pub = { kty: "OKP", crv: "Ed25519", x: v.private_jwk.x };
  assert.equal(await importVerificationKey(pub, ["ES256"]), undefined);
  assert.equal(
    await importVerificationKey({ ...pub, alg: "ES256" }, ["EdDSA", "ES256"]),
    undefined,
  );
  assert.equal(await importVerificationKey({ ...pub, use: "enc" }, ["EdDSA"]), undefined);
  assert.equal(await importVerificationKey({ kty: "oct", k: "AAAA" }, ["EdDSA"]), undefined);
});

test("base64url decoder rejects padding, foreign characters and impossible lengths", () => {
  assert.deepEqual([...decodeBase64Url("AQID")], [1, 2, 3]);
  assert.deepEqual([...decodeBase64Url("-_8")], [0xfb, 0xff]);
  assert.throws(() => decodeBase64Url("AQ=="));
  assert.throws(() => decodeBase64Url("A+/B"));
  assert.throws(() => decodeBase64Url("AQIDB"));
});

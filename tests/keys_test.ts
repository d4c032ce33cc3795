/**
 * The server's own JWS code (src/keys.ts, plain Web Crypto): what it signs verifies with an
 * independent implementation (jose), in both algorithms; what `verifyOwn` (used by
 * `/introspect`) accepts is exactly our own live tokens.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeProtectedHeader, importJWK, jwtVerify, SignJWT } from "jose";
import { generateSigningKey, loadKeys } from "../src/keys.ts";

const ISS = "https://as.example.com";
const quiet = () => {};

for (const alg of ["EdDSA", "ES256"] as const) {
  test(`${alg}: tokens signed by the server verify with jose; verifyOwn accepts only our live tokens`, async () => {
    const jwk = await generateSigningKey(alg);
    assert.deepEqual(
      Object.keys(jwk).sort(),
      (alg === "EdDSA"
        ? ["alg", "crv", "d", "kid", "kty", "x"]
        : ["alg", "crv", "d", "kid", "kty", "x", "y"]).sort(),
    );
    const keys = await loadKeys([jwk], quiet);
    const now = Math.floor(Date.now() / 1000);
    const claims = {
      iss: ISS,
      sub: "alice",
      aud: "https://mcp.example.com/mcp",
      iat: now,
      exp: now + 60,
    };
    const token = await keys.sign(claims);
    assert.deepEqual(decodeProtectedHeader(token), { alg, typ: "at+jwt", kid: jwk.kid });
    const pub = await importJWK(keys.jwks.keys[0], alg);
    const { payload } = await jwtVerify(token, pub, {
      issuer: ISS,
      typ: "at+jwt",
      algorithms: [alg],
    });
    assert.deepEqual(payload, claims);

    assert.deepEqual(await keys.verifyOwn(token, ISS, Date.now()), claims);
    // Tampered payload, wrong issuer, expired, not yet valid, another key, wrong typ: refused.
    const [h, , s] = token.split(".");
    const forged = btoa(JSON.stringify({ ...claims, sub: "mallory" })).replace(/=+$/, "")
      .replaceAll("+", "-").replaceAll("/", "_");
    assert.equal(await keys.verifyOwn(`${h}.${forged}.${s}`, ISS, Date.now()), undefined);
    assert.equal(await keys.verifyOwn(token, "https://other.example.com", Date.now()), undefined);
    assert.equal(await keys.verifyOwn(token, ISS, (now + 61) * 1000), undefined);
    const early = await keys.sign({ ...claims, nbf: now + 30 });
    assert.equal(await keys.verifyOwn(early, ISS, Date.now()), undefined);
    const other = await loadKeys([await generateSigningKey(alg)], quiet);
    assert.equal(await keys.verifyOwn(await other.sign(claims), ISS, Date.now()), undefined);
    const priv = await importJWK(jwk, alg);
    const plainJwt = await new SignJWT(claims).setProtectedHeader({ alg, typ: "JWT", kid: jwk.kid })
      .sign(priv);
    assert.equal(await keys.verifyOwn(plainJwt, ISS, Date.now()), undefined, "typ must be at+jwt");
    assert.equal(await keys.verifyOwn("not.a.jwt", ISS, Date.now()), undefined);
  });
}

test("a rotated-out public key still verifies its tokens; the first key signs", async () => {
  const oldKey = await generateSigningKey("EdDSA");
  const newKey = await generateSigningKey("ES256");
  const before = await loadKeys([oldKey], quiet);
  const { d: _d, ...oldPublic } = oldKey;
  const after = await loadKeys([newKey, oldPublic], quiet);
  const now = Math.floor(Date.now() / 1000);
  const claims = { iss: ISS, sub: "alice", iat: now, exp: now + 60 };
  assert.deepEqual(await after.verifyOwn(await before.sign(claims), ISS, Date.now()), claims);
  assert.equal(decodeProtectedHeader(await after.sign(claims)).kid, newKey.kid);
  assert.equal(after.alg, "ES256");
});

test("seal keys are per purpose and stable", async () => {
  const keys = await loadKeys([await generateSigningKey()], quiet);
  assert.equal(await keys.sealKey("consent"), await keys.sealKey("consent"));
  assert.notEqual(await keys.sealKey("consent"), await keys.sealKey("props"));
});

test("sealed blobs open only with the same key and purpose, and not when altered", async () => {
  const { seal, unseal } = await import("../src/_seal.ts");
  const keys = await loadKeys([await generateSigningKey()], quiet);
  const k = await keys.sealKey("consent");
  const blob = await seal(k, { a: 1, secret: "s3cret" }, "purpose A");
  assert.ok(!atob(blob.replaceAll("-", "+").replaceAll("_", "/")).includes("s3cret"));
  assert.deepEqual(await unseal(k, blob, "purpose A"), { a: 1, secret: "s3cret" });
  assert.equal(await unseal(k, blob, "purpose B"), undefined);
  assert.equal(await unseal(await keys.sealKey("other"), blob, "purpose A"), undefined);
  const flipped = blob.slice(0, 30) + (blob[30] === "A" ? "B" : "A") + blob.slice(31);
  assert.equal(await unseal(k, flipped, "purpose A"), undefined);
  assert.equal(await unseal(k, "", "purpose A"), undefined);
  assert.notEqual(await seal(k, { a: 1 }, "p"), await seal(k, { a: 1 }, "p"), "fresh IV each time");
});

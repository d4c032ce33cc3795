/**
 * Shared fixtures for the verifier tests (token signing with jose), plus checks of the
 * dependency-free JWS helpers against the RFC 8037 published vector.
 *
 * @module
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import * as jose from "jose";
import {
  decodeBase64Url,
  importVerificationKey,
  parseCompactJws,
  verifySignature,
} from "../src/_jwt.ts";

/** Issuer used by the fixtures. */
export const ISSUER = "http://localhost:8787";
/** Resource (audience) used by the fixtures. */
export const RESOURCE = "http://localhost:8787/mcp";
/** A fixed clock origin (ms). */
export const T0 = 1_800_000_000_000;

/** A generated signing key with its public JWK. */
export interface TestKey {
  /** Private key for jose SignJWT. */
  privateKey: CryptoKey;
  /** Public JWK including kid and alg. */
  publicJwk: jose.JWK;
  /** Key id. */
  kid: string;
  /** Algorithm. */
  alg: "EdDSA" | "ES256";
}

/** Generates an Ed25519 or P-256 key pair with a kid. */
export async function makeKey(alg: "EdDSA" | "ES256", kid: string): Promise<TestKey> {
  const { privateKey, publicKey } = await jose.generateKeyPair(alg, { extractable: true });
  const publicJwk = { ...(await jose.exportJWK(publicKey)), kid, alg, use: "sig" };
  return { privateKey, publicJwk, kid, alg };
}

/** Options for {@linkcode signToken}. */
export interface SignOptions {
  /** Payload overrides; a value of `undefined` removes the claim. */
  claims?: Record<string, unknown>;
  /** Header overrides; a value of `undefined` removes the member. */
  header?: Record<string, unknown>;
  /** Issued-at time in ms (default T0). */
  at?: number;
}

/** Signs an RFC 9068 access token with the fixture defaults. */
export async function signToken(key: TestKey, opts: SignOptions = {}): Promise<string> {
  const iat = Math.floor((opts.at ?? T0) / 1000);
  const payload: Record<string, unknown> = {
    iss: ISSUER,
    sub: "user-1",
    aud: RESOURCE,
    client_id: "client-1",
    scope: "mcp:read",
    iat,
    exp: iat + 300,
    jti: crypto.randomUUID(),
    gid: "grant-1",
    ...opts.claims,
  };
  for (const [k, v] of Object.entries(payload)) if (v === undefined) delete payload[k];
  const header: Record<string, unknown> = {
    alg: key.alg,
    typ: "at+jwt",
    kid: key.kid,
    ...opts.header,
  };
  for (const [k, v] of Object.entries(header)) if (v === undefined) delete header[k];
  return await new jose.SignJWT(payload as jose.JWTPayload)
    .setProtectedHeader(header as jose.JWTHeaderParameters)
    .sign(key.privateKey);
}

/** Signs arbitrary header/payload JSON with an Ed25519 fixture key, bypassing jose's checks. */
export async function signRaw(
  key: TestKey,
  header: Record<string, unknown>,
  claims: Record<string, unknown> = {},
): Promise<string> {
  const iat = Math.floor(T0 / 1000);
  const payload = {
    iss: ISSUER,
    sub: "user-1",
    aud: RESOURCE,
    client_id: "client-1",
    scope: "mcp:read",
    iat,
    exp: iat + 300,
    jti: crypto.randomUUID(),
    ...claims,
  };
  const input = `${b64json(header)}.${b64json(payload)}`;
  const sig = await crypto.subtle.sign(
    { name: "Ed25519" },
    key.privateKey,
    new TextEncoder().encode(input),
  );
  return `${input}.${jose.base64url.encode(new Uint8Array(sig))}`;
}

/** base64url-encodes a JSON value. */
export function b64json(value: unknown): string {
  return jose.base64url.encode(JSON.stringify(value));
}

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

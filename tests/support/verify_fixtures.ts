/**
 * Shared fixtures for the verifier and MCP tests: key generation and access-token signing
 * (jose `SignJWT`, plus a raw signer for headers jose refuses to produce). Holds no tests
 * itself, so importing it does not re-register any.
 *
 * @module
 */

import * as jose from "jose";

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

/** The fixture claims of a token issued at `iat` (seconds): 300 s lifetime, fresh jti. */
function baseClaims(iat: number): Record<string, unknown> {
  return {
    iss: ISSUER,
    sub: "user-1",
    aud: RESOURCE,
    client_id: "client-1",
    scope: "mcp:read",
    iat,
    exp: iat + 300,
    jti: crypto.randomUUID(),
  };
}

/** Signs an RFC 9068 access token with the fixture defaults. */
export async function signToken(key: TestKey, opts: SignOptions = {}): Promise<string> {
  const iat = Math.floor((opts.at ?? T0) / 1000);
  const payload: Record<string, unknown> = {
    ...baseClaims(iat),
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
  const payload = { ...baseClaims(iat), ...claims };
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

/**
 * Signing keys: import the configured JWKs (or make an ephemeral development
 * key), sign RFC 9068 access tokens, publish the JWKS.
 *
 * @module
 */
import { createLocalJWKSet, exportJWK, importJWK, SignJWT } from "jose";
import type { JWK, JWTPayload } from "jose";

/**
 * A signing key as a JSON Web Key (RFC 7517 §4; RFC 8037 for OKP, RFC 7518 §6.2 for EC):
 * Ed25519 (`kty: "OKP"`, `crv: "Ed25519"`) or P-256 (`kty: "EC"`, `crv: "P-256"`), base64url
 * members. A private key has `d`; a public-only one is published for rotation but never signs.
 */
export interface SigningJwk {
  /** Key type: `"OKP"` (Ed25519) or `"EC"` (P-256). */
  kty?: string;
  /** Curve: `"Ed25519"` or `"P-256"`. */
  crv?: string;
  /** Public key (x coordinate for EC). */
  x?: string;
  /** EC y coordinate. */
  y?: string;
  /** Private key; absent on a public-only (retiring or upcoming) key. */
  d?: string;
  /** Key id, required: tokens name it in their `kid` header. */
  kid?: string;
  /** `"EdDSA"` or `"ES256"`. */
  alg?: string;
  /** `"sig"`. */
  use?: string;
  /** Other JWK members are kept but not read. */
  [member: string]: unknown;
}

/** The signing side of the key set. */
export interface KeySet {
  /** Sign an access token's claims with the active key. */
  sign(claims: JWTPayload): Promise<string>;
  /** The public JWK Set (all configured keys). */
  jwks: { keys: JWK[] };
  /** Algorithm of the active key. */
  alg: "EdDSA" | "ES256";
  /** True when the key is an ephemeral development key. */
  ephemeral: boolean;
  /** Key resolver for verifying our own tokens (jose `createLocalJWKSet`). */
  resolver: ReturnType<typeof createLocalJWKSet>;
}

function algOf(jwk: JWK): "EdDSA" | "ES256" {
  return jwk.kty === "OKP" ? "EdDSA" : "ES256";
}

function publicPart(jwk: JWK): JWK {
  const { kty, crv, x, y, kid } = jwk;
  const out: JWK = { kty, crv, x, kid, alg: algOf(jwk), use: "sig" };
  if (y) out.y = y;
  return out;
}

/** Generate an Ed25519 (default) or ES256 private JWK with a random kid. */
export async function generateSigningKey(
  alg: "EdDSA" | "ES256" = "EdDSA",
): Promise<SigningJwk> {
  const pair = alg === "EdDSA"
    ? await crypto.subtle.generateKey({ name: "Ed25519" }, true, [
      "sign",
      "verify",
    ]) as CryptoKeyPair
    : await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
      "sign",
      "verify",
    ]);
  const jwk = await exportJWK(pair.privateKey);
  jwk.kid = crypto.randomUUID();
  jwk.alg = alg;
  return jwk as SigningJwk;
}

/** Build the key set from config (first key signs). */
export async function loadKeys(
  configured: SigningJwk[] | undefined,
  warn: (msg: string) => void,
): Promise<KeySet> {
  let ephemeral = false;
  let keys = configured as JWK[] | undefined;
  if (!keys || keys.length === 0) {
    ephemeral = true;
    keys = [await generateSigningKey()];
    warn(
      "[gatehouse] WARNING: no signing key configured; using an EPHEMERAL key. Tokens die with this process. " +
        "Set `keys` (see generateSigningKey) for anything but local development.",
    );
  }
  const active = keys[0];
  const alg = algOf(active);
  const privateKey = await importJWK({ ...active, alg }, alg);
  const kid = active.kid!;
  const jwks = { keys: keys.map(publicPart) };
  return {
    alg,
    ephemeral,
    jwks,
    resolver: createLocalJWKSet(jwks),
    sign: (claims) =>
      new SignJWT(claims).setProtectedHeader({ alg, typ: "at+jwt", kid }).sign(privateKey),
  };
}

/**
 * A `private_key_jwt` client for tests (RFC 7523 §2.2): its own key pair,
 * its public JWKS, and signed client assertions with overridable claims.
 */
import { base64url, exportJWK, generateKeyPair, SignJWT } from "jose";
import type { CryptoKey as JoseKey, JWK } from "jose";

export const ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

export interface AssertionClient {
  alg: string;
  kid: string;
  publicJwk: JWK;
  jwks: { keys: JWK[] };
  /** Sign an assertion for `clientId`; `claims` override or (with undefined) remove defaults. */
  sign(
    clientId: string,
    aud: string | string[],
    claims?: Record<string, unknown>,
    header?: Record<string, unknown>,
  ): Promise<string>;
  /** Sign exactly this header and payload with Web Crypto (headers jose refuses to write). */
  signRaw(header: Record<string, unknown>, claims: Record<string, unknown>): Promise<string>;
}

/** A key pair for `alg` (RS256, ES256, EdDSA, …) and a signer. */
export async function assertionClient(alg = "EdDSA", kid = `k-${alg}`): Promise<AssertionClient> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: "sig" };
  return {
    alg,
    kid,
    publicJwk,
    jwks: { keys: [publicJwk] },
    sign: (clientId, aud, claims = {}, header = {}) =>
      signAssertion(privateKey, { alg, kid, ...header }, {
        iss: clientId,
        sub: clientId,
        aud,
        jti: crypto.randomUUID(),
        iat: Math.floor(Date.now() / 1000),
        exp: Math.floor(Date.now() / 1000) + 60,
        ...claims,
      }),
    async signRaw(header, claims) {
      const enc = (o: unknown) => base64url.encode(JSON.stringify(o));
      const input = `${enc(header)}.${enc(claims)}`;
      const params = alg === "EdDSA"
        ? { name: "Ed25519" }
        : alg === "ES256"
        ? { name: "ECDSA", hash: "SHA-256" }
        : { name: "RSASSA-PKCS1-v1_5" };
      const sig = await crypto.subtle.sign(
        params,
        privateKey as CryptoKey,
        new TextEncoder().encode(input),
      );
      return `${input}.${base64url.encode(new Uint8Array(sig))}`;
    },
  };
}

/** Sign arbitrary claims (undefined values are left out). */
export function signAssertion(
  key: JoseKey | Uint8Array,
  header: Record<string, unknown>,
  claims: Record<string, unknown>,
): Promise<string> {
  const payload = Object.fromEntries(Object.entries(claims).filter(([, v]) => v !== undefined));
  return new SignJWT(payload).setProtectedHeader(header as { alg: string }).sign(key);
}

/** The form fields that carry an assertion. */
export function assertionFields(assertion: string): Record<string, string> {
  return { client_assertion_type: ASSERTION_TYPE, client_assertion: assertion };
}

/**
 * An RSASSA-PKCS1-v1_5 / SHA-256 key pair of `bits` bits (e = 65537) made with Web Crypto
 * (jose refuses keys under 2048 bits), and its public JWK.
 */
export async function rsaPair(bits: number): Promise<{ pair: CryptoKeyPair; jwk: JsonWebKey }> {
  const pair = await crypto.subtle.generateKey(
    {
      name: "RSASSA-PKCS1-v1_5",
      modulusLength: bits,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: "SHA-256",
    },
    true,
    ["sign", "verify"],
  ) as CryptoKeyPair;
  return { pair, jwk: await crypto.subtle.exportKey("jwk", pair.publicKey) };
}

/**
 * The JWS signing input (`header.payload`, base64url) of an assertion for `clientId`:
 * iss = sub = `clientId`, `aud`, `jti`, exp in 60 s.
 */
export function assertionInput(
  header: { alg: string; kid: string },
  clientId: string,
  aud: string,
  jti: string,
): string {
  const enc = (o: unknown) => base64url.encode(JSON.stringify(o));
  const exp = Math.floor(Date.now() / 1000) + 60;
  return `${enc(header)}.${enc({ iss: clientId, sub: clientId, aud, exp, jti })}`;
}

/** Sign `input` (from {@link assertionInput}) with an RSA private key: the compact JWS. */
export async function signRs256(privateKey: CryptoKey, input: string): Promise<string> {
  const sig = await crypto.subtle.sign(
    "RSASSA-PKCS1-v1_5",
    privateKey,
    new TextEncoder().encode(input),
  );
  return `${input}.${base64url.encode(new Uint8Array(sig))}`;
}

/**
 * Internal JWS/JWT helpers for the resource-server verifier: base64url decoding, compact
 * serialization parsing and raw Web Crypto signature checks for EdDSA (Ed25519) and ES256.
 *
 * Dependency-free on purpose so that `verify.ts` works in any fetch runtime without npm.
 *
 * @module
 */

/** The JWS algorithms the verifier can accept. */
export type JwtAlgorithm = "EdDSA" | "ES256";

/** All algorithms this module implements. */
export const SUPPORTED_ALGORITHMS: readonly JwtAlgorithm[] = ["EdDSA", "ES256"];

/** A public JSON Web Key as published in a JWKS document (only the members we read). */
export interface PublicJwk {
  /** Key type: "OKP" (Ed25519) or "EC" (P-256); other types are ignored. */
  kty: string;
  /** Key id. */
  kid?: string;
  /** Curve name. */
  crv?: string;
  /** Public key (OKP) or x coordinate (EC). */
  x?: string;
  /** y coordinate (EC). */
  y?: string;
  /** Intended algorithm, if pinned by the publisher. */
  alg?: string;
  /** Intended use; only "sig" (or absent) is usable. */
  use?: string;
  /** Permitted operations; must include "verify" when present. */
  key_ops?: string[];
  /** Any other member. */
  [member: string]: unknown;
}

/** A JWKS document. */
export interface JwkSet {
  /** The keys. */
  keys: PublicJwk[];
}

/** A verification key ready for use. */
export interface VerificationKey {
  /** Key id from the JWK, if any. */
  kid?: string;
  /** The single algorithm this key may verify. */
  alg: JwtAlgorithm;
  /** The imported Web Crypto public key. */
  key: CryptoKey;
}

/** A parsed (not yet verified) compact JWS. */
export interface ParsedJws {
  /** Decoded protected header. */
  header: Record<string, unknown>;
  /** Decoded payload (must be a JSON object). */
  payload: Record<string, unknown>;
  /** The bytes the signature covers (ASCII of `header.payload`). */
  signingInput: Uint8Array<ArrayBuffer>;
  /** Decoded signature bytes. */
  signature: Uint8Array<ArrayBuffer>;
}

/** Thrown for any malformed or unacceptable token; `message` is safe to show (never the token). */
export class JwtError extends Error {
  /** Creates a JwtError. */
  constructor(message: string) {
    super(message);
    this.name = "JwtError";
  }
}

const B64URL = /^[A-Za-z0-9_-]*$/;

type FromBase64 = (
  input: string,
  options: { alphabet: "base64url"; lastChunkHandling: "loose" },
) => Uint8Array<ArrayBuffer>;
/** Native `Uint8Array.fromBase64` (TC39 proposal, shipped in recent V8) when the runtime has it. */
const fromBase64: FromBase64 | undefined = (
  Uint8Array as unknown as { fromBase64?: FromBase64 }
).fromBase64?.bind(Uint8Array);

/** Decodes unpadded base64url; throws JwtError on anything else. */
export function decodeBase64Url(input: string): Uint8Array<ArrayBuffer> {
  if (!B64URL.test(input) || input.length % 4 === 1) {
    throw new JwtError("malformed base64url");
  }
  if (fromBase64 !== undefined) {
    try {
      return fromBase64(input, { alphabet: "base64url", lastChunkHandling: "loose" });
    } catch {
      throw new JwtError("malformed base64url");
    }
  }
  const b64 = input.replace(/-/g, "+").replace(/_/g, "/") +
    "===".slice(0, (4 - (input.length % 4)) % 4);
  let bin: string;
  try {
    bin = atob(b64);
  } catch {
    throw new JwtError("malformed base64url");
  }
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

const decoder = new TextDecoder("utf-8", { fatal: true });
const encoder = new TextEncoder();

function decodeJsonObject(part: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(decodeBase64Url(part)));
  } catch {
    throw new JwtError(`malformed token ${what}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new JwtError(`malformed token ${what}`);
  }
  return value as Record<string, unknown>;
}

/**
 * Decodes one base64url segment to a JSON object, or returns undefined for anything the strict
 * {@linkcode parseCompactJws} would refuse (the caller then takes that path for the error).
 * Hot path of a fresh-token verify: no exception, no extra copy.
 */
export function tryDecodeJsonObject(part: string): Record<string, unknown> | undefined {
  if (!B64URL.test(part) || part.length % 4 === 1) return undefined;
  let value: unknown;
  try {
    const bytes = fromBase64 !== undefined
      ? fromBase64(part, { alphabet: "base64url", lastChunkHandling: "loose" })
      : decodeBase64Url(part);
    value = JSON.parse(decoder.decode(bytes));
  } catch {
    return undefined;
  }
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? value as Record<string, unknown>
    : undefined;
}

/** Decodes a base64url segment, or undefined when {@linkcode decodeBase64Url} would throw. */
export function tryDecodeBase64Url(part: string): Uint8Array<ArrayBuffer> | undefined {
  if (!B64URL.test(part) || part.length % 4 === 1) return undefined;
  try {
    return fromBase64 !== undefined
      ? fromBase64(part, { alphabet: "base64url", lastChunkHandling: "loose" })
      : decodeBase64Url(part);
  } catch {
    return undefined;
  }
}

/** ASCII bytes of `text`, which the caller has checked to be base64url and dots only. */
export function asciiBytes(text: string): Uint8Array<ArrayBuffer> {
  return encoder.encode(text);
}

/** Splits and decodes a compact JWS without verifying it. Throws JwtError when malformed. */
export function parseCompactJws(token: string): ParsedJws {
  if (token.length > 16384) throw new JwtError("token too large");
  const first = token.indexOf(".");
  const second = first < 0 ? -1 : token.indexOf(".", first + 1);
  if (first <= 0 || second < 0 || token.indexOf(".", second + 1) !== -1) {
    throw new JwtError("malformed token");
  }
  const header = decodeJsonObject(token.slice(0, first), "header");
  const payload = decodeJsonObject(token.slice(first + 1, second), "payload");
  const signature = decodeBase64Url(token.slice(second + 1));
  return {
    header,
    payload,
    signingInput: encoder.encode(token.slice(0, second)),
    signature,
  };
}

/**
 * Imports one public JWK for verification, or returns undefined when the key is not usable by
 * this verifier (unsupported type or curve, not a signing key, or not in `allowed`).
 */
export async function importVerificationKey(
  jwk: PublicJwk,
  allowed: readonly JwtAlgorithm[],
): Promise<VerificationKey | undefined> {
  if (typeof jwk !== "object" || jwk === null) return undefined;
  if (jwk.use !== undefined && jwk.use !== "sig") return undefined;
  if (
    jwk.key_ops !== undefined && !(Array.isArray(jwk.key_ops) && jwk.key_ops.includes("verify"))
  ) {
    return undefined;
  }
  let alg: JwtAlgorithm;
  let algorithm: EcKeyImportParams | { name: string };
  let pub: JsonWebKey;
  if (jwk.kty === "OKP" && jwk.crv === "Ed25519" && typeof jwk.x === "string") {
    alg = "EdDSA";
    algorithm = { name: "Ed25519" };
    pub = { kty: "OKP", crv: "Ed25519", x: jwk.x };
  } else if (
    jwk.kty === "EC" && jwk.crv === "P-256" && typeof jwk.x === "string" &&
    typeof jwk.y === "string"
  ) {
    alg = "ES256";
    algorithm = { name: "ECDSA", namedCurve: "P-256" };
    pub = { kty: "EC", crv: "P-256", x: jwk.x, y: jwk.y };
  } else {
    return undefined;
  }
  if (jwk.alg !== undefined && jwk.alg !== alg) return undefined;
  if (!allowed.includes(alg)) return undefined;
  try {
    const key = await crypto.subtle.importKey("jwk", pub, algorithm, false, ["verify"]);
    return { kid: typeof jwk.kid === "string" ? jwk.kid : undefined, alg, key };
  } catch {
    return undefined;
  }
}

const ES256_PARAMS: EcdsaParams = { name: "ECDSA", hash: "SHA-256" };
const EDDSA_PARAMS: Algorithm = { name: "Ed25519" };

/** Checks a JWS signature with a key whose algorithm was already matched to the header. */
export function verifySignature(key: VerificationKey, jws: ParsedJws): Promise<boolean> {
  if (key.alg === "ES256") {
    if (jws.signature.length !== 64) return Promise.resolve(false);
    return crypto.subtle.verify(ES256_PARAMS, key.key, jws.signature, jws.signingInput);
  }
  if (jws.signature.length !== 64) return Promise.resolve(false);
  return crypto.subtle.verify(EDDSA_PARAMS, key.key, jws.signature, jws.signingInput);
}

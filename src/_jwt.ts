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
  return portableDecode(input);
}

/**
 * The decoder used where `Uint8Array.fromBase64` is missing (Node 20, edge-runtime): unpadded
 * base64url, unused trailing bits ignored as in "loose" mode. Throws JwtError when malformed.
 */
export function portableDecode(input: string): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array((input.length * 3) >> 2);
  if (decodeInto(input, 0, input.length, out) < 0) throw new JwtError("malformed base64url");
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

/** base64url alphabet → 6-bit value; -1 elsewhere (index by char code & 127, checked ≤ 127). */
const B64URL_VALUE = new Int16Array(128).fill(-1);
for (let i = 0; i < 64; i++) {
  B64URL_VALUE["ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".charCodeAt(i)] =
    i;
}

/**
 * Decodes `text[from, to)` (unpadded base64url) into `out` from index `at`; returns the byte count,
 * or -1 on any character outside the alphabet or a length ≡ 1 (mod 4). Like the native decoder
 * in "loose" mode, the unused low bits of a last partial group are ignored. Synchronous.
 */
function decodeInto(
  text: string,
  from: number,
  to: number,
  out: Uint8Array,
  at = 0,
): number {
  const len = to - from;
  if (len % 4 === 1 || at + ((len * 3) >> 2) > out.length) return -1;
  const T = B64URL_VALUE;
  let o = at;
  let i = from;
  const whole = from + (len & ~3);
  for (; i < whole; i += 4) {
    const a = text.charCodeAt(i);
    const b = text.charCodeAt(i + 1);
    const c = text.charCodeAt(i + 2);
    const d = text.charCodeAt(i + 3);
    if ((a | b | c | d) > 127) return -1;
    const v = (T[a] << 18) | (T[b] << 12) | (T[c] << 6) | T[d];
    if (v < 0) return -1;
    out[o++] = v >> 16;
    out[o++] = (v >> 8) & 255;
    out[o++] = v & 255;
  }
  const rest = to - i;
  if (rest > 0) {
    const a = text.charCodeAt(i);
    const b = text.charCodeAt(i + 1);
    const c = rest === 3 ? text.charCodeAt(i + 2) : 65; // "A": zero bits
    if ((a | b | c) > 127) return -1;
    const v = (T[a] << 18) | (T[b] << 12) | (T[c] << 6);
    if (v < 0) return -1;
    out[o++] = v >> 16;
    if (rest === 3) out[o++] = (v >> 8) & 255;
  }
  return o - at;
}

/** Scratch for {@linkcode tryDecodePayload}: used and read within one synchronous call. */
const scratch = new Uint8Array(12288);

/** Any char outside ASCII. */
const NON_ASCII = /[\u0080-\uffff]/;
// Taken once: each global lookup costs ≈ 0.1 µs in edge-runtime's `vm` context.
const parseJson = JSON.parse;
let subtle: SubtleCrypto | undefined;

/**
 * Decodes the JSON object in base64url `token[from, to)`, or undefined for anything unusual
 * (the caller then takes the strict {@linkcode parseCompactJws} path for the error): bad
 * base64url, a text not starting with `{` (so a parsed value is always an object), bad UTF-8,
 * bad JSON. `atob` turns the part straight into a string (one char per byte: for ASCII, the
 * usual payload, that is the JSON text, with no byte buffer and no `TextDecoder` call).
 */
export function tryDecodePayload(
  token: string,
  from: number,
  to: number,
): Record<string, unknown> | undefined {
  const len = to - from;
  if (len < 2 || len % 4 === 1) return undefined;
  const part = token.slice(from, to);
  // `atob` reads standard base64: refuse its two extra characters before mapping ours onto them.
  if (part.includes("+") || part.includes("/")) return undefined;
  try {
    let text = atob(part.replaceAll("-", "+").replaceAll("_", "/"));
    // `atob` also skips white space and "=" padding: then the text is shorter than the part.
    if (text.length !== (len * 3) >> 2 || text.charCodeAt(0) !== 0x7b) return undefined;
    if (NON_ASCII.test(text)) {
      const n = decodeInto(token, from, to, scratch);
      if (n < 0) return undefined;
      text = decoder.decode(scratch.subarray(0, n));
    }
    return parseJson(text);
  } catch {
    return undefined;
  }
}

/**
 * One new buffer: the ASCII bytes of `token`, whose signing input `token[0, second)` stays at
 * [0, second) while its third part (exactly 86 base64url characters after the dot at `second`)
 * is overwritten by the 64 signature bytes it encodes, at [second + 1, second + 65); undefined
 * when the signature is not exactly that. The buffer comes from `TextEncoder.encode`: no
 * substring, and no `Uint8Array` constructor (edge-runtime replaces the global one in its `vm`
 * context by a Proxy, for cross-realm `instanceof`, which makes `new Uint8Array` there slow).
 * The caller has checked `token[0, second)` is base64url and one dot.
 */
export function trySignatureAndInput(
  token: string,
  second: number,
): Uint8Array<ArrayBuffer> | undefined {
  if (token.length - second - 1 !== 86) return undefined;
  const buf = encoder.encode(token) as Uint8Array<ArrayBuffer>;
  if (buf.length !== token.length) return undefined;
  return decodeInto(token, second + 1, token.length, buf, second + 1) === 64 ? buf : undefined;
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
  return verifyBytes(key, jws.signature, jws.signingInput);
}

/**
 * {@linkcode verifySignature} on the raw parts: `signature` (64 bytes for both algorithms, else
 * false) over `signingInput`, with a key whose algorithm was already matched to the header.
 */
export function verifyBytes(
  key: VerificationKey,
  signature: Uint8Array<ArrayBuffer>,
  signingInput: Uint8Array<ArrayBuffer>,
): Promise<boolean> {
  if (signature.length !== 64) return Promise.resolve(false);
  return (subtle ??= crypto.subtle).verify(
    key.alg === "ES256" ? ES256_PARAMS : EDDSA_PARAMS,
    key.key,
    signature,
    signingInput,
  );
}

/** Small crypto helpers shared by the server (internal). */
const te = new TextEncoder();

type ToBase64 = (this: Uint8Array, options: { alphabet: "base64url"; omitPadding: true }) => string;
/** Native `Uint8Array.prototype.toBase64` (shipped in recent V8) when the runtime has it. */
const toBase64 = (Uint8Array.prototype as unknown as { toBase64?: ToBase64 }).toBase64;

/** Unpadded base64url of `bytes` (RFC 4648 §5). */
export function base64urlEncode(bytes: Uint8Array): string {
  if (toBase64) return toBase64.call(bytes, { alphabet: "base64url", omitPadding: true });
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** 256-bit random string, base64url (43 chars). */
export function randomToken(bytes = 32): string {
  return base64urlEncode(crypto.getRandomValues(new Uint8Array(bytes)));
}

/** SHA-256 of a UTF-8 string, base64url. */
export async function sha256(input: string): Promise<string> {
  return base64urlEncode(new Uint8Array(await crypto.subtle.digest("SHA-256", te.encode(input))));
}

/**
 * Constant-time string comparison (length leak only): the UTF-16 code units, read in place (no
 * encoding: no allocation, and two different lone surrogates never compare equal).
 */
export function timingSafeEqual(a: string, b: string): boolean {
  let diff = a.length ^ b.length;
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) {
    // `charCodeAt` of "" is NaN, and `NaN | 0` is 0.
    diff |= (a.charCodeAt(i % (a.length || 1)) | 0) ^ (b.charCodeAt(i % (b.length || 1)) | 0);
  }
  return diff === 0;
}

/** RFC 7636 §4.1 code_verifier syntax. */
export const PKCE_VERIFIER = /^[A-Za-z0-9\-._~]{43,128}$/;
/** An S256 code_challenge: base64url of 32 bytes. */
export const PKCE_CHALLENGE = /^[A-Za-z0-9\-_]{43}$/;

/** RFC 7636 §4.6: BASE64URL(SHA256(ASCII(verifier))) compared in constant time. */
export async function pkceMatches(verifier: string, challenge: string): Promise<boolean> {
  if (!PKCE_VERIFIER.test(verifier)) return false;
  return timingSafeEqual(await sha256(verifier), challenge);
}

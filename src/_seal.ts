/**
 * Sealing (internal): AES-256-GCM over JSON, for state that travels through the user agent
 * (the consent form) instead of storage. The key is derived with HKDF-SHA-256 from the active
 * signing key's private scalar, so no new secret has to be configured; a key rotation makes
 * outstanding sealed state unreadable (it is short-lived: minutes).
 *
 * Format: base64url(12-byte random IV ‖ ciphertext+tag). The purpose string is bound as
 * additional authenticated data, so a blob sealed for one purpose never opens for another.
 *
 * @module
 */
import { base64urlEncode } from "./_crypto.ts";
import { decodeBase64Url } from "./_jwt.ts";

const te = new TextEncoder();
const td = new TextDecoder();

/** Derive an AES-256-GCM key for `purpose` from 32 bytes of secret key material (base64url). */
export async function deriveSealKey(secretB64u: string, purpose: string): Promise<CryptoKey> {
  const ikm = await crypto.subtle.importKey(
    "raw",
    decodeBase64Url(secretB64u),
    "HKDF",
    false,
    [
      "deriveKey",
    ],
  );
  return crypto.subtle.deriveKey(
    {
      name: "HKDF",
      hash: "SHA-256",
      salt: te.encode("gatehouse seal v1"),
      info: te.encode(purpose),
    },
    ikm,
    { name: "AES-GCM", length: 256 },
    false,
    ["encrypt", "decrypt"],
  );
}

/** Seal `data` (JSON) under `key`; `aad` is authenticated, not encrypted. */
export async function seal(key: CryptoKey, data: unknown, aad: string): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const ct = new Uint8Array(
    await crypto.subtle.encrypt(
      { name: "AES-GCM", iv, additionalData: te.encode(aad) },
      key,
      te.encode(JSON.stringify(data)),
    ),
  );
  const out = new Uint8Array(12 + ct.length);
  out.set(iv);
  out.set(ct, 12);
  return base64urlEncode(out);
}

/** Open a blob from {@link seal}; `undefined` when it is malformed, forged or for another `aad`. */
export async function unseal<T>(key: CryptoKey, blob: string, aad: string): Promise<T | undefined> {
  try {
    const raw = decodeBase64Url(blob);
    if (raw.length < 12 + 16) return undefined;
    const pt = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: raw.subarray(0, 12), additionalData: te.encode(aad) },
      key,
      raw.subarray(12),
    );
    return JSON.parse(td.decode(pt)) as T;
  } catch {
    return undefined;
  }
}

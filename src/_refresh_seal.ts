/**
 * Sealing the successor of a rotated refresh token (internal).
 *
 * A retried refresh inside the reuse window must get the same successor
 * tokens, but nothing secret may sit in storage in clear. The successor
 * response is encrypted with AES-256-GCM under a key derived with HKDF-SHA-256
 * from the rotated refresh token itself: only whoever presents that token can
 * open it, and the store holds only its SHA-256 hash. The storage key (the
 * hash) is bound as additional data, so a sealed value moved to another
 * record does not open.
 */
import { base64urlEncode } from "./_crypto.ts";
import { decodeBase64Url } from "./_jwt.ts";

const te = new TextEncoder();
const td = new TextDecoder();
const SALT = te.encode("gatehouse refresh-retry v1");

/** What a retry inside the window gets back. */
export interface Successor {
  /** The successor access token (JWT). */
  access_token: string;
  /** The successor refresh token. */
  refresh_token: string;
  /** Scopes of the access token, space-separated. */
  scope: string;
  /** Audience of the access token. */
  resource: string;
  /** Access token expiry, epoch seconds. */
  exp: number;
}

async function keyFor(refreshToken: string): Promise<CryptoKey> {
  const ikm = await crypto.subtle.importKey("raw", te.encode(refreshToken), "HKDF", false, [
    "deriveKey",
  ]);
  return await crypto.subtle.deriveKey(
    { name: "HKDF", hash: "SHA-256", salt: SALT, info: te.encode("successor") },
    ikm,
    { name: "AES-GCM", length: 256 },
    false,
    ["encrypt", "decrypt"],
  );
}

/** Encrypt `successor` for the holder of `refreshToken`; `recordId` is its storage hash. */
export async function sealSuccessor(
  refreshToken: string,
  recordId: string,
  successor: Successor,
): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const ct = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv, additionalData: te.encode(recordId) },
    await keyFor(refreshToken),
    te.encode(JSON.stringify(successor)),
  );
  return `v1.${base64urlEncode(iv)}.${base64urlEncode(new Uint8Array(ct))}`;
}

/** Decrypt a sealed successor; undefined when the token or record does not match. */
export async function openSuccessor(
  refreshToken: string,
  recordId: string,
  sealed: string,
): Promise<Successor | undefined> {
  const [v, iv, ct] = sealed.split(".");
  if (v !== "v1" || !iv || !ct) return undefined;
  try {
    const plain = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: decodeBase64Url(iv), additionalData: te.encode(recordId) },
      await keyFor(refreshToken),
      decodeBase64Url(ct),
    );
    return JSON.parse(td.decode(plain)) as Successor;
  } catch {
    return undefined;
  }
}

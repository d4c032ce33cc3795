/**
 * Grant props sealed at rest: AES-256-GCM with keys from config
 * (`encryptionKeys: [{ kid, key }]`; the first encrypts, all decrypt, so a key
 * can be rotated), the associated data binding each ciphertext to what it
 * belongs to (a grant id), so a sealed value copied onto another grant does
 * not open.
 *
 * Sealed form: `<kid>.<iv>.<ciphertext>` (base64url parts; the kid is a hint,
 * not trusted: a wrong key only fails to decrypt).
 *
 * @module
 */
import { base64urlEncode } from "./_crypto.ts";
import { decodeBase64Url } from "./_jwt.ts";

/** One props encryption key: a 32-byte AES key as base64url, with an id. */
export interface EncryptionKey {
  /** Key id, stored with each ciphertext so the right key is tried first. */
  kid: string;
  /** 32 random bytes, base64url (43 characters). `crypto.getRandomValues` makes one. */
  key: string;
}

/** Seals and opens small JSON values (internal contract shared with `./identity`). */
export interface Sealer {
  /** Encrypt `data` (JSON) bound to `aad`. */
  seal(data: unknown, aad: string): Promise<string>;
  /** Decrypt a sealed value bound to `aad`; undefined when no key opens it or it was tampered with. */
  open<T>(sealed: string, aad: string): Promise<T | undefined>;
  /** True when the keys are ephemeral (development). */
  readonly ephemeral: boolean;
}

const te = new TextEncoder();
const td = new TextDecoder();
const KEY_RE = /^[A-Za-z0-9_-]{43}$/;
const KID_RE = /^[A-Za-z0-9_-]{1,64}$/;

/** True when `k` is a well-formed {@link EncryptionKey} or bare base64url key (config check). */
export function encryptionKeyOk(k: unknown): boolean {
  if (typeof k === "string") return KEY_RE.test(k);
  if (typeof k !== "object" || k === null) return false;
  const e = k as EncryptionKey;
  return typeof e.kid === "string" && KID_RE.test(e.kid) && typeof e.key === "string" &&
    KEY_RE.test(e.key);
}

/**
 * Create a sealer from configured keys, or an ephemeral one (props then do not
 * survive a restart; the server warns).
 */
export function createSealer(keys: (EncryptionKey | string)[] | undefined): Sealer {
  // A bare key (what `keys generate` prints as GATEHOUSE_ENCRYPTION_KEY) gets a positional kid:
  // the kid is only a hint, `open` tries every key.
  const given = keys?.map((k, i) => typeof k === "string" ? { kid: `k${i}`, key: k } : k);
  const list = given && given.length > 0 ? given : [{
    kid: "ephemeral",
    key: base64urlEncode(crypto.getRandomValues(new Uint8Array(32))),
  }];
  const imported = new Map<string, Promise<CryptoKey>>();
  const cryptoKey = (k: EncryptionKey) => {
    let p = imported.get(k.kid);
    if (!p) {
      p = crypto.subtle.importKey(
        "raw",
        decodeBase64Url(k.key),
        "AES-GCM",
        false,
        [
          "encrypt",
          "decrypt",
        ],
      );
      imported.set(k.kid, p);
    }
    return p;
  };
  return {
    ephemeral: !keys || keys.length === 0,
    async seal(data, aad) {
      const iv = crypto.getRandomValues(new Uint8Array(12));
      const ct = await crypto.subtle.encrypt(
        { name: "AES-GCM", iv, additionalData: te.encode(aad) },
        await cryptoKey(list[0]),
        te.encode(JSON.stringify(data)),
      );
      return `${list[0].kid}.${base64urlEncode(iv)}.${base64urlEncode(new Uint8Array(ct))}`;
    },
    async open<T>(sealed: string, aad: string): Promise<T | undefined> {
      if (typeof sealed !== "string") return undefined;
      const parts = sealed.split(".");
      if (parts.length !== 3) return undefined;
      let iv: Uint8Array, ct: Uint8Array;
      try {
        iv = decodeBase64Url(parts[1]);
        ct = decodeBase64Url(parts[2]);
      } catch {
        return undefined;
      }
      // The named key first, then the others (a kid is only a hint).
      const ordered = [...list].sort((a, b) =>
        Number(b.kid === parts[0]) - Number(a.kid === parts[0])
      );
      for (const k of ordered) {
        try {
          const pt = await crypto.subtle.decrypt(
            { name: "AES-GCM", iv: iv as Uint8Array<ArrayBuffer>, additionalData: te.encode(aad) },
            await cryptoKey(k),
            ct as Uint8Array<ArrayBuffer>,
          );
          return JSON.parse(td.decode(pt)) as T;
        } catch {
          // try the next key
        }
      }
      return undefined;
    },
  };
}

/** Claim names an app's `claims` can never set (RFC 7519 §4.1, RFC 9068 §2.2, RFC 8693 §4, RFC 7800, Gatehouse's own). */
export const RESERVED_CLAIMS: ReadonlySet<string> = new Set([
  "iss",
  "sub",
  "aud",
  "exp",
  "nbf",
  "iat",
  "jti",
  "client_id",
  "scope",
  "auth_time",
  "acr",
  "amr",
  "azp",
  "cnf",
  "act",
  "may_act",
  "gid",
  "props",
]);

/** The app's extra access-token claims minus the reserved ones (non-JSON values dropped). */
export function publicClaims(
  claims: Record<string, unknown> | undefined,
): Record<string, unknown> | undefined {
  if (!claims || typeof claims !== "object") return undefined;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(claims)) {
    if (RESERVED_CLAIMS.has(k) || v === undefined || typeof v === "function") continue;
    out[k] = v;
  }
  return Object.keys(out).length ? JSON.parse(JSON.stringify(out)) : undefined;
}

/** Sealed props of grants, at `["props", grantId]` (internal). */
export interface GrantProps {
  /** Decrypted props of a grant, or undefined (none, expired, or no key opens them). */
  read(grantId: string): Promise<Record<string, unknown> | undefined>;
  /** Props with their storage expiry (epoch ms or null). */
  load(
    grantId: string,
  ): Promise<{ props: Record<string, unknown>; exp: number | null } | undefined>;
  /** Seal and store a grant's props until `exp` (epoch ms). */
  write(grantId: string, props: Record<string, unknown>, exp: number | null): Promise<void>;
  /** Forget a grant's props. */
  delete(grantId: string): Promise<void>;
}

/** Associated data binding a props ciphertext to its grant. */
const propsAad = (grantId: string) => `gatehouse/props/${grantId}`;

/** {@link GrantProps} over a store. */
export function grantProps(
  store: {
    get<T>(key: readonly string[]): Promise<T | undefined>;
    put<T>(key: readonly string[], data: T, exp: number | null): Promise<void>;
    delete(key: readonly string[]): Promise<void>;
  },
  sealer: Sealer,
): GrantProps {
  const load = async (grantId: string) => {
    const rec = await store.get<{ sealed: string; exp?: number | null }>(["props", grantId]);
    if (!rec) return undefined;
    const props = await sealer.open<Record<string, unknown>>(rec.sealed, propsAad(grantId));
    return props ? { props, exp: rec.exp ?? null } : undefined;
  };
  return {
    load,
    read: async (grantId) => (await load(grantId))?.props,
    async write(grantId, props, exp) {
      const sealed = await sealer.seal(props, propsAad(grantId));
      await store.put(["props", grantId], { sealed, exp }, exp);
    },
    delete: (grantId) => store.delete(["props", grantId]),
  };
}

/**
 * Make a props encryption key for `encryptionKeys`: 32 random bytes (AES-256), base64url,
 * with a kid (default: the current UTC date and a random suffix). Keep it in your secret
 * store; to rotate, put a new one first and keep the old ones after it.
 *
 * @example
 * ```ts
 * import { generateEncryptionKey } from "@gatehouse/oauth";
 * console.log(JSON.stringify(generateEncryptionKey()));
 * ```
 */
export function generateEncryptionKey(kid?: string): EncryptionKey {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  const id = kid ??
    `${new Date().toISOString().slice(0, 10)}-${base64urlEncode(bytes.slice(0, 3))}`;
  if (!KID_RE.test(id)) {
    throw new TypeError("generateEncryptionKey: kid must be 1-64 of A-Z a-z 0-9 _ -");
  }
  return { kid: id, key: base64urlEncode(crypto.getRandomValues(new Uint8Array(32))) };
}

/**
 * The storage contract every Gatehouse driver implements.
 *
 * The contract is deliberately small: get / set / delete / an atomic `swap`
 * (exchange: write a value and return the one it replaced, in one step) /
 * `list` by key prefix. Single-use codes, refresh-token rotation and the
 * single use of a consent answer are built on `compareAndSwap`, which writes
 * only over an exact expected value: a grant record holds its code's and
 * refresh tokens' hashes, and the code exchange or rotation is one
 * compare-and-swap of it, so of concurrent callers exactly one wins and the
 * others re-read and see a replay (or a retry); a consent answer creates its
 * grant only where none exists. Every write to a grant uses it, so a write
 * computed from a stale read fails instead of undoing a revocation. `swap`
 * (the identity module's locks, `./mcp` confirmations, counters) exchanges
 * atomically. On a driver whose `consistency` is `"eventual"` (Workers KV)
 * neither guarantee holds; see the README.
 *
 * ## Key layout
 * Keys are arrays of strings (Deno KV native; other drivers join the parts
 * with `:` after a prefix the user chooses, see {@link joinKey}). A part may
 * hold any character: string-keyed drivers percent-escape `%` and `:` inside
 * parts so every key round-trips. Layout, all under the driver's own prefix:
 *
 * | key | value |
 * |---|---|
 * | `["client", clientId]` | registered client (secret stored as SHA-256 hash) |
 * | `["grant", grantId]` | grant: subject, client, scopes, resources, state; its code (hash, PKCE challenge, redirect, used-at) and refresh tokens (current hash; the previous hash with its successor sealed for retries) |
 * | `["refresh", sha256(token)]` | tombstone of a refresh token rotated two or more times back (reuse detection, until its expiry); a 0.1.0 refresh token's record, until used |
 * | `["approval", subject, sha256(JSON [clientId, resource])]` | remembered consent (config `consent`) |
 * | `["cimd", sha256(url)]` | cached Client ID Metadata Document, or a remembered failure |
 * | `["props", grantId]` | the grant's props, AES-GCM sealed (bound to the grant id) |
 * | `["upstream", …]` | `./identity`: pending upstream sign-ins, logins, refresh locks |
 * | `["ratelimit", rule, who, window]` | rate-limit counter (see `increment`) |
 * | `["jwks", sha256(jwks_uri)]` | cached `private_key_jwt` key set of a client |
 * | `["jti", sha256(client_id + jti)]` | used client-assertion id, until the assertion expires |
 *
 * ## Value format
 * Every value is an {@link Envelope}: `{ v: 1, exp, data }` where `v` is the
 * schema version (so a future change can migrate rather than silently
 * invalidate), `exp` an absolute expiry in epoch milliseconds (or `null`) and
 * `data` the JSON record. Expiry is enforced on read by the library
 * ({@link isLive}), whatever the backend does with its own TTLs; drivers use
 * `exp` only as a hint for the backend's TTL so dead keys are eventually
 * purged.
 *
 * @module
 */

/** A storage key: an array of string parts, most general first. */
export type StorageKey = readonly string[];

/** Current schema version of stored values. */
export const SCHEMA_VERSION = 1 as const;

/** The stored form of every value. */
export interface Envelope<T = unknown> {
  /** Schema version of `data`. */
  v: number;
  /** Absolute expiry, epoch milliseconds, or `null` for no expiry. */
  exp: number | null;
  /** The record itself (JSON-serialisable). */
  data: T;
}

/** One entry returned by {@link Storage.list}. */
export interface StorageEntry {
  /** The full key. */
  key: StorageKey;
  /** The stored envelope. */
  value: Envelope;
}

/** Options for {@link Storage.list}. */
export interface ListOptions {
  /** Stop after this many entries. */
  limit?: number;
}

/** How strongly a driver orders concurrent operations. */
export type Consistency = "strong" | "eventual";

/**
 * The contract a storage driver implements. Values are JSON-serialisable
 * {@link Envelope}s; drivers must not interpret `data`.
 *
 * Errors: a driver throws when its backend fails; the server turns any
 * driver error into `503 temporarily_unavailable`.
 */
export interface Storage {
  /** Driver name, for logs and errors (`"memory"`, `"deno-kv"`, …). */
  readonly name: string;
  /** `"strong"` when `swap` is atomic across all callers; `"eventual"` otherwise. */
  readonly consistency: Consistency;
  /** Read a value; `undefined` when absent. May return an expired envelope. */
  get(key: StorageKey): Promise<Envelope | undefined>;
  /** Write a value (overwrite). `value.exp` is a TTL hint for the backend. */
  set(key: StorageKey, value: Envelope): Promise<void>;
  /** Delete a key; deleting an absent key is not an error. */
  delete(key: StorageKey): Promise<void>;
  /**
   * Atomically replace the value at `key` with `value` and return the value
   * it replaced (`undefined` when absent). Of N concurrent swaps on one key,
   * each observes a distinct previous value (exactly one sees the original).
   */
  swap(key: StorageKey, value: Envelope): Promise<Envelope | undefined>;
  /**
   * Atomically write `value` at `key` only if the current value is exactly
   * `expected` (same JSON text, see {@link sameEnvelope}; `undefined` means
   * "absent"). Resolves `true` when written, `false` when the current value
   * differs. Of N concurrent calls with the same `expected`, at most one
   * resolves `true`. An expired value counts as whatever the backend still
   * holds (present until purged), as `get` would return it.
   */
  compareAndSwap(
    key: StorageKey,
    expected: Envelope | undefined,
    value: Envelope,
  ): Promise<boolean>;
  /** List entries whose key starts with the parts of `prefix`, in key order. */
  list(prefix: StorageKey, options?: ListOptions): Promise<StorageEntry[]>;
  /**
   * Optional counter for rate limits: add 1 to the counter at `key` and
   * return the new value. An absent or expired counter starts at 0 and gets
   * the expiry `exp` (epoch ms). Atomic on strong drivers (N concurrent calls
   * return 1…N): one operation where the backend has one (Redis `INCR`). A
   * driver without it is counted with get + `compareAndSwap` retries (exact
   * on strong drivers; Workers KV undercounts either way).
   */
  increment?(key: StorageKey, exp: number): Promise<number>;
  /**
   * Optional hint: a `compareAndSwap` of `key` is coming in this request. A
   * driver whose `compareAndSwap` must read first (Workers KV) reads now, so
   * that read overlaps the caller's other work (a round trip in parallel
   * instead of in sequence). Never needed for correctness: the
   * `compareAndSwap` compares as always. Strong drivers leave it out.
   */
  prefetch?(key: StorageKey): Promise<void>;
}

/** Wrap `data` in an {@link Envelope} expiring at `exp` (epoch ms) or never. */
export function envelope<T>(data: T, exp: number | null = null): Envelope<T> {
  return { v: SCHEMA_VERSION, exp, data };
}

/** True when `value` exists, has a known schema version and has not expired at `now`. */
export function isLive(value: Envelope | undefined, now: number = Date.now()): boolean {
  return value !== undefined && value.v === SCHEMA_VERSION &&
    (value.exp === null || value.exp > now);
}

/**
 * True when two stored values are the same for {@link Storage.compareAndSwap}:
 * both absent, or the same JSON text. Values read back from a driver keep
 * their key order, so a value read and re-serialised compares equal.
 */
export function sameEnvelope(a: Envelope | undefined, b: Envelope | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Seconds from `now` until `exp`, rounded up, at least `min`; `undefined` for no expiry. */
export function ttlSeconds(
  exp: number | null,
  options: { min?: number; now?: number } = {},
): number | undefined {
  if (exp === null) return undefined;
  const now = options.now ?? Date.now();
  return Math.max(options.min ?? 1, Math.ceil((exp - now) / 1000));
}

/** Escape one key part for a string-keyed backend: `%` → `%25`, `:` → `%3A`. */
function escapePart(part: string): string {
  return part.replaceAll("%", "%25").replaceAll(":", "%3A");
}

/** Inverse of `escapePart`. */
function unescapePart(part: string): string {
  return part.replace(/%(25|3A)/g, (m) => m === "%25" ? "%" : ":");
}

/**
 * Join a key into one string with `:` after `prefix` (for string-keyed backends).
 * `%` and `:` inside a part are percent-escaped, so any key round-trips through
 * {@link splitKey}; keys without those characters are stored as written.
 */
export function joinKey(prefix: string, key: StorageKey): string {
  return prefix + key.map(escapePart).join(":");
}

/** Inverse of {@link joinKey}: split a backend key back into parts. */
export function splitKey(prefix: string, raw: string): StorageKey {
  return raw.slice(prefix.length).split(":").map(unescapePart);
}

/** Thrown by the server when a driver fails; maps to 503 temporarily_unavailable. */
export class StorageError extends Error {
  /** Wrap a driver failure. The message never includes stored values. */
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "StorageError";
  }
}

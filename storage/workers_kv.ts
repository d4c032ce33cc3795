/**
 * Cloudflare Workers KV storage driver (**eventual** consistency).
 *
 * ```ts
 * import { type KvNamespaceLike, workersKvStorage } from "@gatehouse/oauth/storage/workers-kv";
 * export default {
 *   fetch(req: Request, env: { OAUTH_KV: KvNamespaceLike }): Response {
 *     const storage = workersKvStorage(env.OAUTH_KV, { prefix: "gatehouse:" });
 *     // … createAuthServer({ storage, … }).handle(req)
 *     return new Response(String(typeof storage.swap));
 *   },
 * };
 * ```
 *
 * Workers KV has no compare-and-set, so `swap` is a `get` followed by a
 * `put`. What can race (see the README's driver table):
 * - **Code replay window**: two redemptions of one authorization code that
 *   reach KV before either `put` lands both read the live code and both get
 *   tokens. Within one location the window is one KV round trip; across
 *   locations it is the propagation delay below.
 * - **Refresh rotation double-use**: likewise, two uses of one refresh token
 *   inside that window both rotate successfully, so reuse detection (which
 *   revokes the grant) does not fire for them.
 * - **Compare-and-swap** is a `get`, a comparison and a `put`: two writers
 *   that read the same value both write. So a grant write racing a
 *   revocation can undo it, and concurrent refreshes inside the retry window
 *   can each rotate (see the README's Workers KV numbers).
 * - **The read memo**: the driver remembers, per key, the text it
 *   last read or wrote (at most {@link WORKERS_KV_MEMO_KEYS} keys, trusted for
 *   {@link WORKERS_KV_MEMO_MS} ms), updated *before* a write is awaited.
 *   `compareAndSwap` compares `expected` with a fresh memo entry and skips
 *   its own `get` (the caller has just read the key: one KV call, not two);
 *   without a fresh entry it reads as before. A read that overlapped a write
 *   of this isolate's to the key is never remembered (its answer may predate
 *   the write). A read while this isolate's own
 *   write to the key is still under way returns that write, not the older
 *   value KV may still serve; an entry whose write is under way is never
 *   evicted, and a write KV refuses (e.g. its 429 for a second write to a
 *   key within a second) brings back the entry of an earlier one still under
 *   way instead of forgetting both. Inside one isolate this orders racing requests better than
 *   before (a second writer sees the first's value at once, not after its
 *   `put` lands). Across isolates the window in
 *   which another isolate's write goes unseen grows from the swap's own get →
 *   put round trip to the time since this isolate's read (≤ 1 s, in practice
 *   one request) — small next to the 60 s below, and KV was never atomic.
 * - **Read-after-write across locations**: a write is visible at once in the
 *   location that made it, but other locations may serve the old value (or
 *   "absent") for up to 60 s (KV's edge cache TTL), so a revoked grant or a
 *   rotated refresh token can still be read as live elsewhere for that long.
 *
 * Use the Durable Object driver when single use must hold. KV's own limits
 * are respected: `expirationTtl` is clamped up to 60 s (the library enforces
 * the real `exp` on read), keys over 512 bytes and values over 25 MiB are
 * refused with a {@link StorageError}, and KV's limit of one write per second
 * per key surfaces as a {@link StorageError} (HTTP 429 from KV).
 *
 * @module
 */
import type { Envelope, ListOptions, Storage, StorageEntry, StorageKey } from "./mod.ts";
import { joinKey, splitKey, StorageError, ttlSeconds } from "./mod.ts";

/** Largest key Workers KV accepts, in UTF-8 bytes. */
export const WORKERS_KV_MAX_KEY_BYTES = 512;
/** Largest value Workers KV accepts, in bytes. */
export const WORKERS_KV_MAX_VALUE_BYTES = 25 * 1024 * 1024;
/** Shortest `expirationTtl` Workers KV accepts, in seconds. */
export const WORKERS_KV_MIN_TTL_SECONDS = 60;

/** How many keys the driver's read memo holds (oldest dropped first, never one with a write under way). */
export const WORKERS_KV_MEMO_KEYS = 256;
/** How long a memo entry is trusted by `compareAndSwap`, in milliseconds. */
export const WORKERS_KV_MEMO_MS = 1000;

/** One page of {@link KvNamespaceLike.list}. */
export interface KvListPage {
  /** Keys in this page, in UTF-8 byte order. */
  keys: { name: string }[];
  /** True on the last page. */
  list_complete: boolean;
  /** Pass to the next `list` call when `list_complete` is false. */
  cursor?: string;
}

/**
 * The subset of a Workers `KVNamespace` binding the driver uses. Declared
 * structurally so no Workers types are needed; pass `env.YOUR_KV`.
 */
export interface KvNamespaceLike {
  /** Read a value as text; `null` when absent. */
  get(key: string): Promise<string | null>;
  /** Write a value. */
  put(key: string, value: string, options?: { expirationTtl?: number }): Promise<void>;
  /** Delete a key. */
  delete(key: string): Promise<void>;
  /** List keys by prefix, one page at a time. */
  list(options: { prefix: string; limit?: number; cursor?: string | null }): Promise<KvListPage>;
}

/** Options for {@link workersKvStorage}. */
export interface WorkersKvStorageOptions {
  /** Prepended to every key (default `"gatehouse:"`). */
  prefix?: string;
  /** Keys requested per `list` page (1–1000, default 1000). */
  listPageSize?: number;
  /** Clock of the read memo, epoch ms (default `Date.now`; tests pass their own). */
  now?: () => number;
}

const encoder = new TextEncoder();

/** Create a Workers KV driver over the caller's namespace binding. */
export function workersKvStorage(
  ns: KvNamespaceLike,
  options: WorkersKvStorageOptions = {},
): Storage {
  const prefix = options.prefix ?? "gatehouse:";
  const pageSize = Math.min(1000, Math.max(1, options.listPageSize ?? 1000));
  const full = (key: StorageKey): string => {
    const k = joinKey(prefix, key);
    const bytes = encoder.encode(k).length;
    if (bytes > WORKERS_KV_MAX_KEY_BYTES) {
      throw new StorageError(
        `workers-kv: key "${
          key[0]
        }:…" is ${bytes} bytes; Workers KV allows at most ${WORKERS_KV_MAX_KEY_BYTES}`,
      );
    }
    return k;
  };
  const encode = (value: Envelope): [string, { expirationTtl?: number }] => {
    const text = JSON.stringify(value);
    if (text.length > WORKERS_KV_MAX_VALUE_BYTES / 3) {
      const bytes = encoder.encode(text).length;
      if (bytes > WORKERS_KV_MAX_VALUE_BYTES) {
        throw new StorageError(
          `workers-kv: value is ${bytes} bytes; Workers KV allows at most ${WORKERS_KV_MAX_VALUE_BYTES}`,
        );
      }
    }
    const ttl = ttlSeconds(value.exp, { min: WORKERS_KV_MIN_TTL_SECONDS });
    return [text, ttl === undefined ? {} : { expirationTtl: ttl }];
  };
  const decode = (text: string | null): Envelope | undefined =>
    text === null ? undefined : JSON.parse(text);
  const wrap = async <T>(op: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (cause) {
      if (cause instanceof StorageError) throw cause;
      const text = cause instanceof Error ? cause.message : String(cause);
      const limited = /\b429\b|too many requests/i.test(text)
        ? " (rate limited: Workers KV allows one write per second per key)"
        : "";
      throw new StorageError(`workers-kv: ${op} failed${limited}: ${text.slice(0, 200)}`, {
        cause,
      });
    }
  };
  // The read memo (see the module documentation): full key → last text read or written.
  const memo = new Map<string, { text: string | null; at: number; seq: number }>();
  // Keys with a write (put or delete) of this isolate's still under way → how many.
  const inflight = new Map<string, number>();
  // Keys with a read of this isolate's under way → one mark per read (see `read`).
  const reading = new Map<string, Set<{ written: boolean }>>();
  const now = options.now ?? Date.now;
  let seq = 0;
  const remember = (k: string, text: string | null): void => {
    memo.delete(k);
    memo.set(k, { text, at: now(), seq: ++seq });
    if (memo.size <= WORKERS_KV_MEMO_KEYS) return;
    // The oldest entry goes, but never one whose write is under way (reads of other keys,
    // e.g. a flood of forged tokens, must not make this isolate forget its own pending write).
    for (const old of memo.keys()) {
      if (!inflight.has(old)) return void memo.delete(old);
    }
  };
  const fresh = (k: string) => {
    const m = memo.get(k);
    return m && now() - m.at < WORKERS_KV_MEMO_MS ? m : undefined;
  };
  /**
   * `ns.get`, remembered — unless this isolate wrote the key while the read was under way or
   * has a write to it still in flight: KV may serve the older value until that write lands,
   * and the memo holds the newer one (what a second writer in this isolate must see).
   */
  const read = async (k: string): Promise<string | null> => {
    const started = seq;
    // Marked by a write of this isolate to `k` while this read is under way: its answer may
    // predate that write, so it is never remembered, even when the write's own entry has
    // been evicted meanwhile (which left nothing newer in the memo to prefer).
    const mark = { written: false };
    let marks = reading.get(k);
    if (!marks) reading.set(k, marks = new Set());
    marks.add(mark);
    let text: string | null;
    try {
      text = await ns.get(k);
    } finally {
      marks.delete(mark);
      if (marks.size === 0) reading.delete(k);
    }
    const m = memo.get(k);
    if (m && (m.seq > started || inflight.has(k))) return m.text;
    if (!inflight.has(k) && !mark.written) remember(k, text);
    return text;
  };
  /**
   * A KV write of `text` (null: delete), remembered before it is awaited. If it fails while
   * still the latest, it is forgotten: the entry before it comes back when that was a write
   * still under way (e.g. this one was KV's 429 for a second write to the key in a second),
   * else the key has no entry.
   */
  const write = async (
    k: string,
    text: string | null,
    options: { expirationTtl?: number } = {},
  ) => {
    const before = memo.get(k);
    reading.get(k)?.forEach((r) => (r.written = true));
    remember(k, text);
    const mine = memo.get(k);
    inflight.set(k, (inflight.get(k) ?? 0) + 1);
    try {
      await (text === null ? ns.delete(k) : ns.put(k, text, options));
    } catch (e) {
      if (memo.get(k) === mine) {
        memo.delete(k);
        if (before && inflight.get(k)! > 1) memo.set(k, before);
      }
      throw e;
    } finally {
      const n = inflight.get(k)! - 1;
      if (n > 0) inflight.set(k, n);
      else inflight.delete(k);
    }
  };
  return {
    name: "workers-kv",
    consistency: "eventual",
    get: (key) => wrap("get", async () => decode(await read(full(key)))),
    // A read that fills the memo, so the compareAndSwap that follows makes one call (a put).
    prefetch: (key) => wrap("get", async () => void await read(full(key))),
    set: (key, value) =>
      wrap("set", async () => {
        const k = full(key);
        await write(k, ...encode(value));
      }),
    delete: (key) => wrap("delete", () => write(full(key), null)),
    swap: (key, value) =>
      wrap("swap", async () => {
        // Not atomic: see the module documentation for what can race.
        const k = full(key);
        const encoded = encode(value);
        const previous = decode(await read(k));
        await write(k, ...encoded);
        return previous;
      }),
    compareAndSwap: (key, expected, value) =>
      wrap("compareAndSwap", async () => {
        // Not atomic either: a get (skipped on a fresh memo entry), a comparison, a put
        // (see the module documentation).
        const k = full(key);
        const encoded = encode(value);
        const memoed = fresh(k);
        const current = memoed ? memoed.text : await read(k);
        const want = expected === undefined ? null : JSON.stringify(expected);
        if (current !== want) return false;
        await write(k, ...encoded);
        return true;
      }),
    list: (listPrefix, opts: ListOptions = {}) =>
      wrap("list", async () => {
        const base = listPrefix.length ? full(listPrefix) + ":" : prefix;
        const limit = opts.limit ?? Infinity;
        const out: StorageEntry[] = [];
        let cursor: string | undefined;
        while (out.length < limit) {
          const page = await ns.list({
            prefix: base,
            limit: Math.min(pageSize, limit - out.length),
            cursor,
          });
          const values = await Promise.all(page.keys.map((k) => ns.get(k.name)));
          page.keys.forEach((k, i) => {
            const value = decode(values[i]);
            // A key deleted between list and get is skipped.
            if (value !== undefined) out.push({ key: splitKey(prefix, k.name), value });
          });
          if (page.list_complete || !page.cursor) break;
          cursor = page.cursor;
        }
        return out.slice(0, limit === Infinity ? undefined : limit);
      }),
  };
}

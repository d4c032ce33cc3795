/**
 * Deno KV storage driver (strong consistency).
 *
 * Works with a local KV (`Deno.openKv()`, `Deno.openKv(":memory:")`, a file
 * path) and with Deno Deploy KV. `swap` is a compare-and-set retry loop on the
 * entry's versionstamp (`kv.atomic().check(...).set(...)`), so exactly one of N
 * concurrent swaps observes a given previous value. `compareAndSwap` reads,
 * compares the JSON text and commits with the same versionstamp check.
 *
 * ```ts
 * import { denoKvStorage } from "@gatehouse/oauth/storage/deno-kv";
 * const storage = denoKvStorage(await Deno.openKv(), { prefix: ["gatehouse"] });
 * ```
 *
 * Values are stored as the JSON text of the {@link Envelope}; `expireIn` is
 * set from `exp` only as a purge hint (local KV purges roughly once a minute,
 * so the library enforces `exp` on read). Deno KV limits a value to 64 KiB and a
 * key to 2 KiB; larger writes fail with a {@link StorageError}.
 *
 * @module
 */
import type { Envelope, ListOptions, Storage, StorageEntry, StorageKey } from "./mod.ts";
import { StorageError } from "./mod.ts";

/** One key of a Deno KV database, as this driver writes it (string parts only). */
export type DenoKvKey = readonly string[];

/** The subset of a `Deno.AtomicOperation` the driver uses. */
export interface DenoKvAtomicLike {
  /** Fail the commit unless `key` still has `versionstamp` (`null`: absent). */
  check(check: { key: DenoKvKey; versionstamp: string | null }): DenoKvAtomicLike;
  /** Queue a write. */
  set(key: DenoKvKey, value: unknown, options?: { expireIn?: number }): DenoKvAtomicLike;
  /** Apply the queued writes if every check holds. */
  commit(): Promise<{ ok: boolean }>;
}

/**
 * The subset of `Deno.Kv` the driver uses. Declared structurally so this module
 * type-checks in any runtime; pass the object `Deno.openKv()` returns.
 */
export interface DenoKvLike {
  /** Read one entry. */
  get(key: DenoKvKey): Promise<{ value: unknown; versionstamp: string | null }>;
  /** Write one entry. */
  set(key: DenoKvKey, value: unknown, options?: { expireIn?: number }): Promise<unknown>;
  /** Delete one entry. */
  delete(key: DenoKvKey): Promise<void>;
  /** Start an atomic operation. */
  atomic(): DenoKvAtomicLike;
  /** Iterate entries under a key prefix, in key order. */
  list(
    selector: { prefix: DenoKvKey },
    options?: { limit?: number },
  ): AsyncIterable<{ key: readonly unknown[]; value: unknown }>;
}

/** Options for {@link denoKvStorage}. */
export interface DenoKvStorageOptions {
  /** Key parts put in front of every Gatehouse key (default `["gatehouse"]`). */
  prefix?: readonly string[];
  /** Give up a contended `swap` after this many compare-and-set attempts (default 1000). */
  maxSwapAttempts?: number;
}

/** Milliseconds until `exp` for `expireIn` (a purge hint only), or `undefined` for no expiry. */
function expireIn(exp: number | null): { expireIn?: number } {
  return exp === null ? {} : { expireIn: Math.max(1, Math.ceil(exp - Date.now())) };
}

function decode(value: unknown): Envelope | undefined {
  if (value === null || value === undefined) return undefined;
  return (typeof value === "string" ? JSON.parse(value) : value) as Envelope;
}

/**
 * Create a Deno KV driver over the caller's `Deno.Kv`. The driver never closes
 * `kv`; the caller owns it.
 */
export function denoKvStorage(kv: DenoKvLike, options: DenoKvStorageOptions = {}): Storage {
  const prefix = [...(options.prefix ?? ["gatehouse"])];
  const maxAttempts = options.maxSwapAttempts ?? 1000;
  const full = (key: StorageKey): string[] => [...prefix, ...key];
  const wrap = async <T>(op: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (cause) {
      if (cause instanceof StorageError) throw cause;
      throw new StorageError(`deno-kv: ${op} failed: ${errorText(cause)}`, { cause });
    }
  };
  return {
    name: "deno-kv",
    consistency: "strong",
    get: (key) => wrap("get", async () => decode((await kv.get(full(key))).value)),
    set: (key, value) =>
      wrap("set", async () => {
        await kv.set(full(key), JSON.stringify(value), expireIn(value.exp));
      }),
    delete: (key) => wrap("delete", () => kv.delete(full(key))),
    swap: (key, value) =>
      wrap("swap", async () => {
        const k = full(key);
        const text = JSON.stringify(value);
        for (let attempt = 1;; attempt++) {
          const current = await kv.get(k);
          const result = await kv.atomic().check({ key: k, versionstamp: current.versionstamp })
            .set(k, text, expireIn(value.exp)).commit();
          if (result.ok) return decode(current.value);
          if (attempt >= maxAttempts) {
            throw new StorageError(`deno-kv: swap gave up after ${attempt} contended attempts`);
          }
          // Back off with jitter once contention is more than momentary, so a
          // burst of writers on one key converges instead of spinning.
          if (attempt > 3) await delay(Math.random() * Math.min(50, 2 ** (attempt - 3)));
        }
      }),
    compareAndSwap: (key, expected, value) =>
      wrap("compareAndSwap", async () => {
        const k = full(key);
        const want = expected === undefined ? undefined : JSON.stringify(expected);
        const text = JSON.stringify(value);
        for (let attempt = 1;; attempt++) {
          const current = await kv.get(k);
          const have = current.value === null || current.value === undefined
            ? undefined
            : typeof current.value === "string"
            ? current.value
            : JSON.stringify(current.value);
          if (have !== want) return false;
          // The versionstamp check makes the comparison and the write one step.
          const result = await kv.atomic().check({ key: k, versionstamp: current.versionstamp })
            .set(k, text, expireIn(value.exp)).commit();
          if (result.ok) return true;
          if (attempt >= maxAttempts) {
            throw new StorageError(
              `deno-kv: compareAndSwap gave up after ${attempt} contended attempts`,
            );
          }
        }
      }),
    increment: (key, exp) =>
      wrap("increment", async () => {
        const k = full(key);
        for (let attempt = 1;; attempt++) {
          const current = await kv.get(k);
          const prev = decode(current.value);
          const live = prev !== undefined && (prev.exp === null || prev.exp > Date.now());
          const n = (live ? Number(prev!.data) || 0 : 0) + 1;
          const next = { v: 1, exp: live ? prev!.exp : exp, data: n };
          const result = await kv.atomic().check({ key: k, versionstamp: current.versionstamp })
            .set(k, JSON.stringify(next), expireIn(next.exp)).commit();
          if (result.ok) return n;
          if (attempt >= maxAttempts) {
            throw new StorageError(`deno-kv: increment gave up after ${attempt} attempts`);
          }
          if (attempt > 3) await delay(Math.random() * Math.min(50, 2 ** (attempt - 3)));
        }
      }),
    list: (listPrefix, opts: ListOptions = {}) =>
      wrap("list", async () => {
        const out: StorageEntry[] = [];
        if (opts.limit !== undefined && opts.limit <= 0) return out;
        const iter = kv.list({ prefix: full(listPrefix) }, { limit: opts.limit });
        for await (const entry of iter) {
          const rest = entry.key.slice(prefix.length);
          if (!rest.every((p): p is string => typeof p === "string")) continue;
          const value = decode(entry.value);
          if (value !== undefined) out.push({ key: rest, value });
        }
        return out;
      }),
  };
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

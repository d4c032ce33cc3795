/**
 * Upstash Redis storage driver (strong consistency), also for `@vercel/kv`
 * and anything else exposing the same client API over Redis.
 *
 * Pass your own client; the driver imports no SDK:
 *
 * ```ts
 * import { Redis } from "@upstash/redis";
 * import { upstashStorage } from "@gatehouse/oauth/storage/upstash";
 * // UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN from the environment
 * const storage = upstashStorage(Redis.fromEnv(), { prefix: "gatehouse:" });
 * ```
 *
 * Each key is `prefix` + the key parts joined with `:` ({@link joinKey}); the
 * value is the JSON text of the {@link Envelope}, with a Redis expiry (`PXAT`)
 * set from `exp` as a purge hint. `swap` is one `SET key value GET [PXAT ms]`
 * command, which Redis executes atomically, so exactly one of N concurrent
 * swaps observes a given previous value. `compareAndSwap` is one `EVAL` of a
 * short Lua script (GET, compare, SET), atomic in Redis. `list` walks `SCAN MATCH prefix*`,
 * sorts the keys and reads the values with `MGET`; it costs a full scan of the
 * keyspace, so keep it off hot paths.
 *
 * @module
 */
import type { Envelope, ListOptions, Storage, StorageEntry, StorageKey } from "./mod.ts";
import { joinKey, splitKey, StorageError } from "./mod.ts";

/** `SET` options the driver passes (a subset of `@upstash/redis`'s `SetCommandOptions`). */
export type UpstashSetOptions = { get?: boolean; pxat: number } | { get?: boolean };

/**
 * The subset of `@upstash/redis`'s `Redis` class (and `@vercel/kv`'s client)
 * the driver uses. Automatic JSON deserialization may be on or off.
 */
export interface UpstashRedisLike {
  /** `GET key`. */
  get(key: string): Promise<unknown>;
  /** `SET key value [GET] [PXAT ms]`; with `get`, resolves to the previous value or `null`. */
  set(key: string, value: string, options?: UpstashSetOptions): Promise<unknown>;
  /** `DEL key…`. */
  del(...keys: string[]): Promise<number>;
  /** `EVAL script numkeys key… arg…` (used by `compareAndSwap`). */
  eval(script: string, keys: string[], args: string[]): Promise<unknown>;
  /** `INCR key` (optional; without it rate-limit counters use compare-and-swap). */
  incr?(key: string): Promise<number>;
  /** `PEXPIREAT key ms` (optional, used with `incr`). */
  pexpireat?(key: string, unixTimeMs: number): Promise<number>;
  /** `MGET key…`. */
  mget(...keys: string[]): Promise<unknown[]>;
  /** `SCAN cursor MATCH pattern COUNT n`; resolves to `[nextCursor, keys]`. */
  scan(
    cursor: string | number,
    options: { match: string; count: number },
  ): Promise<[string | number, unknown[]]>;
}

/** Options for {@link upstashStorage}. */
export interface UpstashStorageOptions {
  /** Prepended to every key (default `"gatehouse:"`). Must be non-empty. */
  prefix?: string;
  /** `COUNT` hint per `SCAN` call in `list` (default 1000). */
  scanCount?: number;
}

function decode(value: unknown): Envelope | undefined {
  if (value === null || value === undefined) return undefined;
  return (typeof value === "string" ? JSON.parse(value) : value) as Envelope;
}

/**
 * Compare-and-set in one Lua script (Redis runs a script atomically).
 * ARGV: 1 = "1" when a value is expected, 2 = expected text, 3 = new text,
 * 4 = PXAT epoch ms or "".
 */
const CAS_SCRIPT = `local cur = redis.call('GET', KEYS[1])
if ARGV[1] == '0' then
  if cur then return 0 end
elseif cur ~= ARGV[2] then return 0 end
if ARGV[4] == '' then redis.call('SET', KEYS[1], ARGV[3])
else redis.call('SET', KEYS[1], ARGV[3], 'PXAT', ARGV[4]) end
return 1`;

/** Escape Redis glob metacharacters so `text` matches literally in `SCAN MATCH`. */
function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => "\\" + c);
}

/** Create an Upstash / Vercel KV driver over the caller's Redis client. */
export function upstashStorage(
  redis: UpstashRedisLike,
  options: UpstashStorageOptions = {},
): Storage {
  const prefix = options.prefix ?? "gatehouse:";
  if (prefix === "") throw new TypeError("upstashStorage: prefix must be non-empty");
  const scanCount = options.scanCount ?? 1000;
  const full = (key: StorageKey): string => joinKey(prefix, key);
  const setOptions = (value: Envelope, get: boolean): UpstashSetOptions =>
    value.exp === null ? { get } : { get, pxat: Math.max(1, Math.ceil(value.exp)) };
  const wrap = async <T>(op: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (cause) {
      if (cause instanceof StorageError) throw cause;
      // @upstash/redis appends ", command was: [...]" (key and value) to its
      // messages; never carry stored values into the error text.
      const text = (cause instanceof Error ? cause.message : String(cause))
        .split(", command was:")[0];
      throw new StorageError(`upstash: ${op} failed: ${text.slice(0, 200)}`, { cause });
    }
  };
  return {
    name: "upstash",
    consistency: "strong",
    get: (key) => wrap("get", async () => decode(await redis.get(full(key)))),
    set: (key, value) =>
      wrap("set", async () => {
        await redis.set(full(key), JSON.stringify(value), setOptions(value, false));
      }),
    delete: (key) =>
      wrap("delete", async () => {
        await redis.del(full(key));
      }),
    swap: (key, value) =>
      wrap(
        "swap",
        async () =>
          decode(await redis.set(full(key), JSON.stringify(value), setOptions(value, true))),
      ),
    compareAndSwap: (key, expected, value) =>
      wrap("compareAndSwap", async () => {
        const result = await redis.eval(CAS_SCRIPT, [full(key)], [
          expected === undefined ? "0" : "1",
          expected === undefined ? "" : JSON.stringify(expected),
          JSON.stringify(value),
          value.exp === null ? "" : String(Math.max(1, Math.ceil(value.exp))),
        ]);
        return Number(result) === 1;
      }),
    ...(redis.incr && redis.pexpireat
      ? {
        increment: (key: StorageKey, exp: number) =>
          wrap("increment", async () => {
            // INCR is atomic; the first caller of a window sets its expiry.
            const n = Number(await redis.incr!(full(key)));
            if (n === 1) await redis.pexpireat!(full(key), Math.max(1, Math.ceil(exp)));
            return n;
          }),
      }
      : {}),
    list: (listPrefix, opts: ListOptions = {}) =>
      wrap("list", async () => {
        const base = listPrefix.length ? full(listPrefix) + ":" : prefix;
        const match = globEscape(base) + "*";
        const found = new Set<string>();
        let cursor: string | number = 0;
        do {
          const [next, keys]: [string | number, unknown[]] = await redis.scan(cursor, {
            match,
            count: scanCount,
          });
          // Keys come back through the client's optional JSON deserialization;
          // String() undoes it for the prefixed keys this driver writes.
          for (const k of keys) found.add(String(k));
          cursor = next;
        } while (String(cursor) !== "0");
        let keys = [...found].filter((k) => k.startsWith(base)).sort();
        if (opts.limit !== undefined) keys = keys.slice(0, Math.max(0, opts.limit));
        const out: StorageEntry[] = [];
        for (let i = 0; i < keys.length; i += 500) {
          const batch = keys.slice(i, i + 500);
          const values = await redis.mget(...batch);
          batch.forEach((k, j) => {
            const value = decode(values[j]);
            if (value !== undefined) out.push({ key: splitKey(prefix, k), value });
          });
        }
        return out;
      }),
  };
}

/**
 * In-memory storage driver: for tests and single-process servers only.
 * State is lost when the process exits and is not shared between isolates or
 * instances. `swap` and `compareAndSwap` are atomic because JavaScript runs
 * them synchronously.
 *
 * @module
 */
import type { Envelope, ListOptions, Storage, StorageEntry, StorageKey } from "./mod.ts";
import { isLive } from "./mod.ts";

const SEP = "\u0000";

/** Options for {@link memoryStorage}. */
export interface MemoryStorageOptions {
  /** Purge expired entries on every Nth write (default 1000) to bound memory. */
  sweepEvery?: number;
}

/** Create a memory driver. Values are deep-copied in and out (JSON), as a real backend would. */
export function memoryStorage(options: MemoryStorageOptions = {}): Storage {
  const map = new Map<string, string>();
  const sweepEvery = options.sweepEvery ?? 1000;
  let writes = 0;
  const enc = (k: StorageKey) => k.join(SEP);
  const read = (s: string | undefined): Envelope | undefined =>
    s === undefined ? undefined : JSON.parse(s);
  const sweep = () => {
    if (++writes % sweepEvery !== 0) return;
    const now = Date.now();
    for (const [k, v] of map) if (!isLive(JSON.parse(v), now)) map.delete(k);
  };
  return {
    name: "memory",
    consistency: "strong",
    get(key) {
      return Promise.resolve(read(map.get(enc(key))));
    },
    set(key, value) {
      map.set(enc(key), JSON.stringify(value));
      sweep();
      return Promise.resolve();
    },
    delete(key) {
      map.delete(enc(key));
      return Promise.resolve();
    },
    swap(key, value) {
      const k = enc(key);
      const prev = read(map.get(k));
      map.set(k, JSON.stringify(value));
      sweep();
      return Promise.resolve(prev);
    },
    compareAndSwap(key, expected, value) {
      const k = enc(key);
      const current = map.get(k);
      if (current !== (expected === undefined ? undefined : JSON.stringify(expected))) {
        return Promise.resolve(false);
      }
      map.set(k, JSON.stringify(value));
      sweep();
      return Promise.resolve(true);
    },
    increment(key, exp) {
      const k = enc(key);
      const prev = read(map.get(k));
      const n = (isLive(prev, Date.now()) ? Number(prev!.data) || 0 : 0) + 1;
      map.set(
        k,
        JSON.stringify({ v: 1, exp: isLive(prev, Date.now()) ? prev!.exp : exp, data: n }),
      );
      sweep();
      return Promise.resolve(n);
    },
    list(prefix: StorageKey, opts: ListOptions = {}) {
      const p = prefix.length ? enc(prefix) + SEP : "";
      const out: StorageEntry[] = [];
      for (const k of [...map.keys()].sort()) {
        if (!k.startsWith(p)) continue;
        out.push({ key: k.split(SEP), value: JSON.parse(map.get(k)!) });
        if (opts.limit !== undefined && out.length >= opts.limit) break;
      }
      return Promise.resolve(out);
    },
  };
}

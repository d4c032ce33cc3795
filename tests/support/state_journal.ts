/**
 * A storage wrapper for the fuzzer: every write records, on first touch since `begin()`, the
 * value it replaced, so `changes()` can list the security-state keys whose stored value differs
 * after a request. Any driver method other than `get`/`list` whose first argument is a key counts
 * as a write (so methods a driver adds later are journaled too).
 */
import type { Storage } from "../../storage/mod.ts";

/** Key prefixes that hold security state; caches and counters (e.g. CIMD, rate limits) are not. */
export const STATE: Set<string> = new Set(["client", "grant", "code", "refresh", "consent"]);

/**
 * Wrap a driver so every write records, on first touch per request, the value it replaced:
 * after a request, `changes()` lists the state keys whose stored value differs.
 */
export function journaled(inner: Storage) {
  let before = new Map<string, { key: string[]; value: unknown }>();
  const remember = async (key: unknown) => {
    if (!Array.isArray(key) || !STATE.has(String(key[0]))) return;
    const id = JSON.stringify(key);
    if (!before.has(id)) before.set(id, { key: key as string[], value: await inner.get(key) });
  };
  const driver = new Proxy(inner, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== "function" || prop === "get" || prop === "list") {
        return typeof v === "function" ? v.bind(target) : v;
      }
      return async (...args: unknown[]) => {
        await remember(args[0]);
        return await v.apply(target, args);
      };
    },
  });
  return {
    driver,
    begin() {
      before = new Map();
    },
    async changes(): Promise<{ key: string[]; before: unknown; after: unknown }[]> {
      const out = [];
      for (const { key, value } of before.values()) {
        const after = await inner.get(key);
        if (JSON.stringify(after) !== JSON.stringify(value)) {
          out.push({ key, before: value, after });
        }
      }
      return out;
    },
  };
}

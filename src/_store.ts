/** Typed access to the storage driver with expiry checked on read (internal). */
import { envelope, isLive, StorageError } from "../storage/mod.ts";
import type { Envelope, Storage, StorageKey } from "../storage/mod.ts";

/** A thin typed wrapper over a driver; every driver failure becomes a StorageError. */
export class Store {
  constructor(readonly driver: Storage, private readonly now: () => number) {}

  private async call<T>(op: string, f: () => Promise<T>): Promise<T> {
    try {
      return await f();
    } catch (e) {
      // Re-wrap even a driver's StorageError: backend messages may quote stored values.
      throw new StorageError(`storage ${this.driver.name} ${op} failed`, { cause: e });
    }
  }

  /** Live record at `key`, or undefined when absent, expired or of an unknown version. */
  async get<T>(key: StorageKey): Promise<T | undefined> {
    const v = await this.call("get", () => this.driver.get(key));
    return isLive(v, this.now()) ? (v!.data as T) : undefined;
  }

  /** Write a record expiring at `exp` (epoch ms) or never. */
  put<T>(key: StorageKey, data: T, exp: number | null): Promise<void> {
    return this.call("set", () => this.driver.set(key, envelope(data, exp)));
  }

  /** Delete a key. */
  delete(key: StorageKey): Promise<void> {
    return this.call("delete", () => this.driver.delete(key));
  }

  /** Atomically replace; returns the previous live record (undefined if absent/expired). */
  async swap<T, U>(key: StorageKey, data: U, exp: number | null): Promise<T | undefined> {
    const prev = await this.call("swap", () => this.driver.swap(key, envelope(data, exp)));
    return isLive(prev, this.now()) ? (prev!.data as T) : undefined;
  }

  /**
   * Live record at `key` with the stored envelope it came from (the `expected`
   * value for {@link Store.compareAndSwap}); undefined when absent or expired.
   */
  async read<T>(key: StorageKey): Promise<{ data: T; stored: Envelope } | undefined> {
    const v = await this.call("get", () => this.driver.get(key));
    return isLive(v, this.now()) ? { data: v!.data as T, stored: v! } : undefined;
  }

  /**
   * Hint that a compareAndSwap of `key` follows (see `Storage.prefetch`): resolves at once on
   * drivers without it; never rejects (a failed hint only costs the driver its own read later).
   */
  prefetch(key: StorageKey): Promise<void> {
    try {
      // A driver's hint that throws, or returns something other than a promise, is ignored too.
      return Promise.resolve(this.driver.prefetch?.(key)).then(() => {}, () => {});
    } catch {
      return Promise.resolve();
    }
  }

  /** Write only if the stored value is still exactly `expected`; true when written. */
  compareAndSwap<T>(
    key: StorageKey,
    expected: Envelope | undefined,
    data: T,
    exp: number | null,
  ): Promise<boolean> {
    return this.call(
      "compareAndSwap",
      () => this.driver.compareAndSwap(key, expected, envelope(data, exp)),
    );
  }

  /**
   * Read-modify-write with compare-and-swap, retried on contention. `change`
   * gets the live record (or undefined) and returns the record to write with
   * its expiry, or `undefined` to write nothing. Resolves to what `change`
   * returned last. On a strong driver no write computed from a stale read lands.
   */
  async update<T>(
    key: StorageKey,
    change: (current: T | undefined) => { data: T; exp: number | null } | undefined,
    maxAttempts = 100,
  ): Promise<{ data: T; exp: number | null } | undefined> {
    for (let attempt = 1;; attempt++) {
      const raw = await this.call("get", () => this.driver.get(key));
      const next = change(isLive(raw, this.now()) ? raw!.data as T : undefined);
      if (!next) return undefined;
      if (await this.compareAndSwap(key, raw, next.data, next.exp)) return next;
      if (attempt >= maxAttempts) {
        throw new StorageError(`storage ${this.driver.name} update gave up after ${attempt} tries`);
      }
    }
  }

  /** Live records under a prefix. */
  async list<T>(prefix: StorageKey): Promise<{ key: StorageKey; data: T }[]> {
    const entries = await this.call("list", () => this.driver.list(prefix));
    const now = this.now();
    return entries.filter((e) => isLive(e.value, now)).map((e) => ({
      key: e.key,
      data: e.value.data as T,
    }));
  }
}

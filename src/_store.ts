/** Typed access to the storage driver with expiry checked on read (internal). */
import { envelope, isLive, StorageError } from "../storage/mod.ts";
import type { Storage, StorageKey } from "../storage/mod.ts";

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

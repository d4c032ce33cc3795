/**
 * Cloudflare Durable Object storage driver (strong consistency).
 *
 * Two halves: {@link GatehouseStorageObject}, a Durable Object class you
 * export from your Worker, and {@link durableObjectStorage}, the driver that
 * talks to one instance of it. Inside workerd the class extends
 * `DurableObject` from `cloudflare:workers`, and the driver calls its
 * `handle` method over JS RPC (one structured-clone round trip per storage
 * call: in Miniflare ≈ 40–100 µs less than a JSON `fetch`, a read about half
 * the cost); a stub without RPC (a compatibility
 * date before 2024-04-03, or an object class that does not offer `handle`) is
 * served over `stub.fetch` with the same requests as JSON, which the object
 * keeps answering. A Durable Object runs one event (RPC call or request) at a
 * time and its storage closes the input gate while an operation is in flight,
 * so the get-then-put inside `swap` (and the get-compare-put of
 * `compareAndSwap`) cannot interleave with another call: both are atomic.
 *
 * ```ts
 * import {
 *   durableObjectStorage,
 *   type DurableObjectNamespaceLike,
 *   GatehouseStorageObject,
 * } from "@gatehouse/oauth/storage/durable-object";
 * export { GatehouseStorageObject }; // wrangler: durable_objects.bindings GATEHOUSE → GatehouseStorageObject
 * export default {
 *   fetch(req: Request, env: { GATEHOUSE: DurableObjectNamespaceLike }): Response {
 *     const storage = durableObjectStorage(env.GATEHOUSE);
 *     // … createAuthServer({ storage, … }).handle(req)
 *     return new Response(String(typeof storage.swap));
 *   },
 * };
 * ```
 *
 * All of one deployment's state lives in one object (named `name`), so its
 * throughput is that of a single Durable Object (on the order of a thousand
 * small requests per second). Expired entries are purged by the object's
 * alarm; the library enforces `exp` on read regardless.
 *
 * This module loads `cloudflare:workers` with a top-level `await` (to pick
 * {@link DurableObjectBase}), so it is an ES module only: bundle it as ESM
 * (target es2022 or later, as wrangler does); a CommonJS or IIFE bundle, or
 * `require()`, fails.
 *
 * @module
 */
import type { Envelope, ListOptions, Storage, StorageEntry, StorageKey } from "./mod.ts";
import { isLive, joinKey, sameEnvelope, splitKey, StorageError } from "./mod.ts";

/** The subset of `DurableObjectStorage` (`ctx.storage`) the object uses. */
export interface DurableObjectStorageLike {
  /** Read one key. */
  get(key: string): Promise<unknown>;
  /** Write one key. */
  put(key: string, value: unknown): Promise<void>;
  /** Delete one key (or several). */
  delete(key: string | string[]): Promise<boolean | number>;
  /** List keys in order, by prefix, after `startAfter`, up to `limit`. */
  list(options: { prefix?: string; startAfter?: string; limit?: number }): Promise<
    Map<string, unknown>
  >;
  /** Current alarm time (epoch ms) or `null`. */
  getAlarm(): Promise<number | null>;
  /** Schedule the alarm. */
  setAlarm(scheduledTime: number): Promise<void>;
}

/** The subset of `DurableObjectState` (`ctx`) the object uses. */
export interface DurableObjectStateLike {
  /** The object's transactional storage. */
  storage: DurableObjectStorageLike;
}

/** A request of the driver ↔ object JSON protocol. */
export type StorageRequest =
  | { op: "get"; key: StorageKey }
  | { op: "set"; key: StorageKey; value: Envelope }
  | { op: "delete"; key: StorageKey }
  | { op: "swap"; key: StorageKey; value: Envelope }
  | { op: "cas"; key: StorageKey; expected: Envelope | null; value: Envelope }
  | { op: "list"; prefix: StorageKey; limit?: number }
  | { op: "increment"; key: StorageKey; exp: number }
  | { op: "sweep" };

/** Reply of the protocol: `{ value }`, `{ entries }`, `{ deleted }` or `{ error }`. */
export interface StorageReply {
  /** Result of get / swap. */
  value?: Envelope | null;
  /** Result of cas: whether the value was written. */
  ok?: boolean;
  /** Result of increment. */
  count?: number;
  /** Result of list. */
  entries?: { key: StorageKey; value: Envelope }[];
  /** Result of sweep: how many expired entries were removed. */
  deleted?: number;
  /** Set when the operation failed. */
  error?: string;
}

const MAX_DELETE = 128; // keys per batch delete (the Durable Object limit)
const SWEEP_INTERVAL_MS = 60 * 60 * 1000;

/** A constructor of the object's base class: `(ctx, env?) → instance`. */
export type DurableObjectBaseConstructor = new (
  ctx: DurableObjectStateLike,
  env?: unknown,
) => object;

/**
 * The base class of {@link GatehouseStorageObject}: `DurableObject` from `cloudflare:workers`
 * inside workerd, which lets a stub call the object's methods over JS RPC; an empty class
 * elsewhere (Deno, Node, a bundle for another runtime, where that module does not exist).
 */
export const DurableObjectBase: DurableObjectBaseConstructor = await (async (): Promise<
  DurableObjectBaseConstructor
> => {
  try {
    const workers = await import("cloudflare:workers");
    if (typeof workers.DurableObject === "function") return workers.DurableObject;
  } catch {
    // not workerd
  }
  return class {};
})();

/**
 * The Durable Object holding Gatehouse's state. Export it from your Worker
 * and bind it (wrangler `durable_objects.bindings`); create the binding's
 * class with a SQLite-backed or key-value storage backend. Inside workerd it
 * extends `DurableObject` (`cloudflare:workers`), so the driver reaches
 * {@link GatehouseStorageObject.handle} over JS RPC; {@link GatehouseStorageObject.fetch}
 * serves the same requests as JSON for stubs without RPC.
 */
export class GatehouseStorageObject extends DurableObjectBase {
  #storage: DurableObjectStorageLike;
  #alarmChecked = false;
  /** Keys read per storage `list` call (1–128, default 128); a subclass may lower it. */
  pageSize = 128;

  /** Called by the runtime with the object's state and the Worker's env. */
  constructor(ctx: DurableObjectStateLike, env?: unknown) {
    super(ctx, env ?? {}); // workerd's base class insists on an object

    this.#storage = ctx.storage;
  }

  /** Serve one protocol request (`POST` with a {@link StorageRequest} body). */
  async fetch(request: Request): Promise<Response> {
    let reply: StorageReply;
    let status = 200;
    try {
      reply = await this.handle(await request.json() as StorageRequest);
    } catch (err) {
      reply = { error: err instanceof Error ? err.message : String(err) };
      status = 500;
    }
    return new Response(JSON.stringify(reply), {
      status,
      headers: { "content-type": "application/json" },
    });
  }

  /**
   * Run one protocol request against this object's storage; the driver calls it over JS RPC.
   * Throws (an `Error`, which RPC hands to the caller) when storage fails or `op` is unknown.
   */
  async handle(req: StorageRequest): Promise<StorageReply> {
    const s = this.#storage;
    switch (req.op) {
      case "get":
        return { value: (await s.get(joinKey("", req.key)) as Envelope | undefined) ?? null };
      case "set":
        await s.put(joinKey("", req.key), req.value);
        await this.#scheduleSweep(req.value);
        return {};
      case "delete":
        await s.delete(joinKey("", req.key));
        return {};
      case "swap": {
        // No other request runs between this get and put (input gate).
        const k = joinKey("", req.key);
        const previous = await s.get(k) as Envelope | undefined;
        await s.put(k, req.value);
        await this.#scheduleSweep(req.value);
        return { value: previous ?? null };
      }
      case "cas": {
        // Same input gate as swap: the compare and the put are one step.
        const k = joinKey("", req.key);
        const current = await s.get(k) as Envelope | undefined;
        if (!sameEnvelope(current, req.expected ?? undefined)) return { ok: false };
        await s.put(k, req.value);
        await this.#scheduleSweep(req.value);
        return { ok: true };
      }
      case "increment": {
        // Atomic for the same reason as swap: nothing interleaves get and put.
        const k = joinKey("", req.key);
        const prev = await s.get(k) as Envelope | undefined;
        const live = prev !== undefined && (prev.exp === null || prev.exp > Date.now());
        const next: Envelope = { v: 1, exp: live ? prev!.exp : req.exp, data: 1 };
        next.data = (live ? Number(prev!.data) || 0 : 0) + 1;
        await s.put(k, next);
        await this.#scheduleSweep(next);
        return { count: next.data as number };
      }
      case "list":
        return { entries: await this.#list(req.prefix, req.limit) };
      case "sweep":
        return { deleted: await this.#sweep() };
      default:
        throw new Error(`unknown op ${(req as { op: unknown }).op}`);
    }
  }

  /** Alarm handler: purge expired entries, and reschedule while any remain with an expiry. */
  async alarm(): Promise<void> {
    await this.#sweep();
  }

  async #list(prefix: StorageKey, limit = Infinity): Promise<StorageEntry[]> {
    const base = prefix.length ? joinKey("", prefix) + ":" : "";
    const out: StorageEntry[] = [];
    let startAfter: string | undefined;
    while (out.length < limit) {
      const page = await this.#storage.list({
        prefix: base,
        limit: Math.min(this.#page(), limit - out.length),
        ...(startAfter === undefined ? {} : { startAfter }),
      });
      for (const [k, v] of page) out.push({ key: splitKey("", k), value: v as Envelope });
      if (page.size === 0) break;
      startAfter = [...page.keys()][page.size - 1];
    }
    return out;
  }

  async #sweep(): Promise<number> {
    const now = Date.now();
    let deleted = 0;
    let pending = false;
    let startAfter: string | undefined;
    while (true) {
      const page = await this.#storage.list({
        limit: this.#page(),
        ...(startAfter === undefined ? {} : { startAfter }),
      });
      if (page.size === 0) break;
      const dead: string[] = [];
      for (const [k, v] of page) {
        if (!isLive(v as Envelope, now)) dead.push(k);
        else if ((v as Envelope).exp !== null) pending = true;
      }
      if (dead.length) await this.#storage.delete(dead);
      deleted += dead.length;
      startAfter = [...page.keys()][page.size - 1];
    }
    if (pending) await this.#storage.setAlarm(now + SWEEP_INTERVAL_MS);
    this.#alarmChecked = pending;
    return deleted;
  }

  #page(): number {
    return Math.min(MAX_DELETE, Math.max(1, this.pageSize));
  }

  async #scheduleSweep(value: Envelope): Promise<void> {
    if (value.exp === null || this.#alarmChecked) return;
    this.#alarmChecked = true;
    if ((await this.#storage.getAlarm()) === null) {
      await this.#storage.setAlarm(Math.max(value.exp, Date.now()) + SWEEP_INTERVAL_MS);
    }
  }
}

/**
 * A Durable Object stub: anything with `fetch`. A workerd stub of a
 * {@link GatehouseStorageObject} also offers `handle` (JS RPC), which the driver prefers.
 */
export interface DurableObjectStubLike {
  /** Send a request to the object. */
  fetch(input: string, init?: RequestInit): Promise<Response>;
  /** Run one storage request in the object over JS RPC ({@link GatehouseStorageObject.handle}). */
  handle?(req: StorageRequest): Promise<StorageReply>;
}

/** What workerd throws when the object cannot take the RPC call (it never ran). */
const NO_RPC = /does not support RPC|does not implement the method/;

/** The subset of a `DurableObjectNamespace` binding the driver uses. */
export interface DurableObjectNamespaceLike<Id = unknown> {
  /** Derive the id of the object called `name`. */
  idFromName(name: string): Id;
  /** Get a stub for the object with `id`. */
  get(id: Id): DurableObjectStubLike;
}

/** Options for {@link durableObjectStorage}. */
export interface DurableObjectStorageOptions {
  /** Name of the object holding the state (default `"gatehouse"`); one name, one isolated store. */
  name?: string;
}

/** Create a driver that keeps Gatehouse's state in one {@link GatehouseStorageObject}. */
export function durableObjectStorage<Id>(
  namespace: DurableObjectNamespaceLike<Id>,
  options: DurableObjectStorageOptions = {},
): Storage {
  const id = namespace.idFromName(options.name ?? "gatehouse");
  let rpc = true; // until the object answers that it does not take RPC calls
  const failed = (req: StorageRequest, cause: unknown) => {
    const text = cause instanceof Error ? cause.message : String(cause);
    return new StorageError(`durable-object: ${req.op} failed: ${text.slice(0, 200)}`, { cause });
  };
  const call = async (req: StorageRequest): Promise<StorageReply> => {
    // A stub is an I/O object bound to the request that created it: workerd refuses to use it
    // from another request, and the driver outlives requests (one auth server per isolate).
    const stub = namespace.get(id);
    if (rpc && typeof stub.handle === "function") {
      try {
        return await stub.handle(req);
      } catch (cause) {
        // Only a refusal before the method ran is retried over fetch; anything else may have
        // happened after a write, so it surfaces.
        if (!NO_RPC.test(cause instanceof Error ? cause.message : String(cause))) {
          throw failed(req, cause);
        }
        rpc = false;
      }
    }
    let res: Response;
    let reply: StorageReply;
    try {
      res = await stub.fetch("https://gatehouse-storage.internal/", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(req),
      });
      reply = await res.json();
    } catch (cause) {
      throw failed(req, cause);
    }
    if (!res.ok || reply.error !== undefined) {
      throw new StorageError(
        `durable-object: ${req.op} failed: ${reply.error ?? `HTTP ${res.status}`}`,
      );
    }
    return reply;
  };
  return {
    name: "durable-object",
    consistency: "strong",
    get: async (key) => (await call({ op: "get", key })).value ?? undefined,
    set: async (key, value) => {
      await call({ op: "set", key, value });
    },
    delete: async (key) => {
      await call({ op: "delete", key });
    },
    swap: async (key, value) => (await call({ op: "swap", key, value })).value ?? undefined,
    compareAndSwap: async (key, expected, value) =>
      (await call({ op: "cas", key, expected: expected ?? null, value })).ok === true,
    increment: async (key, exp) => (await call({ op: "increment", key, exp })).count ?? 0,
    list: async (prefix, opts: ListOptions = {}) =>
      (await call({ op: "list", prefix, limit: opts.limit })).entries ?? [],
  };
}

/**
 * A tiny Worker that exposes the real Workers KV and Durable Object drivers
 * over fetch, so Deno tests can drive them inside workerd (see `workerd.ts`).
 *
 * `POST /<driver>/<namespace>` with a JSON {@link StorageRequest}; the reply
 * is `{ value }` / `{ entries }` / `{}` or, with status 500,
 * `{ error: { name, message } }`. Drivers: `kv` (Workers KV binding `KV`),
 * `do` (binding `STORE`, KV-backed object storage), `do-sqlite` (binding
 * `STORE_SQL`, SQLite-backed), `do-fetch` (binding `STORE` through a stub that
 * offers only `fetch`, the transport without JS RPC), `do-plain` (binding
 * `STORE_PLAIN`, an object class without `extends DurableObject`, which workerd
 * refuses RPC calls to). `POST /do-raw/<name>` forwards the body to the
 * object untouched (for protocol ops such as `sweep`); `POST /transport/<driver>/<name>`
 * runs a set and a get and returns how many went over RPC (`handle`) and over `fetch`.
 *
 * @module
 */
import type { Envelope, Storage, StorageKey } from "../../storage/mod.ts";
import { workersKvStorage } from "../../storage/workers_kv.ts";
import type { KvNamespaceLike } from "../../storage/workers_kv.ts";
import { durableObjectStorage, GatehouseStorageObject } from "../../storage/durable_object.ts";
import type {
  DurableObjectNamespaceLike,
  DurableObjectStateLike,
  StorageRequest,
} from "../../storage/durable_object.ts";

export { GatehouseStorageObject };

/** Same object with a small list page, so tests cross page boundaries. */
export class SmallPageStorageObject extends GatehouseStorageObject {
  /** Seven keys per storage list call. */
  override pageSize = 7;
}

/** The fetch protocol only: a class that does not extend `DurableObject` (no JS RPC). */
export class PlainStorageObject {
  #inner: GatehouseStorageObject;
  /** Wraps a GatehouseStorageObject on the same state. */
  constructor(ctx: DurableObjectStateLike) {
    this.#inner = new GatehouseStorageObject(ctx);
  }
  /** The JSON protocol. */
  fetch(request: Request): Promise<Response> {
    return this.#inner.fetch(request);
  }
}

/** Bindings configured by the harness. */
interface Env {
  KV: KvNamespaceLike;
  STORE: DurableObjectNamespaceLike;
  STORE_SQL: DurableObjectNamespaceLike;
  STORE_PLAIN: DurableObjectNamespaceLike;
}

/** `ns` whose stubs count calls by transport; `rpc: false` hides `handle` (fetch only). */
function counted(
  ns: DurableObjectNamespaceLike,
  counts: { rpc: number; fetch: number },
  rpc = true,
): DurableObjectNamespaceLike {
  return {
    idFromName: (name) => ns.idFromName(name),
    get: (id) => {
      const stub = ns.get(id);
      return {
        fetch: (input, init) => {
          counts.fetch++;
          return stub.fetch(input, init);
        },
        ...(rpc
          ? {
            handle: (req: StorageRequest) => {
              counts.rpc++;
              return stub.handle!(req);
            },
          }
          : {}),
      };
    },
  };
}

type Op =
  | { op: "get"; key: StorageKey }
  | { op: "set"; key: StorageKey; value: Envelope }
  | { op: "delete"; key: StorageKey }
  | { op: "swap"; key: StorageKey; value: Envelope }
  | { op: "cas"; key: StorageKey; expected: Envelope | null; value: Envelope }
  | { op: "list"; prefix: StorageKey; limit?: number }
  | { op: "increment"; key: StorageKey; exp: number };

function open(
  env: Env,
  driver: string,
  ns: string,
  counts = { rpc: 0, fetch: 0 },
): Storage {
  switch (driver) {
    case "kv":
      return workersKvStorage(env.KV, { prefix: `${ns}:`, listPageSize: 7 });
    case "do":
      return durableObjectStorage(counted(env.STORE, counts), { name: ns });
    case "do-fetch":
      return durableObjectStorage(counted(env.STORE, counts, false), { name: ns });
    case "do-plain":
      return durableObjectStorage(counted(env.STORE_PLAIN, counts), { name: ns });
    case "do-sqlite":
      return durableObjectStorage(counted(env.STORE_SQL, counts), { name: ns });
    default:
      throw new Error(`unknown driver ${driver}`);
  }
}

async function run(storage: Storage, req: Op): Promise<unknown> {
  switch (req.op) {
    case "get":
      return { value: (await storage.get(req.key)) ?? null };
    case "set":
      await storage.set(req.key, req.value);
      return {};
    case "delete":
      await storage.delete(req.key);
      return {};
    case "swap":
      return { value: (await storage.swap(req.key, req.value)) ?? null };
    case "cas":
      return { ok: await storage.compareAndSwap(req.key, req.expected ?? undefined, req.value) };
    case "list":
      return { entries: await storage.list(req.prefix, { limit: req.limit }) };
    case "increment":
      if (!storage.increment) throw new Error("driver has no increment");
      return { count: await storage.increment(req.key, req.exp) };
  }
}

const json = (body: unknown, status = 200): Response =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

export default {
  /** Route `POST /<driver>/<namespace>` to the driver. */
  async fetch(request: Request, env: Env): Promise<Response> {
    const [, driver, ns, name] = new URL(request.url).pathname.split("/").map(decodeURIComponent);
    try {
      if (driver === "transport") {
        const counts = { rpc: 0, fetch: 0 };
        const storage = open(env, ns, name, counts);
        await storage.set(["t", "k"], await request.json() as Envelope);
        const value = await storage.get(["t", "k"]);
        return json({ ...counts, value });
      }
      if (driver === "do-raw") {
        const stub = env.STORE.get(env.STORE.idFromName(ns));
        const body = await request.json() as StorageRequest;
        return await stub.fetch("https://gatehouse-storage.internal/", {
          method: "POST",
          body: JSON.stringify(body),
        });
      }
      return json(await run(open(env, driver, ns), await request.json()));
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err));
      return json({ error: { name: e.name, message: e.message } }, 500);
    }
  },
};

/**
 * A tiny Worker that exposes the real Workers KV and Durable Object drivers
 * over fetch, so Deno tests can drive them inside workerd (see `workerd.ts`).
 *
 * `POST /<driver>/<namespace>` with a JSON {@link StorageRequest}; the reply
 * is `{ value }` / `{ entries }` / `{}` or, with status 500,
 * `{ error: { name, message } }`. Drivers: `kv` (Workers KV binding `KV`),
 * `do` (binding `STORE`, KV-backed object storage), `do-sqlite` (binding
 * `STORE_SQL`, SQLite-backed). `POST /do-raw/<name>` forwards the body to the
 * object untouched (for protocol ops such as `sweep`).
 *
 * @module
 */
import type { Envelope, Storage, StorageKey } from "../../storage/mod.ts";
import { workersKvStorage } from "../../storage/workers_kv.ts";
import type { KvNamespaceLike } from "../../storage/workers_kv.ts";
import { durableObjectStorage, GatehouseStorageObject } from "../../storage/durable_object.ts";
import type { DurableObjectNamespaceLike, StorageRequest } from "../../storage/durable_object.ts";

export { GatehouseStorageObject };

/** Same object with a small list page, so tests cross page boundaries. */
export class SmallPageStorageObject extends GatehouseStorageObject {
  /** Seven keys per storage list call. */
  override pageSize = 7;
}

/** Bindings configured by the harness. */
interface Env {
  KV: KvNamespaceLike;
  STORE: DurableObjectNamespaceLike;
  STORE_SQL: DurableObjectNamespaceLike;
}

type Op =
  | { op: "get"; key: StorageKey }
  | { op: "set"; key: StorageKey; value: Envelope }
  | { op: "delete"; key: StorageKey }
  | { op: "swap"; key: StorageKey; value: Envelope }
  | { op: "cas"; key: StorageKey; expected: Envelope | null; value: Envelope }
  | { op: "list"; prefix: StorageKey; limit?: number }
  | { op: "increment"; key: StorageKey; exp: number };

function open(env: Env, driver: string, ns: string): Storage {
  switch (driver) {
    case "kv":
      return workersKvStorage(env.KV, { prefix: `${ns}:`, listPageSize: 7 });
    case "do":
      return durableObjectStorage(env.STORE, { name: ns });
    case "do-sqlite":
      return durableObjectStorage(env.STORE_SQL, { name: ns });
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
    const [, driver, ns] = new URL(request.url).pathname.split("/").map(decodeURIComponent);
    try {
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

/**
 * The demo app as a Cloudflare Worker (run in workerd by Miniflare, see
 * `tests/e2e_runtimes_test.ts`). Bindings: `STORAGE` = `"kv"` (Workers KV
 * binding `KV`) or `"do"` (Durable Object binding `STORE`, class
 * {@link GatehouseStorageObject}); `SIGNING_JWK` = a private JWK as JSON.
 *
 * @module
 */
import { workersKvStorage } from "../../../storage/workers_kv.ts";
import type { KvNamespaceLike } from "../../../storage/workers_kv.ts";
import { durableObjectStorage, GatehouseStorageObject } from "../../../storage/durable_object.ts";
import type { DurableObjectNamespaceLike } from "../../../storage/durable_object.ts";
import type { Storage } from "../../../mod.ts";
import { demoHandler } from "./app_factory.ts";

export { GatehouseStorageObject };

interface Env {
  STORAGE: "kv" | "do";
  SIGNING_JWK: string;
  KV: KvNamespaceLike;
  STORE: DurableObjectNamespaceLike;
}

let handler: ((req: Request) => Promise<Response>) | undefined;

function storageFor(env: Env): Storage {
  if (env.STORAGE === "kv") return workersKvStorage(env.KV, { prefix: "e2e:" });
  if (env.STORAGE === "do") return durableObjectStorage(env.STORE, { name: "e2e" });
  throw new Error(`unknown STORAGE binding ${env.STORAGE}`);
}

export default {
  /** Serve the demo app (authorization server + MCP server). */
  fetch(req: Request, env: Env): Promise<Response> {
    handler ??= demoHandler(() => storageFor(env), () => JSON.parse(env.SIGNING_JWK));
    return handler(req);
  },
};

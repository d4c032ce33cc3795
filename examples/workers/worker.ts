/**
 * Example (not part of the published API): Gatehouse on Cloudflare Workers.
 *
 * Pick one storage binding in wrangler.toml:
 *
 * ```toml
 * # strong single-use (recommended): a Durable Object
 * [[durable_objects.bindings]]
 * name = "GATEHOUSE"
 * class_name = "GatehouseStorageObject"
 * [[migrations]]
 * tag = "v1"
 * new_sqlite_classes = ["GatehouseStorageObject"]
 *
 * # or eventual consistency: Workers KV (see the README for what can race)
 * [[kv_namespaces]]
 * binding = "OAUTH_KV"
 * id = "…"
 * ```
 *
 * @module
 */
import { createAuthServer } from "../../mod.ts";
import type { Storage } from "../../storage/mod.ts";
import { durableObjectStorage, GatehouseStorageObject } from "../../storage/durable_object.ts";
import type { DurableObjectNamespaceLike } from "../../storage/durable_object.ts";
import { workersKvStorage } from "../../storage/workers_kv.ts";
import type { KvNamespaceLike } from "../../storage/workers_kv.ts";

/** The Durable Object class must be exported from the Worker's main module. */
export { GatehouseStorageObject };

interface Env {
  GATEHOUSE?: DurableObjectNamespaceLike;
  OAUTH_KV?: KvNamespaceLike;
  ISSUER: string;
  GATEHOUSE_JWK: string;
}

function storageFor(env: Env): Storage {
  if (env.GATEHOUSE) return durableObjectStorage(env.GATEHOUSE, { name: "gatehouse" });
  if (env.OAUTH_KV) return workersKvStorage(env.OAUTH_KV, { prefix: "gatehouse:" });
  throw new Error("bind GATEHOUSE (Durable Object) or OAUTH_KV (Workers KV)");
}

export default {
  fetch(req: Request, env: Env): Promise<Response> {
    // Cheap to build per request; cache it in module scope if you prefer.
    const auth = createAuthServer({
      issuer: env.ISSUER,
      resources: [`${env.ISSUER}/mcp`],
      storage: storageFor(env),
      keys: [JSON.parse(env.GATEHOUSE_JWK)],
      // Replace with your own sign-in (e.g. Cloudflare Access headers).
      authenticate: (r) =>
        r.headers.get("cf-access-authenticated-user-email") ??
          new Response("sign in first", { status: 401 }),
    });
    return auth.handle(req);
  },
};

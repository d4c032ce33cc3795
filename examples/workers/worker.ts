/**
 * Example (not part of the published API): Gatehouse on Cloudflare Workers.
 * Configuration, bindings and secrets: `wrangler.toml` next to this file
 * (checked by `wrangler deploy --dry-run` in the test suite).
 *
 * - `GATEHOUSE_ISSUER` (var): the public origin; the MCP resource is `${issuer}/mcp`.
 * - `GATEHOUSE_STORAGE` (var): `"durable-object"` (binding `GATEHOUSE`) or `"kv"` (`OAUTH_KV`).
 * - `GATEHOUSE_SIGNING_KEYS` (secret): JSON array of JWKs from `npm run keys -- generate`.
 *
 * @module
 */
import { createAuthServer } from "../../mod.ts";
import type { AuthServer } from "../../mod.ts";
import type { Storage } from "../../storage/mod.ts";
import { durableObjectStorage, GatehouseStorageObject } from "../../storage/durable_object.ts";
import type { DurableObjectNamespaceLike } from "../../storage/durable_object.ts";
import { workersKvStorage } from "../../storage/workers_kv.ts";
import type { KvNamespaceLike } from "../../storage/workers_kv.ts";

/** The Durable Object class must be exported from the Worker's main module. */
export { GatehouseStorageObject };

/** Bindings, vars and secrets from wrangler.toml. */
export interface Env {
  GATEHOUSE?: DurableObjectNamespaceLike;
  OAUTH_KV?: KvNamespaceLike;
  GATEHOUSE_STORAGE?: "durable-object" | "kv";
  GATEHOUSE_ISSUER: string;
  GATEHOUSE_SIGNING_KEYS: string;
}

function storageFor(env: Env): Storage {
  const kind = env.GATEHOUSE_STORAGE ?? (env.GATEHOUSE ? "durable-object" : "kv");
  if (kind === "durable-object" && env.GATEHOUSE) {
    return durableObjectStorage(env.GATEHOUSE, { name: "gatehouse" });
  }
  if (kind === "kv" && env.OAUTH_KV) {
    return workersKvStorage(env.OAUTH_KV, { prefix: "gatehouse:" });
  }
  throw new Error(`GATEHOUSE_STORAGE=${kind}: bind GATEHOUSE (Durable Object) or OAUTH_KV (KV)`);
}

// One server per isolate: `env` does not change between requests of one deployment.
let auth: AuthServer | undefined;

export default {
  fetch(req: Request, env: Env): Promise<Response> {
    auth ??= createAuthServer({
      issuer: env.GATEHOUSE_ISSUER,
      resources: [`${env.GATEHOUSE_ISSUER}/mcp`],
      storage: storageFor(env),
      keys: JSON.parse(env.GATEHOUSE_SIGNING_KEYS),
      // Replace with your own sign-in (e.g. Cloudflare Access headers).
      authenticate: (r) =>
        r.headers.get("cf-access-authenticated-user-email") ??
          new Response("sign in first", { status: 401 }),
    });
    return auth.handle(req);
  },
};

/**
 * Bench worker (internal): one Worker script, bundled by bench/_peers.ts and run in workerd by
 * Miniflare, serving three authorization servers on one `OAUTH_KV` namespace, picked by host:
 *
 * - `cf.test`: `@cloudflare/workers-oauth-provider` (bench/workers/_cf.ts);
 * - `kv.test`: Gatehouse on `workersKvStorage(env.OAUTH_KV)`;
 * - `do.test`: Gatehouse on `durableObjectStorage(env.STORE)`;
 * - `noop.test`: an empty 204, the `dispatchFetch` round-trip floor; `noop.test/kv` returns and
 *   resets the count of storage calls: `OAUTH_KV` calls by method (both KV servers see a
 *   counting wrapper of the binding) and Gatehouse's Durable Object storage calls as `do.<op>`
 *   (one stub call each: JS RPC `handle`, or `fetch` for a stub without RPC);
 *   `noop.test/flows?t=<cf|kv|do>&n=<flows>&c=<in flight>` runs that many full flows from inside
 *   this Worker against its own `fetch` handler (bench/workers/_flows.ts) and answers 204.
 *
 * @module
 */
import type { AuthServer } from "../../mod.ts";
import { workersKvStorage } from "../../storage/workers_kv.ts";
import type { KvNamespaceLike } from "../../storage/workers_kv.ts";
import { durableObjectStorage, GatehouseStorageObject } from "../../storage/durable_object.ts";
import type { DurableObjectNamespaceLike } from "../../storage/durable_object.ts";
import { cfProvider } from "./_cf.ts";
import { gatehouseServer, serve } from "./_gatehouse.ts";
import { flows } from "./_flows.ts";

export { GatehouseStorageObject };

interface Env {
  OAUTH_KV: KvNamespaceLike;
  STORE: DurableObjectNamespaceLike;
  SIGNING_JWK: string;
}

const cf = cfProvider("cf.test");

const kvCalls: Record<string, number> = {};
let countedKv: KvNamespaceLike | undefined;
function counting(kv: KvNamespaceLike): KvNamespaceLike {
  countedKv ??= new Proxy(kv, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== "function") return v;
      return (...args: unknown[]) => {
        kvCalls[String(prop)] = (kvCalls[String(prop)] ?? 0) + 1;
        return v.apply(target, args);
      };
    },
  });
  return countedKv;
}

/** Count Durable Object storage calls as `do.<op>` (one stub RPC `handle`, or `fetch`, each). */
function countingDo(ns: DurableObjectNamespaceLike): DurableObjectNamespaceLike {
  const count = (op: string) => kvCalls[`do.${op}`] = (kvCalls[`do.${op}`] ?? 0) + 1;
  return {
    idFromName: (name) => ns.idFromName(name),
    get: (id) => {
      const stub = ns.get(id);
      return {
        handle: (req) => {
          count(req.op);
          return stub.handle!(req);
        },
        fetch: (input, init) => {
          count(JSON.parse(String(init?.body)).op);
          return stub.fetch(input, init);
        },
      };
    },
  };
}

const servers = new Map<string, AuthServer>();
function gatehouse(host: string, env: Env): AuthServer {
  let s = servers.get(host);
  if (!s) {
    s = gatehouseServer(
      host,
      host === "kv.test"
        ? workersKvStorage(counting(env.OAUTH_KV), { prefix: "gatehouse:" })
        : durableObjectStorage(countingDo(env.STORE), { name: "bench" }),
      env.SIGNING_JWK,
    );
    servers.set(host, s);
  }
  return s;
}

const worker = {
  // deno-lint-ignore no-explicit-any
  fetch(req: Request, env: Env, ctx: any): Response | Promise<Response> {
    const url = new URL(req.url);
    const host = url.host;
    if (host === "noop.test") {
      if (url.pathname === "/flows") {
        const q = (k: string) => url.searchParams.get(k) ?? "";
        return flows(
          async (r) => await worker.fetch(r, env, ctx),
          q("t"),
          Number(q("n")),
          Number(q("c")),
        ).then(() => new Response(null, { status: 204 }));
      }
      if (url.pathname !== "/kv") return new Response(null, { status: 204 });
      const res = Response.json(kvCalls);
      for (const k of Object.keys(kvCalls)) delete kvCalls[k];
      return res;
    }
    if (host === "cf.test") return cf.fetch(req, { ...env, OAUTH_KV: counting(env.OAUTH_KV) }, ctx);
    return serve(gatehouse(host, env), req);
  },
};

export default worker;

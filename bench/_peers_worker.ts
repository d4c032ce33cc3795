/**
 * Bench worker (internal): one Worker script, bundled by bench/_peers.ts and run in workerd by
 * Miniflare, that serves three authorization servers on one `OAUTH_KV` namespace, picked by host:
 *
 * - `cf.test`: `@cloudflare/workers-oauth-provider` (`OAuthProvider`), its `defaultHandler`
 *   answering `/authorize` by signing in "alice" at once (`parseAuthRequest` →
 *   `completeAuthorization`, no consent page);
 * - `kv.test`: Gatehouse `createAuthServer` on `workersKvStorage(env.OAUTH_KV)`;
 * - `do.test`: Gatehouse on `durableObjectStorage(env.STORE)`;
 * - `noop.test`: an empty 204, the `dispatchFetch` round-trip floor; `noop.test/kv` returns and
 *   resets the count of storage calls: `OAUTH_KV` calls by method (both servers see a counting
 *   wrapper) and Gatehouse's Durable Object storage calls as `do.<op>`.
 *
 * @module
 */
import { OAuthProvider } from "@cloudflare/workers-oauth-provider";
import { createAuthServer } from "../mod.ts";
import type { AuthServer, Storage } from "../mod.ts";
import { workersKvStorage } from "../storage/workers_kv.ts";
import type { KvNamespaceLike } from "../storage/workers_kv.ts";
import { durableObjectStorage, GatehouseStorageObject } from "../storage/durable_object.ts";
import type { DurableObjectNamespaceLike } from "../storage/durable_object.ts";

export { GatehouseStorageObject };

interface Env {
  OAUTH_KV: KvNamespaceLike;
  STORE: DurableObjectNamespaceLike;
  SIGNING_JWK: string;
  OAUTH_PROVIDER: {
    parseAuthRequest(req: Request): Promise<unknown>;
    completeAuthorization(o: Record<string, unknown>): Promise<{ redirectTo: string }>;
  };
}

// deno-lint-ignore no-explicit-any
const cf = new OAuthProvider<any>({
  apiRoute: "https://cf.test/mcp",
  apiHandler: {
    fetch: () => new Response("api"),
  },
  defaultHandler: {
    async fetch(req: Request, env: Env) {
      if (new URL(req.url).pathname !== "/authorize") return new Response("nf", { status: 404 });
      const request = await env.OAUTH_PROVIDER.parseAuthRequest(req);
      const { redirectTo } = await env.OAUTH_PROVIDER.completeAuthorization({
        request,
        userId: "alice",
        metadata: {},
        scope: ["mcp:read", "mcp:write"],
        props: { userId: "alice" },
        // The bench mints many codes for one user+client; keep earlier grants (and so the
        // refresh chain being timed) alive.
        revokeExistingGrants: false,
      });
      return Response.redirect(redirectTo, 302);
    },
    // deno-lint-ignore no-explicit-any
  } as any,
  authorizeEndpoint: "/authorize",
  tokenEndpoint: "/token",
  clientRegistrationEndpoint: "/register",
  scopesSupported: ["mcp:read", "mcp:write"],
  resourceMetadata: { resource: "https://cf.test/mcp" },
});

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

/** Count Durable Object storage calls as `do.<op>` (one stub `fetch` each). */
function countingDo(ns: DurableObjectNamespaceLike): DurableObjectNamespaceLike {
  return {
    idFromName: (name) => ns.idFromName(name),
    get: (id) => {
      const stub = ns.get(id);
      return {
        fetch: (input, init) => {
          const k = `do.${JSON.parse(String(init?.body)).op}`;
          kvCalls[k] = (kvCalls[k] ?? 0) + 1;
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
    const storage: Storage = host === "kv.test"
      ? workersKvStorage(counting(env.OAUTH_KV), { prefix: "gatehouse:" })
      : durableObjectStorage(countingDo(env.STORE), { name: "bench" });
    s = createAuthServer({
      issuer: `https://${host}`,
      resources: [{ resource: `https://${host}/mcp`, name: "Bench MCP" }],
      scopes: ["mcp:read", "mcp:write"],
      defaultScopes: ["mcp:read"],
      keys: [JSON.parse(env.SIGNING_JWK)],
      storage,
      authenticate: () => "alice",
      quiet: true,
    });
    servers.set(host, s);
  }
  return s;
}

export default {
  // deno-lint-ignore no-explicit-any
  fetch(req: Request, env: Env, ctx: any): Response | Promise<Response> {
    const host = new URL(req.url).host;
    if (host === "noop.test") {
      if (new URL(req.url).pathname !== "/kv") return new Response(null, { status: 204 });
      const res = Response.json(kvCalls);
      for (const k of Object.keys(kvCalls)) delete kvCalls[k];
      return res;
    }
    if (host === "cf.test") return cf.fetch(req, { ...env, OAUTH_KV: counting(env.OAUTH_KV) }, ctx);
    return gatehouse(host, env).handle(req);
  },
};

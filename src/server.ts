/**
 * `createAuthServer`: wires config, storage, keys and endpoints into one
 * `handle(req)` plus same-process `verify` and an admin API.
 *
 * @module
 */
import { canonicalResource, ConfigError, resolveConfig } from "./config.ts";
import type { AuthServerConfig, ResolvedConfig, Resource } from "./config.ts";
import { jsonResponse, OAuthError } from "./errors.ts";
import { CORS, errorPage, methodNotAllowed } from "./_http.ts";
import { Store } from "./_store.ts";
import { StorageError } from "../storage/mod.ts";
import { memoryStorage } from "../storage/memory.ts";
import { loadKeys } from "./keys.ts";
import type { KeySet } from "./keys.ts";
import { createEventSink } from "./events.ts";
import { resolveClient } from "./clients.ts";
import { loadCimdClient } from "./client_metadata_document.ts";
import { fetchOutbound } from "./_outbound.ts";
import { registerEndpoint } from "./register.ts";
import type { LimitedEndpoint } from "./limits/mod.ts";
import type { ServerLimits } from "./limits/_server.ts";
import { authorizeGet, authorizePost } from "./authorize.ts";
import { tokenEndpoint } from "./token.ts";
import { introspectEndpoint, revokeEndpoint } from "./introspect.ts";
import { authorizationServerMetadata, prmPath, protectedResourceMetadata } from "./metadata.ts";
import { revokeGrant } from "./grants.ts";
import type { GrantRecord } from "./grants.ts";
import { createVerifier } from "./verifier.ts";
import type { Verifier, VerifyOptions, VerifyResult } from "./verifier.ts";
import type { Ctx } from "./_context.ts";
import { defaultClientIp } from "./_client_ip.ts";
import { propsSupport } from "./server_props.ts";
import { type AdminApi, createAdminApi } from "./server_admin.ts";

export type { AdminApi, GrantFilter } from "./server_admin.ts";

/** Options for same-process {@link AuthServer.verify}. */
export interface ServerVerifyOptions extends VerifyOptions {
  /** Which configured resource the request is for (required when several are configured). */
  resource?: string;
}

/** What {@link createAuthServer} returns. */
export interface AuthServer {
  /**
   * Serve every authorization-server endpoint; unknown paths get a 404 JSON.
   * `info` is the runtime's connection info (`Deno.serve` passes it; from
   * `node:http` pass `{ remoteAddr: { hostname: socket.remoteAddress } }`):
   * the default source of the client IP for per-IP rate limits.
   */
  handle(req: Request, info?: unknown): Promise<Response>;
  /** True when `req`'s path is one of this server's endpoints or well-known documents. */
  owns(req: Request): boolean;
  /** Verify a bearer token for a configured resource, with the configured revocation mode. */
  verify(req: Request | string, options?: ServerVerifyOptions): Promise<VerifyResult>;
  /** The verifier for one resource (for `protectMcp` and friends). */
  verifierFor(resource?: string): Promise<Verifier>;
  /** Operator API. */
  admin: AdminApi;
  /** RFC 8414 metadata document. */
  metadata(): Promise<Record<string, unknown>>;
  /** The resolved issuer. */
  readonly issuer: string;
}

type Handler = (ctx: Ctx, req: Request) => Promise<Response>;
interface Route {
  methods: Record<string, Handler>;
  /** JSON API (CORS + JSON errors) rather than an HTML page. */
  api: boolean;
}

const json = (body: unknown) =>
  jsonResponse(body, { headers: { ...CORS, "cache-control": "public, max-age=300" } });

/**
 * Create the authorization server. Validates `config` (throws a
 * {@link ConfigError} naming the bad field); key import happens on first use.
 *
 * @example
 * ```ts
 * const auth = createAuthServer({
 *   issuer: "http://localhost:8787",
 *   resources: ["http://localhost:8787/mcp"],
 *   authenticate: (req) => "alice",
 * });
 * Deno.serve({ port: 8787 }, auth.handle);
 * ```
 */
export function createAuthServer(config: AuthServerConfig): AuthServer {
  const cfg: ResolvedConfig = resolveConfig(config);
  const warn = (m: string) => {
    if (!cfg.quiet) console.warn(m);
  };
  if (!cfg.storage) {
    warn(
      "[gatehouse] WARNING: no storage configured; using memory storage (single process, lost on restart).",
    );
  }
  const store = new Store(cfg.storage ?? memoryStorage(), cfg.now);
  const events = createEventSink({ onEvent: cfg.onEvent, quiet: cfg.quiet, now: cfg.now });
  const base = cfg.issuerUrl.origin + cfg.basePath;
  const endpoints = {
    authorization: base + "/authorize",
    token: base + "/token",
    registration: base + "/register",
    revocation: base + "/revoke",
    introspection: base + "/introspect",
    jwks: base + "/jwks",
  };
  const byResource = new Map(cfg.resources.map((r) => [r.resource, r]));
  const resourceOf = (id: string): Resource | undefined => {
    // RFC 8707 §2: a resource indicator must not include a fragment.
    if (id.includes("#")) return undefined;
    try {
      return byResource.get(canonicalResource(id));
    } catch {
      return undefined;
    }
  };
  const extras = propsSupport(
    cfg,
    store,
    base,
    warn,
    (hook, error) => events.hookFailed(hook, "/token", error),
  );
  let keysPromise: Promise<KeySet> | undefined;
  const keys = () => (keysPromise ??= loadKeys(cfg.keys, warn));
  const lookupClient = (id: string) =>
    resolveClient(store, id, {
      loadCimd: cfg.clientIdMetadataDocuments === false
        ? undefined
        : (url) =>
          loadCimdClient(store, url, {
            fetch: cfg.fetch,
            outbound: cfg.outbound,
            scopes: cfg.scopes,
            now: cfg.now(),
            onFailure: (u, why) =>
              warn(`[gatehouse] client metadata document ${JSON.stringify(u)} refused: ${why}`),
          }),
    });
  let ctxPromise: Promise<Ctx> | undefined;
  const context = () =>
    ctxPromise ??= keys().then((k): Ctx => ({
      config: cfg,
      store,
      keys: k,
      endpoints,
      emit: (e) => events.emit(e),
      endpoint: "",
      hookFailed: (hook, error) => events.hookFailed(hook, "", error),
      revoke: revokeAndReport,
      findClient: async (id) => (await lookupClient(id)).client,
      resolveClient: lookupClient,
      fetchOutbound: (url, o) =>
        fetchOutbound(url, { fetch: cfg.fetch, config: cfg.outbound, ...o }),
      resource: resourceOf,
      props: extras.props,
      refreshed: extras.refreshed,
    }));
  // Never let a failed key import poison the server forever.
  const ctxOrReset = async () => {
    try {
      return await context();
    } catch (e) {
      ctxPromise = undefined;
      keysPromise = undefined;
      throw e;
    }
  };

  const routes = new Map<string, Route>();
  const asMetadata: Handler = (ctx) => Promise.resolve(json(authorizationServerMetadata(ctx)));
  for (
    const p of [
      "/.well-known/oauth-authorization-server" + cfg.basePath,
      "/.well-known/openid-configuration" + cfg.basePath,
      cfg.basePath + "/.well-known/openid-configuration",
      cfg.basePath + "/.well-known/oauth-authorization-server",
    ]
  ) routes.set(p, { api: true, methods: { GET: asMetadata } });
  for (const r of cfg.resources) {
    const h: Handler = (ctx) => Promise.resolve(json(protectedResourceMetadata(ctx, r)));
    routes.set(prmPath(r.resource), { api: true, methods: { GET: h } });
  }
  if (!routes.has("/.well-known/oauth-protected-resource")) {
    // Root PRM: the resource at the origin root, else the first configured one.
    const r = cfg.resources[0];
    routes.set("/.well-known/oauth-protected-resource", {
      api: true,
      methods: { GET: (ctx) => Promise.resolve(json(protectedResourceMetadata(ctx, r))) },
    });
  }
  routes.set(cfg.basePath + "/jwks", {
    api: true,
    methods: {
      // Never publish a key that cannot be used (keys are otherwise imported on first use).
      GET: async (ctx) => (await ctx.keys.ready(), json(ctx.keys.jwks)),
    },
  });
  routes.set(cfg.basePath + "/authorize", {
    api: false,
    methods: { GET: authorizeGet, POST: authorizePost },
  });
  routes.set(cfg.basePath + "/token", { api: true, methods: { POST: tokenEndpoint } });
  routes.set(cfg.basePath + "/revoke", { api: true, methods: { POST: revokeEndpoint } });
  routes.set(cfg.basePath + "/introspect", { api: true, methods: { POST: introspectEndpoint } });
  routes.set(cfg.basePath + "/register", { api: true, methods: { POST: registerEndpoint } });
  // An `authenticate` plugin (`./identity`) adds its routes, e.g. `/callback/github`.
  for (const [path, methods] of Object.entries(extras.attach(revokeAndReport))) {
    const wrapped: Record<string, Handler> = {};
    for (const [m, h] of Object.entries(methods)) {
      wrapped[m] = (ctx, req) => h(req, { clientIp: ctx.clientIp?.() });
    }
    routes.set(cfg.basePath + path, { api: false, methods: wrapped });
  }

  // Rate limits: src/limits/ is loaded on the first request to a limited endpoint.
  const limitedPaths = new Map<string, LimitedEndpoint>(
    (["register", "authorize", "token", "revoke", "introspect"] as const)
      .map((e) => [cfg.basePath + "/" + e, e]),
  );
  let limitsPromise: Promise<ServerLimits> | undefined;
  const limits = () =>
    limitsPromise ??= import("./limits/_server.ts")
      .then((m) => m.serverLimits(store.driver, cfg, CORS));
  const pathOf = (req: Request): string | undefined => {
    try {
      const p = new URL(req.url).pathname;
      return p.length > 1 ? p.replace(/\/$/, "") : p;
    } catch {
      return undefined;
    }
  };

  async function handle(req: Request, info?: unknown): Promise<Response> {
    const path = pathOf(req);
    const route = path === undefined ? undefined : routes.get(path);
    if (!route) {
      return jsonResponse({ error: "not_found", error_description: "no such endpoint" }, {
        status: 404,
        headers: CORS,
      });
    }
    if (req.method === "OPTIONS" && route.api) {
      return new Response(null, { status: 204, headers: CORS });
    }
    // HEAD only for the static JSON documents: a HEAD on /authorize must not start a consent.
    const h = route.methods[req.method] ??
      (req.method === "HEAD" && route.api ? route.methods.GET : undefined);
    if (!h) return methodNotAllowed(Object.keys(route.methods));
    const endpoint = path!;
    try {
      const shared = await ctxOrReset();
      // Per request: events and hook failures name the endpoint they happened on.
      let ctx: Ctx = {
        ...shared,
        endpoint,
        emit: (e) => events.emit(e, endpoint),
        hookFailed: (hook, error) => events.hookFailed(hook, endpoint, error),
        clientIp: () => {
          try {
            return (cfg.clientIp ?? defaultClientIp)(req, info);
          } catch (e) {
            events.hookFailed("clientIp", endpoint, e);
            return undefined;
          }
        },
      };
      const limited = cfg.rateLimits === false ? undefined : limitedPaths.get(endpoint);
      if (limited) {
        const r = await (await limits()).check(limited, req, info, route.api, ctx);
        if (r instanceof Response) return r;
        ctx = r;
      }
      const res = await h(ctx, req);
      return req.method === "HEAD" ? new Response(null, res) : res;
    } catch (e) {
      const limitedRes = (e as { response?: unknown } | undefined)?.response;
      if (limitedRes instanceof Response) return limitedRes;
      if (e instanceof OAuthError) return e.toResponse(route.api ? CORS : {});
      if (e instanceof StorageError) {
        console.error(`[gatehouse] ${e.message}`);
        return route.api
          ? new OAuthError("temporarily_unavailable", "storage is unavailable; try again", {
            status: 503,
            headers: { "retry-after": "1" },
          }).toResponse(CORS)
          : errorPage(503, "Temporarily unavailable", "Please try again in a moment.");
      }
      // Reported like a hook failure (console unless quiet, plus an `error` event); the
      // client only ever sees a generic answer.
      events.hookFailed(undefined, endpoint, e);
      return route.api
        ? new OAuthError("server_error", "internal error", { status: 500 }).toResponse(CORS)
        : errorPage(500, "Something went wrong", "Please try again.");
    }
  }

  const verifiers = new Map<string, Promise<Verifier>>();
  function verifierFor(resource?: string): Promise<Verifier> {
    // The usual call names a configured resource exactly as configured: no canonicalization.
    const known = resource === undefined ? undefined : verifiers.get(resource);
    if (known) return known;
    let r: Resource | undefined;
    if (resource === undefined) {
      if (cfg.resources.length !== 1) {
        return Promise.reject(
          new ConfigError("verify: pass options.resource when several resources are configured"),
        );
      }
      r = cfg.resources[0];
    } else r = resourceOf(resource);
    if (!r) {
      return Promise.reject(new ConfigError(`verify: ${resource} is not a configured resource`));
    }
    const res = r;
    let v = verifiers.get(res.resource);
    if (!v) {
      const mode = cfg.revocation?.mode ?? "strict";
      v = keys().then((k) =>
        createVerifier({
          issuer: cfg.issuer,
          audience: res.resource,
          jwks: k.jwks as never,
          scopesSupported: res.scopes,
          scopeHierarchy: cfg.scopeHierarchy,
          now: cfg.now,
          revocation: {
            mode,
            ttlMs: cfg.revocation?.ttlMs,
            isRevoked: async (claims) => {
              if (!claims.grantId) return true;
              const g = await store.get<GrantRecord>(["grant", claims.grantId]);
              return !g || g.revokedAt !== undefined;
            },
          },
        })
      );
      verifiers.set(res.resource, v);
    }
    return v;
  }

  /** The one place a grant is revoked and the audit event emitted. */
  async function revokeAndReport(
    grantId: string,
    reason: string,
    type: "grant.revoked" | "token.revoked" = "grant.revoked",
  ): Promise<GrantRecord | undefined> {
    const now = cfg.now();
    const g = await revokeGrant(store, grantId, reason, now, now + cfg.refreshTokenTtl * 1000);
    if (g) await extras.revoked(g);
    if (g) {
      events.emit({
        type,
        subject: g.subject,
        clientId: g.clientId,
        scopes: g.scopes,
        grantId,
        reason,
      });
    }
    return g;
  }
  const admin = createAdminApi(store, events, revokeAndReport);

  return {
    handle,
    owns: (req) => {
      const p = pathOf(req);
      return p !== undefined && routes.has(p);
    },
    async verify(req, options = {}) {
      const v = await verifierFor(options.resource);
      return extras.withProps(await v.verify(req, options));
    },
    verifierFor,
    admin,
    metadata: async () => authorizationServerMetadata(await ctxOrReset()),
    issuer: cfg.issuer,
  };
}

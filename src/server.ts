/**
 * `createAuthServer`: wires config, storage, keys and endpoints into one
 * `handle(req)` plus same-process `verify` and an admin API.
 *
 * @module
 */
import { canonicalResource, ConfigError, resolveConfig } from "./config.ts";
import type { AuthServerConfig, ResolvedConfig, Resource } from "./config.ts";
import { jsonResponse, OAuthError } from "./errors.ts";
import { CORS, errorPage, methodNotAllowed, readJsonObject } from "./_http.ts";
import { Store } from "./_store.ts";
import { StorageError } from "../storage/mod.ts";
import { memoryStorage } from "../storage/memory.ts";
import { loadKeys } from "./keys.ts";
import type { KeySet } from "./keys.ts";
import { emit } from "./events.ts";
import { findClient, publicClient, registerClient } from "./clients.ts";
import type { ClientRecord } from "./clients.ts";
import { authorizeGet, authorizePost } from "./authorize.ts";
import { tokenEndpoint } from "./token.ts";
import { introspectEndpoint, revokeEndpoint } from "./introspect.ts";
import { authorizationServerMetadata, prmPath, protectedResourceMetadata } from "./metadata.ts";
import { revokeGrant } from "./grants.ts";
import type { GrantRecord } from "./grants.ts";
import { createVerifier } from "./verifier.ts";
import type { Verifier, VerifyOptions, VerifyResult } from "./verifier.ts";
import type { Ctx } from "./_context.ts";
import { createSealer, grantProps } from "./props.ts";
import { pluginOf } from "./authenticator.ts";
import type { AuthenticatorHost } from "./authenticator.ts";

/** Filter for the admin grant listing and bulk revocation. */
export interface GrantFilter {
  /** Only this client's grants. */
  clientId?: string;
  /** Only this user's grants. */
  subject?: string;
  /** Include revoked grants in listings (default false). */
  includeRevoked?: boolean;
}

/** Operator API: list and revoke clients and grants. */
export interface AdminApi {
  /** All registered clients (public metadata only, never secrets). */
  listClients(): Promise<Record<string, unknown>[]>;
  /** One registered client, or undefined. */
  getClient(clientId: string): Promise<Record<string, unknown> | undefined>;
  /** Delete a registered client and revoke all its grants. Returns false if unknown. */
  revokeClient(clientId: string): Promise<boolean>;
  /** Grants, optionally filtered by client and/or user. */
  listGrants(filter?: GrantFilter): Promise<GrantRecord[]>;
  /** Revoke one grant (its refresh tokens die; access tokens fail strict verification). */
  revokeGrant(grantId: string): Promise<boolean>;
  /** Revoke every active grant matching the filter; returns how many. */
  revokeGrants(filter: GrantFilter): Promise<number>;
}

/** Options for same-process {@link AuthServer.verify}. */
export interface ServerVerifyOptions extends VerifyOptions {
  /** Which configured resource the request is for (required when several are configured). */
  resource?: string;
}

/** What {@link createAuthServer} returns. */
export interface AuthServer {
  /** Serve every authorization-server endpoint; unknown paths get a 404 JSON. */
  handle(req: Request): Promise<Response>;
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
  const sealer = createSealer(cfg.encryptionKeys);
  const plugin = pluginOf(cfg.authenticate);
  // Props are looked up at verify time only once this server can have any.
  let propsInUse = Boolean(cfg.encryptionKeys?.length || plugin);
  const sealedProps = grantProps(store, sealer);
  const props: typeof sealedProps = {
    ...sealedProps,
    write(grantId, p, exp) {
      if (!propsInUse && sealer.ephemeral) {
        warn(
          "[gatehouse] WARNING: no encryptionKeys configured; grant props are sealed with an ephemeral key and are lost on restart.",
        );
      }
      propsInUse = true;
      return sealedProps.write(grantId, p, exp);
    },
  };
  /** Downstream refresh: the app's `refreshProps` hook, and props outliving the grant. */
  const refreshed = async (grant: GrantRecord): Promise<void> => {
    if (!propsInUse && !cfg.refreshProps) return;
    const now = cfg.now();
    const current = await props.load(grant.id);
    let next = current?.props;
    if (cfg.refreshProps) {
      try {
        next = (await cfg.refreshProps({ grant, props: current?.props })) ?? next;
      } catch (e) {
        console.error(`[gatehouse] refreshProps hook failed: ${(e as Error)?.name ?? "Error"}`);
      }
    }
    const needed = now + (cfg.refreshTokenTtl + cfg.accessTokenTtl) * 1000;
    if (next && (next !== current?.props || (current.exp ?? Infinity) < needed)) {
      await props.write(grant.id, next, now + 2 * cfg.refreshTokenTtl * 1000);
    }
  };
  let keysPromise: Promise<KeySet> | undefined;
  const keys = () => (keysPromise ??= loadKeys(cfg.keys, warn));
  let ctxPromise: Promise<Ctx> | undefined;
  const context = () =>
    ctxPromise ??= keys().then((k): Ctx => ({
      config: cfg,
      store,
      keys: k,
      endpoints,
      emit: (e) => emit(cfg.onEvent, { ...e, at: cfg.now() }),
      revoke: revokeAndReport,
      findClient: (id) =>
        findClient(store, id, {
          cimd: cfg.clientIdMetadataDocuments !== false,
          fetch: cfg.fetch ?? fetch,
          scopes: cfg.scopes,
          now: cfg.now(),
        }),
      resource: resourceOf,
      props,
      refreshed,
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
    methods: { GET: (ctx) => Promise.resolve(json(ctx.keys.jwks)) },
  });
  routes.set(cfg.basePath + "/authorize", {
    api: false,
    methods: { GET: authorizeGet, POST: authorizePost },
  });
  routes.set(cfg.basePath + "/token", { api: true, methods: { POST: tokenEndpoint } });
  routes.set(cfg.basePath + "/revoke", { api: true, methods: { POST: revokeEndpoint } });
  routes.set(cfg.basePath + "/introspect", { api: true, methods: { POST: introspectEndpoint } });
  routes.set(cfg.basePath + "/register", { api: true, methods: { POST: register } });
  if (plugin) {
    const host: AuthenticatorHost = {
      issuer: cfg.issuer,
      base,
      now: cfg.now,
      quiet: cfg.quiet === true,
      store,
      sealer,
      readProps: (id) => props.read(id),
      async writeProps(id, p) {
        const g = await store.get<GrantRecord>(["grant", id]);
        if (!g || g.revokedAt) return false;
        const exp = (await props.load(id))?.exp ?? g.expiresAt ?? null;
        await props.write(id, p, exp);
        // A revocation that raced this write must win: drop what was just written.
        const again = await store.get<GrantRecord>(["grant", id]);
        if (!again || again.revokedAt) {
          await props.delete(id);
          return false;
        }
        return true;
      },
      revokeGrant: async (id, reason) => {
        await revokeAndReport(id, reason);
      },
      redirectToClient(redirectUri, params) {
        const u = new URL(redirectUri);
        for (const [k, v] of Object.entries(params)) if (v !== undefined) u.searchParams.set(k, v);
        u.searchParams.set("iss", cfg.issuer);
        return new Response(null, {
          status: 302,
          headers: { location: u.href, "cache-control": "no-store" },
        });
      },
      errorPage,
    };
    plugin.attach(host);
    for (const [path, methods] of Object.entries(plugin.routes())) {
      const wrapped: Record<string, Handler> = {};
      for (const [m, h] of Object.entries(methods)) wrapped[m] = (_ctx, req) => h(req);
      routes.set(cfg.basePath + path, { api: false, methods: wrapped });
    }
  }

  async function register(ctx: Ctx, req: Request): Promise<Response> {
    const policy = cfg.registration ?? "open";
    if (policy === "closed") {
      throw new OAuthError("access_denied", "dynamic client registration is disabled", {
        status: 403,
      });
    }
    const body = await readJsonObject(req, "invalid_client_metadata");
    if (typeof policy === "function") {
      let allowed = false;
      try {
        allowed = await policy(body, req);
      } catch {
        allowed = false;
      }
      if (!allowed) {
        throw new OAuthError("access_denied", "registration refused by policy", { status: 403 });
      }
    }
    const { record, secret } = await registerClient(store, body, cfg.scopes, cfg.now());
    ctx.emit({
      type: "client.registered",
      clientId: record.client_id,
      scopes: record.scope?.split(" "),
    });
    return jsonResponse(publicClient(record, secret), { status: 201, headers: CORS });
  }

  const pathOf = (req: Request): string | undefined => {
    try {
      const p = new URL(req.url).pathname;
      return p.length > 1 ? p.replace(/\/$/, "") : p;
    } catch {
      return undefined;
    }
  };

  async function handle(req: Request): Promise<Response> {
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
    try {
      const res = await h(await ctxOrReset(), req);
      return req.method === "HEAD" ? new Response(null, res) : res;
    } catch (e) {
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
      console.error(`[gatehouse] internal error on ${path}: ${(e as Error)?.name ?? "Error"}`);
      return route.api
        ? new OAuthError("server_error", "internal error", { status: 500 }).toResponse(CORS)
        : errorPage(500, "Something went wrong", "Please try again.");
    }
  }

  const verifiers = new Map<string, Promise<Verifier>>();
  function verifierFor(resource?: string): Promise<Verifier> {
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

  async function grants(filter: GrantFilter = {}): Promise<GrantRecord[]> {
    const all = await store.list<GrantRecord>(["grant"]);
    return all.map((e) => e.data).filter((g) =>
      (filter.clientId === undefined || g.clientId === filter.clientId) &&
      (filter.subject === undefined || g.subject === filter.subject) &&
      (filter.includeRevoked || !g.revokedAt)
    );
  }
  /** The one place a grant is revoked and the audit event emitted. */
  async function revokeAndReport(
    grantId: string,
    reason: string,
    type: "grant.revoked" | "token.revoked" = "grant.revoked",
  ): Promise<GrantRecord | undefined> {
    const now = cfg.now();
    const g = await revokeGrant(store, grantId, reason, now, now + cfg.refreshTokenTtl * 1000);
    if (g && propsInUse) await propsRevoked(g);
    if (g) {
      emit(cfg.onEvent, {
        type,
        at: now,
        subject: g.subject,
        clientId: g.clientId,
        scopes: g.scopes,
        grantId,
        reason,
      });
    }
    return g;
  }
  /** A revoked grant's props: hand them to the plugin (upstream revocation), then forget them. */
  async function propsRevoked(g: GrantRecord): Promise<void> {
    try {
      const p = await props.read(g.id);
      if (p && plugin?.grantRevoked) await plugin.grantRevoked(g, p);
    } catch (e) {
      console.error(`[gatehouse] upstream revocation failed: ${(e as Error)?.name ?? "Error"}`);
    }
    await props.delete(g.id);
  }
  const adminRevoke = async (grantId: string, reason: string): Promise<boolean> =>
    (await revokeAndReport(grantId, reason)) !== undefined;
  const admin: AdminApi = {
    async listClients() {
      return (await store.list<ClientRecord>(["client"])).map((e) => publicClient(e.data));
    },
    async getClient(id) {
      const c = await store.get<ClientRecord>(["client", id]);
      return c && publicClient(c);
    },
    async revokeClient(id) {
      const c = await store.get<ClientRecord>(["client", id]);
      for (const g of await grants({ clientId: id })) {
        await adminRevoke(g.id, "client revoked by admin");
      }
      if (!c) return false;
      await store.delete(["client", id]);
      emit(cfg.onEvent, { type: "client.revoked", at: cfg.now(), clientId: id });
      return true;
    },
    listGrants: grants,
    revokeGrant: (id) => adminRevoke(id, "revoked by admin"),
    async revokeGrants(filter) {
      let n = 0;
      for (const g of await grants({ ...filter, includeRevoked: false })) {
        if (await adminRevoke(g.id, "revoked by admin")) n++;
      }
      return n;
    },
  };

  return {
    handle,
    owns: (req) => {
      const p = pathOf(req);
      return p !== undefined && routes.has(p);
    },
    async verify(req, options = {}) {
      const v = await verifierFor(options.resource);
      const result = await v.verify(req, options);
      if (!result.ok || !propsInUse || !result.claims.grantId) return result;
      let p: Record<string, unknown> | undefined;
      try {
        p = await props.read(result.claims.grantId);
      } catch {
        p = undefined; // storage trouble: the token is valid; tools see no props
      }
      return p ? { ok: true, claims: { ...result.claims, props: p } } : result;
    },
    verifierFor,
    admin,
    metadata: async () => authorizationServerMetadata(await ctxOrReset()),
    issuer: cfg.issuer,
  };
}

/**
 * The authorization server's use of the rate limiter (internal; loaded on the
 * first request to a limited endpoint).
 *
 * @module
 */
import type { Storage } from "../../storage/mod.ts";
import type { Ctx } from "../_context.ts";
import type { ResolvedConfig } from "../config.ts";
import { emit } from "../events.ts";
import { parseIpv6 } from "../_ip.ts";
import { createRateLimiter, DEFAULT_LIMITS, defaultClientIp, rateLimitResponse } from "./mod.ts";
import type { ClientIpExtractor, EndpointLimits, LimitedEndpoint, RateLimitRule } from "./mod.ts";

/** Per-endpoint overrides as configured (`rateLimits`). */
export type LimitsOverride = Partial<
  Record<LimitedEndpoint, { ip?: RateLimitRule | false; client?: RateLimitRule | false }>
>;

/** What the server calls before running a limited endpoint. */
export interface ServerLimits {
  /** Count a hit by the caller's IP; a 429 Response when over the limit. */
  byIp(
    endpoint: LimitedEndpoint,
    req: Request,
    info: unknown,
    html: boolean,
    cors: Record<string, string>,
    hookFailed?: (hook: string, error: unknown) => void,
  ): Promise<Response | undefined>;
  /** Count a hit by client id; a 429 Response when over the limit. */
  byClient(
    endpoint: LimitedEndpoint,
    clientId: string,
    html: boolean,
    cors: Record<string, string>,
  ): Promise<Response | undefined>;
  /** True when `endpoint` has a per-client rule. */
  hasClientRule(endpoint: LimitedEndpoint): boolean;
  /**
   * Per-IP check, then per-client: the `client_id` of a browser GET, or for
   * the JSON endpoints the first client the handler looks up (the one it
   * authenticates) — through the returned Ctx, whose `findClient` throws an
   * error carrying the 429 `response`. Returns a 429 Response or the Ctx to use.
   */
  check(
    endpoint: LimitedEndpoint,
    req: Request,
    info: unknown,
    api: boolean,
    ctx: Ctx,
  ): Promise<Response | Ctx>;
}

/**
 * The counter key of a caller's IP: an IPv6 address counts by its /64 (one host
 * or customer owns the whole prefix and can connect from any address in it);
 * an IPv4-mapped IPv6 address as its IPv4; anything else verbatim.
 */
function ipKey(ip: string): string {
  const b = ip.includes(":") ? parseIpv6(ip) : undefined;
  if (!b) return ip;
  if (b.slice(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff) {
    return b.slice(12).join(".");
  }
  const groups: string[] = [];
  for (let i = 0; i < 8; i += 2) groups.push(((b[i] << 8) | b[i + 1]).toString(16));
  return groups.join(":") + "::/64";
}

/**
 * Build the server's limits from the defaults and `cfg.rateLimits`. The
 * first refused hit of a window per rule and caller emits one `rate_limited`
 * audit event (not one per 429).
 */
export function serverLimits(
  storage: Storage,
  cfg: Pick<ResolvedConfig, "rateLimits" | "clientIp" | "now" | "quiet" | "onEvent">,
  corsHeaders: Record<string, string>,
): ServerLimits {
  const options = {
    override: cfg.rateLimits || undefined,
    clientIp: cfg.clientIp as ClientIpExtractor | undefined,
    now: cfg.now,
    quiet: cfg.quiet,
    cors: corsHeaders,
    onLimited: (e: { endpoint: LimitedEndpoint; kind: "ip" | "client"; who: string }) =>
      emit(cfg.onEvent, {
        type: "rate_limited",
        at: cfg.now(),
        ...(e.kind === "client" ? { clientId: e.who.slice(0, 2048) } : {}),
        reason: `${e.endpoint} per-${e.kind} limit` +
          (e.kind === "ip" ? ` (${e.who.slice(0, 64)})` : ""),
      }),
  };
  const rules: EndpointLimits = structuredClone(DEFAULT_LIMITS);
  for (const [k, v] of Object.entries(options.override ?? {})) {
    const e = k as LimitedEndpoint;
    if (v?.ip !== undefined) rules[e].ip = v.ip;
    if (v?.client !== undefined) rules[e].client = v.client;
  }
  const limiter = createRateLimiter(storage, { now: options.now });
  const extract = options.clientIp ?? defaultClientIp;
  let warnedNoIp = false;
  let warnedStorage = false;
  const hit = async (
    endpoint: LimitedEndpoint,
    kind: "ip" | "client",
    who: string,
    rule: RateLimitRule,
    html: boolean,
    cors: Record<string, string>,
  ): Promise<Response | undefined> => {
    try {
      const d = await limiter.hit(`${endpoint}:${kind}`, who, rule);
      if (d.count === rule.limit + 1) options.onLimited?.({ endpoint, kind, who });
      return d.allowed ? undefined : rateLimitResponse(d, { html, headers: html ? {} : cors });
    } catch {
      // Fail open: a storage outage must not lock every client out. Logged once.
      if (!warnedStorage) {
        warnedStorage = true;
        console.error("[gatehouse] rate limit counters unavailable (storage error); not limiting");
      }
      return undefined;
    }
  };
  const self: ServerLimits = {
    async check(endpoint, req, info, api, ctx) {
      const cors = api ? options.cors : {};
      const byIp = await self.byIp(endpoint, req, info, !api, cors, ctx.hookFailed);
      if (byIp) return byIp;
      if (!self.hasClientRule(endpoint)) return ctx;
      if (!api) {
        const id = req.method === "GET" ? new URL(req.url).searchParams.get("client_id") : null;
        return (id && await self.byClient(endpoint, id, true, cors)) || ctx;
      }
      let counted = false;
      const countOnce = async (id: string) => {
        if (counted) return;
        counted = true;
        const refused = await self.byClient(endpoint, id, false, cors);
        if (refused) throw Object.assign(new Error("rate limited"), { response: refused });
      };
      return {
        ...ctx,
        findClient: async (id) => {
          await countOnce(id);
          return ctx.findClient(id);
        },
        resolveClient: async (id) => {
          await countOnce(id);
          return ctx.resolveClient(id);
        },
        clientIdentified: countOnce,
      };
    },
    async byIp(endpoint, req, info, html, cors, hookFailed) {
      const rule = rules[endpoint].ip;
      if (!rule) return undefined;
      let ip: string | undefined;
      try {
        ip = extract(req, info);
      } catch (e) {
        // Reported like every app hook (error event + console); the request goes on unlimited by IP.
        if (hookFailed) hookFailed("clientIp", e);
        else console.error(`[gatehouse] clientIp threw: ${(e as Error)?.name ?? "Error"}`);
      }
      if (!ip) {
        if (!warnedNoIp && !options.quiet) {
          warnedNoIp = true;
          console.warn(
            "[gatehouse] rate limits: the client IP is unknown (pass handle(req, info) or set clientIp); per-IP limits skipped",
          );
        }
        return undefined;
      }
      return await hit(endpoint, "ip", ipKey(ip), rule, html, cors);
    },
    async byClient(endpoint, clientId, html, cors) {
      const rule = rules[endpoint].client;
      if (!rule) return undefined;
      return await hit(endpoint, "client", clientId, rule, html, cors);
    },
    hasClientRule: (endpoint) => rules[endpoint].client !== false,
  };
  return self;
}

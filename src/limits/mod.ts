/**
 * Rate limiting on a Gatehouse storage driver: fixed-window counters, the
 * default limits of the authorization-server endpoints, trusted client-IP
 * extraction, and the 429 responses. The server loads this module on first
 * use; import it yourself (`@gatehouse/oauth/limits`) to limit your own
 * routes (a login form, tool calls) with the same counters.
 *
 * Counters live in the driver under `["ratelimit", name, who, window]` and
 * use the driver's atomic `increment` (memory, Deno KV, Durable Object,
 * Upstash): of N concurrent hits exactly `limit` are allowed. Workers KV has
 * no atomic increment: its counters are get-then-put and eventually
 * consistent across locations, so they undercount under bursts.
 *
 * @example
 * ```ts
 * import { createRateLimiter, rateLimitResponse } from "@gatehouse/oauth/limits";
 * import { memoryStorage } from "@gatehouse/oauth/storage/memory";
 *
 * const limiter = createRateLimiter(memoryStorage());
 * async function login(req: Request, ip: string): Promise<Response> {
 *   const d = await limiter.hit("login", ip, { limit: 5, windowSeconds: 60 });
 *   if (!d.allowed) return rateLimitResponse(d, { html: true });
 *   return new Response("ok");
 * }
 * ```
 *
 * @module
 */
import type { Storage } from "../../storage/mod.ts";
import { sha256 } from "../_crypto.ts";
import { errorPage } from "../_http.ts";

/** One limit: at most `limit` hits per fixed window of `windowSeconds`. */
export interface RateLimitRule {
  /** Hits allowed per window (≥ 1). */
  limit: number;
  /** Window length in seconds (≥ 1). */
  windowSeconds: number;
}

/** The outcome of one {@link RateLimiter.hit}. */
export interface RateLimitDecision {
  /** False when this hit is over the limit. */
  allowed: boolean;
  /** Hits counted in the current window, this one included. */
  count: number;
  /** The rule's limit. */
  limit: number;
  /** Seconds until the window resets (≥ 1): the `Retry-After` value. */
  retryAfter: number;
}

/** Counts hits per (name, who) in fixed windows. */
export interface RateLimiter {
  /**
   * Count one hit of `who` (an IP, a client id, a user) against rule `name`.
   * Throws the driver's error when storage fails (callers decide fail-open or
   * fail-closed; the Gatehouse server fails open and logs).
   */
  hit(name: string, who: string, rule: RateLimitRule): Promise<RateLimitDecision>;
}

/** Options for {@link createRateLimiter}. */
export interface RateLimiterOptions {
  /** Clock in epoch ms (tests). Default `Date.now`. */
  now?: () => number;
}

async function shortId(who: string): Promise<string> {
  if (who.length <= 64 && /^[\x21-\x7E]*$/.test(who)) return who;
  return "h:" + await sha256(who);
}

/** Create a fixed-window rate limiter whose counters live in `storage`. */
export function createRateLimiter(
  storage: Storage,
  options: RateLimiterOptions = {},
): RateLimiter {
  const now = options.now ?? Date.now;
  const increment = async (key: string[], exp: number): Promise<number> => {
    if (storage.increment) return await storage.increment(key, exp);
    // Without an increment: read, add, compare-and-swap, retried — exact on a
    // strong driver; on Workers KV (no atomic compare-and-swap) it undercounts.
    for (let attempt = 1;; attempt++) {
      const prev = await storage.get(key);
      const live = prev !== undefined && prev.v === 1 && (prev.exp === null || prev.exp > now());
      const n = (live ? Number(prev!.data) || 0 : 0) + 1;
      const next = { v: 1, exp: live ? prev!.exp : exp, data: n };
      if (await storage.compareAndSwap(key, prev, next)) return n;
      if (attempt >= 1000) throw new Error("rate limit counter: too much contention");
      // Jittered back-off once contended, so N callers don't retry in lockstep.
      if (attempt > 3) {
        await new Promise((r) => setTimeout(r, Math.random() * Math.min(50, 2 ** (attempt - 3))));
      }
    }
  };
  return {
    async hit(name, who, rule) {
      const windowMs = Math.max(1, Math.floor(rule.windowSeconds)) * 1000;
      const t = now();
      const window = Math.floor(t / windowMs);
      const end = (window + 1) * windowMs;
      const key = ["ratelimit", name, await shortId(who), String(window)];
      const count = await increment(key, end);
      return {
        allowed: count <= rule.limit,
        count,
        limit: rule.limit,
        retryAfter: Math.max(1, Math.ceil((end - t) / 1000)),
      };
    },
  };
}

/**
 * The 429 response for a refused hit: `Retry-After` (seconds) and an
 * RFC 6749 §5.2-shaped JSON body (`temporarily_unavailable`), or a plain HTML
 * page with `html: true` (browser endpoints).
 */
export function rateLimitResponse(
  decision: RateLimitDecision,
  options: { html?: boolean; headers?: Record<string, string> } = {},
): Response {
  const headers: Record<string, string> = {
    "retry-after": String(decision.retryAfter),
    "cache-control": "no-store",
    ...options.headers,
  };
  const detail = `Too many requests; try again in ${decision.retryAfter} seconds.`;
  if (options.html) {
    // The server's own error page (its security headers, a CSP that allows its inline style).
    const page = errorPage(429, "Too many requests", detail);
    for (const [k, v] of Object.entries(headers)) page.headers.set(k, v);
    return page;
  }
  return new Response(
    JSON.stringify({ error: "temporarily_unavailable", error_description: detail }),
    { status: 429, headers: { ...headers, "content-type": "application/json" } },
  );
}

/** The endpoints the authorization server limits. */
export type LimitedEndpoint = "register" | "authorize" | "token" | "revoke" | "introspect";

/** Per-endpoint rules: by client IP and by client id (`false` turns one off). */
export type EndpointLimits = Record<
  LimitedEndpoint,
  { ip: RateLimitRule | false; client: RateLimitRule | false }
>;

/**
 * The server's default limits, per 60-second window. Per-client limits are
 * high because one public client id (a Client ID Metadata Document URL such
 * as a popular desktop app's) is shared by all its users.
 */
export const DEFAULT_LIMITS: EndpointLimits = {
  register: { ip: { limit: 20, windowSeconds: 60 }, client: false },
  authorize: { ip: { limit: 60, windowSeconds: 60 }, client: { limit: 300, windowSeconds: 60 } },
  token: { ip: { limit: 120, windowSeconds: 60 }, client: { limit: 600, windowSeconds: 60 } },
  revoke: { ip: { limit: 60, windowSeconds: 60 }, client: { limit: 300, windowSeconds: 60 } },
  introspect: {
    ip: { limit: 1200, windowSeconds: 60 },
    client: { limit: 3000, windowSeconds: 60 },
  },
};

/** Extracts the caller's IP from a request you trust to carry it. */
export type ClientIpExtractor = (req: Request, info?: unknown) => string | undefined;

export { defaultClientIp } from "../_client_ip.ts";

/**
 * A client-IP extractor reading one header set by a proxy you control (the
 * proxy must overwrite the header, not append): e.g. `"cf-connecting-ip"`
 * behind Cloudflare, `"x-real-ip"` behind Vercel (which overwrites it), or
 * `"fly-client-ip"` on Fly. Takes the header verbatim; never use a header
 * the client can set unchecked.
 */
export function headerClientIp(header: string): ClientIpExtractor {
  const h = header.toLowerCase();
  return (req) => req.headers.get(h)?.trim() || undefined;
}

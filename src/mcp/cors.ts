/**
 * CORS for MCP endpoints, so browser-based MCP clients can call them.
 *
 * Bearer tokens are not ambient credentials (no cookies), so allowing an origin lets its pages
 * call the endpoint only with a token they already hold; `credentials` is never allowed.
 *
 * @module
 */

/** CORS options for `protectMcp` (`cors: { origins: [...] }`). */
export interface CorsOptions {
  /**
   * Allowed origins: exact `scheme://host[:port]` strings compared after lower-casing, or `"*"`
   * for any origin.
   */
  origins: string[] | "*";
  /** Preflight cache lifetime in seconds (default 86 400). */
  maxAgeSeconds?: number;
}

const ALLOW_METHODS = "GET, POST, DELETE, OPTIONS";
const BASE_HEADERS =
  "authorization, content-type, accept, mcp-protocol-version, mcp-session-id, last-event-id";
const EXPOSE = "www-authenticate, mcp-session-id, mcp-protocol-version, retry-after";
const HEADER_TOKEN = /^[!#$%&'*+.^_`|~0-9a-z-]+$/;

function allowedOrigin(options: CorsOptions, origin: string | null): string | undefined {
  if (!origin) return undefined;
  if (options.origins === "*") return "*";
  const o = origin.toLowerCase();
  return options.origins.some((a) => a.toLowerCase() === o) ? origin : undefined;
}

/**
 * Answers a CORS preflight (`OPTIONS` with `Access-Control-Request-Method`), before any
 * authentication; returns `undefined` for every other request. A preflight from an origin that
 * is not allowed gets 204 without `Access-Control-Allow-Origin` (the browser then refuses).
 * Requested headers are echoed when they are valid header names (SDK v2 clients send
 * `Mcp-Method`, `Mcp-Name` and `Mcp-Param-*` headers).
 */
export function corsPreflight(req: Request, options: CorsOptions): Response | undefined {
  if (req.method !== "OPTIONS" || !req.headers.has("access-control-request-method")) {
    return undefined;
  }
  const headers = new Headers({ vary: "Origin" });
  const allow = allowedOrigin(options, req.headers.get("origin"));
  if (allow) {
    const requested = (req.headers.get("access-control-request-headers") ?? "")
      .split(",").map((h) => h.trim().toLowerCase()).filter((h) => HEADER_TOKEN.test(h));
    const all = new Set([...BASE_HEADERS.split(", "), ...requested]);
    headers.set("access-control-allow-origin", allow);
    headers.set("access-control-allow-methods", ALLOW_METHODS);
    headers.set("access-control-allow-headers", [...all].join(", "));
    headers.set("access-control-max-age", String(options.maxAgeSeconds ?? 86_400));
  }
  return new Response(null, { status: 204, headers });
}

/** Adds `Access-Control-Allow-Origin` / `-Expose-Headers` to a response for an allowed origin. */
export function withCors(req: Request, res: Response, options: CorsOptions): Response {
  const allow = allowedOrigin(options, req.headers.get("origin"));
  if (!allow) return res;
  const out = new Response(res.body, res);
  out.headers.set("access-control-allow-origin", allow);
  out.headers.set("access-control-expose-headers", EXPOSE);
  out.headers.append("vary", "Origin");
  return out;
}

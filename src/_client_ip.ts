/**
 * The default client-IP extractor, shared by the rate limits (`./limits`) and the server's
 * plugin routes (e.g. `loginForm`'s failure counter). A leaf module: no imports.
 *
 * @module
 */

/**
 * The default client-IP extractor: the socket address where the runtime hands
 * it over (`Deno.serve`'s `info.remoteAddr.hostname`, or any `info` of that
 * shape — pass `{ remoteAddr: { hostname: socket.remoteAddress } }` from
 * `node:http`), and on Cloudflare Workers the `CF-Connecting-IP` header, which
 * Cloudflare sets and clients cannot forge. Never `X-Forwarded-For`. Returns
 * undefined when unknown (per-IP limits are then skipped).
 */
export function defaultClientIp(req: Request, info?: unknown): string | undefined {
  const addr = (info as { remoteAddr?: { hostname?: unknown } } | undefined)?.remoteAddr?.hostname;
  if (typeof addr === "string" && addr) return addr;
  const nav = (globalThis as { navigator?: { userAgent?: string } }).navigator;
  if (nav?.userAgent === "Cloudflare-Workers") {
    return req.headers.get("cf-connecting-ip") ?? undefined;
  }
  return undefined;
}

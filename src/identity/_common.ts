/** Cookies, bounded outbound fetch and small helpers shared by `./identity` (internal). */
import { randomToken, sha256, timingSafeEqual } from "../_crypto.ts";
import { readBounded } from "../_body.ts";
import { isLoopbackHost } from "../_hosts.ts";
import type { AuthenticatorHost } from "../authenticator.ts";

export { randomToken, sha256, timingSafeEqual };

/** Largest upstream response body read (discovery, token, userinfo), bytes. */
export const MAX_UPSTREAM_BODY = 256 * 1024;
/** Upstream request timeout, ms. */
const UPSTREAM_TIMEOUT_MS = 10_000;

/** A cookie's value from a request, or undefined. */
export function cookie(req: Request, name: string): string | undefined {
  for (const part of (req.headers.get("cookie") ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) {
      const v = part.slice(eq + 1).trim();
      return /^[A-Za-z0-9_.~-]{1,4096}$/.test(v) ? v : undefined;
    }
  }
  return undefined;
}

/** `Set-Cookie` for an HttpOnly, SameSite=Lax cookie under `path` (Secure on https). */
export function setCookie(
  host: AuthenticatorHost,
  name: string,
  value: string,
  path: string,
  maxAgeSeconds: number,
): string {
  const secure = host.base.startsWith("https:") ? "; Secure" : "";
  return `${name}=${value}; Path=${path}; Max-Age=${maxAgeSeconds}; HttpOnly; SameSite=Lax${secure}`;
}

/** The issuer's path (cookie scope), e.g. "" or "/auth". */
export function basePath(host: AuthenticatorHost): string {
  return new URL(host.base).pathname.replace(/\/+$/, "");
}

/**
 * `fetch` for upstream calls: a timeout, no redirects followed, and the response body read
 * as a bounded stream (larger → `BodyError`), so a broken or hostile upstream cannot hang or
 * exhaust the server.
 */
export function boundedFetch(inner: typeof fetch = fetch): typeof fetch {
  return async (input, init) => {
    const signal = init?.signal ?? AbortSignal.timeout(UPSTREAM_TIMEOUT_MS);
    const res = await inner(input, { ...init, redirect: "manual", signal });
    if (!res.body) return res;
    // The shared bounded reader (src/_body.ts): Content-Length checked first, the stream
    // cancelled past the cap, and the same signal ends a body that trickles (even when an
    // injected `fetch` ignores it).
    const body = await readBounded(res, MAX_UPSTREAM_BODY, { signal });
    return new Response(body as Uint8Array<ArrayBuffer>, {
      status: res.status,
      headers: res.headers,
    });
  };
}

/** True for http(s) URLs whose host is loopback (http allowed there only). */
export function isLoopbackUrl(u: string): boolean {
  try {
    return isLoopbackHost(new URL(u).hostname);
  } catch {
    return false;
  }
}

/** Throws a TypeError unless `u` is https, or http on loopback. */
export function requireHttps(what: string, u: string): URL {
  let url: URL;
  try {
    url = new URL(u);
  } catch {
    throw new TypeError(`${what} must be an absolute URL`);
  }
  if (url.protocol !== "https:" && !(url.protocol === "http:" && isLoopbackUrl(u))) {
    throw new TypeError(`${what} must be https (http only on a loopback host)`);
  }
  return url;
}

/** A short error name for logs (never a message that could quote upstream secrets). */
export function errorCode(e: unknown): string {
  const x = e as { code?: unknown; error?: unknown; name?: unknown };
  const code = typeof x?.error === "string"
    ? x.error
    : typeof x?.code === "string"
    ? x.code
    : typeof x?.name === "string"
    ? x.name
    : "Error";
  return code.replace(/[^\w.-]/g, "").slice(0, 64);
}

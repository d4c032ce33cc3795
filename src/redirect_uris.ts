/**
 * Redirect-URI rules (RFC 6749 §3.1.2, RFC 8252 §7): what may be registered
 * and how a requested URI matches a registered one. A leaf module.
 *
 * @module
 */
import { isLoopbackHost } from "./_hosts.ts";

const BLOCKED_SCHEMES = new Set([
  "javascript:",
  "data:",
  "vbscript:",
  "file:",
  "blob:",
  "about:",
  "ws:",
  "wss:",
  "ftp:",
]);

/**
 * Whether a redirect URI may be registered: https; http only on a loopback
 * host; or a private-use scheme (RFC 8252 §7.1). Never javascript:/data:, never a fragment.
 */
export function redirectUriProblem(uri: string): string | undefined {
  let u: URL;
  try {
    u = new URL(uri);
  } catch {
    return "is not an absolute URI";
  }
  if (uri.includes("#")) return "must not contain a fragment";
  if (BLOCKED_SCHEMES.has(u.protocol)) return `uses a forbidden scheme (${u.protocol})`;
  if (u.protocol === "http:" && !isLoopbackHost(u.hostname)) {
    return "must use https (http only on loopback hosts)";
  }
  if (u.protocol === "https:") return u.hostname ? undefined : "has no host";
  if (u.protocol === "http:") return undefined;
  if (!/^[a-z][a-z0-9+.-]*:$/.test(u.protocol)) return "has an invalid scheme";
  return undefined;
}

/** RFC 8252 §7.3: loopback redirects match with any port; everything else exactly. */
export function redirectUriMatches(registered: string[], requested: string): boolean {
  if (registered.includes(requested)) return true;
  let r: URL;
  try {
    r = new URL(requested);
  } catch {
    return false;
  }
  if (r.protocol !== "http:" || !isLoopbackHost(r.hostname) || requested.includes("#")) {
    return false;
  }
  return registered.some((reg) => {
    try {
      const g = new URL(reg);
      return g.protocol === "http:" && g.hostname === r.hostname && g.pathname === r.pathname &&
        g.search === r.search && !r.username && !r.password;
    } catch {
      return false;
    }
  });
}

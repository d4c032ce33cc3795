/**
 * Host rules shared by configuration, redirect-URI matching, the consent page and remembered
 * consent (internal leaf module: it imports nothing, so those modules don't import each other
 * for it).
 *
 * @module
 */

const LOOPBACK = new Set(["localhost", "127.0.0.1", "[::1]"]);

/** True for a loopback host name as `URL.hostname` gives it (RFC 8252 §8.3, §7.3). */
export function isLoopbackHost(hostname: string): boolean {
  return LOOPBACK.has(hostname.toLowerCase());
}

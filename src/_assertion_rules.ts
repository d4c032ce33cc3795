/**
 * `private_key_jwt` constants and the cache rule for fetched client documents (a jwks_uri, a
 * client metadata document) (internal), in a module that imports nothing: `client_assertion.ts` is imported on first use, and in one esbuild bundle every
 * module a lazily imported module reaches is wrapped for lazy initialisation (more bytes, a
 * second parse at start); importing only leaves keeps that set to a handful of small modules.
 *
 * @module
 */

/** JWS algorithms accepted for `private_key_jwt` client assertions (never `none`, never HMAC). */
export const ASSERTION_ALGS = ["RS256", "ES256", "EdDSA"] as const;

/** RFC 7523 §2.2 `client_assertion_type` for `private_key_jwt`. */
export const JWT_BEARER_ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/** Cache lifetime in seconds allowed by a Cache-Control header, bounded to [min, max]. */
export function cacheSeconds(cacheControl: string, min: number, max: number): number {
  if (/no-store|no-cache/.test(cacheControl)) return min;
  const maxAge = /max-age=(\d+)/.exec(cacheControl)?.[1];
  return Math.min(max, Math.max(min, Number(maxAge ?? 3600)));
}

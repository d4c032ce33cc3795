/**
 * The resource-server token verifier: checks RFC 9068 JWT access tokens (EdDSA / ES256) against
 * local or remote keys, or asks an RFC 7662 introspection endpoint, and answers with RFC 6750 /
 * RFC 9728 challenges. Never throws for bad input.
 *
 * `createVerifier` wires the steps, each in its own file: parse (`verifier_bearer`), key lookup
 * and signature (`verifier_local`, `verifier_jwks`), claims check (`verifier_claims`),
 * introspection (`verifier_introspect`), revocation check (`verifier_revocation`), scopes
 * (`verifier_scopes`) and challenge (`verifier_challenge`). The fresh-token fast path stays here.
 *
 * Deliberately free of zod and of any server code so that `verify.ts` stays small.
 *
 * @module
 */

import {
  type JwtAlgorithm,
  SUPPORTED_ALGORITHMS,
  tryDecodePayload,
  trySignatureAndInput,
  verifyBytes,
} from "./_jwt.ts";
import { B64TOKEN, extractToken } from "./verifier_bearer.ts";
import { Failure, failureResult, lastResortResult } from "./verifier_challenge.ts";
import { claimsFromIntrospection, createClaimsCheck } from "./verifier_claims.ts";
import { introspectionScopes, introspectToken } from "./verifier_introspect.ts";
import { KeyStore } from "./verifier_jwks.ts";
import { createLocalCheck, headerFailure } from "./verifier_local.ts";
import { canonicalResource, resourceMetadataUrlFor } from "./verifier_resource.ts";
import { type CacheEntry, checkRevocation } from "./verifier_revocation.ts";
import { createScopeChecker } from "./verifier_scopes.ts";
import type {
  IntrospectionOptions,
  VerifiedToken,
  Verifier,
  VerifierOptions,
  VerifyFailure,
  VerifyResult,
} from "./verifier_types.ts";

export type { JwkSet, JwtAlgorithm, PublicJwk } from "./_jwt.ts";
export type { ScopeHierarchy } from "./verifier_scopes.ts";
export type {
  IntrospectionOptions,
  RevocationOptions,
  VerifiedToken,
  Verifier,
  VerifierOptions,
  VerifierStats,
  VerifyFailure,
  VerifyFunction,
  VerifyOptions,
  VerifyResult,
  VerifySuccess,
} from "./verifier_types.ts";
export { canonicalResource, resourceMetadataUrlFor } from "./verifier_resource.ts";

const NO_SCOPES: readonly string[] = Object.freeze([]);
// Taken once: edge-runtime's global `Array` is a Proxy, so each `Array.isArray` there is a trap.
const isArray = Array.isArray;
const imul = Math.imul;

/**
 * Creates a verifier for one resource. Throws TypeError for invalid options (not for tokens).
 *
 * @example
 * ```ts
 * import { createVerifier } from "@gatehouse/oauth/verify";
 *
 * const verifier = createVerifier({
 *   issuer: "http://localhost:8787",
 *   audience: "http://localhost:8787/mcp",
 *   jwksUri: "http://localhost:8787/jwks",
 * });
 * export async function handler(request: Request): Promise<Response> {
 *   const result = await verifier.verify(request, { scopes: ["mcp:read"] });
 *   if (!result.ok) return result.response;
 *   return new Response(`hello ${result.claims.subject}`);
 * }
 * ```
 */
export function createVerifier(options: VerifierOptions): Verifier {
  if (typeof options?.issuer !== "string" || options.issuer === "") {
    throw new TypeError("createVerifier: issuer is required");
  }
  if (typeof options.audience !== "string" || options.audience === "") {
    throw new TypeError("createVerifier: audience is required");
  }
  const localJwks = options.jwks ?? (options.keys ? { keys: options.keys } : undefined);
  if (!localJwks && !options.jwksUri && !options.introspection) {
    throw new TypeError("createVerifier: one of jwks, keys, jwksUri or introspection is required");
  }
  const algorithms = options.algorithms ?? [...SUPPORTED_ALGORITHMS];
  for (const alg of algorithms) {
    if (!SUPPORTED_ALGORITHMS.includes(alg)) {
      throw new TypeError(`createVerifier: unsupported algorithm ${String(alg)}`);
    }
  }
  const issuer = options.issuer;
  const resource = canonicalResource(options.audience);
  const resourceMetadataUrl = options.resourceMetadataUrl ?? resourceMetadataUrlFor(resource);
  const toleranceMs = (options.clockTolerance ?? 5) * 1000;
  const scopesSupported = (options.scopesSupported ?? []).filter((s) => s !== "offline_access");
  const checkScopes = createScopeChecker(options.scopeHierarchy);
  const now = options.now ?? Date.now;
  const doFetch = options.fetch ?? ((input, init) => fetch(input, init));
  const maxEntries = options.cache === false ? 0 : options.cache?.maxEntries ?? 1000;
  const cache = new Map<string, CacheEntry>();
  const revocation = options.revocation;
  const introspection = options.introspection;
  const hasLocalKeys = Boolean(localJwks || options.jwksUri);
  const introspectFor = introspectionScopes(introspection, hasLocalKeys);
  const keys = new KeyStore({
    jwks: localJwks,
    jwksUri: options.jwksUri,
    algorithms,
    fetch: doFetch,
    now,
    cooldownMs: options.jwksCache?.cooldownMs,
    defaultMaxAgeMs: options.jwksCache?.defaultMaxAgeMs,
    maxMaxAgeMs: options.jwksCache?.maxMaxAgeMs,
    timeoutMs: options.jwksCache?.timeoutMs,
  });
  // The fresh-token fast path (below) runs for a token string with local keys, no introspection
  // and no revocation hop.
  const fastPathOn = hasLocalKeys && introspection === undefined &&
    (revocation === undefined || revocation.mode === "stateless");
  const counters = { signatureChecks: 0, cacheHits: 0, introspections: 0, revocationChecks: 0 };

  const fail = (f: Failure, required: readonly string[]): VerifyFailure =>
    failureResult(f, required, resourceMetadataUrl, scopesSupported);

  const lastResort = (
    required: readonly string[],
    description = "token could not be verified",
  ): VerifyResult => lastResortResult(required, description, resourceMetadataUrl, scopesSupported);

  const validateClaims = createClaimsCheck(issuer, resource, toleranceMs);
  const checkLocal = createLocalCheck(keys, algorithms, validateClaims, counters);

  // Least recently used first. Deleting one entry per insert is O(cache size) in V8: a Map keeps
  // deleted slots until it rehashes, and each `keys().next()` walks them from the start. So when
  // full, the oldest 1/32 go at once (one walk per 31 inserts).
  const remember = (token: string, entry: CacheEntry): void => {
    if (maxEntries > 0) {
      cache.set(token, entry);
      if (cache.size <= maxEntries) return;
      let drop = cache.size - maxEntries + (maxEntries >> 5);
      for (const old of cache.keys()) {
        cache.delete(old);
        if (--drop <= 0) break;
      }
    }
  };

  // Admission (when no revocation or introspection state lives in the entry): a token enters
  // the cache on its second successful check within the last ≈ maxEntries/2 … maxEntries fresh
  // tokens. MCP clients reuse one access token for many calls (cached from the third); a token
  // seen once is never reused, and caching it would keep ≈ 0.75 KB per token alive long enough
  // to cost young-generation GC copies (≈ 1.5 µs per fresh verify in Deno). "Seen" keeps only
  // 30-bit hashes of the signature's last characters (small integers: no per-entry object), in
  // two generations of at most maxEntries/2 each. A collision only admits a token early.
  let seen = new Set<number>();
  let seenBefore = new Set<number>();
  const admit = (token: string): boolean => {
    if (!fastPathOn || maxEntries === 0) return true;
    let h = 0;
    for (let i = token.length - 9; i < token.length - 1; i++) {
      h = (imul(h, 31) + token.charCodeAt(i)) | 0;
    }
    h &= 0x3fffffff;
    if (seen.has(h) || seenBefore.has(h)) return true;
    if (seen.size >= maxEntries >> 1) {
      seenBefore = seen;
      seen = new Set();
    }
    seen.add(h);
    return false;
  };

  const scoped = (verified: VerifiedToken, required: readonly string[]): VerifyResult =>
    required.length > 0 && checkScopes(verified.scopes, required).length > 0
      ? fail(
        new Failure(403, "insufficient_scope", "the token lacks a required scope", required),
        required,
      )
      : { ok: true, claims: verified };

  // Fresh-token fast path: a token string, local keys, no introspection and no revocation hop.
  // One promise (the signature check), no await, the header of the previous token remembered by
  // its exact text. Anything unusual (a malformed part, an unknown key, a cached token) returns
  // undefined and the full path re-checks the token from scratch, so errors are unchanged.
  let memoHeader = "";
  let memoAlg: JwtAlgorithm = "EdDSA";
  let memoKid: string | undefined;
  const fastVerify = (
    token: string,
    required: readonly string[],
  ): Promise<VerifyResult> | undefined => {
    if (token.length > 16384) return undefined;
    const first = token.indexOf(".");
    const second = first < 0 ? -1 : token.indexOf(".", first + 1);
    if (first <= 0 || second < 0 || token.indexOf(".", second + 1) !== -1) return undefined;
    // Three base64url parts (checked below) and two dots also satisfy B64TOKEN.
    if (first !== memoHeader.length || !token.startsWith(memoHeader)) {
      const header = tryDecodePayload(token, 0, first);
      if (header === undefined || headerFailure(header, algorithms)) return undefined;
      memoHeader = token.slice(0, first);
      memoAlg = header.alg as JwtAlgorithm;
      memoKid = header.kid as string | undefined;
    }
    if (maxEntries > 0 && cache.has(token)) return undefined;
    const key = keys.cached(memoKid, memoAlg);
    if (key === undefined) return undefined;
    const payload = tryDecodePayload(token, first + 1, second);
    if (payload === undefined) return undefined;
    const bytes = trySignatureAndInput(token, second);
    if (bytes === undefined) return undefined;
    const at = now();
    counters.signatureChecks++;
    const signature = bytes.subarray(second + 1, second + 65);
    return verifyBytes(key, signature, bytes.subarray(0, second)).then(
      (valid) => {
        try {
          if (!valid) {
            return fail(new Failure(401, "invalid_token", "invalid token signature"), required);
          }
          const verified = validateClaims(payload, token, at);
          if (verified instanceof Failure) return fail(verified, required);
          if (admit(token)) {
            remember(token, {
              verified,
              expiresAtMs: verified.expiresAt * 1000 + toleranceMs,
              introspectedAt: undefined,
            });
          }
          return scoped(verified, required);
        } catch {
          return lastResort(required);
        }
      },
      () => lastResort(required, "invalid token signature"),
    );
  };

  // Tokens with a miss (introspection) under way, and whether one of their introspections was
  // refused meanwhile: then the miss's answer is not cached (it may have read the token's state
  // before the revoke the refusal saw). Holds only tokens in flight.
  const missing = new Map<string, { calls: number; refused: boolean }>();
  const introspect = async (
    token: string,
    at: number,
  ): Promise<Record<string, unknown> | Failure> => {
    const cfg = introspection as IntrospectionOptions;
    counters.introspections++;
    const r = await introspectToken(
      {
        ...cfg,
        fetch: doFetch,
        issuer,
        resource,
        canonical: canonicalResource,
        toleranceMs,
      },
      token,
      at,
    );
    if (!r.ok && r.refused !== 503) {
      const inFlight = missing.get(token);
      if (inFlight) inFlight.refused = true;
    }
    return r.ok ? r.info : new Failure(r.refused, "invalid_token", r.description);
  };

  const verifyMiss = async (
    token: string,
    at: number,
    required: readonly string[],
  ): Promise<CacheEntry | Failure> => {
    let verified: VerifiedToken | undefined;
    if (hasLocalKeys) {
      const local = await checkLocal(token, at);
      if (local instanceof Failure) return local;
      verified = local;
    }
    let introspectedAt: number | undefined;
    if (introspection && introspectFor(required)) {
      const info = await introspect(token, at);
      if (info instanceof Failure) return info;
      introspectedAt = at;
      verified ??= claimsFromIntrospection(info, token, resource);
    }
    const v = verified as VerifiedToken;
    return { verified: v, expiresAtMs: v.expiresAt * 1000 + toleranceMs, introspectedAt };
  };

  const run = async (
    input: Request | string,
    required: readonly string[],
  ): Promise<VerifyResult> => {
    // Fast path (a token string): no promise to wait for before the signature check.
    const extracted = typeof input === "string"
      ? (input === ""
        ? undefined
        : B64TOKEN.test(input)
        ? input
        : new Failure(401, "invalid_token", "malformed token"))
      : await extractToken(input);
    if (extracted instanceof Failure) return fail(extracted, required);
    if (extracted === undefined) {
      return fail(new Failure(401, undefined, "no access token was provided"), required);
    }
    const token = extracted;
    const at = now();
    let entry = maxEntries > 0 ? cache.get(token) : undefined;
    if (entry) {
      cache.delete(token);
      if (at >= entry.expiresAtMs) {
        return fail(new Failure(401, "invalid_token", "token expired"), required);
      }
      cache.set(token, entry);
      counters.cacheHits++;
      if (
        introspection && introspectFor(required) &&
        at - (entry.introspectedAt ?? -Infinity) >= (introspection.cacheTtlMs ?? 0)
      ) {
        const info = await introspect(token, at);
        if (info instanceof Failure) {
          if (info.status !== 503) cache.delete(token);
          return fail(info, required);
        }
        entry.introspectedAt = at;
      }
    } else {
      let inFlight = introspection && missing.get(token);
      if (introspection && !inFlight) missing.set(token, inFlight = { calls: 0, refused: false });
      if (inFlight) inFlight.calls++;
      let result: CacheEntry | Failure;
      try {
        result = await verifyMiss(token, at, required);
      } finally {
        if (inFlight && --inFlight.calls === 0) missing.delete(token);
      }
      if (result instanceof Failure) return fail(result, required);
      entry = result;
      if (!inFlight?.refused && admit(token)) remember(token, entry);
    }
    const revoked = revocation && revocation.mode !== "stateless"
      ? await checkRevocation(entry, at, revocation, counters)
      : undefined;
    if (revoked) return fail(revoked, required);
    return scoped(entry.verified, required);
  };

  return {
    resource,
    resourceMetadataUrl,
    missingScopes: (granted, required) => checkScopes(granted, required),
    stats: () => ({ ...counters, jwksFetches: keys.fetchCount }),
    verify(reqOrToken, opts) {
      const required = isArray(opts?.scopes)
        ? opts.scopes.filter((s) => typeof s === "string" && s !== "")
        : NO_SCOPES;
      if (fastPathOn && typeof reqOrToken === "string") {
        let fast: Promise<VerifyResult> | undefined;
        try {
          fast = fastVerify(reqOrToken, required);
        } catch {
          fast = undefined;
        }
        if (fast !== undefined) return fast;
      }
      return run(reqOrToken, required).catch(() => lastResort(required));
    },
  };
}

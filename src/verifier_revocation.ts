/**
 * The verifier's revocation check and the cache entry it keeps its answer in: `strict` asks
 * `isRevoked` on every verify, `cached` reuses an answer for `ttlMs`, `stateless` never asks.
 * An `isRevoked` that throws or rejects makes the call fail with 503, never succeed.
 *
 * @module
 */

import { Failure } from "./verifier_challenge.ts";
import type { RevocationOptions, VerifiedToken } from "./verifier_types.ts";

/** One verified-token cache entry, with its introspection and revocation state. */
export interface CacheEntry {
  /** The verified token. */
  verified: VerifiedToken;
  /** When the entry stops being usable: `exp` plus clock tolerance, ms since the epoch. */
  expiresAtMs: number;
  /** When `isRevoked` last answered, ms since the epoch. */
  revokedCheckedAt?: number;
  /** Its last answer. */
  revoked?: boolean;
  /** Which lookup gave that answer (they are numbered as they start). */
  revokedTicket?: number;
  /** When introspection last said `active`, ms since the epoch. */
  introspectedAt?: number;
}

let lookups = 0;

/**
 * Applies the revocation policy to `entry` at time `at` (ms): a 401 `invalid_token` failure
 * when revoked, a 503 failure when `isRevoked` fails, else undefined. Updates the entry's
 * revocation state and `counters.revocationChecks`.
 */
export async function checkRevocation(
  entry: CacheEntry,
  at: number,
  revocation: RevocationOptions | undefined,
  counters: { revocationChecks: number },
): Promise<Failure | undefined> {
  if (!revocation || revocation.mode === "stateless") return undefined;
  const ttl = revocation.ttlMs ?? 30_000;
  const fresh = revocation.mode === "cached" && entry.revokedCheckedAt !== undefined &&
    at - entry.revokedCheckedAt < ttl;
  if (!fresh) {
    counters.revocationChecks++;
    // Overlapping verifies of one token: only the answer of the latest lookup to start is kept,
    // so a slower lookup that read before a revoke cannot plant "not revoked" over the answer
    // of one that read after it.
    const ticket = ++lookups;
    let revoked: boolean;
    try {
      revoked = (await revocation.isRevoked(entry.verified)) === true;
    } catch {
      return new Failure(503, "invalid_token", "revocation status is unavailable");
    }
    if (ticket > (entry.revokedTicket ?? 0)) {
      entry.revoked = revoked;
      entry.revokedCheckedAt = at;
      entry.revokedTicket = ticket;
    }
  }
  return entry.revoked ? new Failure(401, "invalid_token", "token has been revoked") : undefined;
}

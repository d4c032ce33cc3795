/**
 * Verification-key store for the resource-server verifier: local JWKS and/or a remote
 * `jwks_uri` with HTTP-cache-aware refresh, a refetch cool-down, refetch on unknown `kid`
 * and a single shared in-flight fetch.
 *
 * @module
 */

import {
  importVerificationKey,
  type JwkSet,
  type JwtAlgorithm,
  type VerificationKey,
} from "./_jwt.ts";
import { readBoundedJson, untilAborted } from "./_body.ts";

/** Largest JWKS document read, bytes (a set of a few dozen keys fits easily). */
export const MAX_JWKS_BYTES = 64 * 1024;
/** Default time limit for one JWKS fetch, headers and body together, ms. */
export const JWKS_TIMEOUT_MS = 5_000;

/** Options for {@linkcode KeyStore}. */
export interface KeyStoreOptions {
  /** Local keys. */
  jwks?: JwkSet;
  /** Remote JWKS URL. */
  jwksUri?: string;
  /** Accepted algorithms. */
  algorithms: readonly JwtAlgorithm[];
  /** fetch implementation. */
  fetch: typeof fetch;
  /** Clock in ms. */
  now: () => number;
  /** Minimum time between two remote fetches, ms (default 30 000). */
  cooldownMs?: number;
  /** Freshness when the response has no usable max-age, ms (default 600 000). */
  defaultMaxAgeMs?: number;
  /** Upper bound on a served max-age, ms (default 86 400 000). */
  maxMaxAgeMs?: number;
  /** Time limit for one fetch (headers + body), ms (default {@linkcode JWKS_TIMEOUT_MS}). */
  timeoutMs?: number;
}

/** The outcome of a key lookup. */
export type KeyLookup =
  | { status: "found"; key: VerificationKey }
  | { status: "unknown" }
  | { status: "unavailable" };

function findKey(
  keys: readonly VerificationKey[],
  kid: string | undefined,
  alg: JwtAlgorithm,
): VerificationKey | undefined {
  if (kid !== undefined) return keys.find((k) => k.kid === kid && k.alg === alg);
  const candidates = keys.filter((k) => k.alg === alg);
  return candidates.length === 1 ? candidates[0] : undefined;
}

async function importSet(
  set: unknown,
  algorithms: readonly JwtAlgorithm[],
): Promise<VerificationKey[]> {
  if (typeof set !== "object" || set === null) throw new TypeError("JWKS is not an object");
  const keys = (set as { keys?: unknown }).keys;
  if (!Array.isArray(keys)) throw new TypeError("JWKS has no keys array");
  const imported = await Promise.all(keys.map((jwk) => importVerificationKey(jwk, algorithms)));
  return imported.filter((k): k is VerificationKey => k !== undefined);
}

/** Parses `max-age` from a Cache-Control header; `no-store`/`no-cache` count as 0. */
export function parseMaxAgeMs(cacheControl: string | null): number | undefined {
  if (!cacheControl) return undefined;
  const lower = cacheControl.toLowerCase();
  if (/(^|[\s,])(no-store|no-cache)([\s,;=]|$)/.test(lower)) return 0;
  const m = /(^|[\s,])max-age\s*=\s*"?(\d+)"?/.exec(lower);
  return m ? Number(m[2]) * 1000 : undefined;
}

/** Holds verification keys and refreshes remote ones. */
export class KeyStore {
  #opts: KeyStoreOptions;
  #local?: Promise<VerificationKey[]>;
  #localKeys?: VerificationKey[];
  #remote?: VerificationKey[];
  #expiresAt = 0;
  #lastAttempt = -Infinity;
  #inflight?: Promise<void>;
  #cooldown: number;
  /** Number of remote fetches started (for diagnostics and tests). */
  fetchCount = 0;

  /** Creates a key store. */
  constructor(opts: KeyStoreOptions) {
    this.#opts = opts;
    this.#cooldown = opts.cooldownMs ?? 30_000;
  }

  /**
   * The matching local (configured) key when the set is already imported, without waiting:
   * the verify fast path. Undefined otherwise (then use {@link KeyStore.lookup}).
   */
  cached(kid: string | undefined, alg: JwtAlgorithm): VerificationKey | undefined {
    return this.#localKeys ? findKey(this.#localKeys, kid, alg) : undefined;
  }

  /** Finds the key for a token header's `kid` and `alg`. Never throws. */
  async lookup(kid: string | undefined, alg: JwtAlgorithm): Promise<KeyLookup> {
    if (this.#opts.jwks) {
      this.#local ??= importSet(this.#opts.jwks, this.#opts.algorithms).catch(() => []).then(
        (ks) => (this.#localKeys = ks),
      );
      const key = findKey(await this.#local, kid, alg);
      if (key) return { status: "found", key };
    }
    if (!this.#opts.jwksUri) return { status: "unknown" };
    const now = this.#opts.now();
    let refreshed = false;
    if (this.#remote === undefined || now >= this.#expiresAt) {
      if (this.#inflight || now - this.#lastAttempt >= this.#cooldown) {
        await this.#refresh();
        refreshed = true;
      }
    }
    let key = this.#remote ? findKey(this.#remote, kid, alg) : undefined;
    if (!key && !refreshed) {
      if (this.#inflight || this.#opts.now() - this.#lastAttempt >= this.#cooldown) {
        await this.#refresh();
        key = this.#remote ? findKey(this.#remote, kid, alg) : undefined;
      }
    }
    if (key) return { status: "found", key };
    return this.#remote === undefined ? { status: "unavailable" } : { status: "unknown" };
  }

  #refresh(): Promise<void> {
    if (this.#inflight) return this.#inflight;
    this.#lastAttempt = this.#opts.now();
    this.fetchCount++;
    this.#inflight = this.#fetch().finally(() => {
      this.#inflight = undefined;
    });
    return this.#inflight;
  }

  async #fetch(): Promise<void> {
    // One deadline for headers and body: a trickling JWKS fails closed (keys unavailable → 503).
    const timeoutMs = this.#opts.timeoutMs ?? JWKS_TIMEOUT_MS;
    const signal = AbortSignal.timeout(timeoutMs);
    try {
      const res = await untilAborted(
        this.#opts.fetch(this.#opts.jwksUri as string, {
          headers: { accept: "application/jwk-set+json, application/json" },
          redirect: "error",
          signal,
        }),
        signal,
      );
      if (!res.ok) {
        await res.body?.cancel();
        return;
      }
      const set = await readBoundedJson(res, MAX_JWKS_BYTES, { signal });
      const keys = await importSet(set, this.#opts.algorithms);
      const served = parseMaxAgeMs(res.headers.get("cache-control"));
      const ttl = Math.min(
        Math.max(served ?? this.#opts.defaultMaxAgeMs ?? 600_000, this.#cooldown),
        this.#opts.maxMaxAgeMs ?? 86_400_000,
      );
      this.#remote = keys;
      this.#expiresAt = this.#opts.now() + ttl;
    } catch {
      // Keep whatever keys we had; the cool-down bounds the retry rate.
    }
  }
}

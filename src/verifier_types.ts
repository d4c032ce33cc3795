/**
 * The public shapes of the resource-server verifier: its options, the verified token, the
 * result of a verify call and the counters. `verify.ts` re-exports them through
 * `verifier.ts`; no code lives here.
 *
 * @module
 */

import type { JwkSet, JwtAlgorithm, PublicJwk } from "./_jwt.ts";
import type { ScopeHierarchy } from "./verifier_scopes.ts";

/** A successfully verified access token. */
export interface VerifiedToken {
  /** The raw bearer token. */
  token: string;
  /** `sub`: the resource owner. */
  subject: string;
  /** `client_id`: the OAuth client the token was issued to. */
  clientId: string;
  /** Scopes granted (from the space-separated `scope` claim), as issued. */
  scopes: string[];
  /** `exp`, seconds since the epoch. */
  expiresAt: number;
  /** `iat`, seconds since the epoch (0 when an introspection response omits it). */
  issuedAt: number;
  /** `gid`: Gatehouse grant id, if the issuer set one. */
  grantId: string | undefined;
  /** The audience this token was accepted for (the verifier's canonical resource URI). */
  resource: string;
  /** `jti`, if any. */
  jti: string | undefined;
  /** The raw payload (JWT claims or the introspection response). */
  claims: Record<string, unknown>;
  /**
   * The grant's props (decrypted), set only by the authorization server's same-process
   * `auth.verify`; never part of the token.
   */
  props?: Record<string, unknown>;
}

/** Revocation policy for {@linkcode createVerifier}. */
export interface RevocationOptions {
  /**
   * `strict`: `isRevoked` on every verify, even on a cache hit. `cached`: its answer is reused
   * for `ttlMs`. `stateless`: never called (rely on short token lifetimes).
   */
  mode: "strict" | "cached" | "stateless";
  /** How long a `cached` answer is reused, ms (default 30 000). */
  ttlMs?: number;
  /** Returns true when the token (or its grant) has been revoked. */
  isRevoked(claims: VerifiedToken): Promise<boolean>;
}

/** RFC 7662 remote check. */
export interface IntrospectionOptions {
  /** The introspection endpoint URL. */
  endpoint: string;
  /** Client id for client_secret_basic authentication. */
  clientId: string;
  /** Client secret for client_secret_basic authentication. */
  clientSecret: string;
  /** Reuse an `active` answer for this long, ms (default 0: ask on every verify). */
  cacheTtlMs?: number;
  /** Time limit for one introspection call, headers and body, ms (default 5000); past it → 503. */
  timeoutMs?: number;
  /**
   * With local keys (`jwks`/`keys`/`jwksUri`) as well: introspect only calls that require one of
   * these scopes (e.g. `["mcp:write"]` for tools that change things); other calls are checked
   * locally and keep accepting a revoked token until it expires. Default: every call.
   */
  scopes?: string[];
}

/** Options for {@linkcode createVerifier}. */
export interface VerifierOptions {
  /** Expected `iss`, compared exactly. */
  issuer: string;
  /** This resource server's URL; the token's `aud` must match its canonical form. */
  audience: string;
  /** Local verification keys. */
  jwks?: JwkSet;
  /** Local verification keys as a plain array (shorthand for `jwks: { keys }`). */
  keys?: PublicJwk[];
  /** Remote JWKS URL (e.g. the issuer's `jwks_uri`). */
  jwksUri?: string;
  /** Accepted algorithms (default both). */
  algorithms?: JwtAlgorithm[];
  /** Allowed clock skew in seconds (default 5). */
  clockTolerance?: number;
  /** RFC 9728 metadata URL for challenges (default derived from `audience`). */
  resourceMetadataUrl?: string;
  /** Scopes to advertise in 401 challenges when the call names none (`offline_access` dropped). */
  scopesSupported?: string[];
  /** scope → scopes it includes, applied transitively. */
  scopeHierarchy?: ScopeHierarchy;
  /**
   * Verified-token cache (default 1000 entries, least recently used evicted); `false` disables
   * it. Without revocation (or with `stateless`) and without introspection, a token is cached on
   * its second successful check within the last `maxEntries/2` … `maxEntries` fresh tokens, so a
   * token seen once (never reused) does not evict the reused ones and costs no retained memory;
   * with `strict` / `cached` revocation or introspection every verified token is cached at once.
   */
  cache?: { maxEntries?: number } | false;
  /** Revocation policy (default: stateless). */
  revocation?: RevocationOptions;
  /** RFC 7662 introspection, instead of or in addition to local JWT checks. */
  introspection?: IntrospectionOptions;
  /** Remote JWKS refresh tuning; `timeoutMs` bounds one fetch, headers and body (default 5000). */
  jwksCache?: {
    cooldownMs?: number;
    defaultMaxAgeMs?: number;
    maxMaxAgeMs?: number;
    timeoutMs?: number;
  };
  /**
   * `fetch` for every outbound request of the verifier — the remote JWKS and
   * the introspection endpoint (an egress proxy, mTLS, a test double).
   * Default: the global fetch.
   */
  fetch?: typeof fetch;
  /** Clock in ms (default Date.now). */
  now?: () => number;
}

/** Per-call options for {@linkcode Verifier.verify}. */
export interface VerifyOptions {
  /** All scopes the operation needs. */
  scopes?: string[];
}

/** Successful verification. */
export interface VerifySuccess {
  /** Discriminant. */
  ok: true;
  /** The verified token. */
  claims: VerifiedToken;
}

/** Failed verification, with a ready-to-send challenge response. */
export interface VerifyFailure {
  /** Discriminant. */
  ok: false;
  /** OAuth error code (`invalid_request`, `invalid_token`, `insufficient_scope`, `temporarily_unavailable`). */
  error: string;
  /** HTTP status of `response`. */
  status: number;
  /** The response to return to the client (WWW-Authenticate, no-store, JSON body). */
  response: Response;
}

/** The result of {@linkcode Verifier.verify}. */
export type VerifyResult = VerifySuccess | VerifyFailure;

/** A verify function: a Request (bearer taken from it) or a raw token string. */
export type VerifyFunction = (
  reqOrToken: Request | string,
  options?: VerifyOptions,
) => Promise<VerifyResult>;

/** Counters, for diagnostics, benchmarks and tests. */
export interface VerifierStats {
  /** Signature verifications performed. */
  signatureChecks: number;
  /** Verified-token cache hits. */
  cacheHits: number;
  /** Remote JWKS fetches started. */
  jwksFetches: number;
  /** Introspection requests sent. */
  introspections: number;
  /** isRevoked calls. */
  revocationChecks: number;
}

/** A token verifier bound to one resource. */
export interface Verifier {
  /** Verifies a request's bearer token (or a raw token). Never throws. */
  verify: VerifyFunction;
  /** Returns the `required` scopes not covered by `granted` under the scope hierarchy. */
  missingScopes(granted: readonly string[], required: readonly string[]): string[];
  /** The canonical resource URI (audience). */
  readonly resource: string;
  /** The protected-resource metadata URL used in challenges. */
  readonly resourceMetadataUrl: string;
  /** Current counters. */
  stats(): VerifierStats;
}

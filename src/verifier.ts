/**
 * The resource-server token verifier: checks RFC 9068 JWT access tokens (EdDSA / ES256) against
 * local or remote keys, or asks an RFC 7662 introspection endpoint, and answers with RFC 6750 /
 * RFC 9728 challenges. Never throws for bad input.
 *
 * Deliberately free of zod and of any server code so that `verify.ts` stays small.
 *
 * @module
 */

import {
  type JwkSet,
  type JwtAlgorithm,
  JwtError,
  parseCompactJws,
  type PublicJwk,
  SUPPORTED_ALGORITHMS,
  tryDecodePayload,
  trySignatureAndInput,
  verifySignature,
} from "./_jwt.ts";
import { challengeResponse } from "./verifier_challenge.ts";
import { KeyStore } from "./verifier_jwks.ts";
import { introspectToken } from "./verifier_introspect.ts";
import { BodyError, readBoundedText } from "./_body.ts";
import { createScopeChecker, type ScopeHierarchy, splitScopes } from "./verifier_scopes.ts";

export type { JwkSet, JwtAlgorithm, PublicJwk } from "./_jwt.ts";
export type { ScopeHierarchy } from "./verifier_scopes.ts";

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
  /** Verified-token cache (default 1000 entries); `false` disables it. */
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

/**
 * Canonical form of a resource URI for comparison: lowercase scheme and host (via URL
 * parsing), default port dropped, no fragment, no trailing slash. Non-URLs are returned as is.
 */
export function canonicalResource(resource: string): string {
  let url: URL;
  try {
    url = new URL(resource);
  } catch {
    return resource;
  }
  return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, "")}${url.search}`;
}

/** The RFC 9728 path-suffixed metadata URL for a resource (`/mcp` → `/.well-known/oauth-protected-resource/mcp`). */
export function resourceMetadataUrlFor(resource: string): string {
  const url = new URL(resource);
  const path = url.pathname.replace(/\/+$/, "");
  return `${url.protocol}//${url.host}/.well-known/oauth-protected-resource${path}`;
}

interface CacheEntry {
  verified: VerifiedToken;
  expiresAtMs: number;
  revokedCheckedAt?: number;
  revoked?: boolean;
  introspectedAt?: number;
}

/** Largest form body inspected for a forbidden `access_token` parameter (RFC 6750 §2.2), bytes. */
const MAX_FORM_BYTES = 64 * 1024;
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
const ACCEPTED_TYP = new Set(["at+jwt", "application/at+jwt"]);
const NO_HEADER: Record<string, unknown> = Object.freeze({});

const NO_SCOPES: readonly string[] = Object.freeze([]);
const STRING_CLAIMS = ["iss", "sub", "client_id", "jti"] as const;
const NUMBER_CLAIMS = ["exp", "iat"] as const;

function badClaim(description: string): Failure {
  return new Failure(401, "invalid_token", description);
}

function isClaimString(value: unknown): boolean {
  return typeof value === "string" && value !== "";
}

function isClaimNumber(value: unknown): boolean {
  return typeof value === "number" && Number.isFinite(value);
}

class Failure {
  constructor(
    readonly status: number,
    readonly error: "invalid_request" | "invalid_token" | "insufficient_scope" | undefined,
    readonly description: string,
    readonly scopes?: readonly string[],
  ) {}
}

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
  const counters = { signatureChecks: 0, cacheHits: 0, introspections: 0, revocationChecks: 0 };

  const fail = (f: Failure, required: readonly string[]): VerifyFailure => {
    const scopes = f.scopes ?? (required.length > 0 ? required : scopesSupported);
    const response = challengeResponse({
      status: f.status,
      error: f.error,
      description: f.description,
      resourceMetadata: resourceMetadataUrl,
      scopes,
    });
    const error = f.status === 503 ? "temporarily_unavailable" : f.error ?? "invalid_token";
    return { ok: false, error, status: f.status, response };
  };

  const lastResort = (
    required: readonly string[],
    description = "token could not be verified",
  ): VerifyResult => {
    try {
      return fail(new Failure(401, "invalid_token", description), required);
    } catch {
      return {
        ok: false,
        error: "invalid_token",
        status: 401,
        response: new Response(null, { status: 401, headers: { "cache-control": "no-store" } }),
      };
    }
  };

  const extractToken = async (input: Request | string): Promise<string | Failure | undefined> => {
    if (typeof input === "string") {
      if (input === "") return undefined;
      return B64TOKEN.test(input) ? input : new Failure(401, "invalid_token", "malformed token");
    }
    const header = input.headers.get("authorization");
    let token: string | undefined;
    if (header !== null) {
      const trimmed = header.trim();
      const space = trimmed.indexOf(" ");
      const scheme = space < 0 ? trimmed : trimmed.slice(0, space);
      if (scheme.toLowerCase() === "bearer") {
        const value = space < 0 ? "" : trimmed.slice(space + 1).trim();
        if (!B64TOKEN.test(value)) {
          return new Failure(400, "invalid_request", "malformed Authorization header");
        }
        token = value;
      }
    }
    if (input.url.includes("access_token")) {
      let inQuery = false;
      try {
        inQuery = new URL(input.url).searchParams.has("access_token");
      } catch {
        inQuery = false;
      }
      if (inQuery) {
        return new Failure(
          400,
          "invalid_request",
          "access tokens in the query string are not accepted",
        );
      }
    }
    const type = input.headers.get("content-type") ?? "";
    if (
      input.body !== null && input.method !== "GET" && input.method !== "HEAD" &&
      type.toLowerCase().startsWith("application/x-www-form-urlencoded")
    ) {
      // Bounded: a form body too large to inspect for a second token is refused, not buffered.
      let text: string;
      try {
        text = await readBoundedText(input.clone(), MAX_FORM_BYTES);
      } catch (e) {
        return new Failure(
          e instanceof BodyError && e.reason === "too_large" ? 413 : 400,
          "invalid_request",
          "the form body could not be inspected for an access token",
        );
      }
      const form = new URLSearchParams(text);
      if (form.has("access_token")) {
        return new Failure(
          400,
          "invalid_request",
          token === undefined
            ? "send the access token in the Authorization header"
            : "more than one access token was sent",
        );
      }
    }
    return token;
  };

  const audienceMatches = (aud: unknown): boolean => {
    const auds = Array.isArray(aud) ? aud : [aud];
    return auds.some((a) =>
      a === resource || (typeof a === "string" && canonicalResource(a) === resource)
    );
  };

  const validateClaims = (
    payload: Record<string, unknown>,
    token: string,
    at: number,
  ): VerifiedToken | Failure => {
    // Module-level name lists and no closure: this runs on every fresh token.
    for (const name of STRING_CLAIMS) {
      if (!isClaimString(payload[name])) return badClaim(`token is missing the ${name} claim`);
    }
    for (const name of NUMBER_CLAIMS) {
      if (!isClaimNumber(payload[name])) return badClaim(`token is missing the ${name} claim`);
    }
    const aud = payload.aud;
    if (aud === undefined) return badClaim("token is missing the aud claim");
    if (payload.iss !== issuer) return badClaim("token was issued by another issuer");
    if (aud !== resource && !audienceMatches(aud)) {
      return badClaim("token audience is not this resource");
    }
    const exp = payload.exp as number;
    const iat = payload.iat as number;
    if (at >= exp * 1000 + toleranceMs) return badClaim("token expired");
    if (iat * 1000 > at + toleranceMs) return badClaim("token issued in the future");
    if (payload.nbf !== undefined) {
      if (typeof payload.nbf !== "number" || !Number.isFinite(payload.nbf)) {
        return badClaim("malformed nbf claim");
      }
      if (payload.nbf * 1000 > at + toleranceMs) return badClaim("token not yet valid");
    }
    if (payload.scope !== undefined && typeof payload.scope !== "string") {
      return badClaim("malformed scope claim");
    }
    if (payload.gid !== undefined && typeof payload.gid !== "string") {
      return badClaim("malformed gid claim");
    }
    return {
      token,
      subject: payload.sub as string,
      clientId: payload.client_id as string,
      scopes: splitScopes(payload.scope),
      expiresAt: exp,
      issuedAt: iat,
      grantId: payload.gid as string | undefined,
      resource,
      jti: payload.jti as string,
      claims: payload,
    };
  };

  const remember = (token: string, entry: CacheEntry): void => {
    if (maxEntries > 0) {
      cache.set(token, entry);
      while (cache.size > maxEntries) cache.delete(cache.keys().next().value as string);
    }
  };

  const scoped = (verified: VerifiedToken, required: readonly string[]): VerifyResult =>
    required.length > 0 && checkScopes(verified.scopes, required).length > 0
      ? fail(
        new Failure(403, "insufficient_scope", "the token lacks a required scope", required),
        required,
      )
      : { ok: true, claims: verified };

  /** Why a protected header is refused (a description), or "" when it is acceptable. */
  const headerFailure = (header: Record<string, unknown>): string =>
    typeof header.alg !== "string" || !(algorithms as string[]).includes(header.alg)
      ? "token algorithm is not accepted"
      : typeof header.typ !== "string" || !ACCEPTED_TYP.has(header.typ.toLowerCase())
      ? "token is not an at+jwt access token"
      : header.crit !== undefined
      ? "unsupported critical header"
      : header.kid !== undefined && typeof header.kid !== "string"
      ? "malformed kid"
      : "";

  const checkLocal = async (token: string, at: number): Promise<VerifiedToken | Failure> => {
    let jws;
    try {
      jws = parseCompactJws(token);
    } catch (e) {
      return new Failure(
        401,
        "invalid_token",
        e instanceof JwtError ? e.message : "malformed token",
      );
    }
    const { header } = jws;
    const alg = header.alg;
    const refused = headerFailure(header);
    if (refused) return badClaim(refused);
    const kid = header.kid as string | undefined;
    const known = keys.cached(kid, alg as JwtAlgorithm);
    const found = known ? { status: "found" as const, key: known } : await keys.lookup(
      kid,
      alg as JwtAlgorithm,
    );
    if (found.status === "unavailable") {
      return new Failure(503, "invalid_token", "verification keys are unavailable");
    }
    if (found.status === "unknown") {
      return new Failure(401, "invalid_token", "no key matches the token");
    }
    counters.signatureChecks++;
    let valid = false;
    try {
      valid = await verifySignature(found.key, jws);
    } catch {
      valid = false;
    }
    if (!valid) return new Failure(401, "invalid_token", "invalid token signature");
    return validateClaims(jws.payload, token, at);
  };

  // Fresh-token fast path: a token string, local keys, no introspection and no revocation hop.
  // One promise (the signature check), no await, the header of the previous token remembered by
  // its exact text. Anything unusual (a malformed part, an unknown key, a cached token) returns
  // undefined and the full path re-checks the token from scratch, so errors are unchanged.
  const fastPathOn = hasLocalKeys && introspection === undefined &&
    (revocation === undefined || revocation.mode === "stateless");
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
    const headerText = token.slice(0, first);
    if (headerText !== memoHeader) {
      const header = tryDecodePayload(token, 0, first);
      if (header === undefined || headerFailure(header)) return undefined;
      memoHeader = headerText;
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
    return verifySignature(key, {
      header: NO_HEADER,
      payload,
      signature: bytes.subarray(0, 64),
      signingInput: bytes.subarray(64),
    }).then(
      (valid) => {
        try {
          if (!valid) {
            return fail(new Failure(401, "invalid_token", "invalid token signature"), required);
          }
          const verified = validateClaims(payload, token, at);
          if (verified instanceof Failure) return fail(verified, required);
          remember(token, {
            verified,
            expiresAtMs: verified.expiresAt * 1000 + toleranceMs,
            introspectedAt: undefined,
          });
          return scoped(verified, required);
        } catch {
          return lastResort(required);
        }
      },
      () => lastResort(required, "invalid token signature"),
    );
  };

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
      verified ??= {
        token,
        subject: typeof info.sub === "string" ? info.sub : "",
        clientId: typeof info.client_id === "string" ? info.client_id : "",
        scopes: splitScopes(info.scope),
        expiresAt: info.exp as number,
        issuedAt: typeof info.iat === "number" ? info.iat : 0,
        grantId: typeof info.gid === "string" ? info.gid : undefined,
        resource,
        jti: typeof info.jti === "string" ? info.jti : undefined,
        claims: info,
      };
    }
    const v = verified as VerifiedToken;
    return { verified: v, expiresAtMs: v.expiresAt * 1000 + toleranceMs, introspectedAt };
  };

  const checkRevocation = async (entry: CacheEntry, at: number): Promise<Failure | undefined> => {
    if (!revocation || revocation.mode === "stateless") return undefined;
    const ttl = revocation.ttlMs ?? 30_000;
    const fresh = revocation.mode === "cached" && entry.revokedCheckedAt !== undefined &&
      at - entry.revokedCheckedAt < ttl;
    if (!fresh) {
      counters.revocationChecks++;
      try {
        entry.revoked = (await revocation.isRevoked(entry.verified)) === true;
      } catch {
        return new Failure(503, "invalid_token", "revocation status is unavailable");
      }
      entry.revokedCheckedAt = at;
    }
    return entry.revoked ? new Failure(401, "invalid_token", "token has been revoked") : undefined;
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
      const result = await verifyMiss(token, at, required);
      if (result instanceof Failure) return fail(result, required);
      entry = result;
      remember(token, entry);
    }
    const revoked = revocation && revocation.mode !== "stateless"
      ? await checkRevocation(entry, at)
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
      const required = Array.isArray(opts?.scopes)
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

/** Which calls introspect: all of them, or (with local keys) those requiring one of `scopes`. */
function introspectionScopes(
  introspection: IntrospectionOptions | undefined,
  hasLocalKeys: boolean,
): (required: readonly string[]) => boolean {
  const only = introspection?.scopes;
  if (!introspection || !hasLocalKeys || !only) return () => Boolean(introspection);
  const set = new Set(only);
  return (required) => required.some((s) => set.has(s));
}

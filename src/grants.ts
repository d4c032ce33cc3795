/**
 * Grants, authorization codes, refresh tokens and access-token issuance.
 * A grant record carries its own code and refresh-token state:
 * codes and refresh tokens are `<grantId>.<secret>` (256-bit secret), stored
 * only as SHA-256 hashes inside the grant, and single use and rotation are
 * one compare-and-swap of the grant record.
 *
 * @module
 */
import { randomToken, sha256, timingSafeEqual } from "./_crypto.ts";
import type { Store } from "./_store.ts";
import type { KeySet } from "./keys.ts";

/** A grant: one user's consent to one client for some scopes and resources. */
export interface GrantRecord {
  /** Grant id (appears as `gid` in access tokens). */
  id: string;
  /** The end user. */
  subject: string;
  /** The client. */
  clientId: string;
  /** Scopes consented to. */
  scopes: string[];
  /** Resources the grant covers. */
  resources: string[];
  /** Epoch ms of consent. */
  createdAt: number;
  /** Epoch ms when the stored record expires (absent on records written before 0.1.0 shipped). */
  expiresAt?: number;
  /** Epoch ms of revocation, when revoked. */
  revokedAt?: number;
  /** Why it was revoked. */
  revokedReason?: string;
  /** Extra non-secret access-token claims from `authenticate` (registered claims removed). */
  claims?: Record<string, unknown>;
}

/** A grant as stored (internal): the public record plus its code and refresh-token state. */
export interface StoredGrant extends GrantRecord {
  /** The grant's authorization code (hash only); absent on records written before 0.2. */
  code?: GrantCode;
  /** The grant's current refresh token (hash only). */
  refresh?: RefreshSlot;
  /** The refresh token rotated last (hash only), for the retry window and reuse detection. */
  previous?: RotatedSlot;
}

/**
 * The authorization code of a grant, inside the grant record: the
 * code is `<grantId>.<secret>` and only its SHA-256 is kept. Set at approval;
 * `usedAt` is set by the one exchange that wins the grant's compare-and-swap.
 */
export interface GrantCode {
  /** SHA-256 (base64url) of the code. */
  hash: string;
  /** Epoch ms after which the code is refused. */
  exp: number;
  /** Epoch ms of the exchange, once used (a later exchange is a replay). */
  usedAt?: number;
  redirectUri: string;
  /** Whether the authorization request carried redirect_uri (then /token must repeat it). */
  redirectUriSent: boolean;
  codeChallenge: string;
  scopes: string[];
  resource: string;
  /** Set when the client is public (`none`): `/token` then needs no client read (see `src/token.ts`). */
  publicClient?: PublicClientSnapshot;
}

/** The grant's current refresh token (`<grantId>.<secret>`), inside the grant record. */
export interface RefreshSlot {
  /** SHA-256 (base64url) of the token. */
  hash: string;
  /** Absolute expiry, epoch ms. */
  exp: number;
  clientId: string;
  scopes: string[];
  /** Set for a registered public client (never for a metadata-document client, whose document may change). */
  publicClient?: PublicClientSnapshot;
}

/**
 * The refresh token rotated last, kept in the grant for the retry window
 * (`refreshReuseWindow`) and reuse detection. When the next rotation displaces
 * it, a {@link Tombstone} at `["refresh", hash]` takes over until `exp`.
 */
export interface RotatedSlot {
  /** SHA-256 (base64url) of the rotated token. */
  hash: string;
  /** The rotated token's own expiry, epoch ms. */
  exp: number;
  /** The client that rotated it. */
  clientId: string;
  /** Epoch ms of the rotation (starts the reuse window). */
  rotatedAt: number;
  /** The successor response, sealed for the rotated token's holder (see `src/_refresh_seal.ts`). */
  sealed: string;
}

/** A 0.1.0 refresh token as stored at `["refresh", sha256(token)]` (still read once, see `src/token_refresh.ts`). */
export interface RefreshRecord {
  grantId: string;
  clientId: string;
  scopes: string[];
  /** Absolute expiry, epoch ms. */
  exp: number;
  /** Set for a registered public client (never for a metadata-document client, whose document may change). */
  publicClient?: PublicClientSnapshot;
}

/** What `/token` needs of a public client, recorded when its code or refresh token was issued. */
export interface PublicClientSnapshot {
  /** The client's `grant_types` at issuance. */
  grantTypes: string[];
}

/**
 * What sits at `["refresh", sha256(token)]` for a refresh token rotated two or
 * more times back (displaced from the grant's `previous` slot) or a 0.1.0
 * token already used: seeing it again is reuse and revokes the grant.
 */
export interface Tombstone {
  used: true;
  grantId: string;
  /** The client that rotated it (`/revoke` lets only that client end the grant with it). */
  clientId?: string;
}

/** True when a swapped-out record is a tombstone. */
export function isTombstone(v: unknown): v is Tombstone {
  return typeof v === "object" && v !== null && (v as Tombstone).used === true;
}

/**
 * The grant as the admin API and hooks see it: without its code and refresh-token state
 * (hashes and the sealed retry response are internal).
 */
export function publicGrant(g: StoredGrant): GrantRecord {
  const { code: _c, refresh: _r, previous: _p, ...rest } = g;
  return rest;
}

/**
 * How long a consent page can be answered, in ms. A grant is kept (live or revoked) at least
 * this long after its creation: its id may be derived from a consent form's nonce (see
 * {@link consentGrantId}), and the record's presence is what refuses a replayed answer — were
 * it gone while the form still opened, a replay would re-create the grant under the same id,
 * undoing its revocation for every access token carrying that `gid`.
 */
export const CONSENT_TTL_MS = 10 * 60 * 1000;

/** A grant id: 16 random bytes, or 32 derived from a consent nonce (base64url). */
const GRANT_ID = /^[A-Za-z0-9_-]{22,43}$/;
/** The secret part of a code or refresh token: 32 random bytes, base64url. */
const SECRET = /^[A-Za-z0-9_-]{43}$/;

/** A fresh random grant id (appears as `gid` in access tokens). */
export function newGrantId(): string {
  return randomToken(16);
}

/**
 * The grant id an answered consent form creates: SHA-256 of its sealed nonce,
 * domain-separated, so the one grant write is the form's single-use check
 * (a replayed approval finds the grant present) and the id reveals nothing.
 */
export function consentGrantId(nonce: string): Promise<string> {
  return sha256(`gatehouse consent grant v1\n${nonce}`);
}

/**
 * A new code or refresh token for a grant: `<grantId>.<secret>` (256-bit
 * secret) and the SHA-256 that is all storage keeps.
 */
export async function newGrantToken(grantId: string): Promise<{ token: string; hash: string }> {
  const token = `${grantId}.${randomToken()}`;
  return { token, hash: await sha256(token) };
}

/**
 * The grant id inside a code or refresh token of the `<grantId>.<secret>`
 * form; undefined for anything else (a 0.1.0 opaque token, a JWT, garbage).
 * The id is not secret (it is `gid` in access tokens): knowing it opens nothing.
 */
export function grantIdOf(token: string): string | undefined {
  const dot = token.indexOf(".");
  if (dot < 0) return undefined;
  const id = token.slice(0, dot);
  return GRANT_ID.test(id) && SECRET.test(token.slice(dot + 1)) ? id : undefined;
}

/** Whether a presented token's hash is `stored` (constant time). */
export function sameHash(presented: string, stored: string | undefined): boolean {
  return stored !== undefined && timingSafeEqual(presented, stored);
}

/**
 * Store a new grant. `exclusive` (a consent answer's derived id): only when
 * the key is absent (compare-and-swap), resolving false when it is not —
 * the form was answered already. Otherwise (a random id) a plain write.
 */
export async function storeNewGrant(
  store: Store,
  grant: StoredGrant,
  exclusive: boolean,
): Promise<boolean> {
  const exp = grant.expiresAt ?? null;
  if (exclusive) return await store.compareAndSwap(["grant", grant.id], undefined, grant, exp);
  await store.put(["grant", grant.id], grant, exp);
  return true;
}

/**
 * Expiry (epoch ms) of a grant created at `now`: long enough that its first
 * refresh token (issued up to `codeTtl` later, living `refreshTokenTtl`) can
 * be rotated without extending the grant (see {@link grantExpiryFor}), and
 * never before the consent form that created it stops opening
 * ({@link CONSENT_TTL_MS}). Lifetimes in seconds.
 */
export function initialGrantExpiry(
  now: number,
  ttl: { codeTtl: number; refreshTokenTtl: number; accessTokenTtl: number },
): number {
  const lifetime = (ttl.codeTtl + 2 * ttl.refreshTokenTtl + ttl.accessTokenTtl) * 1000;
  return now + Math.max(lifetime, CONSENT_TTL_MS);
}

/**
 * Change a grant with compare-and-swap, so no write ever undoes a revocation
 * (on strong drivers): `change` sees the current record and is never applied
 * to a revoked or missing grant. Every write to an existing grant goes
 * through here. Resolves to the record written, or undefined when the grant
 * is missing or revoked.
 */
export async function updateGrant(
  store: Store,
  grantId: string,
  change: (grant: GrantRecord) => { data: GrantRecord; exp: number | null } | undefined,
): Promise<GrantRecord | undefined> {
  const written = await store.update<GrantRecord>(
    ["grant", grantId],
    (g) => g && !g.revokedAt ? change(g) : undefined,
  );
  return written?.data;
}

/**
 * The grant expiry (epoch ms) to write with a refresh token issued at `now`:
 * unchanged when the grant already outlives it (plus the access tokens
 * minted from it), else `now + 2 × refresh + access` lifetimes, so an
 * extension happens at most once per refresh lifetime. It rides on the
 * rotation's own compare-and-swap. Lifetimes in seconds.
 */
export function grantExpiryFor(
  grant: GrantRecord,
  now: number,
  ttl: { refreshTokenTtl: number; accessTokenTtl: number },
): number {
  const needed = now + (ttl.refreshTokenTtl + ttl.accessTokenTtl) * 1000;
  if ((grant.expiresAt ?? 0) >= needed) return grant.expiresAt!;
  return now + (2 * ttl.refreshTokenTtl + ttl.accessTokenTtl) * 1000;
}

/**
 * Mark a grant revoked (kept for audit until `keepUntil`, epoch ms, and never
 * less than {@link CONSENT_TTL_MS} after its creation, so a replayed consent
 * form cannot re-create it). Returns the grant if it was active.
 * Compare-and-swap: a concurrent write computed before the revocation cannot
 * land after it.
 */
export async function revokeGrant(
  store: Store,
  grantId: string,
  reason: string,
  now: number,
  keepUntil: number,
): Promise<GrantRecord | undefined> {
  let before: GrantRecord | undefined;
  const written = await updateGrant(store, grantId, (g) => {
    before = g;
    return {
      data: { ...g, revokedAt: now, revokedReason: reason },
      exp: Math.max(keepUntil, (g.createdAt || 0) + CONSENT_TTL_MS),
    };
  });
  return written ? before : undefined;
}

/** Claims of an access token (RFC 9068 plus `gid`). */
export interface AccessClaims {
  [claim: string]: unknown;
  iss: string;
  sub: string;
  aud: string;
  client_id: string;
  scope: string;
  iat: number;
  exp: number;
  jti: string;
  gid: string;
}

/** Sign an access token bound to one resource. */
export async function issueAccessToken(
  keys: KeySet,
  c: {
    issuer: string;
    subject: string;
    resource: string;
    clientId: string;
    scopes: string[];
    grantId: string;
    /** Extra claims; registered ones below always win. */
    claims?: Record<string, unknown>;
  },
  nowMs: number,
  ttlSeconds: number,
): Promise<{ token: string; claims: AccessClaims }> {
  const iat = Math.floor(nowMs / 1000);
  const claims: AccessClaims = {
    ...c.claims,
    iss: c.issuer,
    sub: c.subject,
    aud: c.resource,
    client_id: c.clientId,
    scope: c.scopes.join(" "),
    iat,
    exp: iat + ttlSeconds,
    jti: randomToken(16),
    gid: c.grantId,
  };
  return { token: await keys.sign(claims), claims };
}

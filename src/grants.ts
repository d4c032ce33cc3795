/**
 * Grants, authorization codes, refresh tokens and access-token issuance.
 * Codes and refresh tokens are opaque 256-bit strings stored only as SHA-256
 * hashes; single use and rotation go through the driver's atomic `swap`.
 *
 * @module
 */
import { randomToken, sha256 } from "./_crypto.ts";
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

/** An authorization code as stored (keyed by the code's hash). */
export interface CodeRecord {
  grantId: string;
  clientId: string;
  redirectUri: string;
  /** Whether the authorization request carried redirect_uri (then /token must repeat it). */
  redirectUriSent: boolean;
  codeChallenge: string;
  scopes: string[];
  resource: string;
  subject: string;
  /** Set when the client is public (`none`): `/token` then needs no client read (see `src/token.ts`). */
  publicClient?: PublicClientSnapshot;
}

/** A refresh token as stored (keyed by the token's hash). */
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
 * What replaces a code or refresh token once used; seeing it again means
 * replay, except for a refresh retry inside the reuse window (see
 * `src/token_refresh.ts`).
 */
export interface Tombstone {
  used: true;
  grantId: string;
  /** Refresh tokens: the client that rotated it. */
  clientId?: string;
  /** Refresh tokens: epoch ms of the rotation (starts the reuse window). */
  rotatedAt?: number;
  /**
   * Refresh tokens: the successor token response, AES-GCM encrypted under a
   * key derived (HKDF) from the rotated refresh token, which only its holder has.
   */
  sealed?: string;
}

/** True when a swapped-out record is a tombstone. */
export function isTombstone(v: unknown): v is Tombstone {
  return typeof v === "object" && v !== null && (v as Tombstone).used === true;
}

/** Create and store a grant. */
export async function createGrant(
  store: Store,
  g: Omit<GrantRecord, "id" | "createdAt" | "expiresAt">,
  now: number,
  exp: number,
): Promise<GrantRecord> {
  const grant: GrantRecord = { ...g, id: randomToken(16), createdAt: now, expiresAt: exp };
  await store.put(["grant", grant.id], grant, exp);
  return grant;
}

/**
 * Expiry (epoch ms) of a grant created at `now`: long enough that its first
 * refresh token (issued up to `codeTtl` later, living `refreshTokenTtl`) can
 * be rotated without extending the grant (see {@link extendGrant}).
 * Lifetimes in seconds.
 */
export function initialGrantExpiry(
  now: number,
  ttl: { codeTtl: number; refreshTokenTtl: number; accessTokenTtl: number },
): number {
  return now + (ttl.codeTtl + 2 * ttl.refreshTokenTtl + ttl.accessTokenTtl) * 1000;
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
 * Make the grant outlive a refresh token issued at `now` (plus the access
 * tokens minted from it): when it would not, extend it to
 * `now + 2 × refresh + access` lifetimes, so this happens at most once per
 * refresh lifetime. `now` is epoch ms; lifetimes in seconds. Compare-and-swap
 * (never over a revoked grant). Resolves false when the grant is revoked or gone.
 */
export async function extendGrant(
  store: Store,
  grant: GrantRecord,
  now: number,
  ttl: { refreshTokenTtl: number; accessTokenTtl: number },
): Promise<boolean> {
  const needed = now + (ttl.refreshTokenTtl + ttl.accessTokenTtl) * 1000;
  if ((grant.expiresAt ?? 0) >= needed) return true;
  const expiresAt = now + (2 * ttl.refreshTokenTtl + ttl.accessTokenTtl) * 1000;
  let active = false;
  await store.update<GrantRecord>(["grant", grant.id], (g) => {
    active = g !== undefined && !g.revokedAt;
    // Revoked, or extended meanwhile by a concurrent refresh: nothing to write.
    if (!active || (g!.expiresAt ?? 0) >= needed) return undefined;
    return { data: { ...g!, expiresAt }, exp: expiresAt };
  });
  return active;
}

/**
 * Mark a grant revoked (kept for audit until `keepUntil`, epoch ms). Returns
 * the grant if it was active. Compare-and-swap: a concurrent write computed
 * before the revocation cannot land after it.
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
      exp: keepUntil,
    };
  });
  return written ? before : undefined;
}

/** Issue an authorization code for a grant; returns the raw code. */
export async function issueCode(store: Store, rec: CodeRecord, exp: number): Promise<string> {
  const code = randomToken();
  await store.put(["code", await sha256(code)], rec, exp);
  return code;
}

/** Issue a refresh token; returns the raw token and its storage key. */
export async function issueRefresh(
  store: Store,
  rec: RefreshRecord,
): Promise<{ token: string; key: string[] }> {
  const token = randomToken();
  const key = ["refresh", await sha256(token)];
  await store.put(key, rec, rec.exp);
  return { token, key };
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

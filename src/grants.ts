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
}

/** A refresh token as stored (keyed by the token's hash). */
export interface RefreshRecord {
  grantId: string;
  clientId: string;
  scopes: string[];
  /** Absolute expiry, epoch ms. */
  exp: number;
}

/** What replaces a code or refresh token once used; seeing it again means replay. */
export interface Tombstone {
  used: true;
  grantId: string;
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

/** Mark a grant revoked (kept for audit until it would have expired). Returns the grant if it was active. */
export async function revokeGrant(
  store: Store,
  grantId: string,
  reason: string,
  now: number,
  keepUntil: number,
): Promise<GrantRecord | undefined> {
  const grant = await store.get<GrantRecord>(["grant", grantId]);
  if (!grant || grant.revokedAt) return undefined;
  const revoked = { ...grant, revokedAt: now, revokedReason: reason };
  await store.put(["grant", grantId], revoked, keepUntil);
  return grant;
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

/**
 * The `refresh_token` grant (RFC 6749 §6; OAuth 2.1 §4.3.1 rotation;
 * RFC 9700 §4.14.2 reuse detection), retry-safe. A refresh token is
 * `<grantId>.<secret>`; the grant record holds the current token's hash and
 * the previous one's:
 *
 * 1. **Look up** the grant the token names (one read, done by `/token`).
 * 2. **Validate** the token against the grant's current slot, the client, and
 *    the requested scope/resource — nothing is consumed by a bad request; a
 *    secret matching nothing (the grant id is not secret) revokes nothing.
 * 3. **Mint** the successor pair and seal it under a key only the presented
 *    token's holder can derive.
 * 4. **Rotate**: one compare-and-swap of the grant — current → the successor,
 *    previous → the presented token with the sealed pair, the grant's expiry
 *    extended if needed (at most once per refresh lifetime). The token it
 *    displaces from `previous` gets a tombstone at `["refresh", hash]` first.
 *    Exactly one concurrent rotation wins on a strong driver; the others
 *    re-read and are retries.
 * 5. **Retry or reuse**: the previous token presented again by the same
 *    client within `refreshReuseWindow` seconds gets the sealed pair back; it
 *    after the window, from another client, or a tombstoned token (two or more
 *    rotations back) is reuse and revokes the grant.
 *
 * A 0.1.0 refresh token (opaque, its own record at `["refresh", sha256]`)
 * works once more: the rotation attaches a new-format successor to its grant
 * by the same compare-and-swap, then tombstones the old record.
 *
 * @module
 */
import { OAuthError } from "./errors.ts";
import { grantExpiryFor, isTombstone, publicGrant, sameHash } from "./grants.ts";
import type { RefreshRecord, RefreshSlot, StoredGrant, Tombstone } from "./grants.ts";
import { mintAccessToken, newRefresh, revokeFor, tokenBody } from "./_token_issue.ts";
import type { Presented, TokenClient } from "./_token_issue.ts";
import { openSuccessor, sealSuccessor } from "./_refresh_seal.ts";
import type { Successor } from "./_refresh_seal.ts";
import type { Ctx } from "./_context.ts";
import { StorageError } from "../storage/mod.ts";
import type { Envelope } from "../storage/mod.ts";

/** Compare-and-swap attempts on one grant before giving up (503). */
const MAX_ATTEMPTS = 20;

const invalid = () => new OAuthError("invalid_grant", "refresh token is invalid or expired");

/** Handle `grant_type=refresh_token` for an authenticated client; returns the response body. */
export async function rotateRefresh(
  ctx: Ctx,
  client: TokenClient,
  form: Map<string, string>,
  presented: Presented | undefined,
): Promise<Record<string, unknown>> {
  if (!presented) throw new OAuthError("invalid_request", "refresh_token is required");
  if (presented.grantId) {
    return await rotate(ctx, client, form, presented, presented.key, presented.read);
  }
  // A 0.1.0 token: its own record names the grant.
  const rec = presented.read?.data as RefreshRecord | Tombstone | undefined;
  if (!rec) throw invalid();
  if (!isTombstone(rec) && rec.clientId !== client.client_id) {
    throw new OAuthError("invalid_grant", "refresh token was issued to another client");
  }
  const key = ["grant", rec.grantId];
  return await rotate(ctx, client, form, presented, key, await ctx.store.read(key), rec);
}

/**
 * Rotate the grant's refresh token: decide on the grant as read, compare-and-swap, and on a
 * lost race decide again on what is stored now. `legacy`: a 0.1.0 token's record, standing in
 * for the grant's current slot until the grant has one.
 */
async function rotate(
  ctx: Ctx,
  client: TokenClient,
  form: Map<string, string>,
  p: { token: string; id: string },
  key: string[],
  read: { data: unknown; stored: Envelope } | undefined,
  legacy?: RefreshRecord | Tombstone,
): Promise<Record<string, unknown>> {
  for (let attempt = 1;; attempt++) {
    const now = ctx.config.now();
    const grant = read?.data as StoredGrant | undefined;
    if (!grant) throw invalid();
    if (grant.previous && sameHash(p.id, grant.previous.hash)) {
      if (grant.previous.exp <= now) throw invalid();
      return await retryOrReuse(ctx, client, form, p, grant);
    }
    let current: RefreshSlot | RefreshRecord | undefined;
    if (legacy) {
      // Used already, or the grant has moved on to new-format tokens: reuse.
      if (isTombstone(legacy) || grant.refresh) return await reuse(ctx, client, grant.id);
      current = legacy;
    } else if (grant.refresh && sameHash(p.id, grant.refresh.hash)) {
      current = grant.refresh;
    } else {
      // Two or more rotations back (tombstoned), or a secret that was never issued.
      const t = await ctx.store.get<Tombstone>(["refresh", p.id]);
      if (isTombstone(t) && t.grantId === grant.id) return await reuse(ctx, client, grant.id);
      throw invalid();
    }
    if (current.exp <= now) throw invalid();
    if (current.clientId !== client.client_id) {
      throw new OAuthError("invalid_grant", "refresh token was issued to another client");
    }
    if (grant.revokedAt) throw new OAuthError("invalid_grant", "the grant has been revoked");
    const { scopes, resource } = narrow(ctx, grant, form);
    const fresh = await newRefresh(ctx, grant, client, now);
    const access = await mintAccessToken(ctx, grant, client.client_id, scopes, resource, now);
    const successor: Successor = {
      access_token: access.token,
      refresh_token: fresh.token,
      scope: scopes.join(" "),
      resource,
      exp: access.claims.exp,
    };
    const expiresAt = grantExpiryFor(grant, now, ctx.config);
    const next: StoredGrant = {
      ...grant,
      expiresAt,
      refresh: fresh.slot,
      previous: {
        hash: p.id,
        exp: current.exp,
        clientId: client.client_id,
        rotatedAt: now,
        sealed: await sealSuccessor(p.token, p.id, successor),
      },
    };
    // The token rotated before this one leaves the grant: its tombstone keeps its reuse
    // detectable (written first: harmless if the compare-and-swap then loses).
    const old = grant.previous;
    if (old && old.exp > now) {
      const t: Tombstone = { used: true, grantId: grant.id, clientId: old.clientId };
      await ctx.store.put(["refresh", old.hash], t, old.exp);
    }
    // Single use: only a write over the exact grant read lands.
    if (await ctx.store.compareAndSwap(key, read!.stored, next, expiresAt)) {
      if (legacy) {
        const t: Tombstone = { used: true, grantId: grant.id, clientId: client.client_id };
        await ctx.store.put(["refresh", p.id], t, current.exp);
      }
      await ctx.refreshed?.(publicGrant(next));
      ctx.emit({
        type: "token.refreshed",
        subject: grant.subject,
        clientId: client.client_id,
        scopes,
        resource,
        grantId: grant.id,
      });
      return tokenBody(ctx, access.token, scopes, fresh.token);
    }
    if (attempt >= MAX_ATTEMPTS) {
      throw new StorageError(`storage ${ctx.store.driver.name}: refresh gave up`);
    }
    read = await ctx.store.read(key);
  }
}

/**
 * Scope and resource of the new access token: the request may narrow the
 * scope (never widen) and pick one of the grant's resources (RFC 6749 §6,
 * RFC 8707 §2.2). Throws `invalid_scope` / `invalid_target`.
 */
function narrow(
  ctx: Ctx,
  grant: StoredGrant,
  form: Map<string, string>,
): { scopes: string[]; resource: string } {
  // Unconfigured `offline_access` is ignored here too (as at /authorize).
  const requested = form.get("scope")?.split(" ").filter((s) =>
    s && (s !== "offline_access" || grant.scopes.includes(s))
  );
  let scopes = grant.scopes;
  if (requested && requested.length) {
    const wider = requested.find((s) => !grant.scopes.includes(s));
    if (wider) throw new OAuthError("invalid_scope", `scope "${wider}" was not granted`);
    scopes = [...new Set(requested)];
  }
  const resourceArg = form.get("resource");
  let resource = grant.resources[0];
  if (resourceArg !== undefined) {
    const r = ctx.resource(resourceArg);
    if (!r || !grant.resources.includes(r.resource)) {
      throw new OAuthError("invalid_target", "resource was not part of this grant");
    }
    resource = r.resource;
  }
  return { scopes, resource };
}

/**
 * The grant's previous token presented again. Inside the reuse window and from the same
 * client: the sealed successor pair (its successor is the grant's current token, so not yet
 * rotated itself). Otherwise someone holds a stolen copy: revoke the whole grant.
 */
async function retryOrReuse(
  ctx: Ctx,
  client: TokenClient,
  form: Map<string, string>,
  presented: { token: string; id: string },
  grant: StoredGrant,
): Promise<Record<string, unknown>> {
  const now = ctx.config.now();
  const t = grant.previous!;
  // A window of 0 is off, even for a reuse within the same millisecond.
  const inWindow = ctx.config.refreshReuseWindow > 0 &&
    now - t.rotatedAt <= ctx.config.refreshReuseWindow * 1000;
  if (inWindow && t.clientId === client.client_id) {
    const successor = await openSuccessor(presented.token, presented.id, t.sealed);
    if (successor) {
      if (grant.revokedAt) throw new OAuthError("invalid_grant", "the grant has been revoked");
      const { scopes, resource } = narrow(ctx, grant, form);
      const body = await retryBody(ctx, grant, client, successor, scopes, resource);
      ctx.emit({
        type: "token.refreshed",
        subject: grant.subject,
        clientId: client.client_id,
        scopes,
        resource,
        grantId: grant.id,
        reason: "retry inside the refresh reuse window: same successor tokens",
      });
      return body;
    }
  }
  return await reuse(ctx, client, grant.id);
}

/** Refresh-token reuse (RFC 9700 §4.14.2): revoke the grant, report, refuse. */
async function reuse(ctx: Ctx, client: TokenClient, grantId: string): Promise<never> {
  const g = await revokeFor(ctx, grantId, "refresh token reused");
  ctx.emit({
    type: "refresh.reuse_detected",
    subject: g?.subject,
    clientId: client.client_id,
    scopes: g?.scopes,
    grantId,
  });
  throw new OAuthError("invalid_grant", "refresh token was already used");
}

/**
 * The retry's response: always the successor refresh token (never the old
 * one back). The access token is the successor's when the retry asks for the
 * same scope and resource; a retry asking for other (validated) ones gets an
 * access token for those — what the successor refresh token would give anyway.
 */
async function retryBody(
  ctx: Ctx,
  grant: StoredGrant,
  client: TokenClient,
  successor: Successor,
  scopes: string[],
  resource: string,
): Promise<Record<string, unknown>> {
  const nowSec = Math.floor(ctx.config.now() / 1000);
  const scope = scopes.join(" ");
  let access = successor.access_token;
  let exp = successor.exp;
  if (scope !== successor.scope || resource !== successor.resource || exp <= nowSec) {
    const minted = await mintAccessToken(
      ctx,
      grant,
      client.client_id,
      scopes,
      resource,
      ctx.config.now(),
    );
    access = minted.token;
    exp = minted.claims.exp;
  }
  return {
    access_token: access,
    token_type: "Bearer",
    expires_in: exp - nowSec,
    scope,
    refresh_token: successor.refresh_token,
  };
}

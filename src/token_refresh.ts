/**
 * The `refresh_token` grant (RFC 6749 §6; OAuth 2.1 §4.3.1 rotation;
 * RFC 9700 §4.14.2 reuse detection), retry-safe:
 *
 * 1. **Look up** the presented token (by its SHA-256 hash).
 * 2. **Validate** client, grant and the requested scope/resource — nothing is
 *    consumed by a bad request.
 * 3. **Keep the grant alive** past the new refresh token (rarely a write).
 * 4. **Mint** the successor pair and store the new refresh token.
 * 5. **Rotate**: compare-and-swap the old record for a tombstone holding the
 *    successor pair sealed under a key only the old token's holder can derive.
 *    Exactly one concurrent rotation wins on a strong driver.
 * 6. **Retry or reuse**: the old token presented again by the same client
 *    within `refreshReuseWindow` seconds, while its successor has not itself
 *    been rotated, gets the successor pair back; anything else is reuse and
 *    revokes the grant.
 *
 * @module
 */
import { OAuthError } from "./errors.ts";
import { sha256 } from "./_crypto.ts";
import { extendGrant, isTombstone } from "./grants.ts";
import type { GrantRecord, RefreshRecord, Tombstone } from "./grants.ts";
import { activeGrant, mintAccessToken, prepareTokens, revokeFor } from "./_token_issue.ts";
import type { Presented, TokenClient } from "./_token_issue.ts";
import { openSuccessor, sealSuccessor } from "./_refresh_seal.ts";
import type { Successor } from "./_refresh_seal.ts";
import type { Ctx } from "./_context.ts";

/** Handle `grant_type=refresh_token` for an authenticated client; returns the response body. */
export async function rotateRefresh(
  ctx: Ctx,
  client: TokenClient,
  form: Map<string, string>,
  presented: Presented | undefined,
): Promise<Record<string, unknown>> {
  if (!presented) throw new OAuthError("invalid_request", "refresh_token is required");
  const { token, id, key, read } = presented;
  const now = ctx.config.now();
  if (!read) throw new OAuthError("invalid_grant", "refresh token is invalid or expired");
  const current = read.data as RefreshRecord | Tombstone;
  if (isTombstone(current)) return await retryOrReuse(ctx, client, form, { token, id }, current);
  if (current.clientId !== client.client_id) {
    throw new OAuthError("invalid_grant", "refresh token was issued to another client");
  }
  const grant = await activeGrant(ctx, current.grantId);
  const { scopes, resource } = narrow(ctx, grant, form);
  if (!(await extendGrant(ctx.store, grant, now, ctx.config))) {
    throw new OAuthError("invalid_grant", "the grant has been revoked");
  }
  const prepared = await prepareTokens(ctx, grant, client, scopes, resource, true);
  const successor: Successor = {
    access_token: prepared.body.access_token as string,
    refresh_token: prepared.body.refresh_token as string,
    scope: scopes.join(" "),
    resource,
    exp: prepared.exp,
  };
  const tombstone: Tombstone = {
    used: true,
    grantId: grant.id,
    clientId: client.client_id,
    rotatedAt: now,
    sealed: await sealSuccessor(token, id, successor),
  };
  // Single use: only a write over the exact record read above lands.
  if (!(await ctx.store.compareAndSwap(key, read.stored, tombstone, current.exp))) {
    await prepared.discard();
    // Rotated meanwhile by a concurrent request: answer this one as its retry (or as reuse).
    const after = await ctx.store.get<RefreshRecord | Tombstone>(key);
    if (!after || !isTombstone(after)) {
      throw new OAuthError("invalid_grant", "refresh token is invalid or expired");
    }
    return await retryOrReuse(ctx, client, form, { token, id }, after);
  }
  await ctx.refreshed?.(grant);
  ctx.emit({
    type: "token.refreshed",
    subject: grant.subject,
    clientId: client.client_id,
    scopes,
    resource,
    grantId: grant.id,
  });
  return prepared.body;
}

/**
 * Scope and resource of the new access token: the request may narrow the
 * scope (never widen) and pick one of the grant's resources (RFC 6749 §6,
 * RFC 8707 §2.2). Throws `invalid_scope` / `invalid_target`.
 */
function narrow(
  ctx: Ctx,
  grant: GrantRecord,
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
 * An already rotated token. Inside the reuse window, from the same client,
 * and only while its successor is still unused: the successor pair again.
 * Otherwise someone holds a stolen copy: revoke the whole grant.
 */
async function retryOrReuse(
  ctx: Ctx,
  client: TokenClient,
  form: Map<string, string>,
  presented: { token: string; id: string },
  tombstone: Tombstone,
): Promise<Record<string, unknown>> {
  const now = ctx.config.now();
  const t = tombstone;
  // A window of 0 is off, even for a reuse within the same millisecond.
  const inWindow = t.rotatedAt !== undefined && ctx.config.refreshReuseWindow > 0 &&
    now - t.rotatedAt <= ctx.config.refreshReuseWindow * 1000;
  if (t.sealed && inWindow && t.clientId === client.client_id) {
    const successor = await openSuccessor(presented.token, presented.id, t.sealed);
    const next = successor &&
      await ctx.store.get<RefreshRecord | Tombstone>([
        "refresh",
        await sha256(successor.refresh_token),
      ]);
    // A token two rotations back is theft even inside the window.
    if (successor && next && !isTombstone(next)) {
      const grant = await activeGrant(ctx, t.grantId);
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
  const g = await revokeFor(ctx, t.grantId, "refresh token reused");
  ctx.emit({
    type: "refresh.reuse_detected",
    subject: g?.subject,
    clientId: client.client_id,
    scopes: g?.scopes,
    grantId: t.grantId,
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
  grant: GrantRecord,
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

/**
 * `/token` (RFC 6749 §3.2, §4.1.3, §6; OAuth 2.1 §4.3 refresh rotation;
 * RFC 7636 §4.6; RFC 8707 §2.2): authorization_code and refresh_token grants.
 *
 * @module
 */
import { jsonResponse, OAuthError } from "./errors.ts";
import { CORS, readForm } from "./_http.ts";
import { pkceMatches, sha256 } from "./_crypto.ts";
import { authenticateClient } from "./clients.ts";
import type { ClientRecord } from "./clients.ts";
import { issueAccessToken, issueRefresh, isTombstone } from "./grants.ts";
import type { CodeRecord, GrantRecord, RefreshRecord, Tombstone } from "./grants.ts";
import type { Ctx } from "./_context.ts";

/** POST /token. */
export async function tokenEndpoint(ctx: Ctx, req: Request): Promise<Response> {
  const form = await readForm(req);
  const grantType = form.get("grant_type");
  if (!grantType) throw new OAuthError("invalid_request", "grant_type is required");
  if (grantType !== "authorization_code" && grantType !== "refresh_token") {
    throw new OAuthError(
      "unsupported_grant_type",
      `grant_type "${grantType.slice(0, 64)}" is not supported`,
    );
  }
  const client = await authenticateClient(req, form, (id) => ctx.findClient(id));
  if (!client.grant_types.includes(grantType)) {
    throw new OAuthError("unauthorized_client", `client is not registered for ${grantType}`);
  }
  const body = grantType === "authorization_code"
    ? await redeemCode(ctx, client, form)
    : await rotateRefresh(ctx, client, form);
  return jsonResponse(body, { headers: { pragma: "no-cache", ...CORS } });
}

/** How long a used code's tombstone is kept to detect replays. */
const REPLAY_WINDOW_MS = 10 * 60 * 1000;

/**
 * Build the token response and store its refresh token *before* the old code or
 * refresh token is consumed, so a storage failure can never leave a client with
 * a consumed credential and nothing in exchange. `discard` undoes it when the
 * consuming swap loses a race.
 */
async function prepareTokens(
  ctx: Ctx,
  grant: GrantRecord,
  client: ClientRecord,
  scopes: string[],
  resource: string,
  refresh: boolean,
): Promise<{ body: Record<string, unknown>; discard: () => Promise<void> }> {
  const now = ctx.config.now();
  const { token } = await issueAccessToken(
    ctx.keys,
    {
      issuer: ctx.config.issuer,
      subject: grant.subject,
      resource,
      clientId: client.client_id,
      scopes,
      grantId: grant.id,
      claims: grant.claims,
    },
    now,
    ctx.config.accessTokenTtl,
  );
  const out: Record<string, unknown> = {
    access_token: token,
    token_type: "Bearer",
    expires_in: ctx.config.accessTokenTtl,
    scope: scopes.join(" "),
  };
  let refreshKey: string[] | undefined;
  if (refresh) {
    const issued = await issueRefresh(ctx.store, {
      grantId: grant.id,
      clientId: client.client_id,
      scopes: grant.scopes,
      exp: now + ctx.config.refreshTokenTtl * 1000,
    });
    out.refresh_token = issued.token;
    refreshKey = issued.key;
  }
  const discard = async () => {
    if (refreshKey) await ctx.store.delete(refreshKey).catch(() => {});
  };
  return { body: out, discard };
}

async function activeGrant(ctx: Ctx, grantId: string): Promise<GrantRecord> {
  const grant = await ctx.store.get<GrantRecord>(["grant", grantId]);
  if (!grant || grant.revokedAt) {
    throw new OAuthError("invalid_grant", "the grant has been revoked");
  }
  return grant;
}

async function revokeFor(
  ctx: Ctx,
  grantId: string,
  reason: string,
): Promise<GrantRecord | undefined> {
  return await ctx.revoke(grantId, reason) ?? await ctx.store.get<GrantRecord>(["grant", grantId]);
}

async function redeemCode(ctx: Ctx, client: ClientRecord, form: Map<string, string>) {
  const code = form.get("code");
  const verifier = form.get("code_verifier");
  if (!code) throw new OAuthError("invalid_request", "code is required");
  if (!verifier) throw new OAuthError("invalid_request", "code_verifier is required (PKCE)");
  const now = ctx.config.now();
  const key = ["code", await sha256(code)];
  const rec = await ctx.store.get<CodeRecord | Tombstone>(key);
  if (!rec) throw new OAuthError("invalid_grant", "authorization code is invalid or expired");
  let grant: GrantRecord | undefined;
  if (!isTombstone(rec)) {
    grant = await activeGrant(ctx, rec.grantId);
    // Checks that do not consume the code: a wrong guess must not burn the legitimate client's code.
    if (rec.clientId !== client.client_id) {
      throw new OAuthError("invalid_grant", "authorization code was issued to another client");
    }
    const redirectUri = form.get("redirect_uri");
    if (redirectUri !== undefined ? redirectUri !== rec.redirectUri : rec.redirectUriSent) {
      throw new OAuthError(
        "invalid_grant",
        "redirect_uri does not match the authorization request",
      );
    }
    if (!(await pkceMatches(verifier, rec.codeChallenge))) {
      throw new OAuthError("invalid_grant", "code_verifier does not match the code_challenge");
    }
    const resource = form.get("resource");
    if (resource !== undefined && ctx.resource(resource)?.resource !== rec.resource) {
      throw new OAuthError("invalid_target", "resource does not match the authorization request");
    }
  }
  const prepared = grant && !isTombstone(rec)
    ? await prepareTokens(
      ctx,
      grant,
      client,
      rec.scopes,
      rec.resource,
      client.grant_types.includes("refresh_token"),
    )
    : undefined;
  // Atomic single use: swap in a tombstone; exactly one caller sees the live record.
  const prev = isTombstone(rec)
    ? rec
    : await ctx.store.swap<CodeRecord | Tombstone, Tombstone>(key, {
      used: true,
      grantId: rec.grantId,
    }, now + REPLAY_WINDOW_MS);
  if (!prev || isTombstone(prev) || !grant || !prepared) {
    await prepared?.discard();
    const g = await revokeFor(ctx, rec.grantId, "authorization code replayed");
    ctx.emit({
      type: "code.replay_detected",
      subject: g?.subject,
      clientId: client.client_id,
      scopes: g?.scopes,
      grantId: rec.grantId,
    });
    throw new OAuthError("invalid_grant", "authorization code was already used");
  }
  const out = prepared.body;
  ctx.emit({
    type: "token.issued",
    subject: grant.subject,
    clientId: client.client_id,
    scopes: prev.scopes,
    resource: prev.resource,
    grantId: grant.id,
  });
  return out;
}

async function rotateRefresh(ctx: Ctx, client: ClientRecord, form: Map<string, string>) {
  const token = form.get("refresh_token");
  if (!token) throw new OAuthError("invalid_request", "refresh_token is required");
  const now = ctx.config.now();
  const key = ["refresh", await sha256(token)];
  const current = await ctx.store.get<RefreshRecord | Tombstone>(key);
  if (!current) throw new OAuthError("invalid_grant", "refresh token is invalid or expired");
  if (!isTombstone(current) && current.clientId !== client.client_id) {
    throw new OAuthError("invalid_grant", "refresh token was issued to another client");
  }
  const grantId = current.grantId;
  const grant = isTombstone(current) ? undefined : await activeGrant(ctx, grantId);
  // Validate the request before consuming the token: a bad scope/resource must not burn it.
  const requested = form.get("scope")?.split(" ").filter(Boolean);
  let scopes = grant?.scopes ?? [];
  if (grant && requested && requested.length) {
    const wider = requested.find((s) => !grant.scopes.includes(s));
    if (wider) throw new OAuthError("invalid_scope", `scope "${wider}" was not granted`);
    scopes = [...new Set(requested)];
  }
  const resourceArg = form.get("resource");
  let resource = grant?.resources[0] ?? "";
  if (grant && resourceArg !== undefined) {
    const r = ctx.resource(resourceArg);
    if (!r || !grant.resources.includes(r.resource)) {
      throw new OAuthError("invalid_target", "resource was not part of this grant");
    }
    resource = r.resource;
  }
  let prepared: Awaited<ReturnType<typeof prepareTokens>> | undefined;
  if (grant) {
    // The grant must outlive the refresh token about to be issued. Extend it only when it
    // would not (to twice the refresh lifetime), so most rotations write nothing to it: one
    // write fewer per refresh, and no hot key on stores that limit writes per key. Write
    // back a fresh read, not `grant`: that copy would undo a revocation made since.
    const needed = now + (ctx.config.refreshTokenTtl + ctx.config.accessTokenTtl) * 1000;
    if ((grant.expiresAt ?? 0) < needed) {
      const fresh = await activeGrant(ctx, grantId);
      const expiresAt = now + 2 * ctx.config.refreshTokenTtl * 1000;
      await ctx.store.put(["grant", grant.id], { ...fresh, expiresAt }, expiresAt);
    }
    prepared = await prepareTokens(ctx, grant, client, scopes, resource, true);
  }
  const tombstoneExp = isTombstone(current) ? now + ctx.config.refreshTokenTtl * 1000 : current.exp;
  const prev = isTombstone(current)
    ? current
    : await ctx.store.swap<RefreshRecord | Tombstone, Tombstone>(
      key,
      { used: true, grantId },
      tombstoneExp,
    );
  if (!prev || isTombstone(prev) || !grant || !prepared) {
    await prepared?.discard();
    // An already rotated refresh token: someone holds a stolen copy. Revoke the whole grant.
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
  const out = prepared.body;
  await ctx.refreshed?.(grant);
  ctx.emit({
    type: "token.refreshed",
    subject: grant.subject,
    clientId: client.client_id,
    scopes,
    resource,
    grantId: grant.id,
  });
  return out;
}

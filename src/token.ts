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
import { isTombstone } from "./grants.ts";
import type { CodeRecord, GrantRecord, Tombstone } from "./grants.ts";
import { activeGrant, prepareTokens, revokeFor } from "./_token_issue.ts";
import { rotateRefresh } from "./token_refresh.ts";
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

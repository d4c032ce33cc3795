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
import { isTombstone } from "./grants.ts";
import type { CodeRecord, GrantRecord, Tombstone } from "./grants.ts";
import { activeGrant, prepareTokens, revokeFor } from "./_token_issue.ts";
import type { Presented, TokenClient } from "./_token_issue.ts";
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
  const presented = await readPresented(ctx, grantType, form);
  const recorded = recordedPublicClient(req, form, presented?.read?.data);
  const client = recorded ?? await authenticateClient(ctx, req, form);
  await ctx.clientIdentified?.(client.client_id);
  if (!client.grant_types.includes(grantType)) {
    throw new OAuthError("unauthorized_client", `client is not registered for ${grantType}`);
  }
  let body: Record<string, unknown>;
  try {
    body = grantType === "authorization_code"
      ? await redeemCode(ctx, client, form, presented)
      : await rotateRefresh(ctx, client, form, presented);
  } catch (e) {
    // Unread client refused over its grant: if the client itself is gone, say so (401).
    if (recorded && e instanceof OAuthError && e.code === "invalid_grant") {
      if (!(await ctx.findClient(recorded.client_id))) {
        throw new OAuthError("invalid_client", "client authentication failed");
      }
    }
    throw e;
  }
  return jsonResponse(body, { headers: { pragma: "no-cache", ...CORS } });
}

/**
 * Read the code or refresh record the request presents, once (by the hash of
 * the presented value); undefined when the parameter is missing.
 */
async function readPresented(
  ctx: Ctx,
  grantType: "authorization_code" | "refresh_token",
  form: Map<string, string>,
): Promise<Presented | undefined> {
  const code = grantType === "authorization_code";
  const token = form.get(code ? "code" : "refresh_token");
  if (!token) return undefined;
  const id = await sha256(token);
  const key = [code ? "code" : "refresh", id];
  return { token, id, key, read: await ctx.store.read(key) };
}

/**
 * A public client (`none`) named by the live code or refresh record itself,
 * when the request carries no credentials and the same `client_id`: then
 * authenticating it needs no read of the client record (issue 12), because
 * for a public client there is nothing to check but the id. The snapshot was
 * taken when the code (≤ `codeTtl` ago) or refresh token was issued; refresh
 * records carry one only for registered clients, which never change
 * (deleting one revokes its grants, which the grant read then sees).
 */
function recordedPublicClient(
  req: Request,
  form: Map<string, string>,
  rec: unknown,
): TokenClient | undefined {
  const r = rec as Partial<CodeRecord> | undefined;
  if (!r || isTombstone(r) || !r.publicClient || !r.clientId) return undefined;
  if (req.headers.has("authorization") || form.get("client_id") !== r.clientId) return undefined;
  for (const p of ["client_secret", "client_assertion", "client_assertion_type"]) {
    if (form.has(p)) return undefined;
  }
  return {
    client_id: r.clientId,
    token_endpoint_auth_method: "none",
    grant_types: r.publicClient.grantTypes,
  };
}

/** How long a used code's tombstone is kept to detect replays. */
const REPLAY_WINDOW_MS = 10 * 60 * 1000;

async function redeemCode(
  ctx: Ctx,
  client: TokenClient,
  form: Map<string, string>,
  presented: Presented | undefined,
) {
  const verifier = form.get("code_verifier");
  if (!presented) throw new OAuthError("invalid_request", "code is required");
  if (!verifier) throw new OAuthError("invalid_request", "code_verifier is required (PKCE)");
  const now = ctx.config.now();
  const key = presented.key;
  const rec = presented.read?.data as CodeRecord | Tombstone | undefined;
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

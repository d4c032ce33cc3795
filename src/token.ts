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
import { grantIdOf, isTombstone, sameHash } from "./grants.ts";
import type { PublicClientSnapshot, RefreshRecord, StoredGrant, Tombstone } from "./grants.ts";
import { mintAccessToken, newRefresh, revokeFor, tokenBody } from "./_token_issue.ts";
import { StorageError } from "../storage/mod.ts";
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
  let presented: Presented | undefined;
  let recorded: TokenClient | undefined;
  let client: TokenClient;
  if (presentsCredentials(req, form)) {
    // Authenticated the usual way: the client and the grant are independent reads, run together.
    [presented, client] = await Promise.all([
      readPresented(ctx, grantType, form),
      authenticateClient(ctx, req, form),
    ]);
  } else {
    presented = await readPresented(ctx, grantType, form);
    recorded = recordedPublicClient(req, form, presented);
    client = recorded ?? await authenticateClient(ctx, req, form);
  }
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
 * Read the grant the presented code or refresh token names (`<grantId>.<secret>`), once;
 * a 0.1.0 refresh token (opaque) reads its own record. Undefined when the parameter is missing.
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
  const grantId = grantIdOf(token);
  // 0.1.0 codes lived ≤ 10 minutes: only refresh tokens have a legacy record.
  const key = grantId ? ["grant", grantId] : code ? undefined : ["refresh", id];
  return { token, id, grantId, key: key ?? [], read: key && await ctx.store.read(key) };
}

/**
 * A public client (`none`) named by the live code or refresh token's own record, when the
 * request carries no credentials and the same `client_id`: then authenticating it needs no
 * read of the client record, because for a public client there is nothing to
 * check but the id. The snapshot was taken when the code (≤ `codeTtl` ago) or refresh token
 * was issued; refresh tokens carry one only for registered clients, which never change
 * (deleting one revokes its grants, which the grant read then sees). Only a presented value
 * whose hash matches counts.
 */
function recordedPublicClient(
  req: Request,
  form: Map<string, string>,
  presented: Presented | undefined,
): TokenClient | undefined {
  const r = presentedRecord(presented);
  if (!r?.publicClient || presentsCredentials(req, form)) return undefined;
  if (form.get("client_id") !== r.clientId) return undefined;
  return {
    client_id: r.clientId,
    token_endpoint_auth_method: "none",
    grant_types: r.publicClient.grantTypes,
  };
}

/** Whether the request carries client credentials (Basic, a secret, or an assertion). */
function presentsCredentials(req: Request, form: Map<string, string>): boolean {
  return req.headers.has("authorization") || form.has("client_secret") ||
    form.has("client_assertion") || form.has("client_assertion_type");
}

/** The unused code or current refresh token the presented value matches, with its client. */
function presentedRecord(
  p: Presented | undefined,
): { clientId: string; publicClient?: PublicClientSnapshot } | undefined {
  const data = p?.read?.data;
  if (!p || !data) return undefined;
  if (!p.grantId) {
    const legacy = data as RefreshRecord | Tombstone;
    return isTombstone(legacy) ? undefined : legacy;
  }
  const g = data as StoredGrant; // a `<grantId>.<secret>` value: its grant was read
  if (g.code && !g.code.usedAt && sameHash(p.id, g.code.hash)) {
    return { clientId: g.clientId, publicClient: g.code.publicClient };
  }
  return g.refresh && sameHash(p.id, g.refresh.hash) ? g.refresh : undefined;
}

/**
 * `authorization_code`: one read of the grant (done), checks that consume nothing, then one
 * compare-and-swap of the grant marking the code used and storing the first refresh token.
 * Of concurrent exchanges exactly one wins on a strong driver; the others re-read, find the
 * code used, and are replays: the grant is revoked (RFC 6749 §4.1.2, OAuth 2.1 §4.1.3).
 */
async function redeemCode(
  ctx: Ctx,
  client: TokenClient,
  form: Map<string, string>,
  presented: Presented | undefined,
) {
  const verifier = form.get("code_verifier");
  if (!presented) throw new OAuthError("invalid_request", "code is required");
  if (!verifier) throw new OAuthError("invalid_request", "code_verifier is required (PKCE)");
  const invalid = () => new OAuthError("invalid_grant", "authorization code is invalid or expired");
  if (!presented.grantId) throw invalid();
  const key = presented.key;
  let read = presented.read;
  for (let attempt = 1;; attempt++) {
    const now = ctx.config.now();
    const grant = read?.data as StoredGrant | undefined;
    const code = grant?.code;
    // An unknown secret under a known grant id (the id is not secret) consumes nothing.
    if (!grant || !code || !sameHash(presented.id, code.hash)) throw invalid();
    if (code.usedAt !== undefined) {
      const g = await revokeFor(ctx, grant.id, "authorization code replayed");
      ctx.emit({
        type: "code.replay_detected",
        subject: g?.subject,
        clientId: client.client_id,
        scopes: g?.scopes,
        grantId: grant.id,
      });
      throw new OAuthError("invalid_grant", "authorization code was already used");
    }
    if (code.exp <= now) throw invalid();
    if (grant.revokedAt) throw new OAuthError("invalid_grant", "the grant has been revoked");
    // Checks that do not consume the code: a wrong guess must not burn the legitimate client's code.
    if (grant.clientId !== client.client_id) {
      throw new OAuthError("invalid_grant", "authorization code was issued to another client");
    }
    const redirectUri = form.get("redirect_uri");
    if (redirectUri !== undefined ? redirectUri !== code.redirectUri : code.redirectUriSent) {
      throw new OAuthError(
        "invalid_grant",
        "redirect_uri does not match the authorization request",
      );
    }
    if (!(await pkceMatches(verifier, code.codeChallenge))) {
      throw new OAuthError("invalid_grant", "code_verifier does not match the code_challenge");
    }
    const resource = form.get("resource");
    if (resource !== undefined && ctx.resource(resource)?.resource !== code.resource) {
      throw new OAuthError("invalid_target", "resource does not match the authorization request");
    }
    const refresh = client.grant_types.includes("refresh_token")
      ? await newRefresh(ctx, grant, client, now)
      : undefined;
    const next: StoredGrant = {
      ...grant,
      code: { ...code, usedAt: now },
      ...(refresh ? { refresh: refresh.slot } : {}),
    };
    // Atomic single use: only a write over the exact grant read lands.
    if (await ctx.store.compareAndSwap(key, read!.stored, next, next.expiresAt ?? null)) {
      const access = await mintAccessToken(
        ctx,
        grant,
        client.client_id,
        code.scopes,
        code.resource,
        now,
      );
      ctx.emit({
        type: "token.issued",
        subject: grant.subject,
        clientId: client.client_id,
        scopes: code.scopes,
        resource: code.resource,
        grantId: grant.id,
      });
      return tokenBody(ctx, access.token, code.scopes, refresh?.token);
    }
    if (attempt >= MAX_ATTEMPTS) {
      throw new StorageError(`storage ${ctx.store.driver.name}: code exchange gave up`);
    }
    // Changed meanwhile (a concurrent exchange, a revocation): decide again on what is stored now.
    read = await ctx.store.read(key);
  }
}

/** Compare-and-swap attempts on one grant before giving up (503). */
const MAX_ATTEMPTS = 20;

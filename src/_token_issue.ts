/** Steps shared by the `/token` grant types (internal): mint a token response, load the grant. */
import { OAuthError } from "./errors.ts";
import { issueAccessToken, issueRefresh } from "./grants.ts";
import type { GrantRecord } from "./grants.ts";
import { isCimdClientId } from "./clients.ts";
import type { ClientRecord } from "./clients.ts";
import type { Ctx } from "./_context.ts";
import type { Envelope } from "../storage/mod.ts";

/** The client as far as `/token` needs it (a stored record, or a public client's snapshot). */
export type TokenClient = Pick<
  ClientRecord,
  "client_id" | "token_endpoint_auth_method" | "grant_types"
>;

/** The code or refresh token a `/token` request presents, and its record as read once. */
export interface Presented {
  /** The raw value from the request. */
  token: string;
  /** Its SHA-256 (the storage id). */
  id: string;
  /** Its storage key. */
  key: string[];
  /** The live record and the envelope it was read from; undefined when absent or expired. */
  read: { data: unknown; stored: Envelope } | undefined;
}

/** A minted token response, not yet handed out. */
export interface PreparedTokens {
  /** The RFC 6749 §5.1 response body. */
  body: Record<string, unknown>;
  /** Access token expiry, epoch seconds. */
  exp: number;
  /** Delete the refresh token stored for this response (the consuming swap lost a race). */
  discard: () => Promise<void>;
}

/** An RFC 9068 access token for `grant`, narrowed to `scopes` and one `resource`. */
export function mintAccessToken(
  ctx: Ctx,
  grant: GrantRecord,
  clientId: string,
  scopes: string[],
  resource: string,
  now: number,
): ReturnType<typeof issueAccessToken> {
  return issueAccessToken(
    ctx.keys,
    {
      issuer: ctx.config.issuer,
      subject: grant.subject,
      resource,
      clientId,
      scopes,
      grantId: grant.id,
      claims: grant.claims,
    },
    now,
    ctx.config.accessTokenTtl,
  );
}

/**
 * Build the token response and store its refresh token *before* the old code or
 * refresh token is consumed, so a storage failure can never leave a client with
 * a consumed credential and nothing in exchange. `discard` undoes it when the
 * consuming swap loses a race.
 */
export async function prepareTokens(
  ctx: Ctx,
  grant: GrantRecord,
  client: TokenClient,
  scopes: string[],
  resource: string,
  refresh: boolean,
): Promise<PreparedTokens> {
  const now = ctx.config.now();
  const { token, claims } = await mintAccessToken(
    ctx,
    grant,
    client.client_id,
    scopes,
    resource,
    now,
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
      // A registered public client never changes (deleting it revokes its grants), so the
      // refresh need not read it; a metadata document may change, so its client is re-read.
      ...(client.token_endpoint_auth_method === "none" && !isCimdClientId(client.client_id)
        ? { publicClient: { grantTypes: client.grant_types } }
        : {}),
    });
    out.refresh_token = issued.token;
    refreshKey = issued.key;
  }
  const discard = async () => {
    if (refreshKey) await ctx.store.delete(refreshKey).catch(() => {});
  };
  return { body: out, exp: claims.exp, discard };
}

/** The grant, or `invalid_grant` when it is missing or revoked. */
export async function activeGrant(ctx: Ctx, grantId: string): Promise<GrantRecord> {
  const grant = await ctx.store.get<GrantRecord>(["grant", grantId]);
  if (!grant || grant.revokedAt) {
    throw new OAuthError("invalid_grant", "the grant has been revoked");
  }
  return grant;
}

/** Revoke a grant after a replay; returns the grant (revoked now or before) for the audit event. */
export async function revokeFor(
  ctx: Ctx,
  grantId: string,
  reason: string,
): Promise<GrantRecord | undefined> {
  return await ctx.revoke(grantId, reason) ?? await ctx.store.get<GrantRecord>(["grant", grantId]);
}

/**
 * Steps shared by the `/token` grant types (internal): the token response, a new refresh
 * token, revocation after a replay.
 */
import { issueAccessToken, newGrantToken } from "./grants.ts";
import type { GrantRecord, RefreshSlot } from "./grants.ts";
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
  /** Its SHA-256 (what storage keeps). */
  id: string;
  /** The grant id of a `<grantId>.<secret>` token; undefined for a 0.1.0 refresh token. */
  grantId?: string;
  /** What was read: `["grant", grantId]`, or a 0.1.0 token's `["refresh", id]`. */
  key: string[];
  /** The live record and the envelope it was read from; undefined when absent or expired. */
  read: { data: unknown; stored: Envelope } | undefined;
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

/** The RFC 6749 §5.1 response body for a signed access token (and a refresh token). */
export function tokenBody(
  ctx: Ctx,
  accessToken: string,
  scopes: string[],
  refreshToken?: string,
): Record<string, unknown> {
  return {
    access_token: accessToken,
    token_type: "Bearer",
    expires_in: ctx.config.accessTokenTtl,
    scope: scopes.join(" "),
    ...(refreshToken !== undefined ? { refresh_token: refreshToken } : {}),
  };
}

/**
 * A new refresh token for `grant` and the slot the grant stores for it (hash
 * only). A registered public client never changes (deleting it revokes its
 * grants), so the refresh need not read it; a metadata document may change,
 * so its client is re-read.
 */
export async function newRefresh(
  ctx: Ctx,
  grant: GrantRecord,
  client: TokenClient,
  now: number,
): Promise<{ token: string; slot: RefreshSlot }> {
  const { token, hash } = await newGrantToken(grant.id);
  return {
    token,
    slot: {
      hash,
      exp: now + ctx.config.refreshTokenTtl * 1000,
      clientId: client.client_id,
      scopes: grant.scopes,
      ...(client.token_endpoint_auth_method === "none" && !isCimdClientId(client.client_id)
        ? { publicClient: { grantTypes: client.grant_types } }
        : {}),
    },
  };
}

/** Revoke a grant after a replay; returns the grant (revoked now or before) for the audit event. */
export async function revokeFor(
  ctx: Ctx,
  grantId: string,
  reason: string,
): Promise<GrantRecord | undefined> {
  return await ctx.revoke(grantId, reason) ?? await ctx.store.get<GrantRecord>(["grant", grantId]);
}

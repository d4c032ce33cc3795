/**
 * RFC 7009 `/revoke` and RFC 7662 `/introspect`. Both authenticate the
 * caller; both accept access tokens (JWTs) and refresh tokens.
 *
 * @module
 */
import { jsonResponse, OAuthError } from "./errors.ts";
import { CORS, readForm } from "./_http.ts";
import { sha256, timingSafeEqual } from "./_crypto.ts";
import { authenticateClient } from "./clients.ts";
import { decodeBasic } from "./client_auth.ts";
import type { ClientRecord } from "./clients.ts";
import { grantIdOf, isTombstone, sameHash } from "./grants.ts";
import type { AccessClaims, RefreshRecord, StoredGrant, Tombstone } from "./grants.ts";
import type { Ctx } from "./_context.ts";

/** What a presented token turned out to be. */
type Found =
  | { kind: "access_token"; claims: AccessClaims; grant?: StoredGrant }
  | { kind: "refresh_token"; record: RefreshRecord; grant?: StoredGrant };

/** A refresh token its client already rotated: the grant, and the client that rotated it. */
type Rotated = { kind: "rotated"; grantId: string; clientId?: string };

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/** Resolve a token we issued; `undefined` when unknown, malformed, expired or not ours. */
export async function lookupToken(ctx: Ctx, token: string): Promise<Found | undefined> {
  const r = await resolveToken(ctx, token);
  return r?.kind === "rotated" ? undefined : r;
}

/** {@linkcode lookupToken}, and a refresh token already rotated (one lookup for `/revoke`). */
async function resolveToken(ctx: Ctx, token: string): Promise<Found | Rotated | undefined> {
  if (token.length > 8192) return undefined;
  if (JWT_SHAPE.test(token)) {
    try {
      const payload = await ctx.keys.verifyOwn(token, ctx.config.issuer, ctx.config.now());
      if (!payload) return undefined;
      const claims = payload as unknown as AccessClaims;
      if (typeof claims.gid !== "string") return undefined;
      return {
        kind: "access_token",
        claims,
        grant: await ctx.store.get<StoredGrant>(["grant", claims.gid]),
      };
    } catch {
      return undefined;
    }
  }
  const r = await findRefresh(ctx, token);
  return r && ("record" in r ? { kind: "refresh_token", ...r } : { kind: "rotated", ...r.rotated });
}

/**
 * A refresh token we issued: live (`record`, with its grant), or rotated (`rotated`: the grant
 * and the client that rotated it); undefined when unknown or expired. Both forms: the current
 * `<grantId>.<secret>` (hash compared with the grant's slots, then a displaced token's
 * tombstone) and a 0.1.0 opaque token (its own record).
 */
async function findRefresh(
  ctx: Ctx,
  token: string,
): Promise<
  | { record: RefreshRecord; grant?: StoredGrant }
  | { rotated: { grantId: string; clientId?: string } }
  | undefined
> {
  const id = await sha256(token);
  const now = ctx.config.now();
  const grantId = grantIdOf(token);
  if (grantId) {
    const grant = await ctx.store.get<StoredGrant>(["grant", grantId]);
    const slot = grant?.refresh;
    if (grant && slot && sameHash(id, slot.hash)) {
      return slot.exp > now
        ? {
          record: { grantId, clientId: slot.clientId, scopes: slot.scopes, exp: slot.exp },
          grant,
        }
        : undefined;
    }
    if (grant?.previous && sameHash(id, grant.previous.hash)) {
      return { rotated: { grantId, clientId: grant.previous.clientId } };
    }
  }
  const rec = await ctx.store.get<RefreshRecord | Tombstone>(["refresh", id]);
  if (!rec || (grantId && rec.grantId !== grantId)) return undefined;
  if (isTombstone(rec)) return { rotated: { grantId: rec.grantId, clientId: rec.clientId } };
  if (grantId || rec.exp <= now) return undefined;
  const grant = await ctx.store.get<StoredGrant>(["grant", rec.grantId]);
  // A 0.1.0 token whose grant has moved on to new-format tokens is spent.
  return grant?.refresh ? undefined : { record: rec, grant };
}

function clientOf(f: Found): string {
  return f.kind === "access_token" ? f.claims.client_id : f.record.clientId;
}

/** POST /revoke (RFC 7009 §2). Revoking either token revokes the whole grant. */
export async function revokeEndpoint(ctx: Ctx, req: Request): Promise<Response> {
  const form = await readForm(req);
  const client = await authenticateClient(ctx, req, form);
  const token = form.get("token");
  if (!token) throw new OAuthError("invalid_request", "token is required");
  const found = await resolveToken(ctx, token);
  // §2.2: unknown, invalid or foreign tokens still get 200. Revoking a grant already revoked
  // or gone is a no-op (`ctx.revoke` writes only over a live grant).
  if (found?.kind === "rotated") {
    // A refresh token its client already rotated (e.g. a sign-out with the token held before
    // a refresh whose response was lost): the holder wants the grant ended, so end it. This
    // gives nobody a new power: the same token at /token after the reuse window revokes too.
    // It also matters for safety: inside the reuse window a rotated token still opens its
    // successor (src/token_refresh.ts), so revoking it must end the grant.
    if (found.clientId === client.client_id) {
      await ctx.revoke(found.grantId, "refresh_token", "token.revoked");
    }
  } else if (found?.grant && !found.grant.revokedAt && clientOf(found) === client.client_id) {
    await ctx.revoke(found.grant.id, found.kind, "token.revoked");
  }
  return new Response(null, { status: 200, headers: { "cache-control": "no-store", ...CORS } });
}

/** Who is asking `/introspect`: a configured resource server, or a registered client. */
type Caller =
  | { kind: "resource_server"; resources: string[] }
  | { kind: "client"; clientId: string };

async function introspectionCaller(
  ctx: Ctx,
  req: Request,
  form: Map<string, string>,
): Promise<Caller> {
  const authz = req.headers.get("authorization");
  // Configured resource servers (client_secret_basic only).
  const servers = ctx.config.introspectionClients;
  if (authz && /^basic /i.test(authz) && servers?.length) {
    let basic: { id: string; secret: string } | undefined;
    try {
      basic = decodeBasic(authz);
    } catch {
      // malformed: registered-client authentication below refuses it
    }
    const match = basic && servers.find((c) => c.clientId === basic.id);
    if (match && timingSafeEqual(basic!.secret, match.clientSecret)) {
      const listed = match.resource === undefined
        ? ctx.config.resources.map((r) => r.resource)
        : typeof match.resource === "string"
        ? [match.resource]
        : match.resource;
      const resources = listed.map((r) => ctx.resource(r)?.resource)
        .filter((r): r is string => r !== undefined);
      return { kind: "resource_server", resources };
    }
  }
  const client: ClientRecord = await authenticateClient(ctx, req, form);
  if (client.token_endpoint_auth_method === "none") {
    throw new OAuthError("invalid_client", "introspection requires a confidential client");
  }
  return { kind: "client", clientId: client.client_id };
}

/**
 * RFC 7662 §4: may this caller learn about this token? A resource server only about access
 * tokens for its own resource(s) — never refresh tokens (RFC 6749 §10.4: they are not bearer
 * credentials for resources); a client only about tokens issued to it.
 */
function mayAnswer(caller: Caller, found: Found): boolean {
  if (caller.kind === "client") return clientOf(found) === caller.clientId;
  return found.kind === "access_token" && caller.resources.includes(found.claims.aud);
}

/** POST /introspect (RFC 7662 §2). */
export async function introspectEndpoint(ctx: Ctx, req: Request): Promise<Response> {
  const form = await readForm(req);
  const caller = await introspectionCaller(ctx, req, form);
  const token = form.get("token");
  if (!token) throw new OAuthError("invalid_request", "token is required");
  const found = await lookupToken(ctx, token);
  const headers = { ...CORS };
  if (!found || !found.grant || found.grant.revokedAt || !mayAnswer(caller, found)) {
    return jsonResponse({ active: false }, { headers });
  }
  if (found.kind === "access_token") {
    const c = found.claims;
    return jsonResponse({
      active: true,
      token_type: "Bearer",
      scope: c.scope,
      client_id: c.client_id,
      sub: c.sub,
      aud: c.aud,
      iss: c.iss,
      exp: c.exp,
      iat: c.iat,
      jti: c.jti,
      gid: c.gid,
    }, { headers });
  }
  const r = found.record;
  return jsonResponse({
    active: true,
    token_type: "refresh_token",
    scope: r.scopes.join(" "),
    client_id: r.clientId,
    sub: found.grant.subject,
    iss: ctx.config.issuer,
    exp: Math.floor(r.exp / 1000),
    gid: r.grantId,
  }, { headers });
}

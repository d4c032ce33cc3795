/**
 * RFC 7009 `/revoke` and RFC 7662 `/introspect`. Both authenticate the
 * caller; both accept access tokens (JWTs) and refresh tokens.
 *
 * @module
 */
import { jwtVerify } from "jose";
import { jsonResponse, OAuthError } from "./errors.ts";
import { CORS, readForm } from "./_http.ts";
import { sha256, timingSafeEqual } from "./_crypto.ts";
import { authenticateClient } from "./clients.ts";
import type { ClientRecord } from "./clients.ts";
import { isTombstone } from "./grants.ts";
import type { AccessClaims, GrantRecord, RefreshRecord, Tombstone } from "./grants.ts";
import type { Ctx } from "./_context.ts";

/** What a presented token turned out to be. */
type Found =
  | { kind: "access_token"; claims: AccessClaims; grant?: GrantRecord }
  | { kind: "refresh_token"; record: RefreshRecord; grant?: GrantRecord };

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/** Resolve a token we issued; `undefined` when unknown, malformed, expired or not ours. */
export async function lookupToken(ctx: Ctx, token: string): Promise<Found | undefined> {
  if (token.length > 8192) return undefined;
  if (JWT_SHAPE.test(token)) {
    try {
      const { payload } = await jwtVerify(token, ctx.keys.resolver, {
        issuer: ctx.config.issuer,
        typ: "at+jwt",
        algorithms: ["EdDSA", "ES256"],
        currentDate: new Date(ctx.config.now()),
      });
      const claims = payload as unknown as AccessClaims;
      if (typeof claims.gid !== "string") return undefined;
      return {
        kind: "access_token",
        claims,
        grant: await ctx.store.get<GrantRecord>(["grant", claims.gid]),
      };
    } catch {
      return undefined;
    }
  }
  const rec = await ctx.store.get<RefreshRecord | Tombstone>(["refresh", await sha256(token)]);
  if (!rec || isTombstone(rec) || rec.exp <= ctx.config.now()) return undefined;
  return {
    kind: "refresh_token",
    record: rec,
    grant: await ctx.store.get<GrantRecord>(["grant", rec.grantId]),
  };
}

function clientOf(f: Found): string {
  return f.kind === "access_token" ? f.claims.client_id : f.record.clientId;
}

/** POST /revoke (RFC 7009 §2). Revoking either token revokes the whole grant. */
export async function revokeEndpoint(ctx: Ctx, req: Request): Promise<Response> {
  const form = await readForm(req);
  const client = await authenticateClient(req, form, (id) => ctx.findClient(id));
  const token = form.get("token");
  if (!token) throw new OAuthError("invalid_request", "token is required");
  const found = await lookupToken(ctx, token);
  // §2.2: unknown, invalid or foreign tokens still get 200.
  if (found?.grant && !found.grant.revokedAt && clientOf(found) === client.client_id) {
    await ctx.revoke(found.grant.id, found.kind, "token.revoked");
  }
  return new Response(null, { status: 200, headers: { "cache-control": "no-store", ...CORS } });
}

async function introspectionCaller(
  ctx: Ctx,
  req: Request,
  form: Map<string, string>,
): Promise<string> {
  const authz = req.headers.get("authorization");
  // Statically configured resource-server credentials (client_secret_basic).
  if (authz && /^basic /i.test(authz) && ctx.config.introspectionClients?.length) {
    try {
      const decoded = atob(authz.slice(6).trim());
      const i = decoded.indexOf(":");
      const id = decodeURIComponent(decoded.slice(0, i));
      const secret = decodeURIComponent(decoded.slice(i + 1));
      const match = ctx.config.introspectionClients.find((c) => c.clientId === id);
      if (i > 0 && match && timingSafeEqual(secret, match.clientSecret)) return id;
    } catch {
      // fall through to registered-client authentication
    }
  }
  const client: ClientRecord = await authenticateClient(req, form, (id) => ctx.findClient(id));
  if (client.token_endpoint_auth_method === "none") {
    throw new OAuthError("invalid_client", "introspection requires a confidential client");
  }
  return client.client_id;
}

/** POST /introspect (RFC 7662 §2). */
export async function introspectEndpoint(ctx: Ctx, req: Request): Promise<Response> {
  const form = await readForm(req);
  await introspectionCaller(ctx, req, form);
  const token = form.get("token");
  if (!token) throw new OAuthError("invalid_request", "token is required");
  const found = await lookupToken(ctx, token);
  const headers = { ...CORS };
  if (!found || !found.grant || found.grant.revokedAt) {
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

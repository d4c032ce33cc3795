/**
 * `/authorize`, second half: the consent state sealed into the consent form, and POST
 * /authorize, the user's answer (approve → grant, code and redirect; deny → `access_denied`),
 * single use. GET /authorize (validation, sign-in, the page) is in `authorize.ts`.
 *
 * @module
 */
import { OAuthError } from "./errors.ts";
import { errorPage, readForm } from "./_http.ts";
import { sha256, timingSafeEqual } from "./_crypto.ts";
import { unseal } from "./_seal.ts";
import { rememberable, rememberApproval } from "./approvals.ts";
import {
  consentGrantId,
  initialGrantExpiry,
  newGrantId,
  newGrantToken,
  storeNewGrant,
} from "./grants.ts";
import type { StoredGrant } from "./grants.ts";
import { markClientUsed } from "./register.ts";
import type { Ctx } from "./_context.ts";
import type { AuthenticateResult } from "./config.ts";
import type { ClientRecord } from "./clients.ts";
import { publicClaims } from "./props.ts";

export { CONSENT_TTL_MS } from "./grants.ts";
/** Additional authenticated data of a sealed consent form (binds blobs to this purpose). */
export const CONSENT_AAD = "gatehouse consent v1";
/** Largest `consent_id` accepted (a sealed {@link ConsentState}; ~1 KB in practice). */
const MAX_SEALED = 16 * 1024;

/**
 * A validated authorization request waiting for the user's decision. It is not stored: it
 * travels AES-GCM sealed (key derived from the signing key) in the consent form's `consent_id`
 * field, so showing the consent page writes nothing. Single use: the answer creates the grant
 * at an id derived from `nonce` only where none exists (see `consentGrantId` in `grants.ts`),
 * so every other submission of the form is refused. The user's `props` and `claims` are not in it: they come
 * from `authenticate` on the submission itself and go straight into the grant.
 */
export interface ConsentState {
  /** The client. */
  clientId: string;
  /** Validated redirect URI. */
  redirectUri: string;
  /** Whether the request carried `redirect_uri` (then /token must repeat it). */
  redirectUriSent: boolean;
  /** Client's `state`. */
  state?: string;
  /** PKCE S256 challenge. */
  codeChallenge: string;
  /** Scopes requested (after defaulting). */
  scopes: string[];
  /** Resource (canonical). */
  resource: string;
  /** The user the page was shown to (re-checked on submit). */
  subject: string;
  /** SHA-256 of the form's `csrf` field. */
  csrfHash: string;
  /** Random id of this form: the grant id its answer creates is derived from it. */
  nonce: string;
  /** Expiry, epoch ms. */
  exp: number;
  /** Scopes of a live remembered approval for the same user/client/resource (merged on approve). */
  approved?: string[];
}

/** A 302 to `redirectUri` with `params` and RFC 9207 `iss` added, `no-store`. */
export function redirectWith(
  ctx: Ctx,
  redirectUri: string,
  params: Record<string, string | undefined>,
): Response {
  const u = new URL(redirectUri);
  for (const [k, v] of Object.entries(params)) if (v !== undefined) u.searchParams.set(k, v);
  u.searchParams.set("iss", ctx.config.issuer);
  return new Response(null, {
    status: 302,
    headers: { location: u.href, "cache-control": "no-store" },
  });
}

/** Who `authenticate` said the user is. */
export interface Identity {
  subject: string;
  props?: Record<string, unknown>;
  claims?: Record<string, unknown>;
}

/** The identity in an `authenticate` result, its Response, or undefined when it names no one. */
export function identityOf(r: AuthenticateResult): Identity | Response | undefined {
  if (r instanceof Response) return r;
  if (typeof r === "string" && r) return { subject: r };
  if (typeof r === "object" && r !== null && typeof r.subject === "string" && r.subject) {
    const props = typeof r.props === "object" && r.props !== null ? r.props : undefined;
    return { subject: r.subject, props, claims: r.claims };
  }
  return undefined;
}

/** POST /authorize: the consent form's submission. */
export async function authorizePost(ctx: Ctx, req: Request): Promise<Response> {
  let form: Map<string, string>;
  try {
    form = await readForm(req);
  } catch (e) {
    return errorPage(
      e instanceof OAuthError ? e.status : 400,
      "Invalid consent submission",
      e instanceof OAuthError ? e.message : "unreadable form",
    );
  }
  const consentId = form.get("consent_id");
  const csrf = form.get("csrf");
  const decision = form.get("decision");
  if (!consentId || !csrf || (decision !== "approve" && decision !== "deny")) {
    return errorPage(400, "Invalid consent submission", "The form is incomplete.");
  }
  const expired = () =>
    errorPage(
      400,
      "Request expired",
      "This authorization request has expired or was already answered. Start again from the application.",
    );
  // Only blobs we sealed are read: no storage access for anything else, whatever its size.
  if (consentId.length > MAX_SEALED || !/^[A-Za-z0-9_-]+$/.test(consentId)) return expired();
  const pending = await unseal<ConsentState>(
    await ctx.keys.sealKey("consent"),
    consentId,
    CONSENT_AAD,
  );
  if (!pending || !(pending.exp > ctx.config.now())) return expired();
  if (!timingSafeEqual(await sha256(csrf), pending.csrfHash)) {
    return errorPage(
      403,
      "Invalid consent submission",
      "The form's security token does not match.",
    );
  }
  // The answer's grant id is known now: where the driver's compare-and-swap must read first
  // (Workers KV), that read runs alongside the client's instead of after it.
  const grantId = await consentGrantId(pending.nonce);
  const [client] = await Promise.all([
    ctx.findClient(pending.clientId),
    ctx.store.prefetch(["grant", grantId]),
  ]);
  if (!client) return errorPage(400, "Unknown client", "This application is no longer registered.");
  let who: Identity | Response | undefined;
  try {
    who = identityOf(
      await ctx.config.authenticate(req, {
        client,
        scopes: pending.scopes,
        resource: pending.resource,
        redirectUri: pending.redirectUri,
        state: pending.state,
        codeChallenge: pending.codeChallenge,
      }),
    );
  } catch (e) {
    ctx.hookFailed("authenticate", e);
    return errorPage(500, "Sign-in failed", "The sign-in step failed. Please try again.");
  }
  if (who instanceof Response || who?.subject !== pending.subject) {
    return errorPage(
      403,
      "Invalid consent submission",
      "You are not signed in as the user this request was made for.",
    );
  }
  // Single use, approve or deny: the answer creates the grant under an id derived from the
  // form's nonce, only where none exists (compare-and-swap, atomic on the strong drivers); a
  // replayed answer finds it and is refused. A denial stores the same grant, revoked.
  const base = {
    subject: pending.subject,
    clientId: client.client_id,
    scopes: pending.scopes,
    resource: pending.resource,
  };
  if (decision === "deny") {
    const now = ctx.config.now();
    const denied: StoredGrant = {
      id: grantId,
      subject: pending.subject,
      clientId: client.client_id,
      scopes: pending.scopes,
      resources: [pending.resource],
      createdAt: now,
      expiresAt: pending.exp,
      revokedAt: now,
      revokedReason: "consent denied",
    };
    if (!(await storeNewGrant(ctx.store, denied, true))) return expired();
    ctx.emit({ type: "authorization.denied", ...base });
    return redirectWith(ctx, pending.redirectUri, {
      error: "access_denied",
      error_description: "the user denied the request",
      state: pending.state,
    });
  }
  const res = await grantAndRedirect(ctx, client, pending, who, { grantId, answered: expired });
  // Only the answer that created the grant (its redirect) is remembered: a refused one — a
  // replay, or an approval of a form already denied — must write nothing.
  if (res.status !== 302) return res;
  const policy = ctx.config.consent;
  if (policy !== undefined && policy !== "always" && rememberable(client, pending.redirectUri)) {
    await rememberApproval(
      ctx.store,
      {
        subject: pending.subject,
        clientId: client.client_id,
        resource: pending.resource,
        scopes: [...new Set([...(pending.approved ?? []), ...pending.scopes])],
      },
      ctx.config.now(),
      policy.rememberFor,
    );
  }
  return res;
}

/**
 * Create the grant (with the user's claims, its code, and sealed props) and redirect back with
 * the code. `consent`: the grant id derived from an answered consent form, written only where
 * absent — when it exists (the form was answered already) the response is `answered()`;
 * without it (a remembered consent) a random id. Order: the grant (carrying the code's hash)
 * together with the first-grant client update, then the props; the code leaves after all.
 */
export async function grantAndRedirect(
  ctx: Ctx,
  client: ClientRecord,
  pending: ConsentState,
  who: Identity,
  consent?: { grantId: string; answered: () => Response },
): Promise<Response> {
  const now = ctx.config.now();
  const grantExp = initialGrantExpiry(now, ctx.config);
  const claims = publicClaims(who.claims);
  const id = consent?.grantId ?? newGrantId();
  const { token: code, hash } = await newGrantToken(id);
  const grant: StoredGrant = {
    id,
    subject: pending.subject,
    clientId: client.client_id,
    scopes: pending.scopes,
    resources: [pending.resource],
    ...(claims ? { claims } : {}),
    createdAt: now,
    expiresAt: grantExp,
    code: {
      hash,
      exp: now + ctx.config.codeTtl * 1000,
      redirectUri: pending.redirectUri,
      redirectUriSent: pending.redirectUriSent,
      codeChallenge: pending.codeChallenge,
      scopes: pending.scopes,
      resource: pending.resource,
      ...(client.token_endpoint_auth_method === "none"
        ? { publicClient: { grantTypes: client.grant_types } }
        : {}),
    },
  };
  // The grant and the compare-and-swap making a new client permanent are independent writes,
  // run together: the client's is against the record read for this request (it never
  // resurrects a deleted client), and a losing replay finds the client permanent already.
  const [created] = await Promise.all([
    storeNewGrant(ctx.store, grant, consent !== undefined),
    markClientUsed(ctx, client),
  ]);
  if (!created) return consent!.answered();
  // Props (sealed, bound to the grant id) only once the grant is this request's: a replayed
  // answer must not overwrite the winner's. The code leaves after both.
  if (who.props) await ctx.props.write(grant.id, who.props, grantExp);
  ctx.emit({
    type: "authorization.granted",
    subject: pending.subject,
    clientId: client.client_id,
    scopes: pending.scopes,
    resource: pending.resource,
    grantId: grant.id,
  });
  return redirectWith(ctx, pending.redirectUri, { code, state: pending.state });
}

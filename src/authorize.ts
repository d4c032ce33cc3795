/**
 * `/authorize` (RFC 6749 §4.1, OAuth 2.1, RFC 7636 PKCE S256 only, RFC 8707
 * `resource`, RFC 9207 `iss`): validate, authenticate the user through the
 * app's hook, show consent, then redirect with a code or an error.
 *
 * @module
 */
import { OAuthError } from "./errors.ts";
import { errorPage, readForm, singleParams } from "./_http.ts";
import { PKCE_CHALLENGE, randomToken, sha256, timingSafeEqual } from "./_crypto.ts";
import { seal, unseal } from "./_seal.ts";
import { covers, findApproval, rememberable, rememberApproval } from "./approvals.ts";
import { redirectUriMatches } from "./clients.ts";
import { redirectHostOf, renderConsentPage } from "./consent_page.ts";
import type { ConsentPageContext } from "./consent_page.ts";
import { createGrant, initialGrantExpiry, issueCode } from "./grants.ts";
import { markClientUsed } from "./register.ts";
import type { Ctx } from "./_context.ts";
import type { AuthenticateResult } from "./config.ts";
import type { ClientRecord } from "./clients.ts";
import { displayText } from "./_display.ts";
import { publicClaims } from "./props.ts";

const CONSENT_TTL_MS = 10 * 60 * 1000;
/** Additional authenticated data of a sealed consent form (binds blobs to this purpose). */
const CONSENT_AAD = "gatehouse consent v1";
/** Largest `consent_id` accepted (a sealed {@link ConsentState}; ~1 KB in practice). */
const MAX_SEALED = 16 * 1024;

/**
 * A validated authorization request waiting for the user's decision. It is not stored: it
 * travels AES-GCM sealed (key derived from the signing key) in the consent form's `consent_id`
 * field, so showing the consent page writes nothing. Single use: the answer swaps a marker into
 * `["consent", nonce]` (an idempotent write), and only the submission that found no marker
 * goes on; every other one is refused. The user's `props` and `claims` are not in it: they come
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
  /** Random id of this form: the key of its single-use marker. */
  nonce: string;
  /** Expiry, epoch ms. */
  exp: number;
  /** Scopes of a live remembered approval for the same user/client/resource (merged on approve). */
  approved?: string[];
}

function redirectWith(
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

/**
 * Clients anyone could have created — dynamic registration (RFC 7591) or a Client ID Metadata
 * Document — as opposed to operator-configured ones. Their metadata is self-asserted.
 */
export function isSelfRegistered(client: ClientRecord): boolean {
  return client.source === "dcr" || client.source === "cimd";
}

interface Identity {
  subject: string;
  props?: Record<string, unknown>;
  claims?: Record<string, unknown>;
}

function identityOf(r: AuthenticateResult): Identity | Response | undefined {
  if (r instanceof Response) return r;
  if (typeof r === "string" && r) return { subject: r };
  if (typeof r === "object" && r !== null && typeof r.subject === "string" && r.subject) {
    const props = typeof r.props === "object" && r.props !== null ? r.props : undefined;
    return { subject: r.subject, props, claims: r.claims };
  }
  return undefined;
}

/** GET /authorize: validate the request and show the consent page (or the app's login response). */
export async function authorizeGet(ctx: Ctx, req: Request): Promise<Response> {
  const url = new URL(req.url);
  const resources = url.searchParams.getAll("resource");
  url.searchParams.delete("resource");
  let p: Map<string, string>;
  try {
    p = singleParams(url.searchParams);
  } catch (e) {
    return errorPage(400, "Invalid authorization request", (e as Error).message);
  }
  const clientId = p.get("client_id");
  if (!clientId) return errorPage(400, "Invalid authorization request", "client_id is missing.");
  const found = await ctx.resolveClient(clientId);
  if (!found.client) {
    return errorPage(400, "Unknown client", `This application was refused: ${found.problem}.`);
  }
  const client = found.client;
  let redirectUri = p.get("redirect_uri");
  const redirectUriSent = redirectUri !== undefined;
  if (redirectUri === undefined) {
    if (client.redirect_uris.length !== 1) {
      return errorPage(
        400,
        "Invalid authorization request",
        "redirect_uri is required for this client.",
      );
    }
    redirectUri = client.redirect_uris[0];
  } else if (!redirectUriMatches(client.redirect_uris, redirectUri)) {
    return errorPage(
      400,
      "Invalid redirect URI",
      "The redirect URI is not registered for this application.",
    );
  }
  // The redirect URI is registered, but for a self-registered client (open registration or a
  // metadata document) anyone could have registered it: until the user has signed in and acted
  // on the consent page, errors are an HTML page with at most a plain link to the client
  // (RFC 9700 §4.11.2), never an automatic redirect. Operator-configured clients get the
  // RFC 6749 §4.1.2.1 redirect.
  const state = p.get("state");
  const selfRegistered = isSelfRegistered(client);
  const fail = (error: string, description: string) => {
    const res = redirectWith(ctx, redirectUri!, { error, error_description: description, state });
    if (!selfRegistered) return res;
    return errorPage(400, "Invalid authorization request", description, {
      href: res.headers.get("location")!,
      host: redirectHostOf(redirectUri!),
    });
  };

  const responseType = p.get("response_type");
  if (!responseType) return fail("invalid_request", "response_type is required");
  if (responseType !== "code") {
    return fail("unsupported_response_type", 'only response_type "code" is supported');
  }
  if (!client.response_types.includes("code")) {
    return fail("unauthorized_client", "client may not use response_type code");
  }
  // Where the code goes and which parameters count are exact (README "Tolerance decisions").
  const responseMode = p.get("response_mode");
  if (responseMode !== undefined && responseMode !== "query") {
    return fail("invalid_request", 'response_mode: only "query" is supported');
  }
  if (p.has("request")) return fail("request_not_supported", "request objects are not supported");
  if (p.has("request_uri")) {
    return fail("request_uri_not_supported", "request_uri (PAR/JAR) is not supported");
  }
  const challenge = p.get("code_challenge");
  const method = p.get("code_challenge_method");
  if (!challenge) return fail("invalid_request", "PKCE code_challenge is required");
  if (method !== "S256") return fail("invalid_request", "code_challenge_method must be S256");
  if (!PKCE_CHALLENGE.test(challenge)) {
    return fail("invalid_request", "code_challenge is not a valid S256 challenge");
  }

  let resource: string;
  if (resources.length > 1) return fail("invalid_target", "request exactly one resource");
  if (resources.length === 0) {
    if (ctx.config.resources.length !== 1) return fail("invalid_target", "resource is required");
    resource = ctx.config.resources[0].resource;
  } else {
    const r = ctx.resource(resources[0]);
    if (!r) return fail("invalid_target", "resource is not served by this authorization server");
    resource = r.resource;
  }
  const res = ctx.resource(resource)!;
  // A client's registered `scope` (RFC 7591 §2) is deliberately not a ceiling: MCP clients
  // register with their first challenge's scope and later step up without registering again;
  // the user's consent is the gate.
  const allowed = res.scopes;
  // `offline_access` that is not a configured scope is ignored (MCP 2026-07-28 leaves it to
  // the server; refresh tokens are issued to every client registered for refresh_token).
  const requested = p.get("scope")?.split(" ").filter((s) =>
    s && (s !== "offline_access" || allowed.includes(s))
  );
  let scopes: string[];
  if (requested && requested.length) {
    const bad = requested.find((s) => !allowed.includes(s));
    if (bad) {
      return fail(
        "invalid_scope",
        `scope "${bad}" is not available to this client for this resource`,
      );
    }
    scopes = [...new Set(requested)];
  } else {
    const defaults = ctx.config.defaultScopes?.filter((s) => allowed.includes(s)) ?? allowed;
    if (!defaults.length) return fail("invalid_scope", "no scope available to this client");
    scopes = defaults;
  }

  let identity: Identity | Response | undefined;
  try {
    identity = identityOf(
      await ctx.config.authenticate(req, {
        client,
        scopes,
        resource,
        redirectUri,
        state,
        codeChallenge: challenge,
      }),
    );
  } catch (e) {
    ctx.hookFailed("authenticate", e);
    return errorPage(500, "Sign-in failed", "The sign-in step failed. Please try again.");
  }
  if (identity instanceof Response) return identity;
  if (!identity) return fail("access_denied", "the user could not be signed in");
  const who = identity.subject;

  const remember = ctx.config.consent !== undefined && ctx.config.consent !== "always" &&
    rememberable(client, redirectUri);
  const approval = remember
    ? await findApproval(ctx.store, who, client.client_id, resource)
    : undefined;
  const pending: ConsentState = {
    clientId: client.client_id,
    redirectUri,
    redirectUriSent,
    state,
    codeChallenge: challenge,
    scopes,
    resource,
    subject: who,
    csrfHash: "",
    nonce: randomToken(),
    exp: ctx.config.now() + CONSENT_TTL_MS,
    approved: approval?.scopes,
  };
  // Remembered consent: same user, client and resource, no wider scope.
  if (covers(approval, scopes)) return await grantAndRedirect(ctx, client, pending, identity);

  const csrf = randomToken();
  pending.csrfHash = await sha256(csrf);
  const consentId = await seal(await ctx.keys.sealKey("consent"), pending, CONSENT_AAD);
  const warnings: string[] = [];
  if (
    client.source === "cimd" &&
    client.redirect_uris.every((u) => /^http:\/\/(localhost|127\.0\.0\.1|\[::1\])[:/]/.test(u))
  ) {
    warnings.push(
      "This application only redirects to this computer (localhost). Make sure you started it yourself.",
    );
  }
  const page: ConsentPageContext = {
    action: ctx.endpoints.authorization,
    fields: { consent_id: consentId, csrf },
    subject: who,
    clientName: displayText(client.client_name ?? "") || displayText(client.client_id),
    clientId: client.client_id,
    selfRegistered,
    redirectHost: redirectHostOf(redirectUri),
    scopes,
    scopeDescriptions: ctx.config.scopeDescriptions ?? {},
    resource: { url: resource, name: res.name },
    warnings,
  };
  if (!ctx.config.renderConsent) return renderConsentPage(page);
  try {
    return await ctx.config.renderConsent(page);
  } catch (e) {
    ctx.hookFailed("renderConsent", e);
    return errorPage(
      500,
      "Something went wrong",
      "The consent page could not be shown. Please try again.",
    );
  }
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
  const client = await ctx.findClient(pending.clientId);
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
  // Single use, approve or deny: exactly one submission finds no marker (atomic `swap` on the
  // strong drivers). Re-writing the same marker is harmless, so losers change nothing.
  const used = await ctx.store.swap(["consent", pending.nonce], { used: true }, pending.exp);
  if (used !== undefined) return expired();
  const base = {
    subject: pending.subject,
    clientId: client.client_id,
    scopes: pending.scopes,
    resource: pending.resource,
  };
  if (decision === "deny") {
    ctx.emit({ type: "authorization.denied", ...base });
    return redirectWith(ctx, pending.redirectUri, {
      error: "access_denied",
      error_description: "the user denied the request",
      state: pending.state,
    });
  }
  const res = await grantAndRedirect(ctx, client, pending, who);
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

/** Create the grant (with the user's claims and sealed props), issue its code, redirect back. */
async function grantAndRedirect(
  ctx: Ctx,
  client: ClientRecord,
  pending: ConsentState,
  who: Identity,
): Promise<Response> {
  const now = ctx.config.now();
  const grantExp = initialGrantExpiry(now, ctx.config);
  const claims = publicClaims(who.claims);
  const grant = await createGrant(
    ctx.store,
    {
      subject: pending.subject,
      clientId: client.client_id,
      scopes: pending.scopes,
      resources: [pending.resource],
      ...(claims ? { claims } : {}),
    },
    now,
    grantExp,
  );
  // Props (sealed, bound to the grant id) before the code: no code without its props.
  if (who.props) await ctx.props.write(grant.id, who.props, grantExp);
  await markClientUsed(ctx, client);
  const code = await issueCode(ctx.store, {
    grantId: grant.id,
    clientId: client.client_id,
    redirectUri: pending.redirectUri,
    redirectUriSent: pending.redirectUriSent,
    codeChallenge: pending.codeChallenge,
    scopes: pending.scopes,
    resource: pending.resource,
    subject: pending.subject,
    ...(client.token_endpoint_auth_method === "none"
      ? { publicClient: { grantTypes: client.grant_types } }
      : {}),
  }, now + ctx.config.codeTtl * 1000);
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

/**
 * `/authorize` (RFC 6749 §4.1, OAuth 2.1, RFC 7636 PKCE S256 only, RFC 8707
 * `resource`, RFC 9207 `iss`): validate, authenticate the user through the
 * app's hook, show consent, then redirect with a code or an error. The consent state and
 * the POST (the user's answer) are in `authorize_consent.ts`.
 *
 * @module
 */
import { errorPage, singleParams } from "./_http.ts";
import { PKCE_CHALLENGE, randomToken, sha256 } from "./_crypto.ts";
import { seal } from "./_seal.ts";
import { covers, findApproval, rememberable } from "./approvals.ts";
import { redirectUriMatches } from "./clients.ts";
import { redirectHostOf, renderConsentPage } from "./consent_page.ts";
import type { ConsentPageContext } from "./consent_page.ts";
import type { Ctx } from "./_context.ts";
import type { ClientRecord } from "./clients.ts";
import { displayText } from "./_display.ts";
import {
  CONSENT_AAD,
  CONSENT_TTL_MS,
  type ConsentState,
  grantAndRedirect,
  type Identity,
  identityOf,
  redirectWith,
} from "./authorize_consent.ts";

export { authorizePost } from "./authorize_consent.ts";

/**
 * Clients anyone could have created — dynamic registration (RFC 7591) or a Client ID Metadata
 * Document — as opposed to operator-configured ones. Their metadata is self-asserted.
 */
export function isSelfRegistered(client: ClientRecord): boolean {
  return client.source === "dcr" || client.source === "cimd";
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

/**
 * The RFC 7591 registration endpoint with its storage guards: a policy, an
 * optional initial access token (§3) and software statement (§2.3) hook,
 * caps on metadata size, redirect-URI count and URI length, and expiry of
 * registered clients that never obtain a grant.
 *
 * @module
 */
import { jsonResponse, OAuthError } from "./errors.ts";
import { CORS, readJsonObject } from "./_http.ts";
import { publicClient, registerClient } from "./clients.ts";
import type { ClientRecord } from "./clients.ts";
import type { RegistrationPolicy } from "./config.ts";
import type { Ctx } from "./_context.ts";
import { SCHEMA_VERSION } from "../storage/mod.ts";

/**
 * Registration options (the object form of `registration`). Numbers are the
 * caps a registration request must stay within; see the README's
 * "Registration limits" for the defaults.
 */
export interface RegistrationOptions {
  /** `"open"` (default), `"closed"`, or a function deciding per request. */
  policy?: RegistrationPolicy;
  /**
   * RFC 7591 §3: require `Authorization: Bearer <initial access token>` on
   * /register; resolve true to accept. Missing/refused → 401 `invalid_token`.
   */
  initialAccessToken?: (token: string, req: Request) => boolean | Promise<boolean>;
  /**
   * RFC 7591 §2.3: require a `software_statement` and verify it (e.g. a JWT
   * signed by your vendor key). Return the statement's claims — they take
   * precedence over the plain metadata — or false to refuse
   * (`unapproved_software_statement`).
   */
  softwareStatement?: (
    statement: string,
    metadata: Record<string, unknown>,
    req: Request,
  ) =>
    | Record<string, unknown>
    | false
    | undefined
    | Promise<Record<string, unknown> | false | undefined>;
  /** Largest registration request (JSON), bytes. Default 8192. */
  maxMetadataBytes?: number;
  /** Most redirect URIs. Default 10. */
  maxRedirectUris?: number;
  /** Longest redirect URI / client_uri / logo_uri …, characters. Default 1024. */
  maxUriLength?: number;
  /** Most entries in contacts / grant_types / response_types. Default 10. */
  maxListEntries?: number;
  /** Seconds a registered client lives without obtaining a grant; 0 = forever. Default 86400. */
  unusedClientTtl?: number;
}

/** Default registration caps (documented in the README). */
export const REGISTRATION_DEFAULTS: {
  maxMetadataBytes: number;
  maxRedirectUris: number;
  maxUriLength: number;
  maxListEntries: number;
  unusedClientTtl: number;
} = {
  /** Largest registration request (the JSON metadata), bytes. */
  maxMetadataBytes: 8 * 1024,
  /** Most redirect URIs per client. */
  maxRedirectUris: 10,
  /** Longest redirect URI, client_uri, logo_uri, … in characters. */
  maxUriLength: 1024,
  /** Most entries in `contacts`, `grant_types`, `response_types`. */
  maxListEntries: 10,
  /** Seconds a registered client lives without obtaining a grant (0: forever). */
  unusedClientTtl: 86400,
};

/** The registration options after defaults. */
export function registrationOptions(
  r: RegistrationOptions | RegistrationOptions["policy"] | undefined,
): RegistrationOptions & typeof REGISTRATION_DEFAULTS {
  const o: RegistrationOptions = typeof r === "object" ? r : { policy: r };
  const out = { ...REGISTRATION_DEFAULTS } as RegistrationOptions & typeof REGISTRATION_DEFAULTS;
  for (const [k, v] of Object.entries(o)) {
    if (v !== undefined) (out as unknown as Record<string, unknown>)[k] = v;
  }
  return out;
}

const URI_FIELDS = ["client_uri", "logo_uri", "tos_uri", "policy_uri", "jwks_uri"];

/** Throws invalid_client_metadata / invalid_redirect_uri when `body` is over a cap. */
export function checkRegistrationCaps(
  body: Record<string, unknown>,
  o: typeof REGISTRATION_DEFAULTS,
): void {
  const size = new TextEncoder().encode(JSON.stringify(body)).byteLength;
  if (size > o.maxMetadataBytes) {
    throw new OAuthError(
      "invalid_client_metadata",
      `client metadata is larger than ${o.maxMetadataBytes} bytes`,
    );
  }
  const uris = body.redirect_uris;
  if (Array.isArray(uris)) {
    if (uris.length > o.maxRedirectUris) {
      throw new OAuthError(
        "invalid_redirect_uri",
        `at most ${o.maxRedirectUris} redirect URIs may be registered`,
      );
    }
    if (uris.some((u) => typeof u === "string" && u.length > o.maxUriLength)) {
      throw new OAuthError(
        "invalid_redirect_uri",
        `a redirect URI is longer than ${o.maxUriLength} characters`,
      );
    }
  }
  for (const f of URI_FIELDS) {
    const v = body[f];
    if (typeof v === "string" && v.length > o.maxUriLength) {
      throw new OAuthError("invalid_client_metadata", `${f} is longer than ${o.maxUriLength}`);
    }
  }
  for (const f of ["contacts", "grant_types", "response_types"]) {
    const v = body[f];
    if (Array.isArray(v) && v.length > o.maxListEntries) {
      throw new OAuthError("invalid_client_metadata", `${f} has more than ${o.maxListEntries}`);
    }
  }
}

async function checkInitialAccessToken(
  ctx: Ctx,
  o: RegistrationOptions,
  req: Request,
): Promise<void> {
  if (!o.initialAccessToken) return;
  const authz = req.headers.get("authorization") ?? "";
  const m = /^Bearer ([A-Za-z0-9\-._~+/]+=*)$/i.exec(authz);
  const challenge = (error?: string) => ({
    status: 401,
    headers: {
      "www-authenticate": error ? `Bearer error="${error}"` : "Bearer",
    },
  });
  if (!m) {
    throw new OAuthError("invalid_token", "an initial access token is required", challenge());
  }
  let ok = false;
  try {
    ok = await o.initialAccessToken(m[1], req);
  } catch (e) {
    ctx.hookFailed("registration.initialAccessToken", e);
  }
  if (!ok) {
    throw new OAuthError(
      "invalid_token",
      "the initial access token is invalid",
      challenge("invalid_token"),
    );
  }
}

async function applySoftwareStatement(
  ctx: Ctx,
  o: RegistrationOptions,
  body: Record<string, unknown>,
  req: Request,
): Promise<Record<string, unknown>> {
  if (!o.softwareStatement) return body;
  const st = body.software_statement;
  if (typeof st !== "string" || !st) {
    throw new OAuthError("invalid_software_statement", "a software_statement is required");
  }
  let claims: Record<string, unknown> | false | undefined;
  try {
    claims = await o.softwareStatement(st, body, req);
  } catch (e) {
    ctx.hookFailed("registration.softwareStatement", e);
    claims = undefined;
  }
  if (!claims) {
    throw new OAuthError("unapproved_software_statement", "the software_statement is not approved");
  }
  // RFC 7591 §2.3: values in the statement take precedence over plain metadata.
  const { software_statement: _s, ...rest } = body;
  return { ...rest, ...claims };
}

/** POST /register. */
export async function registerEndpoint(ctx: Ctx, req: Request): Promise<Response> {
  const o = registrationOptions(ctx.config.registration);
  const policy = o.policy ?? "open";
  if (policy === "closed") {
    throw new OAuthError("access_denied", "dynamic client registration is disabled", {
      status: 403,
    });
  }
  await checkInitialAccessToken(ctx, o, req);
  const raw = await readJsonObject(req, "invalid_client_metadata");
  checkRegistrationCaps(raw, o);
  const body = await applySoftwareStatement(ctx, o, raw, req);
  if (typeof policy === "function") {
    let allowed = false;
    try {
      allowed = await policy(body, req);
    } catch (e) {
      ctx.hookFailed("registration", e);
      allowed = false;
    }
    if (!allowed) {
      throw new OAuthError("access_denied", "registration refused by policy", { status: 403 });
    }
  }
  const now = ctx.config.now();
  const { record, secret } = await registerClient(ctx.store, body, ctx.config.scopes, now, {
    unusedTtl: o.unusedClientTtl,
  });
  ctx.emit({
    type: "client.registered",
    clientId: record.client_id,
    scopes: record.scope?.split(" "),
  });
  return jsonResponse(publicClient(record, secret), { status: 201, headers: CORS });
}

/**
 * After a client's first grant: drop its "unused" expiry so it stays
 * registered (it lives until an operator deletes it).
 */
export async function markClientUsed(ctx: Ctx, client: ClientRecord): Promise<void> {
  if (client.source !== "dcr" || client.unused_until === undefined) return;
  const key = ["client", client.client_id];
  const permanent = (c: ClientRecord): ClientRecord => {
    const { unused_until: _u, ...kept } = c;
    return kept;
  };
  // One compare-and-swap against the record as it was read for this request (its stored
  // form is known exactly): never resurrects a client deleted meanwhile, never
  // overwrites a changed one. Only on a mismatch, read and retry.
  const stored = { v: SCHEMA_VERSION, exp: client.unused_until * 1000, data: client };
  if (await ctx.store.compareAndSwap(key, stored, permanent(client), null)) return;
  await ctx.store.update<ClientRecord>(
    key,
    (current) =>
      current && current.unused_until !== undefined
        ? { data: permanent(current), exp: null }
        : undefined,
  );
}

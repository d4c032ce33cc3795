/**
 * Client metadata (RFC 7591 §2) as Gatehouse accepts it, from a registration
 * request or a Client ID Metadata Document: exact where security depends on
 * it (redirect URIs, client authentication, keys), tolerant where clients
 * differ and nothing is at stake (RFC 7591 §3.2.1 lets the server replace
 * requested values: unsupported grant and response types, unknown scopes and
 * informational fields are dropped from the effective metadata; unknown
 * fields are ignored). The README's "Tolerance decisions" table lists every
 * field.
 *
 * @module
 */
import * as z from "zod/mini";
import { OAuthError } from "./errors.ts";
import { redirectUriProblem } from "./redirect_uris.ts";
import { ASSERTION_ALGS } from "./_assertion_rules.ts";

/** Token endpoint authentication methods supported (RFC 7591 §2, RFC 7523 §2.2). */
export const AUTH_METHODS = [
  "none",
  "client_secret_basic",
  "client_secret_post",
  "private_key_jwt",
] as const;
/** One of {@link AUTH_METHODS}. */
export type AuthMethod = "none" | "client_secret_basic" | "client_secret_post" | "private_key_jwt";

export { ASSERTION_ALGS, JWT_BEARER_ASSERTION } from "./_assertion_rules.ts";

/** Grant types a client may use here; others are dropped from requested metadata. */
export const GRANT_TYPES = ["authorization_code", "refresh_token"] as const;

/** A public JWK set as registered for `private_key_jwt` (RFC 7517 §5). */
export interface ClientJwks {
  /** Public keys (RSA, EC or OKP; never private members). */
  keys: Record<string, unknown>[];
}

/** The metadata Gatehouse keeps for a client after applying its rules. */
export interface EffectiveMetadata {
  /** Redirect URIs, each checked by {@link redirectUriProblem}. */
  redirect_uris: string[];
  /** How the client authenticates at /token, /revoke, /introspect. */
  token_endpoint_auth_method: AuthMethod;
  /** Supported requested grant types; always includes `authorization_code`. */
  grant_types: string[];
  /** Always `["code"]`. */
  response_types: string[];
  /** Display name (≤ 200 characters). */
  client_name?: string;
  /** Home page (https only; dropped otherwise). */
  client_uri?: string;
  /** Logo (https only; dropped otherwise). */
  logo_uri?: string;
  /** Terms of service (https only; dropped otherwise). */
  tos_uri?: string;
  /** Privacy policy (https only; dropped otherwise). */
  policy_uri?: string;
  /** Requested scopes that this server knows, space-separated (informational, not a ceiling). */
  scope?: string;
  /** Contact addresses (strings ≤ 320 characters, at most 10). */
  contacts?: string[];
  /** Software identifier (≤ 200 characters). */
  software_id?: string;
  /** Software version (≤ 200 characters). */
  software_version?: string;
  /** Public keys for `private_key_jwt` (only kept with that method). */
  jwks?: ClientJwks;
  /** Where the public keys for `private_key_jwt` are published (https; only with that method). */
  jwks_uri?: string;
  /** The one algorithm the client's assertions must use, when it pinned one. */
  token_endpoint_auth_signing_alg?: string;
}

/** Where the metadata came from: a registration request or a metadata document. */
export type MetadataSource = "dcr" | "cimd";

// Every message names the rule (zod's own is a bare "Invalid input"); the field path is prefixed.
// Built on first use, not at module load: serving metadata never pays for it.
let shape: z.ZodMiniType<Requested> | undefined;
interface Requested {
  redirect_uris: string[];
  token_endpoint_auth_method?: string;
  grant_types?: string[];
  response_types?: string[];
  client_name?: string;
  scope?: string;
  token_endpoint_auth_signing_alg?: string;
}
function requestedShape(): z.ZodMiniType<Requested> {
  const text = (max: number) =>
    z.string(`must be a string of at most ${max} characters`).check(
      z.refine((v) => v.length <= max, `must be a string of at most ${max} characters`),
    );
  const strings = z.array(z.string("each entry must be a string"), "must be an array of strings");
  return z.object({
    redirect_uris: z.array(text(2000), "must be an array of URI strings").check(
      z.refine((v) => v.length >= 1, "must list at least one URI"),
    ),
    token_endpoint_auth_method: z.optional(z.string("must be a string")),
    grant_types: z.optional(strings),
    response_types: z.optional(strings),
    client_name: z.optional(text(200)),
    scope: z.optional(text(2000)),
    token_endpoint_auth_signing_alg: z.optional(z.string("must be a string")),
  });
}

const PRIVATE_JWK_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

const bad = (message: string) => new OAuthError("invalid_client_metadata", message);

/** An absolute https URL (informational fields): kept when valid, else dropped. */
function httpsUrl(v: unknown): string | undefined {
  if (typeof v !== "string" || v.length > 2000) return undefined;
  try {
    const u = new URL(v);
    return u.protocol === "https:" && u.hostname && !u.username && !u.password ? v : undefined;
  } catch {
    return undefined;
  }
}

const shortString = (v: unknown, max: number) =>
  typeof v === "string" && v.length > 0 && v.length <= max ? v : undefined;

function checkJwks(v: unknown): ClientJwks {
  if (typeof v !== "object" || v === null || !Array.isArray((v as ClientJwks).keys)) {
    throw bad("jwks must be a JWK Set object with a keys array (RFC 7517 §5)");
  }
  const keys = (v as ClientJwks).keys;
  if (keys.length < 1 || keys.length > 10) throw bad("jwks must hold between 1 and 10 keys");
  for (const k of keys) {
    if (typeof k !== "object" || k === null || !["RSA", "EC", "OKP"].includes(String(k.kty))) {
      throw bad("jwks: every key must be an RSA, EC or OKP public JWK");
    }
    if (PRIVATE_JWK_MEMBERS.some((m) => m in k)) {
      throw bad("jwks must contain public keys only (a private key member was found)");
    }
  }
  if (JSON.stringify(v).length > 16 * 1024) throw bad("jwks is larger than 16 KiB");
  return { keys };
}

/**
 * Apply Gatehouse's rules to requested client metadata and return the
 * effective metadata.
 *
 * @param raw the registration request body (RFC 7591 §3.1) or the fetched metadata document
 * @param options.scopes the server's `scopes_supported`; other requested scopes are dropped
 * @param options.source `"dcr"` (default auth method `client_secret_basic`, RFC 7591 §2) or
 *   `"cimd"` (default `none`; shared secrets impossible)
 * @throws {OAuthError} `invalid_redirect_uri` or `invalid_client_metadata`, naming the rule broken
 */
export function validateMetadata(
  raw: Record<string, unknown>,
  options: { scopes: string[]; source: MetadataSource },
): EffectiveMetadata {
  const parsed = (shape ??= requestedShape()).safeParse(raw);
  if (!parsed.success) {
    const i = parsed.error.issues[0];
    const field = i.path.join(".") || "metadata";
    const code = field.startsWith("redirect_uris")
      ? "invalid_redirect_uri"
      : "invalid_client_metadata";
    throw new OAuthError(code, `${field}: ${i.message}`);
  }
  const m = parsed.data;
  for (const uri of m.redirect_uris) {
    const p = redirectUriProblem(uri);
    if (p) {
      throw new OAuthError(
        "invalid_redirect_uri",
        `redirect URI ${JSON.stringify(uri.slice(0, 200))} ${p}`,
      );
    }
  }
  const usable = (x: unknown): x is AuthMethod =>
    (AUTH_METHODS as readonly unknown[]).includes(x) &&
    !(options.source === "cimd" && String(x).startsWith("client_secret"));
  let requested = m.token_endpoint_auth_method;
  // OpenID RP Metadata Choices: a client listing alternatives gets the first one we can use.
  const choices = raw.token_endpoint_auth_methods_supported;
  if (!usable(requested) && Array.isArray(choices)) requested = choices.find(usable) ?? requested;
  const method = (requested ??
    (options.source === "cimd" ? "none" : "client_secret_basic")) as AuthMethod;
  if (!AUTH_METHODS.includes(method)) {
    throw bad(
      `token_endpoint_auth_method "${String(method).slice(0, 64)}" is not supported (supported: ${
        AUTH_METHODS.join(", ")
      })`,
    );
  }
  if (options.source === "cimd" && method.startsWith("client_secret")) {
    throw bad(
      `a metadata document cannot use ${method}: no shared secret can be issued (use none or private_key_jwt)`,
    );
  }
  if (options.source === "cimd" && ("client_secret" in raw || "client_secret_expires_at" in raw)) {
    throw bad("a metadata document must not contain client_secret");
  }
  // RFC 7591 §3.2.1: the server may replace requested values. Unsupported ones are dropped.
  const grant_types = (m.grant_types ?? ["authorization_code"]).filter((g, i, all) =>
    (GRANT_TYPES as readonly string[]).includes(g) && all.indexOf(g) === i
  );
  if (!grant_types.includes("authorization_code")) {
    throw bad(
      `grant_types: none of the requested grant types is usable here; authorization_code is required (supported: ${
        GRANT_TYPES.join(", ")
      })`,
    );
  }
  const response_types = m.response_types ?? ["code"];
  if (!response_types.includes("code")) {
    throw bad('response_types: "code" is required (the only supported response type)');
  }
  const out: EffectiveMetadata = {
    redirect_uris: m.redirect_uris,
    token_endpoint_auth_method: method,
    grant_types,
    response_types: ["code"],
  };
  if (m.client_name !== undefined && m.client_name.trim()) out.client_name = m.client_name;
  for (const k of ["client_uri", "logo_uri", "tos_uri", "policy_uri"] as const) {
    const u = httpsUrl(raw[k]);
    if (u) out[k] = u;
  }
  if (m.scope !== undefined) {
    const known = [...new Set(m.scope.split(" ").filter((s) => options.scopes.includes(s)))];
    if (known.length) out.scope = known.join(" ");
  }
  if (Array.isArray(raw.contacts)) {
    const contacts = raw.contacts.map((c) => shortString(c, 320)).filter((c) => c !== undefined);
    if (contacts.length) out.contacts = contacts.slice(0, 10);
  }
  for (const k of ["software_id", "software_version"] as const) {
    const v = shortString(raw[k], 200);
    if (v) out[k] = v;
  }
  // Keys matter only to private_key_jwt; with any other method they are unused and dropped.
  if (method === "private_key_jwt") {
    if (raw.jwks !== undefined && raw.jwks_uri !== undefined) {
      throw bad("jwks and jwks_uri must not both be present (RFC 7591 §2)");
    }
    if (raw.jwks !== undefined) out.jwks = checkJwks(raw.jwks);
    else if (raw.jwks_uri !== undefined) {
      const u = httpsUrl(raw.jwks_uri);
      if (!u) throw bad("jwks_uri must be an absolute https URL");
      out.jwks_uri = u;
    } else throw bad("private_key_jwt requires jwks or jwks_uri (RFC 7523 §2.2)");
    const alg = m.token_endpoint_auth_signing_alg;
    if (alg !== undefined) {
      if (!(ASSERTION_ALGS as readonly string[]).includes(alg)) {
        throw bad(
          `token_endpoint_auth_signing_alg "${alg.slice(0, 32)}" is not supported (supported: ${
            ASSERTION_ALGS.join(", ")
          })`,
        );
      }
      out.token_endpoint_auth_signing_alg = alg;
    }
  }
  return out;
}

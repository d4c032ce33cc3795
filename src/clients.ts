/**
 * Clients: RFC 7591 dynamic registration, Client ID Metadata Documents,
 * redirect-URI rules, and client authentication at the token endpoints.
 *
 * @module
 */
import * as z from "zod/mini";
import { OAuthError } from "./errors.ts";
import { randomToken, sha256, timingSafeEqual } from "./_crypto.ts";
import { isLoopbackHost } from "./config.ts";
import type { Store } from "./_store.ts";

/** Token endpoint authentication methods supported. */
export const AUTH_METHODS = ["none", "client_secret_basic", "client_secret_post"] as const;
/** One of {@link AUTH_METHODS}. */
export type AuthMethod = "none" | "client_secret_basic" | "client_secret_post";

/** A client as stored (the secret only as a SHA-256 hash). */
export interface ClientRecord {
  /** The client identifier. */
  client_id: string;
  /** SHA-256 (base64url) of the client secret; absent for public clients. */
  client_secret_hash?: string;
  /** How the client authenticates at /token. */
  token_endpoint_auth_method: AuthMethod;
  /** Registered redirect URIs (exact match; loopback any port). */
  redirect_uris: string[];
  /** Grant types. */
  grant_types: string[];
  /** Response types. */
  response_types: string[];
  /** Display name. */
  client_name?: string;
  /** Home page. */
  client_uri?: string;
  /** Logo. */
  logo_uri?: string;
  /** Space-separated scopes the client may request (optional limit). */
  scope?: string;
  /** Contacts. */
  contacts?: string[];
  /** Software identifier. */
  software_id?: string;
  /** Software version. */
  software_version?: string;
  /** Epoch seconds of registration. */
  client_id_issued_at: number;
  /** Where the record came from. */
  source: "dcr" | "cimd";
  /** Epoch seconds after which a registered client that never obtained a grant is gone. */
  unused_until?: number;
}

const BLOCKED_SCHEMES = new Set([
  "javascript:",
  "data:",
  "vbscript:",
  "file:",
  "blob:",
  "about:",
  "ws:",
  "wss:",
  "ftp:",
]);

/**
 * Whether a redirect URI may be registered: https; http only on a loopback
 * host; or a private-use scheme (RFC 8252 §7.1). Never javascript:/data:, never a fragment.
 */
export function redirectUriProblem(uri: string): string | undefined {
  let u: URL;
  try {
    u = new URL(uri);
  } catch {
    return "is not an absolute URI";
  }
  if (uri.includes("#")) return "must not contain a fragment";
  if (BLOCKED_SCHEMES.has(u.protocol)) return `uses a forbidden scheme (${u.protocol})`;
  if (u.protocol === "http:" && !isLoopbackHost(u.hostname)) {
    return "must use https (http only on loopback hosts)";
  }
  if (u.protocol === "https:") return u.hostname ? undefined : "has no host";
  if (u.protocol === "http:") return undefined;
  if (!/^[a-z][a-z0-9+.-]*:$/.test(u.protocol)) return "has an invalid scheme";
  return undefined;
}

/** RFC 8252 §7.3: loopback redirects match with any port; everything else exactly. */
export function redirectUriMatches(registered: string[], requested: string): boolean {
  if (registered.includes(requested)) return true;
  let r: URL;
  try {
    r = new URL(requested);
  } catch {
    return false;
  }
  if (r.protocol !== "http:" || !isLoopbackHost(r.hostname) || requested.includes("#")) {
    return false;
  }
  return registered.some((reg) => {
    try {
      const g = new URL(reg);
      return g.protocol === "http:" && g.hostname === r.hostname && g.pathname === r.pathname &&
        g.search === r.search && !r.username && !r.password;
    } catch {
      return false;
    }
  });
}

const maxString = (n: number) => z.optional(z.string().check(z.maxLength(n)));
const metadataSchema = z.looseObject({
  redirect_uris: z.array(z.string()).check(
    z.minLength(1, "redirect_uris must list at least one URI"),
  ),
  token_endpoint_auth_method: z.optional(z.enum(AUTH_METHODS)),
  grant_types: z.optional(z.array(z.string())),
  response_types: z.optional(z.array(z.string())),
  client_name: maxString(200),
  // Self-asserted web-page/image URIs: https only; anything else is dropped (tolerance rule).
  client_uri: z.optional(z.unknown()),
  logo_uri: z.optional(z.unknown()),
  scope: maxString(1000),
  contacts: z.optional(z.array(z.string())),
  software_id: maxString(200),
  software_version: maxString(200),
});

/** An absolute https URL without credentials, else undefined (javascript:, data:, http: … dropped). */
function httpsOnly(v: unknown): string | undefined {
  if (typeof v !== "string" || v.length > 2000 || !URL.canParse(v)) return undefined;
  const u = new URL(v);
  return u.protocol === "https:" && u.hostname && !u.username && !u.password ? v : undefined;
}

/** Validate RFC 7591 client metadata; throws invalid_client_metadata / invalid_redirect_uri. */
export function validateMetadata(raw: Record<string, unknown>, scopesSupported: string[]) {
  const parsed = metadataSchema.safeParse(raw);
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
  const grant_types = m.grant_types ?? ["authorization_code"];
  const bad = grant_types.find((g) => g !== "authorization_code" && g !== "refresh_token");
  if (bad) {
    throw new OAuthError("invalid_client_metadata", `grant_types: unsupported grant type "${bad}"`);
  }
  if (!grant_types.includes("authorization_code")) {
    throw new OAuthError("invalid_client_metadata", "grant_types must include authorization_code");
  }
  const response_types = m.response_types ?? ["code"];
  if (response_types.some((r) => r !== "code")) {
    throw new OAuthError("invalid_client_metadata", 'response_types: only "code" is supported');
  }
  if (m.scope !== undefined) {
    const unknown = m.scope.split(" ").filter(Boolean).find((s) => !scopesSupported.includes(s));
    if (unknown) {
      throw new OAuthError("invalid_client_metadata", `scope: "${unknown}" is not supported`);
    }
  }
  return {
    ...m,
    client_uri: httpsOnly(m.client_uri),
    logo_uri: httpsOnly(m.logo_uri),
    grant_types,
    response_types,
    token_endpoint_auth_method: m.token_endpoint_auth_method ?? "client_secret_basic",
  };
}

/** Public (response) form of a client record, plus the secret when just issued. */
export function publicClient(c: ClientRecord, secret?: string): Record<string, unknown> {
  const { client_secret_hash: _h, source: _s, unused_until: _u, ...rest } = c;
  const out: Record<string, unknown> = { ...rest };
  if (secret) {
    out.client_secret = secret;
    out.client_secret_expires_at = 0;
  }
  return out;
}

/** Register a client from validated metadata; returns the record and (for confidential clients) the secret. */
export async function registerClient(
  store: Store,
  raw: Record<string, unknown>,
  scopesSupported: string[],
  nowMs: number,
  opts: { unusedTtl?: number } = {},
): Promise<{ record: ClientRecord; secret?: string }> {
  const m = validateMetadata(raw, scopesSupported);
  const secret = m.token_endpoint_auth_method === "none" ? undefined : randomToken();
  const record: ClientRecord = {
    client_id: randomToken(16),
    token_endpoint_auth_method: m.token_endpoint_auth_method,
    redirect_uris: m.redirect_uris,
    grant_types: m.grant_types,
    response_types: m.response_types,
    client_id_issued_at: Math.floor(nowMs / 1000),
    source: "dcr",
  };
  for (
    const k of [
      "client_name",
      "client_uri",
      "logo_uri",
      "scope",
      "contacts",
      "software_id",
      "software_version",
    ] as const
  ) {
    if (m[k] !== undefined) (record as unknown as Record<string, unknown>)[k] = m[k];
  }
  if (secret) record.client_secret_hash = await sha256(secret);
  // Never used → gone after unusedTtl seconds; the first grant makes it permanent.
  // The stored expiry is exactly unused_until (whole seconds), so the first grant can
  // compare-and-swap the record without reading it again.
  const exp = opts.unusedTtl ? Math.floor(nowMs / 1000 + opts.unusedTtl) * 1000 : null;
  if (exp !== null) record.unused_until = exp / 1000;
  await store.put(["client", record.client_id], record, exp);
  return { record, secret };
}

/** True when a client id is a Client ID Metadata Document URL (the rules: `clientIdUrlProblem`). */
export function isCimdClientId(id: string): boolean {
  if (!id.startsWith("https://")) return false;
  try {
    const u = new URL(id);
    // Only the parser's own form: it drops tab/CR/LF and rewrites case, ports and dot segments,
    // so any other spelling names a different URL than the one fetched.
    return u.href === id && u.pathname.length > 1 && !u.hash && !u.username && !u.password;
  } catch {
    return false;
  }
}

/**
 * Look up a client by id: a registered client, or — for an https URL id — the
 * Client ID Metadata Document `loadCimd` returns (undefined when CIMD is off).
 */
export async function findClient(
  store: Store,
  clientId: string,
  opts: { loadCimd?: (id: string) => Promise<ClientRecord | undefined> },
): Promise<ClientRecord | undefined> {
  if (clientId.length > 2048) return undefined;
  if (isCimdClientId(clientId)) {
    return opts.loadCimd ? await opts.loadCimd(clientId) : undefined;
  }
  // RFC 6749 A.1: client_id is VSCHAR. Bounding it keeps storage keys within
  // every driver's key-size limit (a 2 KiB id made Deno KV throw → 503).
  if (!/^[\x20-\x7E]{1,255}$/.test(clientId)) return undefined;
  return await store.get<ClientRecord>(["client", clientId]);
}

function decodeBasic(header: string): { id: string; secret: string } {
  const b64 = header.slice(6).trim();
  let decoded: string;
  try {
    decoded = new TextDecoder("utf-8", { fatal: true }).decode(
      Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)),
    );
  } catch {
    throw new OAuthError("invalid_client", "malformed Basic credentials", {
      headers: { "www-authenticate": 'Basic realm="token"' },
    });
  }
  const i = decoded.indexOf(":");
  if (i < 0) {
    throw new OAuthError("invalid_client", "malformed Basic credentials", {
      headers: { "www-authenticate": 'Basic realm="token"' },
    });
  }
  try {
    // RFC 6749 §2.3.1: form-urlencoded before base64.
    return {
      id: decodeURIComponent(decoded.slice(0, i).replace(/\+/g, " ")),
      secret: decodeURIComponent(decoded.slice(i + 1).replace(/\+/g, " ")),
    };
  } catch {
    return { id: decoded.slice(0, i), secret: decoded.slice(i + 1) };
  }
}

/**
 * Authenticate the caller of /token, /revoke, /introspect per the client's
 * registered method. Exactly one method may be used. Returns the client.
 */
export async function authenticateClient(
  req: Request,
  params: Map<string, string>,
  lookup: (id: string) => Promise<ClientRecord | undefined>,
): Promise<ClientRecord> {
  const authz = req.headers.get("authorization");
  const basic = authz !== null && /^basic /i.test(authz) ? decodeBasic(authz) : undefined;
  if (authz !== null && !basic) {
    throw new OAuthError("invalid_client", "unsupported Authorization scheme", {
      headers: { "www-authenticate": 'Basic realm="token"' },
    });
  }
  const bodySecret = params.get("client_secret");
  if (basic && bodySecret !== undefined) {
    throw new OAuthError("invalid_request", "use only one client authentication method");
  }
  const bodyId = params.get("client_id");
  if (basic && bodyId !== undefined && bodyId !== basic.id) {
    throw new OAuthError("invalid_request", "client_id does not match the Basic credentials");
  }
  const id = basic?.id ?? bodyId;
  const fail = (msg: string) =>
    new OAuthError("invalid_client", msg, {
      headers: basic ? { "www-authenticate": 'Basic realm="token"' } : {},
    });
  if (!id) throw fail("client authentication required");
  const client = await lookup(id);
  if (!client) throw fail("client authentication failed");
  const method = basic
    ? "client_secret_basic"
    : bodySecret !== undefined
    ? "client_secret_post"
    : "none";
  if (method !== client.token_endpoint_auth_method) throw fail("client authentication failed");
  if (method !== "none") {
    const presented = await sha256((basic?.secret ?? bodySecret)!);
    if (!client.client_secret_hash || !timingSafeEqual(presented, client.client_secret_hash)) {
      throw fail("client authentication failed");
    }
  }
  return client;
}

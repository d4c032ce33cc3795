/**
 * Clients: RFC 7591 dynamic registration, Client ID Metadata Documents and
 * client lookup. Metadata rules live in `client_metadata.ts`, redirect-URI
 * rules in `redirect_uris.ts`, client authentication in `client_auth.ts`.
 *
 * @module
 */
import { randomToken, sha256 } from "./_crypto.ts";
import { validateMetadata } from "./client_metadata.ts";
import type { EffectiveMetadata } from "./client_metadata.ts";
import type { Store } from "./_store.ts";

export { AUTH_METHODS, validateMetadata } from "./client_metadata.ts";
export type { AuthMethod, ClientJwks, EffectiveMetadata } from "./client_metadata.ts";
export { redirectUriMatches, redirectUriProblem } from "./redirect_uris.ts";
export { authenticateClient } from "./client_auth.ts";

/**
 * A client as stored (the secret only as a SHA-256 hash): its effective metadata (what remains
 * after the rules of `client_metadata.ts`) plus what the server assigns.
 */
export interface ClientRecord extends EffectiveMetadata {
  /** The client identifier. */
  client_id: string;
  /** SHA-256 (base64url) of the client secret; absent for public clients. */
  client_secret_hash?: string;
  /** Epoch seconds of registration. */
  client_id_issued_at: number;
  /** Where the record came from. */
  source: "dcr" | "cimd";
  /** Epoch seconds after which a registered client that never obtained a grant is gone. */
  unused_until?: number;
}

/** The outcome of looking a client up: the client, or the rule it broke (safe to show). */
export type ClientLookup =
  | { client: ClientRecord; problem?: undefined }
  | { client?: undefined; problem: string };

function recordOf(
  m: EffectiveMetadata,
  clientId: string,
  source: "dcr" | "cimd",
  nowMs: number,
): ClientRecord {
  return { client_id: clientId, ...m, client_id_issued_at: Math.floor(nowMs / 1000), source };
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

/**
 * Register a client (RFC 7591 §3.1) from requested metadata after applying
 * {@link validateMetadata}; returns the record (its effective metadata is
 * what the 201 response shows) and, for secret-based methods, the secret.
 *
 * @throws {OAuthError} invalid_client_metadata / invalid_redirect_uri naming the rule broken
 */
export async function registerClient(
  store: Store,
  raw: Record<string, unknown>,
  scopesSupported: string[],
  nowMs: number,
  opts: { unusedTtl?: number } = {},
): Promise<{ record: ClientRecord; secret?: string }> {
  const m = validateMetadata(raw, { scopes: scopesSupported, source: "dcr" });
  const secret = m.token_endpoint_auth_method.startsWith("client_secret")
    ? randomToken()
    : undefined;
  const record = recordOf(m, randomToken(16), "dcr", nowMs);
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

/** Build the stored record of a metadata-document client from its effective metadata. */
export function cimdRecord(m: EffectiveMetadata, clientId: string, nowMs: number): ClientRecord {
  return recordOf(m, clientId, "cimd", nowMs);
}

/** Options for {@link resolveClient}. */
export interface ClientLookupOptions {
  /** Loads a metadata-document client (absent: such ids are refused). */
  loadCimd?: (id: string) => Promise<ClientLookup>;
}

/**
 * Look up a client by id: a registered client, or — for an https URL id — the
 * Client ID Metadata Document `loadCimd` returns. The client, or the rule it broke.
 */
export async function resolveClient(
  store: Store,
  clientId: string,
  opts: ClientLookupOptions,
): Promise<ClientLookup> {
  if (clientId.length > 2048) return { problem: "client_id is longer than 2048 characters" };
  // Any https id is a metadata-document URL: one the URL rules refuse gets that rule named by
  // `loadCimd` (e.g. "must have a path component"), not "no client is registered".
  if (clientId.startsWith("https://")) {
    return opts.loadCimd
      ? await opts.loadCimd(clientId)
      : { problem: "this server does not accept client metadata documents (URL client ids)" };
  }
  // RFC 6749 A.1: client_id is VSCHAR. Bounding it keeps storage keys within
  // every driver's key-size limit (a 2 KiB id made Deno KV throw → 503).
  if (!/^[\x20-\x7E]{1,255}$/.test(clientId)) {
    return { problem: "client_id is not a registered id (1–255 visible ASCII characters)" };
  }
  const client = await store.get<ClientRecord>(["client", clientId]);
  return client
    ? { client }
    : { problem: "no client is registered with this client_id (register it, or it was removed)" };
}

/** Look up a client by id; undefined when refused (see {@link resolveClient} for why). */
export async function findClient(
  store: Store,
  clientId: string,
  opts: ClientLookupOptions,
): Promise<ClientRecord | undefined> {
  return (await resolveClient(store, clientId, opts)).client;
}

/**
 * Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document,
 * MCP 2025-11-25): a client identifies itself with an https URL; the server
 * fetches the JSON document at that URL (SSRF-safe, bounded, one deadline) and
 * uses it as the client's metadata.
 *
 * @module
 */
import { sha256 } from "./_crypto.ts";
import { cacheSeconds } from "./_assertion_rules.ts";
import { cimdRecord } from "./clients.ts";
import type { ClientLookup, ClientRecord } from "./clients.ts";
import { validateMetadata } from "./client_metadata.ts";
import { OAuthError } from "./errors.ts";
import { fetchOutbound, OutboundError } from "./_outbound.ts";
import type { OutboundConfig } from "./_outbound.ts";
import type { Store } from "./_store.ts";

/** Largest metadata document read, in bytes; the read is abandoned past it. */
export const MAX_CIMD_BYTES = 16 * 1024;
/** How long a failed document fetch is remembered (ms), so one bad URL can't be hammered. */
export const CIMD_FAILURE_TTL_MS = 60_000;
/** Longest client id URL considered, in characters. */
export const MAX_CIMD_URL = 2048;

/**
 * Why `id` is not a valid client identifier URL under the draft's §3
 * ("Client Identifier"), or undefined when it is: https scheme; a path
 * component beyond "/"; no fragment (not even an empty one); no
 * username/password; no single-dot or double-dot path segments (also
 * percent-encoded); and — stricter than the draft, so the id compared with the
 * document's `client_id` is the URL fetched — already in WHATWG-normalised form
 * (lowercase host, no default port, no backslashes or whitespace). A query is
 * allowed (the draft says SHOULD NOT, not MUST NOT); a port is allowed by the
 * draft but fetched only when the operator allow-lists it.
 */
export function clientIdUrlProblem(id: string): string | undefined {
  if (id.length > MAX_CIMD_URL) return "is too long";
  if (!id.startsWith("https://")) return "must use the https scheme";
  if (id.includes("#")) return "must not contain a fragment";
  let u: URL;
  try {
    u = new URL(id);
  } catch {
    return "is not a URL";
  }
  if (u.username || u.password || /^https:\/\/[^/?]*@/.test(id)) {
    return "must not contain a username or password";
  }
  const rawPath = id.slice(8).replace(/^[^/?]*/, "").split("?")[0];
  if (rawPath.split("/").some((seg) => /^(\.|%2e){1,2}$/i.test(seg))) {
    return "must not contain dot segments";
  }
  if (u.pathname.length <= 1) return "must have a path component";
  if (u.href !== id) return "must be in normalised form";
  return undefined;
}

interface Failure {
  failed: string;
}

/** Options for {@link loadCimdClient}. */
export interface LoadCimdOptions {
  /** Operator fetch (replaces the pinned transport). */
  fetch?: typeof fetch;
  /** Operator outbound settings (allow-list, CA, deadline). */
  outbound?: OutboundConfig;
  /** scopes_supported. */
  scopes: string[];
  /** Epoch ms. */
  now: number;
  /** Called with the reason when a document is refused (fresh failures only). */
  onFailure?: (clientId: string, reason: string) => void;
}

/**
 * Fetch and validate a Client ID Metadata Document, with the caching its
 * Cache-Control allows (bounded 1 min … 1 day). A refused URL or document is
 * remembered for {@link CIMD_FAILURE_TTL_MS}. The document's metadata goes
 * through the same rules as a registration (`validateMetadata`, source
 * "cimd": default method `none`, shared secrets refused, `private_key_jwt`
 * with `jwks`/`jwks_uri` accepted). Returns the client, or the rule broken
 * (safe to show): callers answer `invalid_client` (API) or an error page
 * (browser), never a 5xx.
 */
export async function loadCimdClient(
  store: Store,
  clientId: string,
  opts: LoadCimdOptions,
): Promise<ClientLookup> {
  const urlProblem = clientIdUrlProblem(clientId);
  if (urlProblem) return { problem: `the client id URL ${urlProblem}` };
  const cacheKey = ["cimd", await sha256(clientId)];
  const cached = await store.get<ClientRecord | Failure>(cacheKey);
  if (cached) {
    return "failed" in cached
      ? { problem: `the client metadata document was refused: ${cached.failed}` }
      : { client: cached };
  }
  let reason: string;
  let record: ClientRecord | undefined;
  let ttlMs = CIMD_FAILURE_TTL_MS;
  try {
    const res = await fetchOutbound(clientId, {
      fetch: opts.fetch,
      config: opts.outbound,
      maxBytes: MAX_CIMD_BYTES,
      accept: "application/json",
      contentTypes: ["application/json"],
    });
    const made = toRecord(clientId, res.body, opts);
    record = made.client;
    reason = made.problem ?? "";
    ttlMs = cacheSeconds(res.headers.get("cache-control") ?? "", 60, 86400) * 1000;
  } catch (e) {
    reason = e instanceof OutboundError ? `${e.reason}: ${e.message}` : "invalid document";
  }
  if (record) {
    await store.put(cacheKey, record, opts.now + ttlMs);
    return { client: record };
  }
  await store.put(cacheKey, { failed: reason } satisfies Failure, opts.now + ttlMs);
  opts.onFailure?.(clientId, reason);
  return { problem: `the client metadata document was refused: ${reason}` };
}

function toRecord(
  clientId: string,
  bytes: Uint8Array,
  opts: LoadCimdOptions,
): { client?: ClientRecord; problem?: string } {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    return { problem: "it is not valid JSON" };
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) {
    return { problem: "it is not a JSON object" };
  }
  // The document names itself exactly; no shared secret can exist for it.
  if (doc.client_id !== clientId) return { problem: "its client_id is not exactly its URL" };
  if (typeof doc.client_name !== "string" || !doc.client_name.trim()) {
    return { problem: "it has no client_name" };
  }
  try {
    const m = validateMetadata(doc, { scopes: opts.scopes, source: "cimd" });
    return { client: cimdRecord(m, clientId, opts.now) };
  } catch (e) {
    if (!(e instanceof OAuthError)) throw e;
    return { problem: e.message };
  }
}

/**
 * Remembered consent: a user's approval of one client for one resource and a set of scopes,
 * kept so the consent page is not shown again for the same or fewer scopes until it expires
 * or is revoked (config `consent`, admin `listApprovals` / `revokeApprovals`).
 *
 * Stored at `["approval", subject, sha256(JSON [clientId, resource])]`: a client id may be a
 * 2 KB metadata-document URL, more than some backends take in a key (Deno KV: 2 KiB).
 *
 * @module
 */
import type { Store } from "./_store.ts";
import type { ClientRecord } from "./clients.ts";
import { isLoopbackHost } from "./_hosts.ts";
import { sha256 } from "./_crypto.ts";

/** A remembered approval. Times are epoch milliseconds. */
export interface ApprovalRecord {
  /** The user who approved. */
  subject: string;
  /** The client approved. */
  clientId: string;
  /** The resource (RFC 8707) approved. */
  resource: string;
  /** Scopes approved; a request for any scope outside this set shows the consent page. */
  scopes: string[];
  /** When it was (last) approved. */
  createdAt: number;
  /** When it stops counting. */
  expiresAt: number;
}

/** Filter for {@link revokeApprovals}. */
export interface ApprovalFilter {
  /** Only this user's approvals. */
  subject?: string;
  /** Only approvals of this client. */
  clientId?: string;
  /** Only approvals for this resource. */
  resource?: string;
}

const key = async (subject: string, clientId: string, resource: string) => [
  "approval",
  subject,
  await sha256(JSON.stringify([clientId, resource])),
];

/**
 * Whether consent may be remembered for `client` redirecting to `redirectUri`: never for a
 * public client (`token_endpoint_auth_method: "none"`) unless the redirect is https, since any
 * local program can receive a loopback or private-use-scheme redirect with its own PKCE pair
 * (RFC 8252 §8.6, RFC 6749 §10.2); never for a Client ID Metadata Document client whose
 * redirect URIs are all on loopback (anyone can publish a document claiming such a client).
 */
export function rememberable(client: ClientRecord, redirectUri: string): boolean {
  if (client.token_endpoint_auth_method === "none" && !redirectUri.startsWith("https://")) {
    return false;
  }
  if (client.source !== "cimd") return true;
  return !client.redirect_uris.every((u) => {
    try {
      const url = new URL(u);
      return url.protocol === "http:" && isLoopbackHost(url.hostname);
    } catch {
      return false;
    }
  });
}

/** The live approval for this user, client and resource, if any. */
export async function findApproval(
  store: Store,
  subject: string,
  clientId: string,
  resource: string,
): Promise<ApprovalRecord | undefined> {
  return await store.get<ApprovalRecord>(await key(subject, clientId, resource));
}

/** True when `approval` covers every scope in `scopes` (never a wider scope). */
export function covers(approval: ApprovalRecord | undefined, scopes: string[]): boolean {
  return approval !== undefined && scopes.every((s) => approval.scopes.includes(s));
}

/** Record an approval for `rememberFor` seconds from `now`. */
export async function rememberApproval(
  store: Store,
  a: Omit<ApprovalRecord, "createdAt" | "expiresAt">,
  now: number,
  rememberFor: number,
): Promise<void> {
  const rec: ApprovalRecord = { ...a, createdAt: now, expiresAt: now + rememberFor * 1000 };
  await store.put(await key(a.subject, a.clientId, a.resource), rec, rec.expiresAt);
}

/** Live approvals, optionally only one user's (one prefix scan). */
export async function listApprovals(store: Store, subject?: string): Promise<ApprovalRecord[]> {
  const entries = await store.list<ApprovalRecord>(
    subject === undefined ? ["approval"] : ["approval", subject],
  );
  return entries.map((e) => e.data);
}

/** Delete every live approval matching `filter`; returns how many. */
export async function revokeApprovals(store: Store, filter: ApprovalFilter): Promise<number> {
  let n = 0;
  for (const a of await listApprovals(store, filter.subject)) {
    if (filter.clientId !== undefined && a.clientId !== filter.clientId) continue;
    if (filter.resource !== undefined && a.resource !== filter.resource) continue;
    await store.delete(await key(a.subject, a.clientId, a.resource));
    n++;
  }
  return n;
}

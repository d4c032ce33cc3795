/**
 * The operator API of `createAuthServer` (`auth.admin`): list and revoke clients, grants and
 * remembered consents. Every grant revocation goes through the server's one revoke-and-report
 * function, so refresh tokens die, props are dropped and the audit event is emitted.
 *
 * @module
 */
import { type ClientRecord, publicClient } from "./clients.ts";
import type { EventSink } from "./events.ts";
import type { GrantRecord } from "./grants.ts";
import { publicGrant } from "./grants.ts";
import { listApprovals, revokeApprovals } from "./approvals.ts";
import type { ApprovalFilter, ApprovalRecord } from "./approvals.ts";
import type { Store } from "./_store.ts";

/** Filter for the admin grant listing and bulk revocation. */
export interface GrantFilter {
  /** Only this client's grants. */
  clientId?: string;
  /** Only this user's grants. */
  subject?: string;
  /** Include revoked grants in listings (default false). */
  includeRevoked?: boolean;
}

/** Operator API: list and revoke clients and grants. */
export interface AdminApi {
  /** All registered clients (public metadata only, never secrets). */
  listClients(): Promise<Record<string, unknown>[]>;
  /** One registered client, or undefined. */
  getClient(clientId: string): Promise<Record<string, unknown> | undefined>;
  /** Delete a registered client and revoke all its grants. Returns false if unknown. */
  revokeClient(clientId: string): Promise<boolean>;
  /** Grants, optionally filtered by client and/or user. */
  listGrants(filter?: GrantFilter): Promise<GrantRecord[]>;
  /** Revoke one grant (its refresh tokens die; access tokens fail strict verification). */
  revokeGrant(grantId: string): Promise<boolean>;
  /** Revoke every active grant matching the filter; returns how many. */
  revokeGrants(filter: GrantFilter): Promise<number>;
  /** A user's remembered consents (config `consent: { rememberFor }`), or everyone's. */
  listApprovals(subject?: string): Promise<ApprovalRecord[]>;
  /**
   * Forget remembered consents matching the filter (the next authorization shows the consent
   * page again); returns how many. Grants already issued are not touched: revoke them with
   * {@link AdminApi.revokeGrants}.
   */
  revokeApprovals(filter: ApprovalFilter): Promise<number>;
}

/** Revokes one grant and emits its audit event: the grant as it was, or undefined if none was written. */
export type RevokeAndReport = (grantId: string, reason: string) => Promise<GrantRecord | undefined>;

/** The admin API over `store`; `events` receives `client.revoked`. */
export function createAdminApi(
  store: Store,
  events: EventSink,
  revokeAndReport: RevokeAndReport,
): AdminApi {
  async function grants(filter: GrantFilter = {}): Promise<GrantRecord[]> {
    const all = await store.list<GrantRecord>(["grant"]);
    return all.map((e) => publicGrant(e.data)).filter((g) =>
      (filter.clientId === undefined || g.clientId === filter.clientId) &&
      (filter.subject === undefined || g.subject === filter.subject) &&
      (filter.includeRevoked || !g.revokedAt)
    );
  }
  const adminRevoke = async (grantId: string, reason: string): Promise<boolean> =>
    (await revokeAndReport(grantId, reason)) !== undefined;
  return {
    async listClients() {
      return (await store.list<ClientRecord>(["client"])).map((e) => publicClient(e.data));
    },
    async getClient(id) {
      const c = await store.get<ClientRecord>(["client", id]);
      return c && publicClient(c);
    },
    async revokeClient(id) {
      const c = await store.get<ClientRecord>(["client", id]);
      for (const g of await grants({ clientId: id })) {
        await adminRevoke(g.id, "client revoked by admin");
      }
      await revokeApprovals(store, { clientId: id });
      if (!c) return false;
      await store.delete(["client", id]);
      events.emit({ type: "client.revoked", clientId: id }, "admin.revokeClient");
      return true;
    },
    listGrants: grants,
    listApprovals: (subject) => listApprovals(store, subject),
    revokeApprovals: (filter) => revokeApprovals(store, filter),
    revokeGrant: (id) => adminRevoke(id, "revoked by admin"),
    async revokeGrants(filter) {
      let n = 0;
      for (const g of await grants({ ...filter, includeRevoked: false })) {
        if (await adminRevoke(g.id, "revoked by admin")) n++;
      }
      return n;
    },
  };
}

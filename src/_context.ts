/** What every endpoint handler receives (internal). */
import type { ResolvedConfig, Resource } from "./config.ts";
import type { Store } from "./_store.ts";
import type { KeySet } from "./keys.ts";
import type { AuditEvent } from "./events.ts";
import type { ClientLookup, ClientRecord } from "./clients.ts";
import type { GrantRecord } from "./grants.ts";
import type { GrantProps } from "./props.ts";
import type { FetchOutboundOptions, OutboundResponse } from "./_outbound.ts";

/** Shared server state. */
export interface Ctx {
  config: ResolvedConfig;
  store: Store;
  keys: KeySet;
  /** Absolute endpoint URLs. */
  endpoints: {
    authorization: string;
    token: string;
    registration: string;
    revocation: string;
    introspection: string;
    jwks: string;
  };
  emit(event: Omit<AuditEvent, "at">): void;
  /** The endpoint path being served (for `error` events). */
  endpoint: string;
  /** Report an app hook that threw (`error` event + console unless quiet); never throws. */
  hookFailed(hook: string, error: unknown): void;
  /** The caller's IP for this request (`clientIp` config or the default extractor), if known. */
  clientIp?(): string | undefined;
  /** Revoke a grant and report it (`grant.revoked`, or `token.revoked` for RFC 7009); returns it if it was active. */
  revoke(
    grantId: string,
    reason: string,
    type?: "grant.revoked" | "token.revoked",
  ): Promise<GrantRecord | undefined>;
  findClient(id: string): Promise<ClientRecord | undefined>;
  /** Grant props, sealed at rest. */
  props: GrantProps;
  /** After a successful downstream refresh of `grant` (props upkeep, `refreshProps` hook). */
  refreshed?(grant: GrantRecord): Promise<void>;
  /**
   * SSRF-safe bounded GET for URLs outsiders chose (a client's `jwks_uri`):
   * the operator's `fetch`/`outbound` settings, port 443, checked and pinned
   * addresses, no redirects, one deadline. Throws `OutboundError`.
   */
  fetchOutbound(url: string, opts: FetchOutboundOptions): Promise<OutboundResponse>;
  /**
   * Per-client rate limit: endpoints that learn the client without a lookup
   * (a public client's recorded snapshot at /token) call this; a lookup through
   * `findClient` counts too, once per request. Throws the 429 carrier when over.
   */
  clientIdentified?(clientId: string): Promise<void>;
  /** The client, or the rule it broke (safe to show). */
  resolveClient(id: string): Promise<ClientLookup>;
  resource(id: string): Resource | undefined;
}

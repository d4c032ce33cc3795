/** What every endpoint handler receives (internal). */
import type { ResolvedConfig, Resource } from "./config.ts";
import type { Store } from "./_store.ts";
import type { KeySet } from "./keys.ts";
import type { AuditEvent } from "./events.ts";
import type { ClientRecord } from "./clients.ts";

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
  findClient(id: string): Promise<ClientRecord | undefined>;
  resource(id: string): Resource | undefined;
}

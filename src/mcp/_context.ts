/**
 * Per-request state shared between `protectMcp` and the tool wrappers (internal), keyed by the
 * `AuthInfo` object protectMcp hands to the SDK.
 *
 * @module
 */
import type { AuthInfo } from "@modelcontextprotocol/sdk/server/auth/types";

/** What protectMcp knows about one authenticated request. */
export interface RequestContext {
  /** Scope check honouring the verifier's hierarchy. */
  missing(granted: readonly string[], required: readonly string[]): string[];
  /** Scopes a tool asked for during the request (turned into a 403 step-up challenge). */
  stepUp: Set<string>;
  /**
   * Tool calls already counted against the rate limits at the HTTP layer: tool name → calls
   * counted and not yet run (each call in a JSON-RPC batch is counted once).
   */
  counted: Map<string, number>;
}

/** AuthInfo → its request context. */
export const contexts: WeakMap<AuthInfo, RequestContext> = new WeakMap();

/** Subject / client / grant from an AuthInfo built by `toAuthInfo` (or any SDK AuthInfo). */
export function principalOf(
  authInfo: AuthInfo,
): { subject: string; clientId: string; grantId: string | undefined } {
  const extra = (authInfo.extra ?? {}) as Record<string, unknown>;
  const subject = typeof extra.subject === "string" ? extra.subject : "";
  const grantId = typeof extra.grantId === "string" ? extra.grantId : undefined;
  return { subject, clientId: authInfo.clientId, grantId };
}

/**
 * Audit events delivered to the `onEvent` hook.
 *
 * @module
 */

/** Kinds of audit event. */
export type AuditEventType =
  | "client.registered"
  | "client.revoked"
  | "authorization.granted"
  | "authorization.denied"
  | "token.issued"
  | "token.refreshed"
  | "token.revoked"
  | "grant.revoked"
  | "refresh.reuse_detected"
  | "code.replay_detected";

/** One audit event: what happened, to whom, through which client, when. */
export interface AuditEvent {
  /** What happened. */
  type: AuditEventType;
  /** When, epoch milliseconds. */
  at: number;
  /** The end user, when known. */
  subject?: string;
  /** The client, when known. */
  clientId?: string;
  /** Scopes involved. */
  scopes?: string[];
  /** Resource involved. */
  resource?: string;
  /** Grant involved. */
  grantId?: string;
  /** Free-form reason (never a secret). */
  reason?: string;
}

/** Deliver an event; a throwing or rejecting hook never affects the request. */
export function emit(
  hook: ((e: AuditEvent) => void | Promise<void>) | undefined,
  event: AuditEvent,
): void {
  if (!hook) return;
  try {
    const r = hook(event);
    if (r && typeof (r as Promise<void>).catch === "function") (r as Promise<void>).catch(() => {});
  } catch {
    // A broken audit hook must not break the request.
  }
}

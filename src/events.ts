/**
 * Audit events delivered to the `onEvent` hook, and the one reporter every
 * app hook failure goes through (`error` events + console).
 *
 * @module
 */

/** Kinds of audit event. `error` reports an app hook (or the server itself) failing. */
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
  | "code.replay_detected"
  | "error"
  | "rate_limited";

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
  /** `error` events: the endpoint path (e.g. `/authorize`) or API (`admin.revokeGrant`) that was running. */
  endpoint?: string;
  /** `error` events: the app hook that threw (`authenticate`, `renderConsent`, `onEvent`, …); absent for an internal error. */
  hook?: string;
  /** `error` events: the error's name and message (`TypeError: …`, at most 300 characters, no stack). */
  error?: string;
}

/** The `onEvent` hook's shape. */
export type AuditHook = (event: AuditEvent) => void | Promise<void>;

/**
 * Reports a failed app hook: `hook` is its name (`"authenticate"`, `"getUser"`, …),
 * `endpoint` where it ran (`"/authorize"`), `error` what it threw.
 */
export type HookErrorReporter = (
  hook: string | undefined,
  endpoint: string,
  error: unknown,
) => void;

/** Options for {@link createEventSink}. */
export interface EventSinkOptions {
  /** The app's audit hook. */
  onEvent?: AuditHook;
  /** No console output. */
  quiet?: boolean;
  /** Clock, epoch milliseconds. Default `Date.now`. */
  now?: () => number;
}

/** Where events and hook failures go: one per server (or per `protectMcp`, …). */
export interface EventSink {
  /** Deliver an event (stamped with `at`); a throwing or rejecting `onEvent` is reported, never rethrown. */
  emit(event: Omit<AuditEvent, "at">, endpoint?: string): void;
  /** Report a throwing app hook: an `error` event, and `console.error` unless `quiet`. Never throws. */
  hookFailed: HookErrorReporter;
}

/** `Name: message`, bounded, never a stack trace. */
export function describeError(e: unknown): string {
  let s: string;
  try {
    s = e instanceof Error ? `${e.name}: ${e.message}` : `thrown value: ${String(e)}`;
  } catch {
    s = "unprintable error";
  }
  s = s.replace(/\s+/g, " ");
  return s.length > 300 ? s.slice(0, 299) + "…" : s;
}

/**
 * Build the sink: every app hook failure becomes an `error` event (`hook`,
 * `endpoint`, `error`) plus one `console.error` line unless `quiet`. A failing
 * `onEvent` is itself reported (once: an `error` event that fails again only
 * reaches the console).
 */
export function createEventSink(options: EventSinkOptions = {}): EventSink {
  const now = options.now ?? Date.now;
  const log = (line: string) => {
    if (!options.quiet) console.error(line);
  };
  const deliver = (event: AuditEvent, endpoint: string | undefined): void => {
    const hook = options.onEvent;
    if (!hook) return;
    const failed = (e: unknown) => {
      const where = endpoint ?? "(no endpoint)";
      if (event.type === "error") {
        log(
          `[gatehouse] onEvent hook threw on ${where} while reporting an error: ${
            describeError(e)
          }`,
        );
        return;
      }
      hookFailed("onEvent", where, e);
    };
    try {
      const r = hook(event);
      if (r && typeof (r as Promise<void>).then === "function") {
        (r as Promise<void>).then(undefined, failed);
      }
    } catch (e) {
      failed(e);
    }
  };
  const hookFailed: HookErrorReporter = (hook, endpoint, error) => {
    const text = describeError(error);
    log(`[gatehouse] ${hook ? `${hook} hook threw` : "internal error"} on ${endpoint}: ${text}`);
    const event: AuditEvent = { type: "error", at: now(), endpoint, error: text };
    if (hook) event.hook = hook;
    deliver(event, endpoint);
  };
  return {
    emit: (event, endpoint) => deliver({ ...event, at: now() } as AuditEvent, endpoint),
    hookFailed,
  };
}

/**
 * Deliver an event; a throwing or rejecting hook never affects the request.
 * Kept for internal callers without a sink; prefer {@link createEventSink}.
 */
export function emit(hook: AuditHook | undefined, event: AuditEvent): void {
  if (!hook) return;
  createEventSink({ onEvent: hook, now: () => event.at }).emit(event);
}

/**
 * Scope checks inside MCP tools: {@linkcode requireScopes} and {@linkcode InsufficientScopeError}.
 *
 * @module
 */
import type { AuthInfo } from "@modelcontextprotocol/sdk/server/auth/types";
import { missingScopes } from "../verifier_scopes.ts";
import { contexts } from "./_context.ts";

/** Thrown by {@linkcode requireScopes}; `protectMcp` turns it into a 403 challenge. */
export class InsufficientScopeError extends Error {
  /** Every scope the operation needs. */
  readonly scopes: string[];
  /** Creates the error. */
  constructor(scopes: string[]) {
    super(`insufficient_scope: this operation requires scope "${scopes.join(" ")}"`);
    this.name = "InsufficientScopeError";
    this.scopes = scopes;
  }
}

/**
 * Marks `scopes` as needed by this request and throws {@linkcode InsufficientScopeError} when
 * the token lacks any of them (internal form of {@linkcode requireScopes}).
 */
export function denyScopes(authInfo: AuthInfo | undefined, scopes: string[]): never {
  const ctx = authInfo ? contexts.get(authInfo) : undefined;
  if (ctx) { for (const s of scopes) ctx.stepUp.add(s); }
  throw new InsufficientScopeError(scopes);
}

/**
 * Asserts, inside a tool handler, that the caller's token carries `scopes` (honouring the
 * verifier's scope hierarchy when running under `protectMcp`). Throws
 * {@linkcode InsufficientScopeError} otherwise. Under `protectMcp` with JSON responses (the
 * default) the whole HTTP response becomes a 403 `insufficient_scope` challenge (RFC 6750
 * §3.1); elsewhere the SDK reports the thrown error as a tool error result.
 */
export function requireScopes(
  extra: { authInfo?: AuthInfo } | undefined,
  scopes: string[],
): void {
  const authInfo = extra?.authInfo;
  const ctx = authInfo ? contexts.get(authInfo) : undefined;
  const granted = authInfo?.scopes ?? [];
  const missing = ctx ? ctx.missing(granted, scopes) : missingScopes(granted, scopes);
  if (missing.length === 0) return;
  denyScopes(authInfo, scopes);
}

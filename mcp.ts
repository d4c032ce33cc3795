/**
 * `@gatehouse/oauth/mcp`: glue between the Gatehouse verifier and the MCP TypeScript SDK.
 *
 * - {@linkcode protectMcp} wraps an `McpServer` factory (or any handler) into a
 *   `(req: Request) => Promise<Response>` that authenticates every request, answers 401/403
 *   with RFC 6750 / RFC 9728 challenges, and runs the SDK's
 *   `WebStandardStreamableHTTPServerTransport` with `authInfo`, so tools see `extra.authInfo`.
 * - Per-tool scopes: declare them in `toolScopes` (checked before the tool runs, from the
 *   JSON-RPC body) and/or call {@linkcode requireScopes} inside a tool; either way the client
 *   gets a 403 `insufficient_scope` step-up challenge naming every scope the call needs.
 *
 * @example
 * ```ts
 * // @ts-types="@modelcontextprotocol/sdk/server/mcp"
 * import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
 * import { createVerifier } from "@gatehouse/oauth/verify";
 * import { protectMcp } from "@gatehouse/oauth/mcp";
 *
 * const createMcpServer = () => {
 *   const server = new McpServer({ name: "notes", version: "1.0.0" });
 *   server.registerTool("stats", { description: "Usage statistics" }, () => ({
 *     content: [{ type: "text", text: "42 notes" }],
 *   }));
 *   return server;
 * };
 *
 * const verifier = createVerifier({
 *   issuer: "http://localhost:8787",
 *   audience: "http://localhost:8787/mcp",
 *   jwksUri: "http://localhost:8787/jwks",
 *   scopeHierarchy: { "mcp:admin": ["mcp:write"], "mcp:write": ["mcp:read"] },
 * });
 * Deno.serve(protectMcp(createMcpServer, { verifier, toolScopes: { stats: ["mcp:admin"] } }));
 * ```
 *
 * @module
 */

// The SDK's "./*" export maps types to "*.d.ts", so "x.js" specifiers resolve at runtime but not
// for the type checker; type-only imports use the extensionless form, value imports @ts-types.
import type { AuthInfo } from "@modelcontextprotocol/sdk/server/auth/types";
// @ts-types="@modelcontextprotocol/sdk/server/webStandardStreamableHttp"
import {
  WebStandardStreamableHTTPServerTransport,
  type WebStandardStreamableHTTPServerTransportOptions,
} from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import {
  missingScopes,
  type ScopeHierarchy,
  type VerifiedToken,
  type Verifier,
  type VerifyFunction,
} from "./verify.ts";

export type { AuthInfo };

/** The part of an MCP SDK transport that {@linkcode McpServerLike.connect} needs to accept. */
export interface McpConnectTransport {
  /** Starts the transport (the SDK server calls it). */
  start(): Promise<void>;
  /** Closes the transport. */
  close(): Promise<void>;
}

/**
 * Options for the SDK's `WebStandardStreamableHTTPServerTransport` (see the SDK for all of
 * them; the ones below are the usual ones, others pass through unchanged).
 */
export interface McpTransportOptions {
  /** Session ids for stateful mode; `undefined` (default) = stateless. */
  sessionIdGenerator?: (() => string) | undefined;
  /** Answer with JSON instead of an SSE stream (default true here). */
  enableJsonResponse?: boolean;
  /** Any other SDK transport option. */
  [option: string]: unknown;
}

/** Converts a verified token into the SDK's `AuthInfo` (what tools see as `extra.authInfo`). */
export function toAuthInfo(verified: VerifiedToken): AuthInfo {
  let resource: URL | undefined;
  try {
    resource = new URL(verified.resource);
  } catch {
    resource = undefined;
  }
  return {
    token: verified.token,
    clientId: verified.clientId,
    scopes: [...verified.scopes],
    expiresAt: verified.expiresAt,
    resource,
    extra: { subject: verified.subject, grantId: verified.grantId, jti: verified.jti },
  };
}

/** Thrown by {@linkcode requireScopes}; {@linkcode protectMcp} turns it into a 403 challenge. */
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

interface StepUpContext {
  missing(granted: readonly string[], required: readonly string[]): string[];
  stepUp: Set<string>;
}

const contexts = new WeakMap<AuthInfo, StepUpContext>();

/**
 * Asserts, inside a tool handler, that the caller's token carries `scopes` (honouring the
 * verifier's scope hierarchy when running under {@linkcode protectMcp}). Throws
 * {@linkcode InsufficientScopeError} otherwise. Under `protectMcp` with JSON responses (the
 * default) the whole HTTP response becomes a 403 `insufficient_scope` challenge; elsewhere the
 * SDK reports the thrown error as a tool error result.
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
  if (ctx) { for (const s of scopes) ctx.stepUp.add(s); }
  throw new InsufficientScopeError(scopes);
}

/** Anything with the SDK server's `connect` (an `McpServer` or a low-level `Server`). */
export interface McpServerLike {
  /** Attaches a transport. */
  connect(transport: McpConnectTransport): Promise<void>;
  /** Detaches and closes. */
  close?(): Promise<void>;
}

/** What {@linkcode protectMcp} hands to the wrapped target for an authenticated request. */
export interface McpRequestContext {
  /** The SDK auth info (also passed to the transport). */
  authInfo: AuthInfo;
  /** The verified token. */
  verified: VerifiedToken;
}

/**
 * A transport you manage yourself (e.g. a stateful `WebStandardStreamableHTTPServerTransport`
 * looked up by `mcp-session-id`), already connected to its server.
 */
export interface McpTransportLike {
  /** Handles one HTTP request, passing `authInfo` on to the server's handlers. */
  handleRequest(req: Request, options?: { authInfo?: AuthInfo }): Promise<Response>;
}

/**
 * The wrapped target, called once per authenticated request. It returns one of:
 * - a fresh MCP server (e.g. your `createMcpServer`): protectMcp connects it to a new stateless
 *   transport and closes both afterwards;
 * - a transport you manage (stateful sessions): protectMcp calls its `handleRequest` with
 *   `authInfo`;
 * - a Response: the target handled the request itself.
 */
export type McpTarget = (
  req: Request,
  ctx: McpRequestContext,
) =>
  | McpServerLike
  | McpTransportLike
  | Response
  | Promise<McpServerLike | McpTransportLike | Response>;

/** Options for {@linkcode protectMcp}. Give `verifier` or `verify`. */
export interface ProtectMcpOptions {
  /** A verifier from `createVerifier`. */
  verifier?: Verifier;
  /** Or any function with the verifier's `verify` shape (e.g. the server's `auth.verify`). */
  verify?: VerifyFunction;
  /** Scopes every request needs. */
  scopes?: string[];
  /** Scopes per tool name, checked before a `tools/call` runs. */
  toolScopes?: Record<string, string[]>;
  /** Scope hierarchy for {@linkcode requireScopes} when only `verify` is given. */
  scopeHierarchy?: ScopeHierarchy;
  /**
   * Transport options (default: stateless, `sessionIdGenerator: undefined`, and
   * `enableJsonResponse: true`).
   */
  transport?: McpTransportOptions;
  /** Upper bound on the JSON-RPC body read to find tool names (default 4 MiB). */
  maxBodyBytes?: number;
}

async function readBounded(req: Request, limit: number): Promise<string | undefined> {
  if (!req.body) return undefined;
  const declared = Number(req.headers.get("content-length"));
  if (Number.isFinite(declared) && declared > limit) return undefined;
  const reader = req.clone().body!.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      return undefined;
    }
    chunks.push(value);
  }
  const all = new Uint8Array(size);
  let offset = 0;
  for (const c of chunks) {
    all.set(c, offset);
    offset += c.byteLength;
  }
  return new TextDecoder().decode(all);
}

/** Scopes the JSON-RPC body needs according to `toolScopes` (tools/call, including batches). */
async function scopesForBody(
  req: Request,
  toolScopes: Record<string, string[]>,
  limit: number,
): Promise<string[]> {
  if (req.method !== "POST") return [];
  let parsed: unknown;
  try {
    const text = await readBounded(req, limit);
    if (text === undefined) return [];
    parsed = JSON.parse(text);
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const msg of Array.isArray(parsed) ? parsed : [parsed]) {
    if (typeof msg !== "object" || msg === null) continue;
    const m = msg as { method?: unknown; params?: { name?: unknown } };
    if (m.method !== "tools/call" || typeof m.params?.name !== "string") continue;
    const needed = Object.hasOwn(toolScopes, m.params.name) ? toolScopes[m.params.name] : [];
    for (const s of needed) if (!out.includes(s)) out.push(s);
  }
  return out;
}

function union(a: readonly string[], b: Iterable<string>): string[] {
  const out = [...a];
  for (const s of b) if (!out.includes(s)) out.push(s);
  return out;
}

function isTransport(value: unknown): value is McpTransportLike {
  return typeof value === "object" && value !== null && !(value instanceof Response) &&
    typeof (value as McpTransportLike).handleRequest === "function";
}

function isServer(value: unknown): value is McpServerLike {
  return typeof value === "object" && value !== null &&
    typeof (value as McpServerLike).connect === "function";
}

/**
 * Wraps an MCP server factory (or handler) with bearer-token authentication.
 *
 * Every request is verified (no session-based auth). The scopes needed are `options.scopes`
 * plus, for `tools/call`, `options.toolScopes[name]`; a missing/invalid token gets 401, a token
 * without the scopes gets 403 `insufficient_scope` naming all of them. On success the target
 * runs with `authInfo`; a server is connected to a fresh stateless
 * `WebStandardStreamableHTTPServerTransport`. Create a new `McpServer` per call (the SDK binds
 * one transport per server).
 */
export function protectMcp(
  target: McpTarget,
  options: ProtectMcpOptions,
): (req: Request) => Promise<Response> {
  const verify = options.verify ?? options.verifier?.verify;
  if (!verify) throw new TypeError("protectMcp: give options.verifier or options.verify");
  const hierarchy = options.scopeHierarchy;
  const missing = options.verifier
    ? options.verifier.missingScopes
    : (granted: readonly string[], required: readonly string[]) =>
      missingScopes(granted, required, hierarchy);
  const baseScopes = options.scopes ?? [];
  const toolScopes = options.toolScopes;
  const limit = options.maxBodyBytes ?? 4 * 1024 * 1024;
  const transportOptions = {
    sessionIdGenerator: undefined,
    enableJsonResponse: true,
    ...options.transport,
  } as WebStandardStreamableHTTPServerTransportOptions;

  return async (req) => {
    const required = toolScopes
      ? union(baseScopes, await scopesForBody(req, toolScopes, limit))
      : baseScopes;
    const result = await verify(req, { scopes: required });
    if (!result.ok) return result.response;
    const verified = result.claims;
    const authInfo = toAuthInfo(verified);
    const ctx: StepUpContext = { missing, stepUp: new Set() };
    contexts.set(authInfo, ctx);

    const stepUpResponse = async (): Promise<Response | undefined> => {
      if (ctx.stepUp.size === 0) return undefined;
      const again = await verify(verified.token, { scopes: union(required, ctx.stepUp) });
      return again.ok ? undefined : again.response;
    };

    let outcome: McpServerLike | McpTransportLike | Response;
    try {
      outcome = await target(req, { authInfo, verified });
    } catch (e) {
      if (e instanceof InsufficientScopeError) {
        for (const s of e.scopes) ctx.stepUp.add(s);
        const challenge = await stepUpResponse();
        if (challenge) return challenge;
      }
      throw e;
    }
    if (isTransport(outcome)) {
      const response = await outcome.handleRequest(req, { authInfo });
      const challenge = await stepUpResponse();
      if (challenge) await response.body?.cancel();
      return challenge ?? response;
    }
    if (!isServer(outcome)) return (await stepUpResponse()) ?? outcome;

    const transport = new WebStandardStreamableHTTPServerTransport(transportOptions);
    await outcome.connect(transport);
    const streaming = transportOptions.enableJsonResponse !== true;
    try {
      const response = await transport.handleRequest(req, { authInfo });
      const challenge = await stepUpResponse();
      if (challenge) {
        await response.body?.cancel();
        return challenge;
      }
      return response;
    } finally {
      if (!streaming) await (outcome.close ? outcome.close() : transport.close());
    }
  };
}

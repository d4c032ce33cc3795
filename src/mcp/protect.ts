/**
 * `protectMcp`: bearer-token authentication in front of an MCP endpoint (SDK v1 or v2).
 *
 * @module
 */
import type { AuthInfo } from "@modelcontextprotocol/sdk/server/auth/types";
import type { WebStandardStreamableHTTPServerTransportOptions } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp";
import {
  missingScopes,
  type ScopeHierarchy,
  type VerifiedToken,
  type Verifier,
  type VerifyFunction,
} from "../../verify.ts";
import { BodyError, readBoundedText } from "../_body.ts";
import { displayText } from "../_display.ts";
import { contexts, type RequestContext } from "./_context.ts";
import { type CorsOptions, corsPreflight, withCors } from "./cors.ts";
import { InsufficientScopeError } from "./scopes.ts";
import { type McpToolGate, principalOf } from "./tools.ts";

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
    extra: {
      subject: verified.subject,
      grantId: verified.grantId,
      jti: verified.jti,
      // Same-process `auth.verify` only: the grant's props (e.g. an upstream token).
      ...(verified.props ? { props: verified.props } : {}),
    },
  };
}

/** Anything with the SDK server's `connect` (an SDK v1 `McpServer` or low-level `Server`). */
export interface McpServerLike {
  /** Attaches a transport (protectMcp passes SDK v1's `WebStandardStreamableHTTPServerTransport`). */
  connect(transport: never): Promise<void>;
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
 * looked up by `mcp-session-id`), already connected to its server; or SDK v2's
 * `createMcpHandler(...)` result's `fetch` wrapped as `{ handleRequest: (r, o) => h.fetch(r, o) }`.
 */
export interface McpTransportLike {
  /** Handles one HTTP request, passing `authInfo` on to the server's handlers. */
  handleRequest(req: Request, options?: { authInfo?: AuthInfo }): Promise<Response>;
}

/**
 * The wrapped target, called once per authenticated request. It returns one of:
 * - a fresh SDK v1 server (e.g. your `createMcpServer`): protectMcp connects it to a new
 *   stateless transport and closes both afterwards;
 * - a transport you manage (stateful sessions): protectMcp calls its `handleRequest` with
 *   `authInfo`;
 * - a Response: the target handled the request itself (SDK v2:
 *   `(req, { authInfo }) => handler.fetch(req, { authInfo })`).
 */
export type McpTarget = (
  req: Request,
  ctx: McpRequestContext,
) =>
  | McpServerLike
  | McpTransportLike
  | Response
  | Promise<McpServerLike | McpTransportLike | Response>;

/** SDK v1 `WebStandardStreamableHTTPServerTransportOptions` (passed through). */
export interface V1TransportOptions {
  /** Session ids for a stateful transport (`undefined`: stateless). */
  sessionIdGenerator?: (() => string) | undefined;
  /** Answer with JSON instead of an SSE stream. */
  enableJsonResponse?: boolean;
  /** Any other option of the SDK v1 transport. */
  [option: string]: unknown;
}

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
  /**
   * A tool gate from `createToolGate`: its tools' scopes are checked before the request runs
   * (as `toolScopes`) and its tool-call limits refuse the whole request with 429.
   */
  tools?: McpToolGate;
  /** Scope hierarchy for {@linkcode requireScopes} when only `verify` is given. */
  scopeHierarchy?: ScopeHierarchy;
  /** CORS for browser clients; the preflight is answered before authentication. */
  cors?: CorsOptions;
  /**
   * SDK v1 `WebStandardStreamableHTTPServerTransport` options (default: stateless,
   * `sessionIdGenerator: undefined`, and `enableJsonResponse: true`).
   */
  transport?: V1TransportOptions;
  /**
   * Upper bound on a POST body, bytes (default 4 MiB). When scopes depend on the body
   * (`toolScopes` or `tools`), a bigger body, or one with a `Content-Encoding`, is refused with
   * 413 / 415 before anything runs (read as a bounded stream, Content-Length checked first).
   */
  maxBodyBytes?: number;
  /** How long that body may take to arrive, ms (default 10 000; slower → 408). */
  bodyTimeoutMs?: number;
}

type Body = { text: string } | { refuse: Response };

/** A JSON-RPC error answered with an HTTP status (`code` -32600 unless given). */
function jsonError(
  status: number,
  message: string,
  headers: Record<string, string> = {},
  error: { id?: unknown; code?: number; data?: unknown } = {},
): Response {
  const { id = null, code = -32600, data } = error;
  return new Response(
    JSON.stringify({ jsonrpc: "2.0", id, error: { code, message, ...(data ? { data } : {}) } }),
    { status, headers: { "content-type": "application/json", ...headers } },
  );
}

/**
 * Reads the body as a bounded stream (`src/_body.ts`); refuses what cannot be inspected
 * (issue 8 item 7): over the cap 413, too slow 408, not UTF-8 400, encoded 415.
 */
async function readBody(req: Request, limit: number, timeoutMs: number): Promise<Body> {
  const encoding = req.headers.get("content-encoding");
  if (encoding && encoding.toLowerCase() !== "identity") {
    await req.body?.cancel().catch(() => {});
    return { refuse: jsonError(415, "Content-Encoding is not supported") };
  }
  try {
    return { text: await readBoundedText(req, limit, { timeoutMs }) };
  } catch (e) {
    if (!(e instanceof BodyError)) throw e;
    if (e.reason === "too_large") {
      return { refuse: jsonError(413, `Request body larger than ${limit} bytes`) };
    }
    if (e.reason === "timeout") return { refuse: jsonError(408, "Request body too slow") };
    return { refuse: jsonError(400, "Request body could not be read") };
  }
}

/** JSON-RPC `tools/call` requests in a body: `[id, tool name]` pairs. */
function toolCalls(text: string): Array<[unknown, string]> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return [];
  }
  const out: Array<[unknown, string]> = [];
  for (const msg of Array.isArray(parsed) ? parsed : [parsed]) {
    if (typeof msg !== "object" || msg === null) continue;
    const m = msg as { id?: unknown; method?: unknown; params?: { name?: unknown } };
    if (m.method === "tools/call" && typeof m.params?.name === "string") {
      out.push([m.id ?? null, m.params.name]);
    }
  }
  return out;
}

/**
 * Session ids → who opened them (`[sub, client_id]` as JSON). The MCP spec says sessions are
 * not authentication but should be bound to the user: a session id presented with another
 * user's (or client's) token gets 404, as an unknown session does. In memory, like the
 * stateful transports themselves; at most {@linkcode MAX_BOUND_SESSIONS}, oldest forgotten.
 */
class SessionOwners {
  #owners = new Map<string, string>();

  static key(verified: VerifiedToken): string {
    return JSON.stringify([verified.subject ?? "", verified.clientId]);
  }

  /** False when `id` belongs to someone else. */
  mayUse(id: string | null, owner: string): boolean {
    if (id === null) return true;
    const bound = this.#owners.get(id);
    return bound === undefined || bound === owner;
  }

  /** Records a session the response opened; forgets one it closed. */
  observe(req: Request, res: Response, owner: string): Response {
    const opened = res.headers.get("mcp-session-id");
    if (opened && !this.#owners.has(opened)) {
      if (this.#owners.size >= MAX_BOUND_SESSIONS) {
        this.#owners.delete(this.#owners.keys().next().value!);
      }
      this.#owners.set(opened, owner);
    }
    const used = req.headers.get("mcp-session-id");
    if (used && req.method.toUpperCase() === "DELETE" && res.ok) this.#owners.delete(used);
    return res;
  }
}

/** How many session bindings one protectMcp handler remembers. */
const MAX_BOUND_SESSIONS = 100_000;

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
 * Every request is verified (no session-based auth); an `Mcp-Session-Id` opened under one
 * subject and client is refused (404) with anyone else's token. The scopes needed are `options.scopes`
 * plus, for `tools/call`, the tool's scopes (`toolScopes` / `tools`); a missing/invalid token
 * gets 401, a token without the scopes gets 403 `insufficient_scope` naming all of them
 * (RFC 6750 §3.1). Over a tool-call limit of `tools`: 429 with `Retry-After` and a JSON-RPC
 * error carrying `data.retryAfter` (seconds); its counter store failing: 503, `Retry-After: 1`.
 * On success the target runs with `authInfo`.
 * Throws `TypeError` when neither `verifier` nor `verify` is given.
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
  const gate = options.tools;
  const toolScopes = { ...gate?.toolScopes, ...options.toolScopes };
  const inspect = options.toolScopes !== undefined || gate !== undefined;
  const limit = options.maxBodyBytes ?? 4 * 1024 * 1024;
  const transportOptions = {
    sessionIdGenerator: undefined,
    enableJsonResponse: true,
    ...options.transport,
  };

  const sessions = new SessionOwners();

  const handle = async (req: Request): Promise<Response> => {
    let calls: Array<[unknown, string]> = [];
    // Case-insensitive: Deno.serve passes a raw "post" through and SDK v2 upper-cases it.
    if (inspect && req.method.toUpperCase() === "POST") {
      const body = await readBody(req, limit, options.bodyTimeoutMs ?? 10_000);
      if ("refuse" in body) return body.refuse;
      calls = toolCalls(body.text);
      req = new Request(req, { body: body.text });
    }
    const needed = calls.flatMap(([, name]) =>
      Object.hasOwn(toolScopes, name) ? toolScopes[name] : []
    );
    const required = union(baseScopes, needed);
    const result = await verify(req, { scopes: required });
    if (!result.ok) return result.response;
    const verified = result.claims;
    const owner = SessionOwners.key(verified);
    if (!sessions.mayUse(req.headers.get("mcp-session-id"), owner)) {
      await req.body?.cancel().catch(() => {});
      return jsonError(404, "Session not found");
    }
    const authInfo = toAuthInfo(verified);
    const ctx: RequestContext = { missing, stepUp: new Set(), counted: new Map() };
    contexts.set(authInfo, ctx);

    if (gate) {
      // Every call counts, batched or not; the tools then use these slots instead of new ones.
      for (const [id, name] of calls) {
        // A counter store that is down refuses the call (it can't be counted), as the
        // authorization server's own endpoints do; the log names the error class only.
        const decision = await gate.checkLimits(authInfo, name).catch((e) => {
          console.error(`[gatehouse] protectMcp: tool-call limits unavailable (${e?.name})`);
        });
        if (!decision) {
          const headers = { "retry-after": "1" };
          return jsonError(503, "Temporarily unavailable; retry shortly", headers, {
            id,
            code: -32603,
          });
        }
        if (!decision.ok) {
          // The name comes from the request: a tool we don't know is logged defanged
          // (no control characters, at most 128 characters) so it can't forge log lines, and
          // never looked up on the prototype ("constructor", "__proto__").
          const known = Object.hasOwn(toolScopes, name);
          gate.report({
            tool: known ? name : displayText(name, 128),
            ...principalOf(authInfo),
            scopesRequired: known ? toolScopes[name] : [],
            outcome: "rate_limited",
            durationMs: 0,
            time: Date.now(),
            reason: `${decision.limit} limit`,
          });
          return jsonError(
            429,
            `Too many tool calls; retry after ${decision.retryAfter} seconds`,
            { "retry-after": String(decision.retryAfter) },
            { id, code: -32029, data: { retryAfter: decision.retryAfter, limit: decision.limit } },
          );
        }
      }
      for (const [, name] of calls) ctx.counted.set(name, (ctx.counted.get(name) ?? 0) + 1);
    }

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
      return challenge ?? sessions.observe(req, response, owner);
    }
    if (!isServer(outcome)) {
      const challenge = await stepUpResponse();
      if (challenge) await outcome.body?.cancel();
      return challenge ?? sessions.observe(req, outcome, owner);
    }

    // SDK v1 servers only: load the v1 transport on first use (SDK v2 users never load it).
    const { WebStandardStreamableHTTPServerTransport } = await import(
      "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js"
    ) as unknown as typeof import("@modelcontextprotocol/sdk/server/webStandardStreamableHttp");
    const transport = new WebStandardStreamableHTTPServerTransport(
      transportOptions as WebStandardStreamableHTTPServerTransportOptions,
    );
    await outcome.connect(transport as never);
    const streaming = transportOptions.enableJsonResponse !== true;
    try {
      const response = await transport.handleRequest(req, { authInfo });
      const challenge = await stepUpResponse();
      if (challenge) {
        await response.body?.cancel();
        return challenge;
      }
      return sessions.observe(req, response, owner);
    } finally {
      if (!streaming) await (outcome.close ? outcome.close() : transport.close());
    }
  };

  const cors = options.cors;
  if (!cors) return handle;
  return async (req) => corsPreflight(req, cors) ?? withCors(req, await handle(req), cors);
}

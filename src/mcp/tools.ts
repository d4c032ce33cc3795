/**
 * The MCP tool gate: tools declared with their scopes, registered on an SDK v1 or v2
 * `McpServer`, with confirmed mutations, audit events and per-subject / per-client limits.
 *
 * @module
 */
import type { AuthInfo } from "@modelcontextprotocol/sdk/server/auth/types";
import * as z from "zod";
import type { Storage } from "../../storage/mod.ts";
import { missingScopes, type ScopeHierarchy } from "../verifier_scopes.ts";
import { describeError } from "../events.ts";
import { sha256 } from "../_crypto.ts";
import { ConfirmationStore } from "./_confirm.ts";
import { takeSlot } from "./_counter.ts";
import { contexts, principalOf } from "./_context.ts";
import { callConfirm, callTool, type GateInternals } from "./_call.ts";
import type { McpToolDefinition, MutationEvent, ToolCallEvent } from "./types.ts";

export { principalOf };

/** One limit: at most `limit` tool calls per `windowSeconds`. */
export interface CallLimit {
  /** Calls allowed per window. */
  limit: number;
  /** Window length in seconds. */
  windowSeconds: number;
}

/** Per-subject and per-client tool-call limits (`false` for none). */
export interface ToolCallLimits {
  /** Per `sub` (default 300 calls / 3600 s). */
  perSubject?: CallLimit | false;
  /** Per `client_id` (default 3000 calls / 3600 s). */
  perClient?: CallLimit | false;
}

/** The documented default limits. */
export const DEFAULT_TOOL_CALL_LIMITS: Required<ToolCallLimits> = {
  perSubject: { limit: 300, windowSeconds: 3600 },
  perClient: { limit: 3000, windowSeconds: 3600 },
};

/** Options for {@linkcode createToolGate}. */
export interface ToolGateOptions {
  /** The tools, each with its scopes (and `preview` for confirmed mutations). */
  tools: McpToolDefinition[];
  /** Where confirmation tokens, idempotency records and limit counters live. */
  storage: Storage;
  /**
   * `tools/list` for a token lacking a tool's scopes: `"annotate"` (default) lists every tool
   * with `_meta["gatehouse/scopes"]` so the client can step up; `"hide"` leaves it out (needs
   * the caller's `authInfo` at {@linkcode McpToolGate.install}).
   */
  toolList?: "annotate" | "hide";
  /** Scope hierarchy (scope → scopes it includes); protectMcp's verifier's is used when present. */
  scopeHierarchy?: ScopeHierarchy;
  /** Tool-call limits; `false` turns them off. Default {@linkcode DEFAULT_TOOL_CALL_LIMITS}. */
  limits?: ToolCallLimits | false;
  /** Confirmation token lifetime in seconds (default 300). */
  confirmationTtlSeconds?: number;
  /**
   * Audit hook, once per tool call. A throw (or rejection) never reaches the caller: it goes to
   * `onHookError` and, unless `quiet`, one `console.error` line.
   */
  onToolCall?: (event: ToolCallEvent) => void | Promise<void>;
  /** Called once after a confirmed mutation ran. A throw is reported as for `onToolCall`. */
  onMutation?: (event: MutationEvent) => void | Promise<void>;
  /**
   * Where a throwing `onToolCall` / `onMutation` is reported as an event (e.g. forwarded to the
   * application's audit sink). Its own throw (or rejection) is reported to the console only.
   */
  onHookError?: (failure: ToolHookFailure) => void;
  /** No console line for a throwing hook (the `onHookError` event still fires). Default false. */
  quiet?: boolean;
}

/** A throwing `onToolCall` / `onMutation` hook, as reported to `onHookError`. */
export interface ToolHookFailure {
  /** Which hook threw. */
  hook: "onToolCall" | "onMutation";
  /** The tool its event was about. */
  tool: string;
  /** `Name: message` of what it threw (bounded to 300 characters, never a stack trace). */
  error: string;
}

/** Anything with the SDK's `registerTool(name, config, callback)` (SDK v1 or v2 `McpServer`). */
export interface ToolRegistrar {
  /** Registers one tool. */
  registerTool(name: string, config: Record<string, unknown>, cb: never): unknown;
}

/** Result of {@linkcode McpToolGate.checkLimits}. */
export interface LimitDecision {
  /** True when the call may proceed. */
  ok: boolean;
  /** Seconds until the exhausted window ends. */
  retryAfter: number;
  /** Which limit refused the call. */
  limit?: "subject" | "client";
}

/** The gate returned by {@linkcode createToolGate}. */
export interface McpToolGate {
  /** Tool name → required scopes (what protectMcp checks before the request runs). */
  readonly toolScopes: Record<string, string[]>;
  /** Name of the built-in confirmation tool (`"confirm"`), registered when a tool has `preview`. */
  readonly confirmTool: string;
  /**
   * Registers the tools (and `confirm`) on a fresh SDK server. Pass the caller's `authInfo` for
   * `toolList: "hide"`. Returns the server.
   */
  install<S extends ToolRegistrar>(server: S, authInfo?: AuthInfo): S;
  /** Counts one call of `tool` against the limits (used by protectMcp; tools call it too). */
  checkLimits(authInfo: AuthInfo, tool: string): Promise<LimitDecision>;
  /** Reports an audit event to `onToolCall` (a throwing hook goes to `onHookError` / the console). */
  report(event: ToolCallEvent): void;
}

function callHook<E extends { tool: string }>(
  name: ToolHookFailure["hook"],
  hook: ((e: E) => void | Promise<void>) | undefined,
  e: E,
  options: Pick<ToolGateOptions, "onHookError" | "quiet">,
) {
  if (!hook) return;
  const fail = (err: unknown) => {
    const error = describeError(err);
    if (!options.quiet) {
      console.error(`gatehouse: ${name} hook threw (the tool call was not affected): ${error}`);
    }
    const again = (x: unknown) =>
      console.error(`gatehouse: onHookError threw: ${describeError(x)}`);
    try {
      // An async onHookError (its type allows one) that rejects is reported too: an unhandled
      // rejection would end the process.
      const r: unknown = options.onHookError?.({ hook: name, tool: e.tool, error });
      if (r && typeof (r as Promise<void>).then === "function") {
        (r as Promise<void>).then(undefined, again);
      }
    } catch (x) {
      again(x);
    }
  };
  try {
    const p = hook(e);
    if (p && typeof (p as Promise<void>).catch === "function") (p as Promise<void>).catch(fail);
  } catch (err) {
    fail(err);
  }
}

/**
 * Creates the tool gate. Throws `TypeError` for duplicate tool names, a tool named like the
 * confirmation tool, or a limit that is not a positive number.
 *
 * @example
 * ```ts
 * import { createToolGate, defineTool } from "@gatehouse/oauth/mcp";
 * import { memoryStorage } from "@gatehouse/oauth/storage/memory";
 * import * as z from "zod";
 *
 * const gate = createToolGate({
 *   storage: memoryStorage(),
 *   tools: [
 *     defineTool({
 *       name: "delete_file",
 *       scopes: ["files:write"],
 *       inputSchema: { path: z.string() },
 *       preview: ({ path }) => `Delete ${path}`,
 *       run: ({ path }) => ({ content: [{ type: "text", text: `deleted ${path}` }] }),
 *     }),
 *   ],
 * });
 * ```
 */
export function createToolGate(options: ToolGateOptions): McpToolGate {
  const confirmTool = "confirm";
  const tools = new Map<string, McpToolDefinition>();
  for (const t of options.tools) {
    if (tools.has(t.name) || t.name === confirmTool) {
      throw new TypeError(`createToolGate: duplicate or reserved tool name "${t.name}"`);
    }
    tools.set(t.name, t);
  }
  const limits = options.limits === false ? { perSubject: false, perClient: false } as const : {
    perSubject: options.limits?.perSubject ?? DEFAULT_TOOL_CALL_LIMITS.perSubject,
    perClient: options.limits?.perClient ?? DEFAULT_TOOL_CALL_LIMITS.perClient,
  };
  for (const l of [limits.perSubject, limits.perClient]) {
    if (l && !(l.limit > 0 && l.windowSeconds > 0)) {
      throw new TypeError("createToolGate: limits need a positive limit and windowSeconds");
    }
  }
  const toolScopes: Record<string, string[]> = {};
  for (const t of tools.values()) toolScopes[t.name] = [...t.scopes];
  const mutating = [...tools.values()].some((t) => t.preview);
  const store = new ConfirmationStore(options.storage, {
    ttlSeconds: options.confirmationTtlSeconds,
  });

  const missing = (authInfo: AuthInfo, required: readonly string[]): string[] => {
    const ctx = contexts.get(authInfo);
    return ctx
      ? ctx.missing(authInfo.scopes, required)
      : missingScopes(authInfo.scopes, required, options.scopeHierarchy);
  };

  const checkLimits = async (authInfo: AuthInfo, tool: string): Promise<LimitDecision> => {
    const ctx = contexts.get(authInfo);
    const precounted = ctx?.counted.get(tool) ?? 0;
    if (ctx && precounted > 0) {
      ctx.counted.set(tool, precounted - 1);
      return { ok: true, retryAfter: 0 };
    }
    const who = principalOf(authInfo);
    if (limits.perSubject) {
      const { limit, windowSeconds } = limits.perSubject;
      const id = await sha256(who.subject);
      const r = await takeSlot(options.storage, ["sub", id], limit, windowSeconds);
      if (!r.ok) return { ok: false, retryAfter: r.retryAfter, limit: "subject" };
    }
    if (limits.perClient) {
      const { limit, windowSeconds } = limits.perClient;
      // Hashed: a client_id may be a 2 KB metadata-document URL (Deno KV keys are ≤ 2 KB).
      const id = await sha256(who.clientId);
      const r = await takeSlot(options.storage, ["client", id], limit, windowSeconds);
      if (!r.ok) return { ok: false, retryAfter: r.retryAfter, limit: "client" };
    }
    return { ok: true, retryAfter: 0 };
  };

  const report = (event: ToolCallEvent) =>
    callHook("onToolCall", options.onToolCall, event, options);
  const internals: GateInternals = {
    tools,
    store,
    confirmTool,
    missing,
    checkLimits,
    report,
    mutated: (e: MutationEvent) => callHook("onMutation", options.onMutation, e, options),
  };

  return {
    toolScopes,
    confirmTool,
    checkLimits,
    report,
    install(server, authInfo) {
      const register = server.registerTool.bind(server) as (
        name: string,
        config: Record<string, unknown>,
        cb: (args: unknown, extra: unknown) => unknown,
      ) => unknown;
      for (const t of tools.values()) {
        if (
          options.toolList === "hide" && authInfo && missing(authInfo, t.scopes).length > 0
        ) continue;
        const { name: _n, scopes, preview: _p, run: _r, ...config } = t;
        register(t.name, {
          ...config,
          _meta: {
            ...t._meta,
            "gatehouse/scopes": scopes,
            ...(t.preview ? { "gatehouse/confirmation": true } : {}),
          },
        }, (args, extra) => callTool(internals, server, t, args, extra));
      }
      if (mutating) {
        register(confirmTool, {
          title: "Confirm a pending change",
          description:
            "Runs a change another tool previewed. Pass the confirmationToken it returned and a " +
            "fresh idempotencyKey; repeating the same idempotencyKey returns the same result.",
          inputSchema: {
            confirmationToken: z.string().min(1).max(256),
            idempotencyKey: z.string().min(1).max(256),
          },
          _meta: { "gatehouse/scopes": [] },
        }, (args, extra) => callConfirm(internals, args, extra));
      }
      return server;
    },
  };
}

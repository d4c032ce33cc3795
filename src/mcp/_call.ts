/**
 * One tool call through the gate (internal): scope check, limits, audit, and the two-phase flow
 * of mutating tools (elicitation, or preview + confirmation token + `confirm`).
 *
 * SDK differences handled here, by shape rather than by import:
 * - SDK v1 passes `extra.authInfo`; v2 passes `ctx.http.authInfo` and `ctx.mcpReq`.
 * - Elicitation on v2 is an `input_required` result (2026-07-28; on a 2025-era connection the
 *   SDK's legacy shim turns it into a server request); on v1 it is `server.elicitInput`.
 *
 * @module
 */
import type { AuthInfo } from "@modelcontextprotocol/sdk/server/auth/types";
import {
  canonicalJson,
  ConfirmationError,
  type ConfirmationStore,
  type PendingMutation,
} from "./_confirm.ts";
import { sha256 } from "../_crypto.ts";
import { principalOf } from "./_context.ts";
import { denyScopes } from "./scopes.ts";
import type {
  McpToolDefinition,
  MutationEvent,
  ToolCallContext,
  ToolCallEvent,
  ToolResult,
} from "./types.ts";

/** What the gate shares with the call wrapper. */
export interface GateInternals {
  tools: Map<string, McpToolDefinition>;
  store: ConfirmationStore;
  confirmTool: string;
  missing(authInfo: AuthInfo, required: readonly string[]): string[];
  checkLimits(
    authInfo: AuthInfo,
    tool: string,
  ): Promise<{ ok: boolean; retryAfter: number; limit?: string }>;
  report(event: ToolCallEvent): void;
  mutated(event: MutationEvent): void;
}

const ELICIT_KEY = "gatehouse_confirm";

interface Extra {
  authInfo?: AuthInfo;
  http?: { authInfo?: AuthInfo };
  mcpReq?: {
    envelope?: Record<string, unknown>;
    inputResponses?: Record<string, unknown>;
    requestState?: (() => unknown) | string;
  };
}

interface LowLevelServer {
  getClientCapabilities?(): { elicitation?: unknown } | undefined;
  elicitInput?(params: Record<string, unknown>): Promise<{ action: string; content?: unknown }>;
}

function errorResult(text: string, structured: Record<string, unknown>): ToolResult {
  return { content: [{ type: "text", text }], structuredContent: structured, isError: true };
}

function callContext(tool: string, authInfo: AuthInfo): ToolCallContext {
  return { tool, ...principalOf(authInfo), scopes: [...authInfo.scopes], authInfo };
}

/** A tool's own `run` / `preview` threw: an error result carrying its message. */
function toolError(e: unknown): ToolResult {
  const message = e instanceof Error ? e.message : String(e);
  return errorResult(message, { error: "tool_error", message });
}

async function runSafely(
  t: McpToolDefinition,
  args: Record<string, unknown>,
  call: ToolCallContext,
): Promise<ToolResult> {
  try {
    return await t.run(args, call);
  } catch (e) {
    return toolError(e);
  }
}

/** Common front: authenticate, scopes, limits. Returns the context or an early result. */
async function admit(
  g: GateInternals,
  tool: string,
  scopes: string[],
  extra: Extra,
  started: number,
): Promise<{ call: ToolCallContext } | { result: ToolResult }> {
  const authInfo = extra.authInfo ?? extra.http?.authInfo;
  const base = { tool, scopesRequired: scopes, time: started };
  if (!authInfo) {
    g.report({
      ...base,
      subject: "",
      clientId: "",
      grantId: undefined,
      outcome: "denied",
      durationMs: Date.now() - started,
      reason: "unauthenticated",
    });
    return { result: errorResult("unauthenticated", { error: "unauthenticated" }) };
  }
  const call = callContext(tool, authInfo);
  const who = { subject: call.subject, clientId: call.clientId, grantId: call.grantId };
  if (g.missing(authInfo, scopes).length > 0) {
    g.report({
      ...base,
      ...who,
      outcome: "denied",
      durationMs: Date.now() - started,
      reason: "insufficient_scope",
    });
    denyScopes(authInfo, scopes);
  }
  const limit = await g.checkLimits(authInfo, tool);
  if (!limit.ok) {
    g.report({
      ...base,
      ...who,
      outcome: "rate_limited",
      durationMs: Date.now() - started,
      reason: `${limit.limit} limit`,
    });
    return {
      result: errorResult(
        `Too many tool calls; retry after ${limit.retryAfter} seconds.`,
        { error: "rate_limited", retryAfter: limit.retryAfter },
      ),
    };
  }
  return { call };
}

function finish(
  g: GateInternals,
  call: ToolCallContext,
  scopes: string[],
  started: number,
  result: ToolResult,
  outcome: ToolCallEvent["outcome"],
  extra: Partial<ToolCallEvent> = {},
): ToolResult {
  g.report({
    tool: call.tool,
    subject: call.subject,
    clientId: call.clientId,
    grantId: call.grantId,
    scopesRequired: scopes,
    outcome: result.isError && outcome !== "denied" ? "error" : outcome,
    durationMs: Date.now() - started,
    time: started,
    ...extra,
  });
  return result;
}

/** The user said no (or did not confirm) to an elicitation: nothing ran. */
function declined(
  g: GateInternals,
  call: ToolCallContext,
  scopes: string[],
  started: number,
): ToolResult {
  const result = { content: [{ type: "text" as const, text: "Cancelled: nothing was changed." }] };
  return finish(g, call, scopes, started, result, "denied", { reason: "declined" });
}

/** The handler registered for a gated tool. */
export async function callTool(
  g: GateInternals,
  server: unknown,
  t: McpToolDefinition,
  rawArgs: unknown,
  rawExtra: unknown,
): Promise<unknown> {
  const started = Date.now();
  // A tool without inputSchema gets (extra) only.
  const extra = ((rawExtra ?? rawArgs) ?? {}) as Extra;
  const args = (rawExtra === undefined ? {} : rawArgs ?? {}) as Record<string, unknown>;
  const admitted = await admit(g, t.name, t.scopes, extra, started);
  if ("result" in admitted) return admitted.result;
  const { call } = admitted;
  if (!t.preview) {
    return finish(g, call, t.scopes, started, await runSafely(t, args, call), "ok");
  }
  const who = { subject: call.subject, clientId: call.clientId };

  // v2, retry after elicitation: the requestState is our confirmation token.
  const req = extra.mcpReq;
  const answer = req?.inputResponses?.[ELICIT_KEY] as
    | { action?: string; content?: { confirm?: unknown } }
    | undefined;
  if (req && answer) {
    const state = typeof req.requestState === "function" ? req.requestState() : req.requestState;
    if (typeof state !== "string") {
      return finish(
        g,
        call,
        t.scopes,
        started,
        errorResult("missing requestState", { error: "invalid_request" }),
        "denied",
      );
    }
    if (answer.action !== "accept" || answer.content?.confirm !== true) {
      return declined(g, call, t.scopes, started);
    }
    return await confirmAndRun(g, state, `elicit:${await sha256(state)}`, call, started, {
      via: "elicitation",
      expectTool: t.name,
    });
  }

  let preview: string;
  try {
    preview = await t.preview(args, call);
  } catch (e) {
    // Audited like a throwing `run` (outcome "error"); nothing was issued.
    return finish(g, call, t.scopes, started, toolError(e), "error", { phase: "preview" });
  }
  const pending = {
    ...who,
    tool: t.name,
    args,
    argsHash: await sha256(canonicalJson(args)),
    preview,
  };
  const low = (server as { server?: LowLevelServer }).server;
  const envelopeCaps = req?.envelope?.["io.modelcontextprotocol/clientCapabilities"] as
    | { elicitation?: unknown }
    | undefined;
  const caps = envelopeCaps ?? low?.getClientCapabilities?.();
  const schema = {
    type: "object",
    properties: { confirm: { type: "boolean", title: "Confirm", description: preview } },
    required: ["confirm"],
  };
  if (caps?.elicitation && req) {
    // Only the elicitation answer can use this token (not the confirm tool), so the user,
    // not the model, decides.
    const { token } = await g.store.issue({ ...pending, via: "elicitation" });
    finish(g, call, t.scopes, started, { content: [] }, "ok", { phase: "elicit" });
    return {
      resultType: "input_required",
      inputRequests: {
        [ELICIT_KEY]: {
          method: "elicitation/create",
          params: { mode: "form", message: preview, requestedSchema: schema },
        },
      },
      requestState: token,
    };
  }
  if (caps?.elicitation && !req && low?.elicitInput) {
    const reply = await low.elicitInput({ message: preview, requestedSchema: schema });
    const content = reply.content as { confirm?: unknown } | undefined;
    if (reply.action !== "accept" || content?.confirm !== true) {
      return declined(g, call, t.scopes, started);
    }
    const { token } = await g.store.issue({ ...pending, via: "elicitation" });
    return await confirmAndRun(g, token, `elicit:${await sha256(token)}`, call, started, {
      via: "elicitation",
      expectTool: t.name,
    });
  }
  const { token, expiresAt } = await g.store.issue({ ...pending, via: "confirm_tool" });
  const structured = {
    confirmationRequired: true,
    tool: t.name,
    preview,
    confirmationToken: token,
    expiresAt,
    confirmWith: g.confirmTool,
  };
  return finish(
    g,
    call,
    t.scopes,
    started,
    {
      content: [{
        type: "text",
        text: `${preview}\n\nNothing has changed yet. To go ahead, call "${g.confirmTool}" with ` +
          `{"confirmationToken": "${token}", "idempotencyKey": "<a new unique id>"} ` +
          `within ${Math.max(1, Math.round((expiresAt * 1000 - Date.now()) / 60_000))} minutes.`,
      }],
      structuredContent: structured,
    },
    "ok",
    { phase: "preview" },
  );
}

async function confirmAndRun(
  g: GateInternals,
  token: string,
  idempotencyKey: string,
  call: ToolCallContext,
  started: number,
  how: { via: MutationEvent["via"]; expectTool?: string },
): Promise<ToolResult> {
  const who = { subject: call.subject, clientId: call.clientId };
  let toolName = how.expectTool ?? g.confirmTool;
  let scopes: string[] = [];
  try {
    let tool: McpToolDefinition | undefined;
    const check = (p: PendingMutation) => {
      tool = g.tools.get(p.tool);
      toolName = p.tool;
      const wrongWay = p.via !== undefined && p.via !== how.via;
      if (!tool || wrongWay || (how.expectTool && how.expectTool !== p.tool)) {
        throw new ConfirmationError("invalid_token", "confirmationToken is for another tool");
      }
      scopes = tool.scopes;
      // The token confirming must still carry the tool's scopes.
      if (g.missing(call.authInfo, scopes).length > 0) {
        g.report({
          tool: toolName,
          ...who,
          grantId: call.grantId,
          scopesRequired: scopes,
          outcome: "denied",
          durationMs: Date.now() - started,
          time: started,
          reason: "insufficient_scope",
        });
        denyScopes(call.authInfo, scopes);
      }
    };
    const { result, executed, pending } = await g.store.run(
      token,
      idempotencyKey,
      who,
      (p) => runSafely(tool!, p.args, { ...call, tool: p.tool }),
      check,
    );
    toolName = pending.tool;
    scopes = g.tools.get(toolName)?.scopes ?? scopes;
    const target = { ...call, tool: toolName };
    if (executed) {
      g.mutated({
        tool: toolName,
        ...who,
        grantId: call.grantId,
        args: pending.args,
        preview: pending.preview,
        via: how.via,
        isError: result.isError === true,
      });
    }
    return finish(g, target, scopes, started, result, "confirmed", {
      ...(executed ? {} : { reason: "replayed" }),
    });
  } catch (e) {
    if (!(e instanceof ConfirmationError)) throw e;
    return finish(
      g,
      { ...call, tool: toolName },
      scopes,
      started,
      errorResult(e.message, { error: e.code }),
      "denied",
      { reason: e.code },
    );
  }
}

/** The handler registered for the built-in `confirm` tool. */
export async function callConfirm(
  g: GateInternals,
  rawArgs: unknown,
  rawExtra: unknown,
): Promise<unknown> {
  const started = Date.now();
  const args = rawArgs as { confirmationToken: string; idempotencyKey: string };
  const admitted = await admit(g, g.confirmTool, [], (rawExtra ?? {}) as Extra, started);
  if ("result" in admitted) return admitted.result;
  return await confirmAndRun(
    g,
    args.confirmationToken,
    args.idempotencyKey,
    admitted.call,
    started,
    { via: "confirm_tool" },
  );
}

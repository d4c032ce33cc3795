/**
 * Shapes shared by the MCP tool gate: tool definitions, call context, results and audit events.
 *
 * @module
 */
import type { AuthInfo } from "@modelcontextprotocol/sdk/server/auth/types";

/** A zod-style raw shape (`{ text: z.string() }`): each field a schema with its parsed `_output`. */
export type SchemaShape = Record<string, { readonly _output: unknown }>;

/** The parsed arguments described by a {@linkcode SchemaShape}. */
export type ShapeOutput<S extends SchemaShape> = { [K in keyof S]: S[K]["_output"] };

/** One content block of a tool result (`{ type: "text", text }` and the other MCP kinds). */
export type ToolContent = { type: "text"; text: string } | {
  type: string;
  [key: string]: unknown;
};

/** A tool result (MCP `CallToolResult`). */
export interface ToolResult {
  /** Content blocks shown to the model/user. */
  content: ToolContent[];
  /** Machine-readable result (matches `outputSchema` when the tool declares one). */
  structuredContent?: Record<string, unknown>;
  /** True for a tool-level error. */
  isError?: boolean;
  /** Result metadata. */
  _meta?: Record<string, unknown>;
  /** Other result fields pass through to the SDK. */
  [key: string]: unknown;
}

/** What a tool's `run` and `preview` receive besides its arguments. */
export interface ToolCallContext {
  /** The tool's name. */
  tool: string;
  /** `sub` of the access token. */
  subject: string;
  /** `client_id` of the access token. */
  clientId: string;
  /** Gatehouse grant id (`gid`), when the issuer set one. */
  grantId: string | undefined;
  /** Scopes granted to the token. */
  scopes: string[];
  /** The SDK auth info. */
  authInfo: AuthInfo;
}

/**
 * A tool with its scopes, declared where it is defined. Everything except `scopes`, `preview`
 * and `run` is passed to the SDK's `registerTool` config as is.
 */
export interface McpToolDefinition<A = Record<string, unknown>> {
  /** Tool name (MCP `name`). */
  name: string;
  /** Scopes the caller's token needs (all of them; the verifier's hierarchy applies). */
  scopes: string[];
  /** Human title. */
  title?: string;
  /** What the tool does (shown to the model). */
  description?: string;
  /** The SDK's input schema: a zod raw shape or a zod object (both SDK generations accept it). */
  inputSchema?: unknown;
  /** The SDK's output schema. */
  outputSchema?: unknown;
  /** MCP tool annotations. */
  annotations?: Record<string, unknown>;
  /** Extra `_meta` for the tool listing (Gatehouse adds `gatehouse/scopes`). */
  _meta?: Record<string, unknown>;
  /**
   * Makes the tool a confirmed mutation: the first call never runs `run`, it returns (or asks
   * the user, through elicitation) this description of what would happen.
   */
  preview?: (args: A, call: ToolCallContext) => string | Promise<string>;
  /** The tool itself. A thrown error becomes an `isError` result (outcome `error`). */
  run: (args: A, call: ToolCallContext) => ToolResult | Promise<ToolResult>;
}

/**
 * Declares a tool whose arguments are typed from a zod raw shape (`{ text: z.string() }`).
 * Returns the definition unchanged.
 */
export function defineTool<S extends SchemaShape>(
  definition: Omit<McpToolDefinition<ShapeOutput<S>>, "inputSchema"> & {
    inputSchema: S;
  },
): McpToolDefinition {
  return definition as unknown as McpToolDefinition;
}

/** Outcome of one tool call, as reported to `onToolCall`. */
export type ToolCallOutcome = "ok" | "error" | "denied" | "rate_limited" | "confirmed";

/** An `onToolCall` audit event (one per tools/call that reached Gatehouse). */
export interface ToolCallEvent {
  /** The tool called (for `confirm`, the tool being confirmed when known). */
  tool: string;
  /** `sub` of the access token (`""` when unauthenticated). */
  subject: string;
  /** `client_id` of the access token. */
  clientId: string;
  /** Gatehouse grant id, when known. */
  grantId: string | undefined;
  /** Scopes the tool requires. */
  scopesRequired: string[];
  /**
   * `ok` (ran), `error` (ran and failed, or refused input), `denied` (missing scope, refused or
   * declined confirmation), `rate_limited`, `confirmed` (a confirmed mutation ran).
   */
  outcome: ToolCallOutcome;
  /** Wall time of the call in milliseconds. */
  durationMs: number;
  /** Epoch milliseconds when the call started. */
  time: number;
  /** Short reason for `error` / `denied` / `rate_limited`. */
  reason?: string;
  /** For a mutating tool's first call: `preview` (returned a token) or `elicit` (asked). */
  phase?: "preview" | "elicit";
}

/** An `onMutation` event: a confirmed mutation ran (once). */
export interface MutationEvent {
  /** The mutating tool. */
  tool: string;
  /** `sub` of the confirming token. */
  subject: string;
  /** `client_id` of the confirming token. */
  clientId: string;
  /** Gatehouse grant id, when known. */
  grantId: string | undefined;
  /** The arguments it ran with. */
  args: Record<string, unknown>;
  /** The preview the user confirmed. */
  preview: string;
  /** How it was confirmed. */
  via: "elicitation" | "confirm_tool";
  /** Whether the result was an error. */
  isError: boolean;
}

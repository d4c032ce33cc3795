/**
 * Adapters for MCP hosting helpers that bring their own authentication seam:
 * - Vercel's `mcp-handler`: `withMcpAuth(handler, verifyToken, options)` calls
 *   `verifyToken(req, bearerToken)` and expects an SDK `AuthInfo` or `undefined` (→ 401).
 * - Cloudflare's `agents`: `createMcpHandler(server, { authContext })` exposes
 *   `{ userId, clientId, scopes, props }` to tools through `getMcpAuthContext()`; its SDK v2
 *   handler also takes `fetch(req, { authInfo })`.
 *
 * Neither package is a dependency: these functions only produce the shapes those libraries
 * document.
 *
 * @module
 */
import type { AuthInfo } from "@modelcontextprotocol/sdk/server/auth/types";
import type { VerifiedToken, Verifier, VerifyFunction } from "../../verify.ts";
import { toAuthInfo } from "./protect.ts";

/** Options for {@linkcode mcpHandlerVerifyToken}. */
export interface VerifyTokenOptions {
  /** Scopes every request needs (checked with the verifier's scope hierarchy). */
  scopes?: string[];
}

/**
 * A `verifyToken` for `mcp-handler`'s `withMcpAuth`: verifies the bearer token with Gatehouse
 * (signature, issuer, audience, expiry, revocation per the verifier's mode, `scopes`) and
 * returns the SDK `AuthInfo` (`extra.subject`, `extra.grantId`), or `undefined` for any
 * failure, which `withMcpAuth(..., { required: true })` answers with its 401 challenge.
 * Never throws for a bad token.
 *
 * @example
 * ```ts
 * import { createVerifier } from "@gatehouse/oauth/verify";
 * import { mcpHandlerVerifyToken } from "@gatehouse/oauth/mcp";
 *
 * const verifier = createVerifier({
 *   issuer: "https://auth.example.com",
 *   audience: "https://app.example.com/api/mcp",
 *   jwksUri: "https://auth.example.com/jwks",
 * });
 * // with mcp-handler: withMcpAuth(handler, verifyToken, { required: true })
 * const verifyToken = mcpHandlerVerifyToken(verifier, { scopes: ["mcp:read"] });
 * ```
 */
export function mcpHandlerVerifyToken(
  verifier: Verifier | VerifyFunction,
  options: VerifyTokenOptions = {},
): (req: Request, bearerToken?: string) => Promise<AuthInfo | undefined> {
  const verify = typeof verifier === "function" ? verifier : verifier.verify;
  return async (_req, bearerToken) => {
    if (!bearerToken) return undefined;
    try {
      const result = await verify(bearerToken, { scopes: options.scopes ?? [] });
      return result.ok ? toAuthInfo(result.claims) : undefined;
    } catch {
      return undefined;
    }
  };
}

/** The auth context Cloudflare's `agents` exposes through `getMcpAuthContext()`. */
export interface AgentsMcpAuthContext {
  /** The token's subject. */
  userId: string;
  /** The OAuth client. */
  clientId: string;
  /** Granted scopes. */
  scopes: string[];
  /** App data for tools: `grantId`, `resource`, `expiresAt` (seconds), plus `extra`. */
  props: Record<string, unknown>;
}

/**
 * Builds `agents`' auth context from a verified token, for
 * `createMcpHandler(server, { authContext: agentsAuthContext(result.claims) })`.
 * `extra` is merged into `props` (e.g. the upstream identity's claims).
 *
 * @example
 * ```ts
 * import { createVerifier } from "@gatehouse/oauth/verify";
 * import { agentsAuthContext } from "@gatehouse/oauth/mcp";
 *
 * const verifier = createVerifier({
 *   issuer: "https://auth.example.com",
 *   audience: "https://mcp.example.com/mcp",
 *   jwksUri: "https://auth.example.com/jwks",
 * });
 * export async function authContextFor(req: Request) {
 *   const result = await verifier.verify(req);
 *   // not ok: return result.response (the 401/403 challenge) from your Worker
 *   return result.ok ? agentsAuthContext(result.claims) : result.response;
 * }
 * ```
 */
export function agentsAuthContext(
  verified: VerifiedToken,
  extra: Record<string, unknown> = {},
): AgentsMcpAuthContext {
  return {
    userId: verified.subject,
    clientId: verified.clientId,
    scopes: [...verified.scopes],
    props: {
      ...extra,
      grantId: verified.grantId,
      resource: verified.resource,
      expiresAt: verified.expiresAt,
    },
  };
}

/**
 * Gatehouse: an OAuth 2.1 authorization server and token verifier for MCP
 * servers, in Web-standard TypeScript (Deno, Workers, Vercel Edge, Node).
 *
 * ```ts
 * import { createAuthServer } from "@gatehouse/oauth";
 *
 * // Your app's session lookup; here a cookie that holds the user id.
 * const userOf = (req: Request): string | undefined =>
 *   /(?:^|;\s*)uid=([\w-]+)/.exec(req.headers.get("cookie") ?? "")?.[1];
 *
 * const auth = createAuthServer({
 *   issuer: "https://mcp.example.com",
 *   resources: ["https://mcp.example.com/mcp"],
 *   // Signed in → the user id; not yet → your login page. Response.redirect needs an
 *   // absolute URL, so resolve it against the request.
 *   authenticate: (req) =>
 *     userOf(req) ??
 *       Response.redirect(new URL(`/login?next=${encodeURIComponent(req.url)}`, req.url), 302),
 * });
 *
 * Deno.serve((req) => auth.owns(req) ? auth.handle(req) : new Response("your app"));
 * ```
 *
 * An `authenticate` (or `renderConsent`, or `onEvent`) hook that throws is
 * reported as an `error` audit event and on the console (unless `quiet`); the
 * user gets a generic error page.
 *
 * @module
 */
export { createAuthServer } from "./src/server.ts";
export type { AdminApi, AuthServer, GrantFilter, ServerVerifyOptions } from "./src/server.ts";
export { ConfigError } from "./src/config.ts";
export type {
  AuthenticateContext,
  AuthenticateResult,
  AuthServerConfig,
  ConsentPolicy,
  IntrospectionClient,
  RateLimitsConfig,
  RefreshPropsContext,
  RegistrationOptions,
  RegistrationPolicy,
  ResourceConfig,
  RevocationMode,
} from "./src/config.ts";
export type { AuditEvent, AuditEventType } from "./src/events.ts";
export type { AuthMethod, ClientJwks, ClientRecord, EffectiveMetadata } from "./src/clients.ts";
export type { OutboundConfig } from "./src/_outbound.ts";
export type { GrantRecord } from "./src/grants.ts";
export type { EncryptionKey } from "./src/props.ts";
export { generateEncryptionKey } from "./src/props.ts";
export type { ApprovalFilter, ApprovalRecord } from "./src/approvals.ts";
export type { ConsentPageContext } from "./src/consent_page.ts";
export { renderConsentPage } from "./src/consent_page.ts";
export { generateSigningKey } from "./src/keys.ts";
export { OAuthError } from "./src/errors.ts";
export type { OAuthErrorCode } from "./src/errors.ts";
export type { SigningJwk } from "./src/keys.ts";
export { memoryStorage } from "./storage/memory.ts";
export type { Storage } from "./storage/mod.ts";
export type { VerifiedToken, VerifyResult } from "./src/verifier.ts";

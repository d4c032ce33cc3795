/**
 * Gatehouse: an OAuth 2.1 authorization server and token verifier for MCP
 * servers, in Web-standard TypeScript (Deno, Workers, Vercel Edge, Node).
 *
 * ```ts
 * import { createAuthServer } from "@gatehouse/oauth";
 * const auth = createAuthServer({
 *   issuer: "https://mcp.example.com",
 *   resources: ["https://mcp.example.com/mcp"],
 *   authenticate: (req) => mySession(req)?.userId ?? Response.redirect("/login"),
 * });
 * Deno.serve((req) => auth.owns(req) ? auth.handle(req) : myApp(req));
 * ```
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
  IntrospectionClient,
  RefreshPropsContext,
  RegistrationPolicy,
  ResourceConfig,
  RevocationMode,
} from "./src/config.ts";
export type { AuditEvent, AuditEventType } from "./src/events.ts";
export type { ClientRecord } from "./src/clients.ts";
export type { GrantRecord } from "./src/grants.ts";
export type { EncryptionKey } from "./src/props.ts";
export { generateEncryptionKey } from "./src/props.ts";
export type { ConsentPageContext } from "./src/consent_page.ts";
export { renderConsentPage } from "./src/consent_page.ts";
export { generateSigningKey } from "./src/keys.ts";
export { OAuthError } from "./src/errors.ts";
export { memoryStorage } from "./storage/memory.ts";
export type { Storage } from "./storage/mod.ts";
export type { VerifiedToken, VerifyResult } from "./src/verifier.ts";

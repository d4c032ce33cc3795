/**
 * `@gatehouse/oauth/verify`: the small entry for resource servers (MCP servers) that only need
 * to check Gatehouse access tokens. No zod, no server code, no npm dependencies: it verifies
 * RFC 9068 JWTs (EdDSA / ES256) with Web Crypto against a local JWKS or the issuer's
 * `jwks_uri`, or asks an RFC 7662 introspection endpoint, and builds RFC 6750 / RFC 9728
 * challenge responses.
 *
 * @example
 * ```ts
 * import { createVerifier } from "@gatehouse/oauth/verify";
 *
 * const verifier = createVerifier({
 *   issuer: "http://localhost:8787",
 *   audience: "http://localhost:8787/mcp",
 *   jwksUri: "http://localhost:8787/jwks",
 *   scopeHierarchy: { "mcp:admin": ["mcp:write"], "mcp:write": ["mcp:read"] },
 * });
 *
 * Deno.serve(async (req) => {
 *   const result = await verifier.verify(req, { scopes: ["mcp:read"] });
 *   if (!result.ok) return result.response;
 *   return new Response(`hello ${result.claims.subject}`);
 * });
 * ```
 *
 * @module
 */

export { canonicalResource, createVerifier, resourceMetadataUrlFor } from "./src/verifier.ts";
export type {
  IntrospectionOptions,
  JwkSet,
  JwtAlgorithm,
  PublicJwk,
  RevocationOptions,
  ScopeHierarchy,
  VerifiedToken,
  Verifier,
  VerifierOptions,
  VerifierStats,
  VerifyFailure,
  VerifyFunction,
  VerifyOptions,
  VerifyResult,
  VerifySuccess,
} from "./src/verifier.ts";
export { missingScopes } from "./src/verifier_scopes.ts";

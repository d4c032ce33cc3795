/**
 * Discovery documents: RFC 8414 authorization-server metadata (also served
 * as OpenID discovery) and RFC 9728 protected-resource metadata.
 *
 * @module
 */
import type { Ctx } from "./_context.ts";
import type { Resource } from "./config.ts";
import { resourceMetadataUrlFor } from "./verifier.ts";
import { ASSERTION_ALGS } from "./client_metadata.ts";

/** RFC 8414 §2 metadata for this server. */
export function authorizationServerMetadata(ctx: Ctx): Record<string, unknown> {
  const e = ctx.endpoints;
  const authMethods = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"];
  const assertionAlgs = [...ASSERTION_ALGS];
  const md: Record<string, unknown> = {
    issuer: ctx.config.issuer,
    authorization_endpoint: e.authorization,
    token_endpoint: e.token,
    jwks_uri: e.jwks,
    revocation_endpoint: e.revocation,
    introspection_endpoint: e.introspection,
    scopes_supported: ctx.config.scopes,
    response_types_supported: ["code"],
    response_modes_supported: ["query"],
    grant_types_supported: ["authorization_code", "refresh_token"],
    token_endpoint_auth_methods_supported: authMethods,
    revocation_endpoint_auth_methods_supported: authMethods,
    introspection_endpoint_auth_methods_supported: [
      "client_secret_basic",
      "client_secret_post",
      "private_key_jwt",
    ],
    // RFC 8414 §2: required when private_key_jwt is listed.
    token_endpoint_auth_signing_alg_values_supported: assertionAlgs,
    revocation_endpoint_auth_signing_alg_values_supported: assertionAlgs,
    introspection_endpoint_auth_signing_alg_values_supported: assertionAlgs,
    code_challenge_methods_supported: ["S256"],
    authorization_response_iss_parameter_supported: true,
    client_id_metadata_document_supported: ctx.config.clientIdMetadataDocuments !== false,
    resource_indicators_supported: true,
    access_token_signing_alg_values_supported: [ctx.keys.alg],
  };
  if (ctx.config.registration !== "closed") md.registration_endpoint = e.registration;
  return md;
}

/** The path-suffixed protected-resource-metadata path for a resource (RFC 9728 §3.1). */
export function prmPath(resource: string): string {
  return new URL(resourceMetadataUrlFor(resource)).pathname;
}

/** RFC 9728 §2 metadata for one resource. `offline_access` is never listed (MCP 2026). */
export function protectedResourceMetadata(ctx: Ctx, r: Resource): Record<string, unknown> {
  return {
    resource: r.resource,
    authorization_servers: [ctx.config.issuer],
    scopes_supported: r.scopes.filter((s) => s !== "offline_access"),
    bearer_methods_supported: ["header"],
    ...(r.name ? { resource_name: r.name } : {}),
  };
}

/**
 * Resource URI rules shared by the verifier and the server: the canonical form an audience is
 * compared in, and the RFC 9728 metadata URL derived from a resource.
 *
 * @module
 */

/**
 * Canonical form of a resource URI for comparison: lowercase scheme and host (via URL
 * parsing), default port dropped, no fragment, no trailing slash. Non-URLs are returned as is.
 */
export function canonicalResource(resource: string): string {
  let url: URL;
  try {
    url = new URL(resource);
  } catch {
    return resource;
  }
  return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, "")}${url.search}`;
}

/** The RFC 9728 path-suffixed metadata URL for a resource (`/mcp` → `/.well-known/oauth-protected-resource/mcp`). */
export function resourceMetadataUrlFor(resource: string): string {
  const url = new URL(resource);
  const path = url.pathname.replace(/\/+$/, "");
  return `${url.protocol}//${url.host}/.well-known/oauth-protected-resource${path}`;
}

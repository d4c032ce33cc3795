/**
 * Client authentication at /token, /revoke and /introspect (RFC 6749 §2.3,
 * RFC 7523 §2.2): `client_secret_basic`, `client_secret_post`,
 * `private_key_jwt`, or `none` (a public client names itself). Exactly one
 * method per request, and it must be the one the client registered.
 *
 * @module
 */
import { OAuthError } from "./errors.ts";
import { sha256, timingSafeEqual } from "./_crypto.ts";
import { JWT_BEARER_ASSERTION } from "./client_metadata.ts";
import type { ClientLookup, ClientRecord } from "./clients.ts";
import type { Ctx } from "./_context.ts";

/**
 * The client id and secret of an `Authorization: Basic` header (RFC 6749 §2.3.1: each
 * form-urlencoded, then base64; a value that is not valid form encoding is taken as is).
 *
 * @throws {OAuthError} 401 invalid_client (with `WWW-Authenticate: Basic`) when the header is
 *   not base64 of UTF-8 text with a ":"
 */
export function decodeBasic(header: string): { id: string; secret: string } {
  const b64 = header.slice(6).trim();
  let decoded: string;
  try {
    decoded = new TextDecoder("utf-8", { fatal: true }).decode(
      Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)),
    );
  } catch {
    throw new OAuthError("invalid_client", "malformed Basic credentials", {
      headers: { "www-authenticate": 'Basic realm="token"' },
    });
  }
  const i = decoded.indexOf(":");
  if (i < 0) {
    throw new OAuthError("invalid_client", "malformed Basic credentials", {
      headers: { "www-authenticate": 'Basic realm="token"' },
    });
  }
  try {
    // RFC 6749 §2.3.1: form-urlencoded before base64.
    return {
      id: decodeURIComponent(decoded.slice(0, i).replace(/\+/g, " ")),
      secret: decodeURIComponent(decoded.slice(i + 1).replace(/\+/g, " ")),
    };
  } catch {
    return { id: decoded.slice(0, i), secret: decoded.slice(i + 1) };
  }
}

/**
 * Authenticate the caller of /token, /revoke, /introspect per the client's
 * registered method. Exactly one method may be used.
 *
 * @returns the authenticated client
 * @throws {OAuthError} 401 invalid_client naming the rule broken (with
 *   `WWW-Authenticate: Basic` when Basic was tried); 400 invalid_request when
 *   two methods are mixed
 */
export async function authenticateClient(
  ctx: Ctx,
  req: Request,
  params: Map<string, string>,
): Promise<ClientRecord> {
  const lookup = (id: string): Promise<ClientLookup> => ctx.resolveClient(id);
  const authz = req.headers.get("authorization");
  const basic = authz !== null && /^basic /i.test(authz) ? decodeBasic(authz) : undefined;
  if (authz !== null && !basic) {
    throw new OAuthError("invalid_client", "unsupported Authorization scheme", {
      headers: { "www-authenticate": 'Basic realm="token"' },
    });
  }
  const bodySecret = params.get("client_secret");
  const assertion = params.get("client_assertion");
  const assertionType = params.get("client_assertion_type");
  const methods = [basic, bodySecret, assertion ?? assertionType].filter((m) => m !== undefined);
  if (methods.length > 1) {
    throw new OAuthError("invalid_request", "use only one client authentication method");
  }
  const bodyId = params.get("client_id");
  if (assertion !== undefined || assertionType !== undefined) {
    if (assertionType !== JWT_BEARER_ASSERTION) {
      throw new OAuthError(
        "invalid_client",
        `client_assertion_type must be ${JWT_BEARER_ASSERTION} (RFC 7523 §2.2)`,
      );
    }
    if (assertion === undefined) throw new OAuthError("invalid_client", "client_assertion missing");
    // Loaded on first use: servers whose clients never send assertions don't pay for it.
    const { authenticateAssertion } = await import("./client_assertion.ts");
    return await authenticateAssertion(ctx, assertion, bodyId, lookup);
  }
  if (basic && bodyId !== undefined && bodyId !== basic.id) {
    throw new OAuthError("invalid_request", "client_id does not match the Basic credentials");
  }
  const id = basic?.id ?? bodyId;
  const fail = (msg: string) =>
    new OAuthError("invalid_client", msg, {
      headers: basic ? { "www-authenticate": 'Basic realm="token"' } : {},
    });
  if (!id) throw fail("client authentication required");
  const found = await lookup(id);
  if (!found.client) throw fail(found.problem);
  const client = found.client;
  const method = basic
    ? "client_secret_basic"
    : bodySecret !== undefined
    ? "client_secret_post"
    : "none";
  if (method !== client.token_endpoint_auth_method) {
    throw fail(
      `client is registered for ${client.token_endpoint_auth_method} but authenticated with ${method}`,
    );
  }
  if (method !== "none") {
    const presented = await sha256((basic?.secret ?? bodySecret)!);
    if (!client.client_secret_hash || !timingSafeEqual(presented, client.client_secret_hash)) {
      throw fail("client authentication failed: wrong client secret");
    }
  }
  return client;
}

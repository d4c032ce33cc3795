/**
 * The one error type of the server: an RFC 6749 §5.2 error code, a
 * description safe to show the client, and an HTTP status.
 *
 * @module
 */

/** Error codes used across RFC 6749, 7009, 7591, 7662, 8707 and 6750. */
export type OAuthErrorCode =
  | "invalid_request"
  | "invalid_client"
  | "invalid_grant"
  | "unauthorized_client"
  | "unsupported_grant_type"
  | "unsupported_response_type"
  | "unsupported_token_type"
  | "invalid_scope"
  | "invalid_target"
  | "access_denied"
  | "server_error"
  | "temporarily_unavailable"
  | "invalid_redirect_uri"
  | "invalid_client_metadata"
  | "invalid_software_statement"
  | "unapproved_software_statement"
  | "invalid_token"
  | "insufficient_scope"
  | "method_not_allowed"
  | "not_found";

/** An OAuth error with its HTTP status. Descriptions never contain secrets. */
export class OAuthError extends Error {
  /** RFC error code. */
  readonly code: OAuthErrorCode;
  /** HTTP status for the JSON form. */
  readonly status: number;
  /** Extra response headers (e.g. `WWW-Authenticate` for invalid_client). */
  readonly headers: Record<string, string>;

  /** Create an error; `status` defaults to 400 (401 for invalid_client). */
  constructor(
    code: OAuthErrorCode,
    description: string,
    options: { status?: number; headers?: Record<string, string> } = {},
  ) {
    super(description);
    this.name = "OAuthError";
    this.code = code;
    this.status = options.status ?? (code === "invalid_client" ? 401 : 400);
    this.headers = options.headers ?? {};
  }

  /** The RFC 6749 §5.2 JSON response. */
  toResponse(extraHeaders: Record<string, string> = {}): Response {
    return jsonResponse({ error: this.code, error_description: this.message }, {
      status: this.status,
      headers: { ...this.headers, ...extraHeaders },
    });
  }
}

/** A JSON response with `Cache-Control: no-store`. */
export function jsonResponse(
  body: unknown,
  init: { status?: number; headers?: Record<string, string> } = {},
): Response {
  return new Response(JSON.stringify(body), {
    status: init.status ?? 200,
    headers: {
      "content-type": "application/json",
      "cache-control": "no-store",
      ...init.headers,
    },
  });
}

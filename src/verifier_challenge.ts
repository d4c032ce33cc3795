/**
 * RFC 6750 / RFC 9728 challenge responses for the resource-server verifier.
 *
 * @module
 */

/** The error codes a bearer challenge can carry (RFC 6750 §3.1). */
export type BearerErrorCode = "invalid_request" | "invalid_token" | "insufficient_scope";

/** What goes into one challenge. */
export interface ChallengeInput {
  /** HTTP status: 400, 401, 403 or 503. */
  status: number;
  /** Error code; omitted from the header when the request carried no credentials. */
  error?: BearerErrorCode;
  /** Human-readable description (never contains the token). */
  description: string;
  /** RFC 9728 protected-resource metadata URL. */
  resourceMetadata: string;
  /** Scopes to advertise (RFC 6750 `scope`). */
  scopes?: readonly string[];
}

/** Keeps only characters RFC 6750 allows inside a quoted `error_description`/`scope`. */
function quoted(value: string): string {
  return '"' + value.replace(/[^\x20\x21\x23-\x5B\x5D-\x7E]/g, "") + '"';
}

/** Builds the `WWW-Authenticate` header value for a challenge. */
export function buildChallenge(input: ChallengeInput): string {
  const params: string[] = [];
  const scope = input.scopes && input.scopes.length > 0 ? input.scopes.join(" ") : undefined;
  if (input.error === undefined) {
    params.push(`resource_metadata=${quoted(input.resourceMetadata)}`);
    if (scope) params.push(`scope=${quoted(scope)}`);
  } else if (input.error === "insufficient_scope") {
    params.push(`error="insufficient_scope"`);
    if (scope) params.push(`scope=${quoted(scope)}`);
    params.push(`resource_metadata=${quoted(input.resourceMetadata)}`);
  } else {
    params.push(`error=${quoted(input.error)}`);
    params.push(`error_description=${quoted(input.description)}`);
    params.push(`resource_metadata=${quoted(input.resourceMetadata)}`);
    if (scope) params.push(`scope=${quoted(scope)}`);
  }
  return "Bearer " + params.join(", ");
}

/**
 * Builds the full error Response: challenge header, `no-store`, small JSON body. The body
 * mirrors the challenge: a request without credentials gets no `error` member in either
 * (RFC 6750 §3.1), only `error_description`.
 */
export function challengeResponse(input: ChallengeInput): Response {
  const headers = new Headers({
    "content-type": "application/json",
    "cache-control": "no-store",
  });
  if (input.status !== 503) headers.set("www-authenticate", buildChallenge(input));
  const error = input.status === 503 ? "temporarily_unavailable" : input.error;
  const body = JSON.stringify(
    error === undefined
      ? { error_description: input.description }
      : { error, error_description: input.description },
  );
  return new Response(body, { status: input.status, headers });
}

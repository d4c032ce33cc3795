/**
 * RFC 6750 / RFC 9728 challenge responses for the resource-server verifier, and the
 * {@linkcode Failure} every verify step returns instead of throwing.
 *
 * @module
 */

import type { VerifyFailure, VerifyResult } from "./verifier_types.ts";

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

/** Why a verify step refused a token; turned into a challenge by {@linkcode failureResult}. */
export class Failure {
  constructor(
    readonly status: number,
    readonly error: BearerErrorCode | undefined,
    readonly description: string,
    readonly scopes?: readonly string[],
  ) {}
}

/** A 401 `invalid_token` failure with this description. */
export function badClaim(description: string): Failure {
  return new Failure(401, "invalid_token", description);
}

/**
 * The failed {@linkcode VerifyResult} for `f`: the challenge advertises the failure's own
 * scopes, else the call's `required` scopes, else `scopesSupported`.
 */
export function failureResult(
  f: Failure,
  required: readonly string[],
  resourceMetadataUrl: string,
  scopesSupported: readonly string[],
): VerifyFailure {
  const scopes = f.scopes ?? (required.length > 0 ? required : scopesSupported);
  const response = challengeResponse({
    status: f.status,
    error: f.error,
    description: f.description,
    resourceMetadata: resourceMetadataUrl,
    scopes,
  });
  const error = f.status === 503 ? "temporarily_unavailable" : f.error ?? "invalid_token";
  return { ok: false, error, status: f.status, response };
}

/**
 * The answer when a verify step threw unexpectedly: a 401 `invalid_token` challenge, or a bare
 * 401 with `no-store` if even building that throws.
 */
export function lastResortResult(
  required: readonly string[],
  description: string,
  resourceMetadataUrl: string,
  scopesSupported: readonly string[],
): VerifyResult {
  try {
    return failureResult(
      new Failure(401, "invalid_token", description),
      required,
      resourceMetadataUrl,
      scopesSupported,
    );
  } catch {
    return {
      ok: false,
      error: "invalid_token",
      status: 401,
      response: new Response(null, { status: 401, headers: { "cache-control": "no-store" } }),
    };
  }
}

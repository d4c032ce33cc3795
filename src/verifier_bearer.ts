/**
 * The verifier's parse step: takes the bearer token out of a request (RFC 6750 §2.1) and
 * refuses the forms RFC 6750 §2.2–2.3 and the MCP authorization spec rule out (a token in the
 * query string or the form body, a malformed Authorization header).
 *
 * @module
 */

import { BodyError, readBoundedText } from "./_body.ts";
import { Failure } from "./verifier_challenge.ts";

/** Largest form body inspected for a forbidden `access_token` parameter (RFC 6750 §2.2), bytes. */
const MAX_FORM_BYTES = 64 * 1024;
/** RFC 6750 §2.1 `b64token`. */
export const B64TOKEN: RegExp = /^[A-Za-z0-9\-._~+/]+=*$/;

/**
 * The bearer token of a request (or a raw token string, checked against `b64token`):
 * the token, a {@linkcode Failure} (400 for a malformed or duplicated token, 413 for a form body
 * too large to inspect), or undefined when no token was sent.
 */
export async function extractToken(input: Request | string): Promise<string | Failure | undefined> {
  if (typeof input === "string") {
    if (input === "") return undefined;
    return B64TOKEN.test(input) ? input : new Failure(401, "invalid_token", "malformed token");
  }
  const header = input.headers.get("authorization");
  let token: string | undefined;
  if (header !== null) {
    const trimmed = header.trim();
    const space = trimmed.indexOf(" ");
    const scheme = space < 0 ? trimmed : trimmed.slice(0, space);
    if (scheme.toLowerCase() === "bearer") {
      const value = space < 0 ? "" : trimmed.slice(space + 1).trim();
      if (!B64TOKEN.test(value)) {
        return new Failure(400, "invalid_request", "malformed Authorization header");
      }
      token = value;
    }
  }
  if (input.url.includes("access_token")) {
    let inQuery = false;
    try {
      inQuery = new URL(input.url).searchParams.has("access_token");
    } catch {
      inQuery = false;
    }
    if (inQuery) {
      return new Failure(
        400,
        "invalid_request",
        "access tokens in the query string are not accepted",
      );
    }
  }
  const type = input.headers.get("content-type") ?? "";
  if (
    input.body !== null && input.method !== "GET" && input.method !== "HEAD" &&
    type.toLowerCase().startsWith("application/x-www-form-urlencoded")
  ) {
    // Bounded: a form body too large to inspect for a second token is refused, not buffered.
    let text: string;
    try {
      text = await readBoundedText(input.clone(), MAX_FORM_BYTES);
    } catch (e) {
      return new Failure(
        e instanceof BodyError && e.reason === "too_large" ? 413 : 400,
        "invalid_request",
        "the form body could not be inspected for an access token",
      );
    }
    const form = new URLSearchParams(text);
    if (form.has("access_token")) {
      return new Failure(
        400,
        "invalid_request",
        token === undefined
          ? "send the access token in the Authorization header"
          : "more than one access token was sent",
      );
    }
  }
  return token;
}

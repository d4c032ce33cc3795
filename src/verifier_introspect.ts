/**
 * The verifier's RFC 7662 introspection call: one bounded, time-limited POST, and the checks
 * that make an introspection answer acceptable as an access token for this resource
 * (active, an access-token type, this issuer, this audience, not expired).
 *
 * @module
 */

import { readBoundedJson, untilAborted } from "./_body.ts";
import type { IntrospectionOptions } from "./verifier_types.ts";

/** Largest introspection response read, bytes. */
export const MAX_INTROSPECTION_BYTES = 64 * 1024;
/** Default time limit for one introspection call (headers + body), ms. */
export const INTROSPECTION_TIMEOUT_MS = 5_000;

/**
 * `token_type` values (RFC 7662 §2.2) that mean "access token"; compared case-insensitively.
 * Anything else (`refresh_token`, an id token, …) is refused. An absent `token_type` is
 * accepted because the audience check below is mandatory: a refresh token has no `aud`.
 */
const ACCESS_TOKEN_TYPES = new Set([
  "bearer",
  "access_token",
  "urn:ietf:params:oauth:token-type:access_token",
]);

/** How to call the endpoint and what to expect. */
export interface IntrospectRequest {
  endpoint: string;
  clientId: string;
  clientSecret: string;
  timeoutMs?: number;
  fetch: typeof fetch;
  issuer: string;
  /** This verifier's canonical resource. */
  resource: string;
  canonical: (s: string) => string;
  toleranceMs: number;
}

/** A refusal: 401 (the token is not acceptable) or 503 (the endpoint failed; fail closed). */
export interface IntrospectRefusal {
  ok: false;
  refused: 401 | 503;
  description: string;
}

/** POST the token to the introspection endpoint and validate the answer. Never throws. */
export async function introspectToken(
  r: IntrospectRequest,
  token: string,
  at: number,
): Promise<{ ok: true; info: Record<string, unknown> } | IntrospectRefusal> {
  const refuse = (refused: 401 | 503, description: string): IntrospectRefusal => ({
    ok: false,
    refused,
    description,
  });
  let body: unknown;
  const signal = AbortSignal.timeout(r.timeoutMs ?? INTROSPECTION_TIMEOUT_MS);
  try {
    // RFC 6749 §2.3.1: form-urlencode id and secret, then base64 (ASCII after encoding).
    const basic = btoa(`${encodeURIComponent(r.clientId)}:${encodeURIComponent(r.clientSecret)}`);
    const res = await untilAborted(
      r.fetch(r.endpoint, {
        method: "POST",
        headers: {
          authorization: `Basic ${basic}`,
          "content-type": "application/x-www-form-urlencoded",
          accept: "application/json",
        },
        body: new URLSearchParams({ token, token_type_hint: "access_token" }).toString(),
        redirect: "error",
        signal,
      }),
      signal,
    );
    if (!res.ok) {
      await res.body?.cancel().catch(() => {});
      return refuse(503, "token introspection failed");
    }
    body = await readBoundedJson(res, MAX_INTROSPECTION_BYTES, { signal });
  } catch {
    return refuse(503, "token introspection is unavailable");
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return refuse(503, "token introspection failed");
  }
  const info = body as Record<string, unknown>;
  if (info.active !== true) return refuse(401, "token is not active");
  if (
    info.token_type !== undefined &&
    (typeof info.token_type !== "string" || !ACCESS_TOKEN_TYPES.has(info.token_type.toLowerCase()))
  ) {
    return refuse(401, "token is not an access token");
  }
  if (info.iss !== undefined && info.iss !== r.issuer) {
    return refuse(401, "token was issued by another issuer");
  }
  // RFC 8707 §2 / RFC 9068 §4: the audience must be present and name this resource.
  if (info.aud === undefined) return refuse(401, "token has no audience");
  const auds = Array.isArray(info.aud) ? info.aud : [info.aud];
  if (!auds.some((a) => typeof a === "string" && r.canonical(a) === r.resource)) {
    return refuse(401, "token audience is not this resource");
  }
  if (typeof info.exp !== "number") return refuse(401, "introspection response has no exp");
  if (at >= info.exp * 1000 + r.toleranceMs) return refuse(401, "token expired");
  return { ok: true, info };
}

/** Which calls introspect: all of them, or (with local keys) those requiring one of `scopes`. */
export function introspectionScopes(
  introspection: IntrospectionOptions | undefined,
  hasLocalKeys: boolean,
): (required: readonly string[]) => boolean {
  const only = introspection?.scopes;
  if (!introspection || !hasLocalKeys || !only) return () => Boolean(introspection);
  const set = new Set(only);
  return (required) => required.some((s) => set.has(s));
}

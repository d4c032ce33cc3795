/** Request parsing and response helpers (internal). */
import { OAuthError } from "./errors.ts";
import { BodyError, readBoundedText } from "./_body.ts";

/** Largest request body any endpoint reads. */
export const MAX_BODY = 64 * 1024;

/** How long a request body may take to arrive, ms (a trickling body is answered 408). */
export const BODY_TIMEOUT_MS = 10_000;

/** CORS headers for endpoints browser-based clients call directly. */
export const CORS: Record<string, string> = {
  "access-control-allow-origin": "*",
  "access-control-allow-headers": "authorization, content-type, mcp-protocol-version",
  "access-control-allow-methods": "GET, POST, OPTIONS",
  "access-control-expose-headers": "www-authenticate",
  "access-control-max-age": "86400",
};

/** 405 with `Allow`. */
export function methodNotAllowed(allow: string[]): Response {
  return new OAuthError("invalid_request", `method not allowed; use ${allow.join(" or ")}`, {
    status: 405,
    headers: { allow: allow.join(", "), ...CORS },
  }).toResponse();
}

async function readText(req: Request, timeoutMs = BODY_TIMEOUT_MS): Promise<string> {
  try {
    return await readBoundedText(req, MAX_BODY, { timeoutMs });
  } catch (e) {
    if (e instanceof BodyError && e.reason === "too_large") {
      throw new OAuthError("invalid_request", "request body too large", { status: 413 });
    }
    if (e instanceof BodyError && e.reason === "timeout") {
      throw new OAuthError("invalid_request", "request body was not received in time", {
        status: 408,
      });
    }
    throw new OAuthError("invalid_request", "request body could not be read");
  }
}

/** Media type of the request without parameters, lowercased. */
function mediaType(req: Request): string {
  return (req.headers.get("content-type") ?? "").split(";")[0].trim().toLowerCase();
}

/**
 * Parse an `application/x-www-form-urlencoded` body into single values.
 * RFC 6749 §3.1: a parameter sent more than once is an error. The body is read
 * bounded ({@link MAX_BODY}; 413) within `timeoutMs` (default {@link BODY_TIMEOUT_MS}; 408).
 */
export async function readForm(
  req: Request,
  timeoutMs: number = BODY_TIMEOUT_MS,
): Promise<Map<string, string>> {
  if (mediaType(req) !== "application/x-www-form-urlencoded") {
    throw new OAuthError("invalid_request", "body must be application/x-www-form-urlencoded");
  }
  const text = await readText(req, timeoutMs);
  return singleParams(new URLSearchParams(text));
}

/** Reduce URLSearchParams to single values; a repeated parameter is invalid_request. Empty values count as absent. */
export function singleParams(params: URLSearchParams): Map<string, string> {
  const out = new Map<string, string>();
  const seen = new Set<string>();
  for (const [k, v] of params) {
    if (seen.has(k)) {
      throw new OAuthError("invalid_request", `parameter "${k.slice(0, 64)}" repeated`);
    }
    seen.add(k);
    if (v !== "") out.set(k, v);
  }
  return out;
}

/** Parse a JSON object body. */
export async function readJsonObject(
  req: Request,
  errorCode: "invalid_request" | "invalid_client_metadata",
): Promise<Record<string, unknown>> {
  if (mediaType(req) !== "application/json") {
    throw new OAuthError(errorCode, "body must be application/json");
  }
  const text = await readText(req);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new OAuthError(errorCode, "body is not valid JSON");
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new OAuthError(errorCode, "body must be a JSON object");
  }
  return v as Record<string, unknown>;
}

/** Escape text for HTML. */
export function html(s: string): string {
  return s.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!,
  );
}

/** Security headers for every HTML page we render. */
export const HTML_HEADERS: Record<string, string> = {
  "content-type": "text/html; charset=utf-8",
  "cache-control": "no-store",
  "content-security-policy":
    "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "x-content-type-options": "nosniff",
};

/**
 * A minimal HTML error page (never redirects). `link`, when given, is shown as a plain link
 * whose text is the destination host (the user decides whether to follow it).
 */
export function errorPage(
  status: number,
  title: string,
  detail: string,
  link?: { href: string; host: string },
): Response {
  const linkHtml = link
    ? `<p>Return to <a id="return" href="${html(link.href)}" rel="noreferrer">${
      html(link.host)
    }</a></p>`
    : "";
  const body =
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${html(title)}</title>` +
    `<meta name="viewport" content="width=device-width"></head><body style="font-family:system-ui;max-width:36rem;margin:3rem auto;padding:0 1rem">` +
    `<h1>${html(title)}</h1><p>${html(detail)}</p>${linkHtml}</body></html>`;
  return new Response(body, { status, headers: HTML_HEADERS });
}

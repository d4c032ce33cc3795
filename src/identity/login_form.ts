/**
 * A built-in sign-in form for apps with their own user store: plain HTML that works
 * without JavaScript, CSRF-protected (a sealed double-submit token), rate-limited (failures
 * counted per client IP + user name in storage), one generic error message, and a sealed
 * (AES-GCM: authenticated and unreadable) HttpOnly SameSite=Lax session cookie so the
 * consent step and later authorizations do not ask again.
 *
 * @module
 */
import type { AuthenticatorHost, AuthenticatorPlugin, PluginCaller } from "../authenticator.ts";
import type { AuthenticateContext, AuthenticateResult } from "../config.ts";
import { html, HTML_HEADERS, readForm } from "../_http.ts";
import { basePath, cookie, errorCode, randomToken, setCookie, sha256 } from "./_common.ts";

/** One input of the form. */
export interface LoginField {
  /** Form field name (also the key in `verify`'s argument). */
  name: string;
  /** Visible label. */
  label: string;
  /** Input type. Default `"text"`. Password fields are never echoed back. */
  type?: "text" | "email" | "password" | "tel" | "number";
  /** `autocomplete` token (e.g. `"username"`, `"current-password"`, `"one-time-code"`). */
  autocomplete?: string;
}

/** Look and words of the page. */
export interface LoginBranding {
  /** Page title and heading. Default "Sign in". */
  title?: string;
  /** A sentence under the heading. */
  intro?: string;
  /** Button and link colour, `#rgb` or `#rrggbb`. */
  accentColor?: string;
}

/** Options for {@linkcode loginForm}. */
export interface LoginFormOptions {
  /** The inputs (at least one; the first counts failures). Default: user name and password. */
  fields?: LoginField[];
  /**
   * Check the submitted values: the subject (or `{ subject, props, claims }`) when they are
   * right, `null` when not. Whatever is wrong, the user sees one generic message. A throw is
   * reported on the console and the user is asked to try again later.
   */
  verify: (
    fields: Record<string, string>,
    req: Request,
  ) =>
    | string
    | { subject: string; props?: Record<string, unknown>; claims?: Record<string, unknown> }
    | null
    | Promise<
      | string
      | { subject: string; props?: Record<string, unknown>; claims?: Record<string, unknown> }
      | null
    >;
  /** Look and words. */
  branding?: LoginBranding;
  /** Session lifetime in seconds. Default 8 hours. */
  sessionTtl?: number;
  /** Failed attempts allowed per client IP + user name within `lockoutSeconds`. Default 5. */
  maxFailures?: number;
  /** Failure counting window and lockout, seconds. Default 900. */
  lockoutSeconds?: number;
  /**
   * The client's IP for rate limiting (e.g. from a trusted proxy header). Default: the server's
   * own (`createAuthServer({ clientIp })`, else the socket address passed to
   * `handle(req, info)` or `CF-Connecting-IP` on Workers); only when none is known are failures
   * counted per user name alone. A throw is logged (`console.error`, no message) and that
   * default is used instead.
   */
  clientIp?: (req: Request) => string | undefined;
}

/** A Gatehouse `authenticate` showing the built-in sign-in form. */
export interface LoginForm {
  /** The `authenticate` hook. */
  (req: Request, ctx: AuthenticateContext): Promise<AuthenticateResult>;
  /** The path the form posts to, under the issuer (`/login`). */
  readonly path: string;
  /** The plugin the server attaches. */
  readonly gatehouse: AuthenticatorPlugin;
}

const SESSION_COOKIE = "gatehouse_session";
const CSRF_COOKIE = "gatehouse_login_csrf";
const GENERIC = "Those sign-in details are not right. Check them and try again.";

interface Session {
  subject: string;
  props?: Record<string, unknown>;
  claims?: Record<string, unknown>;
  exp: number;
}

/**
 * The built-in sign-in form.
 *
 * @example
 * ```ts
 * import { createAuthServer } from "@gatehouse/oauth";
 * import { loginForm } from "@gatehouse/oauth/identity";
 *
 * const users = new Map([["alice", "correct horse battery staple"]]);
 * const auth = createAuthServer({
 *   issuer: "https://mcp.example.com",
 *   resources: ["https://mcp.example.com/mcp"],
 *   authenticate: loginForm({
 *     // Compare password hashes in a real app; this is only the shape.
 *     verify: ({ username, password }) => users.get(username) === password ? username : null,
 *     branding: { title: "Sign in to Notes" },
 *   }),
 * });
 * ```
 *
 * @throws {TypeError} when `verify` is missing, `fields` is empty or a field name is invalid.
 */
export function loginForm(options: LoginFormOptions): LoginForm {
  if (typeof options?.verify !== "function") throw new TypeError("loginForm: verify is required");
  const fields = options.fields ?? [
    { name: "username", label: "User name", type: "text", autocomplete: "username" },
    { name: "password", label: "Password", type: "password", autocomplete: "current-password" },
  ];
  if (!Array.isArray(fields) || fields.length === 0) {
    throw new TypeError("loginForm: fields must list at least one input");
  }
  for (const f of fields) {
    if (!/^[a-z][a-z0-9_]{0,31}$/.test(f.name) || ["csrf", "return_to"].includes(f.name)) {
      throw new TypeError(`loginForm: invalid field name "${f.name}"`);
    }
  }
  const accent = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.test(options.branding?.accentColor ?? "")
    ? options.branding!.accentColor!
    : "#1a56db";
  const title = options.branding?.title ?? "Sign in";
  const sessionTtl = options.sessionTtl ?? 8 * 3600;
  const maxFailures = options.maxFailures ?? 5;
  const lockout = options.lockoutSeconds ?? 900;
  let host: AuthenticatorHost | undefined;
  const h = () => {
    if (!host) throw new Error('loginForm: pass it to createAuthServer as "authenticate"');
    return host;
  };

  async function page(
    status: number,
    returnTo: string,
    values: Record<string, string>,
    error?: string,
    extraHeaders: Record<string, string> = {},
  ): Promise<Response> {
    const hs = h();
    const nonce = randomToken();
    const csrf = await hs.sealer.seal({ nonce, exp: hs.now() + 3600_000 }, "gatehouse/login-csrf");
    const inputs = fields.map((f) => {
      const type = f.type ?? "text";
      const value = type === "password" ? "" : values[f.name] ?? "";
      const err = error ? ' aria-invalid="true" aria-describedby="login-error"' : "";
      return `<p><label for="f-${f.name}">${html(f.label)}</label><br>` +
        `<input id="f-${f.name}" name="${f.name}" type="${type}" value="${html(value)}" required` +
        `${f.autocomplete ? ` autocomplete="${html(f.autocomplete)}"` : ""}${err}></p>`;
    }).join("\n");
    const body = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>${html(title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:24rem;margin:3rem auto;padding:0 1rem;line-height:1.5}
input{font-size:1rem;padding:.4rem;width:100%;box-sizing:border-box}
button{font-size:1rem;padding:.5rem 1.25rem;background:${accent};color:#fff;border:0;border-radius:4px}
.error{border-left:4px solid #b42318;padding:.25rem .75rem;background:#fef3f2}</style></head>
<body><main><h1>${html(title)}</h1>
${options.branding?.intro ? `<p>${html(options.branding.intro)}</p>` : ""}
${error ? `<p id="login-error" class="error" role="alert">${html(error)}</p>` : ""}
<form method="post" action="${html(hs.base + "/login")}">
<input type="hidden" name="csrf" value="${html(csrf)}">
<input type="hidden" name="return_to" value="${html(returnTo)}">
${inputs}
<p><button type="submit">Sign in</button></p>
</form></main></body></html>`;
    const headers = new Headers({ ...HTML_HEADERS, ...extraHeaders });
    headers.append("set-cookie", setCookie(hs, CSRF_COOKIE, nonce, basePath(hs) + "/login", 3600));
    return new Response(body, { status, headers });
  }

  async function session(req: Request): Promise<Session | undefined> {
    const v = cookie(req, SESSION_COOKIE);
    if (!v) return undefined;
    const s = await h().sealer.open<Session>(v, "gatehouse/session");
    return s && s.exp > h().now() && typeof s.subject === "string" ? s : undefined;
  }

  async function submit(req: Request, caller?: PluginCaller): Promise<Response> {
    const hs = h();
    let form: Map<string, string>;
    try {
      form = await readForm(req);
    } catch {
      return hs.errorPage(400, "Invalid sign-in form", "The form could not be read.");
    }
    const returnTo = form.get("return_to") ?? "";
    // Our own /authorize URL, as the form carried it: printable ASCII only (a CR/LF would
    // break the Location header; a backslash is a path separator to browsers).
    if (!returnTo.startsWith(basePath(hs) + "/authorize?") || !/^[!-\[\]-~]+$/.test(returnTo)) {
      return hs.errorPage(400, "Invalid sign-in form", "Start again from the application.");
    }
    const nonce = cookie(req, CSRF_COOKIE);
    const token = await hs.sealer.open<{ nonce: string; exp: number }>(
      form.get("csrf") ?? "",
      "gatehouse/login-csrf",
    );
    const values: Record<string, string> = {};
    for (const f of fields) values[f.name] = form.get(f.name) ?? "";
    if (!nonce || !token || token.nonce !== nonce || token.exp < hs.now()) {
      return page(403, returnTo, values, "This form has expired. Please sign in again.");
    }
    // One count per user however it is spelled (fullwidth and other compatibility forms, case).
    const user = (values[fields[0].name] ?? "").normalize("NFKC").trim().toLowerCase();
    let ip: string | undefined;
    try {
      ip = options.clientIp?.(req);
    } catch (e) {
      // Reported like the verify hook; the attempt still counts, by the server's caller IP.
      console.error(`[gatehouse] loginForm clientIp hook failed: ${errorCode(e)}`);
    }
    ip ??= caller?.clientIp ?? "";
    const key = ["limits", "login", await sha256(`${ip}\n${user}`)];
    // Count the attempt before checking it, atomically: parallel guesses cannot all read the
    // same count and each get a check (a success clears the count below).
    const counted = await hs.store.update<{ n: number }>(
      key,
      (c) =>
        (c?.n ?? 0) >= maxFailures
          ? undefined
          : { data: { n: (c?.n ?? 0) + 1 }, exp: hs.now() + lockout * 1000 },
    );
    if (!counted) {
      return page(429, returnTo, values, "Too many attempts. Please wait a while and try again.", {
        "retry-after": String(lockout),
      });
    }
    let who: Awaited<ReturnType<LoginFormOptions["verify"]>>;
    try {
      who = await options.verify(values, req);
    } catch (e) {
      console.error(`[gatehouse] loginForm verify hook failed: ${errorCode(e)}`);
      // Not the user's failure: give the attempt back.
      await hs.store.update<{ n: number }>(
        key,
        (c) => c && c.n > 0 ? { data: { n: c.n - 1 }, exp: hs.now() + lockout * 1000 } : undefined,
      ).catch(() => {});
      return page(503, returnTo, values, "Sign-in is unavailable right now. Please try later.");
    }
    const identity = typeof who === "string" && who
      ? { subject: who }
      : who && typeof who === "object" && typeof who.subject === "string" && who.subject
      ? who
      : undefined;
    if (!identity) return page(401, returnTo, values, GENERIC);
    await hs.store.delete(key);
    const s: Session = { ...identity, exp: hs.now() + sessionTtl * 1000 };
    const sealed = await hs.sealer.seal(s, "gatehouse/session");
    const headers = new Headers({ location: returnTo, "cache-control": "no-store" });
    headers.append(
      "set-cookie",
      setCookie(hs, SESSION_COOKIE, sealed, basePath(hs) + "/", sessionTtl),
    );
    headers.append("set-cookie", setCookie(hs, CSRF_COOKIE, "", basePath(hs) + "/login", 0));
    return new Response(null, { status: 303, headers });
  }

  const authenticate = async (req: Request): Promise<AuthenticateResult> => {
    const s = await session(req);
    if (s) return { subject: s.subject, props: s.props, claims: s.claims };
    if (req.method !== "GET") return "";
    const url = new URL(req.url);
    return await page(200, url.pathname + url.search, {});
  };
  const plugin: AuthenticatorPlugin = {
    attach(hs) {
      host = hs;
    },
    routes: () => ({ "/login": { POST: submit } }),
  };
  return Object.assign(authenticate, { path: "/login", gatehouse: plugin });
}

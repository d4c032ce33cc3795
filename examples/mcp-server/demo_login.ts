/**
 * The demo's one-click sign-in: a stand-in for your app's real login. It
 * shows a form with the demo user prefilled; submitting it sets a cookie and
 * returns to the authorization request. Replace `authenticate` with a lookup
 * of your own session (see README, "Plugging in your sign-in").
 */
import type { AuthenticateResult } from "../../mod.ts";

const COOKIE = "gatehouse_demo_user";
const SIGN_IN_PATH = "/demo/sign-in";

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function cookieUser(req: Request): string | undefined {
  const m = new RegExp(`(?:^|;\\s*)${COOKIE}=([^;]+)`).exec(req.headers.get("cookie") ?? "");
  if (!m) return undefined;
  try {
    const user = decodeURIComponent(m[1]);
    return /^[\w.@-]{1,64}$/.test(user) ? user : undefined;
  } catch {
    return undefined;
  }
}

/** `authenticate` hook: the signed-in demo user, or the sign-in form. */
export function demoAuthenticate(req: Request): AuthenticateResult {
  const user = cookieUser(req);
  if (user) return user;
  const url = new URL(req.url);
  const returnTo = url.pathname + url.search;
  return new Response(
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign in (demo)</title>
<meta name="viewport" content="width=device-width"></head>
<body style="font-family:system-ui;max-width:28rem;margin:3rem auto;padding:0 1rem">
<h1>Sign in</h1><p>This is the Gatehouse demo: any user name works, no password.</p>
<form method="post" action="${SIGN_IN_PATH}">
<label>User <input name="user" value="demo-user" pattern="[\\w.@-]{1,64}" required></label>
<input type="hidden" name="return_to" value="${esc(returnTo)}">
<button type="submit" id="sign-in">Sign in</button></form></body></html>`,
    {
      status: 200,
      headers: {
        "content-type": "text/html; charset=utf-8",
        "cache-control": "no-store",
        "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
      },
    },
  );
}

/** Largest sign-in form read, bytes (the form is two short fields). */
const MAX_FORM_BYTES = 4096;

/** Reads at most `max` bytes of the body (Content-Length first); undefined when it is bigger. */
async function readSmallBody(req: Request, max: number): Promise<string | undefined> {
  if (Number(req.headers.get("content-length") ?? 0) > max) return undefined;
  const reader = req.body?.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  while (reader) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel();
      return undefined;
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  chunks.reduce((at, c) => (bytes.set(c, at), at + c.byteLength), 0);
  return new TextDecoder().decode(bytes);
}

/** Handles POST /demo/sign-in; returns undefined for other requests. */
export async function demoSignIn(req: Request): Promise<Response | undefined> {
  const url = new URL(req.url);
  if (url.pathname !== SIGN_IN_PATH) return undefined;
  if (req.method !== "POST") {
    return new Response("use POST", { status: 405, headers: { allow: "POST" } });
  }
  let form: URLSearchParams;
  try {
    const text = await readSmallBody(req, MAX_FORM_BYTES);
    if (text === undefined) return new Response("form too large", { status: 413 });
    form = new URLSearchParams(text);
  } catch {
    return new Response("unreadable form", { status: 400 });
  }
  const user = form.get("user") ?? "";
  const returnTo = form.get("return_to") ?? "";
  // Our own /authorize URL, printable ASCII only: a CR/LF would break the Location header,
  // a backslash is a path separator to browsers.
  if (
    !/^[\w.@-]{1,64}$/.test(user) || !returnTo.startsWith("/authorize?") ||
    !/^[!-\[\]-~]+$/.test(returnTo)
  ) {
    return new Response("bad sign-in form", { status: 400 });
  }
  return new Response(null, {
    status: 303,
    headers: {
      location: returnTo,
      "set-cookie": `${COOKIE}=${encodeURIComponent(user)}; Path=/; HttpOnly; SameSite=Lax`,
    },
  });
}

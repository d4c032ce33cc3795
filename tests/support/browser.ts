/**
 * A tiny cookie-keeping HTTP "browser" for tests: follows redirects one hop at a time
 * (so a test can stop at, inspect or tamper with any hop), keeps cookies per host with
 * their Path, and submits HTML forms. Every request goes over real HTTP.
 */
import { pkce } from "./flow.ts";

function unescapeHtml(s: string): string {
  return s.replace(/&#(\d+);/g, (_, n) => String.fromCharCode(Number(n)))
    .replace(/&#x([0-9a-f]+);/gi, (_, n) => String.fromCharCode(parseInt(n, 16)))
    .replace(/&quot;/g, '"').replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
}

interface Cookie {
  value: string;
  path: string;
}

export class Browser {
  /** host → name → cookie. */
  readonly jar = new Map<string, Map<string, Cookie>>();

  cookieHeader(url: URL): string {
    const jar = this.jar.get(url.host);
    if (!jar) return "";
    return [...jar].filter(([, c]) => url.pathname.startsWith(c.path))
      .map(([k, c]) => `${k}=${c.value}`).join("; ");
  }

  /** One request, no redirect following; cookies stored. */
  async request(href: string, init: RequestInit = {}): Promise<Response> {
    const url = new URL(href);
    const headers = new Headers(init.headers);
    const cookies = this.cookieHeader(url);
    if (cookies) headers.set("cookie", cookies);
    const res = await fetch(url, { ...init, headers, redirect: "manual" });
    for (const c of res.headers.getSetCookie()) {
      const [pair, ...attrs] = c.split(";");
      const i = pair.indexOf("=");
      const name = pair.slice(0, i).trim();
      const value = pair.slice(i + 1).trim();
      const path = attrs.map((a) => a.trim()).find((a) => /^path=/i.test(a))?.slice(5) || "/";
      let jar = this.jar.get(url.host);
      if (!jar) this.jar.set(url.host, jar = new Map());
      const expired = attrs.some((a) => /^max-age=0$/i.test(a.trim())) ||
        attrs.some((a) => /^expires=Thu, 01 Jan 1970/i.test(a.trim()));
      if (expired || value === "") jar.delete(name);
      else jar.set(name, { value, path });
    }
    return res;
  }

  /** Follow redirects until `stop(url)` is true for the next location, or a non-redirect. */
  async follow(
    href: string,
    stop: (url: URL) => boolean = () => false,
  ): Promise<{ res: Response; url: URL }> {
    let url = new URL(href);
    for (let hops = 0; hops < 20; hops++) {
      if (stop(url)) return { res: new Response(null, { status: 299 }), url };
      const res = await this.request(url.href);
      const loc = res.headers.get("location");
      if (res.status >= 300 && res.status < 400 && loc) {
        await res.body?.cancel();
        url = new URL(loc, url);
        continue;
      }
      return { res, url };
    }
    throw new Error("too many redirects");
  }

  /** Submit the (first, or matching) form of a page; returns the response (not followed). */
  submit(
    pageUrl: URL,
    html: string,
    extra: Record<string, string> = {},
    match?: RegExp,
  ): Promise<Response> {
    const forms = [...html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)];
    const form = forms.find((f) => !match || match.test(f[0])) ?? forms[0];
    if (!form) throw new Error("no form on page: " + html.slice(0, 300));
    const action = /action="([^"]*)"/i.exec(form[1])?.[1] ?? pageUrl.href;
    const fields = new URLSearchParams();
    for (const m of form[2].matchAll(/<input\b([^>]*)>/gi)) {
      const name = /name="([^"]+)"/i.exec(m[1])?.[1];
      const value = /value="([^"]*)"/i.exec(m[1])?.[1] ?? "";
      if (name && !/type="submit"/i.test(m[1])) fields.set(name, unescapeHtml(value));
    }
    for (const [k, v] of Object.entries(extra)) fields.set(k, v);
    return this.request(new URL(unescapeHtml(action), pageUrl).href, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: fields.toString(),
    });
  }
}

/**
 * Register a public client (`token_endpoint_auth_method: "none"`) at `origin` over HTTP and
 * return an /authorize URL for it with a fresh PKCE S256 challenge, `redirectUri` and `state`.
 */
export async function authorizeUrl(
  origin: string,
  redirectUri: string,
  state: string,
): Promise<string> {
  const reg = await fetch(origin + "/register", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ redirect_uris: [redirectUri], token_endpoint_auth_method: "none" }),
  });
  const { client_id } = await reg.json();
  const { challenge } = await pkce();
  return `${origin}/authorize?${new URLSearchParams({
    response_type: "code",
    client_id,
    redirect_uri: redirectUri,
    code_challenge: challenge,
    code_challenge_method: "S256",
    state,
  })}`;
}

/**
 * An OAuth client's loopback redirect target (127.0.0.1, free port): GET /callback records the
 * URL in `hits` and answers a small HTML page (`<p id=done>received</p>`); anything else 404.
 * Call `server.shutdown()` when done.
 */
export function serveCallback(): { origin: string; server: Deno.HttpServer; hits: URL[] } {
  const hits: URL[] = [];
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, (req) => {
    const url = new URL(req.url);
    if (url.pathname !== "/callback") return new Response("not found", { status: 404 });
    hits.push(url);
    return new Response("<!doctype html><title>Callback</title><p id=done>received</p>", {
      headers: { "content-type": "text/html; charset=utf-8" },
    });
  });
  return { origin: `http://127.0.0.1:${server.addr.port}`, server, hits };
}

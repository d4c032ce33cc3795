/**
 * Several upstream providers behind one `authenticate`: a small chooser page (plain links,
 * no JavaScript), then the chosen provider's sign-in.
 *
 * @module
 */
import type { AuthenticatorHost, AuthenticatorPlugin, PluginHandler } from "../authenticator.ts";
import type { AuthenticateContext, AuthenticateResult } from "../config.ts";
import { html, HTML_HEADERS } from "../_http.ts";
import { findLogin } from "./_login.ts";
import { unavailable } from "./upstream.ts";
import type { Upstream } from "./upstream.ts";
import type { UpstreamTokenSet } from "./upstream_tokens.ts";
import { UpstreamError } from "./upstream_tokens.ts";

/** Options for {@linkcode signInWith}. */
export interface ChooserOptions {
  /** Page title. Default "Sign in". */
  title?: string;
}

/** An `authenticate` offering several upstream providers. */
export interface UpstreamChooser {
  /** The `authenticate` hook. */
  (req: Request, ctx: AuthenticateContext): Promise<AuthenticateResult>;
  /** The providers, in the order shown. */
  readonly providers: readonly Upstream[];
  /** The grant's upstream access token, from whichever provider the user chose (see `Upstream.accessToken`). */
  accessToken(authInfo: { extra?: Record<string, unknown> } | undefined): Promise<string>;
  /** The provider's userinfo for the grant (see `Upstream.userinfo`). */
  userinfo(
    authInfo: { extra?: Record<string, unknown> } | undefined,
  ): Promise<Record<string, unknown>>;
  /** The plugin the server attaches. */
  readonly gatehouse: AuthenticatorPlugin;
}

type Internal = AuthenticatorPlugin & {
  start(req: Request, ctx: AuthenticateContext): Promise<Response>;
  providers: Set<string>;
};

/**
 * Offer several upstream providers: the user picks one on a chooser page, then signs in
 * there. Each keeps its own callback (`<issuer>/callback/<name>`).
 *
 * @example
 * ```ts
 * import { createAuthServer } from "@gatehouse/oauth";
 * import { github, google, signInWith } from "@gatehouse/oauth/identity";
 *
 * const auth = createAuthServer({
 *   issuer: "https://mcp.example.com",
 *   resources: ["https://mcp.example.com/mcp"],
 *   authenticate: signInWith([
 *     github({ clientId: "gh-id", clientSecret: "gh-secret" }),
 *     google({ clientId: "g-id", clientSecret: "g-secret" }),
 *   ]),
 * });
 * ```
 *
 * @throws {TypeError} for an empty list or two providers with the same name.
 */
export function signInWith(list: Upstream[], options: ChooserOptions = {}): UpstreamChooser {
  if (!Array.isArray(list) || list.length === 0) {
    throw new TypeError("signInWith: give at least one provider");
  }
  const byName = new Map<string, Upstream>();
  for (const u of list) {
    if (byName.has(u.name)) throw new TypeError(`signInWith: two providers named "${u.name}"`);
    byName.set(u.name, u);
  }
  const names = new Set(byName.keys());
  const internal = (u: Upstream) => u.gatehouse as Internal;
  let host: AuthenticatorHost | undefined;
  const title = options.title ?? "Sign in";

  const page = (req: Request): Response => {
    const links = list.map((u) => {
      const url = new URL(req.url);
      url.searchParams.set("upstream", u.name);
      return `<li><a href="${html(url.pathname + url.search)}">Continue with ${
        html(u.displayName)
      }</a></li>`;
    }).join("");
    const body = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>${html(title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem;line-height:1.5}
li{margin:.5rem 0}a{font-size:1.1rem}</style></head>
<body><main><h1>${html(title)}</h1><ul id="providers">${links}</ul></main></body></html>`;
    return new Response(body, { status: 200, headers: HTML_HEADERS });
  };

  const authenticate = async (
    req: Request,
    ctx: AuthenticateContext,
  ): Promise<AuthenticateResult> => {
    if (!host) throw new Error('signInWith: pass it to createAuthServer as "authenticate"');
    try {
      const who = await findLogin(host, req, ctx, names);
      if (who) return who;
      if (req.method !== "GET") return "";
      const chosen = new URL(req.url).searchParams.get("upstream");
      const u = chosen ? byName.get(chosen) : undefined;
      return u ? await internal(u).start(req, ctx) : page(req);
    } catch (e) {
      return unavailable(host, "signInWith", req, e);
    }
  };

  const pick = (authInfo: { extra?: Record<string, unknown> } | undefined) => {
    const up = (authInfo?.extra?.props as { upstream?: UpstreamTokenSet } | undefined)?.upstream;
    const u = up ? byName.get(up.provider) : undefined;
    if (!u) throw new UpstreamError("no_upstream_token");
    return u;
  };

  const plugin: AuthenticatorPlugin = {
    attach(h) {
      host = h;
      for (const u of list) u.gatehouse.attach(h);
    },
    routes() {
      const out: Record<string, Record<string, PluginHandler>> = {};
      for (const u of list) Object.assign(out, u.gatehouse.routes());
      return out;
    },
    async grantRevoked(grant, props) {
      for (const u of list) await u.gatehouse.grantRevoked?.(grant, props);
    },
  };
  return Object.assign(authenticate, {
    providers: list,
    accessToken: async (a: { extra?: Record<string, unknown> } | undefined) =>
      await pick(a).accessToken(a),
    userinfo: async (a: { extra?: Record<string, unknown> } | undefined) =>
      await pick(a).userinfo(a),
    gatehouse: plugin,
  });
}

/**
 * A real OpenID Connect provider for the identity tests: `oidc-provider` (npm, v9, Koa) in
 * this process on 127.0.0.1, port 0, with its development login and consent pages, refresh
 * token rotation, RFC 7009 revocation and userinfo. Counts what the tests assert on.
 */
import Provider from "oidc-provider";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair } from "jose";
import type { JWK } from "jose";
import type { Browser } from "./browser.ts";

export interface UpstreamOidc {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** The provider's private signing key (tests re-sign ID tokens with it). */
  signingKey: JWK;
  counts: { refresh: number; revocation: number; userinfo: number; token: number };
  close(): Promise<void>;
}

/** Start oidc-provider with one confidential client allowed to use `callbacks`. */
export async function startUpstreamOidc(callbacks: string[]): Promise<UpstreamOidc> {
  let handler: http.RequestListener = (_req, res) => res.end();
  const counts = { refresh: 0, revocation: 0, userinfo: 0, token: 0 };
  const server = http.createServer((req, res) => {
    if (req.url?.startsWith("/me")) counts.userinfo++;
    if (req.url?.startsWith("/token/revocation")) counts.revocation++;
    else if (req.url?.startsWith("/token")) counts.token++;
    handler(req, res);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const { privateKey } = await generateKeyPair("RS256", { extractable: true });
  const signingKey = { ...(await exportJWK(privateKey)), kid: "upstream-1", alg: "RS256" };
  const clientSecret = "upstream-client-secret-" + crypto.randomUUID();
  const warn = console.warn;
  const log = console.log;
  // oidc-provider prints development notices on start; keep test output readable.
  console.warn = () => {};
  console.log = () => {};
  let provider: Provider;
  try {
    provider = new Provider(issuer, {
      clients: [{
        client_id: "gatehouse",
        client_secret: clientSecret,
        redirect_uris: callbacks,
        grant_types: ["authorization_code", "refresh_token"],
        response_types: ["code"],
      }],
      jwks: { keys: [signingKey] },
      findAccount: (_ctx: unknown, id: string) => ({
        accountId: id,
        claims: () => ({ sub: id, email: `${id}@example.test`, name: `User ${id}` }),
      }),
      claims: { openid: ["sub"], email: ["email"], profile: ["name"] },
      scopes: ["openid", "email", "profile", "offline_access"],
      features: { revocation: { enabled: true } },
      issueRefreshToken: () => true,
      rotateRefreshToken: true,
      ttl: {
        AccessToken: 3600,
        AuthorizationCode: 60,
        IdToken: 3600,
        Interaction: 600,
        Session: 86400,
        Grant: 86400,
        RefreshToken: 86400,
      },
    } as never);
  } finally {
    console.warn = warn;
    console.log = log;
  }
  provider.on("grant.success", (ctx: { oidc: { params?: { grant_type?: string } } }) => {
    if (ctx.oidc.params?.grant_type === "refresh_token") counts.refresh++;
  });
  handler = provider.callback() as http.RequestListener;
  return {
    issuer,
    clientId: "gatehouse",
    clientSecret,
    signingKey,
    counts,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/**
 * Drive a browser from an authorization URL to the client's redirect: through oidc-provider's
 * login page (`login=user`) and consent page, Gatehouse's callback, and Gatehouse's consent
 * page. `upstream: "deny"` clicks the provider's "Cancel" link instead of signing in.
 * `beforeCallback` may rewrite the provider's redirect to Gatehouse's callback (tampering).
 */
export async function signInThroughUpstream(
  browser: Browser,
  start: string,
  opts: {
    issuer: string;
    clientRedirect: string;
    user?: string;
    upstream?: "approve" | "deny";
    decision?: "approve" | "deny";
    beforeCallback?: (url: URL) => URL;
  },
): Promise<{ url: URL; res?: Response }> {
  let next = new URL(start);
  const upstreamHost = new URL(opts.issuer).host;
  for (let step = 0; step < 30; step++) {
    if (next.href.startsWith(opts.clientRedirect)) return { url: next };
    if (opts.beforeCallback && next.pathname.startsWith("/callback/")) {
      next = opts.beforeCallback(next);
      opts = { ...opts, beforeCallback: undefined };
    }
    const res = await browser.request(next.href);
    const loc = res.headers.get("location");
    if (res.status >= 300 && res.status < 400 && loc) {
      await res.body?.cancel();
      next = new URL(loc, next);
      continue;
    }
    if (res.status !== 200) return { url: next, res };
    const html = await res.text();
    let sent: Response;
    if (next.host === upstreamHost && html.includes('name="login"')) {
      if (opts.upstream === "deny") {
        const abort = /href="([^"]*\/abort)"/.exec(html)?.[1];
        if (!abort) throw new Error("no cancel link on the provider's login page");
        sent = await browser.request(new URL(abort, next).href);
      } else {
        sent = await browser.submit(next, html, { login: opts.user ?? "alice", password: "x" });
      }
    } else if (next.host === upstreamHost) {
      sent = await browser.submit(next, html, {}); // the provider's consent page
    } else if (html.includes('name="decision"')) {
      sent = await browser.submit(next, html, { decision: opts.decision ?? "approve" });
    } else {
      return { url: next, res: new Response(html, { status: res.status, headers: res.headers }) };
    }
    const to = sent.headers.get("location");
    await sent.body?.cancel();
    if (!to) throw new Error(`form at ${next.href} answered ${sent.status} without a redirect`);
    next = new URL(to, next);
  }
  throw new Error("too many steps");
}

/**
 * Where a sign-in that failed on Gatehouse's side sends the user: for a self-registered
 * client a 403 page with a plain link (no automatic redirect), else a redirect. Returns the
 * client URL either way (asserting the page shape).
 */
export async function failureTarget(r: { url: URL; res?: Response }): Promise<URL> {
  if (!r.res) return r.url;
  if (r.res.status !== 403) throw new Error(`expected a 403 page, got ${r.res.status}`);
  const html = await r.res.text();
  const href = /id="return" href="([^"]+)"/.exec(html)?.[1];
  if (!href) throw new Error("no link back to the client on the page");
  return new URL(href.replaceAll("&amp;", "&"));
}

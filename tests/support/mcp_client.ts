/**
 * An MCP SDK `OAuthClientProvider` for tests: it keeps everything in memory
 * and, instead of opening a browser, follows the authorization redirect with
 * fetch — through the demo sign-in form and the consent form — and captures
 * the code sent to its loopback redirect URI. No mock: every request goes to
 * the real server over HTTP.
 */
import type { OAuthClientProvider } from "@modelcontextprotocol/sdk/client/auth";
import type {
  OAuthClientInformationMixed,
  OAuthClientMetadata,
  OAuthTokens,
} from "@modelcontextprotocol/sdk/shared/auth";

function unescapeHtml(s: string): string {
  return s.replace(/&#(\d+);/g, (_, n) => String.fromCharCode(Number(n)))
    .replace(/&quot;/g, '"').replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
}

/**
 * The in-memory storage half of an SDK `OAuthClientProvider`: the registered client
 * information, the tokens and the PKCE verifier, each kept in a field.
 */
export abstract class InMemoryProviderState {
  info?: OAuthClientInformationMixed;
  saved?: OAuthTokens;
  verifier = "";

  clientInformation(): OAuthClientInformationMixed | undefined {
    return this.info;
  }
  saveClientInformation(info: OAuthClientInformationMixed): void {
    this.info = info;
  }
  tokens(): OAuthTokens | undefined {
    return this.saved;
  }
  saveTokens(tokens: OAuthTokens): void {
    this.saved = tokens;
  }
  saveCodeVerifier(v: string): void {
    this.verifier = v;
  }
  codeVerifier(): string {
    return this.verifier;
  }
}

export const CLIENT_REDIRECT = "http://127.0.0.1:47123/callback";

/** A browserless OAuth client provider that signs in as `user` and clicks "Allow". */
export class TestProvider extends InMemoryProviderState implements OAuthClientProvider {
  lastCode?: string;
  /** The whole callback URL of the last authorization (code, iss, state). */
  lastCallback?: URL;
  lastAuthorizationUrl?: URL;
  cookies = new Map<string, string>();
  decision: "approve" | "deny" = "approve";

  constructor(readonly user = "alice") {
    super();
  }

  get redirectUrl(): string {
    return CLIENT_REDIRECT;
  }
  get clientMetadata(): OAuthClientMetadata {
    return {
      client_name: "SDK e2e client",
      redirect_uris: [CLIENT_REDIRECT],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
    };
  }
  invalidateCredentials(scope: "all" | "client" | "tokens" | "verifier" | "discovery"): void {
    if (scope === "all" || scope === "tokens") this.saved = undefined;
    if (scope === "all" || scope === "client") this.info = undefined;
  }

  private async get(url: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.cookies.size) {
      headers.set("cookie", [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; "));
    }
    const res = await fetch(url, { ...init, headers, redirect: "manual" });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(";");
      const i = pair.indexOf("=");
      this.cookies.set(pair.slice(0, i), pair.slice(i + 1));
    }
    return res;
  }

  private submit(
    pageUrl: string,
    html: string,
    extra: Record<string, string>,
  ): Promise<Response> {
    const action = /<form method="post" action="([^"]+)"/.exec(html)?.[1];
    if (!action) throw new Error("no form on page: " + html.slice(0, 200));
    const fields = new URLSearchParams();
    for (const m of html.matchAll(/<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"/g)) {
      fields.set(m[1], unescapeHtml(m[2]));
    }
    for (const [k, v] of Object.entries(extra)) fields.set(k, v);
    return this.get(new URL(unescapeHtml(action), pageUrl).href, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: fields.toString(),
    });
  }

  /** Follow sign-in and consent like a person would; keep the code. */
  async redirectToAuthorization(url: URL): Promise<void> {
    this.lastAuthorizationUrl = url;
    let res = await this.get(url.href);
    for (let hops = 0; hops < 6; hops++) {
      if (res.status === 302 || res.status === 303) {
        const loc = new URL(res.headers.get("location")!, url);
        await res.body?.cancel();
        if (loc.href.startsWith(CLIENT_REDIRECT)) {
          const code = loc.searchParams.get("code");
          if (!code) throw new Error("authorization failed: " + loc.searchParams.get("error"));
          this.lastCode = code;
          this.lastCallback = loc;
          return;
        }
        res = await this.get(loc.href);
        continue;
      }
      const html = await res.text();
      if (res.status !== 200) {
        throw new Error(`authorization page ${res.status}: ${html.slice(0, 200)}`);
      }
      if (html.includes('name="decision"')) {
        res = await this.submit(url.href, html, { decision: this.decision });
      } else res = await this.submit(url.href, html, { user: this.user });
    }
    throw new Error("too many hops during authorization");
  }
}

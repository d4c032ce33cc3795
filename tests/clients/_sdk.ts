/**
 * Profiles built on the real MCP TypeScript SDK client (`auth()` from
 * @modelcontextprotocol/sdk/client/auth): the SDK itself, mcp-remote and the MCP
 * Inspector all delegate OAuth to it. The provider below only supplies what
 * each client configures (metadata, redirect URL, metadata-document URL,
 * client authentication) and, instead of opening a browser, hands the
 * authorization URL to the harness's user agent.
 */
import assert from "node:assert/strict";
// @ts-types="@modelcontextprotocol/sdk/client/auth"
import { auth } from "@modelcontextprotocol/sdk/client/auth.js";
import type { OAuthClientProvider } from "@modelcontextprotocol/sdk/client/auth";
import type { OAuthClientMetadata, OAuthTokens } from "@modelcontextprotocol/sdk/shared/auth";
import { callMcp, challengeOf, MCP_URL, ORIGIN, postForm } from "./_harness.ts";
import type { Harness } from "./_harness.ts";
import { InMemoryProviderState } from "../support/mcp_client.ts";

/** What a client configures in the SDK. */
export interface SdkClientConfig {
  redirectUrl: string;
  clientMetadata: OAuthClientMetadata;
  /** SEP-991 metadata-document URL (used when the server supports it). */
  clientMetadataUrl?: string;
  addClientAuthentication?: OAuthClientProvider["addClientAuthentication"];
}

/** An in-memory SDK provider whose "browser" is the harness user agent. */
export class SdkProvider extends InMemoryProviderState implements OAuthClientProvider {
  lastCode?: string;
  lastIss?: string;
  lastAuthorizationUrl?: URL;
  consentHtml = "";
  addClientAuthentication?: OAuthClientProvider["addClientAuthentication"];

  constructor(readonly h: Harness, readonly config: SdkClientConfig) {
    super();
    if (config.addClientAuthentication) {
      this.addClientAuthentication = config.addClientAuthentication;
    }
  }
  get redirectUrl(): string {
    return this.config.redirectUrl;
  }
  get clientMetadata(): OAuthClientMetadata {
    return this.config.clientMetadata;
  }
  get clientMetadataUrl(): string | undefined {
    return this.config.clientMetadataUrl;
  }
  state(): string {
    return crypto.randomUUID();
  }
  async redirectToAuthorization(url: URL): Promise<void> {
    this.lastAuthorizationUrl = url;
    const { redirect, consentHtml } = await this.h.userAgent(url.href);
    this.consentHtml = consentHtml;
    assert.equal(redirect.href.split("?")[0], this.redirectUrl);
    const code = redirect.searchParams.get("code");
    assert.ok(code, "authorization failed: " + redirect.href);
    this.lastCode = code;
    this.lastIss = redirect.searchParams.get("iss") ?? undefined;
  }
}

/** What an SDK run produced. */
export interface SdkRun {
  provider: SdkProvider;
  firstTokens: OAuthTokens;
  refreshedTokens: OAuthTokens;
}

/**
 * 401 → SDK discovery and registration (or metadata document) → authorize →
 * token → MCP call → SDK refresh → revoke (RFC 7009, which the SDK leaves to
 * the app) → the MCP call is refused.
 */
/** An SDK `auth()`: v1 (@modelcontextprotocol/sdk) or v2 (@modelcontextprotocol/client). */
export type SdkAuth = (
  provider: SdkProvider,
  options: {
    serverUrl: string;
    resourceMetadataUrl?: URL;
    scope?: string;
    authorizationCode?: string;
    iss?: string;
    fetchFn?: typeof fetch;
  },
) => Promise<string>;

export async function runSdk(
  h: Harness,
  provider: SdkProvider,
  sdkAuth: SdkAuth = auth as unknown as SdkAuth,
): Promise<SdkRun> {
  const first = await callMcp(h);
  assert.equal(first.status, 401);
  const challenge = challengeOf(first);
  await first.body?.cancel();
  const opts = {
    serverUrl: MCP_URL,
    resourceMetadataUrl: new URL(challenge.resourceMetadata),
    scope: challenge.scope,
    fetchFn: h.fetch,
  };
  assert.equal(await sdkAuth(provider, opts), "REDIRECT");
  const authzUrl = provider.lastAuthorizationUrl!;
  assert.equal(authzUrl.searchParams.get("resource"), MCP_URL);
  assert.equal(authzUrl.searchParams.get("code_challenge_method"), "S256");
  assert.equal(
    await sdkAuth(provider, {
      ...opts,
      authorizationCode: provider.lastCode!,
      iss: provider.lastIss,
    }),
    "AUTHORIZED",
  );
  const firstTokens = provider.saved!;
  assert.ok(firstTokens.refresh_token, "refresh token issued");
  assert.equal((await callMcp(h, firstTokens.access_token)).status, 200);
  // With tokens saved, auth() refreshes.
  assert.equal(await sdkAuth(provider, opts), "AUTHORIZED");
  const refreshedTokens = provider.saved!;
  assert.notEqual(refreshedTokens.refresh_token, firstTokens.refresh_token);
  assert.ok(h.events.some((e) => e.type === "token.refreshed"));
  assert.equal((await callMcp(h, refreshedTokens.access_token)).status, 200);
  const fields = new URLSearchParams({ token: refreshedTokens.refresh_token! });
  if (provider.addClientAuthentication) {
    const metadata = await (await h.fetch(ORIGIN + "/.well-known/oauth-authorization-server"))
      .json();
    await provider.addClientAuthentication(new Headers(), fields, ORIGIN + "/revoke", metadata);
  } else fields.set("client_id", provider.info!.client_id);
  const revoked = await postForm(h, "/revoke", Object.fromEntries(fields));
  assert.equal(revoked.status, 200);
  assert.equal((await callMcp(h, refreshedTokens.access_token)).status, 401);
  return { provider, firstTokens, refreshedTokens };
}

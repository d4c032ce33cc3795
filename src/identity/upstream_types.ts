/**
 * The public shapes of upstream sign-in: options every provider takes, what a provider says
 * about the user, and the `authenticate` an upstream provider is.
 *
 * @module
 */
import type * as oauth from "oauth4webapi";
import type { AuthenticatorPlugin } from "../authenticator.ts";
import type { AuthenticateContext, AuthenticateResult } from "../config.ts";

/** What a provider says about the signed-in user. */
export interface UpstreamIdentity {
  /** The provider's stable user id (`sub`, or GitHub's numeric `id` as a string). */
  subject: string;
  /** ID token claims merged with userinfo (OIDC), or the provider's user object (OAuth 2.0). */
  profile: Record<string, unknown>;
}

/** Options every upstream provider takes. */
export interface UpstreamOptions {
  /** Route name: the callback is `<issuer>/callback/<name>`. Default: the preset's name. */
  name?: string;
  /** Shown on the chooser page. Default: the preset's display name. */
  displayName?: string;
  /** The client id registered at the provider. */
  clientId: string;
  /** The client secret registered at the provider (omit for a public client). */
  clientSecret?: string;
  /** Scopes asked of the provider. */
  scopes?: string[];
  /** How the client authenticates at the provider's token endpoint. Default `client_secret_basic`. */
  clientAuth?: "client_secret_basic" | "client_secret_post";
  /** Extra authorization request parameters (e.g. `{ prompt: "consent", access_type: "offline" }`). */
  authorizationParams?: Record<string, string>;
  /** Gatehouse subject for an upstream identity. Default `<name>:<upstream subject>`. */
  subject?: (identity: UpstreamIdentity) => string;
  /** Extra props stored with the grant (the upstream tokens are always at `props.upstream`). */
  props?: (identity: UpstreamIdentity) => Record<string, unknown> | undefined;
  /** Non-secret claims for the access token (e.g. `{ email }`). */
  claims?: (identity: UpstreamIdentity) => Record<string, unknown> | undefined;
  /** Refresh the upstream access token this many seconds before it expires. Default 60. */
  refreshSkewSeconds?: number;
  /** `fetch` for upstream calls (tests, proxies). Responses are read bounded, with a timeout. */
  fetch?: typeof fetch;
}

/** How a preset reaches its provider (internal). */
export interface UpstreamDefinition {
  name: string;
  displayName: string;
  /** OpenID Connect: nonce and a valid ID token are required. */
  oidc: boolean;
  /** Where the provider is, for the http-on-loopback rule. */
  issuer: string;
  /** Provider metadata (discovery, or static endpoints). */
  metadata(fetcher: typeof fetch): Promise<oauth.AuthorizationServer>;
  /** Who signed in, from the token response. */
  identify(
    as: oauth.AuthorizationServer,
    client: oauth.Client,
    tokens: oauth.TokenEndpointResponse,
    fetcher: typeof fetch,
  ): Promise<UpstreamIdentity>;
  /** Default scopes. */
  scopes: string[];
  /** Default token endpoint auth. */
  clientAuth?: "client_secret_basic" | "client_secret_post";
}

/** A Gatehouse `authenticate` that signs users in through an upstream provider. */
export interface Upstream {
  /** The `authenticate` hook. */
  (req: Request, ctx: AuthenticateContext): Promise<AuthenticateResult>;
  /** Route name (`/callback/<name>`). */
  readonly name: string;
  /** Shown on the chooser page. */
  readonly displayName: string;
  /** The callback path under the issuer, `/callback/<name>`. */
  readonly callbackPath: string;
  /**
   * The upstream access token for a verified request's grant (`extra.authInfo` in an MCP
   * tool), refreshed first when it is about to expire: exactly once per grant however many
   * calls need it at the same time (single flight in this process, an atomic storage swap
   * across instances), the rotated pair stored. If the provider refuses the refresh for good
   * the grant is revoked (the MCP client must authorize again).
   *
   * @throws {UpstreamError} `no_upstream_token`, `upstream_revoked` or `upstream_unavailable`.
   */
  accessToken(authInfo: { extra?: Record<string, unknown> } | undefined): Promise<string>;
  /**
   * What the provider's userinfo endpoint (OIDC) or user API returns for the grant's
   * upstream token.
   *
   * @throws {UpstreamError} as {@link Upstream.accessToken}, or `upstream_unavailable`.
   */
  userinfo(
    authInfo: { extra?: Record<string, unknown> } | undefined,
  ): Promise<Record<string, unknown>>;
  /** The plugin the server attaches (routes, upstream revocation). */
  readonly gatehouse: AuthenticatorPlugin;
}

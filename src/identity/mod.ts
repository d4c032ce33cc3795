/**
 * `@gatehouse/oauth/identity`: sign-in for Gatehouse out of the box. Each export is an
 * `authenticate` for `createAuthServer`:
 *
 * - {@linkcode oidc} (any OpenID Connect provider), {@linkcode oauth2} (any OAuth 2.0
 *   provider with a user endpoint), {@linkcode github}, {@linkcode google}: the user signs in
 *   upstream; the callback is `<issuer>/callback/<name>` (printed at start); the upstream
 *   tokens are stored with the grant as props (AES-GCM sealed) and reach same-process tools
 *   in `extra.authInfo.extra.props`; `provider.accessToken(extra.authInfo)` refreshes them
 *   exactly once when they expire. The MCP client never sees them.
 * - {@linkcode signInWith}: several providers behind a chooser page.
 * - {@linkcode loginForm}: a built-in sign-in form for apps with their own user store.
 *
 * This entry is separate from the core so that servers that do not use it do not load it.
 *
 * @example
 * ```ts
 * import { createAuthServer } from "@gatehouse/oauth";
 * import { github } from "@gatehouse/oauth/identity";
 *
 * const gh = github({ clientId: "gh-client-id", clientSecret: "gh-client-secret" });
 * const auth = createAuthServer({
 *   issuer: "https://mcp.example.com",
 *   resources: ["https://mcp.example.com/mcp"],
 *   authenticate: gh,
 *   encryptionKeys: [{ kid: "2026-11", key: "base64url-of-32-random-bytes-xxxxxxxxxxxxxx" }],
 * });
 * ```
 *
 * @module
 */
export { github, google, oauth2, oidc } from "./providers.ts";
export type { GitHubOptions, GoogleOptions, OAuth2Options, OidcOptions } from "./providers.ts";
export { UpstreamError } from "./upstream.ts";
export type { Upstream, UpstreamIdentity, UpstreamOptions, UpstreamTokenSet } from "./upstream.ts";
export type { UpstreamErrorCode } from "./upstream_tokens.ts";
export { signInWith } from "./chooser.ts";
export type { ChooserOptions, UpstreamChooser } from "./chooser.ts";
export { loginForm } from "./login_form.ts";
export type { LoginBranding, LoginField, LoginForm, LoginFormOptions } from "./login_form.ts";
export type { AuthenticateContext, AuthenticateResult } from "../config.ts";
export type {
  AuthenticatorHost,
  AuthenticatorPlugin,
  PluginCaller,
  PluginHandler,
  PluginStore,
} from "../authenticator.ts";
export type { EncryptionKey, Sealer } from "../props.ts";
export type { GrantRecord } from "../grants.ts";
export type { ClientRecord } from "../clients.ts";

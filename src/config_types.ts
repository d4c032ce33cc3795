/**
 * The public shapes of the server configuration: {@linkcode AuthServerConfig} and the hook,
 * policy and resource types it is made of. `config.ts` validates them (zod) and re-exports them.
 *
 * @module
 */
import type { SigningJwk } from "./keys.ts";
import type { Storage } from "../storage/mod.ts";
import type { AuditEvent } from "./events.ts";
import type { ClientRecord } from "./clients.ts";
import type { ConsentPageContext } from "./consent_page.ts";
import type { EncryptionKey } from "./props.ts";
import type { GrantRecord } from "./grants.ts";
import type { OutboundConfig } from "./_outbound.ts";
import type { RegistrationOptions } from "./register.ts";
import type { LimitedEndpoint, RateLimitRule } from "./limits/mod.ts";

export type { RegistrationOptions };

/**
 * What the app's `authenticate` hook may return: the subject, or
 * `{ subject, props, claims }`, or a Response (login page, redirect) to send instead.
 * `props` (JSON, e.g. an upstream token) are stored with the grant, AES-GCM encrypted,
 * and reach same-process tools with the verified token; never put in a JWT. `claims`
 * are non-secret claims added to the access token; registered ones (`iss`, `sub`,
 * `aud`, `exp`, `scope`, `client_id`, …) cannot be overridden and are dropped.
 */
export type AuthenticateResult =
  | string
  | { subject: string; props?: Record<string, unknown>; claims?: Record<string, unknown> }
  | Response;

/** Context handed to `authenticate`. */
export interface AuthenticateContext {
  /** The client asking for authorization. */
  client: ClientRecord;
  /** Scopes requested (after defaulting). */
  scopes: string[];
  /** The resource (RFC 8707) the token will be bound to. */
  resource: string;
  /** The client's redirect URI for this request (validated; where an `access_denied` goes). */
  redirectUri?: string;
  /** The client's `state` for this request, if any. */
  state?: string;
  /** The request's PKCE `code_challenge` (binds a sign-in to this one authorization request). */
  codeChallenge?: string;
}

/** Context of the {@link AuthServerConfig.refreshProps} hook. */
export interface RefreshPropsContext {
  /** The grant being refreshed (active). */
  grant: GrantRecord;
  /** Its current props (decrypted), if any. */
  props: Record<string, unknown> | undefined;
}

/** Registration policy: open, closed, or a function deciding per request. */
export type RegistrationPolicy =
  | "open"
  | "closed"
  | ((metadata: Record<string, unknown>, req: Request) => boolean | Promise<boolean>);

/** Per-endpoint rate limits: by client IP and by client id; `false` turns one off. */
export type RateLimitsConfig = Partial<
  Record<LimitedEndpoint, { ip?: RateLimitRule | false; client?: RateLimitRule | false }>
>;

/** A protected resource (an MCP server) this authorization server issues tokens for. */
export interface ResourceConfig {
  /** The resource identifier, an absolute URL without fragment (e.g. `https://host/mcp`). */
  resource: string;
  /** Scopes this resource understands. Defaults to the server-wide `scopes`. */
  scopes?: string[];
  /** Human-readable name shown on the consent page and in metadata. */
  name?: string;
}

/** A resource server's credentials for `/introspect` (client_secret_basic). */
export interface IntrospectionClient {
  /** Client id the resource server sends in HTTP Basic. */
  clientId: string;
  /** Its secret (at least 16 characters). */
  clientSecret: string;
  /** The configured resource(s) it may ask about. Required when several resources are configured. */
  resource?: string | string[];
}

/** Consent policy: ask every time, or remember an approval for `rememberFor` seconds. */
export type ConsentPolicy = "always" | { rememberFor: number };

/** Revocation mode used by the same-process `auth.verify`. */
export type RevocationMode = "strict" | "cached" | "stateless";

/** Configuration for {@link createAuthServer}. */
export interface AuthServerConfig {
  /** The issuer identifier: https URL (http allowed on loopback for development), no query/fragment. */
  issuer: string;
  /** Protected resources; at least one. A bare string is `{ resource }`. */
  resources: (string | ResourceConfig)[];
  /** All scopes the server knows (`scopes_supported`). Default: the union of the resources' scopes, or `["mcp:read", "mcp:write", "mcp:admin"]`. */
  scopes?: string[];
  /** Scopes granted when a request names none (those the resource allows). Default: all of the resource's scopes. */
  defaultScopes?: string[];
  /** Scope → scopes it includes (transitively), for `verify`. */
  scopeHierarchy?: Record<string, string[]>;
  /** Human-readable descriptions shown on the consent page (`{ "mcp:read": "Read your notes" }`). */
  scopeDescriptions?: Record<string, string>;
  /** Storage driver. Default: memory (single process only; a warning is printed). */
  storage?: Storage;
  /** Private JWKs (with `kid`); the first one signs, all are published. Public-only JWKs are published but never sign (rotation). Default: an ephemeral Ed25519 key (development only; a warning is printed). */
  keys?: SigningJwk[];
  /**
   * Resolve the end user: subject, `{ subject, props, claims }`, or a Response (login page,
   * redirect) to send instead. `@gatehouse/oauth/identity`'s `oidc()`, `github()`,
   * `loginForm()`… are ready-made ones.
   */
  authenticate: (
    req: Request,
    ctx: AuthenticateContext,
  ) => AuthenticateResult | Promise<AuthenticateResult>;
  /**
   * Keys sealing grant props at rest (AES-256-GCM): the first encrypts, all decrypt
   * (rotation). Default: an ephemeral key (development only; props do not survive a
   * restart; a warning is printed).
   */
  encryptionKeys?: (EncryptionKey | string)[];
  /**
   * Called on every downstream refresh (`grant_type=refresh_token`) of a grant; return new
   * props to store, or undefined to keep them. A throw is reported and the refresh proceeds.
   */
  refreshProps?: (
    ctx: RefreshPropsContext,
  ) => Record<string, unknown> | undefined | Promise<Record<string, unknown> | undefined>;
  /** Dynamic client registration (RFC 7591): a policy, or {@link RegistrationOptions}. Default `"open"`. */
  registration?: RegistrationPolicy | RegistrationOptions;
  /** Accept Client ID Metadata Documents (https URL client ids). Default true. */
  clientIdMetadataDocuments?: boolean;
  /** Access token lifetime in seconds. Default 900. */
  accessTokenTtl?: number;
  /** Refresh token lifetime in seconds (each rotation restarts it). Default 30 days. */
  refreshTokenTtl?: number;
  /** Authorization code lifetime in seconds. Default 60. */
  codeTtl?: number;
  /**
   * Refresh reuse window in seconds (0–300). Default 60. The same refresh
   * token presented again by the same client within this many seconds of its
   * rotation gets the same successor tokens instead of being treated as
   * theft; later (or a token two rotations back) revokes the grant
   * (RFC 9700 §4.14.2). 0: every reuse revokes.
   */
  refreshReuseWindow?: number;
  /** Revocation mode for `auth.verify`. Default `"strict"`. */
  revocation?: { mode: RevocationMode; ttlMs?: number };
  /**
   * Resource servers allowed to call `/introspect` (RFC 7662 §4), with the resource(s) each one
   * serves: they get answers only about access tokens whose audience is one of those resources
   * (never about refresh tokens). `resource` may be omitted only when exactly one resource is
   * configured. Registered confidential clients may introspect only their own tokens; every
   * other question is answered `{ "active": false }`.
   */
  introspectionClients?: IntrospectionClient[];
  /** Audit hook. If it throws or rejects, the request is unaffected and the failure is reported as an `error` event (once) and on the console unless `quiet`. App hooks that throw (`authenticate`, `renderConsent`, `registration`) are reported here as `error` events naming the hook and endpoint. */
  onEvent?: (event: AuditEvent) => void | Promise<void>;
  /**
   * Consent policy. `"always"` (the default) shows the consent page on every authorization;
   * `{ rememberFor: seconds }` remembers a user's approval of a client for a resource and scopes
   * and skips the page for the same or fewer scopes until it expires or is revoked (admin
   * `revokeApprovals`). Never remembered for a metadata-document client whose redirect URIs are
   * all on loopback, nor for a public client redirecting anywhere but https (RFC 8252 §8.6). See
   * the README's "Remembered consent" section.
   */
  consent?: ConsentPolicy;
  /** Replace the consent page. */
  renderConsent?: (ctx: ConsentPageContext) => Response | Promise<Response>;
  /**
   * `fetch` for every outbound request (Client ID Metadata Documents, client
   * JWKS). Replaces the address-pinned transport: addresses are still checked
   * first where names resolve, but your fetch resolves again (see the README).
   */
  fetch?: typeof fetch;
  /** Outbound fetch settings: allow-list (`host` / `host:port`), extra CAs, deadline (ms). */
  outbound?: OutboundConfig;
  /**
   * Rate limits on /register, /authorize, /token, /revoke, /introspect. On by
   * default (see `DEFAULT_LIMITS` in `@gatehouse/oauth/limits`); `false`
   * turns them all off; an object overrides per endpoint.
   */
  rateLimits?: false | RateLimitsConfig;
  /**
   * The caller's IP for per-IP limits, from a source you trust. Default: the
   * socket address handed to `handle(req, info)` (`Deno.serve`), or
   * `CF-Connecting-IP` on Workers. Never `X-Forwarded-For` unless your proxy
   * overwrites it.
   */
  clientIp?: (req: Request, info?: unknown) => string | undefined;
  /** Clock in epoch ms (tests). */
  now?: () => number;
  /** Silence the console: development warnings (ephemeral key, memory storage) and hook-failure lines. `error` events still reach `onEvent`. */
  quiet?: boolean;
}

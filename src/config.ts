/**
 * Server configuration: the zod schema, defaults, and the normalised form the
 * rest of the server reads.
 *
 * @module
 */
import * as z from "zod/mini";
import type { SigningJwk } from "./keys.ts";
import type { Storage } from "../storage/mod.ts";
import type { AuditEvent } from "./events.ts";
import type { ClientRecord } from "./clients.ts";
import type { ConsentPageContext } from "./consent_page.ts";
import { canonicalResource } from "./verifier.ts";
import { type EncryptionKey, encryptionKeyOk } from "./props.ts";
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

const LOOPBACK = new Set(["localhost", "127.0.0.1", "[::1]"]);

/** True for a loopback host name (RFC 8252 §8.3). */
export function isLoopbackHost(hostname: string): boolean {
  return LOOPBACK.has(hostname.toLowerCase());
}

const httpsOrLoopback = (what: string) =>
  z.string().check(z.refine((s) => {
    try {
      const u = new URL(s);
      return !u.hash && !s.includes("#") &&
        (u.protocol === "https:" || (u.protocol === "http:" && isLoopbackHost(u.hostname)));
    } catch {
      return false;
    }
  }, `${what} must be an absolute https URL (http only on loopback) without a fragment`));

const scopeToken = z.string().check(
  z.regex(/^[\x21\x23-\x5B\x5D-\x7E]+$/, "not a valid scope token"),
);
const isFunction = (f: unknown) => typeof f === "function";
const fn = <T>(message?: string) => z.optional(z.custom<T>(isFunction, message));
/** A whole number in [min, max]; the error says the range (not zod's bare "Invalid input"). */
const int = (min: number, max = Infinity) => {
  const error = `must be a whole number ${max === Infinity ? `≥ ${min}` : `from ${min} to ${max}`}`;
  const checks = [z.int({ error }), z.minimum(min, { error }), z.maximum(max, { error })];
  return z.optional(z.number({ error }).check(...checks));
};

const rateRule = z.union([
  z.literal(false),
  z.strictObject({
    limit: z.number().check(z.int(), z.minimum(1)),
    windowSeconds: z.number().check(z.int(), z.minimum(1), z.maximum(86400)),
  }),
]);

const B64_32 = /^[A-Za-z0-9_-]{43}$/;
/** Structural check of a signing JWK (32-byte members), so a typo fails at start, not on first use. */
function keyShapeOk(k: unknown): boolean {
  if (typeof k !== "object" || k === null) return false;
  const j = k as SigningJwk;
  if (typeof j.kid !== "string" || !j.kid) return false;
  const members = j.kty === "OKP" && j.crv === "Ed25519"
    ? [j.x]
    : j.kty === "EC" && j.crv === "P-256"
    ? [j.x, j.y]
    : undefined;
  if (!members) return false;
  if (j.d !== undefined) members.push(j.d);
  return members.every((m) => typeof m === "string" && B64_32.test(m));
}

const resourceSchema = z.union([
  httpsOrLoopback("resource"),
  z.strictObject({
    resource: httpsOrLoopback("resource"),
    scopes: z.optional(z.array(scopeToken)),
    name: z.optional(z.string()),
  }),
]);

const schema = z.strictObject({
  issuer: httpsOrLoopback("issuer").check(z.refine(
    // refinements run even when the URL check above failed: never throw here.
    (s) => !URL.canParse(s) || !new URL(s).search,
    "issuer must not have a query",
  )),
  resources: z.array(resourceSchema).check(z.minLength(1, "at least one resource is required")),
  scopes: z.optional(z.array(scopeToken)),
  defaultScopes: z.optional(z.array(scopeToken)),
  scopeHierarchy: z.optional(z.record(z.string(), z.array(z.string()))),
  scopeDescriptions: z.optional(z.record(z.string(), z.string().check(z.maxLength(500)))),
  storage: z.optional(z.custom<Storage>(
    (s) =>
      typeof s === "object" && s !== null &&
      ["get", "set", "delete", "swap", "compareAndSwap", "list"].every((m) =>
        typeof (s as unknown as Record<string, unknown>)[m] === "function"
      ),
    "storage must implement get/set/delete/swap/compareAndSwap/list",
  )),
  keys: z.optional(
    z.array(
      z.custom<SigningJwk>(
        keyShapeOk,
        "each key must be an Ed25519 (OKP) or P-256 (EC) JWK with a kid and 32-byte base64url members",
      ),
    ).check(z.refine(
      (keys) => keys.length > 0 && typeof keys[0].d === "string",
      "the first key must be a private key (it signs)",
    )),
  ),
  authenticate: z.custom<AuthServerConfig["authenticate"]>(
    isFunction,
    "authenticate must be a function",
  ),
  encryptionKeys: z.optional(z.array(z.custom<EncryptionKey | string>(
    encryptionKeyOk,
    "each encryption key must be a 32-byte base64url key, or { kid, key } with one",
  ))),
  refreshProps: fn<AuthServerConfig["refreshProps"]>(),
  registration: z.optional(z.union([
    z.literal("open"),
    z.literal("closed"),
    z.custom<RegistrationPolicy>(isFunction),
    z.strictObject({
      policy: z.optional(z.union([
        z.literal("open"),
        z.literal("closed"),
        z.custom<RegistrationPolicy>(isFunction),
      ])),
      initialAccessToken: fn<RegistrationOptions["initialAccessToken"]>(),
      softwareStatement: fn<RegistrationOptions["softwareStatement"]>(),
      maxMetadataBytes: int(256, 65536),
      maxRedirectUris: int(1, 100),
      maxUriLength: int(64, 8192),
      maxListEntries: int(1, 100),
      unusedClientTtl: int(0),
    }),
  ])),
  clientIdMetadataDocuments: z.optional(z.boolean()),
  accessTokenTtl: int(1, 86400),
  refreshTokenTtl: int(60),
  codeTtl: int(1, 600),
  refreshReuseWindow: int(0, 300),
  revocation: z.optional(z.strictObject({
    mode: z.enum(["strict", "cached", "stateless"]),
    ttlMs: int(0),
  })),
  introspectionClients: z.optional(z.array(
    z.object({
      clientId: z.string().check(z.minLength(1)),
      clientSecret: z.string().check(z.minLength(16)),
      resource: z.optional(z.union([z.string(), z.array(z.string())])),
    }),
  )),
  onEvent: fn<AuthServerConfig["onEvent"]>(),
  consent: z.optional(z.union([
    z.literal("always"),
    z.strictObject({
      rememberFor: z.number().check(z.int(), z.minimum(60), z.maximum(400 * 86400)),
    }),
  ])),
  renderConsent: fn<AuthServerConfig["renderConsent"]>(),
  fetch: fn<typeof fetch>(),
  outbound: z.optional(z.strictObject({
    allow: z.optional(z.array(z.string().check(z.minLength(1)))),
    ca: z.optional(z.array(z.string())),
    timeoutMs: int(1, 60_000),
    checkAddresses: z.optional(z.boolean()),
  })),
  rateLimits: z.optional(z.union([
    z.literal(false),
    z.partialRecord(
      z.enum(["register", "authorize", "token", "revoke", "introspect"]),
      z.strictObject({ ip: z.optional(rateRule), client: z.optional(rateRule) }),
    ),
  ])),
  clientIp: fn<AuthServerConfig["clientIp"]>(),
  now: fn<() => number>(),
  quiet: z.optional(z.boolean()),
});

/** Thrown by `createAuthServer` for a bad config; the message names the field. */
export class ConfigError extends Error {
  /** Create a config error. */
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/** A resource after normalisation. */
export interface Resource {
  /** Canonical resource URL. */
  resource: string;
  /** Scopes understood. */
  scopes: string[];
  /** Display name. */
  name?: string;
}

/** Config after validation and defaults. */
export interface ResolvedConfig extends Omit<AuthServerConfig, "resources" | "scopes"> {
  /** The issuer, exactly as configured. */
  issuer: string;
  /** Issuer URL parsed. */
  issuerUrl: URL;
  /** Issuer path without trailing slash ("" at root). */
  basePath: string;
  /** Normalised resources. */
  resources: Resource[];
  /** scopes_supported. */
  scopes: string[];
  /** Lifetimes in seconds. */
  accessTokenTtl: number;
  refreshTokenTtl: number;
  codeTtl: number;
  /** Refresh reuse window, seconds. */
  refreshReuseWindow: number;
  now: () => number;
}

export { canonicalResource };

/** Validate and normalise; throws {@link ConfigError} naming the bad field. */
export function resolveConfig(input: AuthServerConfig): ResolvedConfig {
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = issue.path.length ? issue.path.join(".") : "(config)";
    throw new ConfigError(`Invalid Gatehouse config at "${path}": ${issue.message}`);
  }
  const c = parsed.data as AuthServerConfig;
  const fallbackScopes = c.scopes ?? ["mcp:read", "mcp:write", "mcp:admin"];
  const resources: Resource[] = c.resources.map((r) => {
    const obj = typeof r === "string" ? { resource: r } : r;
    return {
      resource: canonicalResource(obj.resource),
      scopes: obj.scopes ?? fallbackScopes,
      name: obj.name,
    };
  });
  const seen = new Set<string>();
  for (const r of resources) {
    if (seen.has(r.resource)) {
      throw new ConfigError(
        `Invalid Gatehouse config at "resources": duplicate resource ${r.resource}`,
      );
    }
    seen.add(r.resource);
  }
  const scopes = c.scopes ?? [...new Set(resources.flatMap((r) => r.scopes))];
  for (const r of resources) {
    const unknown = r.scopes.find((s) => !scopes.includes(s));
    if (unknown) {
      throw new ConfigError(
        `Invalid Gatehouse config at "resources": scope "${unknown}" of ${r.resource} is not in "scopes"`,
      );
    }
  }
  const unknownDefault = c.defaultScopes?.find((s) => !scopes.includes(s));
  if (unknownDefault) {
    throw new ConfigError(
      `Invalid Gatehouse config at "defaultScopes": "${unknownDefault}" is not in "scopes"`,
    );
  }
  c.introspectionClients?.forEach((ic, i) => {
    const at = `Invalid Gatehouse config at "introspectionClients.${i}.resource"`;
    if (ic.resource === undefined) {
      if (resources.length !== 1) {
        throw new ConfigError(`${at}: required when several resources are configured`);
      }
      return;
    }
    for (const r of typeof ic.resource === "string" ? [ic.resource] : ic.resource) {
      if (!seen.has(canonicalResource(r))) {
        throw new ConfigError(`${at}: ${r} is not a configured resource`);
      }
    }
  });
  const issuerUrl = new URL(c.issuer);
  return {
    ...c,
    issuer: c.issuer,
    issuerUrl,
    basePath: issuerUrl.pathname.replace(/\/+$/, ""),
    resources,
    scopes,
    accessTokenTtl: c.accessTokenTtl ?? 900,
    refreshTokenTtl: c.refreshTokenTtl ?? 30 * 86400,
    codeTtl: c.codeTtl ?? 60,
    refreshReuseWindow: c.refreshReuseWindow ?? 60,
    now: c.now ?? Date.now,
  };
}

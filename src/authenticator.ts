/**
 * The seam between the core server and pluggable sign-in (`@gatehouse/oauth/identity`):
 * an `authenticate` function may carry a `gatehouse` plugin that the server attaches to at
 * start, giving it storage, props sealing and extra routes under the issuer (e.g.
 * `/callback/github`). The core never imports the identity code; it only reads this shape.
 *
 * @module
 */
import type { Sealer } from "./props.ts";
import type { GrantRecord } from "./grants.ts";

/** Typed storage handed to plugins: values are JSON, expiry (epoch ms) is checked on read. */
export interface PluginStore {
  /** The live value at `key`, or undefined. */
  get<T>(key: readonly string[]): Promise<T | undefined>;
  /** Write `data` at `key` until `exp` (epoch ms; null: no expiry). */
  put<T>(key: readonly string[], data: T, exp: number | null): Promise<void>;
  /** Atomically replace (on strong drivers); returns the previous live value. */
  swap<T, U>(key: readonly string[], data: U, exp: number | null): Promise<T | undefined>;
  /** Delete `key`. */
  delete(key: readonly string[]): Promise<void>;
  /**
   * Read-modify-write with compare-and-swap (atomic on strong drivers): `change` gets the live
   * value and returns what to write with its expiry (epoch ms or null), or undefined to write
   * nothing. Resolves to what was written, or undefined.
   */
  update<T>(
    key: readonly string[],
    change: (current: T | undefined) => { data: T; exp: number | null } | undefined,
  ): Promise<{ data: T; exp: number | null } | undefined>;
}

/** What the server hands a plugin when it attaches. */
export interface AuthenticatorHost {
  /** The issuer, as configured. */
  readonly issuer: string;
  /** Issuer origin + path, no trailing slash: routes live under it. */
  readonly base: string;
  /** Clock, epoch ms. */
  now(): number;
  /** True when development warnings are silenced. */
  readonly quiet: boolean;
  /** Typed storage (expiry checked on read). */
  readonly store: PluginStore;
  /** AES-GCM sealing with the configured `encryptionKeys`. */
  readonly sealer: Sealer;
  /** A grant's props (decrypted), or undefined. */
  readProps(grantId: string): Promise<Record<string, unknown> | undefined>;
  /** Replace a grant's props; false (nothing written) when the grant is not active. */
  writeProps(grantId: string, props: Record<string, unknown>): Promise<boolean>;
  /** Revoke a grant (its tokens die; `grant.revoked` is reported). */
  revokeGrant(grantId: string, reason: string): Promise<void>;
  /** A 302 to a client's (already validated) redirect URI with `params` and RFC 9207 `iss`. */
  redirectToClient(redirectUri: string, params: Record<string, string | undefined>): Response;
  /** A plain HTML error page, optionally with a plain link back to the client. */
  errorPage(
    status: number,
    title: string,
    detail: string,
    link?: { href: string; host: string },
  ): Response;
}

/** What the server knows about the caller of a plugin route. */
export interface PluginCaller {
  /** The caller's IP (the server's `clientIp` option, or the socket address / platform header). */
  clientIp?: string;
}

/** A request handler for one plugin route. */
export type PluginHandler = (req: Request, caller?: PluginCaller) => Promise<Response>;

/** What a pluggable `authenticate` carries as its `gatehouse` property. */
export interface AuthenticatorPlugin {
  /** Called once by `createAuthServer`. */
  attach(host: AuthenticatorHost): void;
  /** Paths under the issuer (e.g. `/callback/github`) → method → handler. */
  routes(): Record<string, Record<string, PluginHandler>>;
  /** Called after a grant is revoked, with its props (e.g. to revoke the upstream token). */
  grantRevoked?(grant: GrantRecord, props: Record<string, unknown> | undefined): Promise<void>;
}

/** The plugin carried by an `authenticate` function, if any. */
export function pluginOf(authenticate: unknown): AuthenticatorPlugin | undefined {
  const p = (authenticate as { gatehouse?: AuthenticatorPlugin } | undefined)?.gatehouse;
  return p && typeof p.attach === "function" && typeof p.routes === "function" ? p : undefined;
}

/**
 * The upstream token lifecycle behind `Upstream.accessToken`: hand out the stored token,
 * refresh it exactly once when it is about to expire (single flight per grant in this
 * process; across instances an atomic `swap` on a lock keyed by the refresh token being
 * spent, the others wait for the rotated pair to appear), store the rotated pair, and revoke
 * the grant when the provider refuses the refresh for good.
 *
 * @module
 */
import * as oauth from "oauth4webapi";
import type { AuthenticatorHost } from "../authenticator.ts";
import { errorCode, sha256 } from "./_common.ts";

/** The upstream tokens kept in a grant's props, at `props.upstream`. */
export interface UpstreamTokenSet {
  /** Provider name (`/callback/<name>`). */
  provider: string;
  /** The provider's user id. */
  subject: string;
  /** The upstream access token. */
  access_token: string;
  /** Its type (`bearer`, lowercased by the client). */
  token_type: string;
  /** The upstream refresh token, when the provider issued one. */
  refresh_token?: string;
  /** When the access token expires, epoch seconds (absent: the provider did not say). */
  expires_at?: number;
  /** Scopes the provider granted. */
  scope?: string;
}

/** Why an upstream token could not be had. */
export type UpstreamErrorCode =
  | "no_upstream_token"
  | "upstream_revoked"
  | "upstream_unavailable";

const MESSAGES: Record<UpstreamErrorCode, string> = {
  no_upstream_token: "this grant has no upstream token for this provider",
  upstream_revoked:
    "the upstream authorization has ended; the grant was revoked and the client must authorize again",
  upstream_unavailable: "the upstream provider is unavailable; try again",
};

/** Thrown by `accessToken` / `userinfo`; the message never includes tokens. */
export class UpstreamError extends Error {
  /** Machine-readable reason. */
  readonly code: UpstreamErrorCode;
  /** Create the error. */
  constructor(code: UpstreamErrorCode) {
    super(MESSAGES[code]);
    this.name = "UpstreamError";
    this.code = code;
  }
}

/** How long a refresh lock is held at most, ms. */
const LOCK_TTL_MS = 60_000;
/** How long an instance that lost the lock waits for the winner's rotated pair, ms. */
const WAIT_MS = 15_000;

/** Errors from the token endpoint that end the upstream grant (RFC 6749 §5.2). */
const PERMANENT = new Set(["invalid_grant", "unauthorized_client", "invalid_client"]);

interface Options {
  name: string;
  skew: number;
  host(): AuthenticatorHost;
  refresh(refreshToken: string): Promise<oauth.TokenEndpointResponse>;
}

/** Upstream token lifecycle for one provider (internal). */
export class UpstreamTokens {
  #flights = new Map<string, Promise<string>>();
  /** Upstream refresh requests sent by this instance (diagnostics and tests). */
  refreshes = 0;
  constructor(private readonly o: Options) {}

  #fresh(t: UpstreamTokenSet): boolean {
    return t.expires_at === undefined || t.expires_at - this.o.skew > this.o.host().now() / 1000;
  }

  #tokensOf(props: Record<string, unknown> | undefined): UpstreamTokenSet | undefined {
    const t = props?.upstream as UpstreamTokenSet | undefined;
    return t && t.provider === this.o.name && typeof t.access_token === "string" ? t : undefined;
  }

  /** See `Upstream.accessToken`. */
  accessToken(authInfo: { extra?: Record<string, unknown> } | undefined): Promise<string> {
    const grantId = authInfo?.extra?.grantId;
    const t = this.#tokensOf(authInfo?.extra?.props as Record<string, unknown> | undefined);
    if (typeof grantId !== "string" || !t) {
      return Promise.reject(new UpstreamError("no_upstream_token"));
    }
    if (this.#fresh(t)) return Promise.resolve(t.access_token);
    let flight = this.#flights.get(grantId);
    if (!flight) {
      flight = this.#refresh(grantId).finally(() => this.#flights.delete(grantId));
      this.#flights.set(grantId, flight);
    }
    return flight;
  }

  async #refresh(grantId: string): Promise<string> {
    const host = this.o.host();
    const props = await host.readProps(grantId);
    const current = this.#tokensOf(props);
    if (!props || !current) throw new UpstreamError("upstream_revoked");
    if (this.#fresh(current)) return current.access_token; // another instance already did it
    if (!current.refresh_token) {
      // Expired and nothing to refresh it with: the MCP client must authorize again.
      await host.revokeGrant(grantId, `upstream ${this.o.name} token expired`);
      throw new UpstreamError("upstream_revoked");
    }
    const lock = ["upstream", "refresh", grantId, await sha256(current.refresh_token)];
    const held = await host.store.swap(lock, { at: host.now() }, host.now() + LOCK_TTL_MS);
    if (held !== undefined) return await this.#waitForRotation(grantId, current.refresh_token);
    let res: oauth.TokenEndpointResponse;
    try {
      this.refreshes++;
      res = await this.o.refresh(current.refresh_token);
    } catch (e) {
      if (e instanceof oauth.ResponseBodyError && PERMANENT.has(e.error)) {
        console.error(`[gatehouse] ${this.o.name}: upstream refresh refused (${e.error})`);
        await host.revokeGrant(grantId, `upstream ${this.o.name} refresh refused`);
        throw new UpstreamError("upstream_revoked");
      }
      console.error(`[gatehouse] ${this.o.name}: upstream refresh failed (${errorCode(e)})`);
      await host.store.delete(lock).catch(() => {});
      throw new UpstreamError("upstream_unavailable");
    }
    const next: UpstreamTokenSet = {
      ...current,
      access_token: res.access_token,
      token_type: res.token_type,
      refresh_token: res.refresh_token ?? current.refresh_token,
      scope: res.scope ?? current.scope,
    };
    if (typeof res.expires_in === "number") {
      next.expires_at = Math.floor(host.now() / 1000) + res.expires_in;
    } else delete next.expires_at;
    if (!(await host.writeProps(grantId, { ...props, upstream: next }))) {
      throw new UpstreamError("upstream_revoked");
    }
    return next.access_token;
  }

  /** Another instance holds the lock: wait until its rotated pair is stored. */
  async #waitForRotation(grantId: string, spent: string): Promise<string> {
    const host = this.o.host();
    const deadline = Date.now() + WAIT_MS;
    for (let delay = 20; Date.now() < deadline; delay = Math.min(delay * 2, 500)) {
      await new Promise((r) => setTimeout(r, delay));
      const t = this.#tokensOf(await host.readProps(grantId));
      if (!t) throw new UpstreamError("upstream_revoked");
      if (t.refresh_token !== spent || this.#fresh(t)) return t.access_token;
    }
    throw new UpstreamError("upstream_unavailable");
  }
}

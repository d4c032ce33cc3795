/**
 * The server's side of grant props and pluggable sign-in (internal): sealing, the
 * `refreshProps` hook, props at verify time, forgetting them on revocation, and attaching an
 * `authenticate` plugin (`./identity`) with its routes.
 *
 * @module
 */
import type { ResolvedConfig } from "./config.ts";
import type { Store } from "./_store.ts";
import type { GrantRecord } from "./grants.ts";
import type { VerifyResult } from "./verifier.ts";
import { createSealer, grantProps } from "./props.ts";
import type { GrantProps } from "./props.ts";
import { pluginOf } from "./authenticator.ts";
import type { AuthenticatorHost, PluginHandler } from "./authenticator.ts";
import { errorPage } from "./_http.ts";

/** What `createAuthServer` wires in. */
export interface PropsSupport {
  /** Sealed props store (for the endpoint context). */
  props: GrantProps;
  /** After a downstream refresh: the `refreshProps` hook; props kept as long as the grant. */
  refreshed(grant: GrantRecord): Promise<void>;
  /** After a revocation: the plugin's upstream revocation, then the props are deleted. */
  revoked(grant: GrantRecord): Promise<void>;
  /** A successful verification with the grant's props added. */
  withProps(result: VerifyResult): Promise<VerifyResult>;
  /** Attach the `authenticate` plugin, if any; returns its routes (path → method → handler). */
  attach(
    revoke: (grantId: string, reason: string) => Promise<unknown>,
  ): Record<string, Record<string, PluginHandler>>;
}

/** Build the props support for a server. */
export function propsSupport(
  cfg: ResolvedConfig,
  store: Store,
  base: string,
  warn: (m: string) => void,
  hookFailed: (hook: string, error: unknown) => void = () => {},
): PropsSupport {
  const sealer = createSealer(cfg.encryptionKeys);
  const plugin = pluginOf(cfg.authenticate);
  // Props are looked up at verify time only once this server can have any.
  let inUse = Boolean(cfg.encryptionKeys?.length || plugin);
  // Once per server: at start with an identity plugin (it seals its sign-in state, sessions and
  // upstream tokens from the first request on), else at the first props write.
  let warned = false;
  const warnEphemeral = () => {
    if (warned || !sealer.ephemeral) return;
    warned = true;
    warn(
      "[gatehouse] WARNING: no encryptionKeys configured; sign-in sessions and grant props are sealed with an ephemeral key and are lost on restart.",
    );
  };
  if (plugin) warnEphemeral();
  const sealed = grantProps(store, sealer);
  const props: GrantProps = {
    ...sealed,
    write(grantId, p, exp) {
      warnEphemeral();
      inUse = true;
      return sealed.write(grantId, p, exp);
    },
  };

  /** After a props write: delete them again when the grant is (now) revoked or gone. */
  const dropIfRevoked = async (grantId: string): Promise<boolean> => {
    const g = await store.get<GrantRecord>(["grant", grantId]);
    if (g && !g.revokedAt) return false;
    await props.delete(grantId);
    return true;
  };

  return {
    props,
    async refreshed(grant) {
      if (!inUse && !cfg.refreshProps) return;
      // Runs after the old refresh token was consumed: it must never fail the response.
      try {
        const now = cfg.now();
        const current = await props.load(grant.id);
        let next = current?.props;
        if (cfg.refreshProps) {
          try {
            next = (await cfg.refreshProps({ grant, props: current?.props })) ?? next;
          } catch (e) {
            hookFailed("refreshProps", e); // an `error` event + console unless quiet
          }
        }
        const needed = now + (cfg.refreshTokenTtl + cfg.accessTokenTtl) * 1000;
        if (next && (next !== current?.props || (current.exp ?? Infinity) < needed)) {
          await props.write(grant.id, next, now + 2 * cfg.refreshTokenTtl * 1000);
          // A revocation that landed meanwhile (it deletes the props) must win.
          await dropIfRevoked(grant.id);
        }
      } catch (e) {
        console.error(`[gatehouse] props not updated on refresh: ${(e as Error)?.name ?? "Error"}`);
      }
    },
    async revoked(g) {
      if (!inUse) return;
      try {
        const p = await props.read(g.id);
        if (p && plugin?.grantRevoked) await plugin.grantRevoked(g, p);
      } catch (e) {
        console.error(`[gatehouse] upstream revocation failed: ${(e as Error)?.name ?? "Error"}`);
      }
      // The grant is already revoked (props of a revoked grant never reach a tool); a failed
      // delete only leaves them until they expire.
      await props.delete(g.id).catch((e) =>
        console.error(`[gatehouse] props not deleted: ${(e as Error)?.name ?? "Error"}`)
      );
    },
    async withProps(result) {
      if (!result.ok || !inUse || !result.claims.grantId) return result;
      let p: Record<string, unknown> | undefined;
      try {
        p = await props.read(result.claims.grantId);
      } catch {
        p = undefined; // storage trouble: the token is valid; tools see no props
      }
      return p ? { ok: true, claims: { ...result.claims, props: p } } : result;
    },
    attach(revoke) {
      if (!plugin) return {};
      const host: AuthenticatorHost = {
        issuer: cfg.issuer,
        base,
        now: cfg.now,
        quiet: cfg.quiet === true,
        store,
        sealer,
        readProps: (id) => props.read(id),
        async writeProps(id, p) {
          const g = await store.get<GrantRecord>(["grant", id]);
          if (!g || g.revokedAt) return false;
          const exp = (await props.load(id))?.exp ?? g.expiresAt ?? null;
          await props.write(id, p, exp);
          // A revocation that raced this write must win: drop what was just written.
          return !(await dropIfRevoked(id));
        },
        revokeGrant: async (id, reason) => {
          await revoke(id, reason);
        },
        redirectToClient(redirectUri, params) {
          const u = new URL(redirectUri);
          for (const [k, v] of Object.entries(params)) {
            if (v !== undefined) u.searchParams.set(k, v);
          }
          u.searchParams.set("iss", cfg.issuer);
          return new Response(null, {
            status: 302,
            headers: { location: u.href, "cache-control": "no-store" },
          });
        },
        errorPage,
      };
      plugin.attach(host);
      return plugin.routes();
    },
  };
}

/**
 * A Worker (bundled, run in workerd by tests/identity/workers_test.ts): Gatehouse with `oidc()` as
 * its `authenticate`, plus `/upstream-userinfo` answering what the provider's userinfo says
 * for a verified bearer token's grant.
 */
import { createAuthServer } from "../../mod.ts";
import type { AuthServer } from "../../mod.ts";
import { toAuthInfo } from "../../mcp.ts";
import { oidc } from "../../src/identity/mod.ts";
import type { Upstream } from "../../src/identity/mod.ts";

interface Env {
  UPSTREAM_ISSUER: string;
  UPSTREAM_CLIENT_SECRET: string;
  SIGNING_JWK: string;
  PROPS_KEY: string;
}

let state: { auth: AuthServer; up: Upstream } | undefined;

export default {
  async fetch(req: Request, env: Env): Promise<Response> {
    if (!state) {
      const origin = new URL(req.url).origin;
      const up = oidc({
        issuer: env.UPSTREAM_ISSUER,
        clientId: "gatehouse",
        clientSecret: env.UPSTREAM_CLIENT_SECRET,
        scopes: ["openid", "email", "offline_access"],
      });
      state = {
        up,
        auth: createAuthServer({
          issuer: origin,
          resources: [origin + "/mcp"],
          authenticate: up,
          keys: [JSON.parse(env.SIGNING_JWK)],
          encryptionKeys: [JSON.parse(env.PROPS_KEY)],
          quiet: true,
        }),
      };
    }
    const { auth, up } = state;
    if (new URL(req.url).pathname === "/upstream-userinfo") {
      const v = await auth.verify(req);
      if (!v.ok) return v.response;
      return Response.json(await up.userinfo(toAuthInfo(v.claims)));
    }
    return auth.handle(req);
  },
};

/**
 * The demo's optional upstream sign-in: with `GATEHOUSE_UPSTREAM_ISSUER`,
 * `GATEHOUSE_UPSTREAM_CLIENT_ID` and `GATEHOUSE_UPSTREAM_CLIENT_SECRET` set, users sign in
 * through that OpenID Connect provider (callback `<origin>/callback/oidc`), `whoami` shows
 * the upstream subject, and the `upstream_userinfo` tool returns what the provider's
 * userinfo endpoint says for the stored upstream token. Unset: the demo is unchanged.
 */
import { oidc } from "../../src/identity/mod.ts";
import type { Upstream } from "../../src/identity/mod.ts";
import { defineTool, type McpToolDefinition } from "../../mcp.ts";

/** Reads the three variables; undefined when none is set. Throws naming what is missing or wrong. */
export function upstreamFromEnv(env: (name: string) => string | undefined): Upstream | undefined {
  const issuer = env("GATEHOUSE_UPSTREAM_ISSUER");
  const clientId = env("GATEHOUSE_UPSTREAM_CLIENT_ID");
  const clientSecret = env("GATEHOUSE_UPSTREAM_CLIENT_SECRET");
  if (!issuer && !clientId && !clientSecret) return undefined;
  const missing = [
    ["GATEHOUSE_UPSTREAM_ISSUER", issuer],
    ["GATEHOUSE_UPSTREAM_CLIENT_ID", clientId],
    ["GATEHOUSE_UPSTREAM_CLIENT_SECRET", clientSecret],
  ].filter(([, v]) => !v).map(([k]) => k);
  if (missing.length) throw new Error(`set ${missing.join(" and ")} too (or none of the three)`);
  return oidc({
    issuer: issuer!,
    clientId: clientId!,
    clientSecret: clientSecret!,
    scopes: (env("GATEHOUSE_UPSTREAM_SCOPES") ?? "openid profile email").split(" "),
    // One provider: the Gatehouse subject is the upstream subject, so whoami shows it.
    subject: (identity) => identity.subject,
  });
}

/** The `upstream_userinfo` tool (scope `mcp:read`) when an upstream is configured. */
export function upstreamTools(upstream: Upstream | undefined): McpToolDefinition[] {
  if (!upstream) return [];
  return [
    defineTool({
      name: "upstream_userinfo",
      description: "What your identity provider's userinfo endpoint says about you.",
      scopes: ["mcp:read"],
      inputSchema: {},
      run: async (_args, call) => {
        try {
          const info = await upstream.userinfo(call.authInfo);
          return { content: [{ type: "text" as const, text: JSON.stringify(info) }] };
        } catch (e) {
          return {
            isError: true,
            content: [{ type: "text" as const, text: (e as Error).message }],
          };
        }
      },
    }),
  ];
}

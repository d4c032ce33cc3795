/**
 * `./identity` inside workerd (Miniflare): a bundled Worker signs a user in through a real
 * `oidc-provider` (in this test process, over loopback HTTP) and its endpoint reads the
 * provider's userinfo with the stored upstream token.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Miniflare } from "miniflare";
import { generateEncryptionKey, generateSigningKey } from "../../mod.ts";
import { bundle } from "../support/runtimes/bundle.ts";
import { Browser } from "../support/browser.ts";
import { CLIENT_REDIRECT } from "../support/mcp_client.ts";
import { pkce } from "../support/flow.ts";
import { signInThroughUpstream, startUpstreamOidc } from "../support/upstream_oidc.ts";

test("identity in workerd: oidc() sign-in through oidc-provider, then the provider's userinfo via the stored token", async () => {
  const probe = Deno.listen({ port: 0, hostname: "127.0.0.1" });
  const port = (probe.addr as Deno.NetAddr).port;
  probe.close();
  const origin = `http://127.0.0.1:${port}`;
  const upstream = await startUpstreamOidc([origin + "/callback/oidc"]);
  const { code } = await bundle("tests/support/identity_worker.ts", "workerd");
  const mf = new Miniflare({
    modules: true,
    script: code,
    compatibilityDate: "2026-04-01",
    host: "127.0.0.1",
    port,
    bindings: {
      UPSTREAM_ISSUER: upstream.issuer,
      UPSTREAM_CLIENT_SECRET: upstream.clientSecret,
      SIGNING_JWK: JSON.stringify(await generateSigningKey()),
      PROPS_KEY: JSON.stringify(generateEncryptionKey()),
    },
  });
  try {
    const url = await mf.ready;
    assert.equal(url.origin, origin);
    const reg = await fetch(origin + "/register", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        redirect_uris: [CLIENT_REDIRECT],
        token_endpoint_auth_method: "none",
      }),
    });
    assert.equal(reg.status, 201);
    const { client_id } = await reg.json();
    const { verifier, challenge } = await pkce();
    const start = `${origin}/authorize?${new URLSearchParams({
      response_type: "code",
      client_id,
      redirect_uri: CLIENT_REDIRECT,
      code_challenge: challenge,
      code_challenge_method: "S256",
    })}`;
    const { url: end } = await signInThroughUpstream(new Browser(), start, {
      issuer: upstream.issuer,
      clientRedirect: CLIENT_REDIRECT,
      user: "erin",
    });
    const authCode = end.searchParams.get("code");
    assert.ok(authCode, end.href);
    const tok = await fetch(origin + "/token", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "authorization_code",
        code: authCode,
        code_verifier: verifier,
        client_id,
        redirect_uri: CLIENT_REDIRECT,
      }),
    });
    assert.equal(tok.status, 200);
    const { access_token } = await tok.json();
    const info = await fetch(origin + "/upstream-userinfo", {
      headers: { authorization: `Bearer ${access_token}` },
    });
    assert.equal(info.status, 200);
    const body = await info.json();
    assert.equal(body.sub, "erin");
    assert.equal(body.email, "erin@example.test");
  } finally {
    await mf.dispose();
    await upstream.close();
  }
});

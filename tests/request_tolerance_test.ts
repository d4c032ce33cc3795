/**
 * Request parameters, exact vs tolerant (README "Tolerance decisions"): OIDC
 * and informational extras are ignored; where the code goes (response_mode),
 * request objects, and anything that could widen a grant are exact.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  authorizeQuery,
  codeFor,
  expectError,
  pkce,
  REDIRECT,
  register,
  RESOURCE,
  testServer,
  tokensFor,
} from "./support/flow.ts";

async function setup() {
  const s = await testServer();
  const client = await register(s);
  const { challenge } = await pkce();
  const base = {
    response_type: "code",
    client_id: client.client_id,
    redirect_uri: REDIRECT,
    code_challenge: challenge,
    code_challenge_method: "S256",
    resource: RESOURCE,
    state: "st",
  };
  return { s, client, base };
}

test("/authorize ignores OIDC and unknown extras: prompt, nonce, login_hint, max_age, display, ui_locales, claims, vendor params", async () => {
  const { s, base } = await setup();
  const res = await s.call(authorizeQuery({
    ...base,
    prompt: "consent",
    nonce: "n-1",
    login_hint: "alice@example.com",
    max_age: "3600",
    display: "page",
    ui_locales: "fr",
    claims: "{}",
    acr_values: "urn:x",
    response_mode: "query",
    x_vendor: "1",
  }));
  assert.equal(res.status, 200);
  assert.match(await res.text(), /consent_id/);
});

/** Self-registered clients get errors on a page with one link to the redirect URI (no open redirector). */
async function linkedError(res: Response): Promise<URL> {
  assert.equal(res.status, 400);
  assert.equal(res.headers.get("location"), null);
  const href = /<a [^>]*href="([^"]*)"/.exec(await res.text())?.[1];
  assert.ok(href, "error page links to the client");
  return new URL(href.replaceAll("&amp;", "&"));
}

test("/authorize is exact about response_mode and request objects (error linked to the registered redirect URI)", async () => {
  const { s, base } = await setup();
  const cases: [Record<string, string>, string][] = [
    [{ response_mode: "fragment" }, "invalid_request"],
    [{ response_mode: "form_post" }, "invalid_request"],
    [{ request: "eyJhbGciOiJub25lIn0.e30." }, "request_not_supported"],
    [{ request_uri: "urn:ietf:params:oauth:request_uri:abc" }, "request_uri_not_supported"],
  ];
  for (const [extra, error] of cases) {
    const loc = await linkedError(await s.call(authorizeQuery({ ...base, ...extra })));
    assert.equal(loc.origin + loc.pathname, REDIRECT);
    assert.equal(loc.searchParams.get("error"), error);
    assert.equal(loc.searchParams.get("state"), "st");
  }
});

test("/token: a scope sent with the code never widens the grant; unknown parameters are ignored", async () => {
  const { s, client } = await setup();
  const { code, verifier } = await codeFor(s, client.client_id, { scope: "mcp:read" });
  const res = await s.form("/token", {
    grant_type: "authorization_code",
    code,
    code_verifier: verifier,
    redirect_uri: REDIRECT,
    client_id: client.client_id,
    resource: RESOURCE,
    scope: "mcp:admin",
    audience: "https://elsewhere.example",
    x_vendor: "1",
  });
  assert.equal(res.status, 200);
  assert.equal((await res.json()).scope, "mcp:read");
});

test("/revoke and /introspect: token_type_hint is only a hint (a wrong or unknown one changes nothing)", async () => {
  const s = await testServer();
  const t = await tokensFor(s);
  const res = await s.form("/revoke", {
    token: t.refresh_token,
    token_type_hint: "access_token",
    client_id: t.client_id,
  });
  assert.equal(res.status, 200);
  const again = await s.form("/revoke", {
    token: t.access_token,
    token_type_hint: "something_else",
    client_id: t.client_id,
  });
  assert.equal(again.status, 200);
  const r = await s.form("/token", {
    grant_type: "refresh_token",
    refresh_token: t.refresh_token,
    client_id: t.client_id,
  });
  await expectError(r, 400, "invalid_grant");
});

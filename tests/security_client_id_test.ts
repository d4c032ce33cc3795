/**
 * Client ID Metadata Document ids that the URL parser would rewrite (security review): the
 * parser drops tab/CR/LF and normalises the rest, so an id like that named a different URL than
 * the one fetched and carried raw control characters into events, tokens and logs. `fetch` is
 * injected as the stand-in for a public https host (none can exist here).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  authorizePage,
  authorizeQuery,
  consentFields,
  pkce,
  REDIRECT,
  testServer,
} from "./support/flow.ts";

// The stand-in host does not resolve here: allow-listed, so only the URL rules are tested.
const ALLOW = { allow: ["app.example.org"] };

test("a metadata-document client id that is not in the URL parser's own form is never fetched", async () => {
  const fetched: string[] = [];
  const serve = (id: string): typeof fetch => (input) => {
    const url = input instanceof Request ? input.url : String(input);
    fetched.push(url);
    return Promise.resolve(Response.json({
      client_id: id,
      client_name: "Forged",
      redirect_uris: [REDIRECT],
      token_endpoint_auth_method: "none",
    }));
  };
  const { challenge } = await pkce();
  const query = (clientId: string) =>
    authorizeQuery({
      response_type: "code",
      client_id: clientId,
      redirect_uri: REDIRECT,
      code_challenge: challenge,
      code_challenge_method: "S256",
    });
  for (
    const id of [
      "https://app.example.org/c\n[audit] token.issued sub=admin client=x",
      "https://app.example.org/c\r\nx",
      "https://app.example.org/c\tx",
      "https://APP.example.org/c",
      "https://app.example.org:443/c",
      "https://app.example.org/a/../c",
      "https://app.example.org/c d",
    ]
  ) {
    fetched.length = 0;
    const s = await testServer({ fetch: serve(id), outbound: ALLOW });
    const res = await s.call(query(id));
    assert.equal(res.status, 400, JSON.stringify(id));
    const page = await res.text();
    assert.match(page, /Unknown client/);
    // The page names the URL rule broken, not "no client is registered".
    assert.match(page, /the client id URL must (be in normalised form|not contain dot segments)/);
    assert.deepEqual(fetched, [], `${JSON.stringify(id)} was fetched`);
    assert.ok(!s.events.some((e) => /[\r\n\t]/.test(e.clientId ?? "")));
  }
  // The canonical form still works.
  const good = "https://app.example.org/c";
  const s = await testServer({ fetch: serve(good), outbound: ALLOW });
  const res = await s.call(query(good));
  assert.equal(res.status, 200);
  assert.ok(consentFields(await res.text()).consent_id);
});

test("an https client id the URL rules refuse is reported by the rule it breaks", async () => {
  const s = await testServer({ outbound: ALLOW });
  for (
    const [id, rule] of [
      ["https://app.example.org", /the client id URL must have a path component/],
      ["https://app.example.org/", /the client id URL must have a path component/],
      ["https://user@app.example.org/c", /the client id URL must not contain a username/],
      ["https://app.example.org/c#", /the client id URL must not contain a fragment/],
      ["https://App.example.org/c", /the client id URL must be in normalised form/],
    ] as const
  ) {
    const { res } = await authorizePage(s, id, { resource: undefined });
    assert.equal(res.status, 400, id);
    const page = await res.text();
    assert.match(page, rule, id);
    assert.doesNotMatch(page, /no client is registered/, id);
    const token = await s.form("/token", {
      grant_type: "authorization_code",
      code: "x",
      client_id: id,
      redirect_uri: REDIRECT,
      code_verifier: "a".repeat(43),
    });
    assert.equal(token.status, 401, id);
    const body = await token.json();
    assert.equal(body.error, "invalid_client", id);
    assert.match(body.error_description, rule, id);
  }
});

/**
 * Issue 8 items 3 and 9: no open redirector before the user acted (RFC 9700 §4.11.2), and
 * self-asserted client metadata shown as what it is (RFC 7591 §5): https-only page/image URIs,
 * invisible and bidi characters removed, self-registered clients marked unverified, redirect
 * host shown prominently.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { envelope } from "../storage/mod.ts";
import { memoryStorage } from "../storage/memory.ts";
import {
  authorizeQuery,
  consentFields,
  ISSUER,
  pkce,
  REDIRECT,
  register,
  testServer,
} from "./support/flow.ts";
import type { TestServer } from "./support/flow.ts";

const LANDING = "https://attacker.example/landing";

async function query(clientId: string, extra: Record<string, string | undefined> = {}) {
  const { challenge } = await pkce();
  return authorizeQuery({
    response_type: "code",
    client_id: clientId,
    redirect_uri: LANDING,
    code_challenge: challenge,
    code_challenge_method: "S256",
    state: "s1",
    ...extra,
  });
}

/** Never an automatic redirect: no Location, no meta refresh, no script; at most one plain link. */
async function assertNoRedirect(res: Response): Promise<string> {
  const body = await res.text();
  assert.equal(res.status, 400, body);
  assert.equal(res.headers.get("location"), null);
  assert.match(res.headers.get("content-type") ?? "", /^text\/html/);
  assert.equal(res.headers.get("referrer-policy"), "no-referrer");
  assert.equal(res.headers.get("cache-control"), "no-store");
  assert.doesNotMatch(body, /http-equiv|<script|refresh/i);
  const links = [...body.matchAll(/<a [^>]*href="([^"]*)"[^>]*>([^<]*)<\/a>/g)];
  assert.ok(links.length <= 1);
  if (links.length) {
    assert.equal(links[0][2], "attacker.example", "the link text is the destination host");
    assert.ok(links[0][1].startsWith(LANDING + "?"));
  }
  return body;
}

test("open registration + malformed /authorize: an error page, never a redirect to the registered URI", async () => {
  const s = await testServer();
  const c = await register(s, { redirect_uris: [LANDING] });
  for (
    const extra of [
      { response_type: undefined },
      { response_type: "token" },
      { scope: "not-a-scope" },
      { code_challenge: undefined },
      { code_challenge_method: "plain" },
      { resource: "https://other.example/mcp" },
    ]
  ) {
    await assertNoRedirect(await s.call(await query(c.client_id, extra)));
  }
  // Nothing was started for anyone.
  assert.equal((await s.auth.admin.listGrants()).length, 0);
});

test("a user who cannot be signed in gets a page too (access_denied only after acting)", async () => {
  const s = await testServer({ authenticate: () => "" });
  const c = await register(s, { redirect_uris: [LANDING] });
  const body = await assertNoRedirect(await s.call(await query(c.client_id)));
  assert.match(body, /could not be signed in/);
});

test("metadata-document clients get the page as well", async () => {
  const cid = "https://client.example/app.json";
  const s = await testServer({
    fetch: () =>
      Promise.resolve(Response.json({
        client_id: cid,
        client_name: "Doc client",
        redirect_uris: [LANDING],
      })),
  });
  await assertNoRedirect(await s.call(await query(cid, { response_type: "token" })));
});

test("after the user acted (Deny), the access_denied redirect is sent", async () => {
  const s = await testServer();
  const c = await register(s, { redirect_uris: [LANDING] });
  const page = await s.call(await query(c.client_id));
  assert.equal(page.status, 200);
  const res = await s.form("/authorize", { ...consentFields(await page.text()), decision: "deny" });
  assert.equal(res.status, 302);
  const loc = new URL(res.headers.get("location")!);
  assert.equal(loc.origin + loc.pathname, LANDING);
  assert.equal(loc.searchParams.get("error"), "access_denied");
  assert.equal(loc.searchParams.get("state"), "s1");
  assert.equal(loc.searchParams.get("iss"), ISSUER);
});

/** An operator-configured client, as a record the operator wrote (not DCR, not a document). */
async function withStaticClient(): Promise<{ s: TestServer; id: string }> {
  const storage = memoryStorage();
  const id = "operator-app";
  await storage.set(
    ["client", id],
    envelope({
      client_id: id,
      token_endpoint_auth_method: "none",
      redirect_uris: [REDIRECT],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      client_name: "Operator App",
      client_id_issued_at: 0,
      source: "static",
    }),
  );
  return { s: await testServer({ storage }), id };
}

test("operator-configured clients keep the RFC 6749 §4.1.2.1 error redirect and are not marked unverified", async () => {
  const { s, id } = await withStaticClient();
  const res = await s.call(await query(id, { redirect_uri: REDIRECT, response_type: "token" }));
  assert.equal(res.status, 302);
  const loc = new URL(res.headers.get("location")!);
  assert.equal(loc.searchParams.get("error"), "unsupported_response_type");
  assert.equal(loc.searchParams.get("iss"), ISSUER);
  const page = await s.call(await query(id, { redirect_uri: REDIRECT }));
  const html = await page.text();
  assert.equal(page.status, 200);
  assert.doesNotMatch(html, /id="unverified"/);
});

test("client_uri / logo_uri: https only; javascript:, data:, http: and junk are dropped", async () => {
  const s = await testServer();
  const bad = await register(s, {
    client_uri: "javascript:alert(document.domain)",
    logo_uri: "data:image/svg+xml;base64,PHN2Zy8+",
  });
  const http = await register(s, { client_uri: "http://app.example/", logo_uri: "not a url" });
  const good = await register(s, {
    client_uri: "https://app.example/",
    logo_uri: "https://app.example/logo.png",
  });
  for (const c of [bad, http]) {
    assert.equal(c.client_uri, undefined);
    assert.equal(c.logo_uri, undefined);
    const stored = await s.auth.admin.getClient(c.client_id);
    assert.equal(stored?.client_uri, undefined);
    assert.equal(stored?.logo_uri, undefined);
  }
  assert.equal(good.client_uri, "https://app.example/");
  assert.equal(good.logo_uri, "https://app.example/logo.png");
});

test("consent page: bidi-override, zero-width and control characters removed; unverified mark; redirect host prominent", async () => {
  const s = await testServer();
  // "Google" spoof: RLO reverses the tail, zero-width joiners and a BOM hide in the name.
  const name = "Goo\u200Bgle\u202E\u2066 Drive\u2069\u200D\uFEFF\u0007\u0085 \u200E\u061C Sync";
  const c = await register(s, { client_name: name, redirect_uris: [LANDING] });
  const page = await s.call(await query(c.client_id));
  assert.equal(page.status, 200);
  const html = await page.text();
  assert.match(html, /<span id="client-name">Google Drive Sync<\/span>/);
  for (
    const ch of [
      "\u200B",
      "\u200D",
      "\u200E",
      "\u202E",
      "\u2066",
      "\u2069",
      "\uFEFF",
      "\u0007",
      "\u0085",
      "\u061C",
    ]
  ) {
    assert.ok(!html.includes(ch), `U+${ch.codePointAt(0)!.toString(16)} removed`);
  }
  assert.match(html, /id="unverified"/);
  assert.match(
    html,
    /class="dest"[^>]*>[^<]*<strong id="redirect-host">attacker\.example<\/strong>/,
  );
  // Nothing visible left: the client id is shown instead.
  const blank = await register(s, { client_name: "\u202E\u200B\u2060", redirect_uris: [LANDING] });
  const p2 = await (await s.call(await query(blank.client_id))).text();
  assert.match(p2, new RegExp(`<span id="client-name">${blank.client_id}</span>`));
});

test("a reverse proxy's Host / X-Forwarded-* headers never change the issuer, endpoints or redirects", async () => {
  const s = await testServer();
  const c = await register(s, { redirect_uris: [LANDING] });
  const spoof = {
    host: "evil.example",
    "x-forwarded-host": "evil.example",
    "x-forwarded-proto": "http",
    forwarded: "host=evil.example;proto=http",
  };
  const md = await (await s.call("/.well-known/oauth-authorization-server", { headers: spoof }))
    .json();
  assert.equal(md.issuer, ISSUER);
  assert.ok(Object.values(md).every((v) => typeof v !== "string" || !v.includes("evil")));
  const page = await s.call(await query(c.client_id), { headers: spoof });
  const html = await page.text();
  assert.ok(!html.includes("evil.example"));
  const res = await s.form("/authorize", { ...consentFields(html), decision: "deny" }, spoof);
  assert.equal(new URL(res.headers.get("location")!).searchParams.get("iss"), ISSUER);
});

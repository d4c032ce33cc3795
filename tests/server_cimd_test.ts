/**
 * Client ID Metadata Documents (MCP 2025-11-25+). The document host is an
 * https origin on the public internet, which cannot exist here (loopback and
 * private hosts are refused by the SSRF guard on purpose), so these tests
 * inject `fetch`: a stand-in for the remote host. The stand-in host name does
 * not resolve here, so it is on the operator allow-list (`outbound.allow`).
 * The real-socket tests (SSRF, bounded reads, timeouts) are in
 * tests/cimd_fetch_test.ts.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  approveAndRedeem,
  authorizePage as authorizePageFor,
  REDIRECT,
  testServer,
} from "./support/flow.ts";
import type { TestServer } from "./support/flow.ts";

const CLIENT_ID = "https://app.example.org/oauth/client.json";

function host(
  docs: Record<string, { body: unknown; headers?: Record<string, string>; status?: number }>,
) {
  const calls: string[] = [];
  const f: typeof fetch = (input, init) => {
    const url = input instanceof Request ? input.url : String(input);
    calls.push(url);
    assert.equal(
      (init as RequestInit | undefined)?.redirect,
      "manual",
      "redirects are never followed",
    );
    const d = docs[url];
    if (!d) return Promise.resolve(new Response("not found", { status: 404 }));
    return Promise.resolve(
      new Response(typeof d.body === "string" ? d.body : JSON.stringify(d.body), {
        status: d.status ?? 200,
        headers: { "content-type": "application/json", ...d.headers },
      }),
    );
  };
  return { fetch: f, calls };
}

const ALLOW = { allow: ["app.example.org"] };

const goodDoc = {
  client_id: CLIENT_ID,
  client_name: "Metadata App",
  redirect_uris: [REDIRECT],
  grant_types: ["authorization_code", "refresh_token"],
  token_endpoint_auth_method: "none",
};

const authorizePage = (s: TestServer, clientId: string) =>
  authorizePageFor(s, clientId, { state: "s" });

test("metadata advertises client_id_metadata_document_supported", async () => {
  const s = await testServer();
  const md = await (await s.call("/.well-known/oauth-authorization-server")).json();
  assert.equal(md.client_id_metadata_document_supported, true);
  const off = await testServer({ clientIdMetadataDocuments: false });
  const md2 = await (await off.call("/.well-known/oauth-authorization-server")).json();
  assert.equal(md2.client_id_metadata_document_supported, false);
});

test("a valid document: consent shows its name and a localhost warning; the flow completes; cached", async () => {
  const h = host({ [CLIENT_ID]: { body: goodDoc, headers: { "cache-control": "max-age=600" } } });
  const s = await testServer({ fetch: h.fetch, outbound: ALLOW });
  const { res, verifier } = await authorizePage(s, CLIENT_ID);
  assert.equal(res.status, 200);
  const html = await res.text();
  assert.match(html, /Metadata App/);
  assert.match(html, /only redirects to this computer/);
  const tok = await approveAndRedeem(s, html, CLIENT_ID, verifier);
  assert.equal(tok.status, 200);
  const body = await tok.json();
  assert.equal(typeof body.refresh_token, "string");
  // Fetched once, then served from the cache (max-age=600).
  assert.equal(h.calls.length, 1);
  s.advance(601_000);
  await (await authorizePage(s, CLIENT_ID)).res.body?.cancel();
  assert.equal(h.calls.length, 2, "refetched after max-age");
});

test("a document's cache lifetime: no-store or a short max-age still 60 s, a long one at most a day", async () => {
  for (
    const [cc, keptMs] of [["no-store", 60_000], ["max-age=5", 60_000], [
      "max-age=999999",
      86_400_000,
    ], ["", 3_600_000]] as const
  ) {
    const h = host({ [CLIENT_ID]: { body: goodDoc, headers: { "cache-control": cc } } });
    const s = await testServer({ fetch: h.fetch, outbound: ALLOW });
    await (await authorizePage(s, CLIENT_ID)).res.body?.cancel();
    s.advance(keptMs - 1000);
    await (await authorizePage(s, CLIENT_ID)).res.body?.cancel();
    assert.equal(h.calls.length, 1, `${cc || "(none)"}: still cached`);
    s.advance(2000);
    await (await authorizePage(s, CLIENT_ID)).res.body?.cancel();
    assert.equal(h.calls.length, 2, `${cc || "(none)"}: refetched`);
  }
});

test("documents that must be refused: an error page naming the rule, never redirected", async () => {
  const cases: Record<string, [unknown, RegExp]> = {
    "client_id mismatch": [
      { ...goodDoc, client_id: "https://evil.example.org/client.json" },
      /client_id is not exactly its URL/,
    ],
    "no client_name": [{ ...goodDoc, client_name: undefined }, /has no client_name/],
    "no redirect_uris": [
      { ...goodDoc, redirect_uris: [] },
      /redirect_uris: must list at least one URI/,
    ],
    "javascript: redirect": [
      { ...goodDoc, redirect_uris: ["javascript:alert(1)"] },
      /forbidden scheme \(javascript:\)/,
    ],
    "secret-based auth": [
      { ...goodDoc, token_endpoint_auth_method: "client_secret_basic" },
      /cannot use client_secret_basic: no shared secret/,
    ],
    "nothing supported": [
      { ...goodDoc, grant_types: ["client_credentials"] },
      /authorization_code is required/,
    ],
    "not JSON": ["<html>", /is not valid JSON/],
    "JSON array": [[goodDoc], /is not a JSON object/],
  };
  for (const [name, [doc, rule]] of Object.entries(cases)) {
    const s = await testServer({
      fetch: host({ [CLIENT_ID]: { body: doc } }).fetch,
      outbound: ALLOW,
    });
    const { res } = await authorizePage(s, CLIENT_ID);
    assert.equal(res.status, 400, name);
    assert.equal(res.headers.get("location"), null, name);
    const html = await res.text();
    assert.match(html, /Unknown client/, name);
    assert.match(html, rule, name);
  }
});

test("redirect URI not in the document is refused; oversized and failing fetches are refused", async () => {
  const s1 = await testServer({
    outbound: ALLOW,
    fetch:
      host({ [CLIENT_ID]: { body: { ...goodDoc, redirect_uris: ["https://app.example.org/cb"] } } })
        .fetch,
  });
  const r1 = (await authorizePage(s1, CLIENT_ID)).res;
  assert.equal(r1.status, 400);
  assert.match(await r1.text(), /redirect URI is not registered/);

  const big = { ...goodDoc, padding: "x".repeat(20_000) };
  const s2 = await testServer({
    fetch: host({ [CLIENT_ID]: { body: big } }).fetch,
    outbound: ALLOW,
  });
  assert.equal((await authorizePage(s2, CLIENT_ID)).res.status, 400);

  const s3 = await testServer({
    outbound: ALLOW,
    fetch: host({ [CLIENT_ID]: { body: goodDoc, status: 500 } }).fetch,
  });
  assert.equal((await authorizePage(s3, CLIENT_ID)).res.status, 400);

  const s4 = await testServer({
    fetch: () => Promise.reject(new TypeError("network down")),
    outbound: ALLOW,
  });
  assert.equal((await authorizePage(s4, CLIENT_ID)).res.status, 400);
});

test("SSRF guard: loopback, private and IP-literal hosts are never fetched", async () => {
  const h = host({});
  const s = await testServer({ fetch: h.fetch, outbound: ALLOW });
  for (
    const id of [
      "https://localhost/client.json",
      "https://127.0.0.1/client.json",
      "https://10.0.0.8/client.json",
      "https://192.168.1.1/client.json",
      "https://169.254.169.254/latest",
      "https://[::1]/client.json",
      "https://intranet.local/client.json",
    ]
  ) {
    const { res } = await authorizePage(s, id);
    assert.equal(res.status, 400, id);
    await res.body?.cancel();
  }
  assert.deepEqual(h.calls, []);
});

test("with CIMD disabled, a URL client id is an unknown client and nothing is fetched", async () => {
  const h = host({ [CLIENT_ID]: { body: goodDoc } });
  const s = await testServer({ fetch: h.fetch, clientIdMetadataDocuments: false, outbound: ALLOW });
  const { res } = await authorizePage(s, CLIENT_ID);
  assert.equal(res.status, 400);
  await res.body?.cancel();
  assert.equal(h.calls.length, 0);
});

/**
 * Registration can't fill storage (issue 8 item 6): caps on size, counts and
 * lengths; unused clients expire; initial access token and software
 * statement hooks (RFC 7591 §3, §2.3).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  authorize,
  authorizeQuery,
  consentFields,
  pkce,
  REDIRECT,
  register,
  RESOURCE,
  testServer,
} from "./support/flow.ts";
import type { TestServer } from "./support/flow.ts";
import { REGISTRATION_DEFAULTS } from "../src/register.ts";

function post(s: TestServer, body: unknown, headers: Record<string, string> = {}) {
  return s.call("/register", {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
}

const base = { redirect_uris: [REDIRECT], token_endpoint_auth_method: "none", client_name: "x" };

test("the reported attack: 60 redirect URIs of 900 characters are refused and nothing is stored", async () => {
  const s = await testServer({ rateLimits: false }); // many registrations from one caller
  const uris = Array.from(
    { length: 60 },
    (_, i) => `https://attacker.example/${i}/${"a".repeat(870)}`,
  );
  for (let i = 0; i < 50; i++) {
    const res = await post(s, { ...base, redirect_uris: uris });
    assert.equal(res.status, 400);
    assert.equal((await res.json()).error, "invalid_client_metadata"); // over 8 KiB first
  }
  assert.equal((await s.auth.admin.listClients()).length, 0);
});

test("caps: redirect URI count and length, URI fields, lists, total size", async () => {
  const s = await testServer();
  const d = REGISTRATION_DEFAULTS;
  const cases: [Record<string, unknown>, string][] = [
    [{
      ...base,
      redirect_uris: Array.from(
        { length: d.maxRedirectUris + 1 },
        (_, i) => `https://a.example/${i}`,
      ),
    }, "invalid_redirect_uri"],
    [
      { ...base, redirect_uris: ["https://a.example/" + "p".repeat(d.maxUriLength)] },
      "invalid_redirect_uri",
    ],
    [
      { ...base, client_uri: "https://a.example/" + "p".repeat(d.maxUriLength) },
      "invalid_client_metadata",
    ],
    [
      { ...base, contacts: Array(d.maxListEntries + 1).fill("a@b.example") },
      "invalid_client_metadata",
    ],
    [{ ...base, junk: "j".repeat(d.maxMetadataBytes) }, "invalid_client_metadata"],
  ];
  for (const [body, code] of cases) {
    const res = await post(s, body);
    assert.equal(res.status, 400);
    assert.equal((await res.json()).error, code);
  }
  // At the caps exactly: accepted.
  const ok = await post(s, {
    ...base,
    redirect_uris: Array.from({ length: d.maxRedirectUris }, (_, i) => `https://a.example/${i}`),
  });
  assert.equal(ok.status, 201);
  assert.equal((await s.auth.admin.listClients()).length, 1);
  // Caps are configurable.
  const strict = await testServer({ registration: { maxRedirectUris: 1 } });
  const two = await post(strict, { ...base, redirect_uris: [REDIRECT, "https://a.example/cb"] });
  assert.equal(two.status, 400);
  await two.body?.cancel();
});

test("a client never used expires after 24 h; a first grant makes it permanent", async () => {
  const s = await testServer();
  const unused = await register(s);
  const used = await register(s);
  assert.equal("unused_until" in unused, false, "internal field not in the response");
  const { challenge } = await pkce();
  await authorize(s, used.client_id, { challenge });
  s.advance(24 * 3600 * 1000 + 1000);
  const ids = (await s.auth.admin.listClients()).map((c) => c.client_id);
  assert.deepEqual(ids, [used.client_id]);
  assert.equal(await s.auth.admin.getClient(unused.client_id), undefined);
  // And it stays: a year later it is still registered.
  s.advance(365 * 86400 * 1000);
  assert.ok(await s.auth.admin.getClient(used.client_id));
  // unusedClientTtl: 0 keeps every client.
  const keep = await testServer({ registration: { unusedClientTtl: 0 } });
  const c = await register(keep);
  keep.advance(30 * 86400 * 1000);
  assert.ok(await keep.auth.admin.getClient(c.client_id));
});

test("initial access token (RFC 7591 §3): missing or refused → 401 Bearer challenge", async () => {
  const s = await testServer({
    registration: { initialAccessToken: (t) => t === "iat-123" },
  });
  const none = await post(s, base);
  assert.equal(none.status, 401);
  assert.equal(none.headers.get("www-authenticate"), "Bearer");
  assert.equal((await none.json()).error, "invalid_token");
  const wrong = await post(s, base, { authorization: "Bearer nope" });
  assert.equal(wrong.status, 401);
  assert.match(wrong.headers.get("www-authenticate")!, /error="invalid_token"/);
  await wrong.body?.cancel();
  const ok = await post(s, base, { authorization: "Bearer iat-123" });
  assert.equal(ok.status, 201);
  assert.equal((await s.auth.admin.listClients()).length, 1);
  // A throwing hook refuses and is reported (an `error` event naming the hook), never a 500.
  const boom = await testServer({
    registration: {
      initialAccessToken: () => {
        throw new Error("db down");
      },
    },
  });
  const r = await post(boom, base, { authorization: "Bearer x" });
  assert.equal(r.status, 401);
  await r.body?.cancel();
  const failed = boom.events.filter((e) => e.type === "error");
  assert.equal(failed.length, 1);
  assert.equal(failed[0].hook, "registration.initialAccessToken");
  assert.equal(failed[0].endpoint, "/register");
  assert.match(failed[0].error ?? "", /db down/);
});

test("software statement (RFC 7591 §2.3): required, verified by the hook, its claims win", async () => {
  const s = await testServer({
    registration: {
      softwareStatement: (st) =>
        st === "signed-by-vendor" ? { client_name: "Vendor App", software_id: "vendor-1" } : false,
    },
  });
  const missing = await post(s, base);
  assert.equal(missing.status, 400);
  assert.equal((await missing.json()).error, "invalid_software_statement");
  const bad = await post(s, { ...base, software_statement: "forged" });
  assert.equal(bad.status, 400);
  assert.equal((await bad.json()).error, "unapproved_software_statement");
  const ok = await post(s, {
    ...base,
    client_name: "Spoof",
    software_statement: "signed-by-vendor",
  });
  assert.equal(ok.status, 201);
  const body = await ok.json();
  assert.equal(body.client_name, "Vendor App");
  assert.equal(body.software_id, "vendor-1");
  assert.equal(body.software_statement, undefined);
});

test("the first grant makes a client permanent with one compare-and-swap; a client deleted meanwhile stays deleted", async () => {
  const { memoryStorage } = await import("../storage/memory.ts");
  const inner = memoryStorage();
  const clientCas: boolean[] = [];
  const storage = {
    ...inner,
    compareAndSwap: async (
      k: readonly string[],
      e: Parameters<typeof inner.compareAndSwap>[1],
      v: Parameters<typeof inner.compareAndSwap>[2],
    ) => {
      const ok = await inner.compareAndSwap(k, e, v);
      if (k[0] === "client") clientCas.push(ok);
      return ok;
    },
  };
  const s = await testServer({ storage });
  const c = await register(s);
  const { challenge } = await pkce();
  await authorize(s, c.client_id, { challenge });
  assert.deepEqual(clientCas, [true], "one compare-and-swap, no re-read");
  s.advance(25 * 3600 * 1000);
  assert.ok(await s.auth.admin.getClient(c.client_id), "permanent after its first grant");

  // Deleted between the consent page and the approval: not resurrected by the approval.
  const d = await register(s);
  const { challenge: ch2 } = await pkce();
  const res = await s.call(authorizeQuery({
    response_type: "code",
    client_id: d.client_id,
    redirect_uri: REDIRECT,
    code_challenge: ch2,
    code_challenge_method: "S256",
    resource: RESOURCE,
    state: "x",
  }));
  assert.equal(res.status, 200);
  const fields = consentFields(await res.text());
  await inner.delete(["client", d.client_id]);
  const approve = await s.form("/authorize", { ...fields, decision: "approve" });
  await approve.body?.cancel();
  assert.equal(await s.auth.admin.getClient(d.client_id), undefined);
});

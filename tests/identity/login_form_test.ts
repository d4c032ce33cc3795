/**
 * The built-in sign-in form (issue 9 §4), over real HTTP with a cookie-keeping client:
 * accessible no-JS form, CSRF, rate limiting per IP + user name, one generic message,
 * sealed HttpOnly SameSite=Lax session cookie reused by later authorizations.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { base64url } from "jose";
import { generateSigningKey, memoryStorage } from "../../mod.ts";
import type { AuthServerConfig } from "../../mod.ts";
import { loginForm } from "../../src/identity/mod.ts";
import type { LoginFormOptions } from "../../src/identity/mod.ts";
import { authorizeUrl as authorizeUrlFor, Browser } from "../support/browser.ts";
import { serveAuthServer } from "../support/flow.ts";
import { CLIENT_REDIRECT } from "../support/mcp_client.ts";

const signingKey = generateSigningKey();
const PASSWORD = "correct horse battery staple";

async function serve(
  extra: Partial<LoginFormOptions> = {},
  server: Partial<AuthServerConfig> = {},
) {
  return await serveAuthServer(async (origin) => ({
    issuer: origin,
    resources: [origin + "/mcp"],
    authenticate: loginForm({
      verify: ({ username, password }) =>
        username === "alice" && password === PASSWORD ? "user-alice" : null,
      branding: { title: "Sign in to Notes", accentColor: "#336699" },
      clientIp: (req) => req.headers.get("x-test-ip") ?? undefined,
      ...extra,
    }),
    storage: memoryStorage(),
    encryptionKeys: [{
      kid: "t",
      key: base64url.encode(crypto.getRandomValues(new Uint8Array(32))),
    }],
    keys: [await signingKey],
    quiet: true,
    ...server,
  }));
}

const authorizeUrl = (origin: string) => authorizeUrlFor(origin, CLIENT_REDIRECT, "s");

test("loginForm: accessible no-JS form → wrong details get one generic message → right ones sign in; session reused", async () => {
  const s = await serve();
  try {
    const b = new Browser();
    const start = await authorizeUrl(s.origin);
    const first = await b.request(start);
    assert.equal(first.status, 200);
    assert.match(first.headers.get("content-security-policy") ?? "", /default-src 'none'/);
    const html = await first.text();
    assert.match(html, /<label for="f-username">User name<\/label>/);
    assert.match(html, /id="f-password" name="password" type="password"/);
    assert.match(html, /autocomplete="current-password"/);
    assert.doesNotMatch(html, /<script/);
    assert.match(html, /Sign in to Notes/);

    const wrongPw = await b.submit(new URL(start), html, { username: "alice", password: "nope" });
    assert.equal(wrongPw.status, 401);
    const wrongPwHtml = await wrongPw.text();
    const unknown = await b.submit(new URL(start), wrongPwHtml, {
      username: "bob",
      password: PASSWORD,
    });
    assert.equal(unknown.status, 401);
    const unknownHtml = await unknown.text();
    const msg = (h: string) => /role="alert">([^<]*)</.exec(h)?.[1];
    assert.ok(msg(wrongPwHtml));
    assert.equal(msg(wrongPwHtml), msg(unknownHtml), "no hint which field was wrong");
    assert.ok(!wrongPwHtml.includes("nope"), "the password is never echoed");
    assert.match(wrongPwHtml, /value="alice"/, "the user name is kept");
    assert.match(wrongPwHtml, /aria-invalid="true"/);

    const ok = await b.submit(new URL(start), unknownHtml, {
      username: "alice",
      password: PASSWORD,
    });
    assert.equal(ok.status, 303);
    const setCookies = ok.headers.getSetCookie().join("\n");
    assert.match(
      setCookies,
      /gatehouse_session=[^;]+; Path=\/; Max-Age=28800; HttpOnly; SameSite=Lax/,
    );
    assert.ok(!setCookies.includes("user-alice"), "the session cookie is sealed");
    await ok.body?.cancel();
    const consent = await b.request(new URL(ok.headers.get("location")!, s.origin).href);
    const consentHtml = await consent.text();
    assert.match(consentHtml, /Signed in as <strong>user-alice<\/strong>/);
    const approved = await b.submit(new URL(start), consentHtml, { decision: "approve" });
    assert.ok(new URL(approved.headers.get("location")!).searchParams.get("code"));

    // A later authorization in the same browser goes straight to consent.
    const later = await b.request(await authorizeUrl(s.origin));
    assert.match(await later.text(), /name="decision"/);
  } finally {
    await s.close();
  }
});

test("loginForm: CSRF token and cookie are both required; return_to must be /authorize", async () => {
  const s = await serve();
  try {
    const b = new Browser();
    const start = await authorizeUrl(s.origin);
    const html = await (await b.request(start)).text();
    // No cookie (a cross-site post): refused.
    const fields = new URLSearchParams();
    for (const m of html.matchAll(/name="(csrf|return_to)" value="([^"]*)"/g)) {
      fields.set(m[1], m[2].replaceAll("&amp;", "&"));
    }
    fields.set("username", "alice");
    fields.set("password", PASSWORD);
    const noCookie = await fetch(s.origin + "/login", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: fields.toString(),
      redirect: "manual",
    });
    assert.equal(noCookie.status, 403);
    await noCookie.body?.cancel();
    // Cookie but a tampered token: refused.
    const tampered = await b.submit(new URL(start), html, {
      csrf: fields.get("csrf")!.slice(0, -3) + "AAA",
      username: "alice",
      password: PASSWORD,
    });
    assert.equal(tampered.status, 403);
    await tampered.body?.cancel();
    const elsewhere = await b.submit(new URL(start), html, {
      return_to: "https://evil.example/",
      username: "alice",
      password: PASSWORD,
    });
    assert.equal(elsewhere.status, 400);
    await elsewhere.body?.cancel();
  } finally {
    await s.close();
  }
});

/** Three wrong passwords lock alice out on one IP; bob on that IP and alice elsewhere go on. */
async function lockoutHoldsPerIpAndUser(s: { origin: string }): Promise<void> {
  const b = new Browser();
  const start = await authorizeUrl(s.origin);
  let html = await (await b.request(start)).text();
  const attempt = async (username: string, password: string, ip = "198.51.100.7") => {
    const fields = new URLSearchParams();
    for (const m of html.matchAll(/name="(csrf|return_to)" value="([^"]*)"/g)) {
      fields.set(m[1], m[2].replaceAll("&amp;", "&"));
    }
    fields.set("username", username);
    fields.set("password", password);
    const res = await b.request(s.origin + "/login", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", "x-test-ip": ip },
      body: fields.toString(),
    });
    if (res.status !== 303) html = await res.clone().text();
    return res;
  };
  for (let i = 0; i < 3; i++) {
    const r = await attempt("alice", "wrong-" + i);
    assert.equal(r.status, 401);
    await r.body?.cancel();
  }
  const locked = await attempt("alice", PASSWORD);
  assert.equal(locked.status, 429, "even the right password waits out the lockout");
  assert.equal(locked.headers.get("retry-after"), "900");
  await locked.body?.cancel();
  const otherUser = await attempt("bob", "wrong");
  assert.equal(otherUser.status, 401, "another user on the same IP is not locked out");
  await otherUser.body?.cancel();
  const otherIp = await attempt("alice", PASSWORD, "203.0.113.9");
  assert.equal(otherIp.status, 303, "another IP is not locked out");
  await otherIp.body?.cancel();
}

test("loginForm: failures are limited per IP + user name; other users and IPs are not affected", async () => {
  const s = await serve({ maxFailures: 3 });
  try {
    await lockoutHoldsPerIpAndUser(s);
  } finally {
    await s.close();
  }
});

test("loginForm without its own clientIp counts by the server's caller IP (createAuthServer clientIp)", async () => {
  const s = await serve({ maxFailures: 3, clientIp: undefined }, {
    clientIp: (req) => req.headers.get("x-test-ip") ?? undefined,
  });
  try {
    await lockoutHoldsPerIpAndUser(s);
  } finally {
    await s.close();
  }
});

test("loginForm: a throwing verify is reported and the user is asked to try later (no 500)", async () => {
  const s = await serve({
    verify: () => {
      throw new Error("db down " + PASSWORD);
    },
  });
  const errors: string[] = [];
  const orig = console.error;
  console.error = (m: string) => void errors.push(m);
  try {
    const b = new Browser();
    const start = await authorizeUrl(s.origin);
    const html = await (await b.request(start)).text();
    const res = await b.submit(new URL(start), html, { username: "alice", password: PASSWORD });
    assert.equal(res.status, 503);
    assert.match(await res.text(), /unavailable/);
    assert.equal(errors.length, 1);
    assert.match(errors[0], /loginForm verify hook failed/);
    assert.ok(!errors[0].includes(PASSWORD));
  } finally {
    console.error = orig;
    await s.close();
  }
});

test("loginForm: a throwing clientIp hook is reported and the attempt counts by the server's caller IP (no 500)", async () => {
  const s = await serve({
    maxFailures: 1,
    clientIp: () => {
      throw new Error("bad header " + PASSWORD);
    },
  }, { clientIp: () => "192.0.2.7" });
  const errors: string[] = [];
  const orig = console.error;
  console.error = (m: string) => void errors.push(m);
  try {
    const b = new Browser();
    const start = await authorizeUrl(s.origin);
    const html = await (await b.request(start)).text();
    const wrong = await b.submit(new URL(start), html, { username: "alice", password: "nope" });
    assert.equal(wrong.status, 401);
    // Counted (maxFailures 1): the next attempt for alice from that caller IP is locked out.
    const locked = await b.submit(new URL(start), await wrong.text(), {
      username: "alice",
      password: PASSWORD,
    });
    assert.equal(locked.status, 429);
    await locked.body?.cancel();
    assert.ok(errors.length >= 1);
    assert.ok(errors.every((e) => /loginForm clientIp hook failed/.test(e)), errors.join("\n"));
    assert.ok(!errors.some((e) => e.includes(PASSWORD)));
  } finally {
    console.error = orig;
    await s.close();
  }
});

test("loginForm: an empty fields list is refused when configured (it would fail every sign-in)", () => {
  assert.throws(
    () => loginForm({ verify: () => null, fields: [] }),
    (e) => e instanceof TypeError && /at least one input/.test(e.message),
  );
  assert.throws(() => loginForm({ verify: () => null, fields: [{ name: "csrf", label: "x" }] }));
  assert.equal(
    typeof loginForm({ verify: () => null, fields: [{ name: "pin", label: "PIN" }] }),
    "function",
  );
});

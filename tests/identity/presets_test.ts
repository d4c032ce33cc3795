/**
 * The GitHub and Google presets and the provider chooser, against loopback STAND-INS for
 * GitHub and Google (see tests/support/provider_standins.ts: nothing of theirs can run
 * here; the stand-ins reproduce their documented behaviour).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { base64url } from "jose";
import { generateSigningKey, memoryStorage } from "../../mod.ts";
import type { AuthServerConfig, Storage } from "../../mod.ts";
import { github, google, signInWith } from "../../src/identity/mod.ts";
import { authorizeUrl as authorizeUrlFor, Browser } from "../support/browser.ts";
import { serveAuthServer } from "../support/flow.ts";
import { CLIENT_REDIRECT } from "../support/mcp_client.ts";
import { githubStandIn, googleStandIn } from "../support/provider_standins.ts";
import { failureTarget } from "../support/upstream_oidc.ts";
import { createSealer } from "../../src/props.ts";

const signingKey = generateSigningKey();
const encryptionKeys = [{
  kid: "t1",
  key: base64url.encode(crypto.getRandomValues(new Uint8Array(32))),
}];

async function serve(
  authenticate: AuthServerConfig["authenticate"],
  storage: Storage = memoryStorage(),
) {
  const served = await serveAuthServer(async (origin) => ({
    issuer: origin,
    resources: [origin + "/mcp"],
    authenticate,
    storage,
    encryptionKeys,
    keys: [await signingKey],
    quiet: true,
  }));
  return { ...served, storage };
}

const authorizeUrl = (origin: string, state = "st") =>
  authorizeUrlFor(origin, CLIENT_REDIRECT, state);

/** Follow redirects; approve Gatehouse's consent page; stop at the client redirect. */
async function run(b: Browser, start: string): Promise<URL> {
  let { res, url } = await b.follow(start, (u) => u.href.startsWith(CLIENT_REDIRECT));
  for (let i = 0; i < 3 && !url.href.startsWith(CLIENT_REDIRECT); i++) {
    const html = await res.text();
    assert.equal(res.status, 200, html.slice(0, 300));
    const sent = await b.submit(url, html, { decision: "approve" });
    ({ res, url } = await b.follow(
      new URL(sent.headers.get("location")!, url).href,
      (u) => u.href.startsWith(CLIENT_REDIRECT),
    ));
  }
  return url;
}

test("github(): sign-in against the GitHub stand-in; JSON token via Accept; subject from /user id", async () => {
  const gh = githubStandIn("gh-id", "gh-secret");
  const up = github({ clientId: "gh-id", clientSecret: "gh-secret", baseUrl: gh.origin });
  const s = await serve(up);
  try {
    const end = await run(new Browser(), await authorizeUrl(s.origin));
    assert.ok(end.searchParams.get("code"), end.href);
    assert.equal(gh.lastAuthorize?.get("scope"), "read:user");
    assert.equal(gh.lastAuthorize?.get("code_challenge_method"), "S256");
    assert.equal(gh.lastAuthorize?.get("redirect_uri"), s.origin + "/callback/github");
    const [grant] = await s.auth.admin.listGrants();
    assert.equal(grant.subject, "github:583231");
    // A tool's view: the stored GitHub token works against the user API (which wants a
    // User-Agent); GitHub tokens have no expiry, so no refresh is attempted.
    const rec = await s.storage.get(["props", grant.id]);
    const props = await createSealer(encryptionKeys).open<Record<string, unknown>>(
      (rec!.data as { sealed: string }).sealed,
      `gatehouse/props/${grant.id}`,
    );
    const user = await up.userinfo({ extra: { grantId: grant.id, props } });
    assert.equal(user.login, "octocat");

    // GitHub's 200 {error} token answer → access_denied back to the client, no 500.
    gh.failNextToken = true;
    const orig = console.error;
    console.error = () => {};
    try {
      const b = new Browser();
      const { res, url } = await b.follow(await authorizeUrl(s.origin, "s2"));
      assert.ok(url.pathname.startsWith("/callback/github"));
      const failed = await failureTarget({ url, res });
      assert.equal(failed.searchParams.get("error"), "access_denied");
      assert.equal(failed.searchParams.get("state"), "s2");

      // An oversized upstream answer is refused after the cap, not read whole: same outcome.
      gh.hugeUser = true;
      const b2 = new Browser();
      const huge = await b2.follow(await authorizeUrl(s.origin, "s3"));
      const target = await failureTarget({ url: huge.url, res: huge.res });
      assert.equal(target.searchParams.get("error"), "access_denied");
      assert.equal(target.searchParams.get("state"), "s3");
    } finally {
      console.error = orig;
    }
  } finally {
    await s.close();
    await gh.close();
  }
});

test("google(): asks for offline access, gets a refresh token, validates the ID token; grant revocation revokes at Google", async () => {
  const g = await googleStandIn("g-id", "g-secret");
  const up = google({ clientId: "g-id", clientSecret: "g-secret", issuer: g.origin });
  const s = await serve(up);
  try {
    const end = await run(new Browser(), await authorizeUrl(s.origin));
    assert.ok(end.searchParams.get("code"), end.href);
    assert.equal(g.lastAuthorize?.get("access_type"), "offline");
    assert.equal(g.lastAuthorize?.get("prompt"), "consent");
    assert.ok(g.lastAuthorize?.get("nonce"));
    const [grant] = await s.auth.admin.listGrants();
    assert.equal(grant.subject, "google:1098765");
    assert.ok(await s.auth.admin.revokeGrant(grant.id));
    assert.equal(g.counts["/revoke"], 2, "refresh and access token revoked at the provider");
  } finally {
    await s.close();
    await g.close();
  }
});

test("signInWith(): chooser page lists the providers; the chosen one signs in", async () => {
  const gh = githubStandIn("gh-id", "gh-secret");
  const g = await googleStandIn("g-id", "g-secret");
  const chooser = signInWith([
    github({ clientId: "gh-id", clientSecret: "gh-secret", baseUrl: gh.origin }),
    google({ clientId: "g-id", clientSecret: "g-secret", issuer: g.origin }),
  ]);
  const s = await serve(chooser);
  try {
    const b = new Browser();
    const start = await authorizeUrl(s.origin);
    const page = await b.request(start);
    assert.equal(page.status, 200);
    const html = await page.text();
    assert.match(html, /Continue with GitHub/);
    assert.match(html, /Continue with Google/);
    const link = /href="([^"]*upstream=google[^"]*)"/.exec(html)?.[1];
    assert.ok(link);
    const end = await run(b, new URL(link.replaceAll("&amp;", "&"), s.origin).href);
    assert.ok(end.searchParams.get("code"), end.href);
    const [grant] = await s.auth.admin.listGrants();
    assert.equal(grant.subject, "google:1098765");
    assert.equal(gh.counts["/login/oauth/authorize"], undefined, "GitHub was not used");
    assert.throws(
      () => signInWith([github({ clientId: "a" }), github({ clientId: "b" })]),
      /two providers named "github"/,
    );
  } finally {
    await s.close();
    await gh.close();
    await g.close();
  }
});

test("upstream sign-in with storage failing → a 503 page, not a 500", async () => {
  const gh = githubStandIn("gh-id", "gh-secret");
  const inner = memoryStorage();
  const failing: Storage = {
    ...inner,
    name: "failing",
    consistency: "strong",
    set: (key, value) =>
      key[0] === "upstream" ? Promise.reject(new Error("backend down")) : inner.set(key, value),
  };
  const s = await serve(
    github({ clientId: "gh-id", clientSecret: "gh-secret", baseUrl: gh.origin }),
    failing,
  );
  const errors: string[] = [];
  const orig = console.error;
  console.error = (m: string) => void errors.push(m);
  try {
    const res = await fetch(await authorizeUrl(s.origin), { redirect: "manual" });
    assert.equal(res.status, 503);
    assert.match(await res.text(), /Temporarily unavailable/);
    assert.match(errors.join("\n"), /github: sign-in unavailable \(StorageError\)/);
  } finally {
    console.error = orig;
    await s.close();
    await gh.close();
  }
});

/**
 * The consent page in a real browser: headless Chromium (Debian's
 * `/usr/bin/chromium`, driven by playwright-core over CDP) against the demo
 * app served on a loopback port. A person signs in, sees the consent page
 * (client name, redirect host, scopes, resource), clicks Allow or Deny, and
 * the client's loopback redirect URI receives `code` + `iss` or
 * `error=access_denied`. JavaScript is disabled throughout: the flow is plain
 * HTML forms. Finally a page that frames /authorize shows nothing: Chromium
 * enforces `frame-ancestors 'none'` / `X-Frame-Options: DENY`.
 *
 * A screenshot of the consent page is written to `.tmp/consent.png`.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import type { BrowserContext, Page } from "playwright-core";
import { createDemoApp } from "../examples/mcp-server/app.ts";
import { memoryStorage } from "../storage/memory.ts";
import { generateSigningKey } from "../mod.ts";
import { pkce } from "./support/flow.ts";
import { serveCallback } from "./support/browser.ts";

const CHROMIUM = "/usr/bin/chromium";
const CLIENT_NAME = "Chromium Consent Client";
const TIMEOUT_MS = 15_000;

let demo: { origin: string; mcpUrl: string; server: Deno.HttpServer };
let callback: { origin: string; server: Deno.HttpServer; hits: URL[] };
let userDataDir: string;
let context: BrowserContext;
/** What the demo served for each GET /authorize (to tell a browser block from a server refusal). */
const authorizeServed: { status: number; consent: boolean; headers: Headers }[] = [];

before(async () => {
  // The OAuth client's loopback redirect URI: records what arrives.
  callback = serveCallback();

  // The demo app (authorization server + MCP server), plus one test-only page on the same
  // origin that frames /authorize (same origin, so the sign-in cookie goes along).
  let handler: (req: Request) => Promise<Response> = () =>
    Promise.resolve(new Response("starting", { status: 503 }));
  const server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen: () => {} },
    async (req) => {
      const url = new URL(req.url);
      if (url.pathname === "/__frame") {
        const src = url.searchParams.get("src") ?? "";
        return new Response(
          `<!doctype html><title>Framer</title><h1>framer</h1>` +
            `<iframe id="victim" src="${src.replace(/[&"<>]/g, (c) => `&#${c.charCodeAt(0)};`)}"` +
            ` width="600" height="400"></iframe>`,
          { headers: { "content-type": "text/html; charset=utf-8" } },
        );
      }
      const res = await handler(req);
      if (url.pathname === "/authorize" && req.method === "GET") {
        const text = await res.clone().text();
        authorizeServed.push({
          status: res.status,
          consent: text.includes('name="decision"'),
          headers: res.headers,
        });
      }
      return res;
    },
  );
  const origin = `http://localhost:${server.addr.port}`;
  const app = createDemoApp({
    origin,
    storage: memoryStorage(),
    keys: [await generateSigningKey()],
    onEvent: () => {},
  });
  handler = app.handler;
  demo = { origin, mcpUrl: app.mcpUrl, server };

  try {
    await Deno.stat(CHROMIUM);
  } catch {
    throw new Error(
      `${CHROMIUM} not found: install the Debian package "chromium" (apt-get install chromium)`,
    );
  }
  userDataDir = await Deno.makeTempDir({ prefix: "gatehouse-chromium-" });
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    javaScriptEnabled: false,
    timeout: 30_000,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  context.setDefaultTimeout(TIMEOUT_MS);
});

after(async () => {
  await context?.close();
  await demo?.server.shutdown();
  await callback?.server.shutdown();
  if (userDataDir) await Deno.remove(userDataDir, { recursive: true });
});

async function registerClient(): Promise<string> {
  const res = await fetch(`${demo.origin}/register`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      client_name: CLIENT_NAME,
      redirect_uris: [`${callback.origin}/callback`],
      grant_types: ["authorization_code", "refresh_token"],
      token_endpoint_auth_method: "none",
    }),
  });
  const body = await res.json();
  assert.equal(res.status, 201, JSON.stringify(body));
  return body.client_id;
}

async function authorizeUrl(
  clientId: string,
  scope: string,
): Promise<{ url: string; verifier: string; state: string }> {
  const { verifier, challenge } = await pkce();
  const state = crypto.randomUUID();
  const q = new URLSearchParams({
    response_type: "code",
    client_id: clientId,
    redirect_uri: `${callback.origin}/callback`,
    code_challenge: challenge,
    code_challenge_method: "S256",
    scope,
    resource: demo.mcpUrl,
    state,
  });
  return { url: `${demo.origin}/authorize?${q}`, verifier, state };
}

async function newPage(): Promise<Page> {
  return await context.newPage();
}

/** Open `url` and get to its consent page, signing in through the demo form when asked. */
async function toConsent(page: Page, url: string): Promise<"signed-in" | "already"> {
  await page.goto(url);
  let how: "signed-in" | "already" = "already";
  if (await page.title() === "Sign in (demo)") {
    await page.click("#sign-in");
    how = "signed-in";
  }
  await page.waitForSelector("#approve");
  assert.equal(new URL(page.url()).pathname, "/authorize");
  return how;
}

/** Text of a visible element (asserts it is visible). */
async function visibleText(page: Page, selector: string): Promise<string> {
  const el = page.locator(selector);
  assert.ok(await el.isVisible(), `${selector} is visible`);
  return (await el.textContent() ?? "").trim();
}

test("Chromium: sign in, consent page shows client/redirect/scopes/resource, Allow → code + iss", async () => {
  const clientId = await registerClient();
  const { url, verifier, state } = await authorizeUrl(clientId, "mcp:read mcp:write");
  const page = await newPage();
  try {
    // A fresh profile has no session: the demo sign-in form comes first.
    assert.equal(await toConsent(page, url), "signed-in");

    assert.equal(await visibleText(page, "#client-name"), CLIENT_NAME);
    assert.match(await visibleText(page, "#redirect-host"), /^127\.0\.0\.1\b/);
    const scopes = (await page.locator("#scopes li").allTextContents()).map((s) => s.trim());
    assert.deepEqual(scopes, [
      "mcp:read — See who you are and use the read-only tools",
      "mcp:write — Change things through the MCP tools",
    ]);
    assert.ok(await page.locator("#scopes").isVisible());
    assert.equal(await visibleText(page, "#resource"), "Gatehouse example MCP server");
    const body = await page.locator("body").innerText();
    assert.ok(body.includes(demo.mcpUrl), "resource URL is shown");
    assert.ok(body.includes("demo-user"), "signed-in user is shown");
    assert.ok(await page.locator("#deny").isVisible());
    const tmp = fileURLToPath(new URL("../.tmp/", import.meta.url));
    await mkdir(tmp, { recursive: true });
    await page.screenshot({ path: tmp + "consent.png", fullPage: true });

    const before = callback.hits.length;
    await Promise.all([page.waitForURL(`${callback.origin}/callback?**`), page.click("#approve")]);
    assert.equal(await page.locator("#done").textContent(), "received");
    assert.equal(callback.hits.length, before + 1);
    const hit = callback.hits.at(-1)!;
    const code = hit.searchParams.get("code");
    assert.ok(code, `code in ${hit.href}`);
    assert.equal(hit.searchParams.get("iss"), demo.origin);
    assert.equal(hit.searchParams.get("state"), state);
    assert.equal(hit.searchParams.get("error"), null);

    // The code the browser delivered is real: it redeems (PKCE S256) for the consented scopes.
    const tok = await fetch(`${demo.origin}/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "authorization_code",
        code,
        code_verifier: verifier,
        redirect_uri: `${callback.origin}/callback`,
        client_id: clientId,
        resource: demo.mcpUrl,
      }),
    });
    const tokens = await tok.json();
    assert.equal(tok.status, 200, JSON.stringify(tokens));
    assert.equal(tokens.scope, "mcp:read mcp:write");
  } finally {
    await page.close();
  }
});

test("Chromium: Deny → error=access_denied (and iss), no code", async () => {
  const clientId = await registerClient();
  const { url, state } = await authorizeUrl(clientId, "mcp:read");
  const page = await newPage();
  try {
    await toConsent(page, url);
    assert.equal(await visibleText(page, "#client-name"), CLIENT_NAME);
    await Promise.all([page.waitForURL(`${callback.origin}/callback?**`), page.click("#deny")]);
    const hit = callback.hits.at(-1)!;
    assert.equal(hit.searchParams.get("error"), "access_denied");
    assert.equal(hit.searchParams.get("code"), null);
    assert.equal(hit.searchParams.get("state"), state);
    assert.equal(hit.searchParams.get("iss"), demo.origin);
  } finally {
    await page.close();
  }
});

test("Chromium: a page that frames the consent page shows nothing (frame-ancestors 'none', XFO DENY)", async () => {
  const clientId = await registerClient();
  const { url } = await authorizeUrl(clientId, "mcp:read");
  const page = await newPage();
  try {
    // Make sure this profile has a session, so the framed request gets the consent page itself.
    await toConsent(page, (await authorizeUrl(clientId, "mcp:read")).url);
    const served = authorizeServed.length;
    const frameLoaded = page.waitForEvent("framenavigated", {
      predicate: (f) => f !== page.mainFrame(),
    });
    // Chromium 156 logs "Framing '<origin>' violates … "frame-ancestors 'none'". The request
    // has been blocked." (older versions: "Refused to frame …").
    const blocked = page.waitForEvent("console", {
      predicate: (m) => /frame-ancestors 'none'/.test(m.text()),
    }).then((m) => m.text(), (e) => `no CSP report from Chromium (${e})`);
    await page.goto(`${demo.origin}/__frame?src=${encodeURIComponent(url)}`);
    assert.equal(await page.locator("h1").textContent(), "framer");
    const frame = await frameLoaded;

    // The server did send the consent page to the frame (the cookie went along)...
    assert.equal(authorizeServed.length, served + 1);
    const sent = authorizeServed[served];
    assert.equal(sent.status, 200);
    assert.ok(sent.consent, "server rendered the consent page for the framed request");
    assert.match(sent.headers.get("content-security-policy") ?? "", /frame-ancestors 'none'/);
    assert.equal(sent.headers.get("x-frame-options"), "DENY");

    // ...but Chromium refused to render it inside the frame.
    assert.notEqual(frame.url(), url, `frame committed ${frame.url()}`);
    assert.match(frame.url(), /^chrome-error:/);
    assert.equal(await frame.locator("#approve").count(), 0);
    assert.equal(await frame.locator("#client-name").count(), 0);
    const report = await blocked;
    assert.match(report, /blocked|Refused/, `Chromium reports the CSP block: ${report}`);
    assert.ok(report.includes(demo.origin), report);
  } finally {
    await page.close();
  }
});

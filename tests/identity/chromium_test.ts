/**
 * Sign-in in a real browser, JavaScript off: headless Chromium (Debian's `/usr/bin/chromium`,
 * driven by playwright-core) goes from an MCP client's authorization URL through
 * `oidc-provider`'s own login and consent pages (the upstream, on 127.0.0.1), back to
 * Gatehouse's callback (on `localhost`, another site, so the browser-binding cookie must
 * survive a cross-site top-level redirect: SameSite=Lax), then Gatehouse's consent page; and
 * through the built-in `loginForm`, filled in by its labels.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import type { BrowserContext } from "playwright-core";
import { createAuthServer, generateEncryptionKey, generateSigningKey } from "../../mod.ts";
import type { AuthServerConfig } from "../../mod.ts";
import { memoryStorage } from "../../storage/memory.ts";
import { loginForm, oidc } from "../../src/identity/mod.ts";
import { pkce } from "../support/flow.ts";
import { serveCallback } from "../support/browser.ts";
import { startUpstreamOidc } from "../support/upstream_oidc.ts";

const CHROMIUM = "/usr/bin/chromium";
let context: BrowserContext;
let userDataDir: string;
let callback: { origin: string; server: Deno.HttpServer; hits: URL[] };

before(async () => {
  callback = serveCallback();
  userDataDir = await Deno.makeTempDir({ prefix: "gatehouse-identity-chromium-" });
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    javaScriptEnabled: false,
    timeout: 30_000,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"],
  });
  context.setDefaultTimeout(15_000);
});

after(async () => {
  await context?.close();
  await callback?.server.shutdown();
  if (userDataDir) await Deno.remove(userDataDir, { recursive: true });
});

/** Serve Gatehouse on `localhost:<port>` with `make(origin)` as its authenticate. */
async function serve(make: (origin: string) => Promise<AuthServerConfig["authenticate"]>) {
  let handler: (req: Request) => Promise<Response> = () =>
    Promise.resolve(new Response("starting", { status: 503 }));
  const server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen: () => {} },
    (r) => handler(r),
  );
  const origin = `http://localhost:${server.addr.port}`;
  const auth = createAuthServer({
    issuer: origin,
    resources: [origin + "/mcp"],
    authenticate: await make(origin),
    storage: memoryStorage(),
    keys: [await generateSigningKey()],
    encryptionKeys: [generateEncryptionKey()],
    quiet: true,
  });
  handler = (req) => auth.handle(req);
  const reg = await fetch(origin + "/register", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      client_name: "Chromium identity client",
      redirect_uris: [callback.origin + "/callback"],
      token_endpoint_auth_method: "none",
    }),
  });
  const { client_id } = await reg.json();
  const { challenge } = await pkce();
  const state = crypto.randomUUID();
  const url = `${origin}/authorize?${new URLSearchParams({
    response_type: "code",
    client_id,
    redirect_uri: callback.origin + "/callback",
    code_challenge: challenge,
    code_challenge_method: "S256",
    state,
  })}`;
  return { origin, auth, url, state, close: () => server.shutdown() };
}

test("Chromium, JS off: oidc-provider's login and consent pages → Gatehouse consent → code", async () => {
  let upstream: Awaited<ReturnType<typeof startUpstreamOidc>> | undefined;
  const s = await serve(async (origin) => {
    upstream = await startUpstreamOidc([origin + "/callback/oidc"]);
    return oidc({
      issuer: upstream.issuer,
      clientId: upstream.clientId,
      clientSecret: upstream.clientSecret,
    });
  });
  const page = await context.newPage();
  try {
    await page.goto(s.url);
    assert.ok(page.url().startsWith(upstream!.issuer + "/interaction/"), page.url());
    await page.fill('input[name="login"]', "frank");
    await page.fill('input[name="password"]', "any");
    await page.click('button[type="submit"]');
    await page.waitForSelector('input[name="prompt"][value="consent"]', { state: "attached" });
    await page.click('button[type="submit"]');
    await page.waitForSelector("#approve");
    assert.equal(new URL(page.url()).origin, s.origin);
    assert.match(await page.locator("body").innerText(), /oidc:frank/);
    await page.click("#approve");
    await page.waitForSelector("#done");
    const hit = callback.hits.at(-1)!;
    assert.ok(hit.searchParams.get("code"));
    assert.equal(hit.searchParams.get("state"), s.state);
    assert.equal(hit.searchParams.get("iss"), s.origin);
  } finally {
    await page.close();
    await s.close();
    await upstream?.close();
  }
});

test("Chromium, JS off: loginForm filled in by its labels → consent → code; wrong password shows the generic alert", async () => {
  const s = await serve(() =>
    Promise.resolve(loginForm({
      verify: ({ username, password }) =>
        username === "gina" && password === "s3cret" ? "gina" : null,
    }))
  );
  const page = await context.newPage();
  try {
    await page.goto(s.url);
    await page.getByLabel("User name").fill("gina");
    await page.getByLabel("Password").fill("wrong");
    await page.getByRole("button", { name: "Sign in" }).click();
    const alert = page.getByRole("alert");
    assert.match((await alert.textContent()) ?? "", /not right/);
    assert.equal(await page.getByLabel("User name").inputValue(), "gina");
    assert.equal(await page.getByLabel("Password").inputValue(), "");
    await page.getByLabel("Password").fill("s3cret");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForSelector("#approve");
    await page.click("#approve");
    await page.waitForSelector("#done");
    assert.ok(callback.hits.at(-1)!.searchParams.get("code"));
    assert.equal(callback.hits.at(-1)!.searchParams.get("state"), s.state);
  } finally {
    await page.close();
    await s.close();
  }
});

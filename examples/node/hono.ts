/**
 * Example (not part of the published API): Gatehouse mounted in a Hono app.
 * Gatehouse answers the paths it owns (`/.well-known/*`, `/authorize`,
 * `/token`, `/register`, `/revoke`, `/introspect`, `/jwks`); everything else
 * falls through to your routes. Hono hands the Web `Request` through
 * untouched (`c.req.raw`), so no body parser runs before Gatehouse.
 *
 * On Node serve `app.fetch` with `@hono/node-server` or with `bridge.ts`
 * (`nodeListener(app.fetch, () => origin)`); on Deno, Workers and Bun
 * `app.fetch` is the handler.
 *
 * @module
 */
import { Hono } from "hono";
import { createAuthServer } from "../../mod.ts";
import type { AuthServer } from "../../mod.ts";

/** Build the Hono app for `origin` (your public origin). */
export function createHonoApp(origin: string): { app: Hono; auth: AuthServer } {
  const auth = createAuthServer({
    issuer: origin,
    resources: [`${origin}/mcp`],
    // Replace with your own sign-in (e.g. your Hono session middleware's user).
    authenticate: (req) =>
      req.headers.get("x-user-id") ?? new Response("sign in first", { status: 401 }),
  });
  const app = new Hono();
  app.use("*", async (c, next) => {
    if (auth.owns(c.req.raw)) return auth.handle(c.req.raw);
    await next();
  });
  app.get("/", (c) => c.text("your app"));
  return { app, auth };
}

/**
 * Example (not part of the published API): Gatehouse in a Vercel Edge
 * Function with Upstash Redis (`@vercel/kv`'s `kv` works the same way:
 * `upstashStorage(kv)`).
 *
 * Where to put it (Next.js App Router): `app/[...gatehouse]/route.ts` at the
 * root of `app/`, so that `/.well-known/oauth-authorization-server`,
 * `/.well-known/oauth-protected-resource/mcp`, `/authorize`, `/token`, … all
 * reach it while your own, more specific routes keep theirs. Paths Gatehouse
 * does not own get a plain 404.
 *
 * Environment: `GATEHOUSE_ISSUER` (the deployment's public origin),
 * `GATEHOUSE_SIGNING_KEYS` (from `npm run keys -- generate`),
 * `UPSTASH_REDIS_REST_URL`, `UPSTASH_REDIS_REST_TOKEN`.
 *
 * @module
 */
import { Redis } from "@upstash/redis";
import { createAuthServer } from "../../mod.ts";
import { upstashStorage } from "../../storage/upstash.ts";

/** Run on the Edge runtime. */
export const runtime = "edge";

const env = (name: string): string => {
  const value = (globalThis as { process?: { env: Record<string, string | undefined> } })
    .process?.env[name];
  if (!value) throw new Error(`missing ${name}`);
  return value;
};

const auth = createAuthServer({
  issuer: env("GATEHOUSE_ISSUER"),
  resources: [`${env("GATEHOUSE_ISSUER")}/mcp`],
  storage: upstashStorage(
    new Redis({ url: env("UPSTASH_REDIS_REST_URL"), token: env("UPSTASH_REDIS_REST_TOKEN") }),
    { prefix: "gatehouse:" },
  ),
  keys: JSON.parse(env("GATEHOUSE_SIGNING_KEYS")),
  // Vercel sets X-Real-IP to the client's address (rate limits are per IP).
  clientIp: (req) => req.headers.get("x-real-ip") ?? undefined,
  // Replace with your own sign-in (e.g. your session cookie).
  authenticate: (req) =>
    req.headers.get("x-user-id") ?? new Response("sign in first", { status: 401 }),
});

/** Gatehouse's endpoints and documents; anything else under the catch-all is a 404. */
const serve = (req: Request): Promise<Response> =>
  auth.owns(req) ? auth.handle(req) : Promise.resolve(new Response("Not found", { status: 404 }));

/** Discovery documents, JWKS, the authorization page. */
export const GET = serve;
/** Token, registration, revocation, introspection and consent posts. */
export const POST = serve;
/** CORS preflight: browser-based MCP clients call the JSON endpoints cross-origin. */
export const OPTIONS = serve;
/** HEAD on the JSON documents. */
export const HEAD = serve;

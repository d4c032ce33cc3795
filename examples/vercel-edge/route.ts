/**
 * Example (not part of the published API): Gatehouse in a Vercel Edge
 * Function (e.g. `app/[...oauth]/route.ts`) with Upstash Redis.
 *
 * `@vercel/kv`'s `kv` works the same way: `upstashStorage(kv)`.
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
  keys: [JSON.parse(env("GATEHOUSE_JWK"))],
  // Replace with your own sign-in (e.g. your session cookie).
  authenticate: (req) =>
    req.headers.get("x-user-id") ?? new Response("sign in first", { status: 401 }),
});

/** Every method the OAuth endpoints use. */
export const GET = (req: Request): Promise<Response> => auth.handle(req);
/** Token, registration, revocation and consent posts. */
export const POST = GET;

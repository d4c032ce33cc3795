/**
 * Example (not part of the published API): Gatehouse on Deno with Deno KV.
 *
 *   deno run --unstable-kv --allow-net --allow-env --allow-read --allow-write examples/deno/main.ts
 *
 * Locally, state goes to the KV file named by GATEHOUSE_KV_PATH (or Deno's
 * default KV); on Deno Deploy, `Deno.openKv()` opens the project's KV.
 *
 * @module
 */
import { createAuthServer } from "../../mod.ts";
import { denoKvStorage } from "../../storage/deno_kv.ts";

const kv = await Deno.openKv(Deno.env.get("GATEHOUSE_KV_PATH"));

const auth = createAuthServer({
  issuer: "http://localhost:8787",
  resources: ["http://localhost:8787/mcp"],
  storage: denoKvStorage(kv, { prefix: ["gatehouse"] }),
  // `npm run keys -- generate` prints GATEHOUSE_SIGNING_KEYS (a JSON array; the first key signs).
  keys: Deno.env.has("GATEHOUSE_SIGNING_KEYS")
    ? JSON.parse(Deno.env.get("GATEHOUSE_SIGNING_KEYS")!)
    : undefined,
  // PLACEHOLDER sign-in that trusts a request header: replace it with your own before this is
  // reachable by anyone else (return the user id, or a Response: a login page or redirect).
  authenticate: (req) =>
    req.headers.get("x-demo-user") ?? new Response("sign in first", { status: 401 }),
});

// Loopback only on your machine (the placeholder sign-in above trusts a header); Deno Deploy sets
// DENO_DEPLOYMENT_ID and chooses the address itself.
const hostname = Deno.env.has("DENO_DEPLOYMENT_ID") ? undefined : "127.0.0.1";
// `info` carries the socket address: the client IP for per-IP rate limits.
Deno.serve({ port: 8787, hostname }, (req, info) => auth.handle(req, info));

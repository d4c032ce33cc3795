/**
 * `npm start`: the demo on http://localhost:8787 (PORT to change), state in a
 * Deno KV file under .tmp/. The signing key is generated once and kept in the
 * same KV file so tokens survive a restart.
 */
import { denoKvStorage } from "../../storage/deno_kv.ts";
import { generateSigningKey } from "../../mod.ts";
import type { JWK } from "jose";
import { createDemoApp } from "./app.ts";
import { upstreamFromEnv } from "./upstream.ts";
import type { Upstream } from "../../src/identity/mod.ts";
import type { EncryptionKey } from "../../src/props.ts";
import { base64url } from "jose";

const portText = Deno.env.get("PORT") ?? "8787";
const port = Number(portText);
if (!/^\d+$/.test(portText) || port < 1 || port > 65535) {
  console.error(`PORT=${portText} is not a port number (1-65535).`);
  Deno.exit(1);
}
const origin = Deno.env.get("GATEHOUSE_ORIGIN") ?? `http://localhost:${port}`;
await Deno.mkdir(".tmp", { recursive: true });
const kv = await Deno.openKv(".tmp/demo.kv");

// Demo convenience only: a real deployment passes its keys from a secret store.
const keyEntry = await kv.get<JWK>(["demo", "signing-key"]);
let key = keyEntry.value;
if (!key) {
  key = await generateSigningKey();
  await kv.set(["demo", "signing-key"], key);
}

// GATEHOUSE_RATE_LIMITS=off turns the rate limits (endpoints) and tool-call limits off (for
// load tests).
const limitsOff = Deno.env.get("GATEHOUSE_RATE_LIMITS")?.toLowerCase() === "off";
// Optional: sign in through your OIDC provider (GATEHOUSE_UPSTREAM_ISSUER / _CLIENT_ID /
// _CLIENT_SECRET); its tokens are grant props, sealed with a key kept like the signing key.
let upstream: Upstream | undefined;
try {
  upstream = upstreamFromEnv((name) => Deno.env.get(name));
} catch (e) {
  // One line, no stack trace: a GATEHOUSE_UPSTREAM_* variable is missing or not usable.
  console.error(`GATEHOUSE_UPSTREAM_*: ${(e as Error).message}`);
  Deno.exit(1);
}
let propsKey = (await kv.get<EncryptionKey>(["demo", "props-key"])).value;
if (upstream && !propsKey) {
  propsKey = { kid: "demo", key: base64url.encode(crypto.getRandomValues(new Uint8Array(32))) };
  await kv.set(["demo", "props-key"], propsKey);
}

const { handler, mcpUrl } = createDemoApp({
  origin,
  storage: denoKvStorage(kv),
  keys: [key],
  upstream,
  encryptionKeys: upstream && propsKey ? [propsKey] : undefined,
  ...(limitsOff ? { toolCallLimits: false, rateLimits: false } : {}),
});
// Loopback only (the demo sign-in has no password): IPv4, and IPv6 where available, so
// clients that resolve `localhost` to ::1 connect too.
try {
  Deno.serve({
    port,
    hostname: "127.0.0.1",
    onListen: () =>
      console.log(`Gatehouse demo on ${origin}\n  MCP endpoint: ${mcpUrl}\n  Stop with Ctrl-C.`),
  }, handler);
} catch (e) {
  if (!(e instanceof Deno.errors.AddrInUse)) throw e;
  // One line, no stack trace: the usual cause is a demo already running.
  console.error(
    `Port ${port} is already in use (another demo still running?). Stop it, or pick another port: PORT=${
      port === 65535 ? 8788 : port + 1
    } npm start`,
  );
  Deno.exit(1);
}
try {
  Deno.serve({ port, hostname: "::1", onListen: () => {} }, handler);
} catch {
  // no IPv6 loopback on this machine
}

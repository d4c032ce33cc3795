/**
 * Example (not part of the published API): the demo app (authorization
 * server + protected MCP server, see `examples/mcp-server/`) on plain
 * `node:http` through `bridge.ts`. Node 20 cannot run TypeScript, so bundle
 * it first (what `npm run start:node` does):
 *
 * ```sh
 * npx esbuild examples/node/main.ts --bundle --platform=node --format=esm \
 *   --outfile=.tmp/node-demo.mjs && node .tmp/node-demo.mjs
 * ```
 *
 * `PORT` (default 8787; 0 = any free port) and `GATEHOUSE_ORIGIN` (default
 * `http://localhost:<port>`); `GATEHOUSE_SIGNING_KEYS` for a stable key
 * (else an ephemeral one). State is in memory: use a shared storage driver
 * (Upstash/Redis) for more than one process.
 *
 * @module
 */
import { createServer } from "node:http";
import process from "node:process";
import { memoryStorage } from "../../storage/memory.ts";
import { createDemoApp } from "../mcp-server/app.ts";
import { nodeListener } from "./bridge.ts";

const portText = process.env.PORT ?? "8787";
const port = Number(portText);
if (!/^\d+$/.test(portText) || port > 65535) {
  console.error(`PORT=${portText} is not a port number (0-65535).`);
  process.exit(1);
}

let app:
  | { handler: (req: Request, info?: unknown) => Promise<Response>; origin: string }
  | undefined;
const server = createServer(
  nodeListener((req, info) => app!.handler(req, info), () => app!.origin),
);
server.on("error", (e: NodeJS.ErrnoException) => {
  if (e.code === "EADDRINUSE") {
    console.error(`Port ${port} is already in use. Pick another one with PORT=…`);
  } else console.error(`Cannot listen on ${port}: ${e.code ?? e.message}`);
  process.exit(1);
});
// Loopback only: the demo sign-in has no password.
server.listen(port, "127.0.0.1", () => {
  const actual = (server.address() as { port: number }).port;
  const origin = process.env.GATEHOUSE_ORIGIN ?? `http://localhost:${actual}`;
  const keys = process.env.GATEHOUSE_SIGNING_KEYS
    ? JSON.parse(process.env.GATEHOUSE_SIGNING_KEYS)
    : undefined;
  const demo = createDemoApp({ origin, storage: memoryStorage(), keys });
  app = { handler: demo.handler, origin };
  console.log(`Gatehouse demo on Node ${process.versions.node}: ${origin} (MCP ${demo.mcpUrl})`);
});

/**
 * The demo app as every runtime entry builds it: one app per origin (the
 * origin comes from the first request, so one bundle serves any host),
 * signing key from the runner, audit events kept in memory (the runners read
 * them through `GET /__events`) instead of logged.
 *
 * @module
 */
import { createDemoApp } from "../../../examples/mcp-server/app.ts";
import type { AuditEvent, Storage } from "../../../mod.ts";
import type { JWK } from "jose";

/** A request handler that builds the demo app for the first request's origin. */
export function demoHandler(
  storage: () => Storage,
  key: () => JWK | undefined,
): (req: Request) => Promise<Response> {
  let app: { origin: string; handler: (req: Request) => Promise<Response> } | undefined;
  const events: AuditEvent[] = [];
  return (req) => {
    const url = new URL(req.url);
    if (!app) {
      const k = key();
      const demo = createDemoApp({
        origin: url.origin,
        storage: storage(),
        keys: k ? [k] : undefined,
        onEvent: (e) => void events.push(e),
      });
      app = { origin: url.origin, handler: demo.handler };
    }
    if (url.origin !== app.origin) {
      return Promise.resolve(new Response(`this app serves ${app.origin}`, { status: 421 }));
    }
    if (url.pathname === "/__events") {
      return Promise.resolve(Response.json(events.map((e) => e.type)));
    }
    return app.handler(req);
  };
}

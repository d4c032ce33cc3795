/**
 * `examples/vercel-edge/route.ts` as an edge-runtime script (bundled as an
 * IIFE, loaded with `new EdgeRuntime({ initialCode })`): what Next.js does
 * for an App Router route, in miniature — dispatch each fetch event to the
 * module's exported handler for its method. The route reads its settings
 * from `process.env`, which the runner provides through `extend`.
 *
 * @module
 */
import * as route from "../../../examples/vercel-edge/route.ts";

interface FetchEvent {
  request: Request;
  respondWith(r: Response | Promise<Response>): void;
}

const handlers: Record<string, ((req: Request) => Promise<Response>) | undefined> = {
  GET: route.GET,
  HEAD: route.HEAD,
  POST: route.POST,
  OPTIONS: route.OPTIONS,
};

addEventListener("fetch", (event) => {
  const e = event as unknown as FetchEvent;
  const handler = handlers[e.request.method];
  e.respondWith(
    handler
      ? handler(e.request)
      : new Response(null, { status: 405, headers: { allow: "GET, HEAD, POST, OPTIONS" } }),
  );
});

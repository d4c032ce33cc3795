/**
 * `verify_probe.ts` as an edge-runtime script (IIFE, `addEventListener`).
 *
 * @module
 */
import { handleProbe } from "./verify_probe.ts";

interface FetchEvent {
  request: Request;
  respondWith(r: Response | Promise<Response>): void;
}

addEventListener("fetch", (event) => {
  const e = event as unknown as FetchEvent;
  e.respondWith(handleProbe(e.request));
});

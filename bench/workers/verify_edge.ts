/** The verify probe as an edge-runtime script (IIFE, `addEventListener("fetch")`). */
import { probeHandler } from "../_verify_probe.ts";

const handle = probeHandler();
addEventListener("fetch", (e) => {
  const ev = e as Event & { request: Request; respondWith(r: Promise<Response>): void };
  ev.respondWith(handle(ev.request));
});

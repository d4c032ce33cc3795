/**
 * Where the `/token` time goes (internal helper). bench/run.ts spawns
 *   deno run -A --cpu-prof --cpu-prof-dir=<tmp> bench/_profile_token.ts
 * (4000 in-process refresh rotations on memory storage) and reads the V8 CPU profile back with
 * {@link categorize}, which sums self time into coarse buckets.
 */
import { generateSigningKey } from "../mod.ts";
import * as flow from "./_flow.ts";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
}

/** Bucket of a profile node by its function and source. */
function bucket(n: ProfileNode): string {
  const { functionName: fn, url } = n.callFrame;
  if (fn === "(idle)") return "idle: awaiting async ops (Web Crypto runs off the JS thread)";
  if (fn === "(garbage collector)") return "garbage collector";
  if (fn === "(program)") return "V8/runtime (program)";
  if (!url && (fn === "sign" || fn === "digest" || fn === "verify")) {
    return `Web Crypto native \`${fn}\``;
  }
  if (url.includes("/storage/")) return "memory storage driver (JSON copy in/out, sweep)";
  if (url.includes("node_modules/jose/")) return "jose JS (SignJWT, base64url)";
  if (url.includes("node_modules/zod/")) return "zod";
  if (url.includes("/src/")) return "Gatehouse src/*.ts JS";
  if (url.includes("/bench/")) return "bench driver (builds Request, reads JSON)";
  if (/ext:deno_(fetch|web|webidl|url)\//.test(url)) {
    return "Deno Request/Response/Headers/URL/webidl JS (client side + server side)";
  }
  if (url.startsWith("ext:deno_crypto")) return "Web Crypto JS glue";
  return "other (Deno core, ops, encoders)";
}

/** Self time per bucket, as fractions of the profile, largest first. */
export function categorize(profile: {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}): [string, number][] {
  const self = new Map<number, number>();
  profile.samples.forEach((id, k) => self.set(id, (self.get(id) ?? 0) + profile.timeDeltas[k]));
  const out = new Map<string, number>();
  let total = 0;
  for (const n of profile.nodes) {
    const t = self.get(n.id) ?? 0;
    total += t;
    const b = bucket(n);
    out.set(b, (out.get(b) ?? 0) + t);
  }
  return [...out].map(([b, t]): [string, number] => [b, t / total]).sort((a, b) => b[1] - a[1]);
}

/** Number of rotations the profiled run performs. */
export const PROFILE_OPS = 4000;

if (import.meta.main) {
  const auth = flow.server(await generateSigningKey("EdDSA"), "strict");
  const t = await flow.tokens(auth);
  let refresh = t.refresh_token;
  const t0 = performance.now();
  for (let k = 0; k < PROFILE_OPS; k++) {
    const res = await flow.form(auth, "/token", {
      grant_type: "refresh_token",
      refresh_token: refresh,
      client_id: t.clientId,
    });
    if (res.status !== 200) throw new Error(`refresh ${res.status}`);
    refresh = (await res.json()).refresh_token;
  }
  console.log(JSON.stringify({ usPerOp: ((performance.now() - t0) * 1000) / PROFILE_OPS }));
}

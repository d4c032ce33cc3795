/**
 * Bench group "token": the token endpoint in process (`auth.handle`, memory storage) against the
 * Ed25519 sign floor, and a V8 CPU profile of refresh rotations (bench/_profile_token.ts) showing
 * where the time goes.
 *
 * @module
 */
import { generateSigningKey } from "../mod.ts";
import { decodeJwt, importJWK, SignJWT } from "jose";
import { type Case, fmtOps, ratio, runGroup, table, us } from "./_harness.ts";
import * as flow from "./_flow.ts";
import { categorize, PROFILE_OPS } from "./_profile_token.ts";
import type { BenchContext } from "./run.ts";

/** Run the group. */
export async function tokenGroup(b: BenchContext): Promise<void> {
  const QUICK = b.quick;
  const ROOT = b.root;
  const emit = b.emit;
  const key = await generateSigningKey("EdDSA");
  const auth = flow.server(key, "strict");
  const clientId = await flow.register(auth);
  const first = await flow.tokens(auth);
  const { kty, crv, x, d } = key;
  const signKey = await crypto.subtle.importKey(
    "jwk",
    { kty, crv, x, d },
    { name: "Ed25519" },
    false,
    [
      "sign",
    ],
  );
  const signingInput = new TextEncoder().encode(
    first.access_token.slice(0, first.access_token.lastIndexOf(".")),
  );
  const priv = await importJWK(key, "EdDSA");
  const claims = decodeJwt(first.access_token);
  const te = new TextEncoder();
  const refreshLike = "x".repeat(43);

  let codes: { code: string; verifier: string }[] = [];
  const mint = async (n: number) => {
    codes = [];
    for (let i = 0; i < n; i++) codes.push(await flow.code(auth, clientId));
  };
  let refresh = first.refresh_token;
  const refreshClient = first.clientId;
  const cases: Case[] = [
    {
      name: "floor: `crypto.subtle.sign` Ed25519 (same signing input)",
      op: () => crypto.subtle.sign({ name: "Ed25519" }, signKey, signingInput),
    },
    {
      name: "breakdown: jose `SignJWT` (reference; Gatehouse signs with Web Crypto directly)",
      op: () =>
        new SignJWT(claims).setProtectedHeader({ alg: "EdDSA", typ: "at+jwt", kid: key.kid })
          .sign(priv),
    },
    {
      name: "breakdown: `crypto.subtle.digest` SHA-256 of a 43-char token",
      op: () => crypto.subtle.digest("SHA-256", te.encode(refreshLike)),
    },
    {
      name: "`/token` authorization_code exchange (PKCE, + refresh token)",
      batch: QUICK ? 10 : 40,
      prepare: mint,
      op: async () => {
        const c = codes.shift()!;
        const res = await flow.form(auth, "/token", flow.codeExchange(clientId, c));
        if (res.status !== 200) throw new Error(`code exchange ${res.status}: ${await res.text()}`);
        await res.text();
      },
    },
    {
      name: "`/token` refresh_token rotation",
      op: async () => {
        const res = await flow.form(auth, "/token", {
          grant_type: "refresh_token",
          refresh_token: refresh,
          client_id: refreshClient,
        });
        if (res.status !== 200) throw new Error(`refresh ${res.status}: ${await res.text()}`);
        refresh = (await res.json()).refresh_token;
      },
    },
    {
      name: "context: authorize GET + consent POST (mints one code)",
      batch: QUICK ? 10 : 40,
      op: () => flow.code(auth, clientId),
    },
  ];
  const rows = await runGroup(cases, { samples: QUICK ? 5 : 15 });
  const floor = rows[0].median;
  emit(
    `## Token endpoint, in-process \`auth.handle\`, memory storage (sign floor ${us(floor)} µs)`,
  );
  emit();
  emit(
    table(
      ["case", "median µs/op", "p95 µs/op", "ops/s", "× sign floor"],
      rows.map((r) => [r.name, us(r.median), us(r.p95), fmtOps(r.median), ratio(r.median / floor)]),
    ),
  );
  emit();

  // Where the time goes: V8 CPU profile of refresh rotations in a subprocess (profiling
  // overhead would distort the timings above, so it is kept out of this process).
  const dir = await Deno.makeTempDir();
  const res = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--cpu-prof", `--cpu-prof-dir=${dir}`, "bench/_profile_token.ts"],
    cwd: new URL(".", ROOT),
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!res.success) throw new Error(new TextDecoder().decode(res.stderr));
  const profiled = JSON.parse(new TextDecoder().decode(res.stdout)).usPerOp as number;
  const file = [...Deno.readDirSync(dir)].find((e) => e.name.endsWith(".cpuprofile"))!;
  const buckets = categorize(JSON.parse(await Deno.readTextFile(`${dir}/${file.name}`)));
  await Deno.remove(dir, { recursive: true });
  emit(
    `### Where \`/token\` refresh time goes: V8 CPU profile, ${PROFILE_OPS} rotations in a ` +
      `subprocess (${us(profiled)} µs/op under the profiler), self time by bucket`,
  );
  emit();
  emit(
    table(
      ["bucket", "share", "≈ µs/op"],
      buckets.filter(([, f]) => f >= 0.005).map((
        [b, f],
      ) => [b, `${(f * 100).toFixed(1)} %`, us(f * profiled)]),
    ),
  );
  emit();
}

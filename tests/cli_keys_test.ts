/**
 * The `keys` CLI (`src/cli/`, export "./cli"): what it prints is accepted by
 * `createAuthServer`, and a rotation done step by step keeps every live token
 * verifiable while the old key is retired only at the end.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { main } from "../src/cli/mod.ts";
import type { SigningJwk } from "../mod.ts";
import { createVerifier } from "../verify.ts";
import { ISSUER, RESOURCE, testServer, tokensFor } from "./support/flow.ts";
import type { TestServer } from "./support/flow.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));

async function run(args: string[], env: Record<string, string> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, {
    write: (s) => out.push(s),
    error: (s) => err.push(s),
    env: (n) => env[n],
  });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

async function jwksOf(s: TestServer): Promise<{ keys: SigningJwk[] }> {
  return (await s.call("/jwks")).json();
}

test("keys generate (EdDSA default, ES256): server accepts the key, /jwks is the printed JWKS", async () => {
  for (const alg of [undefined, "ES256"]) {
    const r = await run(["keys", "generate", "--json", ...(alg ? ["--alg", alg] : [])]);
    assert.equal(r.code, 0, r.err);
    const k = JSON.parse(r.out);
    assert.equal(k.signingKeys.length, 1);
    assert.equal(k.signingKeys[0].alg, alg ?? "EdDSA");
    assert.equal(typeof k.signingKeys[0].d, "string");
    assert.equal(k.jwks.keys[0].d, undefined, "the JWKS is public");
    assert.match(k.encryptionKey, /^[A-Za-z0-9_-]{43}$/, "32 bytes, base64url");
    const s = await testServer({ keys: k.signingKeys });
    assert.deepEqual(await jwksOf(s), k.jwks);
    const t = await tokensFor(s);
    const header = JSON.parse(
      atob(t.access_token.split(".")[0].replace(/-/g, "+").replace(/_/g, "/")),
    );
    assert.equal(header.alg, alg ?? "EdDSA");
    assert.equal(header.kid, k.signingKeys[0].kid);
  }
});

test("keys generate (text) prints the env lines with the one variable names", async () => {
  const r = await run(["keys", "generate"]);
  assert.equal(r.code, 0);
  const keys = /^GATEHOUSE_SIGNING_KEYS='(.+)'$/m.exec(r.out)?.[1];
  assert.ok(keys, r.out);
  assert.equal(JSON.parse(keys).length, 1);
  assert.match(r.out, /^GATEHOUSE_ENCRYPTION_KEY=[A-Za-z0-9_-]{43}$/m);
  assert.match(r.out, /^\{"keys":\[\{"kty":"OKP"/m);
});

test("keys rotate: each step deploys; tokens of the old key verify until it is retired", async () => {
  const gen = JSON.parse((await run(["keys", "generate", "--json"])).out);
  const current: SigningJwk[] = gen.signingKeys;
  const r = await run(["keys", "rotate", "--json"], {
    GATEHOUSE_SIGNING_KEYS: JSON.stringify(current),
  });
  assert.equal(r.code, 0, r.err);
  const plan = JSON.parse(r.out);
  assert.equal(plan.steps.length, 3);
  const [s1, s2, s3] = await Promise.all(
    plan.steps.map((s: { signingKeys: SigningJwk[] }) => testServer({ keys: s.signingKeys })),
  );
  const oldToken = (await tokensFor(s1)).access_token; // step 1: still the old key signs
  const kids = async (s: TestServer) => (await jwksOf(s)).keys.map((k) => k.kid);
  assert.deepEqual(await kids(s1), [current[0].kid, plan.next.kid], "step 1 publishes the new key");
  const newToken = (await tokensFor(s2)).access_token;
  assert.deepEqual(await kids(s2), [plan.next.kid, current[0].kid]);
  assert.deepEqual(await kids(s3), [plan.next.kid]);
  // A resource server that fetched the JWKS at step 1 already accepts step-2 tokens …
  const at = (jwks: { keys: SigningJwk[] }) =>
    createVerifier({ issuer: ISSUER, audience: RESOURCE, jwks: jwks as never });
  assert.equal((await at(await jwksOf(s1)).verify(newToken)).ok, true);
  // … old tokens stay valid through step 2 and stop at step 3.
  assert.equal((await at(await jwksOf(s2)).verify(oldToken)).ok, true);
  assert.equal((await at(await jwksOf(s3)).verify(oldToken)).ok, false);
  assert.equal((await at(await jwksOf(s3)).verify(newToken)).ok, true);
  for (const s of plan.steps) {
    for (const k of s.signingKeys.slice(1)) {
      assert.equal(k.d, undefined, "only the signer is private");
    }
  }
});

test("keys rotate: --keys from a file; usage and key-set errors exit non-zero with a message", async () => {
  const gen = JSON.parse((await run(["keys", "generate", "--json"])).out);
  await Deno.mkdir(ROOT + ".tmp", { recursive: true });
  const file = ROOT + `.tmp/keys_${crypto.randomUUID()}.json`;
  await Deno.writeTextFile(file, JSON.stringify(gen.signingKeys));
  try {
    const out: string[] = [];
    const code = await main(["keys", "rotate", "--keys", file], { write: (s) => out.push(s) });
    assert.equal(code, 0);
    assert.match(out.join(""), /## Step 3: Retire/);
  } finally {
    await Deno.remove(file);
  }
  assert.equal((await run(["keys", "rotate"])).code, 2);
  assert.match((await run(["keys", "rotate"])).err, /GATEHOUSE_SIGNING_KEYS/);
  assert.equal((await run(["keys", "generate", "--alg", "RS256"])).code, 2);
  assert.equal((await run(["nope"])).code, 2);
  const pub = JSON.stringify(gen.jwks.keys);
  const bad = await run(["keys", "rotate", "--keys", pub]);
  assert.equal(bad.code, 1);
  assert.match(bad.err, /first key must be the private key/);
  assert.ok(!bad.err.includes(gen.signingKeys[0].d), "no secret echoed");
});

test("keys rotate without --allow-env: one line naming the flag, exit 2, no stack", async () => {
  const gen = JSON.parse((await run(["keys", "generate", "--json"])).out);
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", "src/cli/mod.ts", "keys", "rotate"],
    cwd: ROOT,
    env: { NO_COLOR: "1", GATEHOUSE_SIGNING_KEYS: JSON.stringify(gen.signingKeys) },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(stderr).trim();
  assert.equal(code, 2, err);
  assert.equal(new TextDecoder().decode(stdout), "");
  assert.match(err, /--allow-env=GATEHOUSE_SIGNING_KEYS/);
  assert.equal(err.split("\n").length, 1, err);
  assert.doesNotMatch(err, /NotCapable|\bat /);
});

test("`npm run keys -- generate` runs the CLI as a process", async () => {
  const { code, stdout } = await new Deno.Command("npm", {
    args: ["run", "--silent", "keys", "--", "generate", "--alg", "ES256", "--json"],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(code, 0);
  const k = JSON.parse(new TextDecoder().decode(stdout));
  assert.equal(k.signingKeys[0].kty, "EC");
});

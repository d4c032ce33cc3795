/**
 * `@gatehouse/oauth/cli`: key management from the command line.
 *
 * ```sh
 * deno run jsr:@gatehouse/oauth/cli keys generate            # EdDSA (Ed25519)
 * deno run jsr:@gatehouse/oauth/cli keys generate --alg ES256
 * GATEHOUSE_SIGNING_KEYS='[…]' deno run --allow-env=GATEHOUSE_SIGNING_KEYS jsr:@gatehouse/oauth/cli keys rotate
 * deno run --allow-read jsr:@gatehouse/oauth/cli keys rotate --keys keys.json
 * npm run keys -- generate                                    # in this repository
 * ```
 *
 * `keys generate` prints the private signing JWK (as `GATEHOUSE_SIGNING_KEYS`, a
 * JSON array whose first key signs), the public JWKS the server will publish,
 * and a grant-data encryption key (`GATEHOUSE_ENCRYPTION_KEY`, AES-256,
 * base64url). `keys rotate` takes the current key set (`--keys <json or file>`,
 * or `GATEHOUSE_SIGNING_KEYS`) and prints the publish-then-retire steps with
 * the exact value to deploy at each. `--json` prints machine-readable output.
 *
 * @example
 * ```ts
 * import { main } from "@gatehouse/oauth/cli";
 *
 * const lines: string[] = [];
 * const code = await main(["keys", "generate", "--json"], { write: (s) => lines.push(s) });
 * const { signingKeys, encryptionKey } = JSON.parse(lines.join(""));
 * console.log(code, signingKeys[0].kid, encryptionKey.length); // 0 "…" 43
 * ```
 *
 * @module
 */
import {
  ENCRYPTION_KEY_ENV,
  generateKeys,
  parseKeySet,
  planRotation,
  SIGNING_KEYS_ENV,
} from "./keys.ts";

/** Where {@link main} writes and reads. */
export interface CliIo {
  /** Standard output (one call per block of text). Default `console.log`. */
  write?: (text: string) => void;
  /** Standard error. Default `console.error`. */
  error?: (text: string) => void;
  /** Environment lookup. Default `Deno.env.get` when available. */
  env?: (name: string) => string | undefined;
  /** Read a file (for `--keys path`). Default `Deno.readTextFile` when available. */
  readFile?: (path: string) => Promise<string>;
}

const USAGE = `Usage:
  keys generate [--alg EdDSA|ES256] [--json]
      A new signing key (EdDSA default), its public JWKS, and a grant-data encryption key.
  keys rotate [--keys <JSON array or file>] [--alg EdDSA|ES256] [--access-token-ttl <s>] [--json]
      Publish-then-retire steps from the current key set (default: $${SIGNING_KEYS_ENV}).`;

interface DenoLike {
  env: { get(name: string): string | undefined };
  readTextFile(path: string): Promise<string>;
  args: string[];
  exit(code: number): never;
}
const denoNs = (globalThis as { Deno?: DenoLike }).Deno;

function flags(args: string[]): Map<string, string | true> {
  const out = new Map<string, string | true>();
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (!a.startsWith("--")) throw new TypeError(`unexpected argument "${a}"`);
    const [name, inline] = a.slice(2).split(/=(.*)/s, 2);
    if (name === "json") out.set(name, true);
    else if (inline !== undefined) out.set(name, inline);
    else if (i + 1 < args.length) out.set(name, args[++i]);
    else throw new TypeError(`--${name} needs a value`);
  }
  for (const k of out.keys()) {
    if (!["alg", "json", "keys", "access-token-ttl"].includes(k)) {
      throw new TypeError(`unknown option --${k}`);
    }
  }
  return out;
}

function algOf(f: Map<string, string | true>): "EdDSA" | "ES256" {
  const alg = f.get("alg") ?? "EdDSA";
  if (alg !== "EdDSA" && alg !== "ES256") throw new TypeError("--alg must be EdDSA or ES256");
  return alg;
}

const sh = (json: unknown) => `'${JSON.stringify(json)}'`;

/**
 * Run the CLI with `args` (without the program name). Returns the exit code:
 * 0 on success, 2 for a usage error (message on `io.error`), 1 for a bad key set.
 */
export async function main(args: string[], io: CliIo = {}): Promise<number> {
  const write = io.write ?? ((s: string) => console.log(s));
  const error = io.error ?? ((s: string) => console.error(s));
  const env = io.env ?? ((n: string) => denoNs?.env.get(n));
  const readFile = io.readFile ?? ((p: string) => denoNs!.readTextFile(p));
  const [group, command, ...rest] = args;
  if (group !== "keys" || (command !== "generate" && command !== "rotate")) {
    error(USAGE);
    return 2;
  }
  let f: Map<string, string | true>;
  let alg: "EdDSA" | "ES256";
  try {
    f = flags(rest);
    alg = algOf(f);
  } catch (e) {
    error(`${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  const json = f.get("json") === true;

  if (command === "generate") {
    const k = await generateKeys(alg);
    if (json) {
      write(JSON.stringify(k, null, 2));
      return 0;
    }
    write(
      [
        `# Gatehouse keys (${alg}). Put the two secrets in your secret store, never in git.`,
        `# createAuthServer({ keys: JSON.parse(env.${SIGNING_KEYS_ENV}), encryptionKeys: [env.${ENCRYPTION_KEY_ENV}] })`,
        "",
        `${SIGNING_KEYS_ENV}=${sh(k.signingKeys)}`,
        `${ENCRYPTION_KEY_ENV}=${k.encryptionKey}`,
        "",
        "# Public JWKS (what /jwks publishes; safe to share, e.g. to pin on a resource server):",
        JSON.stringify(k.jwks),
      ].join("\n"),
    );
    return 0;
  }

  // rotate
  let source = typeof f.get("keys") === "string" ? f.get("keys") as string : undefined;
  if (source === undefined) {
    try {
      source = env(SIGNING_KEYS_ENV);
    } catch {
      // Deno without --allow-env: one line instead of an uncaught NotCapable and its stack.
      error(
        `keys rotate: no permission to read ${SIGNING_KEYS_ENV}; run deno with --allow-env=${SIGNING_KEYS_ENV}, or pass --keys <JSON array or file>`,
      );
      return 2;
    }
  }
  if (!source) {
    error(`keys rotate: give --keys <JSON array or file>, or set ${SIGNING_KEYS_ENV}`);
    return 2;
  }
  const ttl = Number(f.get("access-token-ttl") ?? 900);
  if (!Number.isInteger(ttl) || ttl <= 0) {
    error("--access-token-ttl must be a positive number of seconds");
    return 2;
  }
  try {
    if (!source.trim().startsWith("[") && !source.trim().startsWith("{")) {
      source = await readFile(source);
    }
    const plan = await planRotation(parseKeySet(source), alg, ttl);
    if (json) {
      write(JSON.stringify(plan, null, 2));
      return 0;
    }
    const out = [
      `# Rotating to a new ${alg} key ${plan.next.kid}: deploy each step, wait, then the next.`,
    ];
    plan.steps.forEach((s, i) => {
      out.push(
        "",
        `## Step ${i + 1}: ${s.title}`,
        `${SIGNING_KEYS_ENV}=${sh(s.signingKeys)}`,
      );
      out.push(s.wait ? `# then wait ${s.wait}` : "# Done: the old key is no longer published.");
    });
    out.push(
      "",
      `# ${ENCRYPTION_KEY_ENV} is separate: put a new key first in encryptionKeys and keep the old`,
      "# one after it until every grant sealed with it has expired (refreshTokenTtl).",
    );
    write(out.join("\n"));
    return 0;
  } catch (e) {
    error(`keys rotate: ${(e as Error).message}`);
    return 1;
  }
}

if (import.meta.main && denoNs) denoNs.exit(await main(denoNs.args));

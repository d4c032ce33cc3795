/**
 * In-Worker flow driver (internal): the same full flow as `PeerWorld.flow` (bench/_peers.ts) —
 * register → authorize (→ consent approve) → code exchange → `/mcp` → refresh, a fresh client
 * each time — but issued from inside the bench Worker straight to its `fetch` handler, so the
 * figure is the server's own time (its JS and its storage calls) without the Node ↔ workerd
 * `dispatchFetch` hop that every request pays in the other row.
 */

/** The bench client's redirect URI (loopback, any port: RFC 8252 §7.3). */
export const REDIRECT = "http://127.0.0.1:33418/callback";

/** One request to a server: in the Worker its `fetch` handler, from the bench `dispatchFetch`. */
export type Handler = (req: Request) => Promise<Response>;

const b64url = (bytes: Uint8Array): string =>
  btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

/** `res` when its status is `status`, else an error naming `what` and the body. */
export async function must(res: Response, status: number, what: string): Promise<Response> {
  if (res.status !== status) {
    throw new Error(`${what}: expected ${status}, got ${res.status}: ${await res.text()}`);
  }
  return res;
}

/**
 * The flow's steps against `https://<target>.test` through `handle`, each throwing unless it
 * succeeds: the in-Worker flows and the bench's dispatched ones (bench/_peers.ts) share them.
 */
export function steps(handle: Handler, target: string) {
  const origin = `https://${target}.test`;
  const resource = `${origin}/mcp`;
  const form = (path: string, fields: Record<string, string>) =>
    handle(
      new Request(origin + path, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams(fields).toString(),
      }),
    );
  return {
    resource,
    /** Register a public client; its id. */
    async register(): Promise<string> {
      const res = await must(
        await handle(
          new Request(origin + "/register", {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({
              redirect_uris: [REDIRECT],
              token_endpoint_auth_method: "none",
              grant_types: ["authorization_code", "refresh_token"],
              response_types: ["code"],
              client_name: "Bench Client",
            }),
          }),
        ),
        201,
        `register ${target}`,
      );
      return (await res.json()).client_id;
    },
    /** Authorize (and approve Gatehouse's consent page): a fresh code and its PKCE verifier. */
    async code(clientId: string): Promise<{ code: string; verifier: string }> {
      const verifier = b64url(crypto.getRandomValues(new Uint8Array(32)));
      const challenge = b64url(
        new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier))),
      );
      const q = new URLSearchParams({
        response_type: "code",
        client_id: clientId,
        redirect_uri: REDIRECT,
        code_challenge: challenge,
        code_challenge_method: "S256",
        scope: "mcp:read mcp:write",
        resource,
        state: "st",
      });
      let res = await handle(new Request(`${origin}/authorize?${q}`, { redirect: "manual" }));
      if (target !== "cf") {
        const html = await (await must(res, 200, `authorize ${target}`)).text();
        const field = (name: string) => {
          const m = new RegExp(`name="${name}" value="([^"]+)"`).exec(html);
          if (!m) throw new Error(`consent page has no ${name}`);
          return m[1];
        };
        res = await form("/authorize", {
          consent_id: field("consent_id"),
          csrf: field("csrf"),
          decision: "approve",
        });
      }
      await must(res, 302, `authorize ${target}`);
      await res.arrayBuffer();
      const code = new URL(res.headers.get("location")!).searchParams.get("code");
      if (!code) throw new Error(`${target}: no code`);
      return { code, verifier };
    },
    /** POST /token; its JSON. */
    async token(fields: Record<string, string>): Promise<Record<string, string>> {
      return await (await must(await form("/token", fields), 200, `token ${target}`)).json();
    },
    /** The code exchange's form fields. */
    exchange: (clientId: string, c: { code: string; verifier: string }) => ({
      grant_type: "authorization_code",
      code: c.code,
      code_verifier: c.verifier,
      redirect_uri: REDIRECT,
      client_id: clientId,
      resource,
    }),
    /** `/mcp` with the access token; throws unless 200. */
    async api(accessToken: string): Promise<void> {
      const res = await must(
        await handle(
          new Request(resource, { headers: { authorization: `Bearer ${accessToken}` } }),
        ),
        200,
        `/mcp ${target}`,
      );
      await res.arrayBuffer();
    },
  };
}

/** One full flow at `https://<target>.test` through `handle`; throws unless every step succeeds. */
export async function flow(handle: Handler, target: string): Promise<void> {
  const s = steps(handle, target);
  const clientId = await s.register();
  const tokens = await s.token(s.exchange(clientId, await s.code(clientId)));
  await s.api(tokens.access_token);
  const refreshed = await s.token({
    grant_type: "refresh_token",
    refresh_token: tokens.refresh_token,
    client_id: clientId,
  });
  if (!refreshed.access_token) throw new Error(`${target}: refresh gave no access token`);
}

/**
 * `n` flows at `target`, `inFlight` at a time. (Timed by the caller, outside workerd: inside,
 * the clock stands still between I/O.)
 */
export async function flows(
  handle: Handler,
  target: string,
  n: number,
  inFlight: number,
): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (next < n) {
      next++;
      await flow(handle, target);
    }
  }));
}

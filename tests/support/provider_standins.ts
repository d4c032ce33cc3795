/**
 * STAND-INS for GitHub and Google (nothing real of theirs can run here): small loopback
 * servers that reproduce the documented behaviour Gatehouse depends on.
 *
 * GitHub (docs.github.com, "Authorizing OAuth apps"): not OpenID Connect; the token
 * endpoint answers JSON only with `Accept: application/json` (form-encoded otherwise),
 * takes `client_id`/`client_secret` in the body, reports errors as HTTP 200 with
 * `{ error: "bad_verification_code" }`; no `iss` in the callback; the user is `GET /user`
 * (GHES: `/api/v3/user`), which refuses requests without a `User-Agent`; no RFC 7009.
 *
 * Google (developers.google.com, "OpenID Connect"): discovery document, RS256 ID tokens
 * with `nonce`, a refresh token only with `access_type=offline` and `prompt=consent`,
 * userinfo, and an RFC 7009-style `revocation_endpoint`.
 */
import { exportJWK, generateKeyPair, SignJWT } from "jose";

export interface StandIn {
  origin: string;
  counts: Record<string, number>;
  /** Next token endpoint answer is GitHub's 200 error body. */
  failNextToken?: boolean;
  lastAuthorize?: URLSearchParams;
  /** Next user API answer is 1 MiB of JSON (a broken or hostile upstream). */
  hugeUser?: boolean;
  close(): Promise<void>;
}

function serve(
  handler: (req: Request, s: StandIn) => Promise<Response> | Response,
): StandIn {
  const s: StandIn = { origin: "", counts: {}, close: () => Promise.resolve() };
  const server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen: () => {} },
    (req) => {
      const p = new URL(req.url).pathname;
      s.counts[p] = (s.counts[p] ?? 0) + 1;
      return handler(req, s);
    },
  );
  s.origin = `http://127.0.0.1:${server.addr.port}`;
  s.close = () => server.shutdown();
  return s;
}

/** GitHub stand-in, reached as GitHub Enterprise Server (`github({ baseUrl })`). */
export function githubStandIn(clientId: string, clientSecret: string): StandIn {
  const codes = new Map<string, string>();
  return serve(async (req, s) => {
    const url = new URL(req.url);
    if (url.pathname === "/login/oauth/authorize") {
      s.lastAuthorize = url.searchParams;
      const code = crypto.randomUUID();
      codes.set(code, url.searchParams.get("code_challenge") ?? "");
      const to = new URL(url.searchParams.get("redirect_uri")!);
      to.searchParams.set("code", code);
      to.searchParams.set("state", url.searchParams.get("state")!);
      return Response.redirect(to.href, 302);
    }
    if (url.pathname === "/login/oauth/access_token" && req.method === "POST") {
      const form = new URLSearchParams(await req.text());
      const json = (req.headers.get("accept") ?? "").includes("application/json");
      const ok = form.get("client_id") === clientId &&
        form.get("client_secret") === clientSecret && codes.delete(form.get("code") ?? "") &&
        !s.failNextToken;
      s.failNextToken = false;
      const body = ok
        ? { access_token: "gho_" + crypto.randomUUID(), token_type: "bearer", scope: "read:user" }
        : { error: "bad_verification_code", error_description: "The code passed is incorrect" };
      return json
        ? Response.json(body)
        : new Response(new URLSearchParams(body as unknown as Record<string, string>).toString(), {
          headers: { "content-type": "application/x-www-form-urlencoded" },
        });
    }
    if (url.pathname === "/api/v3/user") {
      if (!req.headers.get("user-agent")) return new Response("UA required", { status: 403 });
      if (!req.headers.get("authorization")?.startsWith("Bearer gho_")) {
        return Response.json({ message: "Bad credentials" }, { status: 401 });
      }
      if (s.hugeUser) {
        s.hugeUser = false;
        return Response.json({ id: 1, padding: "x".repeat(1024 * 1024) });
      }
      return Response.json({ login: "octocat", id: 583231, name: "The Octocat" });
    }
    return new Response("not found", { status: 404 });
  });
}

/** Google stand-in (an OIDC provider with Google's documented quirks). */
export async function googleStandIn(clientId: string, clientSecret: string): Promise<StandIn> {
  const { privateKey, publicKey } = await generateKeyPair("RS256", { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid: "g1", alg: "RS256", use: "sig" };
  const codes = new Map<string, { nonce: string; offline: boolean }>();
  return serve(async (req, s) => {
    const url = new URL(req.url);
    const iss = s.origin;
    switch (url.pathname) {
      case "/.well-known/openid-configuration":
        return Response.json({
          issuer: iss,
          authorization_endpoint: iss + "/o/oauth2/v2/auth",
          token_endpoint: iss + "/token",
          userinfo_endpoint: iss + "/v1/userinfo",
          revocation_endpoint: iss + "/revoke",
          jwks_uri: iss + "/oauth2/v3/certs",
          response_types_supported: ["code"],
          subject_types_supported: ["public"],
          id_token_signing_alg_values_supported: ["RS256"],
          code_challenge_methods_supported: ["plain", "S256"],
        });
      case "/oauth2/v3/certs":
        return Response.json({ keys: [jwk] });
      case "/o/oauth2/v2/auth": {
        s.lastAuthorize = url.searchParams;
        const code = crypto.randomUUID();
        codes.set(code, {
          nonce: url.searchParams.get("nonce") ?? "",
          offline: url.searchParams.get("access_type") === "offline" &&
            url.searchParams.get("prompt") === "consent",
        });
        const to = new URL(url.searchParams.get("redirect_uri")!);
        to.searchParams.set("code", code);
        to.searchParams.set("state", url.searchParams.get("state")!);
        return Response.redirect(to.href, 302);
      }
      case "/token": {
        const form = new URLSearchParams(await req.text());
        // RFC 6749 §2.3.1: id and secret are form-urlencoded inside the Basic credentials.
        const basic = atob((req.headers.get("authorization") ?? "").replace(/^Basic /, ""));
        const [id, secret] = basic.split(":").map((p) => decodeURIComponent(p.replace(/\+/g, " ")));
        const authOk = id === clientId && secret === clientSecret;
        const c = codes.get(form.get("code") ?? "");
        if (!authOk || !c) return Response.json({ error: "invalid_grant" }, { status: 400 });
        codes.delete(form.get("code")!);
        const now = Math.floor(Date.now() / 1000);
        const idToken = await new SignJWT({
          email: "user@gmail.test",
          email_verified: true,
          nonce: c.nonce,
        })
          .setProtectedHeader({ alg: "RS256", kid: "g1" })
          .setIssuer(iss).setAudience(clientId).setSubject("1098765")
          .setIssuedAt(now).setExpirationTime(now + 3600)
          .sign(privateKey);
        return Response.json({
          access_token: "ya29." + crypto.randomUUID(),
          expires_in: 3599,
          token_type: "Bearer",
          scope: "openid email profile",
          id_token: idToken,
          ...(c.offline ? { refresh_token: "1//" + crypto.randomUUID() } : {}),
        });
      }
      case "/v1/userinfo":
        return Response.json({ sub: "1098765", email: "user@gmail.test" });
      case "/revoke":
        await req.body?.cancel();
        return new Response(null, { status: 200 });
    }
    return new Response("not found", { status: 404 });
  });
}

/**
 * Property-based checks: `verify` never throws and never accepts garbage, whatever the
 * Authorization header, token string, or decoded header/payload JSON looks like.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import * as jose from "jose";
import { createVerifier } from "../verify.ts";
import { b64json, ISSUER, makeKey, RESOURCE, signRaw, T0 } from "./support/verify_fixtures.ts";

const key = await makeKey("EdDSA", "fuzz");
const verifier = createVerifier({
  issuer: ISSUER,
  audience: RESOURCE,
  jwks: { keys: [key.publicJwk as never] },
  now: () => T0,
});

test("arbitrary Authorization headers and token strings are refused without throwing", async () => {
  await fc.assert(
    fc.asyncProperty(fc.string({ maxLength: 300 }), fc.boolean(), async (s, asHeader) => {
      let input: Request | string = s;
      if (asHeader) {
        let headers: Headers;
        try {
          headers = new Headers({ authorization: s });
        } catch {
          return; // not a legal header value at all
        }
        input = new Request(RESOURCE, { headers });
      }
      const r = await verifier.verify(input);
      assert.equal(r.ok, false);
      if (!r.ok) assert.ok([400, 401].includes(r.status), `status ${r.status}`);
    }),
    { numRuns: 300 },
  );
});

test("arbitrary JSON header/payload with a garbage signature is refused", async () => {
  const sig = jose.base64url.encode(new Uint8Array(64));
  await fc.assert(
    fc.asyncProperty(fc.jsonValue(), fc.jsonValue(), async (h, p) => {
      const r = await verifier.verify(`${b64json(h)}.${b64json(p)}.${sig}`);
      assert.equal(r.ok, false);
      if (!r.ok) assert.equal(r.status, 401);
    }),
    { numRuns: 300 },
  );
});

test("validly signed tokens with arbitrary claim values are refused unless well-formed", async () => {
  const claim = fc.constantFrom("iss", "sub", "aud", "client_id", "exp", "iat", "jti", "scope");
  await fc.assert(
    fc.asyncProperty(claim, fc.jsonValue(), async (name, value) => {
      const token = await signRaw(key, { alg: "EdDSA", typ: "at+jwt", kid: "fuzz" }, {
        [name]: value,
      });
      const r = await verifier.verify(token);
      if (r.ok) {
        // Only values that keep the token well-formed may pass.
        const c = r.claims.claims;
        assert.equal(c.iss, ISSUER);
        assert.equal(typeof c.sub, "string");
        assert.ok(typeof c.exp === "number" && c.exp * 1000 + 5000 > T0);
      } else {
        assert.equal(r.status, 401);
      }
    }),
    { numRuns: 200 },
  );
});

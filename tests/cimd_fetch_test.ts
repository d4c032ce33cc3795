/**
 * Client ID Metadata Document fetches over real sockets: a TLS server on
 * loopback (node:https, a self-signed certificate for "localhost" in
 * tests/fixtures, trusted through `outbound.ca`). Loopback is only reachable
 * because these tests allow-list it (`outbound.allow`); the refusal tests run
 * without an allow-list and assert the server never receives a request.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import https from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import { fetchOutbound, OutboundError } from "../src/_outbound.ts";
import type { OutboundConfig } from "../src/_outbound.ts";
import { clientIdUrlProblem, MAX_CIMD_BYTES } from "../src/client_metadata_document.ts";
import { authorizePage, REDIRECT, testServer } from "./support/flow.ts";

const dir = new URL("./fixtures/", import.meta.url);
const cert = await Deno.readTextFile(new URL("localhost_cert.pem", dir));
const key = await Deno.readTextFile(new URL("localhost_key.pem", dir));

interface Loopback {
  port: number;
  hits: string[];
  /** Bytes the server managed to hand to the socket per path. */
  written: Map<string, number>;
  close(): Promise<void>;
}

type Handler = (req: IncomingMessage, res: ServerResponse, lb: Loopback) => void;

async function loopback(routes: Record<string, Handler>): Promise<Loopback> {
  const lb: Loopback = {
    port: 0,
    hits: [],
    written: new Map(),
    close: () => Promise.resolve(),
  };
  const server = https.createServer({ key, cert }, (req, res) => {
    lb.hits.push(req.url ?? "");
    const h = routes[req.url ?? ""];
    if (!h) {
      res.writeHead(404).end();
      return;
    }
    h(req, res, lb);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  lb.port = (server.address() as { port: number }).port;
  lb.close = () =>
    new Promise((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return lb;
}

const doc = (id: string) => ({
  client_id: id,
  client_name: "Loopback App",
  redirect_uris: [REDIRECT],
  token_endpoint_auth_method: "none",
});

const json = (body: unknown): Handler => (_req, res) => {
  res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(body));
};

/** A body of `total` bytes generated lazily, chunk by chunk, counting what the socket took. */
const lazyBody = (total: number, declare: boolean): Handler => (req, res, lb) => {
  const chunk = new Uint8Array(64 * 1024).fill(0x20);
  let sent = 0;
  res.writeHead(200, {
    "content-type": "application/json",
    ...(declare ? { "content-length": String(total) } : {}),
  });
  const pump = () => {
    while (sent < total) {
      sent += chunk.byteLength;
      lb.written.set(req.url!, sent);
      if (!res.write(chunk)) return res.once("drain", pump);
    }
    res.end();
  };
  res.on("close", () => {});
  pump();
};

const conf = (port: number, extra: OutboundConfig = {}): OutboundConfig => ({
  allow: [`localhost:${port}`],
  ca: [cert],
  ...extra,
});

async function refusal(p: Promise<unknown>): Promise<OutboundError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof OutboundError, String(e));
    return e;
  }
  assert.fail("expected a refusal");
}

test("client id URL rules (draft §3)", () => {
  const ok = "https://app.example.org/oauth/client.json";
  assert.equal(clientIdUrlProblem(ok), undefined);
  assert.equal(clientIdUrlProblem(ok + "?v=1"), undefined, "a query is tolerated");
  const bad: Record<string, RegExp> = {
    "http://app.example.org/c.json": /https/,
    "https://app.example.org": /path/,
    "https://app.example.org/": /path/,
    "https://app.example.org/c.json#": /fragment/,
    "https://app.example.org/c.json#x": /fragment/,
    "https://user@app.example.org/c.json": /username/,
    "https://u:p@app.example.org/c.json": /username/,
    "https://app.example.org/a/../c.json": /dot segments/,
    "https://app.example.org/./c.json": /dot segments/,
    "https://app.example.org/a/%2e%2e/c.json": /dot segments/,
    "https://APP.example.org/c.json": /normalised/,
    "https://app.example.org:443/c.json": /normalised/,
    ["https://app.example.org/" + "a".repeat(2100)]: /too long/,
  };
  for (const [id, why] of Object.entries(bad)) {
    assert.match(clientIdUrlProblem(id) ?? "", why, id);
  }
});

test("refused without an allow-list: loopback by name, private, metadata, mapped, other ports — nothing is sent", async () => {
  const lb = await loopback({ "/admin": json({ secret: true }) });
  try {
    const cases: Record<string, string> = {
      [`https://localhost:${lb.port}/admin`]: "port",
      [`https://127.0.0.1:${lb.port}/admin`]: "port",
      "https://localhost/admin": "address", // resolved: 127.0.0.1
      "https://127.0.0.1/c.json": "address",
      "https://0x7f000001/c.json": "address",
      "https://0.0.0.0/c.json": "address",
      "https://10.1.2.3/c.json": "address",
      "https://172.16.0.1/c.json": "address",
      "https://192.168.1.1/c.json": "address",
      "https://100.64.0.1/c.json": "address",
      "https://169.254.169.254/latest/meta-data": "address",
      "https://224.0.0.1/c.json": "address",
      "https://255.255.255.255/c.json": "address",
      "https://[::1]/c.json": "address",
      "https://[::]/c.json": "address",
      "https://[::ffff:127.0.0.1]/c.json": "address",
      "https://[::ffff:a9fe:a9fe]/c.json": "address",
      "https://[64:ff9b::a00:1]/c.json": "address",
      "https://[fd00:ec2::254]/c.json": "address",
      "https://[fc00::1]/c.json": "address",
      "https://[fe80::1]/c.json": "address",
      "https://[ff02::1]/c.json": "address",
      "http://app.example.org/c.json": "url",
      "https://u:p@app.example.org/c.json": "url",
      "https://no-such-host.invalid/c.json": "dns",
    };
    for (const [url, reason] of Object.entries(cases)) {
      const e = await refusal(fetchOutbound(url, { maxBytes: 1024, accept: "*/*" }));
      assert.equal(e.reason, reason, url);
    }
    // The same through the server: an error page, never a 5xx, and still no request sent.
    const s = await testServer();
    for (const id of [`https://localhost:${lb.port}/admin`, "https://localhost/admin"]) {
      const { res } = await authorizePage(s, id);
      assert.equal(res.status, 400, id);
      assert.match(await res.text(), /Unknown client/);
    }
    assert.deepEqual(lb.hits, [], "the loopback server received no request");
  } finally {
    await lb.close();
  }
});

test("allow-listed loopback: the pinned transport fetches the document; the flow reaches consent", async () => {
  let id = "";
  const lb = await loopback({ "/client.json": (req, res, l) => json(doc(id))(req, res, l) });
  try {
    id = `https://localhost:${lb.port}/client.json`;
    const r = await fetchOutbound(id, {
      config: conf(lb.port),
      maxBytes: MAX_CIMD_BYTES,
      accept: "application/json",
    });
    assert.equal(r.transport, "pinned");
    assert.equal(JSON.parse(new TextDecoder().decode(r.body)).client_id, id);
    const s = await testServer({ outbound: conf(lb.port) });
    const { res } = await authorizePage(s, id);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /Loopback App/);
  } finally {
    await lb.close();
  }
});

test("200 MiB bodies: refused on Content-Length before reading; chunked read abandoned at the cap", async () => {
  const total = 200 * 1024 * 1024;
  const lb = await loopback({
    "/declared.json": lazyBody(total, true),
    "/chunked.json": lazyBody(total, false),
  });
  try {
    const declared = await refusal(fetchOutbound(`https://localhost:${lb.port}/declared.json`, {
      config: conf(lb.port),
      maxBytes: MAX_CIMD_BYTES,
      accept: "application/json",
    }));
    assert.equal(declared.reason, "too_large");
    assert.equal(declared.bytesRead, 0, "refused on Content-Length");
    const chunked = await refusal(fetchOutbound(`https://localhost:${lb.port}/chunked.json`, {
      config: conf(lb.port),
      maxBytes: MAX_CIMD_BYTES,
      accept: "application/json",
    }));
    assert.equal(chunked.reason, "too_large");
    assert.ok(chunked.bytesRead! > MAX_CIMD_BYTES);
    assert.ok(chunked.bytesRead! <= MAX_CIMD_BYTES + 64 * 1024, `read ${chunked.bytesRead}`);
    // The server could hand the socket far less than the 200 MiB before the client hung up.
    const written = lb.written.get("/chunked.json") ?? 0;
    assert.ok(written < 32 * 1024 * 1024, `server wrote ${written}`);
    console.log(
      `[cimd] cap ${MAX_CIMD_BYTES} B: declared 200 MiB → read 0 B; chunked → read ${chunked.bytesRead} B, server wrote ${written} B`,
    );
  } finally {
    await lb.close();
  }
});

test("a trickling document ends at the deadline as a 4xx, and the failure is cached", async () => {
  let id = "";
  const lb = await loopback({
    "/slow.json": (_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      const body = JSON.stringify(doc(id));
      let i = 0;
      const t = setInterval(() => {
        if (i >= body.length || res.destroyed) return clearInterval(t);
        res.write(body[i++]);
      }, 100);
      res.on("close", () => clearInterval(t));
    },
  });
  try {
    id = `https://localhost:${lb.port}/slow.json`;
    const s = await testServer({ outbound: conf(lb.port, { timeoutMs: 400 }) });
    const ask = async () => (await authorizePage(s, id)).res;
    const t0 = performance.now();
    const res = await ask();
    const ms = performance.now() - t0;
    assert.equal(res.status, 400);
    assert.match(await res.text(), /Unknown client/);
    // At /token the same client id is invalid_client, not a 500.
    const tok = await s.form("/token", {
      grant_type: "authorization_code",
      code: "x",
      code_verifier: "y".repeat(43),
      redirect_uri: REDIRECT,
      client_id: id,
    });
    assert.equal(tok.status, 401);
    assert.equal((await tok.json()).error, "invalid_client");
    const again = await ask();
    assert.equal(again.status, 400);
    await again.body?.cancel();
    assert.equal(
      lb.hits.length,
      1,
      "the failed URL is not fetched again within the negative-cache TTL",
    );
    s.advance(61_000);
    await (await ask()).body?.cancel();
    assert.equal(lb.hits.length, 2, "refetched after the negative-cache TTL");
    console.log(`[cimd] trickle: refused after ${Math.round(ms)} ms (deadline 400 ms)`);
  } finally {
    await lb.close();
  }
});

test("redirects are not followed; a wrong content type is refused", async () => {
  const lb = await loopback({
    "/moved.json": (_req, res) => {
      res.writeHead(302, { location: "/target.json" }).end();
    },
    "/target.json": json({}),
    "/page.json": (_req, res) => {
      res.writeHead(200, { "content-type": "text/html" }).end("<html></html>");
    },
  });
  try {
    const o = { config: conf(lb.port), maxBytes: MAX_CIMD_BYTES, accept: "application/json" };
    const moved = await refusal(fetchOutbound(`https://localhost:${lb.port}/moved.json`, {
      ...o,
      contentTypes: ["application/json"],
    }));
    assert.equal(moved.reason, "redirect");
    const page = await refusal(fetchOutbound(`https://localhost:${lb.port}/page.json`, {
      ...o,
      contentTypes: ["application/json"],
    }));
    assert.equal(page.reason, "content_type");
    assert.deepEqual(
      lb.hits,
      ["/moved.json", "/page.json"],
      "the redirect target was never requested",
    );
  } finally {
    await lb.close();
  }
});

test("address classification: public unicast passes, every special range is refused", async () => {
  const { addressProblem } = await import("../src/_ip.ts");
  for (
    const ok of [
      "8.8.8.8",
      "93.184.215.14",
      "172.32.0.1",
      "100.128.0.1",
      "2606:4700::1111",
      "64:ff9b::808:808", // NAT64 of a public address (DNS64 on IPv6-only hosts)
    ]
  ) {
    assert.equal(addressProblem(ok), undefined, ok);
  }
  for (
    const bad of [
      "127.0.0.1",
      "10.0.0.1",
      "172.31.255.255",
      "192.168.0.1",
      "100.127.255.255",
      "169.254.169.254",
      "0.0.0.0",
      "255.255.255.255",
      "224.0.0.251",
      "::1",
      "::",
      "::ffff:10.0.0.1",
      "::ffff:8.8.8.8", // mapped forms are refused even for public IPv4
      "::127.0.0.1",
      "64:ff9b::7f00:1",
      "fd00:ec2::254",
      "fe80::1%eth0",
      "ff02::1",
      "2002:7f00:1::",
      "2001::1",
      "2001:db8::1",
      "not-an-ip",
    ]
  ) {
    assert.ok(addressProblem(bad), bad);
  }
});

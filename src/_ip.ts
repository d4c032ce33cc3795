/**
 * IP address classification for outbound fetches (internal, a leaf module).
 *
 * An address is "forbidden" when it does not name a host on the public
 * internet: loopback, RFC 1918 private, link-local, CGNAT (RFC 6598),
 * unique-local (RFC 4193), unspecified, multicast, broadcast, documentation,
 * benchmarking, reserved, cloud metadata services; the IPv6 forms embedding
 * IPv4 (mapped, translated, compatible — always; NAT64 when the IPv4 inside
 * is forbidden); 6to4 and Teredo.
 *
 * @module
 */

/** Parse a dotted-quad IPv4 address into 4 bytes; undefined when not one. */
export function parseIpv4(s: string): number[] | undefined {
  const parts = s.split(".");
  if (parts.length !== 4) return undefined;
  const out: number[] = [];
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    out.push(n);
  }
  return out;
}

/** Parse an IPv6 address (no brackets, optional zone) into 16 bytes; undefined when not one. */
export function parseIpv6(input: string): number[] | undefined {
  let s = input.replace(/^\[|\]$/g, "");
  const zone = s.indexOf("%");
  if (zone >= 0) s = s.slice(0, zone);
  if (!s.includes(":")) return undefined;
  let tail: number[] = [];
  const lastColon = s.lastIndexOf(":");
  const last = s.slice(lastColon + 1);
  if (last.includes(".")) {
    const v4 = parseIpv4(last);
    if (!v4) return undefined;
    tail = v4;
    s = s.slice(0, lastColon + 1) + "0:0";
  }
  const halves = s.split("::");
  if (halves.length > 2) return undefined;
  const groups = (h: string) => h === "" ? [] : h.split(":");
  const head = groups(halves[0]);
  const rest = halves.length === 2 ? groups(halves[1]) : [];
  const missing = 8 - head.length - rest.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const all = [...head, ...Array(halves.length === 2 ? missing : 0).fill("0"), ...rest];
  const bytes: number[] = [];
  for (const g of all) {
    if (!/^[0-9a-f]{1,4}$/i.test(g)) return undefined;
    const n = parseInt(g, 16);
    bytes.push(n >> 8, n & 0xff);
  }
  if (tail.length) bytes.splice(12, 4, ...tail);
  return bytes;
}

const inV4 = (b: number[], net: number[], bits: number): boolean => {
  for (let i = 0; i < 4; i++) {
    const take = Math.max(0, Math.min(8, bits - i * 8));
    if (take === 0) return true;
    const mask = (0xff << (8 - take)) & 0xff;
    if ((b[i] & mask) !== (net[i] & mask)) return false;
  }
  return true;
};

const V4_BLOCKED: [number[], number, string][] = [
  [[0, 0, 0, 0], 8, "unspecified / this network"],
  [[10, 0, 0, 0], 8, "private (RFC 1918)"],
  [[100, 64, 0, 0], 10, "CGNAT (RFC 6598)"],
  [[127, 0, 0, 0], 8, "loopback"],
  [[169, 254, 0, 0], 16, "link-local (incl. cloud metadata 169.254.169.254)"],
  [[172, 16, 0, 0], 12, "private (RFC 1918)"],
  [[192, 0, 0, 0], 24, "IETF protocol assignments"],
  [[192, 0, 2, 0], 24, "documentation"],
  [[192, 88, 99, 0], 24, "6to4 relay anycast"],
  [[192, 168, 0, 0], 16, "private (RFC 1918)"],
  [[198, 18, 0, 0], 15, "benchmarking"],
  [[198, 51, 100, 0], 24, "documentation"],
  [[203, 0, 113, 0], 24, "documentation"],
  [[224, 0, 0, 0], 4, "multicast"],
  [[240, 0, 0, 0], 4, "reserved / broadcast"],
];

/** Why an IPv4 address (4 bytes) is not a public host, or undefined when it is. */
function v4Problem(b: number[]): string | undefined {
  for (const [net, bits, why] of V4_BLOCKED) if (inV4(b, net, bits)) return why;
  return undefined;
}

/** Why an IPv6 address (16 bytes) is not a public host, or undefined when it is. */
function v6Problem(b: number[]): string | undefined {
  const zeroTo = (n: number) => b.slice(0, n).every((x) => x === 0);
  if (zeroTo(15) && b[15] === 0) return "unspecified (::)";
  if (zeroTo(15) && b[15] === 1) return "loopback (::1)";
  // ::ffff:a.b.c.d (mapped), ::ffff:0:a.b.c.d (translated), ::a.b.c.d (compatible):
  // never what a public name resolves to — refused whatever they embed.
  const mapped = (zeroTo(10) && b[10] === 0xff && b[11] === 0xff) || zeroTo(12) ||
    (zeroTo(8) && b[8] === 0xff && b[9] === 0xff && b[10] === 0 && b[11] === 0);
  if (mapped) {
    const p = v4Problem(b.slice(12));
    return `IPv4-mapped IPv6 form${p ? ` of ${p}` : ""}`;
  }
  // NAT64 64:ff9b::/96 (DNS64 answers on IPv6-only hosts): judged by the IPv4 inside.
  if (
    b[0] === 0 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b &&
    b.slice(4, 12).every((x) => x === 0)
  ) {
    const p = v4Problem(b.slice(12));
    return p ? `NAT64 form of ${p}` : undefined;
  }
  if (b[0] === 0x20 && b[1] === 0x02) return "6to4 (2002::/16)";
  if (b[0] === 0x20 && b[1] === 0x01 && b[2] === 0 && b[3] === 0) return "Teredo (2001::/32)";
  if (b[0] === 0x20 && b[1] === 0x01 && b[2] === 0x0d && b[3] === 0xb8) return "documentation";
  if ((b[0] & 0xfe) === 0xfc) return "unique-local (fc00::/7, incl. fd00:ec2::254)";
  if (b[0] === 0xfe && (b[1] & 0xc0) === 0x80) return "link-local (fe80::/10)";
  if (b[0] === 0xfe && (b[1] & 0xc0) === 0xc0) return "site-local (fec0::/10)";
  if (b[0] === 0xff) return "multicast (ff00::/8)";
  if (b[0] === 0x01 && b[1] === 0 && b.slice(2, 8).every((x) => x === 0)) {
    return "discard-only (100::/64)";
  }
  // Only global unicast 2000::/3 is routable on the internet.
  if ((b[0] & 0xe0) !== 0x20) return "not global unicast";
  return undefined;
}

/**
 * Why `address` (an IPv4 or IPv6 literal) must not be fetched from, or
 * undefined when it is a public unicast address. Anything that does not parse
 * as an address is refused.
 */
export function addressProblem(address: string): string | undefined {
  const v4 = parseIpv4(address);
  if (v4) return v4Problem(v4);
  const v6 = parseIpv6(address);
  if (v6) return v6Problem(v6);
  return "not an IP address";
}

/** True when a URL host name is an IP literal (IPv4 dotted quad or bracketed IPv6). */
export function isIpLiteral(hostname: string): boolean {
  return parseIpv4(hostname) !== undefined || hostname.startsWith("[");
}

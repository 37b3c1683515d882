// Server-side request forgery guard for webhook targets. At creation no DNS lookup is made (it
// would make create-invoice slow and flaky): the URL must be https, carry no credentials and
// not be an IP literal in a blocked range. The WHATWG URL parser has already normalized every
// spelling of an IPv4 literal (127.1, 2130706433, 0x7f000001, 017700000001) to dotted form and
// every IPv6 literal to its compressed form, so only canonical addresses are checked here.
import net from 'node:net';

const BLOCKED = new net.BlockList();
// IPv4: "this network", private, CGNAT, loopback, link-local (cloud metadata), IETF protocol
// assignments, documentation, benchmarking, multicast, reserved and broadcast.
for (const [address, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  BLOCKED.addSubnet(address, prefix, 'ipv4');
}
// IPv6: unspecified, loopback and the deprecated IPv4-compatible form (all in ::/96),
// IPv4-translated (::ffff:0:a.b.c.d), IPv4-mapped (checked again as IPv4 below), NAT64, discard,
// documentation, 6to4, unique local, link-local, site-local, multicast. The compatible,
// translated and 6to4 forms embed any IPv4 address, 127.0.0.1 included. (Not ::/8 as a whole:
// BlockList checks IPv4 addresses against IPv6 rules as ::ffff:a.b.c.d, so it would block all.)
for (const [address, prefix] of [
  ['::', 96],
  ['::ffff:0:0:0', 96],
  ['64:ff9b::', 96],
  ['100::', 64],
  ['2001:db8::', 32],
  ['2002::', 16],
  ['fc00::', 7],
  ['fe80::', 10],
  ['fec0::', 10],
  ['ff00::', 8],
] as const) {
  BLOCKED.addSubnet(address, prefix, 'ipv6');
}

const PRIVATE = new net.BlockList();
for (const [address, prefix] of [
  ['10.0.0.0', 8],
  ['127.0.0.0', 8],
  ['172.16.0.0', 12],
  ['192.168.0.0', 16],
] as const) {
  PRIVATE.addSubnet(address, prefix, 'ipv4');
}
PRIVATE.addAddress('::1', 'ipv6');
PRIVATE.addSubnet('fc00::', 7, 'ipv6');

/** The IPv4 address inside an IPv4-mapped IPv6 address (::ffff:a.b.c.d), if it is one. */
function mappedIpv4(address: string): string | null {
  const dotted = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (dotted) return dotted[1] ?? null;
  const hex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(address);
  if (!hex) return null;
  const high = parseInt(hex[1] ?? '0', 16);
  const low = parseInt(hex[2] ?? '0', 16);
  return [high >> 8, high & 255, low >> 8, low & 255].join('.');
}

/** True for an address no webhook may reach: loopback, private, link-local, CGNAT, multicast, reserved. */
export function isBlockedAddress(address: string): boolean {
  const family = net.isIP(address);
  if (family === 4) return BLOCKED.check(address, 'ipv4');
  if (family !== 6) return true;
  const mapped = mappedIpv4(address);
  if (mapped) return true; // IPv4-mapped addresses are never a legitimate public target
  return BLOCKED.check(address, 'ipv6');
}

function isPrivateAddress(address: string): boolean {
  const family = net.isIP(address);
  if (family === 4) return PRIVATE.check(address, 'ipv4');
  if (family === 6) return PRIVATE.check(address, 'ipv6');
  return false;
}

/** The host of a parsed URL without IPv6 brackets. */
function hostOf(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, '$1');
}

function isLocalHostname(host: string): boolean {
  return host === 'localhost' || host.endsWith('.localhost') || host.endsWith('.local') || host.endsWith('.internal');
}

export type TargetProblem = { type: 'url_scheme' | 'value_error'; msg: string };

/**
 * Checks a webhook target at creation (create-invoice callback_url, merchant webhook_url).
 * allowPrivate (WEBHOOK_ALLOW_PRIVATE, local development only) also admits http, but only
 * to loopback or private hosts.
 */
export function checkWebhookTarget(url: URL, allowPrivate: boolean): TargetProblem | null {
  if (url.username || url.password) return { type: 'value_error', msg: 'URL must not contain credentials' };
  const host = hostOf(url);
  const isLiteral = net.isIP(host) !== 0;
  if (allowPrivate) {
    const local = isLocalHostname(host) || (isLiteral && isPrivateAddress(host));
    if (url.protocol === 'http:' && !local) {
      return { type: 'url_scheme', msg: "URL scheme should be 'https'" };
    }
    if (isLiteral && !local && isBlockedAddress(host)) {
      return { type: 'value_error', msg: `URL host ${host} is a blocked address (loopback, private, link-local or reserved)` };
    }
    return null;
  }
  if (url.protocol !== 'https:') return { type: 'url_scheme', msg: "URL scheme should be 'https'" };
  if (isLiteral && isBlockedAddress(host)) {
    return { type: 'value_error', msg: `URL host ${host} is a blocked address (loopback, private, link-local or reserved)` };
  }
  return null;
}

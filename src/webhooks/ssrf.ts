// Which addresses a webhook may reach: public unicast only, unless the configuration allows
// loopback (tests) or private networks. The name is resolved and every address checked, and the
// connection then goes to a checked address (the lookup below is the socket's own), so a name
// that resolves differently a moment later cannot steer the request inward.
import type { LookupAddress } from 'node:dns';
import dns from 'node:dns';
import ipaddr from 'ipaddr.js';

export interface TargetPolicy {
  allowLoopback: boolean;
  allowPrivate: boolean;
}

export class RefusedTargetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RefusedTargetError';
  }
}

const PRIVATE_RANGES = new Set(['private', 'uniqueLocal', 'carrierGradeNat']);

/** Why the address may not be a webhook target, or null when it may. */
export function refusedAddress(address: string, policy: TargetPolicy): string | null {
  if (!ipaddr.isValid(address)) return `${address} is not an IP address`;
  const ip = ipaddr.process(address);
  // IPv4-compatible IPv6 (::a.b.c.d, deprecated by RFC 4291) is "unicast" to ipaddr.js, but where
  // a tunnel carries it, it reaches the IPv4 address inside: never a public webhook target.
  const range = ip.range();
  if (range === 'unicast' && ip.kind() === 'ipv6' && ip.match(ipaddr.parse('::'), 96)) {
    return `${address} is an IPv4-compatible IPv6 address; webhook targets must be public`;
  }
  if (range === 'unicast') return null;
  if (range === 'loopback' && policy.allowLoopback) return null;
  if (PRIVATE_RANGES.has(range) && policy.allowPrivate) return null;
  return `${address} is a ${range} address; webhook targets must be public${
    range === 'loopback' ? ' (OPS_WEBHOOK_ALLOW_LOOPBACK allows loopback)' : ''
  }${PRIVATE_RANGES.has(range) ? ' (OPS_WEBHOOK_ALLOW_PRIVATE allows private networks)' : ''}`;
}

/** A URL hostname as an IP literal ('[::1]' → '::1'), or null for a name. */
export function literalAddress(hostname: string): string | null {
  const bare = hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
  return ipaddr.isValid(bare) ? bare : null;
}

type LookupCallback = (
  err: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

/** A `lookup` for http.request: resolves every address of the name and refuses if any is refused. */
export function guardedLookup(policy: TargetPolicy) {
  return (hostname: string, options: { all?: boolean }, callback: LookupCallback): void => {
    dns.lookup(hostname, { all: true }, (err, addresses) => {
      if (err) return callback(err, []);
      if (addresses.length === 0) return callback(new RefusedTargetError(`${hostname} has no address`), []);
      for (const a of addresses) {
        const why = refusedAddress(a.address, policy);
        if (why) return callback(new RefusedTargetError(`${hostname} resolves to ${why}`), []);
      }
      if (options.all) return callback(null, addresses);
      callback(null, addresses[0]!.address, addresses[0]!.family);
    });
  };
}

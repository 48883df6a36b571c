import { isIP } from 'node:net';
import { AmbitError } from '../errors.ts';
import type { Cidr } from './types.ts';

/** Longest prefix for an address of this family: 32 for IPv4, 128 for IPv6. */
export function maxPrefixLength(address: string): number {
  return isIP(address) === 6 ? 128 : 32;
}

/**
 * Parses `10.0.0.0/8`, `fd00::/64`, or a bare address (a host route: /32 or /128, as istiod does for ipBlocks).
 * The address is kept as written (not masked), matching istiod, which sends the prefix's address unmodified.
 * Throws AmbitError `INVALID_CIDR`.
 */
export function parseCidr(text: string): Cidr {
  const slash = text.indexOf('/');
  const address = slash < 0 ? text : text.slice(0, slash);
  if (isIP(address) === 0) throw new AmbitError('INVALID_CIDR', `invalid CIDR ${JSON.stringify(text)}: not an IP address`);
  const max = maxPrefixLength(address);
  if (slash < 0) return { address, length: max };
  const lengthText = text.slice(slash + 1);
  const length = /^\d{1,3}$/.test(lengthText) ? Number(lengthText) : NaN;
  if (!(length >= 0 && length <= max)) {
    throw new AmbitError('INVALID_CIDR', `invalid CIDR ${JSON.stringify(text)}: prefix length must be 0..${max}`);
  }
  return { address, length };
}

import { isIPv4, isIPv6 } from 'node:net';

/**
 * IP text <-> the raw 4/16 bytes Istio's protos carry (`bytes address`). Text output is canonical (RFC 5952 for
 * IPv6: lower case, longest run of zero groups compressed, IPv4-mapped addresses in mixed notation) so that
 * decode(encode(x)) === x for canonical input and two spellings of one address compare equal after a round trip.
 */

export function ipToBytes(text: string): Uint8Array {
  if (isIPv4(text)) return Uint8Array.from(text.split('.').map(Number));
  if (isIPv6(text)) return ipv6ToBytes(text);
  throw new TypeError(`not an IP address: ${JSON.stringify(text)}`);
}

export function bytesToIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return Array.from(bytes).join('.');
  if (bytes.length === 16) return bytesToIpv6(bytes);
  throw new TypeError(`an IP address is 4 or 16 bytes, got ${bytes.length}`);
}

function ipv6ToBytes(text: string): Uint8Array {
  let head = text;
  const out = new Uint8Array(16);
  // A trailing dotted quad fills the last 32 bits (`::ffff:10.0.0.1`); isIPv6 has already validated the shape.
  let tailV4: number[] = [];
  const lastColon = head.lastIndexOf(':');
  if (head.slice(lastColon + 1).includes('.')) {
    tailV4 = head
      .slice(lastColon + 1)
      .split('.')
      .map(Number);
    head = `${head.slice(0, lastColon + 1)}0:0`;
  }
  const [left = '', right] = head.split('::');
  const leftGroups = left === '' ? [] : left.split(':');
  const rightGroups = right === undefined || right === '' ? [] : right.split(':');
  const zeros = 8 - leftGroups.length - rightGroups.length;
  const groups = [...leftGroups, ...new Array<string>(right === undefined ? 0 : zeros).fill('0'), ...rightGroups];
  groups.forEach((g, i) => {
    const n = parseInt(g, 16);
    out[i * 2] = n >> 8;
    out[i * 2 + 1] = n & 0xff;
  });
  if (tailV4.length === 4) out.set(tailV4, 12);
  return out;
}

function bytesToIpv6(b: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i] ?? 0) << 8) | (b[i + 1] ?? 0));
  // RFC 5952 §5: IPv4-mapped addresses are written with the IPv4 part dotted.
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${Array.from(b.subarray(12)).join('.')}`;
  }
  // RFC 5952 §4.2: compress the longest run of >= 2 zero groups, the first one on a tie.
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

import { isIP } from 'node:net';

/**
 * The string formats kube-apiserver checks in custom resources (apiextensions' supported formats, checked with
 * go-openapi's strfmt registry), as far as local clusters need them. A format not listed here is not checked, which is
 * also what kube-apiserver does with a format it does not know.
 */
const DATE_TIME = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})?$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;
const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;
const UUID_VERSIONED = (v: number): RegExp =>
  new RegExp(`^[0-9a-f]{8}-?[0-9a-f]{4}-?${v}[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$`, 'i');
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const MAC = /^([0-9a-f]{2}[:-]){5}[0-9a-f]{2}$/i;
const HOSTNAME = /^(?=.{1,255}$)[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*\.?$/i;

function validDate(s: string): boolean {
  const [y, m, d] = s.slice(0, 10).split('-').map(Number);
  if (y === undefined || m === undefined || d === undefined) return false;
  const date = new Date(Date.UTC(y, m - 1, d));
  return date.getUTCFullYear() === y && date.getUTCMonth() === m - 1 && date.getUTCDate() === d;
}

function validCidr(s: string): boolean {
  const slash = s.indexOf('/');
  if (slash === -1) return false;
  const family = isIP(s.slice(0, slash));
  const bits = s.slice(slash + 1);
  return family !== 0 && /^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128);
}

const CHECKS: ReadonlyMap<string, (s: string) => boolean> = new Map(
  Object.entries({
    'date-time': (s: string) => DATE_TIME.test(s) && validDate(s),
    datetime: (s: string) => DATE_TIME.test(s) && validDate(s),
    date: (s: string) => DATE.test(s) && validDate(s),
    uuid: (s: string) => UUID.test(s),
    uuid3: (s: string) => UUID_VERSIONED(3).test(s),
    uuid4: (s: string) => UUID_VERSIONED(4).test(s),
    uuid5: (s: string) => UUID_VERSIONED(5).test(s),
    byte: (s: string) => BASE64.test(s),
    ipv4: (s: string) => isIP(s) === 4,
    ipv6: (s: string) => isIP(s) === 6,
    cidr: validCidr,
    mac: (s: string) => MAC.test(s),
    hostname: (s: string) => HOSTNAME.test(s),
  }),
);

/** True when `value` is of `format`, or when the format is not one that is checked. */
export function matchesFormat(format: string, value: string): boolean {
  const check = CHECKS.get(format);
  return check === undefined || check(value);
}

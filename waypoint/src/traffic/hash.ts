/**
 * The 64-bit hash behind consistent hashing (ring hash, Maglev) and hash keys. Envoy uses xxHash64, which Node does not
 * ship; this is FNV-1a 64 (http://www.isthe.com/chongo/tech/comp/fnv/) computed in two 32-bit halves (no BigInt, no
 * allocation), followed by murmur3's fmix32 finalizer on each half: FNV-1a alone leaves keys that differ only in their
 * last characters ("10.0.0.1:80_7", "…_8") close together in the high bits, and ring positions need avalanche.
 *
 * Input is the string's UTF-16 code units: one byte for ASCII, low byte then high byte otherwise (the same string
 * always hashes the same, which is all consistent hashing needs). The result is folded to 53 bits so it is an exact
 * JavaScript number that sorts and compares like the 64-bit value's top 53 bits.
 */

/** FNV-1a 64 offset basis 0xcbf29ce484222325, in halves. */
const OFFSET_HI = 0xcbf29ce4;
const OFFSET_LO = 0x84222325;
/** FNV 64 prime = 2^40 + 0x1b3: × prime = × 0x1b3 plus the value shifted left by 40 (the low half's bits 0–23 land in the high half's 8–31). */
const PRIME_LO = 0x1b3;
const TWO_32 = 0x1_0000_0000;
const TWO_21 = 0x20_0000;

export function hash53(text: string, seed = 0): number {
  const [hi, lo] = fnv1a64(text, seed);
  const h = fmix32((hi ^ Math.imul(lo, 0x9e3779b1)) >>> 0);
  const l = fmix32((lo ^ h) >>> 0);
  return h * TWO_21 + (l >>> 11);
}

/** FNV-1a 64 as [high 32 bits, low 32 bits]; `seed` is folded into the offset basis (a second, independent hash). */
export function fnv1a64(text: string, seed = 0): [number, number] {
  let hi = (OFFSET_HI ^ seed) >>> 0;
  let lo = OFFSET_LO;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const bytes = c < 0x80 ? 1 : 2;
    for (let b = 0; b < bytes; b++) {
      lo = (lo ^ (b === 0 ? c & 0xff : c >>> 8)) >>> 0;
      const product = lo * PRIME_LO;
      const carry = Math.floor(product / TWO_32);
      hi = (hi * PRIME_LO + carry + ((lo << 8) >>> 0)) % TWO_32;
      lo = product % TWO_32;
    }
  }
  return [hi, lo];
}

/** murmur3's 32-bit finalizer (full avalanche). */
function fmix32(x: number): number {
  let h = x;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

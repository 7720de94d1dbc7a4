// MD5 (RFC 1321 section 3.4) in 32-bit integer arithmetic: little-endian words, one 16-word block
// buffer for the whole program. ESP-IDF's partition table carries an MD5 record, so the device
// needs it for that table.
import { BlockHash, putLe } from './block-hash';
import type { IncrementalHash } from './types';

// T[i] = floor(2^32 * abs(sin(i + 1))), RFC 1321 3.4, as literals: Math.sin differs between small engines' libm.
const T = new Int32Array([
  0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
  0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
  0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
  0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
  0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
  0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
  0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
  0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
]);

// Per-step left rotations, four per round (RFC 1321 3.4: S11..S44).
const R = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];

/** The 16 words of the block being compressed, shared by every MD5 in the program. */
const X = new Int32Array(16);

/**
 * Compresses `count` 64-byte blocks from m[o..] into the state `s` (A, B, C, D; RFC 1321 3.4).
 * The same shape as a host's native block function (hostHashes `blocks`).
 */
export function md5Blocks(s: Int32Array, m: Uint8Array, o: number, count: number): void {
  // Locals declared outside the loops (see sha256.ts: cheaper in small interpreters).
  const x = X;
  let r: number;
  let v: number;
  let i: number;
  let a: number;
  let b: number;
  let c: number;
  let d: number;
  for (let n = 0; n < count; n++) {
    for (i = 0; i < 16; i++, o += 4) x[i] = m[o] | (m[o + 1] << 8) | (m[o + 2] << 16) | (m[o + 3] << 24);
    a = s[0];
    b = s[1];
    c = s[2];
    d = s[3];
    // One loop per round (RFC 1321 3.4: F, G, H, I, each with its own word order), so no step pays
    // for choosing its function. Step: a = b + ((a + f(b, c, d) + X[g] + T[i]) <<< r), then rotate.
    for (i = 0; i < 16; i++) {
      v = (a + (d ^ (b & (c ^ d))) + T[i] + x[i]) | 0;
      r = R[i & 3];
      a = d;
      d = c;
      c = b;
      b = (b + ((v << r) | (v >>> (32 - r)))) | 0;
    }
    for (; i < 32; i++) {
      v = (a + (c ^ (d & (b ^ c))) + T[i] + x[(5 * i + 1) & 15]) | 0;
      r = R[4 | (i & 3)];
      a = d;
      d = c;
      c = b;
      b = (b + ((v << r) | (v >>> (32 - r)))) | 0;
    }
    for (; i < 48; i++) {
      v = (a + (b ^ c ^ d) + T[i] + x[(3 * i + 5) & 15]) | 0;
      r = R[8 | (i & 3)];
      a = d;
      d = c;
      c = b;
      b = (b + ((v << r) | (v >>> (32 - r)))) | 0;
    }
    for (; i < 64; i++) {
      v = (a + (c ^ (b | ~d)) + T[i] + x[(7 * i) & 15]) | 0;
      r = R[12 | (i & 3)];
      a = d;
      d = c;
      c = b;
      b = (b + ((v << r) | (v >>> (32 - r)))) | 0;
    }
    s[0] = (s[0] + a) | 0;
    s[1] = (s[1] + b) | 0;
    s[2] = (s[2] + c) | 0;
    s[3] = (s[3] + d) | 0;
  }
}

export class Md5 extends BlockHash {
  private readonly s = new Int32Array([0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476]);

  constructor() {
    super('MD5', true);
  }

  protected compress(m: Uint8Array, o: number): void {
    md5Blocks(this.s, m, o, 1);
  }

  protected override compressRun(m: Uint8Array, o: number, count: number): void {
    md5Blocks(this.s, m, o, count);
  }

  protected output(): Uint8Array {
    const out = new Uint8Array(16);
    for (let i = 0; i < 4; i++) putLe(out, i * 4, this.s[i]);
    return out;
  }
}

export function md5(): IncrementalHash {
  return new Md5();
}

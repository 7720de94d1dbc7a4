// SHA-1 (FIPS 180-4 sections 4.1.1, 5.3.1, 6.1; RFC 3174) in 32-bit integer arithmetic with one
// reused 80-word schedule. Only the Pycom manifest format needs it (file hashes are SHA-1 there).
import { BlockHash, wordsBe } from './block-hash';
import type { IncrementalHash } from './types';

export class Sha1 extends BlockHash {
  private readonly s = new Int32Array([0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0]);
  private readonly w = new Int32Array(80);

  constructor() {
    super('SHA-1', false);
  }

  protected compress(m: Uint8Array, o: number): void {
    // Locals declared outside the loops (see sha256.ts: cheaper in small interpreters).
    const w = this.w;
    const s = this.s;
    let t: number;
    let x: number;
    let tmp: number;
    for (t = 0; t < 16; t++, o += 4) w[t] = (m[o] << 24) | (m[o + 1] << 16) | (m[o + 2] << 8) | m[o + 3];
    for (t = 16; t < 80; t++) {
      x = w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16];
      w[t] = (x << 1) | (x >>> 31);
    }
    let a = s[0];
    let b = s[1];
    let c = s[2];
    let d = s[3];
    let e = s[4];
    // Four loops of 20 steps, one per round function and constant (FIPS 180-4 4.1.1, 4.2.1), so no
    // step pays for choosing them.
    for (t = 0; t < 20; t++) {
      tmp = (((a << 5) | (a >>> 27)) + (d ^ (b & (c ^ d))) + e + 0x5a827999 + w[t]) | 0;
      e = d;
      d = c;
      c = (b << 30) | (b >>> 2);
      b = a;
      a = tmp;
    }
    for (; t < 40; t++) {
      tmp = (((a << 5) | (a >>> 27)) + (b ^ c ^ d) + e + 0x6ed9eba1 + w[t]) | 0;
      e = d;
      d = c;
      c = (b << 30) | (b >>> 2);
      b = a;
      a = tmp;
    }
    for (; t < 60; t++) {
      tmp = (((a << 5) | (a >>> 27)) + ((b & c) | (d & (b | c))) + e + 0x8f1bbcdc + w[t]) | 0;
      e = d;
      d = c;
      c = (b << 30) | (b >>> 2);
      b = a;
      a = tmp;
    }
    for (; t < 80; t++) {
      tmp = (((a << 5) | (a >>> 27)) + (b ^ c ^ d) + e + 0xca62c1d6 + w[t]) | 0;
      e = d;
      d = c;
      c = (b << 30) | (b >>> 2);
      b = a;
      a = tmp;
    }
    s[0] = (s[0] + a) | 0;
    s[1] = (s[1] + b) | 0;
    s[2] = (s[2] + c) | 0;
    s[3] = (s[3] + d) | 0;
    s[4] = (s[4] + e) | 0;
  }

  protected output(): Uint8Array {
    return wordsBe(this.s, 5);
  }
}

export function sha1(): IncrementalHash {
  return new Sha1();
}

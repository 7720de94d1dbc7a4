// SHA-256 (FIPS 180-4 sections 4.1.2, 4.2.2, 5.3.3, 6.2) in 32-bit integer arithmetic: Int32Array
// state and message schedule (one 64-word schedule for the whole program, reused for every block),
// `| 0` after each addition so engines keep the values as small integers.
import { BlockHash, wordsBe } from './block-hash';
import type { IncrementalHash } from './types';

// The first 32 bits of the fractional parts of the cube roots of the first 64 primes (FIPS 180-4 4.2.2).
const K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

// FIPS 180-4 5.3.3.
export const SHA256_IV: readonly number[] = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];

/** The message schedule, shared by every SHA-256 in the program (JS runs one compression at a time). */
const W = new Int32Array(64);

/**
 * Compresses `count` 64-byte blocks from m[o..] into the state `s` (8 words, FIPS 180-4 6.2.2).
 * The same shape as a host's native block function (hostHashes `blocks`), so either can serve.
 */
export function sha256Blocks(s: Int32Array, m: Uint8Array, o: number, count: number): void {
  // Declared once, outside the loops: block-scoped declarations inside a loop body cost small
  // interpreters (QuickJS, JerryScript) a re-initialisation per iteration.
  const w = W;
  let t: number;
  let x: number;
  let y: number;
  let t1: number;
  let a: number;
  let b: number;
  let c: number;
  let d: number;
  let e: number;
  let f: number;
  let g: number;
  let h: number;
  for (let n = 0; n < count; n++) {
    for (t = 0; t < 16; t++, o += 4) w[t] = (m[o] << 24) | (m[o + 1] << 16) | (m[o + 2] << 8) | m[o + 3];
    for (t = 16; t < 64; t++) {
      x = w[t - 15];
      y = w[t - 2];
      // w[t] = sigma1(w[t-2]) + w[t-7] + sigma0(w[t-15]) + w[t-16]
      w[t] = ((((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10)) + w[t - 7] + (((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)) + w[t - 16]) | 0;
    }
    a = s[0];
    b = s[1];
    c = s[2];
    d = s[3];
    e = s[4];
    f = s[5];
    g = s[6];
    h = s[7];
    for (t = 0; t < 64; t++) {
      // T1 = h + Sigma1(e) + Ch(e, f, g) + K[t] + w[t], with Ch written as g ^ (e & (f ^ g)) (same function, fewer operations).
      t1 = (h + (((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7))) + (g ^ (e & (f ^ g))) + K[t] + w[t]) | 0;
      h = g;
      g = f;
      f = e;
      e = (d + t1) | 0;
      d = c;
      c = b;
      b = a;
      // a = T1 + Sigma0(a) + Maj(a, b, c) of the old a, b, c (now b, c, d); Maj as (a & b) | (c & (a | b)).
      a = (t1 + (((b >>> 2) | (b << 30)) ^ ((b >>> 13) | (b << 19)) ^ ((b >>> 22) | (b << 10))) + ((b & c) | (d & (b | c)))) | 0;
    }
    s[0] = (s[0] + a) | 0;
    s[1] = (s[1] + b) | 0;
    s[2] = (s[2] + c) | 0;
    s[3] = (s[3] + d) | 0;
    s[4] = (s[4] + e) | 0;
    s[5] = (s[5] + f) | 0;
    s[6] = (s[6] + g) | 0;
    s[7] = (s[7] + h) | 0;
  }
}

export class Sha256 extends BlockHash {
  private readonly s = new Int32Array(SHA256_IV);

  constructor() {
    super('SHA-256', false);
  }

  protected compress(m: Uint8Array, o: number): void {
    sha256Blocks(this.s, m, o, 1);
  }

  protected override compressRun(m: Uint8Array, o: number, count: number): void {
    sha256Blocks(this.s, m, o, count);
  }

  protected output(): Uint8Array {
    return wordsBe(this.s, 8);
  }
}

export function sha256(): IncrementalHash {
  return new Sha256();
}

// SHA-512 and SHA-384 (FIPS 180-4 sections 4.1.3, 4.2.3, 5.3.4-5.3.5, 6.4-6.5) without BigInt: each
// 64-bit word is a pair of 32-bit halves (high, low) in Int32Arrays, additions carry from the low
// half into the high one, rotations mix the halves. SHA-384 is SHA-512 with its own initial value,
// cut to 48 bytes: the digest of ECDSA P-384 Secure Boot signatures (secure-boot-verify's `sha384`).
import { BlockHash, wordsBe } from './block-hash';
import type { IncrementalHash } from './types';

// The first 64 bits of the fractional parts of the cube roots of the first 80 primes (FIPS 180-4
// 4.2.3), as high, low halves.
const K = new Int32Array([
  0x428a2f98, 0xd728ae22, 0x71374491, 0x23ef65cd, 0xb5c0fbcf, 0xec4d3b2f, 0xe9b5dba5, 0x8189dbbc,
  0x3956c25b, 0xf348b538, 0x59f111f1, 0xb605d019, 0x923f82a4, 0xaf194f9b, 0xab1c5ed5, 0xda6d8118,
  0xd807aa98, 0xa3030242, 0x12835b01, 0x45706fbe, 0x243185be, 0x4ee4b28c, 0x550c7dc3, 0xd5ffb4e2,
  0x72be5d74, 0xf27b896f, 0x80deb1fe, 0x3b1696b1, 0x9bdc06a7, 0x25c71235, 0xc19bf174, 0xcf692694,
  0xe49b69c1, 0x9ef14ad2, 0xefbe4786, 0x384f25e3, 0x0fc19dc6, 0x8b8cd5b5, 0x240ca1cc, 0x77ac9c65,
  0x2de92c6f, 0x592b0275, 0x4a7484aa, 0x6ea6e483, 0x5cb0a9dc, 0xbd41fbd4, 0x76f988da, 0x831153b5,
  0x983e5152, 0xee66dfab, 0xa831c66d, 0x2db43210, 0xb00327c8, 0x98fb213f, 0xbf597fc7, 0xbeef0ee4,
  0xc6e00bf3, 0x3da88fc2, 0xd5a79147, 0x930aa725, 0x06ca6351, 0xe003826f, 0x14292967, 0x0a0e6e70,
  0x27b70a85, 0x46d22ffc, 0x2e1b2138, 0x5c26c926, 0x4d2c6dfc, 0x5ac42aed, 0x53380d13, 0x9d95b3df,
  0x650a7354, 0x8baf63de, 0x766a0abb, 0x3c77b2a8, 0x81c2c92e, 0x47edaee6, 0x92722c85, 0x1482353b,
  0xa2bfe8a1, 0x4cf10364, 0xa81a664b, 0xbc423001, 0xc24b8b70, 0xd0f89791, 0xc76c51a3, 0x0654be30,
  0xd192e819, 0xd6ef5218, 0xd6990624, 0x5565a910, 0xf40e3585, 0x5771202a, 0x106aa070, 0x32bbd1b8,
  0x19a4c116, 0xb8d2d0c8, 0x1e376c08, 0x5141ab53, 0x2748774c, 0xdf8eeb99, 0x34b0bcb5, 0xe19b48a8,
  0x391c0cb3, 0xc5c95a63, 0x4ed8aa4a, 0xe3418acb, 0x5b9cca4f, 0x7763e373, 0x682e6ff3, 0xd6b2b8a3,
  0x748f82ee, 0x5defb2fc, 0x78a5636f, 0x43172f60, 0x84c87814, 0xa1f0ab72, 0x8cc70208, 0x1a6439ec,
  0x90befffa, 0x23631e28, 0xa4506ceb, 0xde82bde9, 0xbef9a3f7, 0xb2c67915, 0xc67178f2, 0xe372532b,
  0xca273ece, 0xea26619c, 0xd186b8c7, 0x21c0c207, 0xeada7dd6, 0xcde0eb1e, 0xf57d4f7f, 0xee6ed178,
  0x06f067aa, 0x72176fba, 0x0a637dc5, 0xa2c898a6, 0x113f9804, 0xbef90dae, 0x1b710b35, 0x131c471b,
  0x28db77f5, 0x23047d84, 0x32caab7b, 0x40c72493, 0x3c9ebe0a, 0x15c9bebc, 0x431d67c4, 0x9c100d4c,
  0x4cc5d4be, 0xcb3e42b6, 0x597f299c, 0xfc657e2a, 0x5fcb6fab, 0x3ad6faec, 0x6c44198c, 0x4a475817,
]);

// FIPS 180-4 5.3.5 (SHA-512) and 5.3.4 (SHA-384): square roots of the first 8 primes, of the 9th to 16th.
const IV512 = [
  0x6a09e667, 0xf3bcc908, 0xbb67ae85, 0x84caa73b, 0x3c6ef372, 0xfe94f82b, 0xa54ff53a, 0x5f1d36f1,
  0x510e527f, 0xade682d1, 0x9b05688c, 0x2b3e6c1f, 0x1f83d9ab, 0xfb41bd6b, 0x5be0cd19, 0x137e2179,
];
const IV384 = [
  0xcbbb9d5d, 0xc1059ed8, 0x629a292a, 0x367cd507, 0x9159015a, 0x3070dd17, 0x152fecd8, 0xf70e5939,
  0x67332667, 0xffc00b31, 0x8eb44a87, 0x68581511, 0xdb0c2e0d, 0x64f98fa7, 0x47b5481d, 0xbefa4fa4,
];

const TWO_32 = 4294967296;

/** The message schedule (80 words as 160 halves), shared by every SHA-512 in the program. */
const W = new Int32Array(160);

/** Compresses `count` 128-byte blocks from m[o..] into `s` (8 words as 16 halves, high first). */
export function sha512Blocks(s: Int32Array, m: Uint8Array, o: number, count: number): void {
  // Locals outside the loops, as in sha256.ts. Names: xh/xl are the high/low halves of word x.
  const w = W;
  let t: number;
  let i: number;
  let xh: number;
  let xl: number;
  let yh: number;
  let yl: number;
  let lo: number;
  let hi: number;
  let ah: number, al: number, bh: number, bl: number, ch: number, cl: number, dh: number, dl: number;
  let eh: number, el: number, fh: number, fl: number, gh: number, gl: number, hh: number, hl: number;
  let t1h: number, t1l: number, t2h: number, t2l: number;
  for (let n = 0; n < count; n++) {
    for (i = 0; i < 32; i++, o += 4) w[i] = (m[o] << 24) | (m[o + 1] << 16) | (m[o + 2] << 8) | m[o + 3];
    for (t = 16; t < 80; t++) {
      // w[t] = sigma1(w[t-2]) + w[t-7] + sigma0(w[t-15]) + w[t-16]
      xh = w[2 * t - 30];
      xl = w[2 * t - 29];
      yh = w[2 * t - 4];
      yl = w[2 * t - 3];
      // sigma0 = ROTR1 ^ ROTR8 ^ SHR7; sigma1 = ROTR19 ^ ROTR61 ^ SHR6
      lo =
        ((((xl >>> 1) | (xh << 31)) ^ ((xl >>> 8) | (xh << 24)) ^ ((xl >>> 7) | (xh << 25))) >>> 0) +
        ((((yl >>> 19) | (yh << 13)) ^ ((yh >>> 29) | (yl << 3)) ^ ((yl >>> 6) | (yh << 26))) >>> 0) +
        (w[2 * t - 13] >>> 0) +
        (w[2 * t - 31] >>> 0);
      hi =
        (((xh >>> 1) | (xl << 31)) ^ ((xh >>> 8) | (xl << 24)) ^ (xh >>> 7)) +
        (((yh >>> 19) | (yl << 13)) ^ ((yl >>> 29) | (yh << 3)) ^ (yh >>> 6)) +
        w[2 * t - 14] +
        w[2 * t - 32] +
        ((lo / TWO_32) | 0);
      w[2 * t] = hi | 0;
      w[2 * t + 1] = lo | 0;
    }
    ah = s[0]; al = s[1]; bh = s[2]; bl = s[3]; ch = s[4]; cl = s[5]; dh = s[6]; dl = s[7];
    eh = s[8]; el = s[9]; fh = s[10]; fl = s[11]; gh = s[12]; gl = s[13]; hh = s[14]; hl = s[15];
    for (t = 0; t < 160; t += 2) {
      // T1 = h + Sigma1(e) + Ch(e, f, g) + K[t] + w[t]; Sigma1 = ROTR14 ^ ROTR18 ^ ROTR41
      lo =
        (hl >>> 0) +
        ((((el >>> 14) | (eh << 18)) ^ ((el >>> 18) | (eh << 14)) ^ ((eh >>> 9) | (el << 23))) >>> 0) +
        ((gl ^ (el & (fl ^ gl))) >>> 0) +
        (K[t + 1] >>> 0) +
        (w[t + 1] >>> 0);
      t1h = (hh + (((eh >>> 14) | (el << 18)) ^ ((eh >>> 18) | (el << 14)) ^ ((el >>> 9) | (eh << 23))) + (gh ^ (eh & (fh ^ gh))) + K[t] + w[t] + ((lo / TWO_32) | 0)) | 0;
      t1l = lo | 0;
      // T2 = Sigma0(a) + Maj(a, b, c); Sigma0 = ROTR28 ^ ROTR34 ^ ROTR39
      lo = ((((al >>> 28) | (ah << 4)) ^ ((ah >>> 2) | (al << 30)) ^ ((ah >>> 7) | (al << 25))) >>> 0) + (((al & bl) | (cl & (al | bl))) >>> 0);
      t2h = ((((ah >>> 28) | (al << 4)) ^ ((al >>> 2) | (ah << 30)) ^ ((al >>> 7) | (ah << 25))) + ((ah & bh) | (ch & (ah | bh))) + ((lo / TWO_32) | 0)) | 0;
      t2l = lo | 0;
      hh = gh; hl = gl;
      gh = fh; gl = fl;
      fh = eh; fl = el;
      lo = (dl >>> 0) + (t1l >>> 0);
      eh = (dh + t1h + ((lo / TWO_32) | 0)) | 0;
      el = lo | 0;
      dh = ch; dl = cl;
      ch = bh; cl = bl;
      bh = ah; bl = al;
      lo = (t1l >>> 0) + (t2l >>> 0);
      ah = (t1h + t2h + ((lo / TWO_32) | 0)) | 0;
      al = lo | 0;
    }
    add(s, 0, ah, al);
    add(s, 2, bh, bl);
    add(s, 4, ch, cl);
    add(s, 6, dh, dl);
    add(s, 8, eh, el);
    add(s, 10, fh, fl);
    add(s, 12, gh, gl);
    add(s, 14, hh, hl);
  }
}

/** s[i..i+1] += (h, l) as one 64-bit word. */
function add(s: Int32Array, i: number, h: number, l: number): void {
  const lo = (s[i + 1] >>> 0) + (l >>> 0);
  s[i] = (s[i] + h + ((lo / TWO_32) | 0)) | 0;
  s[i + 1] = lo | 0;
}

class Sha512Family extends BlockHash {
  private readonly s: Int32Array;
  constructor(
    name: string,
    iv: number[],
    private readonly outWords: number,
  ) {
    super(name, false, 128);
    this.s = new Int32Array(iv);
  }

  protected compress(m: Uint8Array, o: number): void {
    sha512Blocks(this.s, m, o, 1);
  }

  protected override compressRun(m: Uint8Array, o: number, count: number): void {
    sha512Blocks(this.s, m, o, count);
  }

  protected output(): Uint8Array {
    return wordsBe(this.s, this.outWords);
  }
}

export function sha512(): IncrementalHash {
  return new Sha512Family('SHA-512', IV512, 16);
}

/** SHA-384: pass as `sha384` to the Secure Boot checks for ECDSA P-384 signatures. */
export function sha384(): IncrementalHash {
  return new Sha512Family('SHA-384', IV384, 12);
}

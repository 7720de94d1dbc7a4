// AES-128, encryption direction only (FIPS 197). Counter mode and CMAC never run the inverse
// cipher, so the decryption tables are left out. Written here instead of taken from
// @noble/ciphers because its AES code uses Array.prototype.includes (ES2016) and weighs about
// 9 KB minified for the part we need; this one is ES2015 and about 2 KB.
import { OtaflashError, kindOf } from '../errors';

/** S-box and the four combined SubBytes+ShiftRows+MixColumns tables, built once on first use. */
let SBOX: Uint8Array | null = null;
let T0: Uint32Array, T1: Uint32Array, T2: Uint32Array, T3: Uint32Array;

function buildTables(): Uint8Array {
  const sbox = new Uint8Array(256);
  // Powers of the generator 3 give log/antilog tables of GF(2^8); the inverse of 3^k is 3^(255-k).
  const exp = new Uint8Array(256);
  const log = new Uint8Array(256);
  for (let i = 0, x = 1; i < 255; i++) {
    exp[i] = x;
    log[x] = i;
    x ^= (x << 1) ^ (x & 0x80 ? 0x11b : 0); // x * 3
    x &= 0xff;
  }
  for (let i = 0; i < 256; i++) {
    let inv = i === 0 ? 0 : exp[(255 - log[i]) % 255];
    // Affine transform: inv ^ rotl(inv,1..4) ^ 0x63.
    let s = inv;
    for (let r = 0; r < 4; r++) {
      inv = ((inv << 1) | (inv >>> 7)) & 0xff;
      s ^= inv;
    }
    sbox[i] = s ^ 0x63;
  }
  T0 = new Uint32Array(256);
  T1 = new Uint32Array(256);
  T2 = new Uint32Array(256);
  T3 = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    const s = sbox[i];
    const s2 = ((s << 1) ^ (s & 0x80 ? 0x11b : 0)) & 0xff;
    const s3 = s2 ^ s;
    const w = ((s2 << 24) | (s << 16) | (s << 8) | s3) >>> 0;
    T0[i] = w;
    T1[i] = ((w >>> 8) | (w << 24)) >>> 0;
    T2[i] = ((w >>> 16) | (w << 16)) >>> 0;
    T3[i] = ((w >>> 24) | (w << 8)) >>> 0;
  }
  return sbox;
}

/** An expanded AES-128 key: 44 round-key words. */
export interface Aes128Key {
  readonly roundKeys: Uint32Array;
}

function checkKey(key: unknown, what: string): asserts key is Uint8Array {
  if (!(key instanceof Uint8Array)) throw new OtaflashError('CRYPTO_BAD_KEY', `${what} must be a Uint8Array, got ${kindOf(key)}`);
  if (key.length !== 16) throw new OtaflashError('CRYPTO_BAD_KEY', `${what} must be 16 bytes (AES-128), got ${key.length}`);
}

export function expandAes128Key(key: Uint8Array, what = 'AES key'): Aes128Key {
  checkKey(key, what);
  const sbox = SBOX || (SBOX = buildTables());
  const w = new Uint32Array(44);
  for (let i = 0; i < 4; i++) w[i] = ((key[4 * i] << 24) | (key[4 * i + 1] << 16) | (key[4 * i + 2] << 8) | key[4 * i + 3]) >>> 0;
  let rcon = 1;
  for (let i = 4; i < 44; i++) {
    let t = w[i - 1];
    if (i % 4 === 0) {
      // RotWord, SubWord, Rcon.
      t = ((sbox[(t >>> 16) & 0xff] << 24) | (sbox[(t >>> 8) & 0xff] << 16) | (sbox[t & 0xff] << 8) | sbox[t >>> 24]) ^ (rcon << 24);
      rcon = ((rcon << 1) ^ (rcon & 0x80 ? 0x11b : 0)) & 0xff;
    }
    w[i] = (w[i - 4] ^ t) >>> 0;
  }
  return { roundKeys: w };
}

/** Encrypts the 16 bytes at input[inOff..] into output[outOff..] (the two may be the same buffer). */
export function aes128EncryptBlock(key: Aes128Key, input: Uint8Array, inOff: number, output: Uint8Array, outOff: number): void {
  const rk = key.roundKeys;
  const sbox = SBOX as Uint8Array;
  // Locals: V8 and QuickJS both look module-level bindings up more slowly than locals.
  const t0 = T0;
  const t1 = T1;
  const t2 = T2;
  const t3 = T3;
  let s0 = ((input[inOff] << 24) | (input[inOff + 1] << 16) | (input[inOff + 2] << 8) | input[inOff + 3]) ^ rk[0];
  let s1 = ((input[inOff + 4] << 24) | (input[inOff + 5] << 16) | (input[inOff + 6] << 8) | input[inOff + 7]) ^ rk[1];
  let s2 = ((input[inOff + 8] << 24) | (input[inOff + 9] << 16) | (input[inOff + 10] << 8) | input[inOff + 11]) ^ rk[2];
  let s3 = ((input[inOff + 12] << 24) | (input[inOff + 13] << 16) | (input[inOff + 14] << 8) | input[inOff + 15]) ^ rk[3];
  let k = 4;
  for (let round = 1; round < 10; round++, k += 4) {
    const a0 = t0[s0 >>> 24] ^ t1[(s1 >>> 16) & 0xff] ^ t2[(s2 >>> 8) & 0xff] ^ t3[s3 & 0xff] ^ rk[k];
    const a1 = t0[s1 >>> 24] ^ t1[(s2 >>> 16) & 0xff] ^ t2[(s3 >>> 8) & 0xff] ^ t3[s0 & 0xff] ^ rk[k + 1];
    const a2 = t0[s2 >>> 24] ^ t1[(s3 >>> 16) & 0xff] ^ t2[(s0 >>> 8) & 0xff] ^ t3[s1 & 0xff] ^ rk[k + 2];
    const a3 = t0[s3 >>> 24] ^ t1[(s0 >>> 16) & 0xff] ^ t2[(s1 >>> 8) & 0xff] ^ t3[s2 & 0xff] ^ rk[k + 3];
    s0 = a0;
    s1 = a1;
    s2 = a2;
    s3 = a3;
  }
  // Last round: no MixColumns.
  const o0 = ((sbox[s0 >>> 24] << 24) | (sbox[(s1 >>> 16) & 0xff] << 16) | (sbox[(s2 >>> 8) & 0xff] << 8) | sbox[s3 & 0xff]) ^ rk[40];
  const o1 = ((sbox[s1 >>> 24] << 24) | (sbox[(s2 >>> 16) & 0xff] << 16) | (sbox[(s3 >>> 8) & 0xff] << 8) | sbox[s0 & 0xff]) ^ rk[41];
  const o2 = ((sbox[s2 >>> 24] << 24) | (sbox[(s3 >>> 16) & 0xff] << 16) | (sbox[(s0 >>> 8) & 0xff] << 8) | sbox[s1 & 0xff]) ^ rk[42];
  const o3 = ((sbox[s3 >>> 24] << 24) | (sbox[(s0 >>> 16) & 0xff] << 16) | (sbox[(s1 >>> 8) & 0xff] << 8) | sbox[s2 & 0xff]) ^ rk[43];
  putWord(output, outOff, o0);
  putWord(output, outOff + 4, o1);
  putWord(output, outOff + 8, o2);
  putWord(output, outOff + 12, o3);
}

function putWord(out: Uint8Array, at: number, w: number): void {
  out[at] = w >>> 24;
  out[at + 1] = (w >>> 16) & 0xff;
  out[at + 2] = (w >>> 8) & 0xff;
  out[at + 3] = w & 0xff;
}

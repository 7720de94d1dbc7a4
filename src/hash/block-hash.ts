// The Merkle-Damgard framing that MD5, SHA-1, SHA-256 and SHA-384/512 share (RFC 1321 section
// 3.1-3.2, FIPS 180-4 sections 5.1.1-5.1.2): 64-byte blocks (128 for SHA-384/512), a 0x80 byte,
// zeros, and the message length in bits in the last 8 bytes (16 for SHA-384/512; little-endian for
// MD5, big-endian for SHA). Subclasses supply only the compression function and the output words.
//
// Written for small interpreters (QuickJS, JerryScript, Espruino, Duktape): whole blocks are
// compressed straight from the caller's array, only a partial block is copied, and nothing is
// allocated per byte or per block. ES2015, no BigInt: the length is kept as a plain number of
// bytes (exact up to 2^53) and split into two 32-bit words when padding.
import { OtaflashError, kindOf } from '../errors';
import type { IncrementalHash } from './types';

/** 2^29: bytes * 8 overflows 32 bits at this many bytes. */
const BYTES_PER_HI_WORD = 0x20000000;

export abstract class BlockHash implements IncrementalHash {
  /** The partial block waiting for more bytes. */
  private readonly buf: Uint8Array;
  private fill = 0;
  private total = 0;
  private finished = false;

  constructor(
    private readonly name: string,
    private readonly littleEndian: boolean,
    /** Bytes per block: 64, or 128 for SHA-384/512. */
    private readonly block = 64,
  ) {
    this.buf = new Uint8Array(block);
  }

  /** Compresses the 64 bytes at m[o..o+64) into the state. */
  protected abstract compress(m: Uint8Array, o: number): void;

  /**
   * Compresses `count` whole blocks from m[o..]. One call per update() for the aligned middle of a
   * chunk, so a host's native block function (hostHashes' `blocks`) is crossed into once per chunk.
   */
  protected compressRun(m: Uint8Array, o: number, count: number): void {
    for (let k = 0; k < count; k++, o += this.block) this.compress(m, o);
  }

  /** The state as output bytes (called once, after the last block). */
  protected abstract output(): Uint8Array;

  update(data: Uint8Array): this {
    if (this.finished) throw new OtaflashError('HASH_FINISHED', `${this.name}: update() after digest(); start a new hash`);
    if (!(data instanceof Uint8Array)) throw new OtaflashError('HASH_BAD_INPUT', `${this.name}: update() takes a Uint8Array, got ${kindOf(data)}`);
    const n = data.length;
    const bs = this.block;
    this.total += n;
    let i = 0;
    if (this.fill > 0) {
      const take = Math.min(bs - this.fill, n);
      for (let k = 0; k < take; k++) this.buf[this.fill + k] = data[k];
      this.fill += take;
      i = take;
      if (this.fill < bs) return this;
      this.compress(this.buf, 0);
      this.fill = 0;
    }
    const whole = Math.floor((n - i) / bs);
    if (whole > 0) {
      this.compressRun(data, i, whole);
      i += whole * bs;
    }
    const tail = n - i;
    for (let k = 0; k < tail; k++) this.buf[k] = data[i + k];
    this.fill = tail;
    return this;
  }

  digest(): Uint8Array {
    if (this.finished) throw new OtaflashError('HASH_FINISHED', `${this.name}: digest() called twice; start a new hash`);
    this.finished = true;
    const buf = this.buf;
    const bs = this.block;
    // The length field: 8 bytes, 16 for 128-byte blocks (whose upper 8 stay zero: lengths here are below 2^53 bytes).
    const lengthBytes = bs >> 3;
    let f = this.fill;
    buf[f++] = 0x80;
    if (f > bs - lengthBytes) {
      while (f < bs) buf[f++] = 0;
      this.compress(buf, 0);
      f = 0;
    }
    while (f < bs - 8) buf[f++] = 0;
    const lo = (this.total % BYTES_PER_HI_WORD) * 8;
    const hi = Math.floor(this.total / BYTES_PER_HI_WORD);
    if (this.littleEndian) {
      putLe(buf, bs - 8, lo);
      putLe(buf, bs - 4, hi);
    } else {
      putBe(buf, bs - 8, hi);
      putBe(buf, bs - 4, lo);
    }
    this.compress(buf, 0);
    return this.output();
  }
}

export function putBe(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = v >>> 16;
  b[o + 2] = v >>> 8;
  b[o + 3] = v;
}

export function putLe(b: Uint8Array, o: number, v: number): void {
  b[o] = v;
  b[o + 1] = v >>> 8;
  b[o + 2] = v >>> 16;
  b[o + 3] = v >>> 24;
}

/** Words to bytes, big-endian (SHA output). */
export function wordsBe(s: Int32Array, count: number): Uint8Array {
  const out = new Uint8Array(count * 4);
  for (let i = 0; i < count; i++) putBe(out, i * 4, s[i]);
  return out;
}

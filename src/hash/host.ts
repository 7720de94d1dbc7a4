// Hashing through the host: a device runtime hands otaflash its native SHA-256, MD5 and CRC-32
// (a hardware SHA peripheral, a C library bound into the engine, Espruino's `crypto`), and gets back
// a HashProvider to pass as `hashes` (OtaEngine.open, readPartitionTable, ...) or to install with
// setDefaultHashes. Native hashes come in three shapes, and each becomes the same incremental hash:
//
//  - `create`: an incremental native object (update(bytes) any number of times, digest() once), such
//    as mbedTLS's mbedtls_sha256_update/finish bound by a C host. Chunks are passed straight through.
//  - `blocks`: a native function that compresses whole 64-byte blocks into a state (a SHA accelerator
//    fed block by block, or a compiled C/assembly routine). The JS side keeps the partial block,
//    pads, and writes the length (block-hash.ts), so the native part needs no buffering at all.
//  - `oneShot`: a native function that hashes one whole message (Espruino's crypto.SHA256(data),
//    many firmwares' sha256(buf)). It cannot continue a hash, so it serves messages up to `maxBytes`
//    (buffered); a longer message (an app image) is handed to the portable JS hash from its start.
//
// A wrong binding (byte order, a hex string where bytes were expected, a truncated digest) would
// make every image look corrupt or, worse, a corrupt one look good; so each native hash is checked
// once against a published test vector when the provider is made (HASH_HOST_MISMATCH).
import { OtaflashError, kindOf } from '../errors';
import { BlockHash, putLe, wordsBe } from './block-hash';
import { portableHashes } from './portable';
import type { HashProvider, IncrementalHash } from './types';

/** What a native digest may come back as: bytes, an ArrayBuffer, an array of numbers, or hex text. */
export type NativeDigest = Uint8Array | ArrayBuffer | ArrayLike<number> | string;

export interface NativeIncrementalHash {
  update(data: Uint8Array): unknown;
  digest(): NativeDigest;
}

/**
 * A native hash in one of three shapes (see the top of this file). `blocks(state, data, offset, count)`
 * compresses data[offset .. offset + 64 * count) into `state` (Int32Array: 8 words for SHA-256 in
 * FIPS 180-4 order, 4 words for MD5 in RFC 1321 order, words as the algorithm defines them).
 */
export type NativeHash =
  | { create: () => NativeIncrementalHash }
  | { blocks: (state: Int32Array, data: Uint8Array, offset: number, count: number) => void }
  | { oneShot: (data: Uint8Array) => NativeDigest; maxBytes?: number };

export interface HostHashOptions {
  sha256?: NativeHash;
  md5?: NativeHash;
  /** CRC-32 with zlib's chaining: crc32(b, crc32(a)) === crc32(a + b); `previous` is unsigned or signed. */
  crc32?: (data: Uint8Array, previous: number) => number;
  /** A CRC-32 that cannot chain (Espruino's E.CRC32(data)): used when `previous` is 0, else the fallback. */
  crc32OneShot?: (data: Uint8Array) => number;
  /** What serves everything the host does not (default portableHashes). */
  fallback?: HashProvider;
  /** Check each native hash against a published vector now (default true). */
  selfTest?: boolean;
}

/** One-shot natives buffer at most this much unless told otherwise (a partition table, a record). */
const ONE_SHOT_DEFAULT_MAX = 4096;

const SHA256_IV = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
const MD5_IV = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476];

function digestBytes(name: string, d: NativeDigest, length: number): Uint8Array {
  let out: Uint8Array | null = null;
  if (d instanceof Uint8Array) out = d;
  else if (d instanceof ArrayBuffer) out = new Uint8Array(d);
  else if (typeof d === 'string') {
    if (d.length === length * 2 && /^[0-9a-fA-F]*$/.test(d)) {
      out = new Uint8Array(length);
      for (let i = 0; i < length; i++) out[i] = parseInt(d.substr(i * 2, 2), 16);
    }
  } else if (d !== null && typeof d === 'object' && typeof (d as ArrayLike<number>).length === 'number') {
    const a = d as ArrayLike<number>;
    out = new Uint8Array(a.length);
    for (let i = 0; i < a.length; i++) out[i] = a[i];
  }
  if (!out || out.length !== length) {
    throw new OtaflashError('HASH_HOST_BAD_DIGEST', `host ${name}: digest() gave ${out ? `${out.length} bytes` : kindOf(d)}, expected ${length} bytes (Uint8Array, ArrayBuffer, array or ${length * 2} hex digits)`);
  }
  return out;
}

/** A native incremental hash behind the IncrementalHash interface. */
class NativeStream implements IncrementalHash {
  private done = false;
  constructor(
    private readonly name: string,
    private readonly inner: NativeIncrementalHash,
    private readonly length: number,
  ) {}
  update(data: Uint8Array): this {
    if (this.done) throw new OtaflashError('HASH_FINISHED', `host ${this.name}: update() after digest(); start a new hash`);
    if (!(data instanceof Uint8Array)) throw new OtaflashError('HASH_BAD_INPUT', `host ${this.name}: update() takes a Uint8Array, got ${kindOf(data)}`);
    if (data.length > 0) this.inner.update(data);
    return this;
  }
  digest(): Uint8Array {
    if (this.done) throw new OtaflashError('HASH_FINISHED', `host ${this.name}: digest() called twice; start a new hash`);
    this.done = true;
    return digestBytes(this.name, this.inner.digest(), this.length);
  }
}

/** Padding and buffering in JS, whole blocks compressed by the host. */
class NativeBlocks extends BlockHash {
  private readonly s: Int32Array;
  constructor(
    name: string,
    private readonly md5: boolean,
    private readonly blocks: (state: Int32Array, data: Uint8Array, offset: number, count: number) => void,
  ) {
    super(name, md5);
    this.s = new Int32Array(md5 ? MD5_IV : SHA256_IV);
  }
  protected compress(m: Uint8Array, o: number): void {
    this.blocks(this.s, m, o, 1);
  }
  protected override compressRun(m: Uint8Array, o: number, count: number): void {
    this.blocks(this.s, m, o, count);
  }
  protected output(): Uint8Array {
    if (!this.md5) return wordsBe(this.s, 8);
    const out = new Uint8Array(16);
    for (let i = 0; i < 4; i++) putLe(out, i * 4, this.s[i]);
    return out;
  }
}

/** Buffers up to `max` bytes for the one-shot native; beyond that, the portable hash takes over. */
class OneShotOrFallback implements IncrementalHash {
  private buf: Uint8Array | null = null;
  private fill = 0;
  private js: IncrementalHash | null = null;
  private done = false;
  constructor(
    private readonly name: string,
    private readonly oneShot: (data: Uint8Array) => NativeDigest,
    private readonly max: number,
    private readonly length: number,
    private readonly fallback: () => IncrementalHash,
  ) {}
  update(data: Uint8Array): this {
    if (this.done) throw new OtaflashError('HASH_FINISHED', `host ${this.name}: update() after digest(); start a new hash`);
    if (!(data instanceof Uint8Array)) throw new OtaflashError('HASH_BAD_INPUT', `host ${this.name}: update() takes a Uint8Array, got ${kindOf(data)}`);
    if (this.js) {
      this.js.update(data);
      return this;
    }
    if (this.fill + data.length > this.max) {
      // Longer than the one-shot may see: the JS hash continues from the first byte.
      this.js = this.fallback();
      if (this.fill > 0) this.js.update(this.buf!.subarray(0, this.fill));
      this.js.update(data);
      this.buf = null;
      return this;
    }
    if (!this.buf) this.buf = new Uint8Array(Math.min(this.max, Math.max(64, data.length)));
    if (this.fill + data.length > this.buf.length) {
      const grown = new Uint8Array(Math.min(this.max, Math.max(this.buf.length * 2, this.fill + data.length)));
      grown.set(this.buf.subarray(0, this.fill));
      this.buf = grown;
    }
    this.buf.set(data, this.fill);
    this.fill += data.length;
    return this;
  }
  digest(): Uint8Array {
    if (this.done) throw new OtaflashError('HASH_FINISHED', `host ${this.name}: digest() called twice; start a new hash`);
    this.done = true;
    if (this.js) return this.js.digest();
    const msg = this.buf ? this.buf.subarray(0, this.fill) : new Uint8Array(0);
    return digestBytes(this.name, this.oneShot(msg), this.length);
  }
}

function factory(name: string, spec: NativeHash | undefined, md5: boolean, fallback: () => IncrementalHash): () => IncrementalHash {
  if (spec === undefined) return fallback;
  const length = md5 ? 16 : 32;
  const s = spec as Record<string, unknown>;
  if (spec === null || typeof spec !== 'object') throw new OtaflashError('HASH_BAD_ARGUMENT', `hostHashes: ${name} must be { create }, { blocks } or { oneShot }, got ${kindOf(spec)}`);
  if (typeof s.create === 'function') {
    const create = s.create as () => NativeIncrementalHash;
    return () => {
      const inner = create();
      if (!inner || typeof inner.update !== 'function' || typeof inner.digest !== 'function') {
        throw new OtaflashError('HASH_HOST_BAD_DIGEST', `host ${name}: create() must return an object with update() and digest(), got ${kindOf(inner)}`);
      }
      return new NativeStream(name, inner, length);
    };
  }
  if (typeof s.blocks === 'function') {
    const blocks = s.blocks as (state: Int32Array, data: Uint8Array, offset: number, count: number) => void;
    return () => new NativeBlocks(`host ${name}`, md5, blocks);
  }
  if (typeof s.oneShot === 'function') {
    const max = s.maxBytes === undefined ? ONE_SHOT_DEFAULT_MAX : (s.maxBytes as number);
    if (!(typeof max === 'number' && max >= 0 && max === Math.floor(max))) throw new OtaflashError('HASH_BAD_ARGUMENT', `hostHashes: ${name}.maxBytes must be a whole number of bytes, got ${String(s.maxBytes)}`);
    const oneShot = s.oneShot as (data: Uint8Array) => NativeDigest;
    return () => new OneShotOrFallback(name, oneShot, max, length, fallback);
  }
  throw new OtaflashError('HASH_BAD_ARGUMENT', `hostHashes: ${name} has none of create(), blocks() or oneShot()`);
}

// Published vectors for the self-test: FIPS 180-4's "abc" and the 448-bit message (two blocks once
// padded), RFC 1321's "message digest" and its 80-digit message (two blocks).
const ABC = [0x61, 0x62, 0x63];
const SELF_TEST: { [k: string]: [number[] | string, string][] } = {
  sha256: [
    [ABC, 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'],
    ['abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq', '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1'],
  ],
  md5: [
    ['message digest', 'f96b697d7cb7938d525a2f31aaf161d0'],
    ['12345678901234567890123456789012345678901234567890123456789012345678901234567890', '57edf4a22be3c955ac49da2e2107b67a'],
  ],
};

function bytesOf(m: number[] | string): Uint8Array {
  if (typeof m !== 'string') return new Uint8Array(m);
  const out = new Uint8Array(m.length);
  for (let i = 0; i < m.length; i++) out[i] = m.charCodeAt(i);
  return out;
}

function hexOf(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += (b[i] < 16 ? '0' : '') + b[i].toString(16);
  return s;
}

function selfTest(name: 'sha256' | 'md5', make: () => IncrementalHash): void {
  const cases = SELF_TEST[name];
  for (let i = 0; i < cases.length; i++) {
    const msg = bytesOf(cases[i][0]);
    // Fed in two uneven pieces, so a native that keeps only the last update() is caught too.
    const got = hexOf(make().update(msg.subarray(0, 1)).update(msg.subarray(1)).digest());
    if (got !== cases[i][1]) {
      throw new OtaflashError('HASH_HOST_MISMATCH', `host ${name} gives ${got} for a published test vector whose digest is ${cases[i][1]}: check the binding (byte order, digest format, update() chaining)`, { algorithm: name });
    }
  }
}

function checkCrc(name: string, f: (data: Uint8Array, previous: number) => number, chained: boolean): void {
  // The CRC-32 check value (CRC catalogue: CRC-32/ISO-HDLC of "123456789" is 0xcbf43926).
  const digits = bytesOf('123456789');
  const got = chained ? f(digits.subarray(4), f(digits.subarray(0, 4), 0)) >>> 0 : f(digits, 0) >>> 0;
  if (got !== 0xcbf43926) {
    throw new OtaflashError('HASH_HOST_MISMATCH', `host ${name} gives 0x${got.toString(16)} for "123456789"${chained ? ' fed in two pieces' : ''}; CRC-32 (zlib's) gives 0xcbf43926`, { algorithm: 'crc32' });
  }
}

/**
 * A HashProvider over the host's native hashes (see the top of this file); what the host does not
 * supply comes from `fallback` (portableHashes). Throws HASH_HOST_MISMATCH when a native hash fails
 * its published test vector (unless `selfTest: false`).
 */
export function hostHashes(opts: HostHashOptions): HashProvider {
  if (opts === null || typeof opts !== 'object') throw new OtaflashError('HASH_BAD_ARGUMENT', `hostHashes takes an options object, got ${kindOf(opts)}`);
  const fallback = opts.fallback ?? portableHashes;
  const sha256 = factory('sha256', opts.sha256, false, () => fallback.sha256());
  const md5 = factory('md5', opts.md5, true, () => fallback.md5());
  let crc32 = (data: Uint8Array, previous?: number) => fallback.crc32(data, previous);
  const native = opts.crc32;
  const oneShot = opts.crc32OneShot;
  if (native !== undefined) {
    if (typeof native !== 'function') throw new OtaflashError('HASH_BAD_ARGUMENT', `hostHashes: crc32 must be a function (data, previous) => number, got ${kindOf(native)}`);
    crc32 = (data, previous = 0) => native(data, previous >>> 0) >>> 0;
  } else if (oneShot !== undefined) {
    if (typeof oneShot !== 'function') throw new OtaflashError('HASH_BAD_ARGUMENT', `hostHashes: crc32OneShot must be a function (data) => number, got ${kindOf(oneShot)}`);
    crc32 = (data, previous = 0) => ((previous | 0) === 0 ? oneShot(data) >>> 0 : fallback.crc32(data, previous));
  }
  if (opts.selfTest !== false) {
    if (opts.sha256 !== undefined) selfTest('sha256', sha256);
    if (opts.md5 !== undefined) selfTest('md5', md5);
    if (native !== undefined) checkCrc('crc32', crc32, true);
    else if (oneShot !== undefined) checkCrc('crc32OneShot', (d) => oneShot(d) >>> 0, false);
  }
  return { sha256, md5, crc32 };
}

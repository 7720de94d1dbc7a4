// The delta package: one file that updates several source versions to one target. An index first
// (so a device streaming it knows, before the first blob arrives, which patch it needs and can
// refuse before erasing anything), then the blobs in index order. Layout, all integers
// little-endian (docs/delta.md has it byte for byte):
//
//   0   4   magic "ODPK"
//   4   1   format version (1)
//   5   1   flags: bit 0 = the full target image follows the patches; bit 1 = signed; other bits 0
//   6   2   number of patches N (at least 1 unless the full image is included)
//   8   4   index length H (bytes from offset 0 up to and including the CRC below)
//   12  4   target image size
//   16  32  target image SHA-256
//   48  1   target version length L, then L bytes of UTF-8
//   then N entries: 32 source SHA-256, 4 source size, 4 patch size, 1 version length V, V bytes
//   H-4 4   CRC-32 (zlib) of bytes [0, H-4)
//   signed (flag bit 1) only: at H, 4 bytes S, then S bytes: a detached signature (1..3 Secure Boot
//       V2 blocks, formats/detached-signature.ts) over bytes [0, H), the index with its CRC. The index
//       holds the target's size and SHA-256, so the signature binds the image the package installs.
//   then the N patches (detools sequential patches), then the full image if flag bit 0
import { OtaflashError } from '../errors';
import { crc32 } from '../hash/portable';
import { utf8Decode, utf8Encode } from '../formats/utf8';

export const DELTA_PACKAGE_MAGIC = [0x4f, 0x44, 0x50, 0x4b]; // "ODPK"
export const DELTA_PACKAGE_VERSION = 1;
const FIXED = 48;
const FLAG_FULL = 1;
const FLAG_SIGNED = 2;
const SIGNATURE_BLOCK = 1216;

export interface DeltaPackageEntry {
  /** SHA-256 of the source image (the bytes the patch reads as its old image). */
  readonly sourceSha256: Uint8Array;
  readonly sourceSize: number;
  readonly sourceVersion: string;
  readonly patchSize: number;
  /** Offset of the patch in the package. */
  readonly offset: number;
}

export interface DeltaPackageIndex {
  readonly targetVersion: string;
  readonly targetSha256: Uint8Array;
  readonly targetSize: number;
  readonly patches: readonly DeltaPackageEntry[];
  /** Offset of the full image, or null when the package has none. */
  readonly fullImageOffset: number | null;
  /** Bytes of the index, CRC included: the range a signature covers. */
  readonly indexLength: number;
  /** The detached signature over the index (1..3 blocks of 1216 bytes), or null when unsigned. */
  readonly signature: Uint8Array | null;
  /** Index plus signature section: where the first blob starts. */
  readonly headerLength: number;
  /** Bytes of the whole package. */
  readonly totalLength: number;
}

export interface DeltaPackageInput {
  targetVersion: string;
  targetSha256: Uint8Array;
  targetSize: number;
  patches: { sourceSha256: Uint8Array; sourceSize: number; sourceVersion: string; patch: Uint8Array }[];
  fullImage?: Uint8Array;
  /** Signs the index bytes (host side: signDetached with the keys) and returns the signature. */
  sign?: (index: Uint8Array) => Uint8Array;
}

function bad(code: string, message: string, info?: Record<string, unknown>): never {
  throw new OtaflashError(code, message, info);
}

function text(b: Uint8Array, what: string): string {
  const s = utf8Decode(b);
  if (s === null) bad('DELTA_PACKAGE_CORRUPT', `delta package ${what} is not valid UTF-8`);
  return s;
}

function u16(b: Uint8Array, at: number): number {
  return b[at] | (b[at + 1] << 8);
}

function u32(b: Uint8Array, at: number): number {
  return (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0;
}

function put32(b: Uint8Array, at: number, v: number): void {
  b[at] = v & 0xff;
  b[at + 1] = (v >>> 8) & 0xff;
  b[at + 2] = (v >>> 16) & 0xff;
  b[at + 3] = (v >>> 24) & 0xff;
}

function checkU32(v: number, what: string): void {
  if (!(typeof v === 'number' && v >= 0 && v <= 0xffffffff && v === Math.floor(v))) bad('DELTA_BAD_ARGUMENT', `${what} ${String(v)} is not a 32-bit size`);
}

function checkSha(b: unknown, what: string): void {
  if (!(b instanceof Uint8Array) || b.length !== 32) bad('DELTA_BAD_ARGUMENT', `${what} must be a 32-byte SHA-256`);
}

function versionBytes(v: string, what: string): Uint8Array {
  if (typeof v !== 'string') bad('DELTA_BAD_ARGUMENT', `${what} must be a string`);
  const b = utf8Encode(v);
  if (b.length > 255) bad('DELTA_BAD_ARGUMENT', `${what} is ${b.length} bytes of UTF-8, more than 255`);
  return b;
}

/** Builds a package (host side: every blob is at hand). */
export function encodeDeltaPackage(p: DeltaPackageInput): Uint8Array {
  checkSha(p.targetSha256, 'targetSha256');
  checkU32(p.targetSize, 'targetSize');
  if (p.patches.length > 0xffff) bad('DELTA_BAD_ARGUMENT', `${p.patches.length} patches, at most 65535`);
  if (p.patches.length === 0 && !p.fullImage) bad('DELTA_BAD_ARGUMENT', 'a package needs at least one patch or the full image');
  if (p.fullImage && p.fullImage.length !== p.targetSize) bad('DELTA_BAD_ARGUMENT', `the full image is ${p.fullImage.length} bytes, the target size ${p.targetSize}`);
  const tv = versionBytes(p.targetVersion, 'targetVersion');
  const entries = p.patches.map((e, i) => {
    checkSha(e.sourceSha256, `patches[${i}].sourceSha256`);
    checkU32(e.sourceSize, `patches[${i}].sourceSize`);
    if (!(e.patch instanceof Uint8Array)) bad('DELTA_BAD_ARGUMENT', `patches[${i}].patch must be a Uint8Array`);
    return { e, v: versionBytes(e.sourceVersion, `patches[${i}].sourceVersion`) };
  });
  let h = FIXED + 1 + tv.length + 4;
  for (const x of entries) h += 41 + x.v.length;
  let total = h;
  for (const x of entries) total += x.e.patch.length;
  if (p.fullImage) total += p.fullImage.length;
  checkU32(total, 'package size');
  const out = new Uint8Array(total);
  out.set(DELTA_PACKAGE_MAGIC, 0);
  out[4] = DELTA_PACKAGE_VERSION;
  out[5] = p.fullImage ? FLAG_FULL : 0;
  out[6] = entries.length & 0xff;
  out[7] = entries.length >>> 8;
  put32(out, 8, h);
  put32(out, 12, p.targetSize);
  out.set(p.targetSha256, 16);
  out[48] = tv.length;
  out.set(tv, 49);
  let at = 49 + tv.length;
  for (const x of entries) {
    out.set(x.e.sourceSha256, at);
    put32(out, at + 32, x.e.sourceSize);
    put32(out, at + 36, x.e.patch.length);
    out[at + 40] = x.v.length;
    out.set(x.v, at + 41);
    at += 41 + x.v.length;
  }
  put32(out, at, crc32(out.subarray(0, at)));
  at += 4;
  for (const x of entries) {
    out.set(x.e.patch, at);
    at += x.e.patch.length;
  }
  if (p.fullImage) out.set(p.fullImage, at);
  return p.sign ? signDeltaPackage(out, p.sign) : out;
}

/**
 * The package with a signature over its index (replacing one it had): the signed flag set, the
 * index CRC recomputed, `sign(index)` placed after the index, the blobs unchanged after that.
 */
export function signDeltaPackage(pkg: Uint8Array, sign: (index: Uint8Array) => Uint8Array): Uint8Array {
  const idx = decodeDeltaPackageIndex(pkg, pkg.length);
  const h = idx.indexLength;
  const index = pkg.slice(0, h);
  index[5] |= FLAG_SIGNED;
  put32(index, h - 4, crc32(index.subarray(0, h - 4)));
  const sig = sign(index);
  if (!(sig instanceof Uint8Array) || sig.length === 0 || sig.length % SIGNATURE_BLOCK !== 0 || sig.length > 3 * SIGNATURE_BLOCK) {
    bad('DELTA_BAD_ARGUMENT', `a package signature is 1 to 3 blocks of ${SIGNATURE_BLOCK} bytes, the signer gave ${sig instanceof Uint8Array ? sig.length + ' bytes' : 'no bytes'}`);
  }
  const blobs = pkg.subarray(idx.headerLength);
  const out = new Uint8Array(h + 4 + sig.length + blobs.length);
  out.set(index, 0);
  put32(out, h, sig.length);
  out.set(sig, h + 4);
  out.set(blobs, h + 4 + sig.length);
  return out;
}

/** The package without its signature (flag cleared, CRC recomputed): what it was before signing. */
export function unsignDeltaPackage(pkg: Uint8Array): Uint8Array {
  const idx = decodeDeltaPackageIndex(pkg, pkg.length);
  const h = idx.indexLength;
  const blobs = pkg.subarray(idx.headerLength);
  const out = new Uint8Array(h + blobs.length);
  out.set(pkg.subarray(0, h), 0);
  out[5] &= ~FLAG_SIGNED;
  put32(out, h - 4, crc32(out.subarray(0, h - 4)));
  out.set(blobs, h);
  return out;
}

/** True when `b` starts like a delta package (its magic). */
export function isDeltaPackage(b: Uint8Array): boolean {
  return b.length >= 4 && b[0] === DELTA_PACKAGE_MAGIC[0] && b[1] === DELTA_PACKAGE_MAGIC[1] && b[2] === DELTA_PACKAGE_MAGIC[2] && b[3] === DELTA_PACKAGE_MAGIC[3];
}

/**
 * Bytes of the index, from the first 12 bytes of a package (null when fewer have arrived), so a
 * streaming reader knows how much to collect before decodeDeltaPackageIndex.
 */
export function deltaPackageIndexLength(prefix: Uint8Array): number | null {
  if (prefix.length < 12) return null;
  if (!isDeltaPackage(prefix)) bad('DELTA_PACKAGE_BAD_MAGIC', 'not a delta package (no "ODPK" magic)');
  if (prefix[4] !== DELTA_PACKAGE_VERSION) bad('DELTA_PACKAGE_VERSION', `delta package format version ${prefix[4]}; this library reads version ${DELTA_PACKAGE_VERSION}`, { version: prefix[4] });
  const h = u32(prefix, 8);
  if (h < FIXED + 5 || h > 16 * 1024 * 1024) bad('DELTA_PACKAGE_CORRUPT', `delta package index length ${h} is out of range`);
  return h;
}

/**
 * How many bytes of the package the header needs, judged from what has arrived: 12 to learn the
 * index length, then the index, then (signed) 4 more for the signature length, then the signature.
 * The header is complete when `prefix.length` reaches the value this returns for that prefix.
 */
export function deltaPackageHeaderNeed(prefix: Uint8Array): number {
  const h = deltaPackageIndexLength(prefix);
  if (h === null) return 12;
  if ((prefix[5] & FLAG_SIGNED) === 0) return h;
  if (prefix.length < h + 4) return h + 4;
  return h + 4 + signatureLength(prefix, h);
}

function signatureLength(b: Uint8Array, h: number): number {
  const s = u32(b, h);
  if (s === 0 || s % SIGNATURE_BLOCK !== 0 || s > 3 * SIGNATURE_BLOCK) {
    bad('DELTA_PACKAGE_CORRUPT', `delta package signature length ${s} at ${h} is not 1 to 3 blocks of ${SIGNATURE_BLOCK} bytes`, { length: s });
  }
  return s;
}

/** Decodes the index (and signature section) from the package's first bytes (at least its header). */
export function decodeDeltaPackageIndex(b: Uint8Array, totalLength?: number): DeltaPackageIndex {
  const h = deltaPackageIndexLength(b);
  if (h === null || b.length < h) bad('DELTA_TRUNCATED', `the delta package ends inside its index (${b.length} bytes${h !== null ? ` of ${h}` : ''})`);
  if ((b[5] & ~(FLAG_FULL | FLAG_SIGNED)) !== 0) bad('DELTA_PACKAGE_CORRUPT', `delta package flags ${b[5]} have unknown bits set`);
  const crc = u32(b, h - 4);
  const calc = crc32(b.subarray(0, h - 4));
  if (crc !== calc) bad('DELTA_PACKAGE_CORRUPT', `delta package index CRC is ${crc.toString(16)}, computed ${calc.toString(16)}: the index is damaged`);
  const n = u16(b, 6);
  const full = (b[5] & FLAG_FULL) !== 0;
  const targetSize = u32(b, 12);
  const targetSha256 = b.slice(16, 48);
  const tl = b[48];
  let at = 49 + tl;
  if (at > h - 4) bad('DELTA_PACKAGE_CORRUPT', 'delta package target version runs past the index');
  const targetVersion = text(b.subarray(49, at), 'target version');
  const patches: DeltaPackageEntry[] = [];
  let signature: Uint8Array | null = null;
  let headerLength = h;
  if ((b[5] & FLAG_SIGNED) !== 0) {
    if (b.length < h + 4) bad('DELTA_TRUNCATED', `the signed delta package ends before its signature length (${b.length} bytes of ${h + 4})`);
    const s = signatureLength(b, h);
    if (b.length < h + 4 + s) bad('DELTA_TRUNCATED', `the signed delta package ends inside its signature (${b.length} bytes of ${h + 4 + s})`);
    signature = b.slice(h + 4, h + 4 + s);
    headerLength = h + 4 + s;
  }
  let blob = headerLength;
  for (let i = 0; i < n; i++) {
    if (at + 41 > h - 4) bad('DELTA_PACKAGE_CORRUPT', `delta package entry ${i} runs past the index`);
    const vl = b[at + 40];
    if (at + 41 + vl > h - 4) bad('DELTA_PACKAGE_CORRUPT', `delta package entry ${i}'s version runs past the index`);
    const patchSize = u32(b, at + 36);
    patches.push({
      sourceSha256: b.slice(at, at + 32),
      sourceSize: u32(b, at + 32),
      patchSize,
      sourceVersion: text(b.subarray(at + 41, at + 41 + vl), `entry ${i} version`),
      offset: blob,
    });
    blob += patchSize;
    at += 41 + vl;
  }
  if (at !== h - 4) bad('DELTA_PACKAGE_CORRUPT', `delta package index has ${h - 4 - at} unexplained bytes before its CRC`);
  if (n === 0 && !full) bad('DELTA_PACKAGE_CORRUPT', 'delta package with neither a patch nor the full image');
  const fullImageOffset = full ? blob : null;
  const total = blob + (full ? targetSize : 0);
  if (totalLength !== undefined && totalLength !== total) {
    bad(totalLength < total ? 'DELTA_TRUNCATED' : 'DELTA_PATCH_TOO_LONG', `the delta package is ${totalLength} bytes, its index describes ${total}`, { size: totalLength, expected: total });
  }
  return { targetVersion, targetSha256, targetSize, patches, fullImageOffset, indexLength: h, signature, headerLength, totalLength: total };
}

export function sha256Hex(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += (b[i] < 16 ? '0' : '') + b[i].toString(16);
  return s;
}

/** Which blob of a package to install: a patch (by index in `patches`) or the full image. */
export type DeltaPackageChoice = { kind: 'patch'; index: number; entry: DeltaPackageEntry } | { kind: 'full' };

/**
 * Picks the patch whose source is the image `sourceHash(size)` describes (the SHA-256 of the first
 * `size` bytes of the running slot), else the full image when `allowFull` and the package has it.
 * Throws DELTA_SOURCE_MISMATCH naming every source the package expects.
 */
export function choosePackageBlob(index: DeltaPackageIndex, sourceHash: (size: number) => Uint8Array | null, allowFull = true): DeltaPackageChoice {
  const seen: Record<number, string> = {};
  for (let i = 0; i < index.patches.length; i++) {
    const e = index.patches[i];
    if (!(e.sourceSize in seen)) {
      const h = sourceHash(e.sourceSize);
      seen[e.sourceSize] = h ? sha256Hex(h) : '';
    }
    if (seen[e.sourceSize] === sha256Hex(e.sourceSha256)) return { kind: 'patch', index: i, entry: e };
  }
  if (allowFull && index.fullImageOffset !== null) return { kind: 'full' };
  const expected = index.patches.map((e) => `${e.sourceVersion || '(no version)'} (${e.sourceSize} bytes, SHA-256 ${sha256Hex(e.sourceSha256).slice(0, 16)}…)`);
  const sizes = Object.keys(seen);
  const running = sizes.length > 0 ? sizes.map((s) => (seen[Number(s)] ? `${seen[Number(s)].slice(0, 16)}… over its first ${s} bytes` : `shorter than ${s} bytes`)).join(', ') : 'not hashed';
  bad('DELTA_SOURCE_MISMATCH', `no patch in this package is for the running image (SHA-256 ${running}); it expects ${expected.length === 1 ? 'source' : 'one of the sources'} ${expected.join('; ')}${index.fullImageOffset === null ? ', and holds no full image' : ''}`, {
    expected: index.patches.map((e) => ({ version: e.sourceVersion, size: e.sourceSize, sha256: sha256Hex(e.sourceSha256) })),
  });
}

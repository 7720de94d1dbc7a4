// ESP Secure Boot signatures as bytes: the V2 signature sector and its 1216-byte blocks, and the V1
// 68-byte trailer. Pure codecs; what a block proves is decided in secure-boot-verify.ts.
// Layout facts come from ESP-IDF (secure_boot.h, secure_boot_v2/) and espsecure 5.3.1; see docs/secure-boot.md.
import { OtaflashError, hex } from '../errors';
import type { HashProvider } from '../hash/types';
import { putU32, u32 } from './bytes';

export const SB2_SECTOR_SIZE = 4096;
export const SB2_BLOCK_SIZE = 1216;
export const SB2_MAX_BLOCKS = 3;
export const SB2_MAGIC = 0xe7;
export const SB2_VERSION_RSA = 2;
export const SB2_VERSION_ECDSA = 3;
/** The CRC covers every byte before it, whatever the block's version. */
export const SB2_CRC_OFFSET = 1196;
export const SB2_TAIL_ZEROS = 16;

// RSA-3072 block offsets.
const RSA_N = 36;
const RSA_E = 420;
const RSA_RINV = 424;
const RSA_MDASH = 808;
const RSA_SIG = 812;
const RSA_LEN = 384;

/** V1: a version word then r and s, 32 bytes each, big-endian, appended to the image as it is. */
export const SB1_BLOCK_SIZE = 68;

export type EcdsaCurve = 'P-192' | 'P-256' | 'P-384';
export type SignatureHash = 'sha256' | 'sha384';

/** ECDSA curve ids as the block stores them (ESP-IDF's ECDSA_CURVE_*). */
export const CURVE_IDS: Readonly<Record<EcdsaCurve, number>> = { 'P-192': 1, 'P-256': 2, 'P-384': 3 };
/** Bytes of one coordinate (or of r, s) on the curve. */
export const CURVE_BYTES: Readonly<Record<EcdsaCurve, number>> = { 'P-192': 24, 'P-256': 32, 'P-384': 48 };

export function curveFromId(id: number): EcdsaCurve | null {
  return id === 1 ? 'P-192' : id === 2 ? 'P-256' : id === 3 ? 'P-384' : null;
}

/** An RSA-3072 public key with the two constants ESP's RSA peripheral wants; numbers big-endian. */
export interface RsaBlockKey {
  readonly kind: 'rsa';
  /** Modulus, 384 bytes big-endian. */
  readonly n: Uint8Array;
  readonly e: number;
  /** R^2 mod n with R = 2^3072, big-endian (the block stores it little-endian). */
  readonly rinv: Uint8Array;
  /** -n^-1 mod 2^32. */
  readonly mdash: number;
}

export interface EcdsaBlockKey {
  readonly kind: 'ecdsa';
  readonly curve: EcdsaCurve | null;
  readonly curveId: number;
  /** Coordinates big-endian, CURVE_BYTES long (null curve: 32 bytes as stored). */
  readonly x: Uint8Array;
  readonly y: Uint8Array;
}

/** One decoded V2 block. Fields are what the bytes say; nothing here is checked beyond magic and CRC. */
export interface SignatureBlockV2 {
  readonly index: number;
  /** Offset of the block in the sector. */
  readonly at: number;
  readonly magic: number;
  readonly version: number;
  /** ECDSA: byte 2 says which hash signs (0 SHA-256, 1 SHA-384). */
  readonly hashSelector: number;
  readonly hash: SignatureHash;
  /** The image digest the signer stored (ESP-IDF's app-side check never compares it). */
  readonly imageDigest: Uint8Array;
  readonly key: RsaBlockKey | EcdsaBlockKey | null;
  /** RSA: the RSA-PSS signature, 384 bytes big-endian. ECDSA: r and s big-endian. */
  readonly signature: Uint8Array | null;
  readonly r: Uint8Array | null;
  readonly s: Uint8Array | null;
  /** The bytes the eFuse key digest is the SHA-256 of (a view into the block). */
  readonly keyFields: Uint8Array | null;
  readonly crcStored: number;
  readonly crcValid: boolean;
  /** Whether bytes 1200..1215 are zero (espsecure writes zeros; no checker reads them). */
  readonly tailZero: boolean;
  /** The whole 1216 bytes (a view). */
  readonly raw: Uint8Array;
}

/** Reversed copy: V2 stores every big number little-endian. */
export function reversed(b: Uint8Array): Uint8Array {
  const out = new Uint8Array(b.length);
  for (let i = 0; i < b.length; i++) out[i] = b[b.length - 1 - i];
  return out;
}

/** Where ESP-IDF looks for the signature sector: the parsed image length rounded up to 4 KiB. */
export function signatureSectorOffset(imageLength: number): number {
  return Math.ceil(imageLength / SB2_SECTOR_SIZE) * SB2_SECTOR_SIZE;
}

/** True when the block starts with the magic and its CRC-32 of bytes 0..1195 is right. */
export function isValidBlockFrame(block: Uint8Array, hashes: HashProvider): boolean {
  return block.length >= SB2_BLOCK_SIZE && block[0] === SB2_MAGIC && hashes.crc32(block.subarray(0, SB2_CRC_OFFSET), 0) === u32(block, SB2_CRC_OFFSET);
}

function allZero(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

/** Decodes the 1216 bytes of one block; a block of unknown version keeps its key null. */
export function decodeSignatureBlock(block: Uint8Array, index: number, hashes: HashProvider): SignatureBlockV2 {
  if (!(block instanceof Uint8Array) || block.length < SB2_BLOCK_SIZE) {
    throw new OtaflashError('SIGNATURE_TRUNCATED', `signature block ${index} needs ${SB2_BLOCK_SIZE} bytes, got ${block instanceof Uint8Array ? block.length : 0}`, { index });
  }
  const raw = block.subarray(0, SB2_BLOCK_SIZE);
  const version = raw[1];
  const hashSelector = raw[2];
  const p384 = version === SB2_VERSION_ECDSA && hashSelector === 1;
  const digestLen = p384 ? 48 : 32;
  const crcStored = u32(raw, SB2_CRC_OFFSET);
  // One object literal per outcome, not a spread of a shared base: V8 spreads a 11-field object in
  // about 4 us, more than the rest of the decode, and every verify decodes its blocks.
  const make = (key: RsaBlockKey | EcdsaBlockKey | null, signature: Uint8Array | null, r: Uint8Array | null, s: Uint8Array | null, keyFields: Uint8Array | null): SignatureBlockV2 => ({
    index,
    at: index * SB2_BLOCK_SIZE,
    magic: raw[0],
    version,
    hashSelector,
    hash: (p384 ? 'sha384' : 'sha256') as SignatureHash,
    imageDigest: raw.slice(4, 4 + digestLen),
    crcStored,
    crcValid: hashes.crc32(raw.subarray(0, SB2_CRC_OFFSET), 0) === crcStored,
    tailZero: allZero(raw.subarray(SB2_CRC_OFFSET + 4)),
    raw,
    key,
    signature,
    r,
    s,
    keyFields,
  });
  if (version === SB2_VERSION_RSA) {
    const key: RsaBlockKey = {
      kind: 'rsa',
      n: reversed(raw.subarray(RSA_N, RSA_N + RSA_LEN)),
      e: u32(raw, RSA_E),
      rinv: reversed(raw.subarray(RSA_RINV, RSA_RINV + RSA_LEN)),
      mdash: u32(raw, RSA_MDASH),
    };
    return make(key, reversed(raw.subarray(RSA_SIG, RSA_SIG + RSA_LEN)), null, null, raw.subarray(RSA_N, RSA_SIG));
  }
  if (version === SB2_VERSION_ECDSA) {
    // P-384 moves everything after the (48-byte) digest by 16 bytes.
    const at = 4 + digestLen;
    const curveId = raw[at];
    const curve = curveFromId(curveId);
    const width = p384 ? 48 : 32;
    const len = curve ? CURVE_BYTES[curve] : width;
    const point = at + 1;
    const sig = point + 2 * width;
    const key: EcdsaBlockKey = {
      kind: 'ecdsa',
      curve,
      curveId,
      x: reversed(raw.subarray(point, point + len)),
      // X and Y (then r and s) sit back to back; P-192 leaves 16 zero bytes at the end of each 64-byte field.
      y: reversed(raw.subarray(point + len, point + 2 * len)),
    };
    const r = reversed(raw.subarray(sig, sig + len));
    const s = reversed(raw.subarray(sig + len, sig + 2 * len));
    return make(key, null, r, s, raw.subarray(at, sig));
  }
  return make(null, null, null, null, null);
}

/** Whether every byte is 0xFF; four at a time when the bytes are 4-aligned (an unused slot is 1216 of them). */
function allFF(b: Uint8Array): boolean {
  if (b.length > 0 && b[0] !== 0xff) return false;
  let i = 0;
  // Small engines' typed arrays are checked too: only a view that reports a 4-aligned offset is read by words.
  if (typeof b.byteOffset === 'number' && (b.byteOffset & 3) === 0 && b.length >= 4) {
    const words = new Uint32Array(b.buffer, b.byteOffset, b.length >> 2);
    for (let w = 0; w < words.length; w++) if (words[w] !== 0xffffffff) return false;
    i = words.length << 2;
  }
  for (; i < b.length; i++) if (b[i] !== 0xff) return false;
  return true;
}

/** One slot of the sector as found: decoded when the whole block is there, else why not. */
export interface SectorSlot {
  readonly index: number;
  readonly block: SignatureBlockV2 | null;
  /** 'truncated' when fewer than 1216 bytes of the slot exist, 'empty' when it is all 0xFF. */
  readonly missing: 'truncated' | 'empty' | null;
}

/**
 * Splits a signature sector (or the part of it that exists) into its three slots. Unlike the older
 * parseSignatureBlocks it does not stop at a bad block: ESP-IDF looks at every slot on its own.
 */
export function decodeSignatureSector(sector: Uint8Array, hashes: HashProvider, maxBlocks = SB2_MAX_BLOCKS): SectorSlot[] {
  const out: SectorSlot[] = [];
  for (let i = 0; i < maxBlocks; i++) {
    const at = i * SB2_BLOCK_SIZE;
    if (at + SB2_BLOCK_SIZE > sector.length) {
      out.push({ index: i, block: null, missing: 'truncated' });
      continue;
    }
    const raw = sector.subarray(at, at + SB2_BLOCK_SIZE);
    const ff = allFF(raw);
    out.push({ index: i, block: ff ? null : decodeSignatureBlock(raw, i, hashes), missing: ff ? 'empty' : null });
  }
  return out;
}

/** What a signer needs to build a block: the key fields and the signature, numbers big-endian. */
export type SignatureBlockContent =
  | { readonly kind: 'rsa'; readonly key: RsaBlockKey; readonly signature: Uint8Array }
  | { readonly kind: 'ecdsa'; readonly curve: EcdsaCurve; readonly x: Uint8Array; readonly y: Uint8Array; readonly r: Uint8Array; readonly s: Uint8Array };

/** Little-endian copy of a big-endian number into `out` at `at`, `width` bytes (zero-padded). */
function putLe(out: Uint8Array, at: number, be: Uint8Array, width: number): void {
  if (be.length > width) throw new OtaflashError('SIGNATURE_BAD_ARGUMENT', `a ${be.length}-byte number does not fit a ${width}-byte field at ${at}`);
  for (let i = 0; i < be.length; i++) out[at + i] = be[be.length - 1 - i];
}

/** Left-pads a big-endian number to `width` bytes. */
export function padBe(be: Uint8Array, width: number): Uint8Array {
  let start = 0;
  while (be.length - start > width && be[start] === 0) start++;
  if (be.length - start > width) throw new OtaflashError('SIGNATURE_BAD_ARGUMENT', `a ${be.length - start}-byte number does not fit ${width} bytes`);
  const out = new Uint8Array(width);
  out.set(be.subarray(start), width - (be.length - start));
  return out;
}

/** The key-field bytes of a block (what the eFuse digest hashes) for a key, laid out as in a block. */
export function encodeKeyFields(key: RsaBlockKey | { kind: 'ecdsa'; curve: EcdsaCurve; x: Uint8Array; y: Uint8Array }): Uint8Array {
  if (key.kind === 'rsa') {
    const out = new Uint8Array(RSA_SIG - RSA_N);
    putLe(out, 0, key.n, RSA_LEN);
    putU32(out, RSA_E - RSA_N, key.e);
    putLe(out, RSA_RINV - RSA_N, key.rinv, RSA_LEN);
    putU32(out, RSA_MDASH - RSA_N, key.mdash);
    return out;
  }
  const width = key.curve === 'P-384' ? 48 : 32;
  const len = CURVE_BYTES[key.curve];
  const out = new Uint8Array(1 + 2 * width);
  out[0] = CURVE_IDS[key.curve];
  putLe(out, 1, padBe(key.x, len), len);
  putLe(out, 1 + len, padBe(key.y, len), len);
  return out;
}

/** Builds one 1216-byte block exactly as espsecure 5.3.1 lays it out (zeros where it writes none). */
export function encodeSignatureBlock(content: SignatureBlockContent, imageDigest: Uint8Array, hashes: HashProvider): Uint8Array {
  const b = new Uint8Array(SB2_BLOCK_SIZE);
  b[0] = SB2_MAGIC;
  if (content.kind === 'rsa') {
    b[1] = SB2_VERSION_RSA;
    if (imageDigest.length !== 32) throw new OtaflashError('SIGNATURE_BAD_ARGUMENT', `an RSA block signs a 32-byte SHA-256, got ${imageDigest.length} bytes`);
    b.set(imageDigest, 4);
    b.set(encodeKeyFields(content.key), RSA_N);
    putLe(b, RSA_SIG, padBe(content.signature, RSA_LEN), RSA_LEN);
  } else {
    const p384 = content.curve === 'P-384';
    b[1] = SB2_VERSION_ECDSA;
    b[2] = p384 ? 1 : 0;
    const digestLen = p384 ? 48 : 32;
    if (imageDigest.length !== digestLen) throw new OtaflashError('SIGNATURE_BAD_ARGUMENT', `a ${content.curve} block signs a ${digestLen}-byte digest, got ${imageDigest.length} bytes`);
    b.set(imageDigest, 4);
    const at = 4 + digestLen;
    const width = p384 ? 48 : 32;
    const len = CURVE_BYTES[content.curve];
    b.set(encodeKeyFields({ kind: 'ecdsa', curve: content.curve, x: padBe(content.x, len), y: padBe(content.y, len) }), at);
    putLe(b, at + 1 + 2 * width, padBe(content.r, len), len);
    putLe(b, at + 1 + 2 * width + len, padBe(content.s, len), len);
  }
  putU32(b, SB2_CRC_OFFSET, hashes.crc32(b.subarray(0, SB2_CRC_OFFSET), 0));
  return b;
}

/** A 4 KiB sector holding `blocks` from offset 0, 0xFF after them (as espsecure writes it). */
export function encodeSignatureSector(blocks: readonly Uint8Array[]): Uint8Array {
  if (blocks.length > SB2_MAX_BLOCKS) {
    throw new OtaflashError('SIGNATURE_TOO_MANY_BLOCKS', `a signature sector holds up to ${SB2_MAX_BLOCKS} blocks, got ${blocks.length}`, { blocks: blocks.length });
  }
  const out = new Uint8Array(SB2_SECTOR_SIZE).fill(0xff);
  blocks.forEach((b, i) => {
    if (b.length !== SB2_BLOCK_SIZE) throw new OtaflashError('SIGNATURE_BAD_ARGUMENT', `block ${i} is ${b.length} bytes, expected ${SB2_BLOCK_SIZE}`);
    out.set(b, i * SB2_BLOCK_SIZE);
  });
  return out;
}

/** Secure Boot V1 trailer (ESP32): version word, then r and s big-endian. */
export interface SignatureV1 {
  readonly offset: number;
  readonly versionWord: number;
  readonly r: Uint8Array;
  readonly s: Uint8Array;
}

/** Reads the V1 trailer at `offset` (ESP-IDF: right after the parsed image, no padding). */
export function decodeSignatureV1(bytes: Uint8Array, offset: number): SignatureV1 {
  if (offset < 0 || offset + SB1_BLOCK_SIZE > bytes.length) {
    throw new OtaflashError('SIGNATURE_TRUNCATED', `no room for a ${SB1_BLOCK_SIZE}-byte Secure Boot V1 signature at ${hex(offset)} (file is ${hex(bytes.length)} bytes)`, { offset });
  }
  return { offset, versionWord: u32(bytes, offset), r: bytes.slice(offset + 4, offset + 36), s: bytes.slice(offset + 36, offset + 68) };
}

export function encodeSignatureV1(r: Uint8Array, s: Uint8Array): Uint8Array {
  const out = new Uint8Array(SB1_BLOCK_SIZE);
  out.set(padBe(r, 32), 4);
  out.set(padBe(s, 32), 36);
  return out;
}

/** The key digest eFuse holds: SHA-256 of the block's key fields (ESP32-C2 keeps the first 16 bytes). */
export function keyDigestOfFields(keyFields: Uint8Array, hashes: HashProvider): Uint8Array {
  return hashes.sha256().update(keyFields).digest();
}

// The header of a detools patch (detools 0.53.0, the format ESP-IDF's delta OTA applies):
//
//   byte 0        bit 7 unused, bits 6..4 patch type, bits 3..0 compression
//   sequential    to_size as a header size (below)
//   in-place      memory_size, segment_size, shift_size, from_size, to_size, each a header size
//   then          the compressed body; heatshrink bodies start with one byte of decoder
//                 parameters (window_sz2 - 4 in the high nibble, lookahead_sz2 - 3 in the low one)
//
// A header size is little-endian base-128: the first byte carries 6 value bits (bit 6 is the sign
// bit of body sizes and unused here), later bytes 7; bit 7 says another byte follows. detools's C
// code refuses a fifth byte (its values are C ints), and so do we: a size has at most 27 bits.
import { OtaflashError } from '../errors';

export const DETOOLS_PATCH_TYPES = ['sequential', 'in-place', 'hdiffpatch'] as const;
export type DetoolsPatchType = 'sequential' | 'in-place' | 'hdiffpatch' | 'unknown';
/** detools's compression numbers (common.py): the index is the number in the header. */
export const DETOOLS_COMPRESSIONS = ['none', 'lzma', 'crle', 'bz2', 'heatshrink', 'zstd', 'lz4'] as const;
export type DetoolsCompression = (typeof DETOOLS_COMPRESSIONS)[number] | 'unknown';

export interface DetoolsPatchHeader {
  readonly type: DetoolsPatchType;
  readonly typeNumber: number;
  readonly compression: DetoolsCompression;
  readonly compressionNumber: number;
  /** Size of the new image. */
  readonly toSize: number;
  /** Bytes of the header, where the compressed body starts (the heatshrink parameter byte is body). */
  readonly length: number;
  /** In-place patches only (null otherwise). */
  readonly memorySize: number | null;
  readonly segmentSize: number | null;
  readonly shiftSize: number | null;
  readonly fromSize: number | null;
}

/** The largest value a size may have: 6 + 3 * 7 bits, the most detools's C code reads. */
export const DETOOLS_MAX_SIZE_BYTES = 4;

function corrupt(code: string, message: string, info?: Record<string, unknown>): never {
  throw new OtaflashError(code, message, info);
}

/**
 * Reads one header size at `at`. Returns [value, next offset], or null when `bytes` ends first.
 */
function headerSize(bytes: Uint8Array, at: number, what: string): [number, number] | null {
  let value = 0;
  let scale = 1;
  for (let i = 0; ; i++) {
    if (at + i >= bytes.length) return null;
    if (i >= DETOOLS_MAX_SIZE_BYTES) corrupt('DELTA_CORRUPT_PATCH', `patch header: ${what} at byte ${at} is longer than ${DETOOLS_MAX_SIZE_BYTES} bytes (detools sizes are at most 27 bits)`, { offset: at });
    const b = bytes[at + i];
    if (i === 0) {
      value = b & 0x3f;
      scale = 64;
    } else {
      value += (b & 0x7f) * scale;
      scale *= 128;
    }
    if ((b & 0x80) === 0) return [value, at + i + 1];
  }
}

/** Patch type and compression of a header byte, by detools's numbering. */
export function detoolsHeaderByte(byte: number): { type: DetoolsPatchType; typeNumber: number; compression: DetoolsCompression; compressionNumber: number } {
  const typeNumber = (byte >> 4) & 0x7;
  const compressionNumber = byte & 0xf;
  return {
    typeNumber,
    type: typeNumber < DETOOLS_PATCH_TYPES.length ? DETOOLS_PATCH_TYPES[typeNumber] : 'unknown',
    compressionNumber,
    compression: compressionNumber < DETOOLS_COMPRESSIONS.length ? DETOOLS_COMPRESSIONS[compressionNumber] : 'unknown',
  };
}

/**
 * Decodes the header at the start of `bytes` (a prefix of the patch is enough). Returns null when
 * the prefix ends inside the header; throws DELTA_* for a header that can never be valid. Does not
 * judge whether the patch can be applied (see checkApplicable).
 */
export function decodeDetoolsHeader(bytes: Uint8Array): DetoolsPatchHeader | null {
  if (bytes.length === 0) return null;
  const b0 = bytes[0];
  const kind = detoolsHeaderByte(b0);
  if (kind.type === 'in-place') {
    const names = ['memory_size', 'segment_size', 'shift_size', 'from_size', 'to_size'];
    const v: number[] = [];
    let at = 1;
    for (let i = 0; i < names.length; i++) {
      const r = headerSize(bytes, at, names[i]);
      if (!r) return null;
      v.push(r[0]);
      at = r[1];
    }
    return { ...kind, memorySize: v[0], segmentSize: v[1], shiftSize: v[2], fromSize: v[3], toSize: v[4], length: at };
  }
  const r = headerSize(bytes, 1, 'to_size');
  if (!r) return null;
  return { ...kind, toSize: r[0], length: r[1], memorySize: null, segmentSize: null, shiftSize: null, fromSize: null };
}

/** Like decodeDetoolsHeader, for a whole patch: a patch that ends inside its header is DELTA_TRUNCATED. */
export function readDetoolsHeader(patch: Uint8Array): DetoolsPatchHeader {
  const h = decodeDetoolsHeader(patch);
  if (!h) corrupt('DELTA_TRUNCATED', `the patch (${patch.length} bytes) ends inside its header`, { size: patch.length });
  return h;
}

/** The compressions this library decodes. */
export const APPLICABLE_COMPRESSIONS: readonly DetoolsCompression[] = ['none', 'lzma', 'crle', 'heatshrink'];

/**
 * Throws the typed refusal for a patch the sequential apply cannot take: in-place and other patch
 * types (DELTA_UNSUPPORTED_TYPE / DELTA_IN_PLACE_UNSUPPORTED), compressions without a decoder here
 * (DELTA_UNSUPPORTED_COMPRESSION). Bit 7 of the header byte is ignored, as detools's C code does.
 */
export function checkApplicable(h: DetoolsPatchHeader): void {
  if (h.type === 'in-place') {
    corrupt('DELTA_IN_PLACE_UNSUPPORTED', 'this is a detools in-place patch (patch type 1): only sequential patches can be applied from one slot into another; create the patch with `detools create_patch` (sequential)', { patchType: 1 });
  }
  if (h.type !== 'sequential') {
    const what = h.type === 'hdiffpatch' ? 'an hdiffpatch patch (patch type 2), which detools\'s C apply code does not implement either' : `patch type ${h.typeNumber}, which detools does not define`;
    corrupt('DELTA_BAD_PATCH_TYPE', `unsupported patch: ${what}; only sequential patches (type 0) can be applied`, { patchType: h.typeNumber });
  }
  if (APPLICABLE_COMPRESSIONS.indexOf(h.compression) < 0) {
    const name = h.compression === 'unknown' ? `number ${h.compressionNumber}, which detools does not define` : `${h.compression} (number ${h.compressionNumber})`;
    corrupt('DELTA_UNSUPPORTED_COMPRESSION', `the patch is compressed with ${name}; supported: ${APPLICABLE_COMPRESSIONS.join(', ')}`, { compression: h.compression, compressionNumber: h.compressionNumber });
  }
}

/** Heatshrink parameters from the first body byte, as detools packs them. */
export function decodeHeatshrinkParams(byte: number): { windowSz2: number; lookaheadSz2: number } {
  return { windowSz2: ((byte >> 4) & 0xf) + 4, lookaheadSz2: (byte & 0xf) + 3 };
}

/** Encodes a header size (for generators and tests). */
export function encodeDetoolsHeaderSize(value: number): number[] {
  if (!(value >= 0 && value === Math.floor(value) && value < 2 ** 27)) {
    throw new OtaflashError('DELTA_BAD_ARGUMENT', `header size ${value} is not an integer in [0, 2^27)`);
  }
  const out = [value & 0x3f];
  let rest = Math.floor(value / 64);
  while (rest > 0) {
    out[out.length - 1] |= 0x80;
    out.push(rest & 0x7f);
    rest = Math.floor(rest / 128);
  }
  return out;
}

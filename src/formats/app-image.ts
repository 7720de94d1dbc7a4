// Whole-image parse (bytes -> parts) and build (parts -> bytes, laid out as esptool's elf2image does).
import { OtaflashError, hex, kindOf } from '../errors';
import { defaultHashes } from '../hash/portable';
import type { HashProvider } from '../hash/types';
import { encodeAppDescription } from './app-image-desc';
import { encodeImageHeader } from './app-image-header';
import {
  APP_DESC_SIZE,
  CHECKSUM_SEED,
  ESP8266_HEADER_SIZE,
  IMAGE_HEADER_SIZE,
  IMAGE_MAGIC,
  IMAGE_MAX_SEGMENTS,
  MAX_SEGMENT_LENGTH,
  SEGMENT_HEADER_SIZE,
  type AppDescription,
  type BootloaderDescription,
  type ImageHeader,
  type ImageVerdict,
  type ImageVerifierOptions,
  type SignatureBlock,
} from './app-image-types';
import { inspectImage, xorInto } from './app-image-verify';
import { ESP8266_CHIP, chipFlashMapping, firstMisalignedSegment, isFlashMapped, mappingPageSize, type ChipFlashMapping } from './chips';
import { putU32 } from './bytes';

/** A segment with its bytes (a view into the parsed buffer, not a copy). */
export interface AppImageSegment {
  readonly loadAddress: number;
  readonly data: Uint8Array;
}

/** An image taken apart. Parsing does not require the checksum or hash to be right: see the flags. */
export interface AppImage {
  readonly header: ImageHeader;
  readonly segments: readonly (AppImageSegment & { readonly dataOffset: number })[];
  /** Image bytes (with checksum padding and appended hash; without any signature sector). */
  readonly size: number;
  readonly checksumValid: boolean;
  readonly hashAppended: boolean;
  readonly hashValid: boolean | null;
  readonly appDesc: AppDescription | null;
  readonly bootloaderDesc: BootloaderDescription | null;
  readonly signatures: readonly SignatureBlock[];
  /** Bytes after the image (padding, signature sector, other data) that the image does not cover. */
  readonly trailingBytes: number;
  /** The full verification result. */
  readonly verdict: ImageVerdict;
}

/**
 * Takes an image apart. Throws OtaflashError IMAGE_* when the structure cannot be read (bad magic,
 * truncation, impossible segments); a wrong checksum or hash is reported in the result instead.
 */
export function parseAppImage(bytes: Uint8Array, opts: ImageVerifierOptions = {}): AppImage {
  const r = inspectImage(bytes, opts);
  const v = r.verdict;
  if (!v) throw r.error!;
  return {
    header: v.header,
    segments: v.segments.map((s) => ({ loadAddress: s.loadAddress, dataOffset: s.dataOffset, data: bytes.subarray(s.dataOffset, s.dataOffset + s.length) })),
    size: v.size,
    checksumValid: v.checksumValid,
    hashAppended: v.hashAppended,
    hashValid: v.hashValid,
    appDesc: v.appDesc,
    bootloaderDesc: v.bootloaderDesc,
    signatures: v.signatures,
    trailingBytes: bytes.length - v.size,
    verdict: v,
  };
}

export interface AppImageParts {
  segments: readonly AppImageSegment[];
  /** Entry address; overrides header.entry. */
  entry?: number;
  /** Chip id (CHIP_IDS); overrides header.chipId. -1 builds the ESP8266 layout. */
  chip?: number;
  /** Any header fields to keep (for a byte-exact rebuild pass the parsed header). segmentCount is always taken from `segments`. */
  header?: Partial<ImageHeader>;
  /** Append the SHA-256 (elf2image's default). Overrides header.hashAppendedByte. */
  hashAppended?: boolean;
  /** Written over the first 256 bytes of segment 0's data (on a copy), where the app expects it. */
  appDesc?: AppDescription;
  hashes?: HashProvider;
  /**
   * Segments loaded at flash-mapped addresses must sit in flash at the same offset modulo the MMU
   * page (the bootloader refuses the image otherwise). 'check' (default) throws
   * IMAGE_SEGMENT_MISALIGNED; 'pad' inserts zero-filled padding segments (load address 0) before
   * such segments, as elf2image does; 'none' builds exactly what was given.
   */
  alignMapped?: 'check' | 'pad' | 'none';
  /** Flash address the image will be written at (default 0: a page boundary, as app partitions are). */
  flashOffset?: number;
}

/**
 * Lays out an image the way esptool's elf2image writes it: header, segments in the order given,
 * zero padding up to the checksum byte at the end of a 16-byte block, then the SHA-256 of
 * everything before it when hashAppended. Segments are not reordered, merged or aligned here:
 * the caller gives them as they should appear.
 */
export function buildAppImage(parts: AppImageParts): Uint8Array {
  checkParts(parts);
  const h = parts.header ?? {};
  const chip = parts.chip ?? h.chipId ?? 0;
  const format = chip === ESP8266_CHIP ? 'esp8266' : (h.format ?? 'esp32');
  if (parts.segments.length > IMAGE_MAX_SEGMENTS) {
    throw new OtaflashError('IMAGE_TOO_MANY_SEGMENTS', `${parts.segments.length} segments given; an image holds at most ${IMAGE_MAX_SEGMENTS}`);
  }
  const align = parts.alignMapped ?? 'check';
  if (align !== 'check' && align !== 'pad' && align !== 'none') {
    throw new OtaflashError('IMAGE_BAD_ARGUMENT', `alignMapped must be 'check', 'pad' or 'none', not ${String(align)}`);
  }
  const flashOffset = parts.flashOffset ?? 0;
  checkField('flashOffset', flashOffset, 0xffffffff);
  const mapping = format === 'esp32' && align !== 'none' ? chipFlashMapping(chip) : undefined;
  const segments = mapping && align === 'pad' ? padMappedSegments(parts.segments, mapping, flashOffset) : parts.segments;
  if (mapping && align === 'check') checkMappedSegments(segments, mapping, flashOffset, parts.appDesc);
  if (segments.length > IMAGE_MAX_SEGMENTS) {
    throw new OtaflashError('IMAGE_TOO_MANY_SEGMENTS', `${segments.length} segments with the padding the flash mapping needs; an image holds at most ${IMAGE_MAX_SEGMENTS}`);
  }
  const hashAppended = format === 'esp8266' ? false : (parts.hashAppended ?? (h.hashAppendedByte === undefined ? true : h.hashAppendedByte !== 0));
  const header: ImageHeader = {
    format,
    magic: IMAGE_MAGIC,
    segmentCount: segments.length,
    flashMode: h.flashMode ?? 0,
    flashFreq: h.flashFreq ?? 0,
    flashSize: h.flashSize ?? 0,
    entry: parts.entry ?? h.entry ?? 0,
    wpPin: h.wpPin ?? 0xee,
    spiPinDrv: h.spiPinDrv ?? [0, 0, 0],
    chipId: chip,
    minChipRev: h.minChipRev ?? 0,
    minChipRevFull: h.minChipRevFull ?? 0,
    maxChipRevFull: h.maxChipRevFull ?? 0,
    reserved: h.reserved ?? [0, 0, 0, 0],
    hashAppendedByte: hashAppended ? (h.hashAppendedByte !== undefined && h.hashAppendedByte !== 0 ? h.hashAppendedByte : 1) : 0,
  };
  checkField('entry', header.entry, 0xffffffff);
  if (format === 'esp32') checkField('chip', chip, 0xffff);
  for (let i = 0; i < segments.length; i++) checkField(`segment ${i} load address`, segments[i].loadAddress, 0xffffffff);
  const headerSize = format === 'esp8266' ? ESP8266_HEADER_SIZE : IMAGE_HEADER_SIZE;
  let last = headerSize;
  for (let i = 0; i < segments.length; i++) {
    const len = segments[i].data.length;
    if (len >= MAX_SEGMENT_LENGTH || (format === 'esp32' && (len & 3) !== 0)) {
      throw new OtaflashError('IMAGE_BAD_SEGMENT_LENGTH', `segment ${i} (load address ${hex(segments[i].loadAddress)}) is ${len} bytes: lengths must be multiples of 4 below 16 MiB`);
    }
    last += SEGMENT_HEADER_SIZE + len;
  }
  const checksumOffset = ((last + 16) & ~15) - 1;
  const size = checksumOffset + 1 + (hashAppended ? 32 : 0);
  const out = new Uint8Array(size);
  out.set(encodeImageHeader(header), 0);
  let at = headerSize;
  let xor = 0;
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i];
    putU32(out, at, s.loadAddress);
    putU32(out, at + 4, s.data.length);
    at += SEGMENT_HEADER_SIZE;
    out.set(s.data, at);
    if (i === 0 && parts.appDesc) {
      if (s.data.length < APP_DESC_SIZE) {
        throw new OtaflashError('IMAGE_BAD_SEGMENT_LENGTH', `segment 0 is ${s.data.length} bytes: it must hold the ${APP_DESC_SIZE}-byte app description`);
      }
      out.set(encodeAppDescription(parts.appDesc), at);
    }
    xor = xorInto(xor, out, at, at + s.data.length);
    at += s.data.length;
  }
  out[checksumOffset] = (CHECKSUM_SEED ^ xor ^ (xor >>> 8) ^ (xor >>> 16) ^ (xor >>> 24)) & 0xff;
  if (hashAppended) {
    const sha = (parts.hashes ?? defaultHashes()).sha256();
    out.set(sha.update(out.subarray(0, checksumOffset + 1)).digest(), checksumOffset + 1);
  }
  return out;
}

/** Zero-filled padding segments before each flash-mapped segment whose data would sit off its page offset. */
function padMappedSegments(segments: readonly AppImageSegment[], mapping: ChipFlashMapping, flashOffset: number): AppImageSegment[] {
  // The largest page the chip supports: an offset right for it is right for every smaller page.
  const page = mapping.pageSizes[mapping.pageSizes.length - 1];
  const out: AppImageSegment[] = [];
  let pos = IMAGE_HEADER_SIZE;
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i];
    checkField(`segment ${i} load address`, s.loadAddress, 0xffffffff);
    if (s.data.length > 0 && isFlashMapped(mapping, s.loadAddress) && (flashOffset + pos + SEGMENT_HEADER_SIZE) % page !== s.loadAddress % page) {
      if (out.length === 0) {
        // Padding first would move segment 0, whose data must start at 0x20 (the app description).
        throw new OtaflashError('IMAGE_SEGMENT_MISALIGNED', `segment 0 is mapped from flash at ${hex(s.loadAddress)}, but its data starts at image offset 0x20: its load address must be ${hex(0x20)} modulo the ${page / 1024} KiB MMU page`, { segment: 0 });
      }
      // The padding segment's own header comes first, then its data, then this segment's header.
      const minDataAt = flashOffset + pos + 2 * SEGMENT_HEADER_SIZE;
      let dataAt = minDataAt - (minDataAt % page) + (s.loadAddress % page);
      if (dataAt < minDataAt) dataAt += page;
      const padLength = dataAt - minDataAt;
      if ((padLength & 3) !== 0) {
        throw new OtaflashError('IMAGE_SEGMENT_MISALIGNED', `segment ${i} load address ${hex(s.loadAddress)} is not a multiple of 4, so no padding can align it`);
      }
      out.push({ loadAddress: 0, data: new Uint8Array(padLength) });
      pos += SEGMENT_HEADER_SIZE + padLength;
    }
    out.push(s);
    pos += SEGMENT_HEADER_SIZE + s.data.length;
  }
  return out;
}

/** The verifier's mapping rule, applied to the layout before it is built. */
function checkMappedSegments(segments: readonly AppImageSegment[], mapping: ChipFlashMapping, flashOffset: number, desc: AppDescription | undefined): void {
  const page = mappingPageSize(mapping, desc ? desc.mmuPageSizeLog2 : undefined);
  const layout: Array<{ loadAddress: number; length: number; dataOffset: number }> = [];
  let pos = IMAGE_HEADER_SIZE;
  for (let i = 0; i < segments.length; i++) {
    layout.push({ loadAddress: segments[i].loadAddress, length: segments[i].data.length, dataOffset: pos + SEGMENT_HEADER_SIZE });
    pos += SEGMENT_HEADER_SIZE + segments[i].data.length;
  }
  const i = firstMisalignedSegment(mapping, page, layout, flashOffset);
  if (i < 0) return;
  throw new OtaflashError(
    'IMAGE_SEGMENT_MISALIGNED',
    `segment ${i} is mapped from flash at ${hex(layout[i].loadAddress)} but its data would start at flash ${hex(flashOffset + layout[i].dataOffset)}: they must agree modulo the ${page / 1024} KiB MMU page or the bootloader refuses the image (pass alignMapped: 'pad' to insert padding segments)`,
    { segment: i },
  );
}

function checkField(what: string, v: number, max: number): void {
  if (!(typeof v === 'number' && v >= 0 && v <= max && Math.floor(v) === v)) {
    throw new OtaflashError('IMAGE_BAD_ARGUMENT', `${what} ${String(v)} is not an integer from 0 to ${hex(max)}`);
  }
}

/** Plain-JS callers can pass anything; each field the layout reads is checked before it is read. */
function checkParts(parts: AppImageParts): void {
  if (parts === null || typeof parts !== 'object') throw new OtaflashError('IMAGE_BAD_ARGUMENT', `buildAppImage needs { segments: [...] }, got ${kindOf(parts)}`);
  if (!Array.isArray(parts.segments)) throw new OtaflashError('IMAGE_BAD_ARGUMENT', `segments must be an array of { loadAddress, data }, got ${kindOf(parts.segments)}`);
  for (let i = 0; i < parts.segments.length; i++) {
    const s = parts.segments[i];
    if (s === null || typeof s !== 'object' || !(s.data instanceof Uint8Array)) {
      throw new OtaflashError('IMAGE_BAD_ARGUMENT', `segment ${i} must be { loadAddress, data: Uint8Array }`);
    }
  }
  if (parts.header != null && typeof parts.header !== 'object') throw new OtaflashError('IMAGE_BAD_ARGUMENT', `header must be an object, got ${kindOf(parts.header)}`);
  if (parts.chip !== undefined && !(typeof parts.chip === 'number' && parts.chip % 1 === 0)) {
    throw new OtaflashError('IMAGE_BAD_ARGUMENT', `chip ${JSON.stringify(parts.chip)} must be a chip id number such as CHIP_IDS.esp32`);
  }
  if (parts.appDesc != null) checkAppDesc(parts.appDesc);
}

function checkAppDesc(d: AppDescription): void {
  if (d === null || typeof d !== 'object') throw new OtaflashError('IMAGE_BAD_ARGUMENT', `appDesc must be an app description object, got ${kindOf(d)}`);
  const numbers: [keyof AppDescription, number][] = [
    ['secureVersion', 0xffffffff],
    ['minEfuseBlkRevFull', 0xffff],
    ['maxEfuseBlkRevFull', 0xffff],
    ['mmuPageSizeLog2', 0xff],
    ['spiFlashMode', 0xff],
  ];
  for (const [k, max] of numbers) checkField(`appDesc.${k}`, d[k] as number, max);
  const strings: (keyof AppDescription)[] = ['version', 'projectName', 'time', 'date', 'idfVersion'];
  for (const k of strings) {
    if (typeof d[k] !== 'string') throw new OtaflashError('IMAGE_BAD_ARGUMENT', `appDesc.${k} must be a string, got ${kindOf(d[k])}`);
  }
  if (!(d.elfSha256 instanceof Uint8Array) || d.elfSha256.length !== 32) {
    throw new OtaflashError('IMAGE_BAD_ARGUMENT', 'appDesc.elfSha256 must be a 32-byte Uint8Array');
  }
  const r = d.reserved;
  if (r !== undefined && (r === null || typeof r !== 'object' || !(r.at8 instanceof Uint8Array) || !(r.at182 instanceof Uint8Array) || !(r.at184 instanceof Uint8Array))) {
    throw new OtaflashError('IMAGE_BAD_ARGUMENT', 'appDesc.reserved must be { at8, at182, at184 } Uint8Arrays');
  }
}

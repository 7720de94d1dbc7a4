// The on-flash layout of one stored image (docs/store.md has the byte-for-byte table). An image
// occupies a run of whole erase sectors, its extent: header sectors, then data sectors.
//
//   header area (from the extent start, u = the device's program unit, at least 1):
//     0x00  record, 132 bytes (fields below), CRC-32 at 0x80; padded to R = roundUp(132, u)
//     R     commit marker, u bytes: all 0x00 once the record is on flash and read back
//     R+u   six state marks of u bytes each (complete, verified, installing, installed, failed,
//           removed): a mark is set when all its bytes read 0x00
//     R+7u  chunk bitmap, roundUp(ceil(chunks / 8), u) bytes: bit i & 7 of byte i >> 3 cleared =
//           chunk i is on flash
//   data area (from the first sector after the header area): chunk i at i * chunkSize, the last
//   one padded with the erase value to a whole program unit.
//
// Everything is only ever cleared (programmed) between erases: a record, then its commit marker,
// then chunk bits and marks, each after what it claims is durable.
import { OtaflashError, hex } from '../errors';
import { putU32, u32 } from '../formats/bytes';
import { utf8Decode, utf8Encode } from '../formats/utf8';
import type { BlockDevice } from '../flash/types';
import type { HashProvider } from '../hash/types';
import { IMAGE_KIND_CODES, type ImageKind, kindOfCode } from './types';

/** "OFIS" little-endian: otaflash image store. */
export const STORE_MAGIC = 0x5349464f;
export const STORE_LAYOUT_VERSION = 1;
export const RECORD_BYTES = 0x84;
const CRC_AT = 0x80;
export const NAME_BYTES = 32;

/** State marks, in their order after the commit marker. */
export const MARK = { complete: 0, verified: 1, installing: 2, installed: 3, failed: 4, removed: 5 } as const;
export const MARK_COUNT = 6;

/** The fields of a header record. */
export interface HeaderRecord {
  kind: ImageKind;
  unit: number;
  eraseShift: number;
  id: number;
  seq: number;
  size: number;
  chunkSize: number;
  extentSectors: number;
  headerSectors: number;
  sha256: Uint8Array;
  component: string;
  version: string;
}

/** Where things are inside one extent, for a device's geometry. */
export interface ExtentLayout {
  readonly unit: number;
  readonly recordSpan: number;
  readonly commitAt: number;
  readonly marksAt: number;
  readonly bitmapAt: number;
  readonly bitmapBytes: number;
  readonly chunks: number;
  readonly lastChunkBytes: number;
  readonly headerSectors: number;
  readonly dataSectors: number;
  /** Bytes of the data area that chunks occupy (the last chunk padded to the unit). */
  readonly dataBytes: number;
}

export function roundUp(n: number, m: number): number {
  return Math.ceil(n / m) * m;
}

export function programUnit(dev: BlockDevice): number {
  return Math.max(1, dev.writeSize);
}

export function log2Exact(n: number): number {
  let k = 0;
  while (k < 31 && 1 << k < n) k++;
  return 1 << k === n ? k : -1;
}

/** The layout of an image of `size` bytes in `chunkSize` chunks on a device with program unit `unit` and sector `eraseSize`. */
export function extentLayout(unit: number, eraseSize: number, size: number, chunkSize: number): ExtentLayout {
  const recordSpan = roundUp(RECORD_BYTES, unit);
  const commitAt = recordSpan;
  const marksAt = commitAt + unit;
  const bitmapAt = marksAt + MARK_COUNT * unit;
  const chunks = Math.ceil(size / chunkSize);
  const bitmapBytes = roundUp(Math.ceil(chunks / 8), unit);
  const headerSectors = Math.ceil((bitmapAt + bitmapBytes) / eraseSize);
  const lastChunkBytes = size - (chunks - 1) * chunkSize;
  const dataBytes = (chunks - 1) * chunkSize + roundUp(lastChunkBytes, unit);
  const dataSectors = Math.ceil(dataBytes / eraseSize);
  return { unit, recordSpan, commitAt, marksAt, bitmapAt, bitmapBytes, chunks, lastChunkBytes, headerSectors, dataSectors, dataBytes };
}

/** Encodes a record padded to `span` bytes (erase value after the CRC). */
export function encodeRecord(h: HeaderRecord, span: number, eraseValue: number, hashes: HashProvider): Uint8Array {
  const b = new Uint8Array(span);
  b.fill(eraseValue);
  putU32(b, 0, STORE_MAGIC);
  b[4] = STORE_LAYOUT_VERSION;
  b[5] = IMAGE_KIND_CODES[h.kind];
  b[6] = h.unit;
  b[7] = h.eraseShift;
  putU32(b, 0x08, h.id);
  putU32(b, 0x0c, h.seq);
  putU32(b, 0x10, h.size);
  putU32(b, 0x14, h.chunkSize);
  putU32(b, 0x18, h.extentSectors);
  putU32(b, 0x1c, h.headerSectors);
  b.set(h.sha256, 0x20);
  putName(b, 0x40, h.component);
  putName(b, 0x60, h.version);
  putU32(b, CRC_AT, hashes.crc32(b.subarray(0, CRC_AT)));
  return b;
}

function putName(b: Uint8Array, at: number, s: string): void {
  const bytes = utf8Encode(s);
  b.fill(0, at, at + NAME_BYTES);
  b.set(bytes, at);
}

function getName(b: Uint8Array, at: number): string | null {
  let end = at;
  while (end < at + NAME_BYTES && b[end] !== 0) end++;
  for (let i = end; i < at + NAME_BYTES; i++) if (b[i] !== 0) return null;
  return utf8Decode(b.subarray(at, end));
}

/** Bytes of a name as stored; throws STORE_BAD_ARGUMENT when it does not fit. */
export function checkName(what: string, s: unknown): void {
  if (typeof s !== 'string') throw new OtaflashError('STORE_BAD_ARGUMENT', `${what} must be a string, got ${typeof s}`);
  const n = utf8Encode(s).length;
  if (n > NAME_BYTES) throw new OtaflashError('STORE_BAD_ARGUMENT', `${what} '${s}' is ${n} bytes of UTF-8; at most ${NAME_BYTES} fit`);
  if (s.indexOf('\u0000') >= 0) throw new OtaflashError('STORE_BAD_ARGUMENT', `${what} must not contain NUL characters`);
}

/** Decodes a record; null when it is not one (wrong magic, version, CRC or field values). */
export function decodeRecord(b: Uint8Array, hashes: HashProvider): HeaderRecord | null {
  if (b.length < RECORD_BYTES || u32(b, 0) !== STORE_MAGIC || b[4] !== STORE_LAYOUT_VERSION) return null;
  if (u32(b, CRC_AT) !== hashes.crc32(b.subarray(0, CRC_AT))) return null;
  const kind = kindOfCode(b[5]);
  const component = getName(b, 0x40);
  const version = getName(b, 0x60);
  if (kind === null || component === null || version === null) return null;
  return {
    kind,
    unit: b[6],
    eraseShift: b[7],
    id: u32(b, 0x08),
    seq: u32(b, 0x0c),
    size: u32(b, 0x10),
    chunkSize: u32(b, 0x14),
    extentSectors: u32(b, 0x18),
    headerSectors: u32(b, 0x1c),
    sha256: b.slice(0x20, 0x40),
    component,
    version,
  };
}

/** True when every byte is 0x00 (a set commit marker or state mark; a torn one is not set). */
export function isSet(b: Uint8Array, at: number, len: number): boolean {
  for (let i = at; i < at + len; i++) if (b[i] !== 0) return false;
  return true;
}

/** A record written for another program unit or sector size: the store belongs to another device geometry. */
export function checkGeometry(h: HeaderRecord, dev: BlockDevice, at: number): void {
  if (h.unit !== programUnit(dev) || h.eraseShift !== log2Exact(dev.eraseSize)) {
    throw new OtaflashError(
      'STORE_GEOMETRY_MISMATCH',
      `image header at ${hex(at)} was written for a ${h.unit}-byte program unit and ${Math.pow(2, h.eraseShift)}-byte sectors; this device has ${programUnit(dev)} and ${dev.eraseSize}`,
      { offset: at, id: h.id },
    );
  }
}

/** A record that decodes but does not describe an extent this device could hold is corruption, not an image. */
export function checkRecordFits(h: HeaderRecord, dev: BlockDevice, at: number): ExtentLayout {
  const bad = (why: string): never => {
    throw new OtaflashError('STORE_CORRUPT', `image header at ${hex(at)} (id ${h.id}) ${why}`, { offset: at, id: h.id });
  };
  checkGeometry(h, dev, at);
  if (!(h.size >= 1) || !(h.chunkSize >= 1) || h.chunkSize % h.unit !== 0) bad(`has size ${h.size} and chunk size ${h.chunkSize}, which no image can have`);
  const l = extentLayout(h.unit, dev.eraseSize, h.size, h.chunkSize);
  if (l.headerSectors !== h.headerSectors || l.headerSectors + l.dataSectors !== h.extentSectors) bad(`claims ${h.extentSectors} sectors, its size and chunk size need ${l.headerSectors + l.dataSectors}`);
  if (at + h.extentSectors * dev.eraseSize > dev.size) bad(`runs past the end of the device (${hex(dev.size)} bytes)`);
  return l;
}

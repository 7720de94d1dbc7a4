/**
 * The resume log: a small append-only record of an OTA write in progress, kept in the otadata
 * partition so that `OtaEngine.resume()` can continue after a power cut without the caller having
 * stored anything.
 *
 * Where: in the otadata sector that is NOT the active one (the engine empties that sector when an
 * update begins, as ESP-IDF's esp_ota_invalidate_inactive_ota_data_slot does), after the 32-byte
 * esp_ota_select_entry_t. The bootloader and ESP-IDF read only the first 32 bytes of a sector, and
 * every otadata rewrite erases the whole sector, so selecting the new image (set boot) also wipes
 * the log. With no active entry the log goes to sector 1, because a bootloader that finds blank
 * otadata writes sector 0 itself.
 *
 * Layout, little-endian, offsets inside that 0x1000-byte sector:
 *
 *   0x000  32 B   esp_ota_select_entry_t (not part of the log)
 *   0x040  32 B   header
 *           +0  u32 magic 0x5253464F ("OFSR"); 0x00000000 = log closed (update ended or aborted)
 *           +4  u8  version (1)
 *           +5  u8  erase mode (0 = 'all', 1 = 'sequential')
 *           +6  u8  partition subtype of the slot being written (0x10 + N)
 *           +7  u8  0xFF
 *           +8  u32 slot offset (absolute flash address)
 *           +12 u32 slot size
 *           +16 u32 declared image size, 0xFFFFFFFF = unknown
 *           +20 u32 erase limit: bytes from the slot start the plan erases
 *           +24 u32 0xFFFFFFFF
 *           +28 u32 CRC-32 (zlib) of bytes +0..+27, computed with the magic in place
 *   0x060  16 B × n  checkpoints, appended in order into erased space
 *           +0  u32 bytes written (durable: data synced before the checkpoint is programmed)
 *           +4  u32 bytes erased from the slot start (erase completed before the checkpoint)
 *           +8  u32 checkpoint index (0, 1, 2, ...)
 *           +12 u32 CRC-32 (zlib) of +0..+11, chained from the header CRC
 *
 * The latest checkpoint whose index and CRC check out wins; a torn checkpoint fails its CRC and is
 * skipped. Records are max(16, writeSize) bytes apart so each is one program of whole write units.
 */
import { OtaflashError, hex } from '../errors';
import type { BlockDevice } from '../flash/types';
import type { HashProvider } from '../hash/types';
import { OTADATA_SECTOR_SIZE, type OtaSector } from '../formats/otadata';
import { programInSector } from './otadata-commit';

export const RESUME_MAGIC = 0x5253464f;
export const RESUME_LOG_OFFSET = 0x40;
const HEADER_SIZE = 32;
const RECORD_SIZE = 16;
const VERSION = 1;
export const UNKNOWN_SIZE = 0xffffffff;

export interface ResumeHeader {
  readonly eraseMode: 'all' | 'sequential';
  readonly subtype: number;
  readonly slotOffset: number;
  readonly slotSize: number;
  /** Declared image size, or null when the caller did not give one. */
  readonly size: number | null;
  readonly eraseLimit: number;
}

export interface ResumeState {
  readonly sector: OtaSector;
  readonly header: ResumeHeader;
  readonly written: number;
  readonly erased: number;
  /** Number of record slots used (valid or torn): where the next checkpoint goes. */
  readonly used: number;
}

function u32(b: Uint8Array, o: number): number {
  return (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
}

function put32(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
  b[o + 2] = (v >>> 16) & 0xff;
  b[o + 3] = (v >>> 24) & 0xff;
}

function stride(region: BlockDevice): number {
  return Math.max(RECORD_SIZE, region.writeSize);
}

function headerSpan(region: BlockDevice): number {
  return Math.max(HEADER_SIZE, region.writeSize);
}

function firstRecordAt(region: BlockDevice): number {
  return RESUME_LOG_OFFSET + headerSpan(region);
}

/** How many checkpoints fit in one sector. */
export function resumeCapacity(region: BlockDevice): number {
  return Math.floor((OTADATA_SECTOR_SIZE - firstRecordAt(region)) / stride(region));
}

function encodeHeader(h: ResumeHeader, hashes: HashProvider): { bytes: Uint8Array; crc: number } {
  const b = new Uint8Array(HEADER_SIZE);
  b.fill(0xff);
  put32(b, 0, RESUME_MAGIC);
  b[4] = VERSION;
  b[5] = h.eraseMode === 'all' ? 0 : 1;
  b[6] = h.subtype;
  put32(b, 8, h.slotOffset);
  put32(b, 12, h.slotSize);
  put32(b, 16, h.size === null ? UNKNOWN_SIZE : h.size);
  put32(b, 20, h.eraseLimit);
  const crc = hashes.crc32(b.subarray(0, 28));
  put32(b, 28, crc);
  return { bytes: b, crc };
}

function readBack(region: BlockDevice, sector: OtaSector, at: number, want: Uint8Array): void {
  const back = new Uint8Array(want.length);
  region.read(sector * OTADATA_SECTOR_SIZE + at, back);
  for (let i = 0; i < want.length; i++) {
    if (back[i] !== want[i]) {
      throw new OtaflashError('OTA_RESUME_LOG_VERIFY_FAILED', `resume log in otadata sector ${sector}: byte ${hex(at + i)} reads ${hex(back[i])} after writing ${hex(want[i])}`, { sector, offset: at + i });
    }
  }
}

/** Starts a log in an otadata sector whose log area is erased. Returns the header CRC (the record chain seed). */
export function startResumeLog(region: BlockDevice, sector: OtaSector, h: ResumeHeader, hashes: HashProvider): number {
  const { bytes, crc } = encodeHeader(h, hashes);
  programInSector(region, sector, RESUME_LOG_OFFSET, bytes);
  region.sync();
  readBack(region, sector, RESUME_LOG_OFFSET, bytes);
  return crc;
}

/**
 * Appends checkpoint number `index`. Returns false (and writes nothing) when the sector is full: the
 * log then simply stops getting more precise, a resume restarts from the last checkpoint that fit.
 */
export function appendCheckpoint(region: BlockDevice, sector: OtaSector, chain: number, index: number, written: number, erased: number, hashes: HashProvider): boolean {
  if (index >= resumeCapacity(region)) return false;
  const b = new Uint8Array(RECORD_SIZE);
  put32(b, 0, written);
  put32(b, 4, erased);
  put32(b, 8, index);
  put32(b, 12, hashes.crc32(b.subarray(0, 12), chain));
  const at = firstRecordAt(region) + index * stride(region);
  programInSector(region, sector, at, b);
  region.sync();
  readBack(region, sector, at, b);
  return true;
}

/** Closes the log by zeroing its magic (a program, no erase): a later resume() finds nothing. */
export function closeResumeLog(region: BlockDevice, sector: OtaSector): void {
  const zero = new Uint8Array(4);
  programInSector(region, sector, RESUME_LOG_OFFSET, zero);
  region.sync();
}

/** Reads an open log from one sector, or null when there is none (blank, closed, or a bad header). */
export function readResumeLog(region: BlockDevice, sector: OtaSector, hashes: HashProvider): ResumeState | null {
  const base = sector * OTADATA_SECTOR_SIZE;
  const area = new Uint8Array(OTADATA_SECTOR_SIZE - RESUME_LOG_OFFSET);
  region.read(base + RESUME_LOG_OFFSET, area);
  if (u32(area, 0) !== RESUME_MAGIC || area[4] !== VERSION) return null;
  const crc = hashes.crc32(area.subarray(0, 28));
  if (u32(area, 28) !== crc) return null;
  const size = u32(area, 16);
  const header: ResumeHeader = {
    eraseMode: area[5] === 0 ? 'all' : 'sequential',
    subtype: area[6],
    slotOffset: u32(area, 8),
    slotSize: u32(area, 12),
    size: size === UNKNOWN_SIZE ? null : size,
    eraseLimit: u32(area, 20),
  };
  const first = firstRecordAt(region) - RESUME_LOG_OFFSET;
  const step = stride(region);
  const cap = resumeCapacity(region);
  let written = 0;
  let erased = 0;
  let used = 0;
  for (let i = 0; i < cap; i++) {
    const at = first + i * step;
    let blank = true;
    for (let k = 0; k < RECORD_SIZE; k++) {
      if (area[at + k] !== 0xff) {
        blank = false;
        break;
      }
    }
    if (blank) break;
    used = i + 1;
    const w = u32(area, at);
    const e = u32(area, at + 4);
    if (u32(area, at + 8) !== i) continue;
    if (u32(area, at + 12) !== hashes.crc32(area.subarray(at, at + 12), crc)) continue;
    // Progress only moves forward; anything else is damage, not a checkpoint.
    if (w < written || e < erased || w > header.slotSize || e > header.slotSize) continue;
    written = w;
    erased = e;
  }
  return { sector, header, written, erased, used };
}

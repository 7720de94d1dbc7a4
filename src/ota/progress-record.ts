/**
 * The resume log: a small record of an OTA write in progress, kept in the otadata partition so
 * that `OtaEngine.resume()` can continue after a power cut without the caller having stored
 * anything, and without re-sending more than the data of the last write call (or the last
 * `checkpointBytes`, default one erase sector).
 *
 * Where: in the otadata sector that is NOT the active one (the engine empties that sector when an
 * update begins, as ESP-IDF's esp_ota_invalidate_inactive_ota_data_slot does), after the 32-byte
 * esp_ota_select_entry_t. The bootloader and ESP-IDF read only the first 32 bytes of a sector, and
 * every otadata rewrite erases the whole sector, so selecting the new image (set boot) also wipes
 * the log. With no active entry the log goes to sector 1, because a bootloader that finds blank
 * otadata writes sector 0 itself.
 *
 * Layout, little-endian, offsets inside that 0x1000-byte sector (w = the device's write size):
 *
 *   0x000  32 B   esp_ota_select_entry_t (not part of the log)
 *   0x040  32 B   header (max(32, w) bytes reserved)
 *           +0  u32 magic 0x5253464F ("OFSR"); 0x00000000 = log closed (update ended or aborted)
 *           +4  u8  version (2)
 *           +5  u8  erase mode (0 = 'all', 1 = 'sequential')
 *           +6  u8  partition subtype of the slot being written (0x10 + N)
 *           +7  u8  erase budget per step as log2 bytes (maxEraseBytesPerStep rounded down to a
 *                   power of two), 0xFF = none
 *           +8  u32 slot offset (absolute flash address)
 *           +12 u32 slot size
 *           +16 u32 declared image size, 0xFFFFFFFF = unknown
 *           +20 u32 erase limit: bytes from the slot start the plan erases
 *           +24 u32 granule g: slot bytes per bitmap bit (w * 2^k, the smallest that fits)
 *           +28 u32 CRC-32 (zlib) of bytes +0..+27, computed with the magic in place
 *   A = 0x40 + max(32, w): written bitmap, M = roundUp(ceil(ceil(slotSize / g) / 8), w) bytes
 *   A + M:                 erased bitmap, M bytes
 *
 * Bit i of a bitmap is bit (i & 7) of byte (i >> 3). A cleared bit i of the written bitmap means
 * the first (i + 1) * g image bytes are programmed and synced; of the erased bitmap, that the
 * first (i + 1) * g slot bytes are erased. Progress is the number of leading cleared bits. Bits
 * are only ever cleared (NOR programs without an erase), so a torn program can leave a bit that
 * should be 0 at 1 (a hole: less progress is claimed than was made, which is safe) but never
 * claim progress that was not made: a bit is programmed only after what it claims is durable.
 * Erase progress is also implied by write progress (a programmed byte lies in an erased sector),
 * so the erased bitmap is only programmed when erasing runs ahead of writing (erase 'all', erase
 * steps, block erases in 'sequential' mode).
 */
import { OtaflashError, hex } from '../errors';
import { isBlockDevice } from '../flash/checks';
import type { BlockDevice } from '../flash/types';
import { defaultHashes } from '../hash/portable';
import type { HashProvider } from '../hash/types';
import { OTADATA_SECTOR_SIZE, type OtaSector } from '../formats/otadata';
import { programInSector } from './otadata-commit';
import { putU32 as put32, u32 } from '../formats/bytes';

export const RESUME_MAGIC = 0x5253464f;
export const RESUME_LOG_OFFSET = 0x40;
const HEADER_SIZE = 32;
const VERSION = 2;
export const UNKNOWN_SIZE = 0xffffffff;

export interface ResumeHeader {
  readonly eraseMode: 'all' | 'sequential';
  readonly subtype: number;
  readonly slotOffset: number;
  readonly slotSize: number;
  /** Declared image size, or null when the caller did not give one. */
  readonly size: number | null;
  readonly eraseLimit: number;
  /**
   * The writer's maxEraseBytesPerStep, rounded down to a power of two so one byte holds it, so a
   * resumed download keeps the caller's watchdog budget; null when there was none.
   */
  readonly eraseBudget?: number | null;
}

export interface ResumeState {
  readonly sector: OtaSector;
  readonly header: ResumeHeader;
  /** Slot bytes per bitmap bit. */
  readonly granule: number;
  /** Image bytes durably written (a multiple of the granule, at most the slot size). */
  readonly written: number;
  /** Slot bytes erased from the start (a multiple of the erase size, at least the sectors holding `written`). */
  readonly erased: number;
}

const NO_BUDGET = 0xff;

/** log2 of the largest power of two not above `bytes` (a finite budget of at least 1 byte), else NO_BUDGET. */
function budgetByte(bytes: number | null | undefined): number {
  if (bytes === null || bytes === undefined || !(bytes >= 1) || bytes === Infinity) return NO_BUDGET;
  let k = 0;
  while (k < 31 && Math.pow(2, k + 1) <= bytes) k++;
  return k;
}

function unitOf(region: BlockDevice): number {
  return Math.max(1, region.writeSize);
}

/** Where the written bitmap starts in the sector. */
export function bitmapStart(region: BlockDevice): number {
  return RESUME_LOG_OFFSET + Math.max(HEADER_SIZE, unitOf(region));
}

/** Bytes of one bitmap for a slot of `slotSize` at granule `g`. */
export function bitmapBytes(region: BlockDevice, slotSize: number, g: number): number {
  const w = unitOf(region);
  return Math.ceil(Math.ceil(Math.ceil(slotSize / g) / 8) / w) * w;
}

/** The finest granule whose two bitmaps fit in the sector: w * 2^k bytes per bit. */
export function resumeGranule(region: BlockDevice, slotSize: number): number {
  const room = OTADATA_SECTOR_SIZE - bitmapStart(region);
  let g = unitOf(region);
  while (2 * bitmapBytes(region, slotSize, g) > room) g *= 2;
  return g;
}

function encodeHeader(h: ResumeHeader, granule: number, hashes: HashProvider): Uint8Array {
  const b = new Uint8Array(HEADER_SIZE);
  b.fill(0xff);
  put32(b, 0, RESUME_MAGIC);
  b[4] = VERSION;
  b[5] = h.eraseMode === 'all' ? 0 : 1;
  b[6] = h.subtype;
  b[7] = budgetByte(h.eraseBudget);
  put32(b, 8, h.slotOffset);
  put32(b, 12, h.slotSize);
  put32(b, 16, h.size === null ? UNKNOWN_SIZE : h.size);
  put32(b, 20, h.eraseLimit);
  put32(b, 24, granule);
  put32(b, 28, hashes.crc32(b.subarray(0, 28)));
  return b;
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

/** Number of leading cleared bits of a bitmap (the progress it claims). */
function leadingCleared(map: Uint8Array, bits: number): number {
  let i = 0;
  while (i + 8 <= bits && map[i >> 3] === 0) i += 8;
  while (i < bits && (map[i >> 3] & (1 << (i & 7))) === 0) i++;
  return i;
}

/**
 * An open log, as the writer appends to it. Keeps a copy of both bitmaps so a checkpoint is one
 * program of the bytes whose bits change (widened to whole write units) and one read-back.
 */
export class ResumeLog {
  readonly region: BlockDevice;
  readonly sector: OtaSector;
  readonly granule: number;
  private readonly bits: number;
  private readonly mapBytes: number;
  private readonly start: number;
  private readonly maps: Uint8Array;
  private writtenBits: number;
  private erasedBits: number;

  /** @internal */
  constructor(region: BlockDevice, sector: OtaSector, slotSize: number, granule: number, maps: Uint8Array) {
    this.region = region;
    this.sector = sector;
    this.granule = granule;
    this.bits = Math.ceil(slotSize / granule);
    this.mapBytes = bitmapBytes(region, slotSize, granule);
    this.start = bitmapStart(region);
    this.maps = maps;
    this.writtenBits = leadingCleared(maps, this.bits);
    this.erasedBits = leadingCleared(maps.subarray(this.mapBytes), this.bits);
  }

  /** Claims the first `bytes` image bytes durable (the caller synced them). Rounds down to the granule. */
  markWritten(bytes: number): void {
    this.writtenBits = this.mark(0, this.writtenBits, Math.min(this.bits, Math.floor(bytes / this.granule)));
  }

  /** Claims the first `bytes` slot bytes erased (the caller synced the erase). Rounds down to the granule. */
  markErased(bytes: number): void {
    this.erasedBits = this.mark(this.mapBytes, this.erasedBits, Math.min(this.bits, Math.floor(bytes / this.granule)));
  }

  private mark(mapAt: number, from: number, to: number): number {
    if (to <= from) return from;
    const m = this.maps;
    let i = from;
    for (; i < to && (i & 7) !== 0; i++) m[mapAt + (i >> 3)] &= ~(1 << (i & 7));
    if (i + 8 <= to) {
      m.fill(0, mapAt + (i >> 3), mapAt + (to >> 3));
      i = to & ~7;
    }
    for (; i < to; i++) m[mapAt + (i >> 3)] &= ~(1 << (i & 7));
    const w = unitOf(this.region);
    // Whole write units, counted from the sector start (the bitmaps start on a unit boundary when
    // the header span allows; otherwise programInSector widens with the bytes on flash).
    let lo = this.start + mapAt + (from >> 3);
    let hi = this.start + mapAt + ((to - 1) >> 3) + 1;
    lo = Math.max(this.start + mapAt, Math.floor(lo / w) * w);
    hi = Math.min(this.start + mapAt + this.mapBytes, Math.ceil(hi / w) * w);
    const data = m.subarray(lo - this.start, hi - this.start);
    if (lo % w === 0 && hi % w === 0) this.region.write(this.sector * OTADATA_SECTOR_SIZE + lo, data);
    else programInSector(this.region, this.sector, lo, data);
    // No read-back here: a bit that failed to clear only claims less, and one that cleared wrongly
    // cannot pass end(), which re-hashes the logged prefix from the slot on resume.
    return to;
  }
}

/** Starts a log in an otadata sector whose log area is erased. */
export function startResumeLog(region: BlockDevice, sector: OtaSector, h: ResumeHeader, hashes: HashProvider): ResumeLog {
  const g = resumeGranule(region, h.slotSize);
  const bytes = encodeHeader(h, g, hashes);
  programInSector(region, sector, RESUME_LOG_OFFSET, bytes);
  region.sync();
  readBack(region, sector, RESUME_LOG_OFFSET, bytes);
  const maps = new Uint8Array(2 * bitmapBytes(region, h.slotSize, g));
  maps.fill(0xff);
  return new ResumeLog(region, sector, h.slotSize, g, maps);
}

/** Reopens the log readResumeLog() found, to keep appending to it. */
export function reopenResumeLog(region: BlockDevice, r: ResumeState): ResumeLog {
  const maps = new Uint8Array(2 * bitmapBytes(region, r.header.slotSize, r.granule));
  region.read(r.sector * OTADATA_SECTOR_SIZE + bitmapStart(region), maps);
  return new ResumeLog(region, r.sector, r.header.slotSize, r.granule, maps);
}

/** Closes the log by zeroing its magic (a program, no erase): a later resume() finds nothing. */
export function closeResumeLog(region: BlockDevice, sector: OtaSector): void {
  const zero = new Uint8Array(4);
  programInSector(region, sector, RESUME_LOG_OFFSET, zero);
  region.sync();
  readBack(region, sector, RESUME_LOG_OFFSET, zero);
}

/** Reads an open log from one sector, or null when there is none (blank, closed, or a bad header). */
export function readResumeLog(region: BlockDevice, sector: OtaSector, hashes: HashProvider = defaultHashes()): ResumeState | null {
  if (!isBlockDevice(region)) throw new OtaflashError('OTA_BAD_ARGUMENT', 'readResumeLog: the first argument must be the otadata region (a block device)');
  if (sector !== 0 && sector !== 1) throw new OtaflashError('OTA_BAD_ARGUMENT', `readResumeLog: sector must be 0 or 1, got ${String(sector)}`);
  const base = sector * OTADATA_SECTOR_SIZE;
  const head = new Uint8Array(HEADER_SIZE);
  region.read(base + RESUME_LOG_OFFSET, head);
  if (u32(head, 0) !== RESUME_MAGIC || head[4] !== VERSION) return null;
  if (u32(head, 28) !== hashes.crc32(head.subarray(0, 28))) return null;
  const size = u32(head, 16);
  const header: ResumeHeader = {
    eraseMode: head[5] === 0 ? 'all' : 'sequential',
    subtype: head[6],
    slotOffset: u32(head, 8),
    slotSize: u32(head, 12),
    size: size === UNKNOWN_SIZE ? null : size,
    eraseLimit: u32(head, 20),
    eraseBudget: head[7] === NO_BUDGET || head[7] > 31 ? null : Math.pow(2, head[7]),
  };
  const g = u32(head, 24);
  // A granule this device would not have chosen means the log is not ours to trust.
  if (header.slotSize === 0 || g !== resumeGranule(region, header.slotSize)) return null;
  const bits = Math.ceil(header.slotSize / g);
  const m = bitmapBytes(region, header.slotSize, g);
  const maps = new Uint8Array(2 * m);
  region.read(base + bitmapStart(region), maps);
  const es = region.eraseSize;
  const written = Math.min(header.slotSize, leadingCleared(maps, bits) * g);
  let erased = Math.floor(Math.min(header.eraseLimit, leadingCleared(maps.subarray(m), bits) * g) / es) * es;
  // Every programmed byte lies in a sector erased as a whole before it.
  const implied = Math.min(header.eraseLimit, Math.ceil(written / es) * es);
  if (implied > erased) erased = implied;
  return { sector, header, granule: g, written, erased };
}

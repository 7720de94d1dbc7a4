import { OtaflashError, hex, kindOf } from '../errors';
import { isBlockDevice } from '../flash/checks';
import type { BlockDevice } from '../flash/types';
import { defaultHashes } from '../hash/portable';
import type { HashProvider } from '../hash/types';
import { putU32, u32 } from './bytes';

/**
 * otadata: the two-sector OTA selection record an ESP-IDF bootloader reads (docs/formats.md §4).
 * Each sector starts with one 32-byte `esp_ota_select_entry_t`; the rest of the sector stays erased.
 */

/** `esp_ota_img_states_t`. Any other value is bootable, like VALID/UNDEFINED. */
export const OTA_STATE = {
  NEW: 0,
  PENDING_VERIFY: 1,
  VALID: 2,
  INVALID: 3,
  ABORTED: 4,
  UNDEFINED: 0xffffffff,
} as const;

export const OTADATA_SIZE = 0x2000;
/** Entry 1 sits at SPI_SEC_SIZE, whatever the device's own erase size. */
export const OTADATA_SECTOR_SIZE = 0x1000;
export const OTA_ENTRY_SIZE = 32;
export const OTA_SEQ_LABEL_SIZE = 20;
/** seq value of an erased entry. */
export const OTA_SEQ_EMPTY = 0xffffffff;

export interface OtaSelectEntry {
  /** u32 sequence number; slot = (seq - 1) mod N. 0xFFFFFFFF = empty. */
  readonly seq: number;
  /** 20 bytes, unused by ESP-IDF, kept as-is on rewrites. */
  readonly seqLabel: Uint8Array;
  /** u32 `ota_state` (OTA_STATE), not covered by the CRC. */
  readonly state: number;
  /** u32 as stored. */
  readonly crc: number;
}

export type OtaSector = 0 | 1;
export type OtadataEntries = readonly [OtaSelectEntry, OtaSelectEntry];

/**
 * A copy of bytes [start, end) as a Uint8Array. Not `slice`: Espruino's typed arrays return a plain
 * Array from `slice`, which `encodeOtaEntry` would then refuse as a seq_label.
 */
function copyBytes(b: Uint8Array, start = 0, end = b.length): Uint8Array {
  const out = new Uint8Array(end - start);
  out.set(b.subarray(start, end));
  return out;
}

function checkU32(value: number, what: string): void {
  if (typeof value !== 'number' || value !== Math.floor(value) || value < 0 || value > 0xffffffff) {
    throw new OtaflashError('OTADATA_BAD_VALUE', `${what} ${value} is not an unsigned 32-bit integer`, { what, value });
  }
}



/**
 * The entry CRC: covers the 4 seq bytes only, with ESP-IDF's `esp_rom_crc32_le(0xFFFFFFFF, ...)`,
 * which in zlib terms is crc32(seq_le, 0xFFFFFFFF), not the standard CRC-32 (docs/formats.md §4.2).
 */
export function otaSeqCrc(seq: number, hashes?: HashProvider): number {
  checkU32(seq, 'ota_seq');
  const b = new Uint8Array(4);
  putU32(b, 0, seq);
  return (hashes ?? defaultHashes()).crc32(b, 0xffffffff) >>> 0;
}

export function decodeOtaEntry(bytes: Uint8Array): OtaSelectEntry {
  if (!(bytes instanceof Uint8Array) || bytes.length < OTA_ENTRY_SIZE) {
    const n = bytes instanceof Uint8Array ? bytes.length : -1;
    throw new OtaflashError('OTADATA_BAD_SIZE', `an otadata entry is ${OTA_ENTRY_SIZE} bytes, got ${n}`, { length: n });
  }
  return {
    seq: u32(bytes, 0),
    seqLabel: copyBytes(bytes, 4, 4 + OTA_SEQ_LABEL_SIZE),
    state: u32(bytes, 0x18),
    crc: u32(bytes, 0x1c),
  };
}

export function encodeOtaEntry(entry: OtaSelectEntry): Uint8Array {
  checkU32(entry.seq, 'ota_seq');
  checkU32(entry.state, 'ota_state');
  checkU32(entry.crc, 'crc');
  if (!(entry.seqLabel instanceof Uint8Array) || entry.seqLabel.length !== OTA_SEQ_LABEL_SIZE) {
    throw new OtaflashError('OTADATA_BAD_VALUE', `seq_label must be ${OTA_SEQ_LABEL_SIZE} bytes`);
  }
  const out = new Uint8Array(OTA_ENTRY_SIZE);
  putU32(out, 0, entry.seq);
  out.set(entry.seqLabel, 4);
  putU32(out, 0x18, entry.state);
  putU32(out, 0x1c, entry.crc);
  return out;
}

function erasedLabel(): Uint8Array {
  const l = new Uint8Array(OTA_SEQ_LABEL_SIZE);
  l.fill(0xff);
  return l;
}

/** A fresh entry with a correct CRC; seqLabel defaults to erased bytes. */
export function makeOtaEntry(seq: number, state: number, seqLabel?: Uint8Array, hashes?: HashProvider): OtaSelectEntry {
  checkU32(state, 'ota_state');
  return { seq, seqLabel: seqLabel ? copyBytes(seqLabel) : erasedLabel(), state, crc: otaSeqCrc(seq, hashes) };
}

/** The same entry with another state: the CRC stays, since it covers only seq. */
export function withOtaState(entry: OtaSelectEntry, state: number): OtaSelectEntry {
  checkU32(state, 'ota_state');
  return { seq: entry.seq, seqLabel: copyBytes(entry.seqLabel), state, crc: entry.crc };
}

/** An erased sector decodes to this. */
export function emptyOtaEntry(): OtaSelectEntry {
  return { seq: OTA_SEQ_EMPTY, seqLabel: erasedLabel(), state: OTA_STATE.UNDEFINED, crc: 0xffffffff };
}

/** ESP-IDF's `bootloader_common_ota_select_invalid`: looks at seq and state, never at the CRC. */
export function isOtaEntryInvalid(e: OtaSelectEntry): boolean {
  return e.seq === OTA_SEQ_EMPTY || e.state === OTA_STATE.INVALID || e.state === OTA_STATE.ABORTED;
}

export function isOtaEntryCrcOk(e: OtaSelectEntry, hashes?: HashProvider): boolean {
  return e.crc === otaSeqCrc(e.seq, hashes);
}

/** ESP-IDF's `bootloader_common_ota_select_valid`: not invalid and the CRC matches. */
export function isOtaEntryValid(e: OtaSelectEntry, hashes?: HashProvider): boolean {
  return !isOtaEntryInvalid(e) && isOtaEntryCrcOk(e, hashes);
}

/**
 * The entry ESP-IDF treats as active (`bootloader_common_get_active_otadata`): among valid entries
 * the larger seq, sector 0 on a tie; -1 when neither is valid. `valid` overrides the validity test
 * (the anti-rollback bootloader also requires an acceptable secure_version).
 */
export function activeOtaSector(entries: OtadataEntries, hashes?: HashProvider, valid?: readonly [boolean, boolean]): 0 | 1 | -1 {
  const v0 = valid ? valid[0] : isOtaEntryValid(entries[0], hashes);
  const v1 = valid ? valid[1] : isOtaEntryValid(entries[1], hashes);
  return selectOtaSector(entries, v0, v1, true);
}

/** `bootloader_common_select_otadata`: between the usable entries, the larger (or smaller) seq; a tie goes to sector 0. */
function selectOtaSector(entries: OtadataEntries, v0: boolean, v1: boolean, max: boolean): 0 | 1 | -1 {
  if (v0 && v1) {
    const pick = max ? Math.max(entries[0].seq, entries[1].seq) : Math.min(entries[0].seq, entries[1].seq);
    return pick === entries[0].seq ? 0 : 1;
  }
  if (v0) return 0;
  if (v1) return 1;
  return -1;
}

/**
 * `esp_ota_get_state_partition` on the entries: the state of the first entry (sector 0, then 1) whose
 * slot is `slot` and whose CRC is good, whatever its seq or validity; null when none matches.
 */
export function otaStateOfSlot(entries: OtadataEntries, slot: number, n: number, hashes?: HashProvider): number | null {
  for (let i = 0; i < 2; i++) {
    const e = entries[i];
    if (e.seq !== OTA_SEQ_EMPTY && isOtaEntryCrcOk(e, hashes) && slotOfSeq(e.seq, n) === slot) return e.state;
  }
  return null;
}

/**
 * `esp_ota_get_last_invalid_partition` on the entries: among entries with a live seq, a good CRC and
 * state INVALID or ABORTED, the one with the smaller seq (sector 0 on a tie); -1 when there is none.
 */
export function lastInvalidOtaSector(entries: OtadataEntries, hashes?: HashProvider): 0 | 1 | -1 {
  const bad = (e: OtaSelectEntry) => e.seq !== OTA_SEQ_EMPTY && isOtaEntryCrcOk(e, hashes) && (e.state === OTA_STATE.INVALID || e.state === OTA_STATE.ABORTED);
  return selectOtaSector(entries, bad(entries[0]), bad(entries[1]), false);
}

/** slot = (seq - 1) mod n in uint32, so seq 0 maps to 0xFFFFFFFF mod n (docs/formats.md §4.6). */
export function slotOfSeq(seq: number, n: number): number {
  checkU32(seq, 'ota_seq');
  if (!(n >= 1 && n <= 16 && n === Math.floor(n))) {
    throw new OtaflashError('OTADATA_BAD_SLOT_COUNT', `the number of OTA slots must be 1..16, got ${n}`, { n });
  }
  return ((seq - 1) >>> 0) % n;
}

/** Decodes a whole 0x2000-byte otadata image (for example a file cut from a flash dump). */
export function decodeOtadata(bytes: Uint8Array): [OtaSelectEntry, OtaSelectEntry] {
  if (!(bytes instanceof Uint8Array) || bytes.length !== OTADATA_SIZE) {
    const n = bytes instanceof Uint8Array ? bytes.length : -1;
    throw new OtaflashError('OTADATA_BAD_SIZE', `an otadata image is ${hex(OTADATA_SIZE)} bytes, got ${n} (${hex(n)})`, { length: n });
  }
  return [decodeOtaEntry(bytes.subarray(0, OTA_ENTRY_SIZE)), decodeOtaEntry(bytes.subarray(OTADATA_SECTOR_SIZE, OTADATA_SECTOR_SIZE + OTA_ENTRY_SIZE))];
}

/** Builds a 0x2000-byte otadata image: each entry at the start of its sector, everything else 0xFF. */
export function encodeOtadata(entries: OtadataEntries): Uint8Array {
  const out = new Uint8Array(OTADATA_SIZE);
  out.fill(0xff);
  out.set(encodeOtaEntry(entries[0]), 0);
  out.set(encodeOtaEntry(entries[1]), OTADATA_SECTOR_SIZE);
  return out;
}

function checkOtadataRegion(region: BlockDevice): void {
  if (!isBlockDevice(region)) throw new OtaflashError('OTADATA_BAD_ARGUMENT', `otadata needs a block device, got ${kindOf(region)}`);
  if (region.size < OTADATA_SIZE) {
    // The bootloader refuses an otadata partition smaller than two sectors.
    throw new OtaflashError('OTADATA_BAD_SIZE', `the otadata partition is ${hex(region.size)} bytes; it needs at least ${hex(OTADATA_SIZE)}`, { size: region.size });
  }
}

/** Reads both entries from the otadata partition (a device or region addressed from the partition start). */
export function readOtadata(region: BlockDevice): [OtaSelectEntry, OtaSelectEntry] {
  checkOtadataRegion(region);
  const buf = new Uint8Array(OTA_ENTRY_SIZE);
  region.read(0, buf);
  const e0 = decodeOtaEntry(buf);
  region.read(OTADATA_SECTOR_SIZE, buf);
  const e1 = decodeOtaEntry(buf);
  return [e0, e1];
}

function checkSector(sector: number): void {
  if (sector !== 0 && sector !== 1) {
    throw new OtaflashError('OTADATA_BAD_SECTOR', `otadata sector must be 0 or 1, got ${sector}`, { sector });
  }
}

/**
 * Rewrites one otadata sector the way ESP-IDF does (erase the 0x1000 sector, program the 32-byte
 * entry), then syncs and reads it back: a mismatch is OTADATA_VERIFY_FAILED.
 */
export function writeOtaEntry(region: BlockDevice, sector: OtaSector, entry: OtaSelectEntry): void {
  checkSector(sector);
  checkOtadataRegion(region);
  if (region.eraseSize > OTADATA_SECTOR_SIZE || OTADATA_SECTOR_SIZE % region.eraseSize !== 0) {
    // Erasing one copy would also wipe the other: the two-copy scheme would be meaningless.
    throw new OtaflashError('OTADATA_BAD_GEOMETRY', `otadata needs an erase size dividing ${hex(OTADATA_SECTOR_SIZE)}, the device erases ${hex(region.eraseSize)}`, { eraseSize: region.eraseSize });
  }
  const encoded = encodeOtaEntry(entry);
  const w = Math.max(1, region.writeSize);
  const len = Math.ceil(OTA_ENTRY_SIZE / w) * w;
  let data = encoded;
  if (len !== OTA_ENTRY_SIZE) {
    data = new Uint8Array(len);
    data.fill(0xff);
    data.set(encoded);
  }
  const at = sector * OTADATA_SECTOR_SIZE;
  region.erase(at, OTADATA_SECTOR_SIZE);
  region.write(at, data);
  region.sync();
  const back = new Uint8Array(len);
  region.read(at, back);
  for (let i = 0; i < len; i++) {
    if (back[i] !== data[i]) {
      throw new OtaflashError('OTADATA_VERIFY_FAILED', `otadata sector ${sector}: byte ${hex(at + i)} reads ${hex(back[i])} after writing ${hex(data[i])}`, { sector, offset: at + i });
    }
  }
}

export type SetBootVariant = 'idf_v6' | 'idf_v5';

/**
 * Where `esp_ota_set_boot_partition(ota_<targetSlot>)` writes and which seq (docs/formats.md §4.9), for an
 * app-side slot count n. idf_v6 rewrites the active sector with the same seq when the target is
 * already active; idf_v5 (and otatool) always writes the other sector.
 */
export function nextBootSeqWrite(entries: OtadataEntries, targetSlot: number, n: number, variant: SetBootVariant, hashes?: HashProvider): { sector: OtaSector; seq: number } {
  if (!(n >= 1 && n <= 16 && n === Math.floor(n))) {
    throw new OtaflashError('OTADATA_BAD_SLOT_COUNT', `the number of OTA slots must be 1..16, got ${n}`, { n });
  }
  if (!(targetSlot >= 0 && targetSlot < n && targetSlot === Math.floor(targetSlot))) {
    throw new OtaflashError('OTADATA_BAD_SLOT', `OTA slot ${targetSlot} does not exist with ${n} slots`, { targetSlot, n });
  }
  if (variant !== 'idf_v6' && variant !== 'idf_v5') {
    throw new OtaflashError('OTADATA_BAD_VALUE', `unknown set-boot variant '${variant}'`);
  }
  const active = activeOtaSector(entries, hashes);
  if (active === -1) return { sector: 0, seq: targetSlot + 1 };
  const cur = entries[active].seq;
  if (variant === 'idf_v6' && slotOfSeq(cur, n) === targetSlot) return { sector: active, seq: cur };
  const base = (targetSlot + 1) % n;
  const i = cur > base ? Math.ceil((cur - base) / n) : 0;
  const seq = base + i * n;
  if (seq >= OTA_SEQ_EMPTY) {
    // ESP-IDF's uint32 loop would wrap here; refusing is better than writing an empty-looking seq.
    throw new OtaflashError('OTADATA_SEQ_OVERFLOW', `the next ota_seq after ${hex(cur)} does not fit in 32 bits`, { cur });
  }
  return { sector: active === 0 ? 1 : 0, seq };
}

/**
 * The full entry `esp_ota_set_boot_partition` writes: the target sector's old seq_label, the new seq,
 * state NEW (rollback enabled) or UNDEFINED, a fresh CRC.
 */
export function nextBootEntry(
  entries: OtadataEntries,
  targetSlot: number,
  n: number,
  opts: { variant: SetBootVariant; rollback: boolean; hashes?: HashProvider },
): { sector: OtaSector; entry: OtaSelectEntry } {
  const w = nextBootSeqWrite(entries, targetSlot, n, opts.variant, opts.hashes);
  const state = opts.rollback ? OTA_STATE.NEW : OTA_STATE.UNDEFINED;
  return { sector: w.sector, entry: makeOtaEntry(w.seq, state, entries[w.sector].seqLabel, opts.hashes) };
}

const STATE_NAMES: Record<number, string> = {
  0: 'NEW',
  1: 'PENDING_VERIFY',
  2: 'VALID',
  3: 'INVALID',
  4: 'ABORTED',
  4294967295: 'UNDEFINED',
};

/** 'VALID', 'UNDEFINED', ... or the hex value for a state ESP-IDF has no name for. */
export function otaStateName(state: number): string {
  const name = STATE_NAMES[state];
  return name !== undefined ? name : hex(state);
}

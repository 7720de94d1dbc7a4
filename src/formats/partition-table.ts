import { OtaflashError, hex } from '../errors';
import type { BlockDevice } from '../flash/types';
import { defaultHashes } from '../hash/portable';
import type { HashProvider } from '../hash/types';
import type { Partition, PartitionTable } from './partition-types';
import { checkPartitionTable } from './partition-lookup';
import { utf8Decode, utf8Encode } from './utf8';
import { putU32, u32, toHex, sameBytes } from './bytes';

/** Default flash address of the table (CONFIG_PARTITION_TABLE_OFFSET). */
export const PARTITION_TABLE_OFFSET = 0x8000;
/** Flash reserved for the table: one sector. */
export const PARTITION_TABLE_SECTOR_SIZE = 0x1000;
/** Bytes the tool writes; the rest of the sector is left for a Secure Boot V1 signature. */
export const PARTITION_TABLE_MAX_LENGTH = 0xc00;
export const PARTITION_RECORD_SIZE = 32;
export const PARTITION_LABEL_SIZE = 16;

const MAGIC_0 = 0xaa; // u16 0x50AA, little-endian
const MAGIC_1 = 0x50;
const MD5_MAGIC = 0xeb;

export interface DecodePartitionTableOptions {
  hashes?: HashProvider;
  /**
   * Check MD5 records (default true). false is the tool's --disable-md5sum: a record starting
   * EB EB is then read as a partition, which the tool cannot do (PARTITION_MD5_DISABLED).
   */
  md5?: boolean;
}

export interface EncodePartitionTableOptions {
  /**
   * Append the MD5 record. Default: follow the table (`md5 !== null`), so a decoded table encodes
   * back to the same bytes. The digest is always recomputed; a stale `table.md5` is never written.
   */
  md5?: boolean;
  hashes?: HashProvider;
}

function isBlankRecord(bytes: Uint8Array, at: number): boolean {
  for (let i = 0; i < PARTITION_RECORD_SIZE; i++) if (bytes[at + i] !== 0xff) return false;
  return true;
}



/** Python's repr() of a bytes object, as the tool prints the bad magic. */
function pyBytesRepr(bytes: Uint8Array): string {
  // Python picks double quotes when the bytes hold a ' and no ".
  const q = bytes.indexOf(0x27) >= 0 && bytes.indexOf(0x22) < 0 ? '"' : "'";
  let s = 'b' + q;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (b === 0x5c) s += '\\\\';
    else if (b === q.charCodeAt(0)) s += '\\' + q;
    else if (b === 0x09) s += '\\t';
    else if (b === 0x0a) s += '\\n';
    else if (b === 0x0d) s += '\\r';
    else if (b >= 0x20 && b < 0x7f) s += String.fromCharCode(b);
    else s += '\\x' + (b < 16 ? '0' : '') + b.toString(16);
  }
  return s + q;
}

/**
 * An MD5 record met with MD5 checking off (--disable-md5sum). The tool then reads it as a partition:
 * it decodes the label first, and the MD5 record's label bytes (FF ...) make it crash. When the label
 * happens to decode, it refuses the magic instead; we give that same error.
 */
function refuseMd5Record(bytes: Uint8Array, at: number, index: number): never {
  const raw = bytes.subarray(at + 12, at + 12 + PARTITION_LABEL_SIZE);
  const nul = raw.indexOf(0);
  if (utf8Decode(nul >= 0 ? raw.subarray(0, nul) : raw) !== null) {
    throw new OtaflashError(
      'PARTITION_BAD_MAGIC',
      `Invalid magic bytes (${pyBytesRepr(bytes.subarray(at, at + 2))}) for partition definition: record ${index} at table offset ${hex(at)} is an MD5 record, and MD5 checking is off (--disable-md5sum)`,
      { index, offset: at },
    );
  }
  throw new OtaflashError(
    'PARTITION_MD5_DISABLED',
    `Record ${index} at table offset ${hex(at)} is an MD5 record (EB EB), but MD5 checking is off (--disable-md5sum): gen_esp32part.py cannot read this table that way; leave MD5 checking on`,
    { index, offset: at },
  );
}

/** Decodes one 32-byte record (no magic check: the caller has done it). */
function decodeRecord(bytes: Uint8Array, at: number, index: number): Partition {
  const raw = bytes.subarray(at + 12, at + 12 + PARTITION_LABEL_SIZE);
  let end = 0;
  while (end < raw.length && raw[end] !== 0) end++;
  const label = utf8Decode(raw.subarray(0, end));
  if (label === null) {
    throw new OtaflashError('PARTITION_BAD_LABEL', `Partition record ${index} (table offset ${hex(at)}): label is not valid UTF-8`, { index, offset: at });
  }
  return Object.freeze({
    label,
    type: bytes[at + 2],
    subtype: bytes[at + 3],
    offset: u32(bytes, at + 4),
    size: u32(bytes, at + 8),
    flags: u32(bytes, at + 28),
  });
}

/**
 * Decodes a binary partition table with the rules of gen_esp32part.py's reader: records until a
 * record of 32 x 0xFF (bytes after it are ignored, whatever their length); a record starting EB EB
 * is the MD5 record and must match the MD5 of the records before it (PARTITION_BAD_MD5). Unknown
 * flag bits are kept in `flags`.
 */
export function decodePartitionTable(bytes: Uint8Array, opts: DecodePartitionTableOptions = {}): PartitionTable {
  if (!(bytes instanceof Uint8Array)) throw new OtaflashError('PARTITION_BAD_ARGUMENT', `Partition table must be a Uint8Array, got ${bytes === null ? 'null' : typeof bytes}`);
  if (opts === null || typeof opts !== 'object') throw new OtaflashError('PARTITION_BAD_OPTION', `decodePartitionTable options must be an object, got ${opts === null ? 'null' : typeof opts}`);
  if (opts.md5 !== undefined && typeof opts.md5 !== 'boolean') throw new OtaflashError('PARTITION_BAD_OPTION', `md5 must be true or false, got ${JSON.stringify(opts.md5)}`);
  const checkMd5 = opts.md5 !== false;
  const hashes = opts.hashes || defaultHashes();
  const partitions: Partition[] = [];
  let md5: Uint8Array | null = null;
  for (let at = 0; at < bytes.length; at += PARTITION_RECORD_SIZE) {
    const index = at / PARTITION_RECORD_SIZE;
    // Like the tool, bytes after the end marker are never looked at, so only a partial record
    // that is actually reached makes the length wrong.
    if (at + PARTITION_RECORD_SIZE > bytes.length) {
      throw new OtaflashError(
        'PARTITION_BAD_LENGTH',
        `Partition table length must be a multiple of 32 bytes (got ${bytes.length}; record ${index} at table offset ${hex(at)} is cut short, with no end marker before it)`,
        { length: bytes.length, index, offset: at },
      );
    }
    if (isBlankRecord(bytes, at)) return { partitions: Object.freeze(partitions), md5 };
    const md5Magic = bytes[at] === MD5_MAGIC && bytes[at + 1] === MD5_MAGIC;
    if (md5Magic && !checkMd5) refuseMd5Record(bytes, at, index);
    if (md5Magic) {
      // Like the tool: the digest covers every partition record so far, earlier MD5 records excluded.
      const digest = hashes.md5();
      for (let r = 0; r < at; r += PARTITION_RECORD_SIZE) {
        if (!(bytes[r] === MD5_MAGIC && bytes[r + 1] === MD5_MAGIC)) digest.update(bytes.subarray(r, r + PARTITION_RECORD_SIZE));
      }
      const computed = digest.digest();
      const stored = bytes.slice(at + 16, at + 32);
      if (!sameBytes(computed, stored)) {
        throw new OtaflashError(
          'PARTITION_BAD_MD5',
          // The tool formats the bytes object hexlify() returns, hence its b'...'.
          `MD5 checksums don't match! (computed: 0x${toHex(computed)}, parsed: 0xb'${toHex(stored)}') in the MD5 record at table offset ${hex(at)}`,
          { index, offset: at },
        );
      }
      md5 = stored;
      continue;
    }
    if (bytes[at] !== MAGIC_0 || bytes[at + 1] !== MAGIC_1) {
      throw new OtaflashError(
        'PARTITION_BAD_MAGIC',
        `Invalid magic bytes (${pyBytesRepr(bytes.subarray(at, at + 2))}) for partition definition: record ${index} at table offset ${hex(at)}`,
        { index, offset: at },
      );
    }
    partitions.push(decodeRecord(bytes, at, index));
  }
  throw new OtaflashError('PARTITION_NO_END_MARKER', `Partition table is missing an end-of-table marker (no 32 x 0xFF record in ${bytes.length} bytes)`, {
    length: bytes.length,
  });
}

function checkField(p: Partition, index: number, name: string, v: number, max: number): void {
  if (!(typeof v === 'number' && v % 1 === 0 && v >= 0 && v <= max)) {
    throw new OtaflashError('PARTITION_BAD_VALUE', `Partition ${p.label} (record ${index}): ${name} ${v} is out of range 0..${hex(max)}`, { index, label: p.label, field: name });
  }
}

/** Writes the 32-byte record of `p` at `at`. The label is cut to 16 bytes, as the tool does. */
export function encodePartitionRecord(p: Partition, into: Uint8Array, at: number, index = 0): void {
  checkField(p, index, 'type', p.type, 0xff);
  checkField(p, index, 'subtype', p.subtype, 0xff);
  checkField(p, index, 'offset', p.offset, 0xffffffff);
  checkField(p, index, 'size', p.size, 0xffffffff);
  checkField(p, index, 'flags', p.flags, 0xffffffff);
  into[at] = MAGIC_0;
  into[at + 1] = MAGIC_1;
  into[at + 2] = p.type;
  into[at + 3] = p.subtype;
  putU32(into, at + 4, p.offset);
  putU32(into, at + 8, p.size);
  const label = utf8Encode(p.label);
  for (let i = 0; i < PARTITION_LABEL_SIZE; i++) into[at + 12 + i] = i < label.length ? label[i] : 0;
  putU32(into, at + 28, p.flags);
}

/**
 * Encodes a table exactly as gen_esp32part.py does: records, the MD5 record (unless disabled),
 * 0xFF fill up to 0xC00 bytes. PARTITION_TABLE_TOO_LARGE when the records (plus MD5) reach 0xC00,
 * so at most 94 partitions with MD5 and 95 without.
 */
export function encodePartitionTable(table: PartitionTable, opts: EncodePartitionTableOptions = {}): Uint8Array {
  checkPartitionTable(table, 'encodePartitionTable');
  if (opts === null || typeof opts !== 'object') throw new OtaflashError('PARTITION_BAD_OPTION', `encodePartitionTable options must be an object, got ${opts === null ? 'null' : typeof opts}`);
  const withMd5 = opts.md5 !== undefined ? opts.md5 : table.md5 !== null;
  const n = table.partitions.length;
  const used = (n + (withMd5 ? 1 : 0)) * PARTITION_RECORD_SIZE;
  if (used >= PARTITION_TABLE_MAX_LENGTH) {
    throw new OtaflashError('PARTITION_TABLE_TOO_LARGE', `Binary partition table length (${used}) longer than max (${n} partitions${withMd5 ? ' + MD5 record' : ''}; the limit is ${withMd5 ? 94 : 95} partitions)`, {
      length: used,
      partitions: n,
    });
  }
  const out = new Uint8Array(PARTITION_TABLE_MAX_LENGTH);
  out.fill(0xff);
  for (let i = 0; i < n; i++) encodePartitionRecord(table.partitions[i], out, i * PARTITION_RECORD_SIZE, i);
  if (withMd5) {
    const at = n * PARTITION_RECORD_SIZE;
    out[at] = MD5_MAGIC;
    out[at + 1] = MD5_MAGIC; // bytes 2..15 stay 0xFF
    out.set((opts.hashes || defaultHashes()).md5().update(out.subarray(0, at)).digest(), at + 16);
  }
  return out;
}

/** MD5 digest the MD5 record of these partitions would carry. */
export function partitionTableMd5(partitions: readonly Partition[], hashes?: HashProvider): Uint8Array {
  if (!Array.isArray(partitions)) throw new OtaflashError('PARTITION_BAD_ARGUMENT', `partitionTableMd5: expected an array of partitions, got ${partitions === null ? 'null' : typeof partitions}`);
  const bytes = new Uint8Array(partitions.length * PARTITION_RECORD_SIZE);
  for (let i = 0; i < partitions.length; i++) encodePartitionRecord(partitions[i], bytes, i * PARTITION_RECORD_SIZE, i);
  return (hashes || defaultHashes()).md5().update(bytes).digest();
}

/** Reads and decodes the 0xC00-byte table area at `offset` of a device (MD5 verified when present). */
export function readPartitionTable(device: BlockDevice, offset = PARTITION_TABLE_OFFSET, opts: DecodePartitionTableOptions = {}): PartitionTable {
  if (device === null || typeof device !== 'object' || typeof device.size !== 'number') {
    throw new OtaflashError('FLASH_BAD_ARGUMENT', `readPartitionTable needs a block device, got ${device === null ? 'null' : typeof device}`);
  }
  if (typeof offset !== 'number' || !(offset >= 0 && offset % 1 === 0 && offset + PARTITION_TABLE_MAX_LENGTH <= device.size)) {
    throw new OtaflashError('FLASH_OUT_OF_RANGE', `partition table at ${hex(offset)} does not fit in a device of ${hex(device.size)} bytes`, { offset });
  }
  const bytes = new Uint8Array(PARTITION_TABLE_MAX_LENGTH);
  device.read(offset, bytes);
  try {
    return decodePartitionTable(bytes, opts);
  } catch (e) {
    if (e instanceof OtaflashError) {
      throw new OtaflashError(e.code, `partition table at flash ${hex(offset)}: ${e.message}`, Object.assign({ tableOffset: offset }, e.info));
    }
    throw e;
  }
}

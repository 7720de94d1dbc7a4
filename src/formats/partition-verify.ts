import { OtaflashError, hex } from '../errors';
import { TYPE_KEYWORDS, type SubtypeKeywordTables, type SubtypeRoles, allSubtypeKeywords, keywordValue, subtypeKeywords, subtypeName, subtypeRoles, typeName } from './partition-keywords';
import { PARTITION_TABLE_OFFSET, PARTITION_TABLE_SECTOR_SIZE } from './partition-table';
import { pythonHex } from './partition-python';
import {
  PARTITION_FLAG_ENCRYPTED,
  PARTITION_FLAG_READONLY,
  PARTITION_TYPE_APP,
  PARTITION_TYPE_BOOTLOADER,
  PARTITION_TYPE_DATA,
  PARTITION_TYPE_PARTITION_TABLE,
  type Partition,
  type PartitionTable,
} from './partition-types';

const NVS_RW_MIN_SIZE = 0x3000;
const OTADATA_SIZE = 0x2000;

export type SecureBootVersion = 'v1' | 'v2';

export interface VerifyPartitionTableOptions {
  /** Flash address of the table (the tool's --offset), default 0x8000. */
  offset?: number;
  /** --secure: v1 makes app sizes 64 KiB aligned. */
  secure?: SecureBootVersion | null;
  /** Flash size in bytes (the tool's --flash-size); no check when absent. */
  flashSize?: number;
  /** Receives the tool's non-fatal warnings (names that look like other types/subtypes). */
  onWarning?: (message: string) => void;
  /**
   * Where each partition came from, for messages: CSV line numbers (same order as the partitions).
   * Without it messages name the record index.
   */
  lines?: readonly number[];
  /** Subtype keywords with --extra-partition-subtypes applied (extendSubtypeKeywords); default the tool's own. */
  subtypes?: SubtypeKeywordTables;
}

/** Offset alignment: app 64 KiB, everything else (data, bootloader, partition_table, custom) 4 KiB. */
export function partitionOffsetAlignment(type: number): number {
  return type === PARTITION_TYPE_APP ? 0x10000 : 0x1000;
}

/** Size alignment: only apps have one, 4 KiB (64 KiB with Secure Boot V1). */
export function partitionSizeAlignment(type: number, secure?: SecureBootVersion | null): number {
  if (type !== PARTITION_TYPE_APP) return 1;
  return secure === 'v1' ? 0x10000 : 0x1000;
}

/** The primary bootloader or partition table row (subtype `primary`, 0 unless an extra subtype moved it). */
export function isPrimaryBootloaderOrTable(p: Partition, roles: SubtypeRoles = subtypeRoles()): boolean {
  return (p.type === PARTITION_TYPE_BOOTLOADER && p.subtype === roles.bootloaderPrimary) || (p.type === PARTITION_TYPE_PARTITION_TABLE && p.subtype === roles.partitionTablePrimary);
}

/** Size as the tool prints it: `<n>M`, else `<n>K`, else lowercase hex as Python's '0x%x' (0 prints `0M`). */
export function formatPartitionSize(size: number): string {
  if (size % 0x100000 === 0) return size / 0x100000 + 'M';
  if (size % 0x400 === 0) return size / 0x400 + 'K';
  return pythonHex(size);
}

/** Flags column: `encrypted`, `readonly`, `encrypted:readonly` or empty. */
export function formatPartitionFlags(flags: number): string {
  const out: string[] = [];
  if (flags & PARTITION_FLAG_ENCRYPTED) out.push('encrypted');
  if (flags & PARTITION_FLAG_READONLY) out.push('readonly');
  return out.join(':');
}

/** One partition as a CSV row, exactly as gen_esp32part.py writes it. */
export function formatPartitionRow(p: Partition, subtypes?: SubtypeKeywordTables): string {
  return [p.label, typeName(p.type), subtypeName(p.type, p.subtype, subtypes), pythonHex(p.offset), formatPartitionSize(p.size), formatPartitionFlags(p.flags)].join(',');
}

function where(opts: VerifyPartitionTableOptions, index: number): string {
  const line = opts.lines ? opts.lines[index] : undefined;
  return line !== undefined ? `line ${line}` : `record ${index}`;
}

function fail(code: string, message: string, details: Record<string, unknown>): never {
  throw new OtaflashError(code, message, details);
}

/** The tool's per-partition checks (PartitionDefinition.verify), in its order. */
function verifyOne(p: Partition, index: number, opts: VerifyPartitionTableOptions, roles: SubtypeRoles): void {
  const at = where(opts, index);
  const details = { index, label: p.label, line: opts.lines ? opts.lines[index] : undefined };
  const invalid = (code: string, msg: string): never => fail(code, `Partition ${p.label} invalid: ${msg} (${at})`, details);
  const offsetAlign = partitionOffsetAlignment(p.type);
  if (p.offset % offsetAlign !== 0) invalid('PARTITION_MISALIGNED', `Offset ${pythonHex(p.offset)} is not aligned to ${hex(offsetAlign)}`);
  if (p.type === PARTITION_TYPE_APP) {
    const sizeAlign = partitionSizeAlignment(p.type, opts.secure);
    if (p.size % sizeAlign !== 0) invalid('PARTITION_MISALIGNED', `Size ${pythonHex(p.size)} is not aligned to ${hex(sizeAlign)}`);
  }
  if (opts.onWarning) {
    const asType = keywordValue(TYPE_KEYWORDS, p.label);
    // The tool compares names case-sensitively here.
    if (asType !== undefined && p.label === p.label.toLowerCase() && asType !== p.type) {
      opts.onWarning(`WARNING: Partition has name '${p.label}' which is a partition type, but does not match this partition's type (${pythonHex(p.type)}). Mistake in partition table?`);
    }
    if (allSubtypeKeywords(opts.subtypes).indexOf(p.label) >= 0) {
      const own = subtypeKeywords(p.type, opts.subtypes);
      let matches = false;
      for (let i = 0; i < own.length; i++) if (own[i][0] === p.label && own[i][1] === p.subtype) matches = true;
      if (!matches) {
        opts.onWarning(
          `WARNING: Partition has name '${p.label}' which is a partition subtype, but this partition has non-matching type ${pythonHex(p.type)} and subtype ${pythonHex(p.subtype)}. Mistake in partition table?`,
        );
      }
    }
  }
  const readonly = (p.flags & PARTITION_FLAG_READONLY) !== 0;
  if (p.type === PARTITION_TYPE_DATA && (p.subtype === roles.dataOta || p.subtype === roles.dataCoredump) && readonly) {
    invalid('PARTITION_READONLY_NOT_ALLOWED', `'${p.label}' partition of type ${p.type} and subtype ${p.subtype} is always read-write and cannot be read-only`);
  }
  if (p.type === PARTITION_TYPE_DATA && p.subtype === roles.dataNvs && p.size < NVS_RW_MIN_SIZE && !readonly) {
    invalid(
      'PARTITION_NVS_TOO_SMALL',
      `'${p.label}' partition of type ${p.type} and subtype ${p.subtype} of this size (${pythonHex(p.size)}) must be flagged as 'readonly' (the size of read/write NVS has to be at least ${hex(NVS_RW_MIN_SIZE)})`,
    );
  }
}

function checkSingleOtadata(table: PartitionTable, opts: VerifyPartitionTableOptions, subtype: number, what: string, multiple: string): void {
  const found: number[] = [];
  table.partitions.forEach((p, i) => {
    if (p.type === PARTITION_TYPE_DATA && p.subtype === subtype) found.push(i);
  });
  const list = found.map((i) => `${table.partitions[i].label} at ${where(opts, i)}`).join(', ');
  const rows = found.map((i) => formatPartitionRow(table.partitions[i], opts.subtypes));
  if (found.length > 1) fail('PARTITION_MULTIPLE_OTADATA', `${multiple} (${list})`, { rows });
  if (found.length === 1 && table.partitions[found[0]].size !== OTADATA_SIZE) {
    const p = table.partitions[found[0]];
    fail('PARTITION_OTADATA_SIZE', `${what} partition must have size = 0x2000 (${p.label} at ${where(opts, found[0])} has ${pythonHex(p.size)})`, { rows, label: p.label });
  }
}

/** End of the partition with the highest offset: how much flash the table claims. */
export function partitionTableFlashEnd(table: PartitionTable): number {
  let last: Partition | undefined;
  for (const p of table.partitions) if (last === undefined || p.offset > last.offset) last = p;
  return last === undefined ? 0 : last.offset + last.size;
}

/**
 * Runs gen_esp32part.py's table checks in its order: each partition (alignment, read-only and NVS
 * rules), unique names, overlaps (sorted by offset), a single 0x2000-byte otadata (and TEE otadata),
 * then the flash size when one is given. Throws an OtaflashError at the first failure.
 */
export function verifyPartitionTable(table: PartitionTable, opts: VerifyPartitionTableOptions = {}): void {
  const parts = table.partitions;
  // The rules follow the keywords: an extra subtype reusing 'nvs', 'ota' ... moves them.
  const roles = subtypeRoles(opts.subtypes);
  for (let i = 0; i < parts.length; i++) verifyOne(parts[i], i, opts, roles);

  const seen: { [name: string]: number[] } = {};
  const dupNames: string[] = [];
  parts.forEach((p, i) => {
    const key = '#' + p.label;
    if (!seen[key]) seen[key] = [];
    seen[key].push(i);
    if (seen[key].length === 2) dupNames.push(p.label);
  });
  if (dupNames.length > 0) {
    const rows: string[] = [];
    const sorted = parts.map((_p, i) => i).sort((a, b) => (parts[a].label < parts[b].label ? -1 : parts[a].label > parts[b].label ? 1 : a - b));
    for (const i of sorted) if (seen['#' + parts[i].label].length > 1) rows.push(formatPartitionRow(parts[i], opts.subtypes));
    const detail = dupNames.map((n) => `'${n}' at ${seen['#' + n].map((i) => where(opts, i)).join(' and ')}`).join('; ');
    fail('PARTITION_DUPLICATE_NAME', `Partition names must be unique: ${detail}`, { rows, names: dupNames });
  }

  const tableOffset = opts.offset !== undefined ? opts.offset : PARTITION_TABLE_OFFSET;
  const firstFree = tableOffset + PARTITION_TABLE_SECTOR_SIZE;
  const byOffset = parts.map((_p, i) => i).sort((a, b) => parts[a].offset - parts[b].offset || a - b);
  let last = -1;
  for (const i of byOffset) {
    const p = parts[i];
    if (p.offset < firstFree && !isPrimaryBootloaderOrTable(p, roles)) {
      fail('PARTITION_OVERLAP', `Partition offset ${pythonHex(p.offset)} is below ${pythonHex(firstFree)} (${p.label} at ${where(opts, i)} is inside the partition table sector or below it)`, {
        index: i,
        label: p.label,
      });
    }
    if (last >= 0) {
      const q = parts[last];
      if (p.offset < q.offset + q.size) {
        fail('PARTITION_OVERLAP', `Partition at ${pythonHex(p.offset)} overlaps ${pythonHex(q.offset)}-${pythonHex(q.offset + q.size - 1)} (${p.label} at ${where(opts, i)} overlaps ${q.label} at ${where(opts, last)})`, {
          index: i,
          label: p.label,
          other: q.label,
        });
      }
    }
    last = i;
  }

  checkSingleOtadata(table, opts, roles.dataOta, 'otadata', 'Found multiple otadata partitions. Only one partition can be defined with type="data"(1) and subtype="ota"(0).');
  checkSingleOtadata(
    table,
    opts,
    roles.dataTeeOta,
    'TEE otadata',
    'Found multiple TEE otadata partitions. Only one partition can be defined with type="data"(1) and subtype="tee_ota"(0x90).',
  );

  if (opts.flashSize !== undefined) checkPartitionTableFitsFlash(table, opts.flashSize);
}

const MIB = 0x100000;

/**
 * Python's '%.1f' of bytes / 1 MiB. The quotient is exact in binary, so a tie (x.x5) is a real tie,
 * which Python rounds to even and JS toFixed rounds up: 0x140000 bytes is "1.2", not "1.3".
 */
function mibOneDecimal(bytes: number): string {
  const tenths = bytes * 10; // exact below 2^53
  let whole = Math.floor(tenths / MIB);
  const rest = tenths - whole * MIB;
  if (rest * 2 > MIB || (rest * 2 === MIB && whole % 2 === 1)) whole++;
  return `${Math.floor(whole / 10)}.${whole % 10}`;
}

/**
 * The tool's --flash-size check (verify_size_fits): the end of the partition with the highest
 * offset must be within the flash. The tool runs it even with --no-verify.
 */
export function checkPartitionTableFitsFlash(table: PartitionTable, flashSize: number): void {
  const end = partitionTableFlashEnd(table);
  if (flashSize < end) {
    fail(
      'PARTITION_FLASH_SIZE',
      `Partitions tables occupies ${mibOneDecimal(end)}MB of flash (${end} bytes) which does not fit in configured flash size ${Math.floor(flashSize / MIB)}MB. Change the flash size in menuconfig under the 'Serial Flasher Config' menu.`,
      { end, flashSize },
    );
  }
}

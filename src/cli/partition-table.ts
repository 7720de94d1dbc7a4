import { hex } from '../errors';
import { type SubtypeKeywordTables, extendSubtypeKeywords, subtypeName as partitionSubtypeName, typeName as partitionTypeName } from '../formats/partition-keywords';
import { parsePartitionCsv, formatPartitionCsv, type PartitionCsvOptions } from '../formats/partition-csv';
import { decodePartitionTable, encodePartitionTable, PARTITION_TABLE_MAX_LENGTH, PARTITION_TABLE_OFFSET, PARTITION_TABLE_SECTOR_SIZE } from '../formats/partition-table';
import { formatPartitionFlags, formatPartitionSize, verifyPartitionTable, type SecureBootVersion } from '../formats/partition-verify';
import { PARTITION_FLAG_ENCRYPTED, PARTITION_FLAG_READONLY, type Partition, type PartitionTable } from '../formats/partition-types';
import { CliError, type CliIo, type Command, parseArgs, parseSize, readInput, writeOutput } from './io';
import { partitionFieldsJson } from './flash';

const KNOWN_FLAGS = PARTITION_FLAG_ENCRYPTED | PARTITION_FLAG_READONLY;

interface TableFlags {
  offset: number;
  flashSize?: number;
  disableMd5: boolean;
  primaryBootloaderOffset?: number;
  recoveryBootloaderOffset?: number;
  secure: SecureBootVersion | null;
  verify: boolean;
  /** --extra-partition-subtypes entries (raw) and the keyword tables they make. */
  extraSubtypes?: string[];
  subtypes?: SubtypeKeywordTables;
}

const TABLE_VALUE_FLAGS = ['offset', 'flash-size', 'primary-bootloader-offset', 'recovery-bootloader-offset', 'secure'];

function tableFlags(flags: Record<string, string | true>, lists: Record<string, string[]> = {}): TableFlags {
  const num = (name: string): number | undefined => {
    const v = flags[name];
    if (typeof v !== 'string') return undefined;
    const n = parseSize(v, '--' + name);
    if (n > 0xffffffff) throw new CliError(`--${name}: '${v}' is beyond 32-bit flash addresses`);
    return n;
  };
  const secure = flags.secure;
  if (secure !== undefined && secure !== 'v1' && secure !== 'v2') throw new CliError(`--secure: '${String(secure)}' is not v1 or v2`);
  const offset = num('offset');
  return {
    offset: offset === undefined ? PARTITION_TABLE_OFFSET : offset,
    flashSize: num('flash-size'),
    disableMd5: flags['disable-md5sum'] === true,
    primaryBootloaderOffset: num('primary-bootloader-offset'),
    recoveryBootloaderOffset: num('recovery-bootloader-offset'),
    secure: secure === 'v1' || secure === 'v2' ? secure : null,
    verify: flags['no-verify'] !== true,
    extraSubtypes: lists['extra-partition-subtypes'],
    subtypes: lists['extra-partition-subtypes'] ? extendSubtypeKeywords(lists['extra-partition-subtypes']) : undefined,
  };
}

const TABLE_REPEAT_FLAGS = ['extra-partition-subtypes'];

/** Same test as the tool: a binary table starts with the record magic AA 50. */
function isBinaryTable(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0xaa && bytes[1] === 0x50;
}

function looksBinary(bytes: Uint8Array): boolean {
  const n = Math.min(bytes.length, 4096);
  for (let i = 0; i < n; i++) if (bytes[i] === 0x00 || bytes[i] === 0xff) return true;
  return false;
}

function warnUnknownFlags(table: PartitionTable, io: CliIo): void {
  for (const p of table.partitions) {
    const unknown = (p.flags & ~KNOWN_FLAGS) >>> 0;
    if (unknown !== 0) io.stderr(`WARNING: Partition definition had unknown flag(s) 0x${('0000000' + unknown.toString(16)).slice(-8)}. Newer binary format?\n`);
  }
}

function csvOptions(f: TableFlags, io: CliIo): PartitionCsvOptions {
  return {
    offset: f.offset,
    flashSize: f.flashSize,
    disableMd5: f.disableMd5,
    primaryBootloaderOffset: f.primaryBootloaderOffset,
    recoveryBootloaderOffset: f.recoveryBootloaderOffset,
    secure: f.secure,
    verify: f.verify,
    extraSubtypes: f.extraSubtypes,
    env: process.env,
    onWarning: (m) => io.stderr(m + '\n'),
  };
}

/** Reads a table from CSV or binary; binaries go through the tool's checks too (like gen_esp32part.py). */
function loadTable(bytes: Uint8Array, f: TableFlags, io: CliIo, verifyBinary: boolean): { table: PartitionTable; binary: boolean } {
  if (isBinaryTable(bytes)) {
    const table = decodePartitionTable(bytes);
    warnUnknownFlags(table, io);
    if (verifyBinary && f.verify) {
      verifyPartitionTable(table, { offset: f.offset, secure: f.secure, flashSize: f.flashSize, subtypes: f.subtypes, onWarning: (m) => io.stderr(m + '\n') });
    }
    return { table, binary: true };
  }
  return { table: parsePartitionCsv(bytes, csvOptions(f, io)), binary: false };
}

const SHARED_HELP = `  --offset OFF                      flash address of the table (default 0x8000)
  --flash-size SIZE                 check that the table fits, e.g. 4MB
  --disable-md5sum                  write no MD5 record (95 partitions fit instead of 94)
  --primary-bootloader-offset OFF   needed by 'bootloader' rows (0x0, 0x1000 or 0x2000 by chip)
  --recovery-bootloader-offset OFF  needed by 'bootloader, recovery' rows
  --secure v1|v2                    Secure Boot: v1 makes app sizes 64 KiB aligned
  --no-verify                       skip the table checks (like the tool's --no-verify)
  --extra-partition-subtypes "TYPE, NAME, HEX"
                                    an extra subtype keyword (TYPE app or data), as ESP-IDF's build
                                    passes EXTRA_PARTITION_SUBTYPES; repeat for more`;

export const partitionTableConvertCommand: Command = {
  summary: 'convert a partition table CSV <-> binary, byte-exact with gen_esp32part.py',
  help: `Usage: otaflash partition-table convert IN [OUT] [options]

Detects whether IN is a binary table (starts AA 50) or CSV and writes the other form to OUT
('-' or nothing: stdout). Same bytes and text as ESP-IDF's gen_esp32part.py; a rejected input
exits with code 2 and one line on stderr naming the rule and the CSV line.

Options:
${SHARED_HELP}
  --quiet, -q                       accepted for gen_esp32part.py compatibility (only errors and warnings are printed anyway)`,
  run(argv, io) {
    const args = parseArgs(argv, { values: TABLE_VALUE_FLAGS, repeat: TABLE_REPEAT_FLAGS, booleans: ['disable-md5sum', 'no-verify', 'q', 'quiet'] });
    if (args.positional.length < 1 || args.positional.length > 2) throw new CliError('usage: otaflash partition-table convert IN [OUT]');
    const f = tableFlags(args.flags, args.lists);
    const input = args.positional[0];
    const output = args.positional[1] !== undefined ? args.positional[1] : '-';
    const { table, binary } = loadTable(readInput(input), f, io, true);
    if (binary) {
      writeOutput(output, formatPartitionCsv(table, { extraSubtypes: f.extraSubtypes }), io);
    } else {
      writeOutput(output, encodePartitionTable(table, { md5: !f.disableMd5 }), io);
    }
    return 0;
  },
};

function pad(s: string, n: number): string {
  while (s.length < n) s += ' ';
  return s;
}

function md5Hex(md5: Uint8Array | null): string | null {
  if (md5 === null) return null;
  let s = '';
  for (let i = 0; i < md5.length; i++) s += (md5[i] < 16 ? '0' : '') + md5[i].toString(16);
  return s;
}

/** Flash size for the map: the given one, else the table's end rounded up to a power-of-two MiB. */
function mapSize(table: PartitionTable, tableOffset: number, flashSize?: number): number {
  if (flashSize !== undefined && flashSize > 0) return flashSize;
  let end = tableOffset + PARTITION_TABLE_SECTOR_SIZE;
  for (const p of table.partitions) end = Math.max(end, p.offset + p.size);
  let size = 0x100000;
  while (size < end && size < 0x100000000) size *= 2;
  return Math.max(size, end);
}

const MARKS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

function markOf(i: number): string {
  return i < MARKS.length ? MARKS[i] : '*';
}

interface Gap {
  start: number;
  end: number;
}

/** Flash not covered by any partition, from the first byte after the table to the end of the map. */
function freeGaps(table: PartitionTable, from: number, to: number): Gap[] {
  const spans = table.partitions.map((p) => ({ start: p.offset, end: p.offset + p.size })).sort((a, b) => a.start - b.start);
  const gaps: Gap[] = [];
  let cursor = from;
  for (const s of spans) {
    if (s.start > cursor && cursor < to) gaps.push({ start: cursor, end: Math.min(s.start, to) });
    cursor = Math.max(cursor, s.end);
  }
  if (cursor < to) gaps.push({ start: cursor, end: to });
  return gaps;
}

/**
 * A one-line proportional map: each cell shows the partition covering most of it ('.' free,
 * '#' below the table, 'T' the table sector); a partition smaller than a cell still gets the cell
 * where it starts, so nothing disappears from the map.
 */
function flashMap(table: PartitionTable, tableOffset: number, total: number, width: number): string {
  const cell = total / width;
  const regions: Array<{ start: number; end: number; mark: string }> = [
    { start: 0, end: tableOffset, mark: '#' },
    { start: tableOffset, end: tableOffset + PARTITION_TABLE_SECTOR_SIZE, mark: 'T' },
  ];
  table.partitions.forEach((p, i) => regions.push({ start: p.offset, end: p.offset + p.size, mark: markOf(i) }));
  const cells: string[] = [];
  for (let c = 0; c < width; c++) {
    const a = c * cell;
    const b = a + cell;
    let best = '.';
    let bestCover = 0;
    for (const r of regions) {
      const cover = Math.min(b, r.end) - Math.max(a, r.start);
      // Later regions (partitions) win ties over the reserved area.
      if (cover > 0 && cover >= bestCover) {
        best = r.mark;
        bestCover = cover;
      }
    }
    cells.push(best);
  }
  const forced: boolean[] = [];
  for (let i = 2; i < regions.length; i++) {
    const r = regions[i];
    if (cells.indexOf(r.mark) >= 0 || r.start >= total) continue;
    let c = Math.min(width - 1, Math.floor(r.start / cell));
    // Do not push out another small partition's only cell.
    const only = (k: number): boolean => cells[k] !== '.' && cells[k] !== '#' && cells[k] !== 'T' && cells.indexOf(cells[k]) === cells.lastIndexOf(cells[k]);
    while (c < width - 1 && (forced[c] || only(c))) c++;
    cells[c] = r.mark;
    forced[c] = true;
  }
  return cells.join('');
}

function showText(table: PartitionTable, f: TableFlags): string {
  const head = ['#', 'Name', 'Type', 'SubType', 'Offset', 'End', 'Size', 'Flags'];
  const rows = table.partitions.map((p: Partition, i) => [
    markOf(i),
    p.label,
    partitionTypeName(p.type),
    partitionSubtypeName(p.type, p.subtype, f.subtypes),
    hex(p.offset),
    hex(p.offset + p.size),
    formatPartitionSize(p.size),
    formatPartitionFlags(p.flags) + ((p.flags & ~KNOWN_FLAGS) >>> 0 ? ` +${hex((p.flags & ~KNOWN_FLAGS) >>> 0)}` : ''),
  ]);
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  const line = (cells: string[]): string => cells.map((s, c) => pad(s, widths[c])).join('  ').replace(/\s+$/, '');
  const out: string[] = [];
  const md5 = md5Hex(table.md5);
  out.push(`Partition table at ${hex(f.offset)}: ${table.partitions.length} partition${table.partitions.length === 1 ? '' : 's'}, ${md5 === null ? 'no MD5 record' : 'MD5 ' + md5}`);
  out.push('');
  out.push(line(head));
  for (const r of rows) out.push(line(r));
  const total = mapSize(table, f.offset, f.flashSize);
  const width = 64;
  out.push('');
  out.push(`Flash map 0x0-${hex(total)} (${formatPartitionSize(total)}), one cell = ${formatPartitionSize(Math.max(1, Math.floor(total / width)))}; # below the table, T table, . free:`);
  out.push('|' + flashMap(table, f.offset, total, width) + '|');
  const gaps = freeGaps(table, f.offset + PARTITION_TABLE_SECTOR_SIZE, total);
  if (gaps.length === 0) out.push('Free: none');
  else out.push('Free: ' + gaps.map((g) => `${hex(g.start)}-${hex(g.end)} (${formatPartitionSize(g.end - g.start)})`).join(', '));
  return out.join('\n') + '\n';
}

export const partitionTableShowCommand: Command = {
  summary: 'print a partition table (CSV or binary) with a map of the flash; --json for programs',
  help: `Usage: otaflash partition-table show IN [--json] [options]

Prints the partitions of IN (binary table, CSV, or a whole flash dump with the table at --offset) as a table, then a proportional map of the
flash and its free space. With --json prints
{ "partitions": [ { "label", "type", "subtype", "offset", "size", "encrypted", "readonly" } ], "md5": "<hex or null>" }.

Options:
  --json                            machine-readable output
${SHARED_HELP}`,
  run(argv, io) {
    const args = parseArgs(argv, { values: TABLE_VALUE_FLAGS, repeat: TABLE_REPEAT_FLAGS, booleans: ['json', 'disable-md5sum', 'no-verify'] });
    if (args.positional.length !== 1) throw new CliError('usage: otaflash partition-table show IN [--json]');
    const f = tableFlags(args.flags, args.lists);
    // A binary read off a device is shown as it is; a CSV must pass the tool's checks to become a table.
    let bytes = readInput(args.positional[0]);
    // A whole flash dump (e.g. a merged firmware image): take the table at --offset.
    if (!isBinaryTable(bytes) && bytes.length >= f.offset + PARTITION_TABLE_MAX_LENGTH && isBinaryTable(bytes.subarray(f.offset))) {
      bytes = bytes.subarray(f.offset, f.offset + PARTITION_TABLE_MAX_LENGTH);
    }
    // NUL or 0xFF bytes never occur in a CSV but fill every flash dump: say what was looked for.
    if (!isBinaryTable(bytes) && looksBinary(bytes)) {
      throw new CliError(`${args.positional[0]}: not a CSV, and no binary table (records start AA 50) at its start or at --offset ${hex(f.offset)}`);
    }
    const { table } = loadTable(bytes, f, io, false);
    if (args.flags.json === true) {
      const json = {
        partitions: table.partitions.map(partitionFieldsJson),
        md5: md5Hex(table.md5),
      };
      io.stdout(JSON.stringify(json, null, 2) + '\n');
    } else {
      io.stdout(showText(table, f));
    }
    return 0;
  },
};

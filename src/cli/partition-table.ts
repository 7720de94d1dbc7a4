import { OtaflashError, hex } from '../errors';
import { type SubtypeKeywordTables, extendSubtypeKeywords, subtypeName as partitionSubtypeName, typeName as partitionTypeName } from '../formats/partition-keywords';
import { decodePartitionCsvText, parsePartitionCsv, formatPartitionCsv, type PartitionCsvOptions } from '../formats/partition-csv';
import { decodePartitionTable, encodePartitionTable, PARTITION_TABLE_MAX_LENGTH, PARTITION_TABLE_OFFSET, PARTITION_TABLE_SECTOR_SIZE } from '../formats/partition-table';
import { checkPartitionTableFitsFlash, formatPartitionFlags, formatPartitionSize, verifyPartitionTable, type SecureBootVersion } from '../formats/partition-verify';
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

/**
 * Bytes the tool would not read as CSV text: it decodes by BOM first (UTF-16/32 text is full of 00
 * bytes, UTF-8 may carry NULs), so only bytes that do not decode can be "not a CSV" (the tool
 * crashes on them); those with NUL or 0xFF bytes are binary, the rest a CSV in a wrong encoding,
 * which the parser names.
 */
function notText(bytes: Uint8Array): boolean {
  return !isCsvText(bytes) && looksBinary(bytes);
}

function looksBinary(bytes: Uint8Array): boolean {
  const n = Math.min(bytes.length, 4096);
  for (let i = 0; i < n; i++) if (bytes[i] === 0x00 || bytes[i] === 0xff) return true;
  return false;
}

function isCsvText(bytes: Uint8Array): boolean {
  try {
    decodePartitionCsvText(bytes);
    return true;
  } catch (e) {
    if (e instanceof OtaflashError) return false;
    throw e;
  }
}

/** A whole flash dump (e.g. a merged firmware image) with the table at the flash offset of the table. */
function hasTableAt(bytes: Uint8Array, offset: number): boolean {
  return !isBinaryTable(bytes) && bytes.length >= offset + PARTITION_TABLE_MAX_LENGTH && isBinaryTable(bytes.subarray(offset));
}

function inputName(path: string): string {
  return path === '-' ? 'stdin' : path;
}

// Bytes that decode as no text (0xFF fills every flash dump) are no CSV: say what was looked for.
function notATableError(path: string, offset: number): CliError {
  return new CliError(`${inputName(path)}: not a CSV, and no binary table (records start AA 50) at its start or at --offset ${hex(offset)}`);
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

/**
 * Reads a table from CSV or binary; binaries go through the tool's checks too (like gen_esp32part.py).
 * 'report' returns a failed check of a binary instead of throwing: a table read off a device is
 * still worth seeing when it breaks a rule.
 */
function loadTable(bytes: Uint8Array, f: TableFlags, io: CliIo, binaryChecks: 'throw' | 'report'): { table: PartitionTable; binary: boolean; problem: OtaflashError | null } {
  if (isBinaryTable(bytes)) {
    const table = decodePartitionTable(bytes, { md5: !f.disableMd5 });
    warnUnknownFlags(table, io);
    let problem: OtaflashError | null = null;
    // Like the tool, --flash-size is checked even with --no-verify.
    if (f.verify || f.flashSize !== undefined) {
      try {
        if (f.verify) verifyPartitionTable(table, { offset: f.offset, secure: f.secure, flashSize: f.flashSize, subtypes: f.subtypes, onWarning: (m) => io.stderr(m + '\n') });
        else checkPartitionTableFitsFlash(table, f.flashSize as number);
      } catch (e) {
        if (binaryChecks === 'throw' || !(e instanceof OtaflashError)) throw e;
        problem = e;
      }
    }
    return { table, binary: true, problem };
  }
  return { table: parsePartitionCsv(bytes, csvOptions(f, io)), binary: false, problem: null };
}

const SHARED_HELP = `  --offset OFF                      flash address of the table (default 0x8000)
  --flash-size SIZE                 check that the table fits, e.g. 4MB
  --disable-md5sum                  write no MD5 record (95 partitions fit instead of 94)
  --primary-bootloader-offset OFF   needed by 'bootloader' rows (0x0, 0x1000 or 0x2000 by chip)
  --recovery-bootloader-offset OFF  needed by 'bootloader, recovery' rows
  --secure v1|v2                    Secure Boot: v1 makes app sizes 64 KiB aligned
  --no-verify                       skip the table checks except --flash-size (like the tool's --no-verify)
  --extra-partition-subtypes "TYPE, NAME, HEX"
                                    an extra subtype keyword (TYPE app, data, bootloader or
                                    partition_table; HEX as Python's int(HEX, 16)), as ESP-IDF's build
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
    const bytes = readInput(input);
    if (!isBinaryTable(bytes) && !isCsvText(bytes)) {
      // The CSV parser would only say "not valid UTF-8": name the file and what it is instead.
      if (hasTableAt(bytes, f.offset)) {
        const offsetFlag = f.offset === PARTITION_TABLE_OFFSET ? '' : ` --offset ${hex(f.offset)}`;
        const cut = f.offset % PARTITION_TABLE_SECTOR_SIZE === 0 ? `bs=4096 skip=${f.offset / PARTITION_TABLE_SECTOR_SIZE} count=1` : `bs=1 skip=${f.offset} count=${PARTITION_TABLE_MAX_LENGTH}`;
        throw new CliError(
          `${inputName(input)} is a whole flash image with its partition table at ${hex(f.offset)}, not a table: see it with 'otaflash partition-table show ${input}${offsetFlag}', or cut the table out first (dd if=${input} of=table.bin ${cut})`,
        );
      }
      if (looksBinary(bytes)) throw notATableError(input, f.offset);
    }
    const { table, binary } = loadTable(bytes, f, io, 'throw');
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

/** Where the table's flash use ends: its own sector or the furthest partition end. */
function tableEnd(table: PartitionTable, tableOffset: number): number {
  let end = tableOffset + PARTITION_TABLE_SECTOR_SIZE;
  for (const p of table.partitions) end = Math.max(end, p.offset + p.size);
  return end;
}

/**
 * Flash size for the map: the given one, else the table's end rounded up to a power-of-two MiB.
 * Partitions past a given flash size stretch the map to their end, so none drops out of it.
 */
function mapSize(table: PartitionTable, tableOffset: number, flashSize?: number): number {
  const end = tableEnd(table, tableOffset);
  if (flashSize !== undefined && flashSize > 0) return Math.max(flashSize, end);
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
  const flashEnd = f.flashSize !== undefined && f.flashSize > 0 ? Math.min(f.flashSize, total) : total;
  const width = 64;
  const cell = Math.max(1, Math.floor(total / width));
  const past = flashEnd < total ? `, past the ${formatPartitionSize(flashEnd)} flash to the table's end` : '';
  out.push('');
  out.push(`Flash map 0x0-${hex(total)} (${formatPartitionSize(total)}${past}), one cell = ${formatPartitionSize(cell)}; # below the table, T table, . free:`);
  out.push('|' + flashMap(table, f.offset, total, width) + '|');
  if (flashEnd < total) out.push(pad('', 1 + Math.floor((flashEnd / total) * width)) + `^ ${hex(flashEnd)}: the ${formatPartitionSize(flashEnd)} flash ends here`);
  const gaps = freeGaps(table, f.offset + PARTITION_TABLE_SECTOR_SIZE, flashEnd);
  if (gaps.length === 0) out.push('Free: none');
  else out.push('Free: ' + gaps.map((g) => `${hex(g.start)}-${hex(g.end)} (${formatPartitionSize(g.end - g.start)})`).join(', '));
  // A garbage table can overlap everywhere: a few lines say enough.
  const shared = overlaps(table);
  for (const o of shared.slice(0, 8)) {
    const [a, b] = [table.partitions[o.a], table.partitions[o.b]];
    out.push(`Overlap: ${markOf(o.a)} ${a.label} and ${markOf(o.b)} ${b.label} share ${hex(o.start)}-${hex(o.end)} (${formatPartitionSize(o.end - o.start)})`);
  }
  if (shared.length > 8) out.push(`Overlap: ${shared.length - 8} more pairs`);
  return out.join('\n') + '\n';
}

/** Every pair of partitions sharing flash: one cell of the map can show only one of them. */
function overlaps(table: PartitionTable): Array<{ a: number; b: number; start: number; end: number }> {
  const parts = table.partitions;
  const found: Array<{ a: number; b: number; start: number; end: number }> = [];
  for (let a = 0; a < parts.length; a++) {
    for (let b = a + 1; b < parts.length; b++) {
      const start = Math.max(parts[a].offset, parts[b].offset);
      const end = Math.min(parts[a].offset + parts[a].size, parts[b].offset + parts[b].size);
      if (start < end) found.push({ a, b, start, end });
    }
  }
  return found;
}

export const partitionTableShowCommand: Command = {
  summary: 'print a partition table (CSV or binary) with a map of the flash; --json for programs',
  help: `Usage: otaflash partition-table show IN [--json] [options]

Prints the partitions of IN (binary table, CSV, or a whole flash dump with the table at --offset) as a table, then a proportional map of the
flash and its free space. A binary table that breaks one of the tool's rules (overlap, alignment,
--flash-size ...) is still printed, with a WARNING line on stderr and exit code 1; a CSV that
breaks one is refused (exit 2), as by convert. With --json prints
{ "partitions": [ { "label", "type", "subtype", "offset", "size", "encrypted", "readonly" } ], "md5": "<hex or null>" }.

Options:
  --json                            machine-readable output
${SHARED_HELP}`,
  run(argv, io) {
    const args = parseArgs(argv, { values: TABLE_VALUE_FLAGS, repeat: TABLE_REPEAT_FLAGS, booleans: ['json', 'disable-md5sum', 'no-verify'] });
    if (args.positional.length !== 1) throw new CliError('usage: otaflash partition-table show IN [--json]');
    const f = tableFlags(args.flags, args.lists);
    const input = args.positional[0];
    let bytes = readInput(input);
    // An empty CSV is a valid empty table to the tool, but here it is almost surely the wrong file.
    if (bytes.length === 0) throw new CliError(`${inputName(input)} is empty`);
    if (hasTableAt(bytes, f.offset)) bytes = bytes.subarray(f.offset, f.offset + PARTITION_TABLE_MAX_LENGTH);
    if (!isBinaryTable(bytes) && notText(bytes)) throw notATableError(input, f.offset);
    // A binary read off a device is shown even when it breaks a rule (exit 1 and a warning);
    // a CSV must pass the tool's checks to become a table at all.
    const { table, problem } = loadTable(bytes, f, io, 'report');
    if (args.flags.json === true) {
      const json = {
        partitions: table.partitions.map(partitionFieldsJson),
        md5: md5Hex(table.md5),
      };
      io.stdout(JSON.stringify(json, null, 2) + '\n');
    } else {
      io.stdout(showText(table, f));
    }
    if (problem === null) return 0;
    io.stderr(`WARNING: ${problem.message.replace(/\s*\n\s*/g, ' ')} [${problem.code}]\n`);
    return 1;
  },
};

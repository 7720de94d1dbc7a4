import { OtaflashError, hex } from '../errors';
import type { HashProvider } from '../hash/types';
import { TYPE_KEYWORDS, type KeywordTable, type SubtypeKeywordTables, type SubtypeRoles, extendSubtypeKeywords, keywordValue, subtypeKeywords, subtypeRoles } from './partition-keywords';
import { PARTITION_RECORD_SIZE, PARTITION_TABLE_MAX_LENGTH, PARTITION_TABLE_OFFSET, PARTITION_TABLE_SECTOR_SIZE, partitionTableMd5 } from './partition-table';
import {
  PARTITION_FLAG_ENCRYPTED,
  PARTITION_FLAG_READONLY,
  PARTITION_TYPE_APP,
  PARTITION_TYPE_BOOTLOADER,
  PARTITION_TYPE_PARTITION_TABLE,
  type Partition,
  type PartitionTable,
} from './partition-types';
import { type SecureBootVersion, checkPartitionTableFitsFlash, formatPartitionRow, partitionOffsetAlignment, verifyPartitionTable } from './partition-verify';
import { utf8Decode } from './utf8';
import { pythonHex, pythonInt, pythonSplitLines, pythonStrip } from './partition-python';
import { checkPartitionTable } from './partition-lookup';

export interface PartitionCsvOptions {
  /** Flash address of the table (--offset), default 0x8000. Blank offsets start one sector after it. */
  offset?: number;
  /** Flash size in bytes (--flash-size); the table must end within it. */
  flashSize?: number;
  /** --disable-md5sum: the table gets no MD5 record (md5 = null), so 95 partitions fit instead of 94. */
  disableMd5?: boolean;
  /** --primary-bootloader-offset, needed by `bootloader` rows. */
  primaryBootloaderOffset?: number;
  /** --recovery-bootloader-offset, needed by `bootloader, recovery` rows. */
  recoveryBootloaderOffset?: number;
  /** --secure v1|v2 (v1: app sizes 64 KiB aligned). */
  secure?: SecureBootVersion | null;
  /** Variables for `$NAME` / `${NAME}` expansion (the tool uses the environment). Default: none set. */
  env?: { readonly [name: string]: string | undefined };
  /** --extra-partition-subtypes entries, each "type, name, hexvalue" (see extendSubtypeKeywords). */
  extraSubtypes?: readonly string[];
  /** Run the tool's table checks (default true; false is the tool's --no-verify, which still checks flashSize). */
  verify?: boolean;
  onWarning?: (message: string) => void;
  hashes?: HashProvider;
}

/** A parsed table plus where each partition came from. */
export interface ParsedPartitionCsv extends PartitionTable {
  /** CSV line (1-based, every physical line counted) of each partition. */
  readonly lines: readonly number[];
}

/** Raised inside one line; the caller adds the "Error at line N:" prefix like the tool. */
class LineError {
  constructor(
    readonly code: string,
    readonly message: string,
  ) {}
}

/**
 * The tool's parse_int: trailing k/m multiply (any base, repeatable: `0x10k`, `1kk`; KELVIN SIGN
 * counts as k, since Python lower-cases it to k), then int(x, 0) with its Unicode digits, then
 * (type/subtype columns only) a case-insensitive keyword.
 */
function parseCsvInt(text: string, keywords: KeywordTable): number {
  let v = text;
  let scale = 1;
  for (;;) {
    const last = v.slice(-1).toLowerCase();
    if (last === 'k') scale *= 1024;
    else if (last === 'm') scale *= 1024 * 1024;
    else break;
    v = v.slice(0, -1);
  }
  const n = pythonInt(v, 0);
  let value: number;
  if (n !== null) value = n;
  else if (keywords.length === 0) throw new LineError('PARTITION_BAD_VALUE', `Invalid field value ${v}`);
  else {
    const k = keywordValue(keywords, v);
    if (k === undefined) throw new LineError('PARTITION_UNKNOWN_KEYWORD', `Value '${v}' is not valid. Known keywords: ${keywords.map((e) => e[0]).join(', ')}`);
    value = k;
  }
  const r = value * scale;
  // Beyond 2^53 doubles stop being exact; the tool would crash packing such values anyway.
  if (!(Math.abs(r) <= Number.MAX_SAFE_INTEGER)) throw new LineError('PARTITION_BAD_VALUE', `Value ${text} is too large`);
  return r;
}

/** os.path.expandvars: `$NAME` / `${NAME}` from env; unknown names stay as written. */
function expandVars(line: string, env: PartitionCsvOptions['env']): string {
  if (line.indexOf('$') < 0 || !env) return line;
  const re = /\$([A-Za-z0-9_]+|\{[^}]*\})/g;
  let out = '';
  let from = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(line)) !== null) {
    let name = m[1];
    if (name[0] === '{') name = name.slice(1, -1);
    const value = Object.prototype.hasOwnProperty.call(env, name) ? env[name] : undefined;
    if (value === undefined) continue;
    out += line.slice(from, m.index) + value;
    from = m.index + m[0].length;
  }
  return out + line.slice(from);
}

interface Row {
  name: string;
  type: number;
  subtype: number;
  offset: number | null;
  size: number;
  flags: number;
  line: number;
}

function isPrimaryRow(r: Row, roles: SubtypeRoles): boolean {
  return (r.type === PARTITION_TYPE_BOOTLOADER && r.subtype === roles.bootloaderPrimary) || (r.type === PARTITION_TYPE_PARTITION_TABLE && r.subtype === roles.partitionTablePrimary);
}

/** One CSV line (already stripped, not a comment) into a row, following PartitionDefinition.from_csv. */
function parseRow(line: string, lineNo: number, tableOffset: number, opts: PartitionCsvOptions, subtypes: SubtypeKeywordTables | undefined, roles: SubtypeRoles): Row {
  const fields = (line + ',,,,').split(',').map(pythonStrip);
  const name = fields[0];
  if (fields[1] === '') throw new LineError('PARTITION_EMPTY_FIELD', "Field 'type' can't be left empty.");
  const type = parseCsvInt(fields[1], TYPE_KEYWORDS);
  let subtype: number;
  if (fields[2] === '') {
    if (type === PARTITION_TYPE_APP) throw new LineError('PARTITION_EMPTY_FIELD', 'App partition cannot have an empty subtype');
    subtype = roles.dataUndefined; // data "undefined" (0x06 unless moved), for every non-app type
  } else {
    subtype = parseCsvInt(fields[2], subtypeKeywords(type, subtypes));
  }

  const needPrimary = (): number => {
    if (opts.primaryBootloaderOffset === undefined) {
      throw new LineError('PARTITION_NO_BOOTLOADER_OFFSET', 'Primary bootloader offset is not defined. Please use --primary-bootloader-offset');
    }
    return opts.primaryBootloaderOffset;
  };
  let offset: number | null;
  if (type === PARTITION_TYPE_BOOTLOADER && subtype === roles.bootloaderPrimary) offset = needPrimary();
  else if (type === PARTITION_TYPE_BOOTLOADER && subtype === roles.bootloaderRecovery) {
    if (opts.recoveryBootloaderOffset === undefined) {
      throw new LineError('PARTITION_NO_BOOTLOADER_OFFSET', 'Recovery bootloader offset is not defined. Please use --recovery-bootloader-offset');
    }
    offset = opts.recoveryBootloaderOffset;
  } else if (type === PARTITION_TYPE_PARTITION_TABLE && subtype === roles.partitionTablePrimary) offset = tableOffset;
  else offset = fields[3] === '' ? null : parseCsvInt(fields[3], []);

  let size: number;
  if (type === PARTITION_TYPE_BOOTLOADER) size = tableOffset - needPrimary();
  else if (type === PARTITION_TYPE_PARTITION_TABLE) size = PARTITION_TABLE_SECTOR_SIZE;
  else if (fields[4] === '') throw new LineError('PARTITION_EMPTY_FIELD', "Size field can't be empty");
  else size = parseCsvInt(fields[4], []);

  let flags = 0;
  const pieces = fields[5].split(':');
  for (let i = 0; i < pieces.length; i++) {
    const f = pieces[i];
    if (f === 'encrypted') flags |= PARTITION_FLAG_ENCRYPTED;
    else if (f === 'readonly') flags |= PARTITION_FLAG_READONLY;
    else if (f.length > 0) throw new LineError('PARTITION_UNKNOWN_FLAG', `CSV flag column contains unknown flag '${f}'`);
  }
  return { name, type, subtype, offset, size, flags, line: lineNo };
}

/**
 * CSV bytes to text like the tool: a BOM picks UTF-8-sig / UTF-16 / UTF-32, else UTF-8 (strict).
 * Exactly one BOM is consumed, so a second one stays as the first character (part of the first
 * name, as in the tool). NUL characters are kept. PARTITION_BAD_TEXT when the bytes do not decode
 * (the tool crashes there).
 */
export function decodePartitionCsvText(bytes: Uint8Array): string {
  if (!(bytes instanceof Uint8Array)) throw new OtaflashError('PARTITION_BAD_ARGUMENT', `CSV bytes must be a Uint8Array, got ${bytes === null ? 'null' : typeof bytes}`);
  const b = bytes;
  const bad = (what: string): never => {
    throw new OtaflashError('PARTITION_BAD_TEXT', `CSV input is not valid ${what}`);
  };
  if (b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf) {
    const s = utf8Decode(b.subarray(3));
    return s === null ? bad('UTF-8') : s;
  }
  // The tool checks UTF-16 LE before UTF-32 LE, so FF FE 00 00 is read as UTF-16.
  const le16 = b[0] === 0xff && b[1] === 0xfe;
  const be16 = b[0] === 0xfe && b[1] === 0xff;
  const be32 = b[0] === 0 && b[1] === 0 && b[2] === 0xfe && b[3] === 0xff;
  if (le16 || be16) {
    if (b.length % 2 !== 0) bad('UTF-16');
    let s = '';
    for (let i = 2; i < b.length; i += 2) s += String.fromCharCode(le16 ? b[i] | (b[i + 1] << 8) : (b[i] << 8) | b[i + 1]);
    if (/[\ud800-\udbff](?![\udc00-\udfff])|(^|[^\ud800-\udbff])[\udc00-\udfff]/.test(s)) bad('UTF-16');
    return s;
  }
  if (be32) {
    if (b.length % 4 !== 0) bad('UTF-32');
    let s = '';
    for (let i = 4; i < b.length; i += 4) {
      const cp = ((b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]) >>> 0;
      if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) bad('UTF-32');
      if (cp >= 0x10000) s += String.fromCharCode(0xd800 + ((cp - 0x10000) >> 10), 0xdc00 + ((cp - 0x10000) & 0x3ff));
      else s += String.fromCharCode(cp);
    }
    return s;
  }
  const s = utf8Decode(b);
  return s === null ? bad('UTF-8') : s;
}

function checkOptions(opts: PartitionCsvOptions): number {
  if (opts === null || typeof opts !== 'object') throw new OtaflashError('PARTITION_BAD_OPTION', `Partition CSV options must be an object, got ${opts === null ? 'null' : typeof opts}`);
  // A string such as '4MB' would otherwise compare as NaN and silently turn the size check off.
  if (opts.flashSize !== undefined && !(typeof opts.flashSize === 'number' && opts.flashSize % 1 === 0 && opts.flashSize > 0)) {
    throw new OtaflashError('PARTITION_BAD_OPTION', `flashSize ${JSON.stringify(opts.flashSize)} must be a number of bytes (e.g. 0x400000)`);
  }
  // 'false' from a config file would otherwise count as true.
  for (const k of ['verify', 'disableMd5'] as const) {
    if (opts[k] !== undefined && typeof opts[k] !== 'boolean') throw new OtaflashError('PARTITION_BAD_OPTION', `${k} must be true or false, got ${JSON.stringify(opts[k])}`);
  }
  if (opts.secure !== undefined && opts.secure !== null && opts.secure !== 'v1' && opts.secure !== 'v2') {
    throw new OtaflashError('PARTITION_BAD_OPTION', `secure must be 'v1', 'v2' or null, got ${JSON.stringify(opts.secure)}`);
  }
  if (opts.env !== undefined && (opts.env === null || typeof opts.env !== 'object')) throw new OtaflashError('PARTITION_BAD_OPTION', 'env must be an object of variable values');
  if (opts.onWarning !== undefined && typeof opts.onWarning !== 'function') throw new OtaflashError('PARTITION_BAD_OPTION', 'onWarning must be a function');
  const tableOffset = opts.offset !== undefined ? opts.offset : PARTITION_TABLE_OFFSET;
  const isAddress = (v: number | undefined): boolean => v === undefined || (typeof v === 'number' && v % 1 === 0 && v >= 0 && v <= 0xffffffff);
  if (!isAddress(tableOffset) || !isAddress(opts.primaryBootloaderOffset) || !isAddress(opts.recoveryBootloaderOffset)) {
    throw new OtaflashError('PARTITION_BAD_OPTION', 'Offsets must be numbers of bytes, whole numbers from 0 to 0xffffffff (e.g. 0x8000)');
  }
  if (opts.primaryBootloaderOffset !== undefined && opts.primaryBootloaderOffset >= tableOffset) {
    throw new OtaflashError(
      'PARTITION_BAD_OPTION',
      `Unsupported configuration. Primary bootloader must be below partition table. Check --primary-bootloader-offset=${hex(opts.primaryBootloaderOffset)} and --offset=${hex(tableOffset)}`,
    );
  }
  if (opts.secure != null && opts.secure !== 'v1' && opts.secure !== 'v2') {
    throw new OtaflashError('PARTITION_BAD_OPTION', `secure must be 'v1' or 'v2', not '${String(opts.secure)}'`);
  }
  return tableOffset;
}

/**
 * Parses a partition CSV exactly as gen_esp32part.py does, then (unless `verify: false`) runs the
 * tool's checks in its order and the 0xC00 length limit. Every rejection is an OtaflashError whose
 * message carries the tool's text and the CSV line. Names longer than 16 bytes are kept whole here
 * (the duplicate check sees them whole, as in the tool) and cut when encoded.
 */
export function parsePartitionCsv(input: string | Uint8Array, opts: PartitionCsvOptions = {}): ParsedPartitionCsv {
  if (typeof input !== 'string' && !(input instanceof Uint8Array)) {
    throw new OtaflashError('PARTITION_BAD_ARGUMENT', `Partition CSV must be a string or a Uint8Array, got ${input === null ? 'null' : typeof input}`);
  }
  // Text is taken as already decoded: one leading BOM goes, as the tool's UTF-8-sig would drop it.
  const text = typeof input !== 'string' ? decodePartitionCsvText(input) : input.charCodeAt(0) === 0xfeff ? input.slice(1) : input;
  const tableOffset = checkOptions(opts);
  const subtypes = opts.extraSubtypes !== undefined ? extendSubtypeKeywords(opts.extraSubtypes) : undefined;
  const roles = subtypeRoles(subtypes);
  const lines = pythonSplitLines(text);
  const rows: Row[] = [];
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const expanded = expandVars(lines[i], opts.env);
    const unknown = /^\$([A-Za-z_][A-Za-z0-9_]*)/.exec(expanded);
    if (unknown) throw new OtaflashError('PARTITION_UNKNOWN_VARIABLE', `unknown variable '${unknown[1]}' (line ${lineNo})`, { line: lineNo });
    const line = pythonStrip(expanded);
    if (line.length === 0 || line[0] === '#') continue;
    try {
      rows.push(parseRow(line, lineNo, tableOffset, opts, subtypes, roles));
    } catch (e) {
      if (e instanceof LineError) throw new OtaflashError(e.code, `Error at line ${lineNo}: ${e.message}`, { line: lineNo, text: line });
      throw e;
    }
  }

  // Placement: blank offsets continue from the previous row's end, rounded up per type.
  let cursor = tableOffset + PARTITION_TABLE_SECTOR_SIZE;
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    if (isPrimaryRow(r, roles)) continue;
    if (r.offset !== null && r.offset < cursor) {
      const msg =
        i === 0
          ? `CSV Error at line ${r.line}: Partitions overlap. Partition sets offset ${pythonHex(r.offset)}. But partition table occupies the whole sector ${pythonHex(tableOffset)}. Use a free offset ${pythonHex(cursor)} or higher.`
          : `CSV Error at line ${r.line}: Partitions overlap. Partition sets offset ${pythonHex(r.offset)}. Previous partition ends ${pythonHex(cursor)}`;
      throw new OtaflashError('PARTITION_OVERLAP', msg, { line: r.line, label: r.name });
    }
    if (r.offset === null) {
      const align = partitionOffsetAlignment(r.type);
      if (cursor % align !== 0) cursor += align - (cursor % align);
      r.offset = cursor;
    }
    if (r.size < 0) r.size = -r.size - r.offset;
    cursor = r.offset + r.size;
  }

  const partitions: Partition[] = rows.map((r) => Object.freeze({ label: r.name, type: r.type, subtype: r.subtype, offset: r.offset as number, size: r.size, flags: r.flags }));
  const lineNumbers = rows.map((r) => r.line);
  const table = { partitions: Object.freeze(partitions), md5: null as Uint8Array | null, lines: Object.freeze(lineNumbers) };

  // The tool checks --flash-size even with --no-verify.
  if (opts.verify === false && opts.flashSize !== undefined) checkPartitionTableFitsFlash(table, opts.flashSize);
  if (opts.verify !== false) verifyPartitionTable(table, { offset: tableOffset, secure: opts.secure, flashSize: opts.flashSize, onWarning: opts.onWarning, lines: lineNumbers, subtypes });
  // The tool takes any number in these fields and crashes packing the first that is no byte / no
  // 32-bit word, after all its checks; we refuse it at that point, naming the line.
  for (const r of rows) {
    const field = (what: string, v: number, max: number): void => {
      if (!(v >= 0 && v <= max)) throw new OtaflashError('PARTITION_BAD_VALUE', `Error at line ${r.line}: ${what} ${v} is out of range 0..${hex(max)} (partition ${r.name})`, { line: r.line, label: r.name });
    };
    field('Type', r.type, 0xff);
    field('SubType', r.subtype, 0xff);
    field('Offset', r.offset as number, 0xffffffff);
    field('Size', r.size, 0xffffffff);
  }
  if (opts.verify !== false) {
    const used = (partitions.length + (opts.disableMd5 ? 0 : 1)) * PARTITION_RECORD_SIZE;
    if (used >= PARTITION_TABLE_MAX_LENGTH) {
      throw new OtaflashError(
        'PARTITION_TABLE_TOO_LARGE',
        `Binary partition table length (${used}) longer than max (${partitions.length} partitions; at most ${opts.disableMd5 ? 95 : 94} fit)`,
        { length: used },
      );
    }
  }
  if (!opts.disableMd5) table.md5 = partitionTableMd5(partitions, opts.hashes);
  return table;
}

/** The table as CSV text, byte for byte what gen_esp32part.py prints for a binary input. */
export function formatPartitionCsv(table: PartitionTable, opts: { extraSubtypes?: readonly string[] } = {}): string {
  checkPartitionTable(table, 'formatPartitionCsv');
  if (opts === null || typeof opts !== 'object') throw new OtaflashError('PARTITION_BAD_OPTION', `formatPartitionCsv options must be an object, got ${opts === null ? 'null' : typeof opts}`);
  const subtypes = opts.extraSubtypes !== undefined ? extendSubtypeKeywords(opts.extraSubtypes) : undefined;
  const rows = ['# ESP-IDF Partition Table', '# Name, Type, SubType, Offset, Size, Flags'];
  for (const p of table.partitions) rows.push(formatPartitionRow(p, subtypes));
  return rows.join('\n') + '\n';
}

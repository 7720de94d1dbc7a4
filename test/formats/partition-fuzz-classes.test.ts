// The library's partition-table codecs on the inputs where differential fuzzing found them
// disagreeing with ESP-IDF's gen_esp32part.py (issue 12, classes 1-8). Expected bytes, text and
// errors are what the tool did (test/fixtures/partition-tables/fuzz-classes/cases.json).
import * as fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { OtaflashError } from '../../src/errors';
import { decodePartitionCsvText, formatPartitionCsv, parsePartitionCsv, type PartitionCsvOptions } from '../../src/formats/partition-csv';
import { pythonInt } from '../../src/formats/partition-python';
import { extendSubtypeKeywords } from '../../src/formats/partition-keywords';
import { decodePartitionTable, encodePartitionTable } from '../../src/formats/partition-table';
import { checkPartitionTableFitsFlash, verifyPartitionTable } from '../../src/formats/partition-verify';
import type { PartitionTable } from '../../src/formats/partition-types';

const DIR = fileURLToPath(new URL('../fixtures/partition-tables/fuzz-classes/', import.meta.url));

interface ToolCase {
  cls: number;
  name: string;
  input: string;
  args: string[];
  exit_code: number;
  output?: string;
  stderr?: string;
  crash?: string;
}

const cases = (JSON.parse(fs.readFileSync(DIR + 'cases.json', 'utf8')) as { cases: ToolCase[] }).cases;
const bytesOf = (name: string): Uint8Array => new Uint8Array(fs.readFileSync(DIR + name));
const byName = (name: string): ToolCase => cases.find((c) => c.name === name)!;

interface Flags {
  csv: PartitionCsvOptions;
  md5: boolean;
  verify: boolean;
  flashSize?: number;
  extraSubtypes?: string[];
}

/** The tool's command line as library options. */
function flagsOf(args: string[]): Flags {
  const f: Flags = { csv: {}, md5: true, verify: true };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--no-verify') f.verify = false;
    else if (a === '--disable-md5sum') f.md5 = false;
    else if (a === '--flash-size') f.flashSize = parseInt(args[++i], 10) * 1024 * 1024;
    else if (a === '--primary-bootloader-offset') f.csv.primaryBootloaderOffset = Number(args[++i]);
    else if (a === '--extra-partition-subtypes') (f.extraSubtypes ??= []).push(args[++i]);
    else throw new Error(`test does not know tool flag ${a}`);
  }
  Object.assign(f.csv, { verify: f.verify, disableMd5: !f.md5, flashSize: f.flashSize, extraSubtypes: f.extraSubtypes });
  return f;
}

/** What the tool's run_gen does, through the library: CSV -> binary bytes, or binary -> CSV text. */
function convert(c: ToolCase, warnings: string[]): Uint8Array | string {
  const f = flagsOf(c.args);
  const input = bytesOf(c.input);
  f.csv.onWarning = (m) => warnings.push(m);
  if (c.input.endsWith('.csv')) return encodePartitionTable(parsePartitionCsv(input, f.csv), { md5: f.md5 });
  const subtypes = f.extraSubtypes ? extendSubtypeKeywords(f.extraSubtypes) : undefined;
  const table: PartitionTable = decodePartitionTable(input, { md5: f.md5 });
  if (f.verify) verifyPartitionTable(table, { subtypes, flashSize: f.flashSize, onWarning: f.csv.onWarning });
  else if (f.flashSize !== undefined) checkPartitionTableFitsFlash(table, f.flashSize);
  return formatPartitionCsv(table, { extraSubtypes: f.extraSubtypes });
}

// Where the tool crashes we refuse with a typed error; which one is our choice.
const CRASH_CODE: Record<string, string> = {
  c6_value_too_big_used: 'PARTITION_BAD_VALUE',
  c6_minus_one_used: 'PARTITION_BAD_VALUE',
  c6_bad_type: 'PARTITION_BAD_EXTRA_SUBTYPE',
  c6_duplicate_value: 'PARTITION_BAD_EXTRA_SUBTYPE',
  c8_md5_row_disabled: 'PARTITION_MD5_DISABLED',
};

function check(c: ToolCase): void {
  const warnings: string[] = [];
  let result: Uint8Array | string | undefined;
  let err: unknown;
  try {
    result = convert(c, warnings);
  } catch (e) {
    err = e;
  }
  if (c.exit_code === 0) {
    assert.is(err, undefined, `${c.name}: the tool accepted it; we threw ${String(err)}`);
    if (typeof result === 'string') assert.fixture(result, fs.readFileSync(DIR + c.output!, 'utf8'), c.name);
    else assert.ok(Buffer.from(result!).equals(fs.readFileSync(DIR + c.output!)), `${c.name}: binary differs from the tool's`);
    assert.is(warnings.map((w) => w + '\n').join(''), c.stderr || '', `${c.name}: warnings`);
    return;
  }
  assert.instance(err, OtaflashError, `${c.name}: the tool ${c.exit_code === 2 ? 'refused' : 'crashed on'} it; we gave ${err === undefined ? 'a result' : String(err)}`);
  const e = err as OtaflashError;
  assert.not.match(e.message, /\n/, 'one line');
  if (c.exit_code === 2) {
    const key = c.stderr!.trim().split('\n').filter((l) => !l.startsWith('Please check extra_partition_subtypes')).pop()!;
    assert.ok(e.message.includes(key), `${c.name}: message\n  ${e.message}\ndoes not contain the tool's\n  ${key}`);
  } else {
    assert.is(e.code, CRASH_CODE[c.name], `${c.name}: the tool crashed (${c.crash}): ${e.message}`);
  }
}

function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof OtaflashError) return e.code;
    throw e;
  }
  return 'no error';
}

test('class 0: further differences a differential run found (Python\'s 0x%x of negatives, the MD5 message)', () => {
  for (const c of cases.filter((x) => x.cls === 0)) check(c);
});

test('class 1: decodePartitionTable reads up to the end marker; PARTITION_BAD_LENGTH only at a partial record', () => {
  for (const c of cases.filter((x) => x.cls === 1)) check(c);
  const stock = bytesOf('c1_table_plus_one_byte.bin').subarray(0, 0xc00);
  assert.equal(decodePartitionTable(bytesOf('c1_table_plus_one_byte.bin')), decodePartitionTable(stock));
  assert.is(codeOf(() => decodePartitionTable(bytesOf('c1_partial_record.bin'))), 'PARTITION_BAD_LENGTH');
  // Records that run into the leftover bytes without an end marker: a partial record is reached.
  assert.is(codeOf(() => decodePartitionTable(stock.subarray(0, 96 + 5))), 'PARTITION_BAD_LENGTH');
  assert.is(codeOf(() => decodePartitionTable(new Uint8Array(31))), 'PARTITION_BAD_LENGTH');
  assert.is(codeOf(() => decodePartitionTable(new Uint8Array(31).fill(0xff))), 'PARTITION_BAD_LENGTH');
});

test('class 2: flashSize is checked with verify: false too; the size is rounded as Python\'s %.1f', () => {
  for (const c of cases.filter((x) => x.cls === 2)) check(c);
  assert.is(codeOf(() => parsePartitionCsv('x,app,test,,1M\n', { verify: false, flashSize: 0x100000 })), 'PARTITION_FLASH_SIZE');
  assert.is(codeOf(() => parsePartitionCsv('x,app,test,,1M\n', { verify: false, flashSize: 0x200000 })), 'no error');
});

test('class 3: decodePartitionCsvText reads UTF-16/UTF-32 with a BOM and keeps NUL characters', () => {
  for (const c of cases.filter((x) => x.cls === 3)) check(c);
  const row = 'nvs,data,nvs,0x9000,24K\n';
  assert.is(decodePartitionCsvText(Uint8Array.from([0xff, 0xfe, ...Buffer.from(row, 'utf16le')])), row);
  const utf32be = [0x00, 0x00, 0xfe, 0xff];
  for (const ch of row) utf32be.push(0, 0, 0, ch.charCodeAt(0));
  assert.is(decodePartitionCsvText(Uint8Array.from(utf32be)), row);
  assert.is(decodePartitionCsvText(Uint8Array.from(Buffer.from('#\0\n' + row))), '#\0\n' + row);
  assert.is(codeOf(() => decodePartitionCsvText(Uint8Array.from([0xff, 0xfe, 0x41]))), 'PARTITION_BAD_TEXT');
});

test('class 4: of two UTF-8 BOMs one is removed, the second is part of the first name', () => {
  for (const c of cases.filter((x) => x.cls === 4)) check(c);
  const t = parsePartitionCsv(bytesOf(byName('c4_two_boms').input));
  assert.is(t.partitions[0].label, '\ufeffnvs');
  assert.is(decodePartitionCsvText(Uint8Array.from([0xef, 0xbb, 0xbf, 0xef, 0xbb, 0xbf, 0x61])), '\ufeffa');
  // A string is taken as already decoded text: one leading BOM is dropped, as the tool's UTF-8-sig would.
  assert.is(parsePartitionCsv('\ufeff\ufeffnvs,data,nvs,,24K\n').partitions[0].label, '\ufeffnvs');
});

test('class 5: numbers take Unicode decimal digits (Nd) as Python\'s int() does', () => {
  for (const c of cases.filter((x) => x.cls === 5)) check(c);
  const size = (s: string): number => parsePartitionCsv(`a,data,fat,,${s}\n`, { verify: false }).partitions[0].size;
  assert.is(size('\u0664\u0660\u0669\u0666'), 4096); // Arabic-Indic
  assert.is(size('0x\uff11\uff10\uff10\uff10'), 0x1000); // fullwidth digits after an ASCII prefix
  assert.is(size(String.fromCodePoint(0x1d7cf, 0x1d7ce)), 10); // mathematical bold, outside the BMP
  assert.is(size(String.fromCodePoint(0x1e951, 0x1e950)), 10); // Adlam
  assert.is(codeOf(() => size(String.fromCodePoint(0x1e950, 0x1e959))), 'PARTITION_BAD_VALUE'); // '09': a leading zero in base 0
  assert.is(codeOf(() => size('\u00b9')), 'PARTITION_BAD_VALUE'); // superscript one is No, not Nd
});

test('class 5: pythonInt gives what Python\'s int(s, 0) and int(s, 16) gave for 2,100 strings (every Nd run and its edges)', () => {
  const recorded = JSON.parse(fs.readFileSync(DIR + 'python-int.json', 'utf8')) as { samples: Array<[string, string | null, string | null]> };
  let compared = 0;
  for (const [s, int0, int16] of recorded.samples) {
    for (const [base, want] of [[0, int0], [16, int16]] as const) {
      const got = pythonInt(s, base);
      const wanted = want === null ? null : Number(want);
      // Beyond 2^53 only the refusal matters (callers refuse such values).
      if (wanted !== null && !Number.isSafeInteger(wanted)) continue;
      assert.is(got, wanted, `int(${JSON.stringify(s)}, ${base})`);
      compared++;
    }
  }
  assert.ok(compared > 4000, `compared ${compared}`);
});

test('class 6: --extra-partition-subtypes entries the tool takes are taken; a bad value fails where it is used', () => {
  for (const c of cases.filter((x) => x.cls === 6)) check(c);
  for (const entry of ['bootloader, bl2, 0x10', 'partition_table, pt2, 5', 'data, big, 0x100', 'data, neg, -1', 'data, , 0x45', 'app, x, 0x_4_2']) {
    assert.is(codeOf(() => extendSubtypeKeywords([entry])), 'no error', entry);
  }
  for (const entry of ['data, x', 'data, x, 0xzz', 'data, x, ', 'foo, x, 0x45', 'data, x, 0x02']) {
    assert.is(codeOf(() => extendSubtypeKeywords([entry])), 'PARTITION_BAD_EXTRA_SUBTYPE', entry);
  }
});

test('class 7: a built-in keyword moved by an extra subtype takes its rules along', () => {
  for (const c of cases.filter((x) => x.cls === 7)) check(c);
});

test('class 8: md5: false (--disable-md5sum) on a table carrying an MD5 record is a typed error', () => {
  for (const c of cases.filter((x) => x.cls === 8)) check(c);
  const stock = bytesOf(byName('c8_md5_row_disabled').input);
  assert.is(codeOf(() => decodePartitionTable(stock, { md5: false })), 'PARTITION_MD5_DISABLED');
  assert.is(codeOf(() => decodePartitionTable(stock, { md5: true })), 'no error');
});

test.run();

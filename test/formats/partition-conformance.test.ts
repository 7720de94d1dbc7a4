// Conformance with ESP-IDF's gen_esp32part.py: every case of the vectors it generated, plus the
// tables cut from shipped firmware. Expected bytes and text come from the tool, never from us.
import * as fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { OtaflashError } from '../../src/errors';
import { parsePartitionCsv, formatPartitionCsv, type PartitionCsvOptions } from '../../src/formats/partition-csv';
import { decodePartitionTable, encodePartitionTable } from '../../src/formats/partition-table';

const DIR = fileURLToPath(new URL('../fixtures/partition-tables/', import.meta.url));
if (!fs.existsSync(DIR)) throw new Error(`conformance vectors missing: ${DIR} (the repository's test/fixtures folder)`);

interface ManifestEntry {
  label: string;
  type: number;
  subtype: number;
  offset: string;
  size: string;
  encrypted: boolean;
  readonly: boolean;
}
interface ManifestCase {
  name: string;
  input: string;
  tool_args: string[];
  accepted: boolean;
  output_bin?: string;
  roundtrip_csv?: string;
  entry_count?: number;
  md5_entry_present?: boolean;
  md5_hex?: string;
  entries?: ManifestEntry[];
  error_file?: string;
  exit_code?: number;
}

const manifest = JSON.parse(fs.readFileSync(DIR + 'gen_esp32part.manifest.json', 'utf8')) as { cases: ManifestCase[] };
const bytesOf = (name: string): Uint8Array => new Uint8Array(fs.readFileSync(DIR + name));
const textOf = (name: string): string => fs.readFileSync(DIR + name, 'utf8');

/** The tool's flags as library options. */
function optionsFor(args: string[]): PartitionCsvOptions {
  const o: PartitionCsvOptions = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--primary-bootloader-offset') o.primaryBootloaderOffset = Number(args[++i]);
    else if (a === '--disable-md5sum') o.disableMd5 = true;
    else if (a === '--flash-size') o.flashSize = parseInt(args[++i], 10) * 1024 * 1024;
    else throw new Error(`test does not know tool flag ${a}`);
  }
  return o;
}

function hexOf(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

function firstDiff(a: Uint8Array, b: Uint8Array): string {
  if (a.length !== b.length) return `length ${a.length} vs ${b.length}`;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return `first difference at byte 0x${i.toString(16)}: ${a[i]} vs ${b[i]}`;
  return 'identical';
}

// Which rule each rejected vector breaks (from the README's table of cases).
const EXPECTED_CODE: Record<string, string> = {
  err_app_empty_subtype: 'PARTITION_EMPTY_FIELD',
  err_app_size_unaligned: 'PARTITION_MISALIGNED',
  err_duplicate_name: 'PARTITION_DUPLICATE_NAME',
  err_flash_size: 'PARTITION_FLASH_SIZE',
  err_misaligned_app: 'PARTITION_MISALIGNED',
  err_misaligned_data: 'PARTITION_MISALIGNED',
  err_nvs_too_small: 'PARTITION_NVS_TOO_SMALL',
  err_otadata_size: 'PARTITION_OTADATA_SIZE',
  err_overlap: 'PARTITION_OVERLAP',
  err_overlap_table: 'PARTITION_OVERLAP',
  err_readonly_coredump: 'PARTITION_READONLY_NOT_ALLOWED',
  err_table_too_large: 'PARTITION_TABLE_TOO_LARGE',
  err_two_otadata: 'PARTITION_MULTIPLE_OTADATA',
  err_unknown_flag: 'PARTITION_UNKNOWN_FLAG',
  err_unknown_subtype: 'PARTITION_UNKNOWN_KEYWORD',
  err_unknown_type: 'PARTITION_UNKNOWN_KEYWORD',
};

test('the manifest lists every vector file', () => {
  const inputs = new Set(manifest.cases.map((c) => c.input));
  const csvs = fs.readdirSync(DIR).filter((f) => f.endsWith('.csv') && !f.endsWith('.roundtrip.csv'));
  assert.ok(csvs.length >= 40, `expected the full vector set, found ${csvs.length} CSVs`);
  for (const f of csvs) assert.ok(inputs.has(f), `${f} is not in the manifest`);
  assert.is(manifest.cases.filter((c) => !c.accepted).length, Object.keys(EXPECTED_CODE).length);
});

for (const c of manifest.cases.filter((x) => x.accepted)) {
  test(`accepted: ${c.name}: CSV -> binary is byte-identical`, () => {
    const table = parsePartitionCsv(bytesOf(c.input), optionsFor(c.tool_args));
    const bin = encodePartitionTable(table);
    const expected = bytesOf(c.output_bin!);
    assert.ok(firstDiff(bin, expected) === 'identical', firstDiff(bin, expected));
  });

  test(`accepted: ${c.name}: binary decodes to the tool's records and MD5`, () => {
    const table = decodePartitionTable(bytesOf(c.output_bin!));
    assert.is(table.partitions.length, c.entry_count);
    assert.is(table.md5 !== null, c.md5_entry_present);
    if (c.md5_entry_present) assert.is(hexOf(table.md5!), c.md5_hex);
    table.partitions.forEach((p, i) => {
      const e = c.entries![i];
      assert.equal(
        { label: p.label, type: p.type, subtype: p.subtype, offset: p.offset, size: p.size, encrypted: (p.flags & 1) !== 0, readonly: (p.flags & 2) !== 0 },
        { label: e.label, type: e.type, subtype: e.subtype, offset: parseInt(e.offset, 16), size: parseInt(e.size, 16), encrypted: e.encrypted, readonly: e.readonly },
      );
    });
  });

  test(`accepted: ${c.name}: binary -> CSV is the tool's text; that CSV regenerates the binary`, () => {
    const bin = bytesOf(c.output_bin!);
    const csv = formatPartitionCsv(decodePartitionTable(bin));
    assert.fixture(csv, textOf(c.roundtrip_csv!));
    const again = encodePartitionTable(parsePartitionCsv(csv, optionsFor(c.tool_args)));
    assert.ok(firstDiff(again, bin) === 'identical', firstDiff(again, bin));
  });
}

for (const c of manifest.cases.filter((x) => !x.accepted)) {
  test(`rejected: ${c.name}: same rule, key phrase and line as the tool`, () => {
    const toolText = textOf(c.error_file!).trim().split('\n');
    // The tool's own message is the last line, unless it added its generic hint after it.
    const key = toolText.filter((l) => !l.startsWith('Please check extra_partition_subtypes')).pop()!;
    let err: unknown;
    try {
      parsePartitionCsv(bytesOf(c.input), optionsFor(c.tool_args));
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof OtaflashError, `${c.name} was not rejected with an OtaflashError: ${String(err)}`);
    const e = err as OtaflashError;
    assert.is(e.code, EXPECTED_CODE[c.name]);
    assert.ok(e.message.includes(key), `message\n  ${e.message}\ndoes not contain the tool's\n  ${key}`);
    assert.not.match(e.message, /\n/, 'one line');
    const toolLine = /line (\d+)/.exec(key);
    if (toolLine) assert.match(e.message, new RegExp(`line ${toolLine[1]}\\b`));
    // Rows the tool listed before its message (duplicates, otadata) are in the details.
    const listed = toolText.filter((l) => /,/.test(l) && !l.includes(' '));
    if (listed.length > 0) assert.equal((e.info as { rows: string[] }).rows, listed);
  });
}

// --- tables cut from shipped firmware (README: "What ESP-IDF's partition tool says") ---

function readmeBlocks(): Map<string, string[]> {
  const text = textOf('README.md');
  const out = new Map<string, string[]>();
  const re = /`([^`]+\.partitions\.bin)`[^\n]*\n```\n([\s\S]*?)```/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) out.set(m[1], m[2].trim().split('\n'));
  return out;
}

const TYPE: Record<string, number> = { app: 0, data: 1 };
const SUBTYPE: Record<string, number> = { nvs: 2, phy: 1, factory: 0, spiffs: 0x82, nvs_keys: 4, ota: 0, ota_0: 0x10, ota_1: 0x11 };
const SIZE = (s: string): number => (s.endsWith('K') ? parseInt(s, 10) * 1024 : s.endsWith('M') ? parseInt(s, 10) * 1048576 : parseInt(s, 16));

test('real tables from shipped firmware decode to what the tool printed', () => {
  const blocks = readmeBlocks();
  assert.is(blocks.size, 4, 'README lists four real tables');
  for (const [file, rows] of blocks) {
    const bin = bytesOf(file);
    assert.is(bin.length, 0xc00);
    const table = decodePartitionTable(bin);
    assert.ok(table.md5 !== null, `${file}: has an MD5 record, verified on decode`);
    assert.is(table.partitions.length, rows.length, file);
    rows.forEach((row, i) => {
      const [label, type, subtype, offset, size, flags] = row.split(',');
      const p = table.partitions[i];
      assert.is(p.label, label);
      assert.is(p.type, TYPE[type]);
      assert.is(p.subtype, /^\d+$/.test(subtype) ? Number(subtype) : SUBTYPE[subtype], `${file} ${label} subtype`);
      assert.is(p.offset, parseInt(offset, 16));
      assert.is(p.size, SIZE(size));
      assert.is(flags, '');
      assert.is(p.flags, 0);
    });
    // And the real bytes survive our encoder unchanged.
    assert.ok(firstDiff(encodePartitionTable(table), bin) === 'identical', file);
  }
});

test('esptool singleapp (96 bytes, no end marker) is rejected like the tool does', () => {
  try {
    decodePartitionTable(bytesOf('esptool-partitions_singleapp.bin'));
    assert.unreachable('accepted');
  } catch (e) {
    assert.instance(e, OtaflashError);
    assert.is((e as OtaflashError).code, 'PARTITION_NO_END_MARKER');
    assert.match((e as OtaflashError).message, 'Partition table is missing an end-of-table marker');
  }
});

test.run();

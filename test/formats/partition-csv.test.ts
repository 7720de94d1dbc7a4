// CSV rules of gen_esp32part.py that the vectors do not pin down one by one. Each expected value
// is worked out from the tool's rules (docs/formats.md §3).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { OtaflashError } from '../../src/errors';
import { parsePartitionCsv, formatPartitionCsv, type PartitionCsvOptions } from '../../src/formats/partition-csv';
import { decodePartitionTable, encodePartitionTable } from '../../src/formats/partition-table';
import { verifyPartitionTable } from '../../src/formats/partition-verify';

const NVS = 'nvs, data, nvs, 0x9000, 0x6000,\n';

function one(line: string, opts?: PartitionCsvOptions) {
  const t = parsePartitionCsv(line, opts);
  return t.partitions[t.partitions.length - 1];
}

function rejects(csv: string | Uint8Array, code: string, phrase: string | RegExp, opts?: PartitionCsvOptions): OtaflashError {
  try {
    parsePartitionCsv(csv, opts);
  } catch (e) {
    assert.instance(e, OtaflashError, String(e));
    const err = e as OtaflashError;
    assert.is(err.code, code, err.message);
    if (typeof phrase === 'string') assert.ok(err.message.includes(phrase), `"${err.message}" lacks "${phrase}"`);
    else assert.match(err.message, phrase);
    return err;
  }
  assert.unreachable(`accepted: ${String(csv)}`);
  throw new Error('unreachable');
}

test('numbers: suffixes on any base, repeated, case-insensitive', () => {
  assert.is(one('a, data, fat, 0x10000, 0x10k').size, 0x4000);
  assert.is(one('a, data, fat, 0x10000, 1kk').size, 0x100000);
  assert.is(one('a, data, fat, 0x10000, 24K').size, 24 * 1024);
  assert.is(one('a, data, fat, 0x10000, 2m').size, 2 * 1048576);
  assert.is(one('a, data, fat, 0x40k, 4K').offset, 0x10000);
  assert.is(one('a, data, fat, 0x10000, 0x6_000').size, 0x6000);
  assert.is(one('a, data, fat, 0x10000, 0o10000').size, 4096);
  assert.is(one('a, data, fat, 0x10000, 0b1000000000000').size, 4096);
  assert.is(one('a, data, fat, 0X10000, 4096').offset, 0x10000);
  assert.is(one('a, data, fat, 0x10000, 1 k').size, 1024); // int() ignores the space left by the suffix
});

test('numbers: a decimal with a leading zero, fractions and garbage are rejected with the stripped text', () => {
  rejects('a, data, fat, 0x10000, 024K', 'PARTITION_BAD_VALUE', 'Error at line 1: Invalid field value 024');
  rejects('a, data, fat, 0x10000, 024', 'PARTITION_BAD_VALUE', 'Invalid field value 024');
  rejects('a, data, fat, 0x10000, 1.5M', 'PARTITION_BAD_VALUE', 'Invalid field value 1.5');
  rejects('a, data, fat, 0x6000  # main NVS, 4K', 'PARTITION_BAD_VALUE', 'Invalid field value 0x6000  # main NVS');
  rejects('a, data, fat, 0x10000, 1__0', 'PARTITION_BAD_VALUE', 'Invalid field value 1__0');
  assert.is(one('a, data, fat, 0x10000, 0_0').size, 0);
  assert.is(one('a, data, fat, 0x10000, 00').size, 0);
});

test('negative size is an absolute end address', () => {
  assert.is(one('factory, app, factory, 0x10000, -0x200000').size, 0x1f0000);
  const t = parsePartitionCsv(NVS + 'factory, app, factory, , -4M\n');
  assert.is(t.partitions[1].offset, 0x10000);
  assert.is(t.partitions[1].size, 0x400000 - 0x10000);
});

test('keywords are case-insensitive, flags are case-sensitive and not trimmed', () => {
  const p = one('x, APP, OTA_0, 0x10000, 1M');
  assert.equal([p.type, p.subtype], [0, 0x10]);
  assert.is(one('k, Data, NVS_KEYS, 0x9000, 4K').subtype, 4);
  rejects('x, data, nvs, 0x9000, 0x6000, Readonly', 'PARTITION_UNKNOWN_FLAG', "unknown flag 'Readonly'");
  rejects('x, data, fat, 0x9000, 0x6000, encrypted: readonly', 'PARTITION_UNKNOWN_FLAG', "unknown flag ' readonly'");
  assert.is(one('x, data, fat, 0x9000, 0x6000, encrypted::readonly').flags, 3);
  assert.is(one('x, data, fat, 0x9000, 0x6000, :').flags, 0);
  assert.is(one('x, data, fat, 0x9000, 0x6000, readonly:readonly').flags, 2);
});

test('columns: no quoting, extra columns ignored, empty subtypes', () => {
  assert.is(one('"a", data, fat, 0x9000, 4K').label, '"a"');
  assert.is(one('inner name, data, fat, 0x9000, 4K, , ignored, also ignored').label, 'inner name');
  assert.is(one('u, data, , 0x9000, 4K').subtype, 6);
  assert.is(one('c, 0x40, , 0x9000, 4K').subtype, 6);
  assert.is(one('c, 0x40, 0x99, 0x9000, 4K').subtype, 0x99);
  assert.is(one(', data, fat, 0x9000, 4K').label, '');
  rejects('a, , fat, 0x9000, 4K', 'PARTITION_EMPTY_FIELD', "Field 'type' can't be left empty.");
  rejects('a', 'PARTITION_EMPTY_FIELD', "Field 'type' can't be left empty.");
  rejects('a, app, , 0x10000, 1M', 'PARTITION_EMPTY_FIELD', 'App partition cannot have an empty subtype');
  rejects('a, data, fat, 0x9000', 'PARTITION_EMPTY_FIELD', "Error at line 1: Size field can't be empty");
  rejects('c, 0x40, spiffs, 0x9000, 4K', 'PARTITION_BAD_VALUE', 'Invalid field value spiffs');
  rejects('a, app, ota_16, 0x10000, 1M', 'PARTITION_UNKNOWN_KEYWORD', "Value 'ota_16' is not valid. Known keywords: factory, test, ota_0,");
});

test('line numbers count comments and blank lines; every line ending works', () => {
  rejects('# c\n\n  # indented\r\nnvs, data, nvs, , 0x6000\rbad, data, nope, , 4K\n', 'PARTITION_UNKNOWN_KEYWORD', 'Error at line 5:');
  const t = parsePartitionCsv('\ufeffnvs,data,nvs,,0x6000\n\tphy_init ,\tdata , phy,,4K   \n');
  assert.equal(
    t.partitions.map((p) => p.label),
    ['nvs', 'phy_init'],
  );
  assert.equal(t.lines, [1, 2]);
});

test('bytes input: UTF-8 BOM removed, UTF-16 BOM honoured, bad UTF-8 rejected', () => {
  const csv = 'nvs,data,nvs,,0x6000\n';
  const utf8 = Uint8Array.from([0xef, 0xbb, 0xbf, ...Buffer.from(csv)]);
  assert.is(parsePartitionCsv(utf8).partitions[0].label, 'nvs');
  const utf16 = Uint8Array.from([0xff, 0xfe, ...Buffer.from(csv, 'utf16le')]);
  assert.is(parsePartitionCsv(utf16).partitions[0].label, 'nvs');
  rejects(Uint8Array.from([0x6e, 0xff, 0x2c]), 'PARTITION_BAD_TEXT', 'UTF-8');
});

test('auto-placement: cursor is the previous end; only the start is rounded (app 64K, others 4K)', () => {
  const t = parsePartitionCsv('nvs,data,nvs,,0x5000\nodd,0x40,1,,0x1800\nd,data,fat,,4K\nf,app,factory,,1M\n');
  assert.equal(
    t.partitions.map((p) => [p.offset, p.size]),
    [
      [0x9000, 0x5000],
      [0xe000, 0x1800],
      [0x10000, 0x1000],
      [0x20000, 0x100000],
    ],
  );
  assert.is(parsePartitionCsv('nvs,data,nvs,,0x6000', { offset: 0x10000 }).partitions[0].offset, 0x11000);
});

test('explicit offsets must increase in file order, even without overlapping', () => {
  rejects('a,data,fat,0x20000,4K\nb,data,fat,0x10000,4K\n', 'PARTITION_OVERLAP', 'CSV Error at line 2: Partitions overlap. Partition sets offset 0x10000. Previous partition ends 0x21000');
  rejects('a,data,fat,-0x1000,4K\n', 'PARTITION_OVERLAP', 'Partition sets offset 0x-1000.'); // Python's '0x%x' % -4096
  rejects('a,data,fat,0x1000,4K\n', 'PARTITION_OVERLAP', 'But partition table occupies the whole sector 0x8000. Use a free offset 0x9000 or higher.');
});

test('per-partition checks: alignment, secure v1/v2 app sizes, read-only rules, NVS size', () => {
  rejects('f,app,factory,0x10000,0x10800', 'PARTITION_MISALIGNED', 'Partition f invalid: Size 0x10800 is not aligned to 0x1000 (line 1)');
  rejects('f,app,factory,0x10000,0x11000', 'PARTITION_MISALIGNED', 'Size 0x11000 is not aligned to 0x10000', { secure: 'v1' });
  assert.is(one('f,app,factory,0x10000,0x11000', { secure: 'v2' }).size, 0x11000);
  assert.is(one('d,data,fat,0x9000,0x100').size, 0x100); // data sizes are never alignment-checked
  assert.is(one('d,data,fat,0x9000,0').size, 0);
  assert.is(one('f,app,factory,0x10000,1M,readonly').flags, 2); // the tool allows read-only apps
  rejects('o,data,ota,0x9000,0x2000,readonly', 'PARTITION_READONLY_NOT_ALLOWED', "'o' partition of type 1 and subtype 0 is always read-write");
  assert.is(one('n,data,nvs,0x9000,0x1000,readonly').size, 0x1000);
  rejects('n,data,nvs,0x9000,0x2000,encrypted', 'PARTITION_NVS_TOO_SMALL', 'must be flagged as');
});

test('duplicates are found before the 16-byte cut; the cut names then collide in the binary', () => {
  rejects('dup,data,fat,,4K\nother,data,fat,,4K\ndup,data,spiffs,,4K\n', 'PARTITION_DUPLICATE_NAME', "'dup' at line 1 and line 3");
  const names = 'abcdefghijklmnop1,data,fat,,4K\nabcdefghijklmnop2,data,fat,,4K\n';
  const bin = encodePartitionTable(parsePartitionCsv(names));
  const back = decodePartitionTable(bin);
  assert.equal(
    back.partitions.map((p) => p.label),
    ['abcdefghijklmnop', 'abcdefghijklmnop'],
  );
  try {
    verifyPartitionTable(back);
    assert.unreachable('duplicate labels accepted');
  } catch (e) {
    assert.is((e as OtaflashError).code, 'PARTITION_DUPLICATE_NAME');
    assert.match((e as OtaflashError).message, 'record 0 and record 1');
  }
});

test('otadata rules apply to TEE otadata too', () => {
  rejects('o,data,tee_ota,,0x3000\n', 'PARTITION_OTADATA_SIZE', 'TEE otadata partition must have size = 0x2000');
  rejects('o,data,tee_ota,,0x2000\np,data,tee_ota,,0x2000\n', 'PARTITION_MULTIPLE_OTADATA', 'Found multiple TEE otadata partitions.');
});

test('overlap check after sorting by offset, and the rule order', () => {
  // bootloader/ota rows take their size from the options, so they can run into the next row.
  rejects('nvs,data,nvs,,0x6000\nf,app,factory,,1M\nb,bootloader,ota,0x110000,\nx,data,fat,0x112000,4K\n', 'PARTITION_OVERLAP', 'CSV Error at line 4', { primaryBootloaderOffset: 0x1000 });
  // A per-partition failure wins over a duplicate name (the tool checks partitions first).
  rejects('d,data,fat,0x9000,4K\nd,data,fat,0xa400,4K\n', 'PARTITION_MISALIGNED', 'Offset 0xa400');
});

test('flash size: the partition with the highest offset must end inside the flash', () => {
  assert.is(parsePartitionCsv('f,app,factory,0x10000,0x3f0000', { flashSize: 4 << 20 }).partitions.length, 1);
  rejects('f,app,factory,0x10000,0x3f1000', 'PARTITION_FLASH_SIZE', 'Partitions tables occupies 4.0MB of flash (4198400 bytes) which does not fit in configured flash size 4MB.', {
    flashSize: 4 << 20,
  });
});

test('length limit: 94 partitions with MD5, 95 without', () => {
  const rows = (n: number) => Array.from({ length: n }, (_, i) => `p${i},data,0x40,,4K`).join('\n');
  assert.is(encodePartitionTable(parsePartitionCsv(rows(94))).length, 0xc00);
  rejects(rows(95), 'PARTITION_TABLE_TOO_LARGE', 'Binary partition table length (3072) longer than max');
  const t = parsePartitionCsv(rows(95), { disableMd5: true });
  assert.is(t.md5, null);
  const bin = encodePartitionTable(t);
  assert.equal(Array.from(bin.subarray(95 * 32)), new Array(32).fill(0xff));
  rejects(rows(96), 'PARTITION_TABLE_TOO_LARGE', 'Binary partition table length (3072) longer than max', { disableMd5: true });
});

test('bootloader and partition_table rows need the bootloader offset; primary rows ignore CSV values', () => {
  rejects('b,bootloader,primary,N/A,N/A', 'PARTITION_NO_BOOTLOADER_OFFSET', 'Please use --primary-bootloader-offset');
  rejects('b,bootloader,recovery,N/A,N/A', 'PARTITION_NO_BOOTLOADER_OFFSET', 'Please use --recovery-bootloader-offset', { primaryBootloaderOffset: 0 });
  const opts = { primaryBootloaderOffset: 0x2000, recoveryBootloaderOffset: 0x200000, offset: 0x10000 };
  const t = parsePartitionCsv('b,bootloader,primary,N/A,N/A\nt,partition_table,primary,whatever,zz\nr,bootloader,recovery,,\n', opts);
  assert.equal(
    t.partitions.map((p) => [p.offset, p.size]),
    [
      [0x2000, 0xe000],
      [0x10000, 0x1000],
      [0x200000, 0xe000],
    ],
  );
  // Only the primary rows skip placement: a recovery bootloader below the cursor is an overlap.
  rejects('r,bootloader,recovery,,', 'PARTITION_OVERLAP', 'Partition sets offset 0x3000', Object.assign({}, opts, { recoveryBootloaderOffset: 0x3000 }));
  rejects('n,data,nvs,,0x6000', 'PARTITION_BAD_OPTION', 'Primary bootloader must be below partition table', { primaryBootloaderOffset: 0x8000 });
});

test('variables: expanded from env, unknown ones kept, an unknown one starting the line rejected', () => {
  const env = { SIZE: '0x6000', NAME: 'store' };
  const p = one('${NAME}, data, fat, 0x9000, $SIZE', { env });
  assert.equal([p.label, p.size], ['store', 0x6000]);
  rejects('n, data, fat, 0x9000, $NOPE', 'PARTITION_BAD_VALUE', 'Invalid field value $NOPE', { env });
  rejects('# ok\n$NOPE, data, fat, 0x9000, 4K', 'PARTITION_UNKNOWN_VARIABLE', "unknown variable 'NOPE' (line 2)", { env });
  assert.is(one('$NAME, data, fat, 0x9000, 4K', { env }).label, 'store');
});

test('out-of-range values the tool would crash on are clean errors with the line', () => {
  rejects('a, 0x100, 0, 0x9000, 4K', 'PARTITION_BAD_VALUE', 'Error at line 1: Type 256 is out of range');
  rejects('a, 0x40, -1, 0x9000, 4K', 'PARTITION_BAD_VALUE', 'SubType -1 is out of range');
  rejects('a, data, fat, 0x100000000, 4K', 'PARTITION_BAD_VALUE', 'Error at line 1: Offset 4294967296 is out of range');
  rejects('a, data, fat, 0x10000, -0x1000', 'PARTITION_BAD_VALUE', 'Error at line 1: Size -61440 is out of range');
  rejects('a, data, fat, 0x10000, ' + '1' + 'k'.repeat(20000), 'PARTITION_BAD_VALUE', 'too large');
});

test('warnings for names that look like other types or subtypes (not errors)', () => {
  const warnings: string[] = [];
  parsePartitionCsv('ota_0, app, ota_1, 0x10000, 1M\ndata, app, ota_0, 0x110000, 1M\n', { onWarning: (m) => warnings.push(m) });
  assert.is(warnings.length, 2);
  assert.match(warnings[0], "name 'ota_0' which is a partition subtype");
  assert.match(warnings[1], "name 'data' which is a partition type");
});

test('format: header, sizes M/K/hex, 0 prints 0M, decimal unknown types, trailing comma, flag order', () => {
  const t = {
    md5: null,
    partitions: [
      { label: 'a', type: 1, subtype: 2, offset: 0x9000, size: 0x6000, flags: 0 },
      { label: 'b', type: 0x40, subtype: 0x99, offset: 0x10000, size: 0, flags: 3 },
      { label: 'c', type: 1, subtype: 6, offset: 0x11000, size: 0x3e8, flags: 2 },
      { label: 'd', type: 0, subtype: 0x1f, offset: 0x110000, size: 0x1f0000, flags: 1 },
    ],
  };
  assert.fixture(
    formatPartitionCsv(t),
    '# ESP-IDF Partition Table\n# Name, Type, SubType, Offset, Size, Flags\n' +
      'a,data,nvs,0x9000,24K,\nb,64,153,0x10000,0M,encrypted:readonly\nc,data,undefined,0x11000,0x3e8,readonly\nd,app,ota_15,0x110000,1984K,encrypted\n',
  );
});

test('--extra-partition-subtypes: new keywords parse, print back, and follow the tool\'s collision and override rules', () => {
  const csv = NVS + 'mine, data, my_sub, 0xf000, 0x1000,\nfw2, app, MyApp, 0x10000, 1M,\n';
  const extra = ['data, my_sub, 0x40', 'app,myapp,41'];
  const t = parsePartitionCsv(csv, { extraSubtypes: extra });
  assert.equal(t.partitions.map((p) => p.subtype), [0x02, 0x40, 0x41]);
  // Without them the keywords are unknown, as in the tool.
  rejects(csv, 'PARTITION_UNKNOWN_KEYWORD', "Value 'my_sub' is not valid");
  // Binary -> CSV names the value, and the CSV parses back to the same bytes.
  const bin = encodePartitionTable(t);
  const text = formatPartitionCsv(decodePartitionTable(bin), { extraSubtypes: extra });
  assert.ok(text.includes('mine,data,my_sub,0xf000,4K,'), text);
  assert.ok(text.includes('fw2,app,myapp,0x10000,1M,'), text);
  assert.ok(formatPartitionCsv(decodePartitionTable(bin)).includes('mine,data,64,0xf000,4K,'));
  assert.equal(encodePartitionTable(parsePartitionCsv(text, { extraSubtypes: extra })), bin);
  // A name the tool already knows takes the new value; its old value then prints as a number.
  const moved = formatPartitionCsv(decodePartitionTable(encodePartitionTable(parsePartitionCsv(NVS))), { extraSubtypes: ['data, nvs, 0x44'] });
  assert.ok(moved.includes('nvs,data,2,0x9000,24K,'), moved);
  const bad = (entries: string[], phrase: string) => {
    try {
      parsePartitionCsv(NVS, { extraSubtypes: entries });
    } catch (e) {
      assert.instance(e, OtaflashError);
      assert.is((e as OtaflashError).code, 'PARTITION_BAD_EXTRA_SUBTYPE');
      assert.ok((e as OtaflashError).message.includes(phrase), (e as OtaflashError).message);
      return;
    }
    assert.unreachable(`accepted ${entries.join(' | ')}`);
  };
  bad(['data, mine, 0x02'], 'Found duplicate value in partition subtype');
  bad(['app, mine, 0x10'], 'Found duplicate value in partition subtype');
  bad(['data, a, 0x40', 'data, b, 40'], 'Found duplicate value in partition subtype');
  // The tool takes bootloader/partition_table entries and values beyond a byte (fuzz classes 6-7:
  // partition-fuzz-classes.test.ts); an unknown type is refused.
  bad(['foo, mine, 0x00'], 'Invalid partition type');
  bad(['data, mine'], 'expected "type, name, value"');
  bad(['data, mine, 0xzz'], 'is not a hex number');
  bad(['data, mine, 0x1_'], 'is not a hex number');
  // The same value is fine for another type.
  assert.is(one('x, app, dup, 0x10000, 1M', { extraSubtypes: ['app, dup, 0x02'] }).subtype, 0x02);
});

test.run();

// Binary partition tables: the reader's rules (gen_esp32part.py and the bootloader), the encoder's
// limits, and reading a table off a device. Expected bytes are built from the layout in docs/formats.md §2.
import * as fs from 'node:fs';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { OtaflashError } from '../../src/errors';
import { MemoryFlash } from '../../src/flash/memory';
import { decodePartitionTable, encodePartitionTable, readPartitionTable } from '../../src/formats/partition-table';
import type { Partition } from '../../src/formats/partition-types';

const DIR = fileURLToPath(new URL('../fixtures/partition-tables/', import.meta.url));
if (!fs.existsSync(DIR)) throw new Error(`conformance vectors missing: ${DIR} (the repository's test/fixtures folder)`);
const vector = (name: string): Uint8Array => new Uint8Array(fs.readFileSync(DIR + name));

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.instance(e, OtaflashError, String(e));
    return (e as OtaflashError).code + ': ' + (e as OtaflashError).message;
  }
  return 'no error';
}

/** A record laid out by hand from the table in docs/formats.md §2.2, independent of the encoder. */
function record(type: number, subtype: number, offset: number, size: number, label: number[], flags = 0): number[] {
  const r = new Array(32).fill(0);
  r[0] = 0xaa;
  r[1] = 0x50;
  r[2] = type;
  r[3] = subtype;
  for (let i = 0; i < 4; i++) {
    r[4 + i] = (offset >>> (8 * i)) & 0xff;
    r[8 + i] = (size >>> (8 * i)) & 0xff;
    r[28 + i] = (flags >>> (8 * i)) & 0xff;
  }
  label.forEach((b, i) => (r[12 + i] = b));
  return r;
}

function table(records: number[][], md5 = true): Uint8Array {
  const body = records.flat();
  const out = new Uint8Array(0xc00).fill(0xff);
  out.set(body);
  if (md5) {
    out[body.length] = 0xeb;
    out[body.length + 1] = 0xeb;
    out.set(createHash('md5').update(Uint8Array.from(body)).digest(), body.length + 16);
  }
  return out;
}

const ascii = (s: string): number[] => Array.from(Buffer.from(s, 'utf8'));

test('decodes hand-laid records: fields, little-endian, label to the first NUL, MD5', () => {
  const bin = table([record(1, 2, 0x9000, 0x6000, ascii('nvs')), record(0, 0x10, 0x110000, 0x100000, ascii('ota_0'), 1)]);
  const t = decodePartitionTable(bin);
  assert.equal(t.partitions, [
    { label: 'nvs', type: 1, subtype: 2, offset: 0x9000, size: 0x6000, flags: 0 },
    { label: 'ota_0', type: 0, subtype: 0x10, offset: 0x110000, size: 0x100000, flags: 1 },
  ]);
  assert.equal(Array.from(t.md5!), Array.from(bin.subarray(80, 96)));
  assert.ok(Object.isFrozen(t.partitions[0]));
  assert.equal(Array.from(encodePartitionTable(t)), Array.from(bin));
});

test('16-byte labels have no NUL; longer names are cut to 16 bytes on encode', () => {
  const bin = table([record(1, 0x81, 0x9000, 0x1000, ascii('exactly16bytes!!'))]);
  assert.is(decodePartitionTable(bin).partitions[0].label, 'exactly16bytes!!');
  const long = encodePartitionTable({ md5: null, partitions: [{ label: 'abcdefghijklmnopqrst', type: 1, subtype: 0x81, offset: 0x9000, size: 0x1000, flags: 0 }] });
  assert.equal(Array.from(long.subarray(12, 28)), ascii('abcdefghijklmnop'));
  assert.is(decodePartitionTable(long).partitions[0].label, 'abcdefghijklmnop');
});

test('a label cut inside a UTF-8 character is an error, as in the tool', () => {
  const label = ascii('abcdefghijklmno').concat([0xc3]); // first byte of "é" only
  assert.match(code(() => decodePartitionTable(table([record(1, 0x81, 0x9000, 0x1000, label)]))), /^PARTITION_BAD_LABEL: .*record 0/);
});

test('no MD5 record is fine; a wrong one is PARTITION_BAD_MD5; only bytes 16..31 are compared', () => {
  const recs = [record(1, 2, 0x9000, 0x6000, ascii('nvs'))];
  assert.is(decodePartitionTable(table(recs, false)).md5, null);
  const bin = table(recs);
  bin[4] ^= 0x10; // change the nvs offset: the digest no longer matches
  assert.match(code(() => decodePartitionTable(bin)), /^PARTITION_BAD_MD5: MD5 checksums don't match! \(computed: 0x[0-9a-f]{32}, parsed: 0xb'[0-9a-f]{32}'\)/);
  const loose = table(recs);
  loose[32 + 5] = 0x00; // inside the 14 x 0xFF filler of the MD5 record
  assert.is(decodePartitionTable(loose).partitions.length, 1);
});

test('the tool reader: length a multiple of 32, magic, end marker required', () => {
  assert.match(code(() => decodePartitionTable(new Uint8Array(31))), /^PARTITION_BAD_LENGTH: Partition table length must be a multiple of 32 bytes/);
  assert.match(code(() => decodePartitionTable(new Uint8Array(32))), /^PARTITION_BAD_MAGIC: Invalid magic bytes \(b'\\x00\\x00'\) for partition definition: record 0/);
  assert.match(code(() => decodePartitionTable(new Uint8Array(0))), /^PARTITION_NO_END_MARKER/);
  const recs = [record(1, 2, 0x9000, 0x6000, ascii('nvs'))];
  assert.match(code(() => decodePartitionTable(table(recs, false).subarray(0, 32))), /^PARTITION_NO_END_MARKER/);
  // A whole 0xFF record ends the table; whatever follows it is not read.
  const after = table(recs);
  after.set(ascii('garbage!'), 0x100);
  assert.is(decodePartitionTable(after).partitions.length, 1);
  // The bootloader-style end marker (magic FFFF, type/subtype FF) is not enough for the tool.
  const half = table(recs);
  half[64 + 10] = 0;
  assert.match(code(() => decodePartitionTable(half)), /^PARTITION_BAD_MAGIC/);
});

test('unknown flag bits are kept and written back', () => {
  const bin = table([record(1, 0x81, 0x9000, 0x1000, ascii('f'), 0x80000003)]);
  const t = decodePartitionTable(bin);
  assert.is(t.partitions[0].flags, 0x80000003);
  assert.equal(Array.from(encodePartitionTable(t)), Array.from(bin));
});

test('encoder limits: 94 partitions with MD5, 95 without', () => {
  const parts = (n: number): Partition[] => Array.from({ length: n }, (_, i) => ({ label: 'p' + i, type: 1, subtype: 0x40, offset: 0x9000 + i * 0x1000, size: 0x1000, flags: 0 }));
  assert.is(encodePartitionTable({ md5: new Uint8Array(16), partitions: parts(94) }).length, 0xc00);
  assert.match(code(() => encodePartitionTable({ md5: new Uint8Array(16), partitions: parts(95) })), /^PARTITION_TABLE_TOO_LARGE: Binary partition table length \(3072\) longer than max/);
  const no = encodePartitionTable({ md5: null, partitions: parts(95) });
  assert.is(decodePartitionTable(no).partitions.length, 95);
  assert.match(code(() => encodePartitionTable({ md5: null, partitions: parts(96) })), /^PARTITION_TABLE_TOO_LARGE/);
  // md5 option overrides the table: force the record on, or off.
  const forced = encodePartitionTable({ md5: null, partitions: parts(1) }, { md5: true });
  assert.equal([forced[32], forced[33]], [0xeb, 0xeb]);
  assert.equal([...forced.subarray(34, 48)], new Array(14).fill(0xff));
});

test('encoder rejects values that do not fit their fields', () => {
  const base = { label: 'x', type: 1, subtype: 1, offset: 0x9000, size: 0x1000, flags: 0 };
  for (const bad of [{ type: 256 }, { subtype: -1 }, { offset: 2 ** 32 }, { size: 1.5 }, { flags: NaN }]) {
    assert.match(code(() => encodePartitionTable({ md5: null, partitions: [Object.assign({}, base, bad)] })), /^PARTITION_BAD_VALUE: Partition x \(record 0\)/);
  }
});

test('readPartitionTable reads 0xC00 bytes at the table offset of a device', () => {
  const bin = vector('uno-r4-esp32s3-0.6.0.partitions.bin');
  const flash = new MemoryFlash({ size: 0x400000, mode: 'nor' });
  flash.write(0x8000, bin);
  const t = readPartitionTable(flash);
  assert.equal(
    t.partitions.map((p) => p.label),
    ['otadata', 'cert', 'app0', 'app1', 'spiffs', 'nvs'],
  );
  flash.write(0x10000, bin);
  assert.is(readPartitionTable(flash, 0x10000).partitions.length, 6);
  // Blank flash: the first record is the end marker, so the table is empty (the tool's reader agrees).
  assert.is(readPartitionTable(flash, 0x20000).partitions.length, 0);
  const bad = bin.slice();
  bad[40] ^= 1;
  flash.write(0x30000, bad);
  assert.match(code(() => readPartitionTable(flash, 0x30000)), /^PARTITION_BAD_MD5: partition table at flash 0x30000: /);
  assert.match(code(() => readPartitionTable(flash, 0x3ff800)), /^FLASH_OUT_OF_RANGE/);
});

test.run();

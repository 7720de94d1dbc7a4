// Seeded property and fuzz tests for the partition table codecs. Replay a failure with
// PARTITION_SEED=<seed printed in the failure> npx uvu -r tsx test/formats partition-property
import * as fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { OtaflashError } from '../../src/errors';
import { parsePartitionCsv, formatPartitionCsv, type PartitionCsvOptions } from '../../src/formats/partition-csv';
import { decodePartitionTable, encodePartitionTable } from '../../src/formats/partition-table';
import type { Partition } from '../../src/formats/partition-types';
import { utf8Encode } from '../../src/formats/utf8';
import { seededRandom } from '../../src/flash/rng';

const DIR = fileURLToPath(new URL('../fixtures/partition-tables/', import.meta.url));
if (!fs.existsSync(DIR)) throw new Error(`conformance vectors missing: ${DIR} (the repository's test/fixtures folder)`);

const BASE_SEED = process.env.PARTITION_SEED !== undefined ? Number(process.env.PARTITION_SEED) : 0x5eed0003;
const RUNS = process.env.PARTITION_SEED !== undefined ? 1 : 300;

/** mulberry32: small, seedable, good enough to drive a fuzzer. */
const rng = seededRandom;

function forEachSeed(name: string, body: (rand: () => number, seed: number) => void): void {
  for (let i = 0; i < RUNS; i++) {
    const seed = (BASE_SEED + i) >>> 0;
    try {
      body(rng(seed), seed);
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      throw new Error(`${name} failed with seed ${seed} (replay: PARTITION_SEED=${seed}): ${why}`);
    }
  }
}

const int = (rand: () => number, n: number): number => Math.floor(rand() * n);
const pick = <T>(rand: () => number, list: readonly T[]): T => list[int(rand, list.length)];

const LABEL_CHARS = ['a', 'b', 'z', '0', '_', '-', ' ', 'é', '日', '😀', '.', '"', '#'];

function randomLabel(rand: () => number): string {
  let s = '';
  const n = int(rand, 18);
  for (let i = 0; i < n; i++) {
    const next = s + pick(rand, LABEL_CHARS);
    if (utf8Encode(next).length > 16) break;
    s = next;
  }
  return s;
}

function randomPartition(rand: () => number): Partition {
  return {
    label: randomLabel(rand),
    type: int(rand, 256),
    subtype: int(rand, 256),
    offset: int(rand, 2 ** 32),
    size: int(rand, 2 ** 32),
    flags: rand() < 0.8 ? int(rand, 4) : int(rand, 2 ** 32),
  };
}

function asErrorOrTable(what: string, fn: () => unknown): void {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof OtaflashError)) throw new Error(`${what}: threw ${e instanceof Error ? e.constructor.name + ' ' + e.message : String(e)}, not an OtaflashError`);
    if (!/^[A-Z][A-Z0-9_]+$/.test(e.code) || e.message.length === 0) throw new Error(`${what}: bad error code/message ${e.code} ${e.message}`);
  }
}

const same = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

test('encode(decode(x)) == x and decode(encode(t)) == t for random valid tables', () => {
  forEachSeed('binary round trip', (rand) => {
    const withMd5 = rand() < 0.7;
    const n = int(rand, withMd5 ? 95 : 96);
    const partitions = Array.from({ length: n }, () => randomPartition(rand));
    const bin = encodePartitionTable({ partitions, md5: withMd5 ? new Uint8Array(16) : null });
    assert.is(bin.length, 0xc00);
    const t = decodePartitionTable(bin);
    assert.equal(t.partitions, partitions);
    assert.is(t.md5 !== null, withMd5);
    assert.ok(same(encodePartitionTable(t), bin), 'encode(decode(x)) differs from x');
  });
});

const VALID = fs
  .readdirSync(DIR)
  .filter((f) => f.endsWith('.bin') && !f.includes('otadata') && !f.startsWith('esptool-'))
  .map((f) => new Uint8Array(fs.readFileSync(DIR + f)));

test('mutated and random binaries give a table or an OtaflashError, never anything else', () => {
  forEachSeed('binary fuzz', (rand) => {
    const base = pick(rand, VALID);
    let bytes: Uint8Array;
    const kind = int(rand, 4);
    if (kind === 0) {
      bytes = base.slice();
      for (let k = 1 + int(rand, 8); k > 0; k--) bytes[int(rand, bytes.length)] = int(rand, 256);
    } else if (kind === 1) {
      bytes = base.slice(0, int(rand, base.length + 1));
    } else if (kind === 2) {
      bytes = new Uint8Array(int(rand, 40) * 32).map(() => (rand() < 0.5 ? pick(rand, [0xaa, 0x50, 0xeb, 0xff, 0]) : int(rand, 256)));
    } else {
      // Valid record magic everywhere, random fields: decodes unless a label is bad UTF-8.
      bytes = base.slice();
      for (let at = 0; at < 0x300; at += 32) {
        for (let i = 2; i < 32; i++) bytes[at + i] = int(rand, 256);
        bytes[at] = 0xaa;
        bytes[at + 1] = 0x50;
      }
    }
    asErrorOrTable('decode', () => {
      const t = decodePartitionTable(bytes);
      // Whatever decodes must format, and encode back unless the MD5 record was not where we put it.
      formatPartitionCsv(t);
      encodePartitionTable(t);
    });
  });
});

const CSV_SOURCES = fs
  .readdirSync(DIR)
  .filter((f) => f.endsWith('.csv'))
  .map((f) => fs.readFileSync(DIR + f, 'utf8'));
const PIECES = [',', ':', '#', '$', 'k', 'K', 'm', 'M', '0x', '-', '\n', '\r', '\t', ' ', '0', '1', 'f', '_', 'app', 'data', 'ota', 'nvs', 'readonly', 'encrypted', 'bootloader', 'primary', 'é', '\ufeff', '0b', '0o', '024'];

function mutateCsv(rand: () => number, text: string): string {
  let s = text;
  for (let k = 1 + int(rand, 6); k > 0; k--) {
    const at = int(rand, s.length + 1);
    const op = int(rand, 3);
    if (op === 0) s = s.slice(0, at) + pick(rand, PIECES) + s.slice(at);
    else if (op === 1) s = s.slice(0, at) + s.slice(at + 1 + int(rand, 4));
    else s = s.slice(0, at) + pick(rand, PIECES) + s.slice(at + 1);
  }
  return s;
}

test('mutated CSVs give a table or an OtaflashError; accepted ones round-trip through binary', () => {
  let accepted = 0;
  forEachSeed('CSV fuzz', (rand) => {
    const text = mutateCsv(rand, pick(rand, CSV_SOURCES));
    const opts: PartitionCsvOptions = { primaryBootloaderOffset: 0x1000, disableMd5: rand() < 0.2, env: { X: '0x1000' } };
    let t: ReturnType<typeof parsePartitionCsv> | undefined;
    asErrorOrTable('parse', () => {
      t = parsePartitionCsv(text, opts);
    });
    if (t === undefined) return;
    accepted++;
    // An accepted table always encodes; its CSV (as the tool would print it) parses to the same bytes,
    // unless a name cannot survive the 16-byte label (the tool loses those too).
    const bin = encodePartitionTable(t);
    const roundTrips = t.partitions.every((p) => utf8Encode(p.label).length <= 16 && p.label.indexOf('\0') < 0 && p.label[0] !== '#' && p.label.indexOf('$') < 0);
    if (!roundTrips) return;
    const back = decodePartitionTable(bin);
    const again = encodePartitionTable(parsePartitionCsv(formatPartitionCsv(back), opts));
    assert.ok(same(again, bin), 'binary -> CSV -> binary changed the bytes');
  });
  assert.ok(accepted > RUNS / 20 || RUNS === 1, `fuzzer too destructive: only ${accepted} of ${RUNS} mutated CSVs were accepted`);
});

test('random text never escapes as a non-OtaflashError', () => {
  forEachSeed('random CSV', (rand) => {
    let s = '';
    for (let i = int(rand, 200); i > 0; i--) s += rand() < 0.7 ? pick(rand, PIECES) : String.fromCharCode(int(rand, 0x3000));
    asErrorOrTable('parse', () => parsePartitionCsv(s));
    const bytes = new Uint8Array(int(rand, 64)).map(() => int(rand, 256));
    asErrorOrTable('parse bytes', () => parsePartitionCsv(bytes));
  });
});

test.run();

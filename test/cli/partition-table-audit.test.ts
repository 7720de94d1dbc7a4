// partition-table show/convert on the inputs a user audit found mishandled: binary tables that break
// the tool's rules (shown, with a warning and exit 1), partitions past the flash size (kept in the
// map), empty files, and whole flash images given to convert.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { CliIo } from '../../src/cli/io';
import { run } from '../../src/cli/run';
import { encodePartitionTable } from '../../src/formats/partition-table';

const DIR = fileURLToPath(new URL('../fixtures/partition-tables/', import.meta.url));
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'otaflash-pt-audit-'));

function cli(...argv: string[]): { code: number; out: string; err: string } {
  let out = '';
  let err = '';
  const io: CliIo = {
    stdout: (t) => (out += typeof t === 'string' ? t : Buffer.from(t).toString('latin1')),
    stderr: (t) => (err += t),
    isTTY: false,
  };
  const code = run(argv, io);
  return { code, out, err };
}

const lines = (s: string): string[] => s.split('\n').filter((l) => l.length > 0);

/** A binary table whose ota_1 starts inside ota_0. */
function overlappingBinary(): string {
  const app = (label: string, subtype: number, offset: number) => ({ type: 0, subtype, offset, size: 0x100000, label, flags: 0 });
  const bytes = encodePartitionTable({
    partitions: [{ type: 1, subtype: 2, offset: 0x9000, size: 0x6000, label: 'nvs', flags: 0 }, app('factory', 0, 0x10000), app('ota_0', 0x10, 0x110000), app('ota_1', 0x11, 0x200000)],
    md5: null,
  });
  const p = path.join(TMP, 'overlap.bin');
  fs.writeFileSync(p, bytes);
  return p;
}

test('show: a binary table larger than --flash-size is printed whole, with a one-line WARNING and exit 1', () => {
  const r = cli('partition-table', 'show', DIR + 'partitions_two_ota.bin', '--flash-size', '2MB');
  assert.is(r.code, 1, r.err);
  assert.equal(lines(r.err).length, 1, r.err);
  assert.match(r.err, /^WARNING: Partitions tables occupies 3\.1MB of flash .* 2MB.* \[PARTITION_FLASH_SIZE\]\n$/);
  assert.match(r.out, /^F {2}ota_1 +app +ota_1 +0x210000 +0x310000 +1M$/m);
  // The map reaches the table's end so ota_1 (F) is in it, and says where the flash ends.
  assert.match(r.out, /^Flash map 0x0-0x310000 \(3136K, past the 2M flash to the table's end\)/m);
  const map = lines(r.out).find((l) => l.startsWith('|'))!;
  for (const mark of ['A', 'B', 'C', 'D', 'E', 'F']) assert.ok(map.includes(mark), `${mark} missing from ${map}`);
  assert.match(map, /F\|$/);
  assert.match(r.out, /^ +\^ 0x200000: the 2M flash ends here$/m);
  // Flash past the end is no free space.
  assert.match(r.out, /^Free: none$/m);
});

test('show --json on a failing binary: valid JSON on stdout, the warning on stderr, exit 1', () => {
  const r = cli('partition-table', 'show', DIR + 'partitions_two_ota.bin', '--flash-size', '2MB', '--json');
  assert.is(r.code, 1);
  const j = JSON.parse(r.out);
  assert.equal(
    j.partitions.map((p: { label: string }) => p.label),
    ['nvs', 'otadata', 'phy_init', 'factory', 'ota_0', 'ota_1'],
  );
  assert.match(r.err, /^WARNING: .*\[PARTITION_FLASH_SIZE\]\n$/);
});

test('show: the same table passes with a flash that holds it, and as CSV the problem stays a refusal', () => {
  const ok = cli('partition-table', 'show', DIR + 'partitions_two_ota.bin', '--flash-size', '4MB');
  assert.is(ok.code, 0, ok.err);
  assert.is(ok.err, '');
  assert.not.match(ok.out, /past the|flash ends here/);
  const csv = cli('partition-table', 'show', DIR + 'partitions_two_ota.csv', '--flash-size', '2MB');
  assert.is(csv.code, 2);
  assert.is(csv.out, '');
});

test('show: overlapping binary partitions are a WARNING and exit 1, and the text names the overlap', () => {
  const p = overlappingBinary();
  const r = cli('partition-table', 'show', p);
  assert.is(r.code, 1);
  assert.equal(lines(r.err).length, 1, r.err);
  assert.match(r.err, /^WARNING: Partition at 0x200000 overlaps 0x110000-0x20ffff .*\[PARTITION_OVERLAP\]\n$/);
  assert.match(r.out, /^Overlap: C ota_0 and D ota_1 share 0x200000-0x210000 \(64K\)$/m);
  const json = cli('partition-table', 'show', p, '--json');
  assert.is(json.code, 1);
  assert.is(JSON.parse(json.out).partitions.length, 4);
  // --no-verify skips the rules (exit 0); the overlap is still plain to see.
  const loose = cli('partition-table', 'show', p, '--no-verify');
  assert.is(loose.code, 0);
  assert.is(loose.err, '');
  assert.match(loose.out, /^Overlap: C ota_0 and D ota_1/m);
});

test('show: the checks run on a table read out of a whole flash dump too', () => {
  const dump = new Uint8Array(0x200000).fill(0xff);
  dump.set(new Uint8Array(fs.readFileSync(DIR + 'partitions_two_ota.bin')), 0x8000);
  const p = path.join(TMP, 'dump2m.bin');
  fs.writeFileSync(p, dump);
  const r = cli('partition-table', 'show', p, '--flash-size', '2MB');
  assert.is(r.code, 1);
  assert.match(r.err, /\[PARTITION_FLASH_SIZE\]/);
  assert.match(r.out, /ota_1/);
});

test('show: an empty file is refused, exit 2, one line naming it', () => {
  const p = path.join(TMP, 'empty.csv');
  fs.writeFileSync(p, '');
  const r = cli('partition-table', 'show', p);
  assert.is(r.code, 2);
  assert.is(r.out, '');
  assert.equal(lines(r.err), [`otaflash partition-table show: ${p} is empty`]);
});

test('convert: a whole flash image is named and pointed at show or cutting the table out, nothing written', () => {
  const img = new Uint8Array(0x400000).fill(0xff);
  img.set(new Uint8Array(fs.readFileSync(DIR + 'partitions_two_ota.bin')), 0x8000);
  const p = path.join(TMP, 'flash4m.bin');
  fs.writeFileSync(p, img);
  const out = path.join(TMP, 'out.csv');
  const r = cli('partition-table', 'convert', p, out);
  assert.is(r.code, 2);
  assert.equal(lines(r.err).length, 1, r.err);
  assert.ok(r.err.includes(`${p} is a whole flash image with its partition table at 0x8000`), r.err);
  assert.ok(r.err.includes(`'otaflash partition-table show ${p}'`), r.err);
  assert.ok(r.err.includes('dd if=' + p + ' of=table.bin bs=4096 skip=8 count=1'), r.err);
  assert.not.match(r.err, /UTF-8/);
  assert.not.ok(fs.existsSync(out));
  // The table at another offset: the suggestion carries it.
  const moved = new Uint8Array(0x400000).fill(0xff);
  moved.set(new Uint8Array(fs.readFileSync(DIR + 'partitions_two_ota.bin')), 0x10000);
  fs.writeFileSync(p, moved);
  const r2 = cli('partition-table', 'convert', p, '-', '--offset', '0x10000');
  assert.is(r2.code, 2);
  assert.ok(r2.err.includes(`show ${p} --offset 0x10000'`), r2.err);
  assert.ok(r2.err.includes('skip=16 count=1'), r2.err);
});

test('convert: binary bytes that are no table get the same message as show, naming the file', () => {
  const p = DIR + 'uno-r4-esp32s3-0.6.0.otadata.bin';
  const r = cli('partition-table', 'convert', p, '-');
  assert.is(r.code, 2);
  assert.is(r.out, '');
  assert.equal(lines(r.err), [`otaflash partition-table convert: ${p}: not a CSV, and no binary table (records start AA 50) at its start or at --offset 0x8000`]);
  // A CSV that is merely not UTF-8 still gets the parser's own message.
  const latin = path.join(TMP, 'latin1.csv');
  fs.writeFileSync(latin, Buffer.from('caf\xe9,data,nvs,,16K\n', 'latin1'));
  assert.match(cli('partition-table', 'convert', latin, '-').err, /UTF-8/);
});

test.after(() => fs.rmSync(TMP, { recursive: true, force: true }));

test.run();

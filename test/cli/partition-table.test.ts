// The partition-table CLI over every gen_esp32part.py vector, in-process through run() and as a real
// process. Expected bytes and text are the tool's own outputs.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { CliIo } from '../../src/cli/io';
import { run } from '../../src/cli/run';

const DIR = fileURLToPath(new URL('../fixtures/partition-tables/', import.meta.url));
const REPO = fileURLToPath(new URL('../../', import.meta.url));
if (!fs.existsSync(DIR)) throw new Error(`conformance vectors missing: ${DIR} (the repository's test/fixtures folder)`);
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'otaflash-pt-'));

interface Captured {
  code: number;
  out: Uint8Array;
  err: string;
}

function cli(...argv: string[]): Captured {
  const out: Uint8Array[] = [];
  let err = '';
  const io: CliIo = {
    stdout: (t) => out.push(typeof t === 'string' ? new Uint8Array(Buffer.from(t, 'utf8')) : t),
    stderr: (t) => (err += t),
    isTTY: false,
  };
  const code = run(argv, io);
  return { code, out: new Uint8Array(Buffer.concat(out)), err };
}

const text = (b: Uint8Array): string => Buffer.from(b).toString('utf8');
const file = (name: string): Uint8Array => new Uint8Array(fs.readFileSync(DIR + name));

interface ManifestCase {
  name: string;
  input: string;
  tool_args: string[];
  accepted: boolean;
  output_bin?: string;
  roundtrip_csv?: string;
  error_file?: string;
}
const cases = (JSON.parse(fs.readFileSync(DIR + 'gen_esp32part.manifest.json', 'utf8')) as { cases: ManifestCase[] }).cases;

for (const c of cases.filter((x) => x.accepted)) {
  test(`convert ${c.name}: CSV -> file is the tool's binary; binary -> stdout is the tool's CSV`, () => {
    const out = path.join(TMP, c.name + '.bin');
    const r = cli('partition-table', 'convert', DIR + c.input, out, ...c.tool_args);
    assert.is(r.err, '');
    assert.is(r.code, 0);
    assert.ok(Buffer.compare(fs.readFileSync(out), Buffer.from(file(c.output_bin!))) === 0, 'binary differs from the tool');
    const back = cli('partition-table', 'convert', out, '-', ...c.tool_args);
    assert.is(back.code, 0);
    assert.fixture(text(back.out), text(file(c.roundtrip_csv!)));
  });
}

for (const c of cases.filter((x) => !x.accepted)) {
  test(`convert ${c.name}: exit 2, one stderr line with the tool's message, no output`, () => {
    const out = path.join(TMP, c.name + '.bin');
    const r = cli('partition-table', 'convert', DIR + c.input, out, ...c.tool_args);
    assert.is(r.code, 2);
    assert.is(r.out.length, 0);
    assert.not.ok(fs.existsSync(out), 'no output file on a rejected input');
    const lines = r.err.split('\n').filter((l) => l.length > 0);
    assert.is(lines.length, 1, r.err);
    const key = text(file(c.error_file!))
      .trim()
      .split('\n')
      .filter((l) => !l.startsWith('Please check'))
      .pop()!;
    assert.ok(lines[0].includes(key), `${lines[0]}\nlacks\n${key}`);
    assert.match(lines[0], /^otaflash partition-table convert: .* \[PARTITION_[A-Z_]+\]$/);
  });
}

test('binary input is verified like the tool: duplicate 16-byte labels are rejected', () => {
  const csv = path.join(TMP, 'long-names.csv');
  fs.writeFileSync(csv, 'abcdefghijklmnop1,data,fat,,4K\nabcdefghijklmnop2,data,fat,,4K\n');
  const bin = path.join(TMP, 'long-names.bin');
  assert.is(cli('partition-table', 'convert', csv, bin).code, 0);
  const r = cli('partition-table', 'convert', bin, '-');
  assert.is(r.code, 2);
  assert.match(r.err, 'Partition names must be unique');
  // show still displays what is on flash, with the problem on stderr and exit 1 (a check failed).
  const shown = cli('partition-table', 'show', bin);
  assert.is(shown.code, 1);
  assert.match(text(shown.out), 'abcdefghijklmnop');
  assert.match(shown.err, 'Partition names must be unique');
});

test('options: --offset moves the blank offsets, --secure v1 checks app sizes, bad values are usage errors', () => {
  const csv = path.join(TMP, 'opts.csv');
  fs.writeFileSync(csv, 'nvs,data,nvs,,0x6000\nf,app,factory,,0x11000\n');
  const r = cli('partition-table', 'convert', csv, '-', '--offset', '0x10000');
  assert.is(r.code, 0);
  assert.equal([...r.out.subarray(4, 8)], [0x00, 0x10, 0x01, 0x00]); // nvs at 0x11000
  const v1 = cli('partition-table', 'convert', csv, '-', '--secure', 'v1');
  assert.is(v1.code, 2);
  assert.match(v1.err, 'Size 0x11000 is not aligned to 0x10000');
  assert.is(cli('partition-table', 'convert', csv, '-', '--secure', 'v3').code, 2);
  assert.is(cli('partition-table', 'convert', csv, '-', '--bogus').code, 2);
  assert.is(cli('partition-table', 'convert', path.join(TMP, 'missing.csv'), '-').code, 2);
  const noMd5 = cli('partition-table', 'convert', csv, '-', '--disable-md5sum');
  assert.equal([...noMd5.out.subarray(64, 96)], new Array(32).fill(0xff));
});

test('show --json has the agreed shape, numbers as numbers', () => {
  const r = cli('partition-table', 'show', DIR + 'uno-r4-esp32s3-0.6.0.partitions.bin', '--json');
  assert.is(r.code, 0);
  const j = JSON.parse(text(r.out));
  assert.equal(Object.keys(j), ['partitions', 'md5']);
  assert.match(j.md5, /^[0-9a-f]{32}$/);
  assert.equal(j.partitions[2], { label: 'app0', type: 0, subtype: 0x10, offset: 0x50000, size: 1600 * 1024, encrypted: false, readonly: false });
  assert.is(j.partitions.length, 6);
  const noMd5 = cli('partition-table', 'show', DIR + 'edge_no_md5.bin', '--json');
  assert.is(JSON.parse(text(noMd5.out)).md5, null);
  const flags = JSON.parse(text(cli('partition-table', 'show', DIR + 'edge_flags.csv', '--json').out));
  assert.ok(flags.partitions.some((p: { encrypted: boolean; readonly: boolean }) => p.encrypted && p.readonly));
});

test('show prints the table, a proportional map and the free space', () => {
  const r = cli('partition-table', 'show', DIR + 'partitions_two_ota.csv');
  assert.is(r.code, 0);
  const out = text(r.out);
  assert.match(out, /^A {2}nvs +data +nvs +0x9000 +0xd000 +16K/m);
  const map = out.split('\n').find((l) => l.startsWith('|'))!;
  assert.is(map.length, 66);
  // partitions_two_ota: ota_1 ends at 0x310000 of a 4 MiB map (64K cells): cells 49..63 are free.
  assert.match(out, /^Free: 0x310000-0x400000 \(960K\)$/m);
  assert.match(map, /F\.{15}\|$/);
  for (const mark of ['A', 'B', 'C', 'D', 'E']) assert.ok(map.includes(mark), `${mark} missing from ${map}`);
});

test('show reads the table out of a whole flash dump at --offset', () => {
  const dump = new Uint8Array(0x20000).fill(0xff);
  dump.set([0xe9, 0x03]); // a bootloader image header at 0, as in a merged firmware file
  dump.set(file('uno-r4-esp32s3-0.6.0.partitions.bin'), 0x10000);
  const p = path.join(TMP, 'dump.bin');
  fs.writeFileSync(p, dump);
  // This table's partitions start at 0x9000, below a table at 0x10000: a real overlap the checks
  // report (exit 1, JSON still printed); --no-verify shows it without them.
  const labels = ['otadata', 'cert', 'app0', 'app1', 'spiffs', 'nvs'];
  const checked = cli('partition-table', 'show', p, '--json', '--offset', '0x10000');
  assert.is(checked.code, 1, checked.err);
  assert.match(checked.err, 'WARNING');
  assert.equal(JSON.parse(text(checked.out)).partitions.map((x: { label: string }) => x.label), labels);
  const r = cli('partition-table', 'show', p, '--json', '--offset', '0x10000', '--no-verify');
  assert.is(r.code, 0, r.err);
  assert.equal(JSON.parse(text(r.out)).partitions.map((x: { label: string }) => x.label), labels);
  // Without the right offset it is neither a table nor CSV text.
  assert.is(cli('partition-table', 'show', p).code, 2);
});

function spawnCli(args: string[]): { status: number | null; stdout: Buffer; stderr: string } {
  const r = spawnSync('npx', ['tsx', 'src/cli/main.ts', ...args], { cwd: REPO, encoding: 'buffer' });
  // npm itself may warn about the machine's config; that is not our output.
  const stderr = r.stderr
    .toString('utf8')
    .split('\n')
    .filter((l) => !l.startsWith('npm warn'))
    .join('\n');
  return { status: r.status, stdout: r.stdout, stderr };
}

test('a real process: CSV to stdout is the tool binary; a bad CSV exits 2 with one stderr line', () => {
  const ok = spawnCli(['partition-table', 'convert', DIR + 'partitions_two_ota.csv', '-']);
  assert.is(ok.status, 0, ok.stderr);
  assert.ok(Buffer.compare(ok.stdout, Buffer.from(file('partitions_two_ota.bin'))) === 0, 'stdout differs from the tool binary');
  const bad = spawnSync('npx', ['tsx', 'src/cli/main.ts', 'partition-table', 'convert', DIR + 'err_overlap.csv', '-'], { cwd: REPO, encoding: 'utf8' });
  assert.is(bad.status, 2);
  const lines = bad.stderr.split('\n').filter((l) => l.length > 0 && !l.startsWith('npm warn'));
  assert.equal(lines, ['otaflash partition-table convert: CSV Error at line 5: Partitions overlap. Partition sets offset 0x200000. Previous partition ends 0x210000 [PARTITION_OVERLAP]']);
  assert.is(bad.stdout, '');
});

test.after(() => fs.rmSync(TMP, { recursive: true, force: true }));

test('convert and show take --extra-partition-subtypes (repeatable), like the tool; a bad entry is exit 2 with one line', () => {
  const csvPath = path.join(TMP, 'extra.csv');
  fs.writeFileSync(csvPath, 'nvs, data, nvs, 0x9000, 0x6000,\nmine, data, my_sub, 0xf000, 0x1000,\nfactory, app, factory, 0x10000, 1M,\n');
  const binPath = path.join(TMP, 'extra.bin');
  const flags = ['--extra-partition-subtypes', 'data, my_sub, 0x40', '--extra-partition-subtypes', 'app, spare, 0x42'];
  const toBin = cli('partition-table', 'convert', csvPath, binPath, ...flags);
  assert.is(toBin.code, 0, toBin.err);
  const bin = new Uint8Array(fs.readFileSync(binPath));
  assert.is(bin[32 + 3], 0x40, 'subtype byte of the second record');
  const back = cli('partition-table', 'convert', binPath, '-', ...flags);
  assert.is(back.code, 0, back.err);
  assert.ok(text(back.out).includes('mine,data,my_sub,0xf000,4K,'), text(back.out));
  const show = cli('partition-table', 'show', binPath, ...flags);
  assert.is(show.code, 0, show.err);
  assert.match(text(show.out), /mine\s+data\s+my_sub/);
  const plain = cli('partition-table', 'convert', csvPath, path.join(TMP, 'x.bin'));
  assert.is(plain.code, 2);
  assert.match(plain.err, /my_sub/);
  const dup = cli('partition-table', 'convert', csvPath, path.join(TMP, 'y.bin'), '--extra-partition-subtypes', 'data, my_sub, 0x01');
  assert.is(dup.code, 2);
  assert.is(dup.err.trim().split('\n').length, 1, dup.err);
  assert.match(dup.err, /Found duplicate value in partition subtype/);
});

test.run();

// The problems a user audit found in the CLI, one test (or a few) per problem, each written to fail
// on the code before its fix. Most run in-process through run(); the endless-input ones spawn the
// CLI from source so a regression times out instead of hanging the suite.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { type Run, expectExit, expectOneErrorLine, runInProcess, tempFiles } from './harness';
import { readInput } from '../../src/cli/io';
import { decodeOtadata, otaStateName } from '../../src/formats/otadata';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const V = path.resolve(REPO, 'test/fixtures');
if (!fs.existsSync(V)) throw new Error(`conformance vectors missing: ${V} (the repository's test/fixtures folder)`);
const TABLE_CSV = path.join(V, 'partition-tables/partitions_two_ota.csv');
const TABLE_BIN = path.join(V, 'partition-tables/partitions_two_ota.bin');
const SINGLE_CSV = path.join(V, 'partition-tables/partitions_singleapp.csv');
const APP = path.join(V, 'app-images/esp-serial-flasher/hello_world-esp32.bin');
const APP_NOHASH = path.join(V, 'app-images/elf2image/coredump-app-esp32.nohash.bin');
const CORRUPT = path.join(V, 'app-images/corrupt/blink_esp32s2.segment-byte-flip.bin');
const BOOTLOADER = path.join(V, 'app-images/esptool/bootloader_esp32.bin');
const OTADATA_VECTORS = path.join(V, 'otadata');
// partitions_two_ota: nvs 0x9000, otadata 0xd000, phy_init 0xf000, factory 0x10000, ota_0, ota_1.
const OTADATA = 0xd000;
const MiB = 1024 * 1024;

const tmpFile = tempFiles('otaflash-audit-');
const tmp = tmpFile.dir;
const cli = runInProcess;
const ok = (...args: string[]): Run => expectExit(cli(...args), 0, args);

/** Exit `code` and exactly one line on stderr matching `needle`. */
function refused(code: number, needle: RegExp, ...args: string[]): Run {
  const r = expectExit(cli(...args), code, args);
  expectOneErrorLine(r, needle);
  return r;
}

/** The CLI from source in a child process, killed after `timeout` ms. */
function spawnCli(args: string[], opts: { input?: string; timeout?: number } = {}): Run {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(REPO, 'src/cli/main.ts'), ...args], {
    cwd: REPO,
    encoding: 'utf8',
    input: opts.input,
    timeout: opts.timeout ?? 60000,
    maxBuffer: 16 * MiB,
  });
  if (r.error) throw new Error(`otaflash ${args.join(' ')}: ${r.error.message} (an endless input must be refused, not read)`);
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const read = (f: string) => new Uint8Array(fs.readFileSync(f));

function same(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A 4 MiB image with the two-OTA table, APP in factory and, when asked, in ota_0 and ota_1. */
function image(slots = false): string {
  const f = tmpFile('flash.bin');
  const apps = slots ? ['--app', APP, '--app', `ota_0=${APP}`, '--app', `ota_1=${APP}`] : ['--app', APP];
  ok('flash create', f, '--size', '4MB', '--table', TABLE_CSV, ...apps);
  return f;
}

// 1. An output or input that is the flash image itself ------------------------------------------

test('partition read refuses an --output that is the flash image (same path, other spelling, symlink)', () => {
  const f = image();
  const before = read(f);
  const link = tmpFile('link.bin');
  fs.symlinkSync(f, link);
  // Not path.join: it would normalise the spelling away.
  const other = `${path.dirname(f)}/./../${path.basename(tmp)}//${path.basename(f)}`;
  for (const out of [f, other, link]) {
    refused(2, /is the flash image .* itself/, 'partition read', f, '--label', 'nvs', '--output', out);
    assert.ok(same(read(f), before), `the image is unchanged after --output ${out}`);
  }
  // A hard link is the same file too.
  const hard = tmpFile('hard.bin');
  fs.linkSync(f, hard);
  refused(2, /itself/, 'partition read', link, '--label', 'nvs', '--output', hard);
  assert.ok(same(read(f), before));
  assert.equal(fs.readdirSync(tmp).filter((n) => n.includes('.tmp')), [], 'no temporary file left');
});

test('partition write refuses an --input that is the flash image itself', () => {
  const f = image();
  const before = read(f);
  const link = tmpFile('link.bin');
  fs.symlinkSync(f, link);
  refused(2, /--input .* is the flash image .* itself/, 'partition write', f, '--label', 'ota_0', '--input', link);
  assert.ok(same(read(f), before));
});

test('flash create --force refuses an --app, --bootloader or --table that is FILE itself', () => {
  const f = image();
  const before = read(f);
  const link = tmpFile('link.bin');
  fs.symlinkSync(f, link);
  refused(2, /--app .* itself/, 'flash create', f, '--force', '--size', '4MB', '--table', TABLE_CSV, '--app', link);
  refused(2, /--app .* itself/, 'flash create', f, '--force', '--size', '4MB', '--table', TABLE_CSV, '--app', `ota_0=${link}`);
  refused(2, /--bootloader .* itself/, 'flash create', f, '--force', '--size', '4MB', '--bootloader', f);
  refused(2, /--table .* itself/, 'flash create', link, '--force', '--size', '4MB', '--table', f);
  assert.ok(same(read(f), before));
  // Another file is still fine.
  ok('flash create', f, '--force', '--size', '4MB', '--table', TABLE_CSV, '--app', APP);
});

// 2. --table-offset applies to the table given ---------------------------------------------------

test('flash create --table-offset lays a CSV table out after that offset', () => {
  const f = tmpFile('flash.bin');
  ok('flash create', f, '--size', '4MB', '--table', TABLE_CSV, '--table-offset', '0x9000');
  const r = ok('inspect', f, '--table-offset', '0x9000', '--json');
  const parts = JSON.parse(r.stdout).partitions as { label: string; offset: number }[];
  // gen_esp32part --offset 0x9000: the first free address is 0xa000, not the table's own sector.
  assert.is(parts.find((p) => p.label === 'nvs')!.offset, 0xa000);
  for (const p of parts) assert.ok(p.offset >= 0xa000, `${p.label} at ${p.offset.toString(16)} is past the table sector`);
});

test('flash create --table-offset refuses a binary table (or a CSV with fixed offsets) that overlaps it', () => {
  const f = tmpFile('flash.bin');
  refused(2, /PARTITION_OVERLAP/, 'flash create', f, '--size', '4MB', '--table', TABLE_BIN, '--table-offset', '0x9000');
  assert.not.ok(fs.existsSync(f), 'nothing written');
  const csv = tmpFile('fixed.csv');
  fs.writeFileSync(csv, 'nvs,data,nvs,0x9000,0x4000\nfactory,app,factory,0x10000,1M\n');
  refused(2, /PARTITION_OVERLAP/, 'flash create', f, '--size', '4MB', '--table', csv, '--table-offset', '0x9000');
  assert.not.ok(fs.existsSync(f), 'nothing written');
  // The same binary table at its own offset is fine.
  ok('flash create', f, '--size', '4MB', '--table', TABLE_BIN);
});

// 3. An erased flash image is reported as one ----------------------------------------------------

test('update, confirm, rollback, otadata switch/erase on erased flash report the missing table with the file', () => {
  const e = tmpFile('erased.bin');
  ok('flash create', e, '--size', '4MB');
  const runs: string[][] = [['update', e, APP], ['confirm', e], ['rollback', e], ['otadata switch', e, '--slot', '0'], ['otadata erase', e]];
  for (const argv of runs) {
    const r = refused(2, /no usable partition table at 0x8000 .*erased flash/, ...argv);
    assert.ok(r.stderr.includes(e), `names the file: ${r.stderr}`);
  }
});

test('update on a table without OTA slots names the file', () => {
  const f = tmpFile('single.bin');
  ok('flash create', f, '--size', '4MB', '--table', SINGLE_CSV, '--app', APP);
  const r = refused(2, /no OTA app partition/, 'update', f, APP);
  assert.ok(r.stderr.includes(f), r.stderr);
});

test('rollback while the factory app runs says so, not "there is no factory app"', () => {
  const f = image();
  const before = read(f);
  const r = refused(2, /the running app is factory; there is nothing to roll back to/, 'rollback', f);
  assert.not.match(r.stderr, /no factory app/);
  assert.ok(same(read(f), before));
});

// 4. otadata switch writes what otatool writes ---------------------------------------------------

interface OtadataCase {
  file: string;
  generated_by: string;
}

/** A table with a factory app and `n` OTA slots of 256 KiB, each holding APP. */
function imageWithSlots(n: number): { file: string; otadata: number } {
  const csv = tmpFile(`slots${n}.csv`);
  const rows = ['nvs,data,nvs,,0x4000', 'otadata,data,ota,,0x2000', 'factory,app,factory,,256K'];
  for (let i = 0; i < n; i++) rows.push(`ota_${i},app,ota_${i},,256K`);
  fs.writeFileSync(csv, rows.join('\n') + '\n');
  const f = tmpFile('flash.bin');
  const apps = ['--app', APP];
  for (let i = 0; i < n; i++) apps.push('--app', `ota_${i}=${APP}`);
  ok('flash create', f, '--size', '4MB', '--table', csv, ...apps);
  const parts = JSON.parse(ok('inspect', f, '--json').stdout).partitions as { label: string; offset: number }[];
  return { file: f, otadata: parts.find((p) => p.label === 'otadata')!.offset };
}

test('otadata switch writes byte for byte what otatool.py switch_ota_partition wrote (every otatool vector)', () => {
  const cases = (JSON.parse(fs.readFileSync(path.join(OTADATA_VECTORS, 'cases.json'), 'utf8')).cases as OtadataCase[]).filter((c) => c.generated_by.startsWith('otatool'));
  assert.ok(cases.length >= 5, `found the otatool vectors: ${cases.map((c) => c.file).join(', ')}`);
  for (const c of cases) {
    // "otatool switch_ota_partition: slots [0, 1], 2-slot table"
    const m = /slots \[([0-9, ]+)\], (\d)-slot table/.exec(c.generated_by);
    assert.ok(m, `understood ${c.generated_by}`);
    const sequence = m![1].split(',').map((s) => s.trim());
    const { file, otadata } = imageWithSlots(Number(m![2]));
    for (const slot of sequence) ok('otadata switch', file, '--slot', slot);
    const got = read(file).subarray(otadata, otadata + 0x2000);
    const want = read(path.join(OTADATA_VECTORS, c.file));
    assert.ok(same(got, want), `${c.file}: otadata after switching to ${sequence.join(', ')} is otatool's`);
  }
});

test('otadata switch --rollback selects with state NEW, as esp_ota_set_boot_partition with rollback', () => {
  const f = image(true);
  ok('otadata switch', f, '--slot', '1', '--rollback');
  const entries = decodeOtadata(read(f).subarray(OTADATA, OTADATA + 0x2000));
  const selected = entries.find((e) => e.seq !== 0xffffffff)!;
  assert.is(selected.seq, 2);
  assert.is(otaStateName(selected.state), 'NEW');
  const boot = JSON.parse(ok('boot', f, '--rollback', '--json').stdout);
  assert.is(boot.boot, 'ota_1');
  assert.is(boot.activeStateAfterBoot, 'PENDING_VERIFY');
});

test('otadata switch: an image without SHA-256 needs --allow-no-hash; an image that fails verification exits 1', () => {
  const f = tmpFile('flash.bin');
  ok('flash create', f, '--size', '4MB', '--table', TABLE_CSV, '--app', APP, '--app', `ota_1=${APP_NOHASH}`);
  const before = read(f);
  const r = refused(1, /ota_1 is not valid.*IMAGE_/, 'otadata switch', f, '--slot', '1');
  assert.ok(same(read(f), before), 'otadata unchanged');
  const j = cli('otadata switch', f, '--slot', '1', '--json');
  assert.is(j.code, 1);
  assert.match(JSON.parse(j.stdout).error.code, /^IMAGE_/);
  assert.ok(r.stderr.includes(f), r.stderr);
  ok('otadata switch', f, '--slot', '1', '--allow-no-hash');
  assert.is(JSON.parse(ok('boot', f, '--json').stdout).boot, 'ota_1');

  // A damaged image in the slot (written with partition write, which does not verify): exit 1.
  ok('partition write', f, '--label', 'ota_0', '--input', CORRUPT);
  refused(1, /ota_0 is not valid.*IMAGE_/, 'otadata switch', f, '--slot', '0', '--allow-no-hash');
  // No image at all is a wrong --slot, as update refuses a file that is no app image: exit 2.
  const empty = image();
  refused(2, /ota_1 is erased.*IMAGE_BAD_MAGIC/, 'otadata switch', empty, '--slot', '1');
});

test('otadata switch --help documents --rollback and --allow-no-hash', () => {
  const help = ok('otadata switch', '--help').stdout;
  for (const s of ['--rollback', '--allow-no-hash', 'otatool', 'UNDEFINED', 'NEW']) assert.ok(help.includes(s), `help mentions ${s}:\n${help}`);
});

// 5. update --json on a failed verification -------------------------------------------------------

test('update --json prints the failure as JSON on stdout (exit 1, the stderr line kept)', () => {
  const f = image();
  const before = read(f);
  const r = cli('update', f, CORRUPT, '--json');
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stderr, /failed verification/);
  assert.is(r.stderr.trim().split('\n').length, 1);
  const j = JSON.parse(r.stdout);
  assert.match(j.error.code, /^IMAGE_/);
  assert.type(j.error.message, 'string');
  assert.is(j.selected, false);
  assert.is(j.label, 'ota_0');
  assert.is(j.bytes, fs.statSync(CORRUPT).size);
  assert.is(j.chip, 'ESP32-S2');
  assert.ok(same(read(f), before), 'nothing written');
});

// 6. Endless and huge inputs ----------------------------------------------------------------------

test('readInput refuses a file past the limit without reading it, and reads stdin', () => {
  const big = tmpFile('big.bin');
  fs.writeFileSync(big, new Uint8Array(5000));
  assert.is(readInput(big, 'input', 5000).length, 5000);
  assert.throws(() => readInput(big, 'input', 4999), /larger than/);
  const r = spawnCli(['partition-table', 'show', '-', '--json'], { input: fs.readFileSync(TABLE_CSV, 'utf8') });
  assert.is(r.code, 0, r.stderr);
  assert.is(JSON.parse(r.stdout).partitions.length, 6);
});

test('endless inputs (/dev/zero) are refused with exit 2 instead of read forever', () => {
  if (!fs.existsSync('/dev/zero')) return;
  const f = image();
  for (const argv of [['image', 'info', '/dev/zero'], ['update', f, '/dev/zero'], ['partition-table', 'show', '/dev/zero']]) {
    const r = spawnCli(argv, { timeout: 30000 });
    assert.is(r.code, 2, `${argv.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /larger than 64 MiB/);
    assert.is(r.stderr.trim().split('\n').length, 1);
  }
});

// 7. demo keeps an existing image -----------------------------------------------------------------

test('demo refuses to overwrite DIR/flash.bin without --force, and quotes paths with spaces', () => {
  const dir = path.join(tmpFile('demo'), 'with space');
  const first = ok('demo', '--dir', dir);
  const flash = path.join(dir, 'flash.bin');
  assert.ok(first.stdout.includes(`Next: otaflash update '${flash}' APP.bin`), first.stdout.slice(-400));
  fs.writeFileSync(flash, 'mine');
  refused(2, /exists; pass --force/, 'demo', '--dir', dir);
  assert.is(fs.readFileSync(flash, 'utf8'), 'mine', 'the existing file is kept');
  ok('demo', '--dir', dir, '--force');
  assert.is(fs.statSync(flash).size, 4 * MiB);
});

// 8. prove: usage errors --------------------------------------------------------------------------

test('prove --replay with an operation beyond the flow, and --every 0, are usage errors', () => {
  const csv = tmpFile('small.csv');
  fs.writeFileSync(csv, 'nvs,data,nvs,0x9000,0x4000,\notadata,data,ota,0xd000,0x2000,\nota_0,app,ota_0,0x10000,64K,\nota_1,app,ota_1,0x20000,64K,\n');
  const small = path.join(V, 'app-images/elf2image/esp32-zephyr.bin');
  const base = ['prove', '--table', csv, '--image', small, '--flash-size', '192K'];
  const r = refused(2, /replay id .* does not fit .*no operation 99999/, ...base, '--replay', 'full-update@user:99999:torn-bits:1');
  assert.is(r.stdout, '');
  refused(2, /--every must be at least 1/, ...base, '--every', '0');
  // A replay id that fits still narrates (exit 0).
  ok(...base, '--replay', 'full-update@user:5:torn-bits:1');
});

// 9. --bootloader-offset is checked up front ------------------------------------------------------

test('flash create --bootloader-offset must be a multiple of 4 KiB', () => {
  const f = tmpFile('flash.bin');
  refused(2, /--bootloader-offset 0x1001 must be a multiple of 4 KiB/, 'flash create', f, '--size', '4MB', '--bootloader', BOOTLOADER, '--bootloader-offset', '0x1001');
  assert.not.ok(fs.existsSync(f));
  ok('flash create', f, '--size', '4MB', '--bootloader', BOOTLOADER, '--bootloader-offset', '0x1000');
  const b = read(BOOTLOADER);
  assert.ok(same(read(f).subarray(0x1000, 0x1000 + b.length), b));
});

test('update refuses before writing when the table has OTA slots but no otadata (nothing could select the slot); --no-select still writes', () => {
  const csv = tmpFile('no-otadata.csv');
  fs.writeFileSync(csv, 'nvs, data, nvs, 0x9000, 0x6000,\nphy_init, data, phy, 0xf000, 0x1000,\nota_0, app, ota_0, 0x10000, 1M,\nota_1, app, ota_1, , 1M,\n');
  const f = tmpFile('no-otadata.bin');
  ok('flash create', f, '--size', '4MB', '--table', csv, '--app', `ota_0=${APP}`);
  const before = fs.readFileSync(f);
  const r = refused(2, /no otadata/, 'update', f, APP);
  assert.ok(r.stderr.includes(f), r.stderr);
  assert.ok(before.equals(fs.readFileSync(f)), 'the refused update changed the image');
  ok('update', f, APP, '--no-select');
});

test.run();

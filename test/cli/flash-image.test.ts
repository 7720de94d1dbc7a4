// The CLI on whole flash image files, exercised as users run it: each step spawns the real
// `otaflash` process (dist/cli/main.js, rebuilt when stale) on a file in a temporary folder.
// Expected values come from elsewhere: gen_esp32part's binary table, esptool's manifest, the input
// files themselves, and ESP-IDF's documented otadata state machine.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { type Run, expectExit, expectOneErrorLine, runInProcess, tempFiles } from './harness';
import { decodeOtadata, otaStateName } from '../../src/formats/otadata';
import { cliMainPath, ensureBuilt, repoRoot } from '../device/bundle';

const VECTORS = path.resolve(repoRoot, 'test/fixtures');
const TABLE_CSV = path.join(VECTORS, 'partition-tables/partitions_two_ota.csv');
const TABLE_BIN = path.join(VECTORS, 'partition-tables/partitions_two_ota.bin');
const APP_A = path.join(VECTORS, 'app-images/esp-serial-flasher/hello_world-esp32.bin');
const APP_B = path.join(VECTORS, 'app-images/elf2image/coredump-app-esp32.bin');
const APP_C = path.join(VECTORS, 'app-images/elf2image/esp32-app-template.bin');
const APP_S2 = path.join(VECTORS, 'app-images/esptool/esp_idf_blink_esp32s2.bin');
const CORRUPT = path.join(VECTORS, 'app-images/corrupt/blink_esp32s2.segment-byte-flip.bin');

// partitions_two_ota: nvs 0x9000, otadata 0xd000, phy_init 0xf000, factory 0x10000, ota_0 0x110000, ota_1 0x210000 (1M each).
const OTADATA = 0xd000;
const FACTORY = 0x10000;
const OTA_0 = 0x110000;
const OTA_1 = 0x210000;
const FLASH_SIZE = 4 * 1024 * 1024;

if (!fs.existsSync(VECTORS)) throw new Error(`fixtures missing: ${VECTORS}`);

interface Manifest {
  files: { file: string; esptool: { app_desc?: { project_name: string; version: string } | null } }[];
}
const manifest: Manifest = JSON.parse(fs.readFileSync(path.join(VECTORS, 'app-images/manifest.json'), 'utf8'));

function esptoolAppDesc(file: string) {
  const rel = path.relative(path.join(VECTORS, 'app-images'), file);
  const entry = manifest!.files.find((f) => f.file === rel);
  assert.ok(entry && entry.esptool.app_desc, `manifest has app_desc for ${rel}`);
  return entry!.esptool.app_desc!;
}

const tmpFile = tempFiles('otaflash-cli-');
const tmp = tmpFile.dir;

/** The first argument may be a two-word command name ('partition read'); it is split like a shell would. */
function cli(...args: string[]): Run {
  const argv = args[0].split(' ').concat(args.slice(1));
  const r = spawnSync(process.execPath, [cliMainPath, ...argv], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  if (r.error) throw r.error;
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const ok = (...args: string[]): Run => expectExit(cli(...args), 0, args);

function json(...args: string[]): any {
  const r = ok(...args, '--json');
  try {
    return JSON.parse(r.stdout);
  } catch {
    throw new Error(`otaflash ${args.join(' ')} --json printed no JSON:\n${r.stdout}`);
  }
}

/**
 * The same invocation in this process through the CLI's run() (what main.ts calls), to keep the
 * many error and help checks fast; the flows above spawn real processes.
 */
const inProcess = runInProcess;

/** exit 2 and exactly one line on stderr that mentions `needle` */
function fails(needle: string | RegExp, ...args: string[]): Run {
  const r = expectExit(inProcess(...args), 2, args);
  expectOneErrorLine(r, needle);
  return r;
}

const read = (f: string) => new Uint8Array(fs.readFileSync(f));

function same(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function allErased(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0xff) return false;
  return true;
}

function otadataOf(flash: string) {
  return decodeOtadata(read(flash).subarray(OTADATA, OTADATA + 0x2000)).map((e) => ({ seq: e.seq, state: otaStateName(e.state) }));
}

/** A 4 MiB image with the two-OTA table and APP_A in factory. */
function freshImage(): string {
  const f = tmpFile('flash.bin');
  ok('flash create', f, '--size', '4MB', '--table', TABLE_CSV, '--app', APP_A);
  return f;
}

test.before(() => {
  ensureBuilt();
});

test('flash create lays out exactly: 0xFF, the gen_esp32part table at 0x8000, the app in factory', () => {
  const f = tmpFile('flash.bin');
  const r = ok('flash', 'create', f, '--size', '4MB', '--table', TABLE_CSV, '--app', APP_A);
  assert.ok(r.stdout.includes('factory'), r.stdout);
  const bytes = read(f);
  assert.is(bytes.length, FLASH_SIZE);
  const expected = new Uint8Array(FLASH_SIZE).fill(0xff);
  expected.set(read(TABLE_BIN), 0x8000); // the binary ESP-IDF's own tool made from the same CSV
  expected.set(read(APP_A), FACTORY);
  assert.ok(same(bytes, expected), 'the image is erased flash + the reference table + the app, nothing else');
  // The binary table as input gives the same image.
  const g = tmpFile('flash.bin');
  ok('flash', 'create', g, '--size', '0x400000', '--table', TABLE_BIN, '--app', `factory=${APP_A}`);
  assert.ok(same(read(g), expected), 'binary table input');
});

test('flash create puts the bootloader where the ROM looks for it (ESP32: 0x1000; ESP32-C3: 0x0)', () => {
  const f = tmpFile('flash.bin');
  const boot32 = read(path.join(VECTORS, 'app-images/esptool/bootloader_esp32.bin'));
  assert.is(inProcess('flash create', f, '--size', '1MB', '--bootloader', path.join(VECTORS, 'app-images/esptool/bootloader_esp32.bin')).code, 0);
  const img = read(f);
  assert.ok(same(img.subarray(0x1000, 0x1000 + boot32.length), boot32) && allErased(img.subarray(0, 0x1000)), 'ESP32 bootloader at 0x1000');
  const g = tmpFile('flash.bin');
  const bootC3 = read(path.join(VECTORS, 'app-images/esptool/bootloader_esp32c3.bin'));
  assert.is(inProcess('flash create', g, '--size', '1MB', '--bootloader', path.join(VECTORS, 'app-images/esptool/bootloader_esp32c3.bin')).code, 0);
  assert.ok(same(read(g).subarray(0, bootC3.length), bootC3), 'ESP32-C3 bootloader at 0');
});

test('create -> update -> boot -> confirm -> inspect, each step a separate process', () => {
  const f = freshImage();
  let info = json('inspect', f);
  assert.is(info.nextBoot.boot, 'factory', 'blank otadata with a factory app boots factory');
  const a = esptoolAppDesc(APP_A);
  const factory = info.apps.find((x: any) => x.label === 'factory');
  assert.is(factory.status, 'valid');
  assert.is(factory.version, a.version);
  assert.is(factory.project, a.project_name);
  assert.is(info.apps.find((x: any) => x.label === 'ota_0').status, 'empty');

  // update: streamed into the next slot (ota_0 after factory), verified, selected.
  const up = cli('update', f, APP_B, '--chunk', '4K');
  assert.is(up.code, 0, up.stderr);
  assert.match(up.stdout, /into ota_0/);
  assert.match(up.stderr, /update ota_0: \d+\/161904 bytes \(100%\)/, 'plain progress lines when not a terminal');
  const app = read(APP_B);
  assert.ok(same(read(f).subarray(OTA_0, OTA_0 + app.length), app), 'the app bytes are in ota_0');
  assert.equal(otadataOf(f), [{ seq: 1, state: 'NEW' }, { seq: 0xffffffff, state: 'UNDEFINED' }]);

  // boot (read-only): predicts ota_0 and the NEW -> PENDING_VERIFY write, changes nothing.
  const before = read(f);
  let boot = json('boot', f, '--rollback');
  assert.is(boot.boot, 'ota_0');
  assert.is(boot.applied, false);
  assert.equal(boot.writes.map((w: any) => [w.sector, w.seq, w.state]), [[0, 1, 'PENDING_VERIFY']]);
  assert.ok(same(read(f), before), 'boot without --apply writes nothing');

  boot = json('boot', f, '--rollback', '--apply');
  assert.is(boot.boot, 'ota_0');
  assert.is(boot.activeStateAfterBoot, 'PENDING_VERIFY');
  assert.equal(otadataOf(f)[0], { seq: 1, state: 'PENDING_VERIFY' });

  const conf = json('confirm', f);
  assert.equal(conf, { confirmed: 'ota_0', state: 'VALID' });

  boot = json('boot', f, '--rollback');
  assert.is(boot.boot, 'ota_0');
  assert.is(boot.activeStateAfterBoot, 'VALID');
  assert.equal(boot.writes, [], 'a confirmed app boots with no otadata write');

  info = json('inspect', f, '--rollback');
  const b = esptoolAppDesc(APP_B);
  const ota0 = info.apps.find((x: any) => x.label === 'ota_0');
  assert.is(ota0.status, 'valid');
  assert.is(ota0.version, b.version);
  assert.is(ota0.project, b.project_name);
  assert.is(ota0.otaState, 'VALID');
  assert.is(ota0.imageSize, app.length);
  assert.is(info.nextBoot.boot, 'ota_0');
  assert.is(info.partitions.length, 6);

  const screen = ok('inspect', f).stdout;
  for (const s of ['factory', 'ota_0', 'ota_1', 'otadata', b.version, a.version, 'next boot: ota_0']) assert.ok(screen.includes(s), `inspect shows ${s}:\n${screen}`);
  assert.ok(screen.split('\n').length <= 40, 'inspect fits one screen');
});

test('an unconfirmed update rolls back on the second reboot; rollback and otadata switch/erase', () => {
  const f = freshImage();
  ok('update', f, APP_B);
  json('boot', f, '--rollback', '--apply');
  ok('confirm', f);
  // Second update goes to the next slot, ota_1.
  const up = json('update', f, APP_C, '--chunk', '1000');
  assert.is(up.label, 'ota_1');
  assert.is(up.version, esptoolAppDesc(APP_C).version);
  const c = read(APP_C);
  assert.ok(same(read(f).subarray(OTA_1, OTA_1 + c.length), c), 'the app bytes are in ota_1 (1000-byte chunks)');
  let boot = json('boot', f, '--rollback', '--apply');
  assert.is(boot.boot, 'ota_1');
  assert.is(boot.activeStateAfterBoot, 'PENDING_VERIFY');
  // No confirmation: the next boot aborts it and falls back to the confirmed ota_0.
  boot = json('boot', f, '--rollback', '--apply');
  assert.is(boot.boot, 'ota_0');
  assert.ok(boot.writes.some((w: any) => w.state === 'ABORTED'), JSON.stringify(boot.writes));

  // Select ota_1 again explicitly, boot it, then roll back by hand.
  assert.equal(json('otadata switch', f, '--slot', '1'), { selected: 'ota_1', slot: 1 });
  boot = json('boot', f, '--rollback', '--apply');
  assert.is(boot.boot, 'ota_1');
  const rb = json('rollback', f);
  assert.is(rb.invalidated, 'ota_1');
  assert.is(rb.next, 'ota_0');
  assert.is(json('boot', f, '--rollback').boot, 'ota_0');

  ok('otadata erase', f);
  assert.ok(allErased(read(f).subarray(OTADATA, OTADATA + 0x2000)), 'otadata erased');
  assert.is(json('boot', f).boot, 'factory');
});

test('a corrupt image, or one for another chip than the running app, is refused: exit 1, nothing selected', () => {
  const f = freshImage();
  const before = otadataOf(f);
  for (const [image, code] of [[CORRUPT, /IMAGE_/], [APP_S2, /IMAGE_CHIP_MISMATCH/]] as const) {
    const r = cli('update', f, image);
    assert.is(r.code, 1, r.stderr);
    assert.match(r.stderr, /failed verification/);
    assert.match(r.stderr, code);
    assert.equal(otadataOf(f), before);
    assert.is(json('boot', f).boot, 'factory');
  }
  // Told explicitly which chip the device is, the ESP32-S2 image goes in.
  assert.is(json('update', f, APP_S2, '--chip', 'esp32s2').chip, 'ESP32-S2');
});

test('partition read / write / erase by label, bounds checked', () => {
  const f = freshImage();
  const out = tmpFile('factory.bin');
  ok('partition', 'read', f, '--label', 'factory', '--output', out);
  const got = read(out);
  const app = read(APP_A);
  assert.is(got.length, 0x100000);
  assert.ok(same(got.subarray(0, app.length), app) && allErased(got.subarray(app.length)), 'factory partition = app + erased');

  const data = new Uint8Array(5000);
  let x = 12345;
  for (let i = 0; i < data.length; i++) data[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
  const input = tmpFile('nvs.bin');
  fs.writeFileSync(input, data);
  const w = json('partition write', f, '--label', 'nvs', '--input', input);
  assert.equal(w, { label: 'nvs', offset: 0x9000, size: 0x4000, written: 5000 });
  const flash = read(f);
  assert.ok(same(flash.subarray(0x9000, 0x9000 + 5000), data), 'written at the partition offset');
  assert.ok(allErased(flash.subarray(0x9000 + 5000, 0xd000)), 'rest of nvs erased');
  assert.ok(allErased(flash.subarray(0x8c00, 0x9000)), 'nothing before the partition');
  assert.ok(allErased(flash.subarray(OTADATA, OTADATA + 0x2000)), 'nothing after it');

  const stdout = spawnSync(process.execPath, [cliMainPath, 'partition', 'read', f, '--label', 'phy_init', '--output', '-']);
  assert.is(stdout.status, 0);
  assert.is(stdout.stdout.length, 0x1000, 'binary to stdout');

  ok('partition erase', f, '--label', 'factory');
  assert.ok(allErased(read(f).subarray(FACTORY, FACTORY + 0x100000)));
  assert.is(cli('boot', f).code, 1, 'nothing bootable: exit 1');

  const big = tmpFile('big.bin');
  fs.writeFileSync(big, new Uint8Array(0x4001));
  const beforeBig = read(f);
  fails(/larger than partition 'nvs'.*PARTITION_TOO_SMALL/, 'partition', 'write', f, '--label', 'nvs', '--input', big);
  assert.ok(same(read(f), beforeBig), 'a refused write changes nothing');
});

test('inspect and partition read on a real merged flash image (Arduino UNO R4 WiFi bridge, ESP32-S3)', () => {
  // The merged image ends where app1 would start (README of firmware-pairs); work on a copy, the
  // vectors are read-only.
  const f = tmpFile('uno-r4.bin');
  fs.copyFileSync(path.join(VECTORS, 'firmware-pairs/esp32s3-uno-r4-bridge-flash/new.bin'), f);
  const app = read(path.join(VECTORS, 'firmware-pairs/esp32s3-uno-r4-bridge-app/new.bin'));
  const info = json('inspect', f);
  assert.equal(info.partitions.map((p: any) => [p.label, p.offset]), [
    ['otadata', 0x9000], ['cert', 0xb000], ['app0', 0x50000], ['app1', 0x1e0000], ['spiffs', 0x370000], ['nvs', 0x3f0000],
  ]);
  // partition-tables/README: sector 0 seq 1, sector 1 seq 0, both CRCs pass; seq 1 selects ota_0.
  assert.equal(info.otadata.entries.map((e: any) => [e.seq, e.crcOk]), [[1, true], [0, true]]);
  assert.is(info.otadata.activeSector, 0);
  const app0 = info.apps.find((x: any) => x.label === 'app0');
  assert.is(app0.status, 'valid');
  assert.is(app0.chip, 'ESP32-S3');
  assert.is(app0.imageSize, app.length);
  assert.is(app0.project, 'arduino-lib-builder');
  assert.ok(app0.idfVersion.startsWith('v4.4.4'), app0.idfVersion);
  const app1 = info.apps.find((x: any) => x.label === 'app1');
  assert.is(app1.status, 'invalid');
  assert.match(app1.error, /past the flash end 0x1e0000/);
  assert.is(info.nextBoot.boot, 'app0');
  const out = tmpFile('app0.bin');
  ok('partition read', f, '--label', 'app0', '--output', out);
  assert.ok(same(read(out).subarray(0, app.length), app), 'app0 holds the app image cut from the same firmware');
  fails(/FLASH_OUT_OF_RANGE/, 'partition read', f, '--label', 'app1', '--output', tmpFile('app1.bin'));
});

test('errors: exit code 2 and one line saying what and where', () => {
  const f = freshImage();
  // One of them as a real process: the exit status and stderr are what a shell sees.
  const spawned = cli('partition', 'erase', f, '--label', 'nope');
  assert.is(spawned.code, 2);
  assert.is(spawned.stderr, "otaflash partition erase: " + f + ": no partition labelled 'nope' (the table has: nvs, otadata, phy_init, factory, ota_0, ota_1)\n");
  assert.is(spawned.stdout, '');
  fails("no partition labelled 'nope' (the table has: nvs, otadata, phy_init, factory, ota_0, ota_1)", 'partition', 'read', f, '--label', 'nope', '--output', tmpFile('x'));
  fails('--label NAME is required', 'partition', 'erase', f);
  fails('cannot open flash image', 'inspect', path.join(tmp, 'missing.bin'));
  fails('exists; pass --force', 'flash', 'create', f, '--size', '4MB');
  fails("'4XB' is not a size", 'flash', 'create', tmpFile('y.bin'), '--size', '4XB');
  fails(/ends past the flash size/, 'flash', 'create', tmpFile('z.bin'), '--size', '2MB', '--table', TABLE_CSV);
  const mix = tmpFile('mix.bin');
  fails('one flash image holds images for one chip', 'flash create', mix, '--size', '4MB', '--table', TABLE_CSV, '--app', APP_A, '--app', `ota_1=${APP_S2}`);
  assert.not.ok(fs.existsSync(mix), 'a refused create leaves no file');
  fails('unknown option --bogus', 'update', f, APP_B, '--bogus');
  fails('there is no OTA slot 5', 'update', f, APP_B, '--slot', '5');
  fails('--slot N is required', 'otadata', 'switch', f);
  fails(/IMAGE_/, 'otadata', 'switch', f, '--slot', '1'); // ota_1 holds no image
  fails('OTA_RUNNING_FACTORY', 'confirm', f);
  const notFlash = tmpFile('odd.bin');
  fs.writeFileSync(notFlash, new Uint8Array(1000));
  fails('not a whole number of 4 KiB sectors', 'boot', notFlash);
  const blank = tmpFile('blank.bin');
  assert.is(inProcess('flash', 'create', blank, '--size', '64K').code, 0);
  fails(/no usable partition table at 0x8000 .*PARTITION_TABLE_EMPTY/, 'inspect', blank);
});

test('every command has --help (exit 0, usage on stdout)', () => {
  for (const name of ['flash create', 'partition read', 'partition write', 'partition erase', 'update', 'boot', 'confirm', 'rollback', 'otadata switch', 'otadata erase', 'inspect', 'demo']) {
    const r = inProcess(name, '--help');
    assert.is(r.code, 0, name);
    assert.ok(r.stdout.startsWith(`Usage: otaflash ${name}`), `${name} --help:\n${r.stdout}`);
  }
});

test('demo runs the whole story on a file and ends with ota_1 confirmed', () => {
  const dir = tmpFile('demo');
  const r = ok('demo', '--dir', dir);
  assert.ok(fs.existsSync(path.join(dir, 'flash.bin')));
  assert.match(r.stdout, /4\. reboot\n\s+boots ota_1, state PENDING_VERIFY/);
  assert.match(r.stdout, /ota_1 is now VALID/);
  assert.match(r.stdout, /next boot: ota_1/);
  const info = json('inspect', path.join(dir, 'flash.bin'));
  assert.is(info.nextBoot.boot, 'ota_1');
  assert.is(info.apps.find((x: any) => x.label === 'ota_1').otaState, 'VALID');
});

test.run();

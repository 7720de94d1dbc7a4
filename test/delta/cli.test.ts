// The delta commands end to end, in this process: apply into a flash image file (bare patch and
// delta package), apply-file, info (against detools's patch_info), and refusals that leave the
// flash image file untouched.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeDeltaPackage } from '../../src/delta/package';
import { expectExit, expectOneErrorLine, runInProcess, tempFiles } from '../cli/harness';
import { PAIRS_DIR, camelKey, manifest } from './fixtures';

const tmp = tempFiles('otaflash-delta-cli-');
const TABLE = fileURLToPath(new URL('../fixtures/partition-tables/partitions_two_ota.csv', import.meta.url));
const PAIR = 'esp32-nina-w102-app';
const DIR = `${PAIRS_DIR}${PAIR}/`;
const OLD = `${DIR}old.bin`;
const NEW = fs.readFileSync(`${DIR}new.bin`);
const sha = (b: Uint8Array) => new Uint8Array(createHash('sha256').update(b).digest());

function ok(...args: string[]) {
  return expectExit(runInProcess(...args), 0, args);
}

/** A 4 MiB flash image with old.bin as the factory app (what runs), ota_0 and ota_1 empty. */
function flashWithOld(): string {
  const f = tmp('flash.bin');
  ok('flash create', f, '--size', '4MB', '--table', TABLE, '--app', `factory=${OLD}`);
  return f;
}

function slot(file: string, offset: number, n: number): Buffer {
  return fs.readFileSync(file).subarray(offset, offset + n);
}

test('delta apply: a detools lzma patch from the running factory app into ota_0, verified and selected', () => {
  const f = flashWithOld();
  const r = ok('delta apply', f, `${DIR}detools/sequential-lzma.patch`, '--json');
  const j = JSON.parse(r.stdout);
  assert.is(j.label, 'ota_0');
  assert.is(j.from, 'factory');
  assert.is(j.bytes, NEW.length);
  assert.is(j.sha256Valid, true);
  assert.is(j.selected, true);
  assert.ok(slot(f, j.offset, NEW.length).equals(NEW), 'ota_0 holds new.bin');
  const boot = JSON.parse(ok('boot', f, '--json').stdout);
  assert.ok(JSON.stringify(boot).indexOf('ota_0') >= 0, 'boot selects ota_0');
});

test('delta apply: a delta package picks the patch for the running image', () => {
  const f = flashWithOld();
  const old = fs.readFileSync(OLD);
  const wrong = fs.readFileSync(`${PAIRS_DIR}esp32-bootloader/old.bin`);
  const pkg = encodeDeltaPackage({
    targetVersion: '1.5.0',
    targetSha256: sha(NEW),
    targetSize: NEW.length,
    patches: [
      { sourceSha256: sha(wrong), sourceSize: wrong.length, sourceVersion: 'other', patch: fs.readFileSync(`${PAIRS_DIR}esp32-bootloader/detools/sequential-lzma.patch`) },
      { sourceSha256: sha(old), sourceSize: old.length, sourceVersion: '1.4.8', patch: fs.readFileSync(`${DIR}detools/sequential-heatshrink.patch`) },
    ],
  });
  const p = tmp('nina.odpk');
  fs.writeFileSync(p, pkg);
  const j = JSON.parse(ok('delta apply', f, p, '--json', '--chunk', '1000').stdout);
  assert.is(j.chosen.kind, 'patch');
  assert.is(j.chosen.sourceVersion, '1.4.8');
  assert.ok(slot(f, j.offset, NEW.length).equals(NEW));
  const info = JSON.parse(ok('delta info', p, '--json').stdout);
  assert.is(info.type, 'delta-package');
  assert.is(info.patches.length, 2);
  assert.is(info.patches[1].info.compression, 'heatshrink');
});

test('delta apply: refusals (in-place patch, a dictionary over --max-dictionary, a package for other images) leave the file as it was', () => {
  const f = flashWithOld();
  const before = fs.readFileSync(f);
  const wrong = fs.readFileSync(`${PAIRS_DIR}esp32-bootloader/old.bin`);
  const pkg = tmp('other.odpk');
  fs.writeFileSync(pkg, encodeDeltaPackage({ targetVersion: '1.5.0', targetSha256: sha(NEW), targetSize: NEW.length, patches: [{ sourceSha256: sha(wrong), sourceSize: wrong.length, sourceVersion: 'bootloader-2023', patch: fs.readFileSync(`${PAIRS_DIR}esp32-bootloader/detools/sequential-lzma.patch`) }] }));
  const cases: [string[], RegExp][] = [
    [[`${DIR}detools/in-place-lzma-64k.patch`], /DELTA_IN_PLACE_UNSUPPORTED|in-place/],
    [[`${DIR}detools/sequential-lzma.patch`, '--max-dictionary', '64K'], /dictionary/],
    [[pkg], /bootloader-2023/],
  ];
  for (const [extra, needle] of cases) {
    const r = runInProcess('delta apply', f, ...extra);
    assert.ok(r.code !== 0, `refused: ${extra.join(' ')}`);
    expectOneErrorLine(r, needle);
    assert.ok(fs.readFileSync(f).equals(before), `${extra.join(' ')}: flash image unchanged`);
  }
});

test('delta apply-file: OLD + PATCH -> NEW byte for byte; a broken patch is refused with its code', () => {
  for (const c of ['lzma', 'heatshrink', 'crle']) {
    const out = tmp(`new-${c}.bin`);
    ok('delta apply-file', OLD, `${DIR}detools/sequential-${c}.patch`, '-o', out);
    assert.ok(fs.readFileSync(out).equals(NEW), c);
  }
  const b = `${PAIRS_DIR}esp32-bootloader/`;
  const r = runInProcess('delta apply-file', `${b}old.bin`, `${b}detools/broken-flipped-byte.patch`, '-o', tmp('x.bin'));
  assert.ok(r.code !== 0);
  expectOneErrorLine(r, /DELTA_CORRUPT_COMPRESSED/);
});

test('delta info --json: the fields detools patch_info printed, for every patch of the pair', () => {
  for (const p of manifest(PAIR).patches) {
    const j = JSON.parse(ok('delta info', `${DIR}detools/${p.file}`, '--json').stdout);
    for (const [k, v] of Object.entries(p.patch_info)) {
      if (k === 'segments') continue;
      assert.equal(j[camelKey(k)], v, `${p.file} ${k}`);
    }
  }
  const text = ok('delta info', `${DIR}detools/sequential-lzma.patch`).stdout;
  assert.ok(/Number of diffs:\s+\d+/.test(text) && /Compression:\s+lzma/.test(text), text);
});

test.run();

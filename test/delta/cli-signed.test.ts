// The signed-package commands end to end: delta package --sign, delta sign, delta verify, and delta
// apply with trusted keys (a signed package applied; unsigned, bare patch, wrong key refused with the
// flash image file untouched).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { expectExit, runInProcess, tempFiles } from '../cli/harness';
import { PAIRS_DIR } from './fixtures';

const tmp = tempFiles('otaflash-delta-signed-');
const TABLE = fileURLToPath(new URL('../fixtures/partition-tables/partitions_two_ota.csv', import.meta.url));
const KEYS = path.resolve(new URL('../fixtures/signed-images/keys/', import.meta.url).pathname);
const K = (name: string) => path.join(KEYS, name);
const DIR = `${PAIRS_DIR}esp32s3-hello-world-app/`;
const OLD = `${DIR}old.bin`;
const NEW = `${DIR}new.bin`;
const NEW_BYTES = fs.readFileSync(NEW);
const digestHex = (name: string) => fs.readFileSync(K(name)).toString('hex');

const run = (code: number, ...args: string[]) => expectExit(runInProcess(...args), code, args);

function flashWithOld(): string {
  const f = tmp('flash.bin');
  run(0, 'flash create', f, '--size', '4MB', '--table', TABLE, '--app', `factory=${OLD}`);
  return f;
}

// Made once: generating the patch takes a moment.
const signed = tmp('signed.odpk');
const made = JSON.parse(run(0, 'delta package', NEW, OLD, '-o', signed, '--sign', K('rsa3072-a.pem'), '--json').stdout);
const unsigned = tmp('unsigned.odpk');
run(0, 'delta package', NEW, OLD, '-o', unsigned);

test('delta package --sign: one patch, signed with one block; unsigned without --sign', () => {
  assert.is(made.signed, true);
  assert.is(made.signatureBlocks, 1);
  assert.is(made.patches.length, 1);
  assert.is(fs.statSync(signed).size, fs.statSync(unsigned).size + 4 + 1216);
});

test('delta verify: 0 with the trusted key (PEM or eFuse digest), 1 with another key or unsigned', () => {
  const v = JSON.parse(run(0, 'delta verify', signed, '--pubkey', K('rsa3072-a.pub.pem'), '--json').stdout);
  assert.is(v.valid, true);
  assert.is(v.blocks[0].keyDigest, digestHex('rsa3072-a.digest.bin'));
  run(0, 'delta verify', signed, '--key-digest', digestHex('rsa3072-a.digest.bin'));
  const bad = JSON.parse(run(1, 'delta verify', signed, '--pubkey', K('rsa3072-b.pub.pem'), '--json').stdout);
  assert.is(bad.blocks[0].status, 'untrusted-key');
  run(1, 'delta verify', signed, '--key-digest', digestHex('rsa3072-a.digest.bin'), '--revoked', digestHex('rsa3072-a.digest.bin'));
  assert.match(run(1, 'delta verify', unsigned, '--pubkey', K('rsa3072-a.pub.pem')).stdout, 'not signed');
  run(2, 'delta verify', signed);
});

test('delta sign: an unsigned package signed with an ECDSA key verifies with it, the patch unchanged', () => {
  const out = tmp('resigned.odpk');
  run(0, 'delta sign', unsigned, '--key', K('ecdsa256-a.pem'), '-o', out);
  run(0, 'delta verify', out, '--pubkey', K('ecdsa256-a.pub.pem'));
  run(1, 'delta verify', out, '--pubkey', K('rsa3072-a.pub.pem'));
  const a = fs.readFileSync(unsigned);
  const b = fs.readFileSync(out);
  assert.ok(a.subarray(a.length - made.patches[0].patchSize).equals(b.subarray(b.length - made.patches[0].patchSize)));
});

test('delta apply with --pubkey: the signed package is applied and selected', () => {
  const f = flashWithOld();
  const j = JSON.parse(run(0, 'delta apply', f, signed, '--pubkey', K('rsa3072-a.pub.pem'), '--json').stdout);
  assert.is(j.selected, true);
  assert.equal(j.chosen.signature, { valid: true, reason: 'block 0 verifies with the trusted key' });
  assert.ok(fs.readFileSync(f).subarray(j.offset, j.offset + NEW_BYTES.length).equals(NEW_BYTES));
});

test('delta package --full without OLD images: the full image only; neither is a usage error', () => {
  const out = tmp('full.odpk');
  const j = JSON.parse(run(0, 'delta package', NEW, '--full', '-o', out, '--sign', K('ecdsa256-a.pem'), '--json').stdout);
  assert.equal([j.fullImage, j.patches.length, j.signed], [true, 0, true]);
  run(0, 'delta verify', out, '--pubkey', K('ecdsa256-a.pub.pem'));
  run(2, 'delta package', NEW, '-o', tmp('none.odpk'));
});

test('delta info says whether a package is signed', () => {
  assert.is(JSON.parse(run(0, 'delta info', signed, '--json').stdout).signatureBlocks, 1);
  assert.is(JSON.parse(run(0, 'delta info', unsigned, '--json').stdout).signatureBlocks, 0);
  assert.match(run(0, 'delta info', signed).stdout, 'signed (1 block; check with delta verify)');
});

test('delta apply with --pubkey refuses an unsigned package, a bare patch and an untrusted signature: flash image untouched', () => {
  const f = flashWithOld();
  const before = fs.readFileSync(f);
  const r1 = run(1, 'delta apply', f, unsigned, '--pubkey', K('rsa3072-a.pub.pem'));
  assert.match(r1.stderr, 'SIGNATURE_REQUIRED');
  const r2 = run(1, 'delta apply', f, signed, '--key-digest', digestHex('ecdsa256-a.digest.bin'), '--json');
  assert.is(JSON.parse(r2.stdout).error.code, 'DELTA_SIGNATURE_INVALID');
  const r3 = runInProcess('delta apply', f, `${DIR}detools/sequential-lzma.patch`, '--pubkey', K('rsa3072-a.pub.pem'));
  assert.ok(r3.code !== 0 && r3.stderr.includes('SIGNATURE_REQUIRED'), r3.stderr);
  assert.ok(fs.readFileSync(f).equals(before), 'flash image unchanged');
  // Without trusted keys the unsigned package applies as before.
  run(0, 'delta apply', f, unsigned);
});

test.run();

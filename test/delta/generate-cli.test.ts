// otaflash delta create: writes a patch the project's apply turns into NEW, reports it, refuses bad use.
import * as fs from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { applyPatchToBytes } from '../../src/delta/apply';
import { runInProcess, tempFiles } from '../cli/harness';
import { PAIRS_DIR } from './fixtures';

const tmp = tempFiles('otaflash-delta-create-');
const OLD = `${PAIRS_DIR}esp32-bootloader/old.bin`;
const NEW = `${PAIRS_DIR}esp32-bootloader/new.bin`;

test('delta create writes an lzma patch by default and a heatshrink one on request', () => {
  const old = new Uint8Array(fs.readFileSync(OLD));
  const nu = new Uint8Array(fs.readFileSync(NEW));
  for (const compression of ['lzma', 'heatshrink', 'none']) {
    const out = tmp(`${compression}.patch`);
    const args = ['delta create', OLD, NEW, '-o', out, ...(compression === 'lzma' ? [] : ['--compression', compression]), '--json'];
    const r = runInProcess(...args);
    assert.is(r.code, 0, r.stderr);
    const patch = new Uint8Array(fs.readFileSync(out));
    const report = JSON.parse(r.stdout) as { patch: { size: number }; compression: string; records: number };
    assert.is(report.patch.size, patch.length);
    assert.is(report.compression, compression);
    assert.ok(report.records > 0);
    assert.equal(Buffer.from(applyPatchToBytes(old, patch)).equals(Buffer.from(nu)), true, compression);
    assert.match(r.stderr, /matching/);
  }
});

test('delta create --dictionary sets the lzma dictionary; the text report names it', () => {
  const out = tmp('dict.patch');
  const r = runInProcess('delta create', OLD, NEW, '-o', out, '--dictionary', '16K');
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /dictionary 16\.0 KiB/);
  const patch = fs.readFileSync(out);
  assert.is(patch.readUInt32LE(5), 16384);
});

test('delta create refuses bad use with exit 2 and one line', () => {
  const out = tmp('x.patch');
  const cases: [string[], RegExp][] = [
    [[OLD, '-o', out], /needs OLD and NEW/],
    [[OLD, NEW], /needs -o PATCH/],
    [[OLD, NEW, '-o', out, '--compression', 'zstd'], /--compression must be/],
    [[OLD, NEW, '-o', out, '--dictionary', '1K'], /--dictionary must be 4K\.\.64M/],
    [[OLD, NEW, '-o', out, '--compression', 'heatshrink', '--dictionary', '64K'], /lzma patches only/],
    [[OLD, `${tmp.dir}/missing.bin`, '-o', out], /cannot read new image/],
    [[OLD, NEW, '-o', '-', '--json'], /both write to stdout/],
  ];
  for (const [args, message] of cases) {
    const r = runInProcess('delta create', ...args);
    assert.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
  assert.not.ok(fs.existsSync(out));
});

test.run();

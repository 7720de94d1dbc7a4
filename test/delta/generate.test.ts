// The patch generator: its patches apply (through the project's own streaming apply) to exactly
// the new image, use detools' header bytes, and are no larger than detools 0.53.0's own patches
// (sizes from the vectors' manifests) on the small real firmware pairs.
import * as fs from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createDeltaPatch, createDeltaPatchDetailed } from '../../src/delta/generate';
import { suffixArray } from '../../src/delta/suffix-array';
import { encodeLzmaAlone } from '../../src/delta/encode-lzma';
import { applyPatchToBytes } from '../../src/delta/apply';
import { errorCode } from '../helpers';
import { PAIRS_DIR, manifest } from './fixtures';

function pair(name: string): { old: Uint8Array; nu: Uint8Array } {
  return {
    old: new Uint8Array(fs.readFileSync(`${PAIRS_DIR}${name}/old.bin`)),
    nu: new Uint8Array(fs.readFileSync(`${PAIRS_DIR}${name}/new.bin`)),
  };
}

function detoolsSize(name: string, compression: string): number {
  const p = manifest(name).patches.find((x) => x.type === 'sequential' && x.compression === compression);
  if (!p) throw new Error(`no detools ${compression} patch for ${name}`);
  return p.size;
}

function detoolsPatch(name: string, compression: string): Uint8Array {
  return new Uint8Array(fs.readFileSync(`${PAIRS_DIR}${name}/detools/sequential-${compression}.patch`));
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Deterministic pseudo-random bytes. */
function noise(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** A firmware-like edit of `old`: a block moved, pointers shifted by 0x40, an insertion. */
function edited(old: Uint8Array): Uint8Array {
  const nu = new Uint8Array(old.length + 100);
  nu.set(old.subarray(0, 1000));
  nu.set(noise(100, 7), 1000);
  nu.set(old.subarray(1000), 1100);
  for (let i = 1100; i + 4 <= nu.length; i += 64) nu[i] = (nu[i] + 0x40) & 0xff;
  return nu;
}

const SMALL_PAIRS = ['esp32-bootloader', 'stm32f070-pybricks-movehub', 'rp2040-nano-connect-fwupdater'];

for (const name of SMALL_PAIRS) {
  test(`${name}: lzma and heatshrink patches apply to new.bin and are no larger than detools'`, () => {
    const { old, nu } = pair(name);
    for (const compression of ['lzma', 'heatshrink'] as const) {
      const patch = createDeltaPatch(old, nu, { compression });
      assert.ok(equalBytes(applyPatchToBytes(old, patch), nu), `${compression}: applied patch differs from new.bin`);
      const theirs = detoolsSize(name, compression);
      assert.ok(patch.length <= theirs, `${compression}: ${patch.length} bytes, detools ${theirs}`);
    }
  });
}

test('header bytes equal detools\' own (type, compression, to-size; heatshrink window/lookahead)', () => {
  const { old, nu } = pair('esp32-bootloader');
  const lz = createDeltaPatch(old, nu, { compression: 'lzma', trials: 1 });
  const theirsLz = detoolsPatch('esp32-bootloader', 'lzma');
  assert.equal(Array.from(lz.subarray(0, 4)), Array.from(theirsLz.subarray(0, 4)));
  // lzma alone header after it: lc=3 lp=0 pb=0, 64 KiB dictionary, size unknown (as Python writes).
  assert.equal(Array.from(lz.subarray(4, 17)), [0x03, 0x00, 0x00, 0x01, 0x00, 255, 255, 255, 255, 255, 255, 255, 255]);
  const hs = createDeltaPatch(old, nu, { compression: 'heatshrink', trials: 1 });
  const theirsHs = detoolsPatch('esp32-bootloader', 'heatshrink');
  assert.equal(Array.from(hs.subarray(0, 5)), Array.from(theirsHs.subarray(0, 5)));
  const none = createDeltaPatch(old, nu, { compression: 'none', trials: 1 });
  const theirsNone = detoolsPatch('esp32-bootloader', 'none');
  // none: header, then the data-format size 0 and the first record's diff size.
  assert.equal(Array.from(none.subarray(0, 5)), Array.from(theirsNone.subarray(0, 5)));
});

test('dictionary size goes into the lzma header and the patch still applies', () => {
  const old = noise(20000, 1);
  const nu = edited(old);
  for (const dictionarySize of [4096, 1 << 20]) {
    const patch = createDeltaPatch(old, nu, { dictionarySize });
    // header byte, 3-byte to-size, then the lzma properties byte and the dictionary (LE).
    const dict = (patch[5] | (patch[6] << 8) | (patch[7] << 16) | (patch[8] << 24)) >>> 0;
    assert.is(dict, dictionarySize);
    assert.ok(equalBytes(applyPatchToBytes(old, patch), nu));
  }
});

test('synthetic pairs round-trip with every compression (empty, identical, unrelated, edited)', () => {
  const base = noise(5000, 3);
  const cases: [string, Uint8Array, Uint8Array][] = [
    ['empty new', base, new Uint8Array(0)],
    ['empty old', new Uint8Array(0), base],
    ['identical', base, base.slice()],
    ['unrelated', base, noise(3000, 9)],
    ['edited', base, edited(base)],
    ['zeros', new Uint8Array(70000), new Uint8Array(70001)],
    ['one byte', Uint8Array.of(1), Uint8Array.of(2)],
  ];
  for (const [what, old, nu] of cases) {
    for (const compression of ['lzma', 'heatshrink', 'none'] as const) {
      const patch = createDeltaPatch(old, nu, { compression });
      assert.ok(equalBytes(applyPatchToBytes(old, patch), nu), `${what} / ${compression}`);
    }
  }
});

test('lzma properties other than the defaults (lc, lp, pb, dictionary) apply', () => {
  const old = noise(30000, 8);
  const nu = edited(old);
  for (const lzma of [{ lc: 0, lp: 0, pb: 0 }, { lc: 3, lp: 0, pb: 2 }, { lc: 1, lp: 2, pb: 1 }, { lc: 4, lp: 0, pb: 4 }, { lc: 0, lp: 4, pb: 3 }]) {
    const patch = createDeltaPatch(old, nu, { lzma, dictionarySize: 4096 });
    assert.is(patch[4], (lzma.pb * 5 + lzma.lp) * 9 + lzma.lc);
    assert.ok(equalBytes(applyPatchToBytes(old, patch), nu), JSON.stringify(lzma));
  }
});

test('heatshrink window and lookahead other than the defaults apply', () => {
  const old = noise(8000, 5);
  const nu = edited(old);
  for (const [heatshrinkWindow, heatshrinkLookahead] of [[4, 3], [10, 4], [13, 9]]) {
    const patch = createDeltaPatch(old, nu, { compression: 'heatshrink', heatshrinkWindow, heatshrinkLookahead });
    assert.is(patch[3], ((heatshrinkWindow - 4) << 4) | (heatshrinkLookahead - 3));
    assert.ok(equalBytes(applyPatchToBytes(old, patch), nu), `window ${heatshrinkWindow} lookahead ${heatshrinkLookahead}`);
  }
});

test('a small edit makes a small patch, and the details add up', () => {
  const old = noise(50000, 11);
  const nu = edited(old);
  const r = createDeltaPatchDetailed(old, nu);
  assert.is(r.diffBytes + r.extraBytes, nu.length);
  assert.ok(r.patch.length < 600, `patch of a 100-byte insertion and shifted pointers: ${r.patch.length} bytes`);
});

test('bad options and inputs are typed errors', () => {
  const a = noise(100, 1);
  assert.is(errorCode(() => createDeltaPatch(a, a, { compression: 'zstd' as 'lzma' })), 'DELTA_BAD_OPTION');
  assert.is(errorCode(() => createDeltaPatch(a, a, { dictionarySize: 100 })), 'DELTA_BAD_OPTION');
  assert.is(errorCode(() => createDeltaPatch(a, a, { dictionarySize: 1.5 * 4096 + 0.5 })), 'DELTA_BAD_OPTION');
  assert.is(errorCode(() => createDeltaPatch(a, a, { compression: 'heatshrink', heatshrinkWindow: 16 })), 'DELTA_BAD_OPTION');
  assert.is(errorCode(() => createDeltaPatch(a, a, { compression: 'heatshrink', heatshrinkLookahead: 8 })), 'DELTA_BAD_OPTION');
  assert.is(errorCode(() => createDeltaPatch(a, a, { trials: 0 })), 'DELTA_BAD_OPTION');
  assert.is(errorCode(() => createDeltaPatch([1, 2] as unknown as Uint8Array, a)), 'DELTA_BAD_INPUT');
  assert.is(errorCode(() => createDeltaPatch(a, 'new' as unknown as Uint8Array)), 'DELTA_BAD_INPUT');
  assert.is(errorCode(() => encodeLzmaAlone(a, { lc: 4, lp: 1 })), 'DELTA_BAD_OPTION');
});

test('suffix array equals a naive sort (random, periodic, runs)', () => {
  const inputs = [noise(300, 2), Uint8Array.from({ length: 257 }, (_, i) => i % 3), new Uint8Array(100), Uint8Array.of(5), new Uint8Array(0)];
  const mixed = noise(400, 4).map((v, i) => (i % 50 < 25 ? v & 1 : 7));
  inputs.push(mixed);
  for (const text of inputs) {
    const naive = Array.from({ length: text.length }, (_, i) => i).sort((x, y) => {
      for (let k = 0; ; k++) {
        if (x + k === text.length) return -1;
        if (y + k === text.length) return 1;
        if (text[x + k] !== text[y + k]) return text[x + k] - text[y + k];
      }
    });
    assert.equal(Array.from(suffixArray(text)), naive);
  }
});

test.run();

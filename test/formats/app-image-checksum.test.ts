// The checksum kernels: portable xorInto and the WebAssembly SIMD one from otaflash/node must agree
// with a plain byte loop on any offset, length and buffer alignment, and give identical verdicts.
import * as fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { inspectImage, xorInto } from '../../src/formats/app-image-verify';
import { createWasmChecksumXor } from '../../src/node/image-checksum';
import { seededRandom } from '../../src/flash/rng';

const SEED = Number(process.env.SEED ?? Date.now() % 1e9);
const rng = seededRandom;
const fold = (acc: number) => (acc ^ (acc >>> 8) ^ (acc >>> 16) ^ (acc >>> 24)) & 0xff;
const wasm = createWasmChecksumXor();

test('Node 20 has WebAssembly SIMD, so the fast kernel is available', () => {
  assert.ok(wasm, 'createWasmChecksumXor() returned null');
});

test('both kernels equal a byte loop: random ranges, odd buffer offsets, sizes across the 64 KiB piece (seeded)', () => {
  const r = rng(SEED);
  const big = new Uint8Array(300000);
  for (let i = 0; i < big.length; i++) big[i] = Math.floor(r() * 256);
  try {
    for (let round = 0; round < 200; round++) {
      const shift = Math.floor(r() * 8);
      const view = new Uint8Array(big.buffer, shift, big.length - shift);
      const len = round < 100 ? Math.floor(r() * 3000) : Math.floor(r() * 200000);
      const start = Math.floor(r() * (view.length - len));
      let ref = 0;
      for (let i = start; i < start + len; i++) ref ^= view[i];
      const seedAcc = Math.floor(r() * 0x100000000) | 0;
      assert.is(fold(xorInto(seedAcc, view, start, start + len)), ref ^ fold(seedAcc), `xorInto round ${round}`);
      assert.is(fold(wasm!(seedAcc, view, start, start + len)), ref ^ fold(seedAcc), `wasm round ${round} len ${len}`);
    }
  } catch (e) {
    (e as Error).message = `[seed ${SEED}: replay with SEED=${SEED}] ` + (e as Error).message;
    throw e;
  }
});

test('verdicts are identical with either kernel on every vector', () => {
  const DIR = fileURLToPath(new URL('../fixtures/app-images/', import.meta.url));
  const manifest = JSON.parse(fs.readFileSync(DIR + 'manifest.json', 'utf8')) as { files: { file: string }[] };
  for (const { file } of manifest.files) {
    const bytes = new Uint8Array(fs.readFileSync(DIR + file));
    const a = inspectImage(bytes, { xor: xorInto });
    const b = inspectImage(bytes, { xor: wasm! });
    assert.is(b.checksumValid, a.checksumValid, file);
    assert.is(b.verdict?.checksumCalculated, a.verdict?.checksumCalculated, file);
    assert.is(b.error?.code, a.error?.code, file);
  }
});

test.run();

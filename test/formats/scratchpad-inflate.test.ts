// The raw inflater against zlib (node:zlib) on seeded random inputs of every kind zlib makes
// (stored, fixed and dynamic blocks, all levels, long and short matches), fed in input pieces of
// many sizes; then the refusals, each with its typed error.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as zlib from 'node:zlib';
import { bytesInput, inflateRaw, type InflateInput } from '../../src/formats/scratchpad-inflate';
import { seededRandom } from '../../src/flash/rng';
import { errorCode } from '../helpers';

function sample(rng: () => number, n: number, kind: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    if (kind === 0) b[i] = Math.floor(rng() * 256); // incompressible: stored blocks
    else if (kind === 1) b[i] = i % 7; // very long matches
    else if (kind === 2) b[i] = rng() < 0.9 ? 65 : Math.floor(rng() * 256);
    else if (kind === 3) b[i] = ((i * i) >> 5) & 0xff;
    else b[i] = i > 40000 && rng() < 0.5 ? b[i - 32768 + Math.floor(rng() * 10)] : Math.floor(rng() * 16); // distances near 32 KiB
  }
  return b;
}

function inflateAll(comp: Uint8Array, inputChunk?: number): { out: Buffer; r: ReturnType<typeof inflateRaw> } {
  const parts: Buffer[] = [];
  const r = inflateRaw(bytesInput(comp), (c) => parts.push(Buffer.from(c)), { inputChunk });
  return { out: Buffer.concat(parts), r };
}

test('inflates what zlib deflates: 150 seeded cases, levels 0-9, fixed/Huffman-only/RLE strategies, input pieces 1..5000 bytes', () => {
  const rng = seededRandom(0x1f1a7e);
  const strategies = [zlib.constants.Z_DEFAULT_STRATEGY, zlib.constants.Z_FIXED, zlib.constants.Z_HUFFMAN_ONLY, zlib.constants.Z_RLE, zlib.constants.Z_FILTERED];
  for (let t = 0; t < 150; t++) {
    const n = t === 0 ? 0 : Math.floor(rng() ** 3 * 200000);
    const src = sample(rng, n, t % 5);
    const comp = new Uint8Array(zlib.deflateRawSync(src, { level: t % 10, strategy: strategies[t % strategies.length] }));
    const { out, r } = inflateAll(comp, 1 + ((t * 997) % 5000));
    assert.ok(out.equals(Buffer.from(src)), `seed 0x1f1a7e case ${t}: ${n} bytes, output differs`);
    assert.is(r.outputLength, n);
    assert.is(r.deflateLength, comp.length, `case ${t}: stream length`);
    assert.is(r.trailingLength, 0);
  }
});

test('stops at the end of the final block and counts what follows (zero or not)', () => {
  const comp = new Uint8Array(zlib.deflateRawSync(Buffer.from('hello hello hello scratchpad'), { level: 9 }));
  for (const pad of [0, 1, 15, 16, 40]) {
    const padded = new Uint8Array(comp.length + pad);
    padded.set(comp);
    const { out, r } = inflateAll(padded);
    assert.is(out.toString(), 'hello hello hello scratchpad');
    assert.is(r.deflateLength, comp.length);
    assert.is(r.trailingLength, pad);
    assert.ok(r.trailingAllZero);
    if (pad > 0) {
      padded[padded.length - 1] = 1;
      assert.not.ok(inflateAll(padded).r.trailingAllZero, `non-zero byte in ${pad} trailing bytes`);
    }
  }
});

test('output arrives in window-sized pieces at most, and memory stays bounded (no piece over 32 KiB)', () => {
  const src = sample(seededRandom(7), 300000, 1);
  const comp = new Uint8Array(zlib.deflateRawSync(src, { level: 9 }));
  let biggest = 0;
  let pieces = 0;
  inflateRaw(bytesInput(comp), (c) => {
    biggest = Math.max(biggest, c.length);
    pieces++;
  });
  assert.ok(biggest <= 32768, `piece of ${biggest}`);
  assert.ok(pieces >= Math.floor(300000 / 32768), `${pieces} pieces`);
});

test('refusals: truncated stream, reserved block type, stored length mismatch, distance too far back, bad codes, output limit', () => {
  const comp = new Uint8Array(zlib.deflateRawSync(sample(seededRandom(3), 5000, 3), { level: 9 }));
  const run = (bytes: number[] | Uint8Array, max?: number) => errorCode(() => inflateRaw(bytesInput(Uint8Array.from(bytes)), () => undefined, { maxOutput: max }));
  assert.is(run(comp.subarray(0, comp.length - 3)), 'INFLATE_TRUNCATED');
  assert.is(run([]), 'INFLATE_TRUNCATED');
  const message = (bytes: number[]) => {
    try {
      inflateRaw(bytesInput(Uint8Array.from(bytes)), () => undefined);
    } catch (e) {
      return `${(e as { code: string }).code}: ${(e as Error).message}`;
    }
    return 'no error';
  };
  assert.match(message([0x07]), /^INFLATE_BAD_DATA: block type 3/); // final block, type 3
  assert.match(message([0x01, 0x05, 0x00, 0x00, 0x00]), /^INFLATE_BAD_DATA: stored block length/); // NLEN is not ~LEN
  // Fixed block: a match (length 3, distance 1) before any literal.
  assert.match(message([0x03, 0x02, 0x00]), /^INFLATE_BAD_DATA: distance 1 reaches before the start/);
  // Dynamic block whose code-length code is over-subscribed.
  assert.match(message([0x05, 0xe0, 0xff, 0x49, 0x92, 0x24, 0x49, 0x92, 0x24, 0x49, 0x02]), /^INFLATE_BAD_DATA: over-subscribed code length code/);
  assert.is(run(comp, 4999), 'INFLATE_TOO_LARGE');
  assert.is(run(comp, 5000), 'no error');
  // Random bytes are refused or decoded, never a crash or a hang.
  const rng = seededRandom(0xbad);
  for (let i = 0; i < 300; i++) {
    const junk = new Uint8Array(1 + Math.floor(rng() * 200));
    for (let k = 0; k < junk.length; k++) junk[k] = Math.floor(rng() * 256);
    const code = run(junk, 1 << 20);
    assert.ok(['no error', 'INFLATE_BAD_DATA', 'INFLATE_TRUNCATED', 'INFLATE_TOO_LARGE'].indexOf(code) >= 0, `seed 0xbad case ${i}: ${code}`);
  }
});

test('an input that hands out fewer bytes than asked, or reports more than fit, still works', () => {
  const src = sample(seededRandom(11), 70000, 4);
  const comp = new Uint8Array(zlib.deflateRawSync(src, { level: 6 }));
  let at = 0;
  const stingy: InflateInput = {
    fill(into) {
      const n = Math.min(3, into.length, comp.length - at);
      into.set(comp.subarray(at, at + n));
      at += n;
      return n;
    },
  };
  const parts: Buffer[] = [];
  inflateRaw(stingy, (c) => parts.push(Buffer.from(c)));
  assert.ok(Buffer.concat(parts).equals(Buffer.from(src)));
});

test.run();

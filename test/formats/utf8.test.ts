// The hand-written UTF-8 codec against the platform's TextEncoder/TextDecoder (fatal), seeded.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { utf8Decode, utf8DecodeLossy, utf8Encode } from '../../src/formats/utf8';
import { seededRandom } from '../../src/flash/rng';

const SEED = process.env.UTF8_SEED !== undefined ? Number(process.env.UTF8_SEED) : 0x75f8;

const rng = seededRandom;

function reference(bytes: Uint8Array): string | null {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    return null;
  }
}

test('encode matches TextEncoder, including astral characters and lone surrogates', () => {
  for (const s of ['', 'abc', 'café', '日本語', '😀x', 'a\ud800b', '\udc00', '\u0000\u007f\u0080\u07ff\u0800\uffff']) {
    assert.equal(Array.from(utf8Encode(s)), Array.from(new TextEncoder().encode(s)), JSON.stringify(s));
  }
});

test('strict decode agrees with a fatal TextDecoder on random and near-valid bytes', () => {
  for (let i = 0; i < 3000; i++) {
    const seed = SEED + i;
    const rand = rng(seed);
    const n = Math.floor(rand() * 12);
    const bytes = new Uint8Array(n);
    for (let k = 0; k < n; k++) {
      // Bias towards lead and continuation bytes so multi-byte edge cases come up often.
      const r = rand();
      bytes[k] = r < 0.3 ? 0x80 + Math.floor(rand() * 64) : r < 0.6 ? 0xc0 + Math.floor(rand() * 64) : Math.floor(rand() * 256);
    }
    const got = utf8Decode(bytes);
    const want = reference(bytes);
    assert.is(got, want, `seed ${seed} (replay: UTF8_SEED=${seed}): bytes ${Array.from(bytes).join(',')}`);
    assert.is(utf8DecodeLossy(bytes).length > 0 || n === 0, true);
  }
});

test('overlong forms, surrogates and truncation are rejected', () => {
  for (const bad of [[0xc0, 0x80], [0xe0, 0x80, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe6, 0x97], [0xff]]) {
    assert.is(utf8Decode(Uint8Array.from(bad)), null, bad.join(','));
  }
  assert.is(utf8DecodeLossy(Uint8Array.of(0x61, 0xff, 0x62)), 'a\ufffdb');
});

test.run();

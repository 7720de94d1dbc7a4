// Conformance: every detools 0.53.0 sequential patch in test/fixtures/firmware-pairs applies byte
// for byte (whole, and fed in random chunk sizes); `patch_info` facts match what detools printed;
// in-place and broken patches are refused with typed errors, as detools's C apply code refuses them.
import { createHash } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { OtaflashError } from '../../src/errors';
import { PatchApplier, applyPatchToBytes, oldImageFromBytes } from '../../src/delta/apply';
import { detoolsPatchInfo } from '../../src/delta/info';
import { readDetoolsHeader } from '../../src/formats/detools-patch';
import { seededRandom } from '../../src/flash/rng';
import { errorCode } from '../helpers';
import { camelKey, manifest, pairFile, pairNames, patchFile, presentPatches } from './fixtures';

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

function equalBytes(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

const pairs = pairNames();

test('the fixtures hold all 10 pairs and their sequential patches in every compression', () => {
  assert.is(pairs.length, 10);
  const compressions = new Set<string>();
  let n = 0;
  for (const pair of pairs) {
    for (const p of presentPatches(pair)) {
      if (p.type === 'sequential') {
        compressions.add(p.compression);
        n++;
      }
    }
  }
  assert.equal([...compressions].sort(), ['crle', 'heatshrink', 'lzma', 'none']);
  assert.ok(n >= 44, `${n} sequential patches`);
});

for (const pair of pairs) {
  const m = manifest(pair);
  const old = pairFile(pair, 'old.bin');
  const expected = pairFile(pair, 'new.bin');
  test(`${pair}: old.bin and new.bin are the manifest's files`, () => {
    assert.is(sha256(old), m.old.sha256);
    assert.is(sha256(expected), m.new.sha256);
  });
  for (const p of presentPatches(pair)) {
    const patch = patchFile(pair, p.file);
    if (p.type === 'sequential') {
      test(`${pair}/${p.file}: applies byte for byte (${p.compression}, ${p.algorithm})`, () => {
        assert.is(sha256(patch), p.sha256, 'patch file is the manifest one');
        const out = applyPatchToBytes(old, patch);
        assert.is(equalBytes(out, expected), -1, 'first differing byte');
        assert.is(sha256(out), p.new_sha256);
      });
      test(`${pair}/${p.file}: applies the same when the patch arrives in random chunks`, () => {
        const rnd = seededRandom(p.size);
        const out = new Uint8Array(expected.length);
        let at = 0;
        const a = new PatchApplier(oldImageFromBytes(old), (b, s, e) => {
          out.set(b.subarray(s, e), at);
          at += e - s;
        });
        for (let i = 0; i < patch.length; ) {
          const n = 1 + Math.floor(rnd() * (rnd() < 0.5 ? 32 : 5000));
          a.push(patch.subarray(i, i + n));
          i += n;
        }
        assert.is(a.finish(), expected.length);
        assert.is(at, expected.length);
        assert.is(equalBytes(out, expected), -1, `first differing byte (seed ${p.size})`);
      });
    } else {
      test(`${pair}/${p.file}: an in-place patch is refused before any output (DELTA_IN_PLACE_UNSUPPORTED)`, () => {
        let wrote = 0;
        const a = new PatchApplier(oldImageFromBytes(old), () => wrote++);
        assert.is(errorCode(() => a.push(patch)), 'DELTA_IN_PLACE_UNSUPPORTED');
        assert.is(wrote, 0);
      });
    }
    test(`${pair}/${p.file}: header and patch_info match detools`, () => {
      const h = readDetoolsHeader(patch);
      assert.is(h.type, p.header.patch_type);
      assert.is(h.compression, p.header.compression);
      assert.is(h.toSize, p.header.to_size);
      assert.is(h.length, p.header.header_length);
      if (p.type === 'in-place') {
        assert.is(h.memorySize, p.header.memory_size);
        assert.is(h.segmentSize, p.header.segment_size);
        assert.is(h.shiftSize, p.header.shift_size);
        assert.is(h.fromSize, p.header.from_size);
      }
      const info = detoolsPatchInfo(patch) as unknown as Record<string, unknown>;
      // detools prints 'inf' for a ratio over zero (the manifest kept the text after it).
      const norm = (v: unknown): unknown =>
        typeof v === 'string' && v.indexOf('inf') === 0 ? 'inf' : Array.isArray(v) ? v.map(norm) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [camelKey(k), norm(x)])) : v;
      const want = norm(p.patch_info) as Record<string, unknown>;
      for (const k of Object.keys(want)) assert.equal(info[k], want[k], `patch_info ${k}`);
      for (const k of Object.keys(info)) assert.ok(k in want, `we report ${k}, detools does not`);
    });
  }
}

// Broken patches: detools's C code refuses all three; so do we, with the matching typed error.
const broken: Record<string, string> = {
  'broken-truncated.patch': 'DELTA_TRUNCATED',
  'broken-flipped-byte.patch': 'DELTA_CORRUPT_COMPRESSED',
  'broken-bad-type.patch': 'DELTA_BAD_PATCH_TYPE',
};
for (const b of manifest('esp32-bootloader').broken_patches ?? []) {
  test(`esp32-bootloader/${b.file}: refused with ${broken[b.file]} (C apply: ${b.c_apply.output})`, () => {
    const old = pairFile('esp32-bootloader', 'old.bin');
    const patch = patchFile('esp32-bootloader', b.file);
    let wrote = 0;
    const a = new PatchApplier(oldImageFromBytes(old), (_, s, e) => (wrote += e - s));
    let err: unknown = null;
    try {
      a.push(patch);
      a.finish();
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof OtaflashError, 'a typed error');
    assert.is((err as OtaflashError).code, broken[b.file]);
    // Never more output than the C code wrote before noticing (it checks the same things, later).
    if (b.c_apply.out_size === 0) assert.is(wrote, 0);
    assert.ok(wrote < pairFile('esp32-bootloader', 'new.bin').length, 'never a complete image');
  });
}

test.run();

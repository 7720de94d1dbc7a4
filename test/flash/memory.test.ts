import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { OtaflashError } from '../../src/errors';
import { MemoryFlash } from '../../src/flash/memory';
import { seededRandom } from '../../src/flash/rng';
import { maxSectorErases, resetFlashStats } from '../../src/flash/stats';
import { errorCode } from '../helpers';

const code = errorCode;

test('strict: a 0->1 program names the first offending offset and changes nothing', () => {
  const f = new MemoryFlash({ size: 8192 });
  const a = new Uint8Array(64).fill(0x0f);
  f.write(0x100, a);
  const b = new Uint8Array(64).fill(0x0f);
  b[37] = 0x1f;
  try {
    f.write(0x100, b);
    assert.unreachable('should throw');
  } catch (e) {
    assert.instance(e, OtaflashError);
    assert.is((e as OtaflashError).code, 'FLASH_WRITE_NOT_ERASED');
    assert.match((e as OtaflashError).message, '0x125');
    assert.is((e as OtaflashError).info!.offset, 0x125);
  }
  assert.equal(f.bytes.subarray(0x100, 0x140), a);
  assert.is(f.stats.writes, 1);
});

// Property: both program modes, every alignment of source and target, against a byte-by-byte model.
test('write/read match a byte model for random offsets, lengths, alignments, pokes and restores (seeded)', () => {
  const seed = 20261122;
  const rand = seededRandom(seed);
  const r = (n: number) => Math.floor(rand() * n);
  for (const mode of ['strict', 'nor'] as const) {
    const f = new MemoryFlash({ size: 16384, mode });
    const model = new Uint8Array(16384).fill(0xff);
    let saved: { snap: ReturnType<MemoryFlash['snapshot']>; copy: Uint8Array } | null = null;
    for (let step = 0; step < 3000; step++) {
      const ctx = `seed ${seed}, mode ${mode}, step ${step}`;
      const op = r(12);
      if (op === 0) {
        const s = r(4);
        f.erase(s * 4096, 4096);
        model.fill(0xff, s * 4096, s * 4096 + 4096);
        continue;
      }
      // Pokes and restores change bytes behind the program path: what the driver knew to be erased must be forgotten.
      if (op === 1) {
        const pl = r(64);
        const po = r(16384 - pl + 1);
        const bytes = new Uint8Array(pl);
        for (let i = 0; i < pl; i++) bytes[i] = r(256);
        f.poke(po, bytes);
        model.set(bytes, po);
        continue;
      }
      if (op === 2) {
        if (saved === null || r(2) === 0) saved = { snap: f.snapshot(), copy: model.slice() };
        else {
          f.restore(saved.snap);
          model.set(saved.copy);
        }
        continue;
      }
      const len = r(5) === 0 ? r(300) : r(40);
      const off = r(16384 - len + 1);
      const backing = new Uint8Array(len + 8);
      for (let i = 0; i < backing.length; i++) backing[i] = r(3) === 0 ? 0xff : r(256);
      const shift = r(5);
      const data = backing.subarray(shift, shift + len);
      let raises = -1;
      for (let i = 0; i < len; i++) if ((data[i] & ~model[off + i]) !== 0) { raises = i; break; }
      if (mode === 'strict' && raises >= 0) {
        assert.is(code(() => f.write(off, data)), 'FLASH_WRITE_NOT_ERASED', ctx);
      } else {
        f.write(off, data);
        for (let i = 0; i < len; i++) model[off + i] &= data[i];
      }
      const rl = r(200);
      const ro = r(16384 - rl + 1);
      const got = new Uint8Array(rl);
      f.read(ro, got);
      assert.equal(got, model.subarray(ro, ro + rl), ctx);
    }
    assert.equal(f.bytes, model, `seed ${seed}, mode ${mode}: final contents`);
  }
});

test('stats count operations, bytes and per-sector erases', () => {
  const f = new MemoryFlash({ size: 65536 });
  f.erase(0, 8192);
  f.erase(4096, 4096);
  f.write(10, new Uint8Array(100));
  f.read(0, new Uint8Array(33));
  f.read(0, new Uint8Array(0));
  f.sync();
  assert.is(code(() => f.write(65530, new Uint8Array(10))), 'FLASH_OUT_OF_RANGE');
  const s = f.stats;
  assert.equal([s.reads, s.writes, s.erases, s.syncs], [2, 1, 2, 1]);
  assert.equal([s.bytesRead, s.bytesProgrammed, s.bytesErased], [33, 100, 12288]);
  assert.equal(Array.from(s.sectorErases.subarray(0, 3)), [1, 2, 0]);
  assert.is(maxSectorErases(s), 2);
  resetFlashStats(s);
  assert.equal([s.reads, s.writes, s.erases, s.bytesErased, maxSectorErases(s)], [0, 0, 0, 0, 0]);
});

test('snapshot/restore: random histories restore byte-exact, including nested and repeated restores (seeded)', () => {
  const seed = 77;
  const rand = seededRandom(seed);
  const r = (n: number) => Math.floor(rand() * n);
  const f = new MemoryFlash({ size: 64 * 1024, mode: 'nor', contents: new Uint8Array(5000).fill(0x3c) });
  const snaps: { snap: ReturnType<MemoryFlash['snapshot']>; copy: Uint8Array }[] = [];
  for (let step = 0; step < 400; step++) {
    const op = r(6);
    if (op === 0) f.erase(r(16) * 4096, 4096);
    else if (op === 1) f.erase(r(2) * 32768, 32768);
    else if (op === 2 && snaps.length > 0) {
      const k = r(snaps.length);
      f.restore(snaps[k].snap);
      assert.equal(f.bytes, snaps[k].copy, `seed ${seed}, step ${step}: restore of snapshot ${k}`);
    } else if (op === 3) f.poke(r(65536 - 10), new Uint8Array([r(256), r(256), r(256)]));
    else {
      const len = r(9000);
      const data = new Uint8Array(len);
      for (let i = 0; i < len; i++) data[i] = r(256);
      f.write(r(65536 - len), data);
    }
    if (r(3) === 0) snaps.push({ snap: f.snapshot(), copy: f.bytes.slice() });
  }
  for (let k = snaps.length - 1; k >= 0; k--) {
    f.restore(snaps[k].snap);
    assert.equal(f.bytes, snaps[k].copy, `seed ${seed}: final restore of snapshot ${k}`);
  }
});

test('snapshots are per device; restore does not rewind stats', () => {
  const a = new MemoryFlash({ size: 8192 });
  const b = new MemoryFlash({ size: 8192 });
  assert.is(code(() => b.restore(a.snapshot())), 'FLASH_BAD_SNAPSHOT');
  const s = a.snapshot();
  a.write(0, new Uint8Array(4));
  a.restore(s);
  assert.is(a.bytes[0], 0xff);
  assert.is(a.stats.writes, 1);
});

test('clone copies contents, geometry and mode', () => {
  const a = new MemoryFlash({ size: 8192, mode: 'nor', writeSize: 4 });
  a.write(4, new Uint8Array([1, 2, 3, 4]));
  const b = a.clone();
  a.erase(0, 4096);
  assert.equal(Array.from(b.bytes.subarray(4, 8)), [1, 2, 3, 4]);
  assert.equal([b.mode, b.writeSize, b.size], ['nor', 4, 8192]);
});

test('bad geometry is refused with FLASH_BAD_GEOMETRY', () => {
  assert.is(code(() => new MemoryFlash({ size: 5000 })), 'FLASH_BAD_GEOMETRY');
  assert.is(code(() => new MemoryFlash({ size: 8192, eraseSize: 3000 })), 'FLASH_BAD_GEOMETRY');
  assert.is(code(() => new MemoryFlash({ size: 8192, writeSize: 8192 * 2 })), 'FLASH_BAD_GEOMETRY');
  assert.is(code(() => new MemoryFlash({ size: 8192, mode: 'weird' as 'nor' })), 'FLASH_BAD_GEOMETRY');
});


test('known-erased fast path: pokes, restores and initial contents are never taken for erased space', () => {
  const f = new MemoryFlash({ size: 16384 });
  f.erase(0, 4096);
  f.poke(100, new Uint8Array([0x00]));
  assert.is(code(() => f.write(96, new Uint8Array(8).fill(0xff))), 'FLASH_WRITE_NOT_ERASED', 'poke into erased tail');
  const g = new MemoryFlash({ size: 16384, contents: new Uint8Array(10) });
  assert.is(code(() => g.write(4, new Uint8Array([1]))), 'FLASH_WRITE_NOT_ERASED', 'initial contents');
  const h = new MemoryFlash({ size: 16384 });
  h.write(0, new Uint8Array(16));
  const snap = h.snapshot();
  h.erase(0, 4096);
  h.restore(snap);
  assert.is(code(() => h.write(8, new Uint8Array([1]))), 'FLASH_WRITE_NOT_ERASED', 'restored programmed sector');
  // And the fast path itself: sequential writes into erased space store exactly the data.
  h.erase(4096, 8192);
  const data = new Uint8Array(6000).map((_, i) => (i * 31) & 0xff);
  h.write(4096, data.subarray(0, 3000));
  h.write(7096, data.subarray(3000));
  assert.equal(h.bytes.subarray(4096, 10096), data);
  // data[2904] = (2904 * 31) & 0xff = 0xa8: its bit 0 is clear, so writing 0xa9 over it raises a bit.
  assert.is(code(() => h.write(7000, new Uint8Array([0xa9]))), 'FLASH_WRITE_NOT_ERASED', 'programmed data is not erased');
});

test.run();

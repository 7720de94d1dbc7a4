import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { OtaflashError, PowerLossError } from '../../src/errors';
import { FAULT_MODES, FaultyFlash, countFlashOperations } from '../../src/flash/faults';
import { MemoryFlash } from '../../src/flash/memory';
import { seededRandom } from '../../src/flash/rng';

const SIZE = 64 * 1024;

function fresh(mode: 'strict' | 'nor' = 'strict'): MemoryFlash {
  return new MemoryFlash({ size: SIZE, mode });
}

function pattern(n: number, seed: number): Uint8Array {
  const r = seededRandom(seed);
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(r() * 256);
  return b;
}

function expectPowerLoss(fn: () => void): PowerLossError {
  try {
    fn();
  } catch (e) {
    if (e instanceof PowerLossError && e.code === 'POWER_LOSS') return e;
    throw e;
  }
  throw new Error('expected POWER_LOSS');
}

/** A scenario: erase a sector (op 0), program it (op 1), program the next sector's start (op 2). */
function scenario(dev: { erase(o: number, l: number): void; write(o: number, d: Uint8Array): void }): void {
  dev.erase(4096, 4096);
  dev.write(4096, pattern(4096, 1));
  dev.write(8192, pattern(512, 2));
}

test('a clean run counts its write and erase calls', () => {
  assert.is(countFlashOperations(fresh(), scenario), 3);
  const dev = new FaultyFlash(fresh());
  scenario(dev);
  dev.read(0, new Uint8Array(10));
  dev.sync();
  assert.is(dev.operations, 3);
  assert.not.ok(dev.tripped);
});

test("'before': the cut operation is not applied", () => {
  const inner = fresh();
  inner.write(4096, new Uint8Array(16)); // dirty the sector the scenario erases
  const before = inner.bytes.slice();
  const dev = new FaultyFlash(inner, { cutAt: 0, mode: 'before' });
  expectPowerLoss(() => scenario(dev));
  assert.ok(dev.tripped);
  assert.equal(dev.reboot().bytes, before);
});

test("'after': the cut operation is fully applied, the next one is not", () => {
  const dev = new FaultyFlash(fresh(), { cutAt: 1, mode: 'after' });
  expectPowerLoss(() => scenario(dev));
  const out = dev.reboot();
  assert.equal(out.bytes.subarray(4096, 8192), pattern(4096, 1));
  assert.ok(out.bytes.subarray(8192, 8192 + 512).every((b) => b === 0xff));
});

test('after a cut every call throws POWER_LOSS until reboot; the rebooted device works', () => {
  const dev = new FaultyFlash(fresh(), { cutAt: 0, mode: 'before' });
  expectPowerLoss(() => dev.erase(0, 4096));
  expectPowerLoss(() => dev.read(0, new Uint8Array(1)));
  expectPowerLoss(() => dev.write(0, new Uint8Array(1)));
  expectPowerLoss(() => dev.erase(0, 4096));
  const e = expectPowerLoss(() => dev.sync());
  assert.match(e.message, 'operation 0');
  assert.is(dev.operations, 1);
  const next = dev.reboot();
  next.write(0, new Uint8Array([1]));
  assert.is(next.bytes[0], 1);
});

test("'torn-prefix': exactly a prefix of the program lands, for many seeds", () => {
  const data = pattern(4096, 1);
  let sawPartial = false;
  for (let seed = 1; seed <= 40; seed++) {
    const dev = new FaultyFlash(fresh(), { cutAt: 1, mode: 'torn-prefix', seed });
    expectPowerLoss(() => scenario(dev));
    const got = dev.reboot().bytes.subarray(4096, 8192);
    const n = dev.fault!.appliedBytes!;
    assert.ok(n >= 0 && n < 4096, `seed ${seed}: applied ${n}`);
    assert.equal(got.subarray(0, n), data.subarray(0, n), `seed ${seed}: prefix`);
    assert.ok(got.subarray(n).every((b) => b === 0xff), `seed ${seed}: rest erased`);
    if (n > 0) sawPartial = true;
  }
  assert.ok(sawPartial);
});

test("'torn-bits': only a subset of the 1->0 changes lands, never a 0->1", () => {
  const data = pattern(4096, 1);
  const dev = new FaultyFlash(fresh(), { cutAt: 1, mode: 'torn-bits', seed: 9 });
  expectPowerLoss(() => scenario(dev));
  const got = dev.reboot().bytes.subarray(4096, 8192);
  let applied = 0;
  let missing = 0;
  for (let i = 0; i < 4096; i++) {
    // Every bit that reads 0 must be a 0 of the data (no invented changes) ...
    assert.is(~got[i] & 0xff & data[i], 0, `byte ${i}: bit cleared that the program did not ask for`);
    const want = ~data[i] & 0xff;
    applied += popcount(want & ~got[i] & 0xff);
    missing += popcount(want & got[i]);
  }
  // ... and both applied and missing changes occur.
  assert.ok(applied > 1000 && missing > 1000, `applied ${applied}, missing ${missing}`);
});

test("'interrupted-erase': earlier sectors erased, one mixed (erased, old, random), later ones old", () => {
  const inner = fresh('nor');
  const old = pattern(SIZE, 3);
  inner.poke(0, old);
  const dev = new FaultyFlash(inner, { cutAt: 0, mode: 'interrupted-erase', seed: 5 });
  expectPowerLoss(() => dev.erase(0, 8 * 4096));
  const got = dev.reboot().bytes;
  const k = dev.fault!.mixedSector!;
  assert.ok(k >= 0 && k < 8);
  for (let s = 0; s < 8; s++) {
    const sec = got.subarray(s * 4096, (s + 1) * 4096);
    const was = old.subarray(s * 4096, (s + 1) * 4096);
    if (s < k) assert.ok(sec.every((b) => b === 0xff), `sector ${s} erased`);
    else if (s > k) assert.equal(sec, was, `sector ${s} untouched`);
    else {
      let erased = 0;
      let kept = 0;
      let other = 0;
      for (let i = 0; i < 4096; i += 16) {
        const run = sec.subarray(i, i + 16);
        if (run.every((b) => b === 0xff)) erased++;
        else if (run.every((b, j) => b === was[i + j])) kept++;
        else other++;
      }
      assert.ok(erased > 10 && kept > 10 && other > 10, `mixed sector: ${erased} erased, ${kept} old, ${other} random runs`);
    }
  }
  assert.equal(got.subarray(8 * 4096), old.subarray(8 * 4096));
});

test('replayable: the same seed and cut give the same bytes; another seed differs', () => {
  const run = (seed: number, mode: (typeof FAULT_MODES)[number]) => {
    const dev = new FaultyFlash(fresh('nor'), { cutAt: 1, mode, seed });
    expectPowerLoss(() => scenario(dev));
    return dev.reboot().bytes;
  };
  for (const mode of FAULT_MODES) assert.equal(run(11, mode), run(11, mode), mode);
  assert.not.equal(run(11, 'torn-bits'), run(12, 'torn-bits'));
});

test('every cut point of a scenario leaves a state between "nothing" and "everything" (sweep)', () => {
  const total = countFlashOperations(fresh(), scenario);
  const done = fresh();
  scenario(done);
  for (const mode of FAULT_MODES) {
    for (let cut = 0; cut < total; cut++) {
      const dev = new FaultyFlash(fresh(), { cutAt: cut, mode, seed: cut });
      expectPowerLoss(() => scenario(dev));
      assert.is(dev.operations, cut + 1);
      const out = dev.reboot();
      // Sectors the scenario never touches stay erased whatever the cut.
      assert.ok(out.bytes.subarray(16384).every((b) => b === 0xff), `${mode} at ${cut}`);
    }
  }
});

test('invalid calls are refused by the contract checks and not counted', () => {
  const dev = new FaultyFlash(fresh(), { cutAt: 0, mode: 'before' });
  let c = '';
  try {
    dev.erase(1, 4096);
  } catch (e) {
    c = (e as OtaflashError).code;
  }
  assert.is(c, 'FLASH_MISALIGNED');
  assert.is(dev.operations, 0);
  assert.not.ok(dev.tripped);
});

test('a 0->1 program on a strict device at the cut reports FLASH_WRITE_NOT_ERASED', () => {
  const inner = fresh();
  inner.write(0, new Uint8Array(4));
  const dev = new FaultyFlash(inner, { cutAt: 0, mode: 'torn-prefix' });
  let c = '';
  try {
    dev.write(0, new Uint8Array([1, 1, 1, 1]));
  } catch (e) {
    c = (e as OtaflashError).code;
  }
  assert.is(c, 'FLASH_WRITE_NOT_ERASED');
  assert.not.ok(dev.tripped);
});

test('bad options are refused', () => {
  for (const opts of [{ cutAt: -1 }, { cutAt: 1.5 }, { mode: 'sideways' as 'before' }]) {
    let c = '';
    try {
      new FaultyFlash(fresh(), opts);
    } catch (e) {
      c = (e as OtaflashError).code;
    }
    assert.is(c, 'FAULT_BAD_OPTION', JSON.stringify(opts));
  }
});

function popcount(x: number): number {
  let n = 0;
  for (; x; x &= x - 1) n++;
  return n;
}

test.run();

// Delta updates through the OTA engine: a detools patch applied from the running slot into the
// update slot of a MemoryFlash, the refusals that must come before any erase, and resume after a
// power cut at every flash operation (every fault mode): decoding restarts from the patch's first
// byte, bytes already on flash are checked instead of written, nothing is erased or written twice.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { OtaflashError } from '../../src/errors';
import { DeltaUpdate } from '../../src/delta/ota';
import { FAULT_MODES, FaultyFlash, countFlashOperations } from '../../src/flash/faults';
import type { MemoryFlash } from '../../src/flash/memory';
import type { BlockDevice } from '../../src/flash/types';
import { resetFlashStats } from '../../src/flash/stats';
import { nodeHashes } from '../../src/node/hash';
import { simulateReboot } from '../../src/ota/bootloader';
import { OtaEngine } from '../../src/ota/engine';
import { equalBytes, flashImage, rig, type Rig } from '../ota/engine-fixtures';
import { errorCode } from '../helpers';
import { pairFile, patchFile } from './fixtures';

const BOOT = { rollback: true, hashes: nodeHashes };

function setUp(pair: string, slotSize: number): Rig {
  const r = rig({ slotSize, size: 0x10000 + 2 * slotSize });
  flashImage(r.flash, r.p.ota_0, pairFile(pair, 'old.bin'));
  simulateReboot(r.flash, r.table, BOOT);
  return r;
}

function engineOn(dev: BlockDevice, r: Rig): OtaEngine {
  return OtaEngine.open(dev, { table: r.table, running: r.p.ota_0, hashes: nodeHashes });
}

function pushAll(u: DeltaUpdate, patch: Uint8Array, chunk: number): void {
  for (let i = 0; i < patch.length; i += chunk) u.push(patch.subarray(i, i + chunk));
}

function slotBytes(flash: MemoryFlash, r: Rig, n: number): Uint8Array {
  return flash.bytes.subarray(r.p.ota_1.offset, r.p.ota_1.offset + n);
}

for (const file of ['sequential-lzma.patch', 'sequential-heatshrink.patch', 'sequential-crle.patch']) {
  test(`NINA pair, ${file}: applies from ota_0 into ota_1 through the engine, verifies, boots`, () => {
    const r = setUp('esp32-nina-w102-app', 0x100000);
    const expected = pairFile('esp32-nina-w102-app', 'new.bin');
    const e = engineOn(r.flash, r);
    const u = new DeltaUpdate(e);
    pushAll(u, patchFile('esp32-nina-w102-app', file), 1500);
    const verdict = u.finish();
    assert.is(verdict.size, expected.length);
    assert.ok(verdict.hashValid);
    assert.ok(equalBytes(slotBytes(r.flash, r, expected.length), expected), 'slot holds new.bin');
    e.setBootPartition(u.partition);
    const d = simulateReboot(r.flash, r.table, BOOT);
    assert.is(d.boot && d.boot.label, 'ota_1');
  });
}

test('refusals come before the first erase: lzma dictionary over maxDictionary, in-place patch, bad type', () => {
  const r = setUp('esp32s3-hello-world-app', 0x40000);
  const cases: [string, Uint8Array, number | undefined, string][] = [
    ['lzma 8 MiB dictionary, maxDictionary 64 KiB', patchFile('esp32s3-hello-world-app', 'sequential-lzma.patch'), 65536, 'DELTA_DICTIONARY_TOO_LARGE'],
    ['in-place patch', patchFile('esp32s3-hello-world-app', 'in-place-lzma-64k.patch'), undefined, 'DELTA_IN_PLACE_UNSUPPORTED'],
    ['patch type 3', patchFile('esp32-bootloader', 'broken-bad-type.patch'), undefined, 'DELTA_BAD_PATCH_TYPE'],
  ];
  for (const [what, patch, max, code] of cases) {
    const before = r.flash.clone();
    resetFlashStats(r.flash.stats);
    const u = new DeltaUpdate(engineOn(r.flash, r), { maxDictionary: max });
    // One byte at a time: the refusal must not depend on how the patch is cut.
    assert.is(errorCode(() => pushAll(u, patch, 1)), code, what);
    assert.is(r.flash.stats.erases, 0, `${what}: nothing erased`);
    assert.is(r.flash.stats.writes, 0, `${what}: nothing written`);
    assert.ok(equalBytes(r.flash.bytes, before.bytes), `${what}: flash unchanged`);
  }
});

test('a patch for another old image is caught: wrong old bytes make a new image that fails verification, nothing selected', () => {
  // The bootloader pair's patch applied to the hello-world app: it reads old bytes out of range, or
  // makes garbage that the image verifier refuses. Either way a typed error and otadata untouched.
  const r = setUp('esp32s3-hello-world-app', 0x40000);
  const e = engineOn(r.flash, r);
  const u = new DeltaUpdate(e, { oldSize: pairFile('esp32s3-hello-world-app', 'old.bin').length });
  const code = errorCode(() => {
    pushAll(u, patchFile('esp32-nina-w102-app', 'sequential-lzma.patch'), 4096);
    u.finish();
  });
  assert.ok(/^(DELTA_|IMAGE_|OTA_)/.test(code), code);
  const d = simulateReboot(r.flash, r.table, BOOT);
  assert.is(d.boot && d.boot.label, 'ota_0');
});

// The resume sweep on the hello-world pair (ESP32-S3, 145 KB -> 135 KB): small enough to cut at
// every flash operation in every fault mode.
const PAIR = 'esp32s3-hello-world-app';
// lzma at every cut; heatshrink (the same apply path, another decoder) at every third, to keep the
// suite quick.
for (const [file, stride] of [['sequential-lzma.patch', 1], ['sequential-heatshrink.patch', 3]] as const) {
  test(`${PAIR}/${file}: cut at every ${stride === 1 ? '' : 'third '}flash operation (all fault modes), resume decodes from the start and finishes byte for byte`, () => {
    const r = setUp(PAIR, 0x40000);
    const patch = patchFile(PAIR, file);
    const expected = pairFile(PAIR, 'new.bin');
    const CHUNK = 1000;
    const run = (dev: BlockDevice) => {
      const u = new DeltaUpdate(engineOn(dev, r));
      pushAll(u, patch, CHUNK);
      u.finish();
    };
    const ops = countFlashOperations(r.flash.clone(), run);
    let resumed = 0;
    let restarted = 0;
    for (const mode of FAULT_MODES) {
      for (let cut = 0; cut < ops; cut += stride) {
        const where = `cut at op ${cut}/${ops}, ${mode}`;
        const dev = new FaultyFlash(r.flash.clone(), { cutAt: cut, mode, seed: cut * 7 + 3 });
        try {
          run(dev);
        } catch (err) {
          if (!(err instanceof OtaflashError && err.code === 'POWER_LOSS')) throw new Error(`${where}: ${String(err)}`);
        }
        assert.ok(dev.tripped, `${where}: the run did not reach the cut`);
        const after = dev.reboot();
        const e = engineOn(after, r);
        const pending = e.pendingUpdate();
        resetFlashStats(after.stats);
        if (pending) {
          // Record the slot's writes and erases during the resumed run.
          const slot = r.p.ota_1;
          const writesBelow: number[] = [];
          const erasesBelow: number[] = [];
          const spy: BlockDevice = Object.create(after);
          spy.write = (o: number, d: Uint8Array) => {
            if (o >= slot.offset && o < slot.offset + pending.written) writesBelow.push(o);
            after.write(o, d);
          };
          spy.erase = (o: number, n: number) => {
            if (o >= slot.offset && o < slot.offset + pending.erased) erasesBelow.push(o);
            after.erase(o, n);
          };
          const u = new DeltaUpdate(engineOn(spy, r), { resume: true });
          pushAll(u, patch, 777);
          u.finish();
          assert.is(u.progress.resumedFrom, pending.written, where);
          assert.equal(writesBelow, [], `${where}: bytes below the resume point (${pending.written}) written again`);
          assert.equal(erasesBelow, [], `${where}: sectors the log says are erased (${pending.erased} bytes) erased again`);
          resumed++;
        } else {
          // Nothing logged (cut before begin()'s log, or after end() closed it): start over, or done.
          const img = after.bytes.subarray(r.p.ota_1.offset, r.p.ota_1.offset + expected.length);
          if (!equalBytes(img, expected)) {
            run(after);
            restarted++;
          }
        }
        assert.ok(equalBytes(slotBytes(after, r, expected.length), expected), `${where}: slot differs from new.bin`);
      }
    }
    assert.ok(resumed > ops / stride, `resume exercised ${resumed} times over ${ops} operations (${restarted} restarts)`);
  });
}

test('resume refuses a different patch (another new image size) and bytes that differ on flash', () => {
  const r = setUp(PAIR, 0x40000);
  const patch = patchFile(PAIR, 'sequential-lzma.patch');
  const dev = new FaultyFlash(r.flash.clone(), { cutAt: 30, mode: 'before' });
  try {
    const u = new DeltaUpdate(engineOn(dev, r));
    pushAll(u, patch, 1000);
    u.finish();
  } catch (err) {
    if (!(err instanceof OtaflashError && err.code === 'POWER_LOSS')) throw err;
  }
  const after = dev.reboot();
  const pending = engineOn(after, r).pendingUpdate();
  assert.ok(pending && pending.written > 0, 'something to resume');
  // Another pair's patch: a different to_size.
  const other = new DeltaUpdate(engineOn(after, r), { resume: true });
  assert.is(errorCode(() => pushAll(other, patchFile('esp32-nina-w102-app', 'sequential-lzma.patch'), 1000)), 'DELTA_RESUME_MISMATCH');
  // Same size, different bytes: flip a byte already on flash.
  const at = r.p.ota_1.offset + 100;
  const b = after.bytes[at];
  after.poke(at, new Uint8Array([b ^ 0x01]));
  const again = new DeltaUpdate(engineOn(after, r), { resume: true });
  assert.is(errorCode(() => pushAll(again, patch, 1000)), 'DELTA_RESUME_MISMATCH');
});

test.run();

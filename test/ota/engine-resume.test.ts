// Resume granularity: after a power cut at any flash operation of a download, resume() asks the
// caller only for the data of the write call that was interrupted (plus at most one checkpoint
// interval), and erases nothing the resume log says is erased.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { OtaEngine } from '../../src/ota/engine';
import { simulateReboot } from '../../src/ota/bootloader';
import { OtaflashError } from '../../src/errors';
import { nodeHashes } from '../../src/node/hash';
import { FAULT_MODES, FaultyFlash, countFlashOperations } from '../../src/flash/faults';
import type { MemoryFlash } from '../../src/flash/memory';
import { resetFlashStats } from '../../src/flash/stats';
import type { OtaWriteOptions } from '../../src/ota/writer';
import { APP_A, APP_B, OTADATA_AT, equalBytes, flashImage, image, rig, type Rig } from './engine-fixtures';
import { RegionFlash } from '../../src/flash/region';
import { readResumeLog } from '../../src/ota/progress-record';

const ESP32 = 0;
const BOOT = { rollback: true, chip: ESP32, hashes: nodeHashes };

function fresh(opts: { writeSize?: number } = {}): Rig {
  const r = rig({ slotSize: 0x40000, size: 0x90000, writeSize: opts.writeSize });
  flashImage(r.flash, r.p.ota_0, image(APP_A));
  simulateReboot(r.flash, r.table, BOOT);
  return r;
}

interface Cut {
  after: MemoryFlash;
  /** write() calls that returned before the power failed. */
  completed: number;
  /** begin() returned (its erase, if any, is done and logged). */
  begun: boolean;
  /** end() was called (it closes the log). */
  ending: boolean;
  /** Slot bytes erased by eraseStep() calls that returned. */
  erasedSteps: number;
}

function cutDownload(r: Rig, img: Uint8Array, chunk: number, wopts: OtaWriteOptions, preErase: boolean, cutAt: number, mode: (typeof FAULT_MODES)[number]): Cut | null {
  const dev = new FaultyFlash(r.flash.clone(), { cutAt, mode, seed: cutAt * 13 + 5 });
  let completed = 0;
  let begun = false;
  let ending = false;
  let erasedSteps = 0;
  try {
    const w = OtaEngine.open(dev, { table: r.table, running: r.p.ota_0, chip: ESP32, hashes: nodeHashes }).begin(undefined, wopts);
    if (preErase) while (w.eraseStep() > 0) erasedSteps = w.erased;
    begun = true;
    for (let o = 0; o < img.length; o += chunk) {
      w.write(img.subarray(o, Math.min(img.length, o + chunk)));
      completed++;
    }
    ending = true;
    w.end();
  } catch (err) {
    if (!(err instanceof OtaflashError && err.code === 'POWER_LOSS')) throw err;
  }
  return dev.tripped ? { after: dev.reboot(), completed, begun, ending, erasedSteps } : null;
}

function sweep(name: string, writeSize: number, chunk: number, wopts: OtaWriteOptions, resendBound: (completed: number) => number, preErase = false): void {
  test(`${name}: at every cut, resume() continues from the last write call and re-erases nothing it logged`, () => {
    const r = fresh({ writeSize });
    const img = image(APP_B);
    const ota1 = r.p.ota_1;
    const ops = countFlashOperations(r.flash.clone(), (dev) => {
      const w = OtaEngine.open(dev, { table: r.table, running: r.p.ota_0, chip: ESP32, hashes: nodeHashes }).begin(undefined, wopts);
      if (preErase) while (w.eraseStep() > 0);
      for (let o = 0; o < img.length; o += chunk) w.write(img.subarray(o, Math.min(img.length, o + chunk)));
      w.end();
    });
    let resumed = 0;
    for (const mode of FAULT_MODES) {
      for (let cut = 0; cut < ops; cut++) {
        const where = `cut at op ${cut}/${ops}, ${mode}`;
        const c = cutDownload(r, img, chunk, wopts, preErase, cut, mode);
        assert.ok(c, `${where}: the run did not reach the cut`);
        const e = OtaEngine.open(c!.after, { table: r.table, running: r.p.ota_0, chip: ESP32, hashes: nodeHashes });
        const pending = e.pendingUpdate();
        if (!pending) {
          assert.not.ok(((c!.begun && c!.completed > 0) || c!.erasedSteps > 0) && !c!.ending, `${where}: ${c!.completed} write calls and ${c!.erasedSteps} erased bytes returned but nothing is recorded to resume`);
          continue;
        }
        const need = resendBound(c!.completed);
        assert.ok(pending.erased >= c!.erasedSteps, `${where}: ${c!.erasedSteps} bytes erased by returned eraseStep() calls, the log says ${pending.erased}`);
        assert.ok(pending.written >= need, `${where}: resume point ${pending.written}, but ${c!.completed} write calls had returned (${need} bytes the caller may not be asked for again)`);
        if (wopts.erase !== 'sequential' && c!.begun && wopts.size !== undefined) {
          assert.is(pending.erased, Math.ceil(wopts.size / 4096) * 4096, `${where}: begin() erased the whole plan, the log must say so`);
        }
        resetFlashStats(c!.after.stats);
        const w = e.resume();
        assert.is(w.offset, pending.written, where);
        for (let o = w.offset; o < img.length; o += chunk) w.write(img.subarray(o, Math.min(img.length, o + chunk)));
        w.end();
        const first = ota1.offset / 4096;
        for (let s = 0; s * 4096 < pending.erased; s++) {
          assert.is(c!.after.stats.sectorErases[first + s], 0, `${where}: slot sector ${s} erased again (log said ${pending.erased} bytes erased)`);
        }
        assert.ok(equalBytes(c!.after.bytes.subarray(ota1.offset, ota1.offset + img.length), img), `${where}: image differs after resume`);
        resumed++;
      }
    }
    assert.ok(resumed > ops, `resume exercised ${resumed} times over ${ops} operations`);
  });
}

const LEN = image(APP_B).length;
// The granule for a 256 KiB slot: 32 bytes (two 1024-byte bitmaps fit in the sector, two 2048-byte
// ones would not); with 16-byte write units it is 16 * 2 = 32 as well.
const G = 32;
const floorTo = (n: number, u: number) => Math.floor(n / u) * u;
// Default: a checkpoint per erase sector of data; with 4 KiB chunks that is every write call
// except a last partial one when the size was not declared.
sweep("4 KiB chunks, erase 'sequential'", 1, 4096, { erase: 'sequential' }, (k) => Math.min(k * 4096, floorTo(LEN, 4096)));
// With the size declared, the call that completes it is logged too.
sweep("4 KiB chunks, erase 'all' with the size declared", 1, 4096, { erase: 'all', size: LEN }, (k) => floorTo(Math.min(k * 4096, LEN), G));
// 16-byte program units (internal flash): bitmap bytes are reprogrammed a unit at a time.
sweep("4 KiB chunks, 16-byte write units, erase 'sequential'", 16, 4096, { erase: 'sequential' }, (k) => Math.min(k * 4096, floorTo(LEN, 4096)));
// Pre-erase in 8 KiB steps (a watchdog-fed device): every step that returned is in the log.
sweep("4 KiB chunks, erase 'all' in 8 KiB eraseStep() calls first", 1, 4096, { erase: 'all', size: LEN, maxEraseBytesPerStep: 8192 }, (k) => floorTo(Math.min(k * 4096, LEN), G), true);
// checkpointBytes 0: every write call that completes a granule is logged.
sweep('1000-byte chunks, checkpointBytes 0', 1, 1000, { erase: 'sequential', checkpointBytes: 0 }, (k) => floorTo(Math.min(k * 1000, LEN), G));
// Default interval with unaligned chunks: at most one sector plus one call behind.
sweep('1000-byte chunks, default interval', 1, 1000, { erase: 'sequential' }, (k) => Math.max(0, Math.min(k * 1000, LEN) - 4096 - 1000 - G));

test('checkpointBytes must be a non-negative integer', () => {
  const r = fresh();
  const e = OtaEngine.open(r.flash, { running: r.p.ota_0, chip: ESP32, hashes: nodeHashes });
  for (const bad of [-1, 1.5, NaN]) {
    try {
      e.begin(undefined, { checkpointBytes: bad });
      assert.unreachable(`checkpointBytes ${bad} accepted`);
    } catch (err) {
      assert.instance(err, OtaflashError);
      assert.is((err as OtaflashError).code, 'OTA_BAD_ARGUMENT');
    }
  }
});

test('resume() keeps the erase budget of begin() (rounded down to a power of two) unless the caller passes another', () => {
  const img = image(APP_B);
  const run = (budget: number | undefined, resumeOpts: OtaWriteOptions = {}): number[] => {
    const r = fresh();
    const table = r.table;
    const first = OtaEngine.open(r.flash, { table, running: r.p.ota_0, chip: ESP32, hashes: nodeHashes });
    const w = first.begin(r.p.ota_1, { size: img.length, erase: 'sequential', maxEraseBytesPerStep: budget });
    const half = Math.floor(img.length / 2 / 4096) * 4096;
    for (let o = 0; o < half; o += 4096) w.write(img.subarray(o, o + 4096));
    // Reset: nothing survives but the flash. The new engine sees the device through a recorder.
    const erases: number[] = [];
    const dev = r.flash;
    const recorder = {
      size: dev.size, eraseSize: dev.eraseSize, writeSize: dev.writeSize, eraseValue: dev.eraseValue, blockEraseSizes: dev.blockEraseSizes,
      read: (o: number, into: Uint8Array) => dev.read(o, into),
      write: (o: number, d: Uint8Array) => dev.write(o, d),
      erase: (o: number, n: number) => {
        if (o >= r.p.ota_1.offset && o < r.p.ota_1.offset + r.p.ota_1.size) erases.push(n);
        dev.erase(o, n);
      },
      sync: () => dev.sync(),
    };
    const w2 = OtaEngine.open(recorder, { table, running: r.p.ota_0, chip: ESP32, hashes: nodeHashes }).resume(resumeOpts);
    assert.is(w2.offset, half);
    for (let o = w2.offset; o < img.length; o += 4096) w2.write(img.subarray(o, Math.min(img.length, o + 4096)));
    w2.end();
    assert.ok(erases.length > 0, 'the rest of the download erased something');
    return erases;
  };
  assert.is(Math.max(...run(4096)), 4096, 'budget 4 KiB kept');
  // The recorder does see block erases when no budget forbids them, and a budget given to resume() wins.
  assert.ok(Math.max(...run(undefined)) > 4096, 'no budget: block erases');
  assert.is(Math.max(...run(4096, { maxEraseBytesPerStep: 32768 })), 32768, 'the caller\'s new budget wins');
  // On flash the budget is a power of two (one byte of the log header): 40000 is kept as 32 KiB.
  for (const [given, kept] of [[40000, 32768], [4096, 4096], [undefined, null]] as const) {
    const r = fresh();
    OtaEngine.open(r.flash, { table: r.table, running: r.p.ota_0, chip: ESP32, hashes: nodeHashes }).begin(r.p.ota_1, { size: img.length, maxEraseBytesPerStep: given });
    const region = new RegionFlash(r.flash, OTADATA_AT, 0x2000, 'otadata');
    const logs = [readResumeLog(region, 0, nodeHashes), readResumeLog(region, 1, nodeHashes)].filter((x) => x !== null);
    assert.is(logs.length, 1);
    assert.is(logs[0]!.header.eraseBudget, kept, `budget ${given}`);
  }
});

test.run();

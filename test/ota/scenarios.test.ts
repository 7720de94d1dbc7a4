// Scripted multi-reboot scenarios: the engine on one side, D1's bootloader model on the other,
// real ESP32 app images in the slots. Each "reboot" is simulateReboot() followed by a fresh
// OtaEngine.open() on the same flash: nothing survives but the flash.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { OtaEngine } from '../../src/ota/engine';
import { simulateReboot, type BootDecision } from '../../src/ota/bootloader';
import { OtaflashError } from '../../src/errors';
import { nodeHashes } from '../../src/node/hash';
import { OTA_STATE } from '../../src/formats/otadata';
import { FAULT_MODES, FaultyFlash, countFlashOperations } from '../../src/flash/faults';
import type { MemoryFlash } from '../../src/flash/memory';
import { resetFlashStats } from '../../src/flash/stats';
import type { PartitionTable } from '../../src/formats/partition-types';
import { APP_A, APP_B, equalBytes, feed, flashImage, image, otadataEntries, rig, type Rig } from './engine-fixtures';
import { errorCode } from '../helpers';

const ESP32 = 0;
// node:crypto keeps the power-cut sweeps fast; the portable hashes are covered by engine.test.ts.
const BOOT = { rollback: true, chip: ESP32, hashes: nodeHashes };

const code = errorCode;

function reboot(flash: MemoryFlash, table: PartitionTable): { d: BootDecision; engine: OtaEngine } {
  const d = simulateReboot(flash, table, BOOT);
  assert.ok(d.boot, `nothing bootable: ${d.reason}`);
  return { d, engine: OtaEngine.open(flash, { running: d.boot!, chip: ESP32, hashes: nodeHashes }) };
}

function slotHolds(flash: MemoryFlash, offset: number, img: Uint8Array): boolean {
  return equalBytes(flash.bytes.subarray(offset, offset + img.length), img);
}

/** A device as it leaves the factory line: ota_0 holds APP_A, otadata blank, booted once. */
function fresh(): Rig {
  // Small slots keep each simulated device (cloned for every cut) small.
  const r = rig({ slotSize: 0x40000, size: 0x90000 });
  flashImage(r.flash, r.p.ota_0, image(APP_A));
  const { d } = reboot(r.flash, r.table);
  assert.is(d.label, 'ota_0');
  assert.is(d.writes.length, 1, 'the bootloader initialises blank otadata');
  return r;
}

function update(engine: OtaEngine, img: Uint8Array): void {
  const w = engine.begin();
  feed(w, img);
  w.end();
  engine.setBootPartition(w.partition);
}

test('update -> reboot -> PENDING_VERIFY -> markValid -> reboot: the new app stays, rollback target kept', () => {
  const r = fresh();
  let { engine } = reboot(r.flash, r.table);
  update(engine, image(APP_B));
  let { d, engine: e2 } = reboot(r.flash, r.table);
  assert.is(d.label, 'ota_1');
  assert.is(d.activeStateAfterBoot, OTA_STATE.PENDING_VERIFY);
  assert.is(e2.slotState(r.p.ota_1), OTA_STATE.PENDING_VERIFY);
  assert.is(code(() => e2.begin()), 'OTA_ROLLBACK_INVALID_STATE');
  assert.ok(e2.rollbackPossible());
  e2.markValid();
  ({ d, engine } = reboot(r.flash, r.table));
  assert.is(d.label, 'ota_1');
  assert.is(d.activeStateAfterBoot, OTA_STATE.VALID);
  assert.is(d.writes.length, 0, 'nothing left for the bootloader to rewrite');
  assert.is(engine.slotState(r.p.ota_1), OTA_STATE.VALID);
  assert.ok(engine.rollbackPossible(), 'the previous app is still a rollback target, as after ESP-IDF mark-valid');
  engine.markValid(); // already VALID: no-op
  ({ d } = reboot(r.flash, r.table));
  assert.is(d.label, 'ota_1');
});

test('update -> reboot -> no confirmation -> reboot: rolled back to the previous app, slot ABORTED', () => {
  const r = fresh();
  let { engine } = reboot(r.flash, r.table);
  update(engine, image(APP_B));
  let { d } = reboot(r.flash, r.table);
  assert.is(d.label, 'ota_1');
  ({ d, engine } = reboot(r.flash, r.table));
  assert.is(d.label, 'ota_0');
  assert.is(engine.running!.label, 'ota_0');
  assert.is(engine.slotState(r.p.ota_1), OTA_STATE.ABORTED);
  assert.not.ok(engine.rollbackPossible());
  // The next update may start at once and reuses the aborted slot.
  assert.is(engine.nextUpdatePartition().label, 'ota_1');
  update(engine, image(APP_B));
  ({ d } = reboot(r.flash, r.table));
  assert.is(d.label, 'ota_1');
  assert.is(d.activeStateAfterBoot, OTA_STATE.PENDING_VERIFY);
});

test('markInvalidAndRollback: the next boot runs the previous app, the slot reads INVALID', () => {
  const r = fresh();
  let { engine } = reboot(r.flash, r.table);
  update(engine, image(APP_B));
  let { d, engine: e2 } = reboot(r.flash, r.table);
  assert.is(d.label, 'ota_1');
  e2.markInvalidAndRollback();
  ({ d, engine } = reboot(r.flash, r.table));
  assert.is(d.label, 'ota_0');
  assert.is(engine.slotState(r.p.ota_1), OTA_STATE.INVALID);
  assert.is(code(() => engine.markInvalidAndRollback()), 'OTA_ROLLBACK_FAILED');
});

test('a corrupt image is refused at end() and by setBootPartition; the device keeps booting the old app', () => {
  const r = fresh();
  const { engine } = reboot(r.flash, r.table);
  const bad = image(APP_B).slice();
  bad[0x4000] ^= 0x10; // one bit inside segment data
  const w = engine.begin();
  feed(w, bad);
  assert.is(code(() => w.end()), 'IMAGE_BAD_CHECKSUM');
  assert.is(code(() => engine.setBootPartition(r.p.ota_1)), 'IMAGE_BAD_CHECKSUM');
  const { d } = reboot(r.flash, r.table);
  assert.is(d.label, 'ota_0');
  assert.is(d.writes.length, 0);
});

test('fallback: otadata selects the slot being overwritten; begin() first points otadata at the running app', () => {
  const r = fresh();
  let { engine } = reboot(r.flash, r.table);
  update(engine, image(APP_B));
  // The new slot goes bad behind our back (say a flash fault): the bootloader falls back to ota_0.
  r.flash.poke(r.p.ota_1.offset + 0x3000, new Uint8Array([0]));
  let { d } = reboot(r.flash, r.table);
  assert.is(d.label, 'ota_0');
  engine = OtaEngine.open(r.flash, { running: d.boot!, chip: ESP32, hashes: nodeHashes });
  assert.is(engine.bootPartition()!.label, 'ota_1', 'otadata still names the broken slot');
  const w = engine.begin();
  assert.is(engine.bootPartition()!.label, 'ota_0', 'before the slot is erased, otadata names the running app');
  w.abort();
  ({ d } = reboot(r.flash, r.table));
  assert.is(d.label, 'ota_0');
  assert.is(d.tried.length, 1, 'no failed attempt on the half-written slot');
});

// ---- power cuts in the middle of an update, then resume ----------------------------------------

function cutRun(base: MemoryFlash, table: PartitionTable, img: Uint8Array, erase: 'all' | 'sequential', cutAt: number, mode: (typeof FAULT_MODES)[number]): MemoryFlash | null {
  const dev = new FaultyFlash(base.clone(), { cutAt, mode, seed: cutAt * 7 + 1 });
  try {
    const e = OtaEngine.open(dev, { table, running: table.partitions.find((p) => p.label === 'ota_0')!, chip: ESP32, hashes: nodeHashes });
    const w = e.begin(undefined, { erase, size: erase === 'all' ? img.length : undefined });
    feed(w, img);
    w.end();
    e.setBootPartition(w.partition);
  } catch (err) {
    if (!(err instanceof OtaflashError && err.code === 'POWER_LOSS')) throw err;
  }
  return dev.tripped ? dev.reboot() : null;
}

for (const erase of ['sequential', 'all'] as const) {
  test(`power cut at every flash operation of an update (erase '${erase}', every fault mode): old app boots, resume() finishes without re-erasing or re-sending`, () => {
    const r = fresh();
    const img = image(APP_B);
    const table = r.table;
    const ota0 = r.p.ota_0;
    const ota1 = r.p.ota_1;
    const ops = countFlashOperations(r.flash.clone(), (dev) => {
      const e = OtaEngine.open(dev, { table, running: ota0, chip: ESP32, hashes: nodeHashes });
      const w = e.begin(undefined, { erase, size: erase === 'all' ? img.length : undefined });
      feed(w, img);
      w.end();
      e.setBootPartition(w.partition);
    });
    assert.ok(ops > 20, `${ops} operations`);
    let resumed = 0;
    for (const mode of FAULT_MODES) {
      for (let cut = 0; cut < ops; cut++) {
        const where = `cut at op ${cut}/${ops}, ${mode}, erase ${erase}`;
        const after = cutRun(r.flash, table, img, erase, cut, mode);
        assert.ok(after, `${where}: the run did not reach the cut`);
        const d = simulateReboot(after!, table, BOOT);
        assert.ok(d.label === 'ota_0' || d.label === 'ota_1', `${where}: booted ${d.label} (${d.reason})`);
        if (d.label === 'ota_1') {
          // Only once setBootPartition committed, and then the slot holds the whole new image.
          assert.ok(slotHolds(after!, ota1.offset, img), `${where}: ota_1 boots but does not hold the image`);
          assert.is(d.activeStateAfterBoot, OTA_STATE.PENDING_VERIFY, where);
          continue;
        }
        assert.is(d.tried.length, 1, `${where}: the bootloader tried a broken slot first (${d.reason})`);
        const e = OtaEngine.open(after!, { table, running: d.boot!, chip: ESP32, hashes: nodeHashes });
        const pending = e.pendingUpdate();
        let w;
        if (pending) {
          assert.is(pending.partition.label, 'ota_1', where);
          resetFlashStats(after!.stats);
          w = e.resume();
          assert.ok(w.offset <= img.length, where);
          feed(w, img, 4096, w.offset);
          // Whole sectors below the resume point were not erased again.
          const firstSector = ota1.offset / 4096;
          for (let s = 0; s < Math.floor(w.offset / 4096) - 0; s++) {
            if ((s + 1) * 4096 <= (pending.written & ~4095)) assert.is(after!.stats.sectorErases[firstSector + s], 0, `${where}: sector ${s} erased again`);
          }
          resumed++;
        } else {
          w = e.begin(undefined, { erase });
          feed(w, img);
        }
        w.end();
        e.setBootPartition(w.partition);
        const d2 = simulateReboot(after!, table, BOOT);
        assert.is(d2.label, 'ota_1', where);
        assert.ok(slotHolds(after!, ota1.offset, img), `${where}: image differs after resume`);
      }
    }
    assert.ok(resumed > ops, `resume was exercised (${resumed} times)`);
    if (process.env.OTA_SWEEP_VERBOSE) console.log(`erase ${erase}: ${ops} operations x ${FAULT_MODES.length} modes, ${resumed} resumed`);
  });
}

test('resume after a cut continues from the logged offset; the caller sends only the rest', () => {
  const r = fresh();
  const img = image(APP_B);
  const ops = countFlashOperations(r.flash.clone(), (dev) => {
    const e = OtaEngine.open(dev, { table: r.table, running: r.p.ota_0, chip: ESP32, hashes: nodeHashes });
    const w = e.begin(undefined, { erase: 'sequential' });
    feed(w, img);
  });
  const after = cutRun(r.flash, r.table, img, 'sequential', ops - 2, 'after')!;
  const e = OtaEngine.open(after, { table: r.table, running: r.p.ota_0, chip: ESP32, hashes: nodeHashes });
  const w = e.resume();
  const start = w.offset;
  assert.ok(start > img.length / 2, `resumed at ${start} of ${img.length}`);
  let sent = 0;
  for (let o = start; o < img.length; o += 4096) {
    const c = img.subarray(o, Math.min(img.length, o + 4096));
    w.write(c);
    sent += c.length;
  }
  assert.is(sent, img.length - start, 'only the rest was sent');
  assert.is(w.end().size, img.length);
  assert.is(e.pendingUpdate(), null, 'the log is closed by end()');
});

test('resume refuses re-sent data that differs from what the interrupted run programmed', () => {
  const r = fresh();
  const img = image(APP_B);
  const ops = countFlashOperations(r.flash.clone(), (dev) => {
    const e = OtaEngine.open(dev, { table: r.table, running: r.p.ota_0, chip: ESP32, hashes: nodeHashes });
    const w = e.begin(undefined, { erase: 'sequential' });
    feed(w, img);
  });
  // Cut right after a data write that follows a checkpoint: bytes past the checkpoint are on flash.
  let after: MemoryFlash | null = null;
  let w = null as ReturnType<OtaEngine['resume']> | null;
  for (let cut = ops - 1; cut > 0 && !w; cut--) {
    after = cutRun(r.flash, r.table, img, 'sequential', cut, 'after');
    const e = OtaEngine.open(after!, { table: r.table, running: r.p.ota_0, chip: ESP32, hashes: nodeHashes });
    const cand = e.resume();
    const probe = new Uint8Array(16);
    after!.read(r.p.ota_1.offset + cand.offset, probe);
    if (probe.some((b) => b !== 0xff)) w = cand;
    else cand.abort();
  }
  assert.ok(w, 'found a cut with programmed bytes past the checkpoint');
  const other = img.slice(w!.offset, w!.offset + 4096).map((b) => b ^ 0xff);
  assert.is(code(() => w!.write(other)), 'OTA_RESUME_MISMATCH');
});

/** ota_1 updated and booted once (PENDING_VERIFY), as the state a markValid() starts from. */
function pendingDevice(): Rig {
  const r = fresh();
  const { engine } = reboot(r.flash, r.table);
  update(engine, image(APP_B));
  const { d } = reboot(r.flash, r.table);
  assert.is(d.activeStateAfterBoot, OTA_STATE.PENDING_VERIFY);
  return r;
}

function sweepOtadataOp(r: Rig, op: (e: OtaEngine) => void, check: (where: string, first: BootDecision, second: BootDecision, cut: number) => void): number {
  const running = r.p.ota_1;
  const ops = countFlashOperations(r.flash.clone(), (dev) => op(OtaEngine.open(dev, { table: r.table, running, chip: ESP32, hashes: nodeHashes })));
  for (const mode of FAULT_MODES) {
    for (let cut = 0; cut < ops; cut++) {
      const dev = new FaultyFlash(r.flash.clone(), { cutAt: cut, mode, seed: cut + 11 });
      assert.throws(() => op(OtaEngine.open(dev, { table: r.table, running, chip: ESP32, hashes: nodeHashes })), (e: unknown) => e instanceof OtaflashError && e.code === 'POWER_LOSS');
      const after = dev.reboot();
      const first = simulateReboot(after, r.table, BOOT);
      const second = simulateReboot(after, r.table, BOOT);
      check(`cut at op ${cut}/${ops}, ${mode}`, first, second, cut);
    }
  }
  return ops;
}

test('power cut at every operation of markValid: either confirmed (ota_1 VALID for good) or not yet (rolls back as if never called); once confirmed at op k, confirmed at every later op', () => {
  const r = pendingDevice();
  const confirmedFrom: Record<string, number> = {};
  const ops = sweepOtadataOp(r, (e) => e.markValid(), (where, first, second, cut) => {
    assert.ok(first.label === 'ota_1' || first.label === 'ota_0', `${where}: booted ${first.label}`);
    assert.is(second.label, first.label, `${where}: the second boot differs (${second.reason})`);
    const mode = where.split(', ')[1];
    if (first.label === 'ota_1') {
      assert.is(first.activeStateAfterBoot, OTA_STATE.VALID, where);
      if (confirmedFrom[mode] === undefined) confirmedFrom[mode] = cut;
    } else {
      assert.is(confirmedFrom[mode], undefined, `${where}: confirmation lost after it was committed at op ${confirmedFrom[mode]}`);
    }
  });
  assert.ok(ops >= 4, `${ops} operations`);
});

test('power cut at every operation of markInvalidAndRollback after a confirmed update: ota_1 until the rollback commits, ota_0 from then on', () => {
  const r = pendingDevice();
  OtaEngine.open(r.flash, { running: r.p.ota_1, chip: ESP32 }).markValid();
  const rolledFrom: Record<string, number> = {};
  sweepOtadataOp(r, (e) => e.markInvalidAndRollback(), (where, first, second, cut) => {
    assert.ok(first.label === 'ota_1' || first.label === 'ota_0', `${where}: booted ${first.label}`);
    assert.is(second.label, first.label, where);
    const mode = where.split(', ')[1];
    if (first.label === 'ota_0') {
      if (rolledFrom[mode] === undefined) rolledFrom[mode] = cut;
    } else {
      assert.is(rolledFrom[mode], undefined, `${where}: ota_1 boots again after the rollback committed at op ${rolledFrom[mode]}`);
    }
  });
});

test('power cut at every operation of markValid on a long-running app (rollback off, state UNDEFINED): ota_1 boots at every instant (ESP-IDF\'s in-place rewrite would revert to ota_0 between its erase and write)', () => {
  const r = fresh();
  const noRollback = { rollback: false, chip: ESP32, hashes: nodeHashes };
  const e = OtaEngine.open(r.flash, { running: r.p.ota_0, chip: ESP32, rollback: false, hashes: nodeHashes });
  update(e, image(APP_B));
  const d = simulateReboot(r.flash, r.table, noRollback);
  assert.is(d.label, 'ota_1');
  assert.is(d.activeStateAfterBoot, OTA_STATE.UNDEFINED);
  const op = (dev: FaultyFlash | MemoryFlash) => OtaEngine.open(dev, { table: r.table, running: r.p.ota_1, chip: ESP32, rollback: false, hashes: nodeHashes }).markValid();
  const ops = countFlashOperations(r.flash.clone(), op);
  assert.ok(ops >= 6, `${ops} operations`);
  for (const mode of FAULT_MODES) {
    for (let cut = 0; cut < ops; cut++) {
      const dev = new FaultyFlash(r.flash.clone(), { cutAt: cut, mode, seed: cut + 5 });
      assert.throws(() => op(dev));
      const b = simulateReboot(dev.reboot(), r.table, noRollback);
      assert.is(b.label, 'ota_1', `cut at op ${cut}/${ops}, ${mode}: ${b.reason}`);
    }
  }
});

test('blank otadata, never booted: the resume log survives the bootloader initialising sector 0', () => {
  const r = rig({ slotSize: 0x40000, size: 0x90000 });
  flashImage(r.flash, r.p.ota_0, image(APP_A));
  const img = image(APP_B);
  const ops = countFlashOperations(r.flash.clone(), (dev) => {
    const w = OtaEngine.open(dev, { table: r.table, running: r.p.ota_0, chip: ESP32, hashes: nodeHashes }).begin(undefined, { erase: 'sequential' });
    feed(w, img);
  });
  const after = cutRun(r.flash, r.table, img, 'sequential', ops - 3, 'torn-bits')!;
  const d = simulateReboot(after, r.table, BOOT);
  assert.is(d.label, 'ota_0');
  assert.is(d.writes.length, 1);
  assert.is(d.writes[0].sector, 0);
  const e = OtaEngine.open(after, { table: r.table, running: d.boot!, chip: ESP32, hashes: nodeHashes });
  const w = e.resume();
  assert.ok(w.offset > 0);
  feed(w, img, 4096, w.offset);
  w.end();
  e.setBootPartition(w.partition);
  assert.is(simulateReboot(after, r.table, BOOT).label, 'ota_1');
});

test('the resume log on flash has the documented layout (progress-record.ts header comment)', () => {
  const r = fresh();
  const img = image(APP_B);
  const e = OtaEngine.open(r.flash, { running: r.p.ota_0, chip: ESP32, hashes: nodeHashes });
  const w = e.begin(undefined, { erase: 'sequential', size: img.length });
  const sent = 100000;
  for (let o = 0; o < sent; o += 1000) w.write(img.subarray(o, Math.min(sent, o + 1000)));
  // Active entry is sector 0 (seq 1), so the log sits in sector 1 at 0x40.
  const sec = r.flash.bytes.subarray(0xd000 + 0x1000, 0xd000 + 0x2000);
  const u32 = (o: number) => (sec[o] | (sec[o + 1] << 8) | (sec[o + 2] << 16) | (sec[o + 3] << 24)) >>> 0;
  assert.is(u32(0x40), 0x5253464f);
  assert.is(String.fromCharCode(sec[0x40], sec[0x41], sec[0x42], sec[0x43]), 'OFSR');
  assert.is(sec[0x44], 2, 'version');
  assert.is(sec[0x45], 1, 'sequential');
  assert.is(sec[0x46], 0x11);
  assert.is(u32(0x48), r.p.ota_1.offset);
  assert.is(u32(0x4c), r.p.ota_1.size);
  assert.is(u32(0x50), img.length);
  assert.is(u32(0x54), Math.ceil(img.length / 4096) * 4096, 'erase limit');
  assert.is(u32(0x5c), nodeHashes.crc32(sec.subarray(0x40, 0x5c)));
  // Granule: the smallest power of two (write size 1) whose two bitmaps fit in 0x1000 - 0x60 bytes.
  const g = u32(0x58);
  const mapBytes = (gg: number) => Math.ceil(Math.ceil(r.p.ota_1.size / gg) / 8);
  assert.ok(2 * mapBytes(g) <= 0x1000 - 0x60 && 2 * mapBytes(g / 2) > 0x1000 - 0x60, `granule ${g}`);
  const m = mapBytes(g);
  const leading = (at: number) => {
    let i = 0;
    while (i < m * 8 && (sec[at + (i >> 3)] & (1 << (i & 7))) === 0) i++;
    return i;
  };
  // Checkpoints every 4096 bytes (one erase sector) at the end of the write call that crosses one.
  const writtenBits = leading(0x60);
  let claimed = 0;
  for (let flushed = 1000; flushed <= sent; flushed += 1000) {
    const claim = Math.floor(flushed / g) * g;
    if (claim - claimed >= 4096) claimed = claim;
  }
  assert.ok(sent - claimed < 4096 + 1000 + g, `claimed ${claimed}`);
  assert.is(writtenBits * g, claimed, 'written bitmap: leading cleared bits');
  for (let i = writtenBits; i < m * 8; i++) assert.ok(sec[0x60 + (i >> 3)] & (1 << (i & 7)), `written bit ${i} still set`);
  // Sequential erase runs ahead of the write point by whole 64 KiB blocks (the device offers them):
  // that is what the erased bitmap records; the sectors holding written bytes are implied.
  assert.equal(r.flash.blockEraseSizes, [0x8000, 0x10000]);
  const erasedBits = leading(0x60 + m);
  for (let i = erasedBits; i < m * 8; i++) assert.ok(sec[0x60 + m + (i >> 3)] & (1 << (i & 7)), `erased bit ${i} still set`);
  const erasedClaim = erasedBits * g;
  assert.ok(erasedClaim % 0x10000 === 0 && erasedClaim > claimed && erasedClaim <= w.erased, `erased claim ${erasedClaim}, writer erased ${w.erased}`);
  assert.is(e.pendingUpdate()!.written, claimed);
  assert.is(e.pendingUpdate()!.erased, Math.max(erasedClaim, Math.ceil(claimed / 4096) * 4096));
  w.abort();
  assert.is(u32(0x40), 0, 'abort() closes the log (magic zeroed)');
  assert.is(e.pendingUpdate(), null);
});

test('power cut at every operation of confirming an update from factory (rollback off) and then rolling it back: ota_0 until the rollback commits, factory from then on, and a retried rollback always reaches factory', () => {
  // Factory runs APP_A from blank otadata; ota_0 gets APP_B without rollback (UNDEFINED), is confirmed, then rejected.
  const r = rig({ factory: true, slotSize: 0x40000, size: 0xd0000 });
  flashImage(r.flash, r.p.factory, image(APP_A));
  const noRollback = { rollback: false, chip: ESP32, hashes: nodeHashes };
  const first = OtaEngine.open(r.flash, { table: r.table, chip: ESP32, rollback: false, hashes: nodeHashes });
  assert.is(first.running!.label, 'factory');
  update(first, image(APP_B));
  assert.is(simulateReboot(r.flash, r.table, noRollback).label, 'ota_0');
  const open = (dev: FaultyFlash | MemoryFlash) => OtaEngine.open(dev, { table: r.table, running: r.p.ota_0, chip: ESP32, rollback: false, hashes: nodeHashes });
  const op = (dev: FaultyFlash | MemoryFlash) => {
    open(dev).markValid();
    open(dev).markInvalidAndRollback();
  };
  const done = r.flash.clone();
  op(done);
  assert.is(simulateReboot(done, r.table, noRollback).label, 'factory', 'uninterrupted: the rollback reaches factory');
  const ops = countFlashOperations(r.flash.clone(), op);
  for (const mode of FAULT_MODES) {
    let rolledAt = -1;
    for (let cut = 0; cut < ops; cut++) {
      const dev = new FaultyFlash(r.flash.clone(), { cutAt: cut, mode, seed: cut + 23 });
      assert.throws(() => op(dev));
      const after = dev.reboot();
      const b = simulateReboot(after, r.table, noRollback);
      const where = `cut at op ${cut}/${ops}, ${mode}`;
      assert.ok(b.label === 'ota_0' || b.label === 'factory', `${where}: booted ${b.label} (${b.reason})`);
      if (b.label === 'factory') {
        if (rolledAt < 0) rolledAt = cut;
      } else {
        assert.is(rolledAt, -1, `${where}: ota_0 boots again after the rollback committed at op ${rolledAt}`);
        // The app, running again, asks for the rollback once more: it must land on factory.
        open(after).markInvalidAndRollback();
        assert.is(simulateReboot(after, r.table, noRollback).label, 'factory', `${where}: the retried rollback`);
      }
    }
  }
});

test.run();

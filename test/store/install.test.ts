// install(): a stored app image streamed into the next OTA slot through the engine, selected for
// boot, checked by booting the bootloader model; refusals; and power cuts at every flash operation
// of an install (store in a region of the same flash), recovered by calling install() again.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ImageStore } from '../../src/store/store';
import { OtaEngine } from '../../src/ota/engine';
import { simulateReboot } from '../../src/ota/bootloader';
import { FaultyFlash, type FaultMode } from '../../src/flash/faults';
import type { MemoryFlash } from '../../src/flash/memory';
import { RegionFlash } from '../../src/flash/region';
import { OtaflashError } from '../../src/errors';
import { nodeHashes } from '../../src/node/hash';
import type { BlockDevice } from '../../src/flash/types';
import { errorCode } from '../helpers';
import { APP_A, APP_B, flashImage, image, rig, type Rig } from '../ota/engine-fixtures';
import { chunkOf, sha256, spec } from './helpers';
import { createDeltaPatch } from '../../src/delta/generate';

const BOOT = { rollback: true, chip: 0, hashes: nodeHashes };
const NEW = image(APP_B);
const STORE_AT = 0x90000;
const STORE_SIZE = 0x70000;

function storeOn(dev: BlockDevice): ImageStore {
  return ImageStore.open(new RegionFlash(dev, STORE_AT, STORE_SIZE, 'store'), { hashes: nodeHashes });
}

/** ota_0 runs APP_A; the store holds APP_B as image 1, verified. */
function world(): Rig {
  const r = rig({ slotSize: 0x40000, size: 0x100000 });
  flashImage(r.flash, r.p.ota_0, image(APP_A));
  simulateReboot(r.flash, r.table, BOOT);
  const s = storeOn(r.flash);
  s.create(spec(NEW, 4096, { id: 1, kind: 'app', component: 'app', version: 'coredump' }));
  for (let i = 0; i * 4096 < NEW.length; i++) s.writeChunk(1, i, chunkOf(NEW, 4096, i));
  s.complete(1);
  return r;
}

function engineOn(r: Rig, dev: BlockDevice): OtaEngine {
  return OtaEngine.open(dev, { table: r.table, running: r.p.ota_0, rollback: true, chip: 0, hashes: nodeHashes });
}

function slotBytes(dev: MemoryFlash, off: number, n: number): Uint8Array {
  return dev.bytes.slice(off, off + n);
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

test('install writes the next slot, selects it, and the bootloader model boots it', () => {
  const r = world();
  const s = storeOn(r.flash);
  const res = s.install(1, engineOn(r, r.flash));
  assert.is(res.how, 'written');
  assert.is(res.partition!.label, 'ota_1');
  assert.ok(res.verdict);
  assert.is(s.get(1)!.state, 'installed');
  assert.ok(same(slotBytes(r.flash, r.p.ota_1.offset, NEW.length), NEW));
  const boot = simulateReboot(r.flash.clone(), r.table, BOOT);
  assert.is(boot.label, 'ota_1');
  assert.is(s.install(1, engineOn(r, r.flash)).how, 'already-installed');
});

test('install refusals: kinds without an installer, unverified images, bad app images (marked failed)', () => {
  const r = world();
  const s = storeOn(r.flash);
  const e = engineOn(r, r.flash);
  // Not a detools patch: refused by the delta apply before anything is erased, and marked failed.
  s.create(spec(NEW.subarray(0, 4096), 4096, { id: 2, kind: 'delta' }));
  s.writeChunk(2, 0, NEW.subarray(0, 4096));
  s.complete(2);
  const ota1 = slotBytes(r.flash, r.p.ota_1.offset, 4096);
  assert.ok(errorCode(() => s.install(2, e)).indexOf('DELTA_') === 0);
  assert.is(s.get(2)!.state, 'failed');
  assert.ok(same(slotBytes(r.flash, r.p.ota_1.offset, 4096), ota1), 'nothing erased');
  s.create(spec(NEW.subarray(0, 4096), 4096, { id: 3, kind: 'file-set' }));
  assert.is(errorCode(() => s.install(3, e)), 'STORE_KIND_UNSUPPORTED');
  s.create(spec(NEW.subarray(0, 4096), 4096, { id: 4, kind: 'app' }));
  assert.is(errorCode(() => s.install(4, e)), 'STORE_BAD_STATE');
  assert.is(errorCode(() => s.install(99, e)), 'STORE_NOT_FOUND');
  assert.is(errorCode(() => s.install(1, null as never)), 'STORE_BAD_ARGUMENT');
  // A truncated app image: its hash in the store is right, the engine's verifier refuses it.
  const cut = NEW.slice(0, 8192);
  s.create(spec(cut, 4096, { id: 5, kind: 'app' }));
  s.writeChunk(5, 0, cut.subarray(0, 4096));
  s.writeChunk(5, 1, cut.subarray(4096));
  s.complete(5);
  const code = errorCode(() => s.install(5, e));
  assert.ok(code.indexOf('IMAGE_') === 0, code);
  assert.is(s.get(5)!.state, 'failed');
  // The running app is still selected.
  assert.is(simulateReboot(r.flash.clone(), r.table, BOOT).label, 'ota_0');
});

test('power cut at every flash operation of install: old or new app boots; install() again finishes', () => {
  const r = world();
  const probe = new FaultyFlash(r.flash.clone());
  storeOn(probe).install(1, engineOn(r, probe));
  const total = probe.operations;
  assert.ok(total > 50, `${total} operations`);
  const hows = new Set<string>();
  const modes: FaultMode[] = ['torn-bits', 'interrupted-erase'];
  for (const mode of modes) {
    for (let cut = 0; cut < total; cut++) {
      const dev = new FaultyFlash(r.flash.clone(), { cutAt: cut, mode, seed: cut + 1 });
      try {
        storeOn(dev).install(1, engineOn(r, dev));
      } catch (e) {
        if (!(e instanceof OtaflashError && e.code === 'POWER_LOSS')) throw e;
      }
      const where = `cut ${cut} ${mode}`;
      const after = dev.reboot();
      const boot = simulateReboot(after.clone(), r.table, BOOT);
      const bootedNew = boot.label === 'ota_1';
      assert.ok(boot.label === 'ota_0' || bootedNew, `${where}: booted ${boot.label}`);
      if (bootedNew) assert.ok(same(slotBytes(after, r.p.ota_1.offset, NEW.length), NEW), `${where}: ota_1 boots with other bytes`);
      const s = storeOn(after);
      const st = s.get(1)!.state;
      assert.ok(st === 'verified' || st === 'installing' || (st === 'installed' && bootedNew), `${where}: state ${st}, boots ${boot.label}`);
      const res = s.install(1, engineOn(r, after));
      hows.add(res.how);
      assert.is(storeOn(after).get(1)!.state, 'installed', where);
      const again = simulateReboot(after.clone(), r.table, BOOT);
      assert.is(again.label, 'ota_1', where);
      assert.ok(same(slotBytes(after, r.p.ota_1.offset, NEW.length), NEW), where);
    }
  }
  // Every recovery path was taken somewhere in the sweep.
  for (const h of ['written', 'resumed', 'already-selected']) assert.ok(hows.has(h), `no cut recovered by '${h}': ${[...hows].join(', ')}`);
});

// lzma: the heatshrink decoder's push() flushes its output again in a finally, which (2026-12-07) turns a
// power cut inside the sink into OTA_WRITER_FAILED; reported to the delta apply.
const PATCH = createDeltaPatch(image(APP_A), NEW, { compression: 'lzma', trials: 1 });

/** The store holds the delta package old -> new as image 9, verified. */
function deltaWorld(): Rig {
  const r = rig({ slotSize: 0x40000, size: 0x100000 });
  flashImage(r.flash, r.p.ota_0, image(APP_A));
  simulateReboot(r.flash, r.table, BOOT);
  const s = storeOn(r.flash);
  s.create(spec(PATCH, 1024, { id: 9, kind: 'delta', component: 'app', version: 'coredump' }));
  for (let i = 0; i * 1024 < PATCH.length; i++) s.writeChunk(9, i, chunkOf(PATCH, 1024, i));
  s.complete(9);
  return r;
}

test('a delta package installs through DeltaUpdate: the running app is the old image, the slot gets the new one', () => {
  assert.ok(PATCH.length < NEW.length, `patch of ${PATCH.length} bytes`);
  const r = deltaWorld();
  const s = storeOn(r.flash);
  const res = s.install(9, engineOn(r, r.flash));
  assert.equal([res.how, res.partition!.label], ['written', 'ota_1']);
  assert.ok(same(slotBytes(r.flash, r.p.ota_1.offset, NEW.length), NEW));
  assert.is(simulateReboot(r.flash.clone(), r.table, BOOT).label, 'ota_1');
  assert.is(s.get(9)!.state, 'installed');
});

test('power cut at every flash operation of a delta install: install() again resumes or finishes', () => {
  const r = deltaWorld();
  const probe = new FaultyFlash(r.flash.clone());
  storeOn(probe).install(9, engineOn(r, probe));
  const total = probe.operations;
  const hows = new Set<string>();
  for (let cut = 0; cut < total; cut++) {
    const dev = new FaultyFlash(r.flash.clone(), { cutAt: cut, mode: 'torn-bits', seed: cut + 3 });
    try {
      storeOn(dev).install(9, engineOn(r, dev));
    } catch (e) {
      if (!(e instanceof OtaflashError && e.code === 'POWER_LOSS')) throw e;
    }
    const after = dev.reboot();
    const boot = simulateReboot(after.clone(), r.table, BOOT);
    assert.ok(boot.label === 'ota_0' || (boot.label === 'ota_1' && same(slotBytes(after, r.p.ota_1.offset, NEW.length), NEW)), `cut ${cut}: boots ${boot.label}`);
    hows.add(storeOn(after).install(9, engineOn(r, after)).how);
    assert.is(storeOn(after).get(9)!.state, 'installed', `cut ${cut}`);
    assert.is(simulateReboot(after.clone(), r.table, BOOT).label, 'ota_1', `cut ${cut}`);
    assert.ok(same(slotBytes(after, r.p.ota_1.offset, NEW.length), NEW), `cut ${cut}`);
  }
  for (const h of ['written', 'resumed', 'already-selected']) assert.ok(hows.has(h), `no cut recovered by '${h}': ${[...hows].join(', ')}`);
});

test.run();

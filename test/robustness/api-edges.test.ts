// Wrong argument types from plain-JS callers (undefined, null, negative, NaN, fractions, strings,
// objects) must end as OtaflashError with a stable code, never a TypeError/RangeError or a silent
// coercion (RegionFlash(dev, null, ...) once meant offset 0; a string size was accepted).
import { test } from 'uvu';
import { rig } from '../ota/engine-fixtures';
import { OtaEngine } from '../../src/ota/engine';
import * as assert from 'uvu/assert';
import {
  OtaflashError,
  MemoryFlash,
  RegionFlash,
  decodePartitionTable,
  parsePartitionCsv,
  readPartitionTable,
  createImageVerifier,
  verifyImageOnDevice,
} from '../../src/index';

const BAD: unknown[] = [undefined, null, -1, NaN, 0.5, '16', Infinity, -4096, 2 ** 53, {}];
const show = (v: unknown) => (typeof v === 'string' ? `'${v}'` : v !== null && typeof v === 'object' ? '{}' : String(v));

function refuses(what: string, fn: () => unknown, codes: string[]): void {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof OtaflashError)) return assert.unreachable(`${what}: threw ${(e as Error).name}: ${(e as Error).message}`);
    assert.ok(codes.indexOf(e.code) >= 0, `${what}: code ${e.code}, expected one of ${codes.join(', ')}`);
    return;
  }
  assert.unreachable(`${what}: returned instead of refusing`);
}

const FLASH_CODES = ['FLASH_BAD_ARGUMENT', 'FLASH_OUT_OF_RANGE', 'FLASH_MISALIGNED'];
const GEOMETRY = ['FLASH_BAD_GEOMETRY'];

test('MemoryFlash constructor refuses bad options', () => {
  for (const v of BAD) {
    refuses(`MemoryFlash({size: ${show(v)}})`, () => new MemoryFlash({ size: v as number }), GEOMETRY);
    if (v !== undefined && v !== null) {
      refuses(`MemoryFlash eraseSize ${show(v)}`, () => new MemoryFlash({ size: 65536, eraseSize: v as number }), GEOMETRY);
      refuses(`MemoryFlash writeSize ${show(v)}`, () => new MemoryFlash({ size: 65536, writeSize: v as number }), GEOMETRY);
      refuses(`MemoryFlash eraseValue ${show(v)}`, () => new MemoryFlash({ size: 65536, eraseValue: v as number }), GEOMETRY);
      refuses(`MemoryFlash blockEraseSizes ${show(v)}`, () => new MemoryFlash({ size: 65536, blockEraseSizes: v as number[] }), GEOMETRY);
      if (!(typeof v === 'number' && isNaN(v))) refuses(`MemoryFlash contents ${show(v)}`, () => new MemoryFlash({ size: 65536, contents: v as Uint8Array }), FLASH_CODES);
    }
  }
  refuses('MemoryFlash(undefined)', () => new MemoryFlash(undefined as never), GEOMETRY);
  refuses('MemoryFlash(null)', () => new MemoryFlash(null as never), GEOMETRY);
});

test('MemoryFlash and RegionFlash methods refuse bad offsets, lengths and buffers', () => {
  const m = new MemoryFlash({ size: 65536 });
  const r = new RegionFlash(m, 4096, 8192, 'win');
  for (const dev of [m, r]) {
    const name = dev === m ? 'MemoryFlash' : 'RegionFlash';
    for (const v of BAD) {
      refuses(`${name}.read(${show(v)}, buf)`, () => dev.read(v as number, new Uint8Array(4)), FLASH_CODES);
      refuses(`${name}.write(${show(v)}, data)`, () => dev.write(v as number, new Uint8Array(4)), FLASH_CODES);
      refuses(`${name}.erase(${show(v)}, 4096)`, () => dev.erase(v as number, 4096), FLASH_CODES);
      refuses(`${name}.erase(0, ${show(v)})`, () => dev.erase(0, v as number), FLASH_CODES);
      if (!(typeof v === 'object' && v !== null)) {
        refuses(`${name}.read(0, ${show(v)})`, () => dev.read(0, v as Uint8Array), FLASH_CODES);
        refuses(`${name}.write(0, ${show(v)})`, () => dev.write(0, v as Uint8Array), FLASH_CODES);
      }
    }
  }
  // A refused call changed nothing.
  assert.ok(m.bytes.every((b) => b === 0xff), 'a refused call wrote to the flash');
});

test('RegionFlash constructor refuses bad parents, offsets and sizes (no coercion of null or strings)', () => {
  const m = new MemoryFlash({ size: 65536 });
  for (const v of BAD) {
    refuses(`RegionFlash(dev, ${show(v)}, 4096)`, () => new RegionFlash(m, v as number, 4096), FLASH_CODES);
    refuses(`RegionFlash(dev, 0, ${show(v)})`, () => new RegionFlash(m, 0, v as number), FLASH_CODES);
  }
  refuses('RegionFlash(undefined, 0, 4096)', () => new RegionFlash(undefined as never, 0, 4096), FLASH_CODES);
  refuses('RegionFlash(null, 0, 4096)', () => new RegionFlash(null as never, 0, 4096), FLASH_CODES);
});

test('decoders and verifiers refuse inputs that are not bytes', () => {
  const m = new MemoryFlash({ size: 65536 });
  for (const v of [undefined, null, 16, {}]) {
    refuses(`decodePartitionTable(${show(v)})`, () => decodePartitionTable(v as Uint8Array), ['PARTITION_BAD_ARGUMENT']);
    refuses(`parsePartitionCsv(${show(v)})`, () => parsePartitionCsv(v as string), ['PARTITION_BAD_ARGUMENT']);
    refuses(`readPartitionTable(${show(v)})`, () => readPartitionTable(v as never), FLASH_CODES);
    refuses(`verifier.update(${show(v)})`, () => createImageVerifier().update(v as Uint8Array), ['IMAGE_BAD_ARGUMENT']);
  }
  for (const v of [-1, 0, 0.5, NaN, Infinity, 2 ** 53, '4096']) {
    refuses(`verifyImageOnDevice chunkSize ${show(v)}`, () => verifyImageOnDevice(m, { chunkSize: v as number }), ['IMAGE_BAD_ARGUMENT']);
  }
  for (const v of [-1, NaN, '0x8000', 0.5]) {
    refuses(`readPartitionTable(dev, ${show(v)})`, () => readPartitionTable(m, v as number), FLASH_CODES);
  }
});

test('OtaEngine methods refuse arguments that are not partitions, options or budgets', () => {
  const r = rig({ factory: true });
  const engine = OtaEngine.open(r.flash, { table: r.table });
  const before = r.flash.snapshot();
  const NOT_PARTS: unknown[] = [null, 'ota_0', 0, {}, { label: 'ota_0' }];
  for (const v of NOT_PARTS) {
    refuses(`slotState(${show(v)})`, () => engine.slotState(v as never), ['OTA_BAD_ARGUMENT']);
    // null is a valid start for nextUpdatePartition (no running app: the first slot).
    if (v !== null) refuses(`nextUpdatePartition(${show(v)})`, () => engine.nextUpdatePartition(v as never), ['OTA_BAD_ARGUMENT']);
    refuses(`setBootPartition(${show(v)})`, () => engine.setBootPartition(v as never), ['OTA_BAD_ARGUMENT']);
    if (v !== null) refuses(`begin(${show(v)})`, () => engine.begin(v as never), ['OTA_BAD_ARGUMENT']);
  }
  refuses('setBootPartition(undefined)', () => engine.setBootPartition(undefined as never), ['OTA_BAD_ARGUMENT']);
  for (const o of [null, 'fast', 7]) {
    refuses(`begin(undefined, ${show(o)})`, () => engine.begin(undefined, o as never), ['OTA_BAD_ARGUMENT']);
    refuses(`resume(${show(o)})`, () => engine.resume(o as never), ['OTA_BAD_ARGUMENT']);
    refuses(`setBootPartition(ota_0, ${show(o)})`, () => engine.setBootPartition(r.p.ota_0, o as never), ['OTA_BAD_ARGUMENT']);
  }
  // Nothing above may have touched the flash.
  const after = r.flash.snapshot();
  const a = new Uint8Array(r.flash.size);
  r.flash.read(0, a);
  r.flash.restore(before);
  const b = new Uint8Array(r.flash.size);
  r.flash.read(0, b);
  r.flash.restore(after);
  assert.ok(a.every((x, i) => x === b[i]), 'a refused call changed the flash');

  const w = engine.begin(undefined, { maxEraseBytesPerStep: 4096 });
  for (const v of [NaN, -1, 0, '4096', {}, null]) {
    refuses(`eraseStep(${show(v)})`, () => w.eraseStep(v as never), ['OTA_BAD_ARGUMENT']);
  }
  assert.ok(w.isOpen, 'a refused eraseStep budget must not end the update');
  assert.ok(w.eraseStep(Infinity) === 0);
  w.abort();
});

test('OtaEngine.open refuses options of the wrong type instead of a TypeError later or a silently truthy value', () => {
  const r = rig({ factory: true });
  const cases: Array<[string, unknown]> = [
    ["options 'x'", 'x'],
    ['options null', null],
    ['table {}', { table: {} }],
    ['table null', { table: null }],
    ['hashes {}', { table: r.table, hashes: {} }],
    ["rollback 'no'", { table: r.table, rollback: 'no' }],
    ['antiRollback 1', { table: r.table, antiRollback: 1 }],
    ["efuseSecureVersion '2'", { table: r.table, efuseSecureVersion: '2' }],
    ['efuseSecureVersion -1', { table: r.table, efuseSecureVersion: -1 }],
    ["chip 'esp32'", { table: r.table, chip: 'esp32' }],
    ['running {}', { table: r.table, running: {} }],
    ["variant 'v7'", { table: r.table, variant: 'v7' }],
  ];
  for (const [what, opts] of cases) refuses(`OtaEngine.open(${what})`, () => OtaEngine.open(r.flash, opts as never), ['OTA_BAD_ARGUMENT']);
  // The good spellings still work.
  assert.is(OtaEngine.open(r.flash, { table: r.table, rollback: false, chip: 0, efuseSecureVersion: 0 }).rollback, false);
});

test.run();

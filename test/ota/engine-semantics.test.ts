// The app-side OTA API semantics of docs/formats.md §4.9-§4.11, one rule per test: rollbackPossible,
// markValid / markInvalidAndRollback refusals, set-boot anti-rollback, next update partition.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { OtaEngine } from '../../src/ota/engine';
import { decideBoot } from '../../src/ota/bootloader';
import { OTA_STATE, encodeOtadata, isOtaEntryCrcOk, makeOtaEntry } from '../../src/formats/otadata';
import { buildAppImage, parseAppImage } from '../../src/formats/app-image';
import type { Partition, PartitionTable } from '../../src/formats/partition-types';
import { MemoryFlash } from '../../src/flash/memory';
import { APP_A, APP_B, OTADATA_AT, equalBytes, flashImage, image, otadataEntries, rig, type Rig } from './engine-fixtures';
import { errorCode } from '../helpers';

const ESP32 = 0;

const code = errorCode;

function withSecureVersion(rel: string, sv: number): Uint8Array {
  const a = parseAppImage(image(rel));
  return buildAppImage({ segments: a.segments, header: a.header, appDesc: { ...a.appDesc!, secureVersion: sv } });
}

function setOtadata(r: Rig, s0: [number, number] | null, s1: [number, number] | null): void {
  const blank = { ...makeOtaEntry(0xffffffff, OTA_STATE.UNDEFINED), crc: 0xffffffff };
  const e0 = s0 ? makeOtaEntry(s0[0], s0[1]) : blank;
  const e1 = s1 ? makeOtaEntry(s1[0], s1[1]) : blank;
  r.flash.erase(OTADATA_AT, 0x2000);
  r.flash.write(OTADATA_AT, encodeOtadata([e0, e1]));
}

function corrupt(r: Rig, p: Partition): void {
  // A byte inside segment data: the checksum and the appended hash both fail.
  const at = p.offset + 0x200;
  const b = new Uint8Array(1);
  r.flash.read(at, b);
  r.flash.poke(at, new Uint8Array([b[0] ^ 0x5a]));
}

/** ota_0 = APP_A (seq 1, VALID), ota_1 = APP_B (seq 2, VALID, running). */
function twoApps(opts: { factory?: boolean; svA?: number; svB?: number } = {}): Rig {
  const r = rig({ factory: opts.factory });
  flashImage(r.flash, r.p.ota_0, opts.svA === undefined ? image(APP_A) : withSecureVersion(APP_A, opts.svA));
  flashImage(r.flash, r.p.ota_1, opts.svB === undefined ? image(APP_B) : withSecureVersion(APP_B, opts.svB));
  if (opts.factory) flashImage(r.flash, r.p.factory, image(APP_A));
  setOtadata(r, [1, OTA_STATE.VALID], [2, OTA_STATE.VALID]);
  return r;
}

test('rollbackPossible: the other entry is valid and its image verifies', () => {
  const r = twoApps();
  const e = OtaEngine.open(r.flash, { chip: ESP32 });
  assert.is(e.running!.label, 'ota_1');
  assert.ok(e.rollbackPossible());
  assert.is(e.rollbackTarget()!.label, 'ota_0');
  corrupt(r, r.p.ota_0);
  assert.not.ok(OtaEngine.open(r.flash, { chip: ESP32 }).rollbackPossible(), 'the other slot no longer verifies');
});

test('rollbackPossible: the other entry INVALID/ABORTED or blank does not count', () => {
  for (const s of [OTA_STATE.INVALID, OTA_STATE.ABORTED]) {
    const r = twoApps();
    setOtadata(r, [1, s], [2, OTA_STATE.VALID]);
    assert.not.ok(OtaEngine.open(r.flash, { chip: ESP32 }).rollbackPossible(), `state ${s}`);
  }
  const r = twoApps();
  setOtadata(r, null, [2, OTA_STATE.VALID]);
  assert.not.ok(OtaEngine.open(r.flash, { chip: ESP32 }).rollbackPossible(), 'blank other sector');
});

test('rollbackPossible: a verifying factory app counts without anti-rollback, never with it', () => {
  const r = twoApps({ factory: true });
  setOtadata(r, null, [2, OTA_STATE.VALID]);
  assert.ok(OtaEngine.open(r.flash, { chip: ESP32 }).rollbackPossible(), 'factory is the rollback target');
  assert.not.ok(OtaEngine.open(r.flash, { chip: ESP32, antiRollback: true }).rollbackPossible(), 'anti-rollback: factory does not count');
  corrupt(r, r.p.factory);
  assert.not.ok(OtaEngine.open(r.flash, { chip: ESP32 }).rollbackPossible(), 'a corrupt factory does not count');
});

test('rollbackPossible with anti-rollback: the other image must have secure_version >= the eFuse value', () => {
  const r = twoApps({ svA: 1, svB: 3 });
  assert.not.ok(OtaEngine.open(r.flash, { chip: ESP32, antiRollback: true, efuseSecureVersion: 2 }).rollbackPossible());
  assert.ok(OtaEngine.open(r.flash, { chip: ESP32, antiRollback: true, efuseSecureVersion: 1 }).rollbackPossible());
  assert.ok(OtaEngine.open(r.flash, { chip: ESP32, antiRollback: false, efuseSecureVersion: 2 }).rollbackPossible(), 'without anti-rollback the version is not looked at');
});

test('markInvalidAndRollback: ROLLBACK_FAILED leaves otadata untouched; otherwise the active entry becomes INVALID in place and the other app boots', () => {
  const r = twoApps();
  corrupt(r, r.p.ota_0);
  const before = r.flash.bytes.slice(OTADATA_AT, OTADATA_AT + 0x2000);
  assert.is(code(() => OtaEngine.open(r.flash, { chip: ESP32 }).markInvalidAndRollback()), 'OTA_ROLLBACK_FAILED');
  assert.ok(equalBytes(r.flash.bytes.subarray(OTADATA_AT, OTADATA_AT + 0x2000), before));
  const ok = twoApps();
  OtaEngine.open(ok.flash, { chip: ESP32 }).markInvalidAndRollback();
  const ent = otadataEntries(ok.flash);
  assert.is(ent[1].seq, 2);
  assert.is(ent[1].state, OTA_STATE.INVALID);
  assert.is(ent[0].state, OTA_STATE.VALID);
  assert.is(OtaEngine.open(ok.flash, { chip: ESP32 }).bootPartition()!.label, 'ota_0');
});

test('markValid with no active entry: OTA_RUNNING_FACTORY (ESP-IDF: "Running firmware is factory")', () => {
  const r = rig({ factory: true });
  flashImage(r.flash, r.p.factory, image(APP_A));
  const e = OtaEngine.open(r.flash, { chip: ESP32 });
  assert.is(e.running!.label, 'factory');
  assert.is(code(() => e.markValid()), 'OTA_RUNNING_FACTORY');
});

test('markValid when otadata selects another slot than the running app: refused, nothing written', () => {
  const r = twoApps();
  setOtadata(r, [1, OTA_STATE.VALID], [2, OTA_STATE.PENDING_VERIFY]);
  const before = r.flash.bytes.slice(OTADATA_AT, OTADATA_AT + 0x2000);
  // The device fell back to ota_0 (say ota_1 failed to load): confirming would confirm ota_1.
  const e = OtaEngine.open(r.flash, { chip: ESP32, running: r.p.ota_0 });
  assert.is(code(() => e.markValid()), 'OTA_SELECT_INFO_INVALID');
  assert.ok(equalBytes(r.flash.bytes.subarray(OTADATA_AT, OTADATA_AT + 0x2000), before));
});

test('setBootPartition with anti-rollback: a target below the eFuse secure_version is refused and otadata is unchanged', () => {
  const r = twoApps({ svA: 1, svB: 3 });
  const before = r.flash.bytes.slice(OTADATA_AT, OTADATA_AT + 0x2000);
  const e = OtaEngine.open(r.flash, { chip: ESP32, antiRollback: true, efuseSecureVersion: 2 });
  assert.is(code(() => e.setBootPartition(r.p.ota_0)), 'OTA_SMALL_SEC_VER');
  assert.ok(equalBytes(r.flash.bytes.subarray(OTADATA_AT, OTADATA_AT + 0x2000), before));
  // Without anti-rollback the same selection goes through.
  OtaEngine.open(r.flash, { chip: ESP32 }).setBootPartition(r.p.ota_0);
  assert.is(OtaEngine.open(r.flash, { chip: ESP32 }).bootPartition()!.label, 'ota_0');
});

test('nextUpdatePartition walks ota_0..ota_15 by subtype, skipping missing ones, whatever the table order; factory/test start at the first', () => {
  const parts: Partition[] = [
    { label: 'otadata', type: 1, subtype: 0, offset: 0xd000, size: 0x2000, flags: 0 },
    { label: 'factory', type: 0, subtype: 0x00, offset: 0x10000, size: 0x10000, flags: 0 },
    { label: 'ota_5', type: 0, subtype: 0x15, offset: 0x20000, size: 0x10000, flags: 0 },
    { label: 'ota_0', type: 0, subtype: 0x10, offset: 0x30000, size: 0x10000, flags: 0 },
    { label: 'ota_2', type: 0, subtype: 0x12, offset: 0x40000, size: 0x10000, flags: 0 },
    { label: 'test', type: 0, subtype: 0x20, offset: 0x50000, size: 0x10000, flags: 0 },
  ];
  const table: PartitionTable = { partitions: parts, md5: null };
  const e = OtaEngine.open(new MemoryFlash({ size: 0x100000 }), { table });
  const by = (l: string) => parts.find((p) => p.label === l)!;
  assert.is(e.nextUpdatePartition(by('ota_0')).label, 'ota_2');
  assert.is(e.nextUpdatePartition(by('ota_2')).label, 'ota_5');
  assert.is(e.nextUpdatePartition(by('ota_5')).label, 'ota_0');
  assert.is(e.nextUpdatePartition(by('factory')).label, 'ota_0');
  assert.is(e.nextUpdatePartition(by('test')).label, 'ota_0');
  assert.is(e.running!.label, 'factory', 'blank otadata: the default app is the factory');
  assert.is(e.nextUpdatePartition().label, 'ota_0');
});

test('markValid with anti-rollback reports the confirmed secure_version once it is on flash (where a device raises the eFuse)', () => {
  // ota_1 (secure_version 3) selected as PENDING_VERIFY: the first boot of a new app.
  const r = twoApps({ svA: 1, svB: 3 });
  setOtadata(r, [1, OTA_STATE.VALID], [2, OTA_STATE.PENDING_VERIFY]);
  const seen: Array<{ v: number; state: number | null }> = [];
  const e = OtaEngine.open(r.flash, {
    chip: ESP32,
    antiRollback: true,
    efuseSecureVersion: 1,
    onSecureVersionConfirmed: (v) => seen.push({ v, state: OtaEngine.open(r.flash, { chip: ESP32 }).slotState(r.p.ota_1) }),
  });
  e.markValid();
  assert.equal(seen, [{ v: 3, state: OTA_STATE.VALID }], 'reported once, after the VALID state landed');
  e.markValid();
  assert.is(seen.length, 1, 'an already confirmed app is not reported again');

  // Not above the eFuse value, or anti-rollback off: nothing to raise.
  for (const opts of [{ antiRollback: true, efuseSecureVersion: 3 }, { antiRollback: false, efuseSecureVersion: 0 }]) {
    const r2 = twoApps({ svA: 1, svB: 3 });
    setOtadata(r2, [1, OTA_STATE.VALID], [2, OTA_STATE.PENDING_VERIFY]);
    const got: number[] = [];
    OtaEngine.open(r2.flash, { chip: ESP32, ...opts, onSecureVersionConfirmed: (v) => got.push(v) }).markValid();
    assert.equal(got, [], JSON.stringify(opts));
  }
});

test('markValid on a trusted app whose previous app was factory leaves no second entry for it: a later rollback reaches factory', () => {
  // ota_1 selected without rollback (state UNDEFINED), nothing else in otadata: the previous app is factory.
  const r = twoApps({ factory: true });
  setOtadata(r, [2, OTA_STATE.UNDEFINED], null);
  const boots = () => decideBoot(r.flash, r.table, { rollback: true, chip: ESP32 }).label;
  assert.is(boots(), 'ota_1');
  OtaEngine.open(r.flash, { chip: ESP32 }).markValid();
  assert.is(boots(), 'ota_1');
  const [a, b] = otadataEntries(r.flash);
  const naming = [a, b].filter((x) => x.seq !== 0xffffffff && isOtaEntryCrcOk(x) && (x.seq - 1) % 2 === 1);
  assert.is(naming.length, 1, `entries naming ota_1 after markValid: ${JSON.stringify([a, b].map((x) => [x.seq, x.state, x.crc]))}`);
  const e = OtaEngine.open(r.flash, { chip: ESP32 });
  assert.ok(e.rollbackPossible());
  assert.is(e.rollbackTarget()!.label, 'factory');
  e.markInvalidAndRollback();
  assert.is(boots(), 'factory');
});

test('markInvalidAndRollback also retires a second valid entry for the running slot (written by older versions or a torn erase)', () => {
  const r = twoApps({ factory: true });
  setOtadata(r, [2, OTA_STATE.VALID], [4, OTA_STATE.VALID]); // both name ota_1
  const boots = () => decideBoot(r.flash, r.table, { rollback: true, chip: ESP32 }).label;
  assert.is(boots(), 'ota_1');
  OtaEngine.open(r.flash, { chip: ESP32 }).markInvalidAndRollback();
  assert.is(boots(), 'factory');
});

test('rollbackTarget is null (and markInvalidAndRollback refuses) when the other entry is valid but its app fails, even with a factory app', () => {
  // As esp_ota_check_rollback_is_possible: factory counts only when the other entry is not valid.
  const r = twoApps({ factory: true });
  corrupt(r, r.p.ota_0);
  const e = OtaEngine.open(r.flash, { chip: ESP32 });
  assert.is(e.running!.label, 'ota_1');
  assert.is(e.rollbackTarget(), null);
  assert.not.ok(e.rollbackPossible());
  const before = r.flash.bytes.slice(OTADATA_AT, OTADATA_AT + 0x2000);
  assert.is(code(() => e.markInvalidAndRollback()), 'OTA_ROLLBACK_FAILED');
  assert.ok(equalBytes(r.flash.bytes.subarray(OTADATA_AT, OTADATA_AT + 0x2000), before), 'otadata untouched');
  // Had it gone ahead, the bootloader would try ota_0, fail, and fall back to the rejected ota_1.
  assert.is(decideBoot(r.flash, r.table, { rollback: true, chip: ESP32 }).label, 'ota_1');
});

test('after a bootloader fallback the default running app is unknown: begin() refuses to erase a bootable slot instead of guessing', () => {
  // ota_1 is selected but its image is broken: the bootloader falls back to ota_0, which runs.
  const r = twoApps();
  corrupt(r, r.p.ota_1);
  assert.is(decideBoot(r.flash, r.table, { rollback: false, chip: ESP32 }).label, 'ota_0');
  const before = r.flash.bytes.slice();
  const guessing = OtaEngine.open(r.flash, { chip: ESP32, rollback: false });
  assert.is(guessing.running!.label, 'ota_1', 'the default is the otadata selection');
  assert.is(code(() => guessing.begin()), 'OTA_RUNNING_UNKNOWN');
  assert.ok(equalBytes(r.flash.bytes, before), 'nothing was erased or written');
  // Told what runs, the engine updates the broken slot.
  const w = OtaEngine.open(r.flash, { chip: ESP32, rollback: false, running: r.p.ota_0 }).begin();
  assert.is(w.partition.label, 'ota_1');
  w.abort();
});

test.run();

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { applyBootWrites, decideBoot, simulateReboot, type BootOptions } from '../../src/ota/bootloader';
import { OTA_STATE, decodeOtadata, encodeOtadata, makeOtaEntry, nextBootEntry, otaStateName, readOtadata, writeOtaEntry, type OtaSelectEntry } from '../../src/formats/otadata';
import { MemoryFlash } from '../../src/flash/memory';
import { RegionFlash } from '../../src/flash/region';
import { decodePartitionTable, encodePartitionTable } from '../../src/formats/partition-table';
import type { Partition, PartitionTable } from '../../src/formats/partition-types';
import { OtaflashError } from '../../src/errors';
import { FAULT_MODES, FaultyFlash, countFlashOperations } from '../../src/flash/faults';
import { seededRandom } from '../../src/flash/rng';

const VECTORS = fileURLToPath(new URL('../fixtures/', import.meta.url));
if (!fs.existsSync(VECTORS)) throw new Error(`conformance vectors missing: ${VECTORS} (the repository's test/fixtures folder)`);
const OTADATA_DIR = VECTORS + 'otadata/';
const cases = JSON.parse(fs.readFileSync(OTADATA_DIR + 'cases.json', 'utf8'));
const image = (rel: string) => new Uint8Array(fs.readFileSync(VECTORS + 'app-images/' + rel));

const OTADATA_AT = 0xd000;
const APP_BASE = 0x10000;

interface Layout { table: PartitionTable; flash: MemoryFlash; otadata: RegionFlash; byLabel: Record<string, Partition> }

/** nvs, otadata, optional factory, then N OTA slots of `slotSize`; the table is also written at 0x8000. */
function layout(n: number, factory: boolean, slotSize = 0x10000, extra: Partition[] = []): Layout {
  const parts: Partition[] = [
    { label: 'nvs', type: 1, subtype: 2, offset: 0x9000, size: 0x4000, flags: 0 },
    { label: 'otadata', type: 1, subtype: 0, offset: OTADATA_AT, size: 0x2000, flags: 0 },
  ];
  let at = APP_BASE;
  if (factory) { parts.push({ label: 'factory', type: 0, subtype: 0, offset: at, size: slotSize, flags: 0 }); at += slotSize; }
  for (let i = 0; i < n; i++) { parts.push({ label: `ota_${i}`, type: 0, subtype: 0x10 + i, offset: at, size: slotSize, flags: 0 }); at += slotSize; }
  for (const p of extra) parts.push(p);
  const table: PartitionTable = { partitions: parts, md5: null };
  const flash = new MemoryFlash({ size: Math.max(at, ...extra.map((p) => p.offset + p.size)) });
  flash.write(0x8000, encodePartitionTable(table));
  const byLabel: Record<string, Partition> = {};
  for (const p of parts) byLabel[p.label] = p;
  return { table, flash, otadata: new RegionFlash(flash, OTADATA_AT, 0x2000, 'otadata'), byLabel };
}

function putImage(l: Layout, label: string, bytes: Uint8Array): void {
  const p = l.byLabel[label];
  l.flash.erase(p.offset, p.size);
  l.flash.write(p.offset, bytes);
}

function setEntries(l: Layout, e0: OtaSelectEntry, e1: OtaSelectEntry): void {
  l.flash.erase(OTADATA_AT, 0x2000);
  l.flash.write(OTADATA_AT, encodeOtadata([e0, e1]));
}

const EMPTY = () => decodeOtadata(new Uint8Array(0x2000).fill(0xff))[0];

let rows = 0;
for (const c of cases.cases) {
  test(`cases.json ${c.file}: every expected[] row (verifyImages off)`, () => {
    const bytes = new Uint8Array(fs.readFileSync(OTADATA_DIR + c.file));
    assert.is(c.expected.length, 12);
    for (const row of c.expected) {
      const where = `${c.file} N=${row.ota_app_count} factory=${row.has_factory} rollback=${row.rollback_enabled}`;
      const l = layout(row.ota_app_count, row.has_factory);
      l.flash.write(OTADATA_AT, bytes);
      const opts: BootOptions = { rollback: row.rollback_enabled, verifyImages: false };
      const d = decideBoot(l.flash, l.table, opts);
      assert.is(d.label, row.boot, `${where}: boot`);
      assert.is(d.activeSector, row.active_sector, `${where}: active_sector`);
      const wantState = row.active_state_after_boot === undefined ? null : row.active_state_after_boot;
      assert.is(d.activeStateAfterBoot === null ? null : otaStateName(d.activeStateAfterBoot), wantState, `${where}: active_state_after_boot`);
      assert.equal(
        d.writes.map((w) => ({ sector: w.sector, ota_seq: w.entry.seq, ota_state: otaStateName(w.entry.state) })),
        row.otadata_writes.map((w: { sector: number; ota_seq: number; ota_state: string }) => ({ sector: w.sector, ota_seq: w.ota_seq, ota_state: w.ota_state })),
        `${where}: otadata_writes`,
      );
      // decideBoot is pure: the flash is untouched until the writes are applied.
      assert.ok(Buffer.from(l.flash.bytes.subarray(OTADATA_AT, OTADATA_AT + 0x2000)).equals(Buffer.from(bytes)), `${where}: decideBoot wrote`);
      applyBootWrites(l.flash, l.table, d);
      const after = readOtadata(l.otadata);
      for (const w of d.writes) {
        assert.is(after[w.sector].seq, w.entry.seq, `${where}: applied seq`);
        assert.is(after[w.sector].state, w.entry.state, `${where}: applied state`);
        assert.is(after[w.sector].crc, w.entry.crc, `${where}: applied crc (kept, or fresh for the initial write)`);
      }
      // The rewritten state must lead to the same boot next time (ESP-IDF reaches a fixed point within one
      // reboot unless the app runs): the boot target never changes on its own without rollback.
      const again = decideBoot(l.flash, l.table, opts);
      if (!row.rollback_enabled) assert.is(again.label, row.boot, `${where}: second boot`);
      rows++;
    }
  });
}

test('all 168 expected[] rows were checked', () => {
  assert.is(rows, cases.cases.reduce((n: number, c: { expected: unknown[] }) => n + c.expected.length, 0));
  assert.is(rows, 168);
});

test('rollback scenario: set boot (NEW) -> boot (PENDING_VERIFY) -> no confirm -> boot previous (ABORTED)', () => {
  const l = layout(2, false);
  const opts: BootOptions = { rollback: true, verifyImages: false };
  let d = simulateReboot(l.flash, l.table, opts);
  assert.is(d.label, 'ota_0');
  assert.equal(readOtadata(l.otadata)[0].seq, 1);
  const up = nextBootEntry(readOtadata(l.otadata), 1, 2, { variant: 'idf_v6', rollback: true });
  writeOtaEntry(l.otadata, up.sector, up.entry);
  d = simulateReboot(l.flash, l.table, opts);
  assert.is(d.label, 'ota_1');
  assert.is(d.activeStateAfterBoot, OTA_STATE.PENDING_VERIFY);
  d = simulateReboot(l.flash, l.table, opts);
  assert.is(d.label, 'ota_0', 'rolled back');
  assert.is(readOtadata(l.otadata)[1].state, OTA_STATE.ABORTED);
  d = simulateReboot(l.flash, l.table, opts);
  assert.is(d.label, 'ota_0', 'stays rolled back');
  assert.is(d.writes.length, 0);
  // With confirmation (the app rewrites its entry VALID) it stays on the new slot.
  const up2 = nextBootEntry(readOtadata(l.otadata), 1, 2, { variant: 'idf_v6', rollback: true });
  writeOtaEntry(l.otadata, up2.sector, up2.entry);
  assert.is(simulateReboot(l.flash, l.table, opts).label, 'ota_1');
  const now = readOtadata(l.otadata);
  writeOtaEntry(l.otadata, up2.sector, { ...now[up2.sector], state: OTA_STATE.VALID });
  for (let i = 0; i < 3; i++) assert.is(simulateReboot(l.flash, l.table, opts).label, 'ota_1');
});

test('both entries PENDING_VERIFY: both are aborted, the older one included', () => {
  const l = layout(3, true);
  setEntries(l, makeOtaEntry(1, OTA_STATE.PENDING_VERIFY), makeOtaEntry(2, OTA_STATE.PENDING_VERIFY));
  const d = decideBoot(l.flash, l.table, { rollback: true, verifyImages: false });
  assert.equal(d.writes.map((w) => [w.sector, w.entry.state]), [[0, OTA_STATE.ABORTED], [1, OTA_STATE.ABORTED]]);
  assert.is(d.label, 'factory');
});

test('a PENDING_VERIFY entry with a bad CRC is still aborted, then the blank-like state writes seq 1', () => {
  const l = layout(2, false);
  setEntries(l, { ...makeOtaEntry(2, OTA_STATE.PENDING_VERIFY), crc: 0x1234 }, EMPTY());
  const d = simulateReboot(l.flash, l.table, { rollback: true, verifyImages: false });
  assert.equal(d.writes.map((w) => [w.sector, w.entry.seq, w.entry.state]), [[0, 2, OTA_STATE.ABORTED], [0, 1, OTA_STATE.VALID]]);
  assert.is(d.label, 'ota_0');
  assert.equal(readOtadata(l.otadata)[0], makeOtaEntry(1, OTA_STATE.VALID));
});

test('both CRCs bad with live seqs: active -1, no factory -> try from ota_0, and no rewrite', () => {
  const l = layout(2, false);
  setEntries(l, { ...makeOtaEntry(2, 2), crc: 1 }, { ...makeOtaEntry(3, 2), crc: 1 });
  const d = decideBoot(l.flash, l.table, { verifyImages: false });
  assert.is(d.label, 'ota_0');
  assert.is(d.activeSector, null);
  assert.is(d.writes.length, 0);
});

test('no otadata partition: factory, else ota_0; no OTA partitions: factory', () => {
  const l = layout(2, true);
  const noOtadata: PartitionTable = { partitions: l.table.partitions.filter((p) => p.label !== 'otadata'), md5: null };
  assert.is(decideBoot(l.flash, noOtadata, { verifyImages: false }).label, 'factory');
  const noFactory: PartitionTable = { partitions: noOtadata.partitions.filter((p) => p.label !== 'factory'), md5: null };
  assert.is(decideBoot(l.flash, noFactory, { verifyImages: false }).label, 'ota_0');
  const onlyFactory: PartitionTable = { partitions: l.table.partitions.filter((p) => !p.label.startsWith('ota_')), md5: null };
  setEntries(l, makeOtaEntry(5, 2), EMPTY());
  assert.is(decideBoot(l.flash, onlyFactory, { verifyImages: false }).label, 'factory');
});

test('an otadata partition below 0x2000 bytes: nothing boots (the bootloader resets)', () => {
  const l = layout(2, true);
  const small: PartitionTable = { partitions: l.table.partitions.map((p) => (p.label === 'otadata' ? { ...p, size: 0x1000 } : p)), md5: null };
  const d = decideBoot(l.flash, small, { verifyImages: false });
  assert.is(d.boot, null);
  assert.match(d.reason, /0x1000/);
});

test('bootloader N counts every OTA subtype, with gaps: seq 2 with ota_0 + ota_2 maps to the missing ota_1 and falls back', () => {
  const l = layout(1, false, 0x10000, [{ label: 'ota_2', type: 0, subtype: 0x12, offset: 0x20000, size: 0x10000, flags: 0 }]);
  setEntries(l, makeOtaEntry(2, OTA_STATE.UNDEFINED), EMPTY());
  const d = decideBoot(l.flash, l.table, { verifyImages: false });
  assert.is(d.otaCount, 2);
  assert.is(d.label, 'ota_0', 'slot 1 missing: down to ota_0');
  assert.is(d.activeSector, null, 'not booted from the entry');
});

// ---- real images from test/fixtures/app-images ----

const GOOD = 'esp-serial-flasher/hello_world-esp32.bin';
const GOOD_S3 = 'esp-serial-flasher/hello_world-esp32s3.bin';

test('real images: the selected slot boots when it verifies', () => {
  const l = layout(2, false, 0x40000);
  putImage(l, 'ota_0', image(GOOD));
  putImage(l, 'ota_1', image(GOOD));
  setEntries(l, makeOtaEntry(1, 2), makeOtaEntry(2, 2));
  const d = decideBoot(l.flash, l.table, { chip: 0 });
  assert.is(d.label, 'ota_1');
  assert.equal(d.tried, [{ label: 'ota_1', ok: true }]);
});

test('real images: a corrupt selected image falls back to lower slots first, then higher, then test', () => {
  const corrupt = image('corrupt/blink_esp32s2.hash-byte-flip.bin');
  const l = layout(4, true, 0x40000, [{ label: 'test', type: 0, subtype: 0x20, offset: 0x150000, size: 0x40000, flags: 0 }]);
  // ota_2 selected and corrupt; ota_1 blank; ota_0 blank; factory blank; ota_3 good.
  putImage(l, 'ota_2', corrupt);
  putImage(l, 'ota_3', image(GOOD_S3));
  setEntries(l, makeOtaEntry(3, OTA_STATE.VALID), EMPTY());
  let d = decideBoot(l.flash, l.table, {});
  assert.equal(d.tried.map((t) => t.label), ['ota_2', 'ota_1', 'ota_0', 'factory', 'ota_3']);
  assert.is(d.label, 'ota_3');
  assert.match(d.tried[0].error!, /IMAGE_/);
  assert.is(d.activeSector, null);
  // A chip mismatch is a verification failure too: with an ESP32 bootloader ota_3 (S3) is skipped, test boots.
  putImage(l, 'test', image(GOOD));
  d = decideBoot(l.flash, l.table, { chip: 0 });
  assert.equal(d.tried.map((t) => t.label), ['ota_2', 'ota_1', 'ota_0', 'factory', 'ota_3', 'test']);
  assert.is(d.label, 'test');
  assert.is(d.slot, null);
  // Nothing bootable at all.
  l.flash.erase(l.byLabel.test.offset, l.byLabel.test.size);
  d = decideBoot(l.flash, l.table, { chip: 0 });
  assert.is(d.boot, null);
});

test('real images: blank otadata, no factory, ota_0 corrupt -> ota_1 boots and the initial write says seq 2', () => {
  const l = layout(2, false, 0x40000);
  putImage(l, 'ota_0', image('corrupt/blink_esp32s2.segment-byte-flip.bin'));
  putImage(l, 'ota_1', image(GOOD));
  const d = simulateReboot(l.flash, l.table, {});
  assert.is(d.label, 'ota_1');
  assert.equal(d.writes.map((w) => [w.sector, w.entry.seq, w.entry.state]), [[0, 2, OTA_STATE.VALID]]);
  assert.is(simulateReboot(l.flash, l.table, {}).activeSector, 0);
});

test('checkImage replaces the verifier', () => {
  const l = layout(2, false);
  setEntries(l, makeOtaEntry(2, 2), EMPTY());
  const d = decideBoot(l.flash, l.table, { checkImage: (_r, p) => (p.label === 'ota_1' ? 'refused by test' : null) });
  assert.is(d.label, 'ota_0');
  assert.equal(d.tried[0], { label: 'ota_1', ok: false, error: 'refused by test' });
});

// ---- anti-rollback ----

/** Writes only an app description (magic + secure_version) at image offset 0x20; enough for the eFuse check. */
function putSecureVersion(l: Layout, label: string, version: number): void {
  const p = l.byLabel[label];
  const b = new Uint8Array(0x28).fill(0xff);
  new DataView(b.buffer).setUint32(0x20, 0xabcd5432, true);
  new DataView(b.buffer).setUint32(0x24, version, true);
  l.flash.erase(p.offset, p.size);
  l.flash.write(p.offset, b);
}

test('anti-rollback: an entry whose app has secure_version below the eFuse does not count', () => {
  const l = layout(2, false);
  putSecureVersion(l, 'ota_0', 3);
  putSecureVersion(l, 'ota_1', 1);
  setEntries(l, makeOtaEntry(1, OTA_STATE.VALID), makeOtaEntry(2, OTA_STATE.VALID));
  const base: BootOptions = { antiRollback: true, verifyImages: false };
  let d = decideBoot(l.flash, l.table, { ...base, efuseSecureVersion: 2 });
  assert.is(d.label, 'ota_0');
  assert.is(d.activeSector, 0);
  assert.is(d.efuseSecureVersionAfter, 3, 'booting a VALID entry raises the eFuse');
  d = decideBoot(l.flash, l.table, { ...base, efuseSecureVersion: 1 });
  assert.is(d.label, 'ota_1');
  assert.is(d.efuseSecureVersionAfter, 1);
  d = decideBoot(l.flash, l.table, { ...base, efuseSecureVersion: 0 });
  assert.is(d.efuseSecureVersionAfter, 1, 'raised to the booted app, not the highest one');
  // Without anti-rollback the eFuse is not modelled.
  assert.is(decideBoot(l.flash, l.table, { verifyImages: false }).efuseSecureVersionAfter, null);
  // NEW / PENDING entries do not raise it.
  setEntries(l, makeOtaEntry(1, OTA_STATE.VALID), makeOtaEntry(2, OTA_STATE.NEW));
  putSecureVersion(l, 'ota_1', 5);
  d = decideBoot(l.flash, l.table, { ...base, rollback: true, efuseSecureVersion: 0 });
  assert.is(d.label, 'ota_1');
  assert.is(d.efuseSecureVersionAfter, 0);
});

test('anti-rollback: intact entries whose images are all below the eFuse are named as such, not as bad CRCs', () => {
  const l = layout(2, false);
  putSecureVersion(l, 'ota_0', 1);
  putSecureVersion(l, 'ota_1', 1);
  setEntries(l, makeOtaEntry(1, OTA_STATE.VALID), makeOtaEntry(2, OTA_STATE.VALID));
  const d = decideBoot(l.flash, l.table, { antiRollback: true, verifyImages: false, efuseSecureVersion: 5 });
  assert.match(d.reason, /no acceptable otadata entry \(bad CRCs, or images below the eFuse secure version\)/);
  assert.not.match(d.reason, /no valid otadata entry/);
});

test('anti-rollback: blank otadata boots the first acceptable slot, writes it, and raises the eFuse', () => {
  const l = layout(2, false);
  putSecureVersion(l, 'ota_0', 1);
  putSecureVersion(l, 'ota_1', 4);
  const d = simulateReboot(l.flash, l.table, { antiRollback: true, efuseSecureVersion: 2, verifyImages: false });
  assert.is(d.label, 'ota_1');
  assert.equal(d.tried, [{ label: 'ota_0', ok: false, error: 'secure_version 1 is below the eFuse value 2' }, { label: 'ota_1', ok: true }]);
  assert.equal(d.writes.map((w) => [w.sector, w.entry.seq, w.entry.state]), [[0, 2, OTA_STATE.VALID]]);
  assert.is(d.efuseSecureVersionAfter, 4);
  assert.throws(() => decideBoot(l.flash, l.table, { antiRollback: true, efuseSecureVersion: -1 }), (e: unknown) => e instanceof OtaflashError && e.code === 'BOOT_BAD_OPTION');
});

test('applyBootWrites without an otadata partition is an error, with nothing to write a no-op', () => {
  const l = layout(2, true);
  const d = decideBoot(l.flash, l.table, { verifyImages: false });
  applyBootWrites(l.flash, { partitions: [], md5: null }, d);
  const fake = { ...d, writes: [{ sector: 0 as const, entry: makeOtaEntry(1, 2), why: 'x' }] };
  assert.throws(() => applyBootWrites(l.flash, { partitions: [], md5: null }, fake), (e: unknown) => e instanceof OtaflashError && e.code === 'BOOT_NO_OTADATA');
});

// ---- a real-world otadata next to its partition table (Arduino UNO R4 ESP32-S3 firmware) ----

test('uno-r4 firmware: seq 1 in sector 0 beats the zeroed seq-0 entry in sector 1, app0 (ota_0) boots, no writes', () => {
  const pt = VECTORS + 'partition-tables/';
  const table = decodePartitionTable(new Uint8Array(fs.readFileSync(pt + 'uno-r4-esp32s3-0.6.0.partitions.bin')));
  const flash = new MemoryFlash({ size: 0x400000 });
  flash.write(0x9000, new Uint8Array(fs.readFileSync(pt + 'uno-r4-esp32s3-0.6.0.otadata.bin')));
  for (const rollback of [false, true]) {
    const d = decideBoot(flash, table, { rollback, verifyImages: false });
    assert.is(d.label, 'app0');
    assert.is(d.slot, 0);
    assert.is(d.otaCount, 2);
    assert.is(d.activeSector, 0);
    assert.equal(d.writes, []);
    assert.equal(d.entries!.map((e) => e.seq), [1, 0]);
  }
});

// ---- property: set-boot (nextBootEntry) followed by a reboot lands on the chosen slot ----

/** mulberry32: small seeded PRNG so a failing case can be replayed from its seed. */
const rng = seededRandom;

function randomEntry(r: () => number): OtaSelectEntry {
  const x = r();
  if (x < 0.15) return EMPTY();
  const seq = 1 + Math.floor(r() * 40);
  const states = [OTA_STATE.NEW, OTA_STATE.PENDING_VERIFY, OTA_STATE.VALID, OTA_STATE.INVALID, OTA_STATE.ABORTED, OTA_STATE.UNDEFINED, 7];
  const e = makeOtaEntry(seq, states[Math.floor(r() * states.length)]);
  return r() < 0.15 ? { ...e, crc: (e.crc ^ 0x10) >>> 0 } : e;
}

test('property (seeded): from any otadata, set-boot to slot t then reboot boots ota_t; with rollback, one more reboot without confirm rolls back', () => {
  const seed = Number(process.env.OTAFLASH_SEED ?? 20261122);
  const r = rng(seed);
  let checked = 0;
  let shadowedSeen = 0;
  for (let iter = 0; iter < 400; iter++) {
    const n = 2 + Math.floor(r() * 3);
    const factory = r() < 0.5;
    const rollback = r() < 0.5;
    const variant = r() < 0.5 ? 'idf_v6' as const : 'idf_v5' as const;
    const t = Math.floor(r() * n);
    const e0 = randomEntry(r);
    const e1 = randomEntry(r);
    const where = `seed ${seed} iteration ${iter}: N=${n} factory=${factory} rollback=${rollback} ${variant} target ota_${t} from [${e0.seq}/${e0.state}/${e0.crc.toString(16)}, ${e1.seq}/${e1.state}/${e1.crc.toString(16)}] (replay with OTAFLASH_SEED=${seed})`;
    const l = layout(n, factory);
    setEntries(l, e0, e1);
    const before = decideBoot(l.flash, l.table, { rollback, verifyImages: false });
    const w = nextBootEntry(readOtadata(l.otadata), t, n, { variant, rollback });
    writeOtaEntry(l.otadata, w.sector, w.entry);
    const first = simulateReboot(l.flash, l.table, { rollback, verifyImages: false });
    assert.is(first.label, `ota_${t}`, where);
    if (first.activeSector !== w.sector) {
      // Only possible for idf_v5 re-selecting the running slot: it writes sector 1 with the same seq and
      // sector 0 wins the tie, so the new entry (and its NEW state) is never looked at.
      assert.is(variant, 'idf_v5', where);
      assert.is(w.sector, 1, where);
      assert.is(first.activeSector, 0, where);
      assert.is(first.entries![0].seq, w.entry.seq, where);
      shadowedSeen++;
    } else if (rollback) {
      assert.is(first.activeStateAfterBoot, OTA_STATE.PENDING_VERIFY, where);
      const second = simulateReboot(l.flash, l.table, { rollback, verifyImages: false });
      assert.is(readOtadata(l.otadata)[w.sector].state, OTA_STATE.ABORTED, where);
      // Rolled back: the new entry no longer counts, so the other sector decides, exactly as if the
      // update had never been selected, unless the update overwrote the sector that held the old choice.
      if (w.sector !== before.activeSector && before.activeSector !== null && before.writes.length === 0) {
        assert.is(second.label, before.label, where);
      }
      assert.ok(second.label !== null, where);
    }
    checked++;
  }
  assert.is(checked, 400);
  assert.ok(shadowedSeen > 0, 'the v5 tie case was exercised');
});

// ---- power cuts during the bootloader's own otadata writes ----

test('a power cut in any of the bootloader\'s otadata writes (every vector row with writes, every fault mode) leaves a device that boots what an un-cut or a not-yet-written sector would boot', () => {
  let cuts = 0;
  for (const c of cases.cases) {
    const bytes = new Uint8Array(fs.readFileSync(OTADATA_DIR + c.file));
    for (const row of c.expected) {
      if (row.otadata_writes.length === 0) continue;
      const l = layout(row.ota_app_count, row.has_factory);
      l.flash.write(OTADATA_AT, bytes);
      const opts: BootOptions = { rollback: row.rollback_enabled, verifyImages: false };
      const d = decideBoot(l.flash, l.table, opts);
      // Every state each sector can be in between the writes: old, erased, or any version written to it.
      const old = decodeOtadata(bytes);
      const perSector: OtaSelectEntry[][] = [[old[0], EMPTY()], [old[1], EMPTY()]];
      for (const w of d.writes) perSector[w.sector].push(w.entry);
      const allowed = new Set<string | null>();
      for (const a of perSector[0]) for (const b of perSector[1]) {
        const probe = layout(row.ota_app_count, row.has_factory);
        setEntries(probe, a, b);
        allowed.add(decideBoot(probe.flash, probe.table, opts).label);
      }
      const ops = countFlashOperations(new MemoryFlash({ size: l.flash.size, contents: l.flash.bytes }), (dev) => applyBootWrites(dev, l.table, d));
      // An un-cut run and a cut before the first erase both leave a device that boots the row's choice.
      assert.ok(allowed.has(row.boot));
      assert.is(ops, 2 * d.writes.length, 'one erase and one program per write');
      for (const mode of FAULT_MODES) {
        for (let cut = 0; cut < ops; cut++) {
          for (let seed = 1; seed <= 4; seed++) {
            const start = new MemoryFlash({ size: l.flash.size, contents: l.flash.bytes });
            const f = new FaultyFlash(start, { cutAt: cut, mode, seed });
            assert.throws(() => applyBootWrites(f, l.table, d), (e: unknown) => e instanceof OtaflashError && e.code === 'POWER_LOSS');
            const after = f.reboot();
            const next = decideBoot(after, l.table, opts);
            if (cut === 0 && mode === 'before') {
              assert.equal(after.bytes, l.flash.bytes, 'nothing applied');
              // The bootloader runs again from the same otadata: same boot, same writes.
              assert.is(next.label, row.boot);
              assert.equal(next.writes, d.writes);
            }
            assert.ok(next.boot !== null, `${c.file} ${mode} cut ${cut} seed ${seed}: nothing boots`);
            assert.ok(allowed.has(next.label), `${c.file} N=${row.ota_app_count} factory=${row.has_factory} ${mode} cut ${cut} seed ${seed}: boots ${next.label}, expected one of ${[...allowed].join(', ')}`);
            cuts++;
          }
        }
      }
    }
  }
  assert.ok(cuts > 500, `${cuts} cuts`);
});

test.run();

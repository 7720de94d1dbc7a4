// Regression tests for the bootloader-model classes of disagreement that differential fuzzing
// against ESP-IDF's own bootloader selection code found (issue 12, classes 12 and 13). Expected
// values are the behaviour of ESP-IDF master 102122904a as the issue reports it from running that
// code compiled for the host, and as its source reads:
// - components/bootloader_support/src/bootloader_utility.c: bootloader_utility_load_partition_table
//   counts every app record with subtype 0x10..0x1F in app_count and stores it at ota[subtype & 0xF],
//   so a later record with the same subtype replaces the earlier one; boot_index = (ota_seq - 1) %
//   app_count; index_to_partition returns nothing for an index >= 16; set_actual_ota_seq writes
//   seq index + 1 after a boot from blank otadata.
// - components/efuse/src/esp_efuse_fields.c: esp_efuse_update_secure_version returns
//   ESP_ERR_INVALID_ARG without touching the eFuse when the version exceeds the field size,
//   MIN(CONFIG_BOOTLOADER_APP_SEC_VER_SIZE_EFUSE_FIELD, eFuse field width); esp_efuse_read_secure_version
//   counts the set bits of that many bits, so the value read never exceeds the size.
// - components/bootloader/Kconfig.app_rollback: that CONFIG defaults to 32 on ESP32, 4 on ESP32-C2,
//   9 on ESP32-C5 and 16 on every other target; components/efuse/<chip>/esp_efuse_table.csv gives
//   SECURE_VERSION the same widths (32, 4, 9, 16).
import * as fs from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decideBoot, simulateReboot, type BootOptions } from '../../src/ota/bootloader';
import { OtaEngine } from '../../src/ota/engine';
import { OTA_STATE, encodeOtadata, makeOtaEntry, readOtadata, type OtaSelectEntry } from '../../src/formats/otadata';
import { MemoryFlash } from '../../src/flash/memory';
import { RegionFlash } from '../../src/flash/region';
import { encodePartitionTable } from '../../src/formats/partition-table';
import type { Partition, PartitionTable } from '../../src/formats/partition-types';
import { buildAppImage, parseAppImage } from '../../src/formats/app-image';
import { CHIP_IDS } from '../../src/formats/chips';
import { errorCode } from '../helpers';
import { runInProcess, tempFiles } from '../cli/harness';
import { APP_A, APP_B, OTADATA_AT, flashImage, image, rig } from './engine-fixtures';

const SLOT = 0x10000;

interface Layout { table: PartitionTable; flash: MemoryFlash; byLabel: Record<string, Partition> }

/** nvs, otadata, ota_0..ota_15, then `extra` more OTA app records (subtypes given), the table at 0x8000. */
function manySlots(extraSubtypes: number[]): Layout {
  const parts: Partition[] = [
    { label: 'nvs', type: 1, subtype: 2, offset: 0x9000, size: 0x4000, flags: 0 },
    { label: 'otadata', type: 1, subtype: 0, offset: OTADATA_AT, size: 0x2000, flags: 0 },
  ];
  let at = 0x10000;
  for (let i = 0; i < 16; i++) { parts.push({ label: `ota_${i}`, type: 0, subtype: 0x10 + i, offset: at, size: SLOT, flags: 0 }); at += SLOT; }
  extraSubtypes.forEach((st, i) => { parts.push({ label: `again_${i}_ota_${st - 0x10}`, type: 0, subtype: st, offset: at, size: SLOT, flags: 0 }); at += SLOT; });
  const table: PartitionTable = { partitions: parts, md5: null };
  const flash = new MemoryFlash({ size: at });
  flash.write(0x8000, encodePartitionTable(table));
  const byLabel: Record<string, Partition> = {};
  for (const p of parts) byLabel[p.label] = p;
  return { table, flash, byLabel };
}

const BLANK = (): OtaSelectEntry => ({ ...makeOtaEntry(0xffffffff, OTA_STATE.UNDEFINED), crc: 0xffffffff });

function setEntries(l: { flash: MemoryFlash }, e0: OtaSelectEntry, e1: OtaSelectEntry): void {
  l.flash.erase(OTADATA_AT, 0x2000);
  l.flash.write(OTADATA_AT, encodeOtadata([e0, e1]));
}

const NO_VERIFY: BootOptions = { verifyImages: false };

// ---- class 12: 17 or more OTA app records ----

test('class 12: ota_0..ota_15 plus a second ota_0: app_count 17, the later ota_0 record is slot 0 (seq 1 boots it)', () => {
  const l = manySlots([0x10]);
  setEntries(l, makeOtaEntry(1, OTA_STATE.VALID), BLANK());
  const d = decideBoot(l.flash, l.table, NO_VERIFY);
  assert.is(d.otaCount, 17);
  assert.is(d.label, 'again_0_ota_0', 'the later record with subtype ota_0 wins its index');
  assert.is(d.slot, 0);
  assert.is(d.activeSector, 0);
});

test('class 12: seq 17 maps to index 16, which no partition can fill: the bootloader walks down to ota_15', () => {
  const l = manySlots([0x10]);
  setEntries(l, makeOtaEntry(17, OTA_STATE.VALID), BLANK());
  const d = decideBoot(l.flash, l.table, NO_VERIFY);
  assert.is(d.otaCount, 17);
  assert.is(d.label, 'ota_15');
  assert.is(d.slot, 15);
  assert.is(d.activeSector, null, 'not the slot the entry selects');
  // seq 18 -> (17 % 17) = index 0 -> the later ota_0 record.
  setEntries(l, makeOtaEntry(18, OTA_STATE.VALID), BLANK());
  assert.is(decideBoot(l.flash, l.table, NO_VERIFY).label, 'again_0_ota_0');
});

test('class 12: blank otadata and no factory: index 0 (the later ota_0) boots and sector 0 gets seq 1', () => {
  const l = manySlots([0x10, 0x13]);
  const d = simulateReboot(l.flash, l.table, NO_VERIFY);
  assert.is(d.otaCount, 18);
  assert.is(d.label, 'again_0_ota_0');
  assert.equal(d.writes.map((w) => [w.sector, w.entry.seq, w.entry.state]), [[0, 1, OTA_STATE.VALID]]);
  const after = readOtadata(new RegionFlash(l.flash, OTADATA_AT, 0x2000));
  assert.is(after[0].seq, 1);
  // seq 4 with 18 records: index 3 is the later ota_3 record.
  setEntries(l, makeOtaEntry(4, OTA_STATE.VALID), BLANK());
  assert.is(decideBoot(l.flash, l.table, NO_VERIFY).label, 'again_1_ota_3');
});

test('class 12: anti-rollback and rollback on such a table decide instead of throwing', () => {
  const l = manySlots([0x10]);
  setEntries(l, makeOtaEntry(17, OTA_STATE.NEW), makeOtaEntry(1, OTA_STATE.VALID));
  for (const opts of [{ ...NO_VERIFY, antiRollback: true }, { ...NO_VERIFY, rollback: true }, { ...NO_VERIFY, rollback: true, antiRollback: true }]) {
    assert.is(errorCode(() => decideBoot(l.flash, l.table, opts)), 'no error', JSON.stringify(opts));
  }
});

test('class 12: `otaflash boot` and `otaflash inspect` on a flash image with 17 OTA records answer (exit 0), not OTADATA_BAD_SLOT_COUNT', () => {
  const l = manySlots([0x10]);
  setEntries(l, makeOtaEntry(1, OTA_STATE.VALID), BLANK());
  // An image for the later ota_0 record, so the real image check passes too.
  flashImage(l.flash, l.byLabel.again_0_ota_0, image('esptool/ram_helloworld/helloworld-esp32.bin'));
  const file = tempFiles('otaflash-fuzz12-')('seventeen.bin');
  fs.writeFileSync(file, l.flash.bytes);
  const boot = runInProcess('boot', file, '--json');
  assert.is(boot.code, 0, boot.stderr);
  const j = JSON.parse(boot.stdout);
  assert.is(j.boot, 'again_0_ota_0');
  assert.is(j.otaCount, 17);
  const inspect = runInProcess('inspect', file, '--json');
  assert.is(inspect.code, 0, inspect.stderr);
  assert.is(JSON.parse(inspect.stdout).nextBoot.boot, 'again_0_ota_0');
});

test('class 12: the engine refuses to write to a table whose OTA records the bootloader and the app side count differently (typed error, no crash)', () => {
  const l = manySlots([0x10]);
  setEntries(l, makeOtaEntry(1, OTA_STATE.VALID), BLANK());
  const e = OtaEngine.open(l.flash, { table: l.table, rollback: false });
  assert.is(errorCode(() => e.begin(l.byLabel.ota_1)), 'OTA_TABLE_AMBIGUOUS');
  assert.is(errorCode(() => e.setBootPartition(l.byLabel.ota_1)), 'OTA_TABLE_AMBIGUOUS');
});

// ---- class 13: the eFuse secure version field has a width ----

function putSecureVersion(flash: MemoryFlash, p: Partition, version: number): void {
  const b = new Uint8Array(0x28).fill(0xff);
  new DataView(b.buffer).setUint32(0x20, 0xabcd5432, true);
  new DataView(b.buffer).setUint32(0x24, version, true);
  flash.erase(p.offset, p.size);
  flash.write(p.offset, b);
}

function twoSlots(): Layout {
  const r = rig({ n: 2, slotSize: SLOT, size: 0x40000 });
  return { table: r.table, flash: r.flash, byLabel: r.p };
}

/** Field width per chip: Kconfig.app_rollback defaults, equal to the SECURE_VERSION width in each esp_efuse_table.csv. */
const WIDTH: ReadonlyArray<readonly [string, number]> = [
  ['esp32', 32], ['esp32c2', 4], ['esp32c5', 9], ['esp32s2', 16], ['esp32s3', 16], ['esp32c3', 16], ['esp32c6', 16],
  ['esp32c61', 16], ['esp32h2', 16], ['esp32h21', 16], ['esp32h4', 16], ['esp32p4', 16], ['esp32s31', 16],
];

test('class 13: booting a VALID entry raises the eFuse only to versions that fit the chip\'s field (default width per chip)', () => {
  for (const [chip, width] of WIDTH) {
    const l = twoSlots();
    setEntries(l, makeOtaEntry(1, OTA_STATE.VALID), BLANK());
    const opts: BootOptions = { ...NO_VERIFY, antiRollback: true, chip: CHIP_IDS[chip], efuseSecureVersion: 0 };
    putSecureVersion(l.flash, l.byLabel.ota_0, width);
    assert.is(decideBoot(l.flash, l.table, opts).efuseSecureVersionAfter, width, `${chip}: ${width} fits`);
    if (width < 32) {
      putSecureVersion(l.flash, l.byLabel.ota_0, width + 1);
      const d = decideBoot(l.flash, l.table, opts);
      assert.is(d.label, 'ota_0', `${chip}: the app still boots`);
      assert.is(d.efuseSecureVersionAfter, 0, `${chip}: ${width + 1} does not fit ${width} bits: eFuse left as it is`);
    }
  }
});

test('class 13: an oversized version does not raise the eFuse, so a later app with a small version still boots (no predicted reset loop)', () => {
  const l = twoSlots();
  putSecureVersion(l.flash, l.byLabel.ota_0, 20);
  putSecureVersion(l.flash, l.byLabel.ota_1, 3);
  setEntries(l, makeOtaEntry(1, OTA_STATE.VALID), BLANK());
  const c3: BootOptions = { ...NO_VERIFY, antiRollback: true, chip: CHIP_IDS.esp32c3, efuseSecureVersion: 0 };
  const first = simulateReboot(l.flash, l.table, c3);
  assert.is(first.efuseSecureVersionAfter, 0, 'ESP32-C3 field is 16 bits: 20 is refused');
  setEntries(l, makeOtaEntry(1, OTA_STATE.VALID), makeOtaEntry(2, OTA_STATE.VALID));
  const second = decideBoot(l.flash, l.table, { ...c3, efuseSecureVersion: first.efuseSecureVersionAfter! });
  assert.is(second.label, 'ota_1');
  assert.is(second.activeSector, 1);
  assert.is(second.efuseSecureVersionAfter, 3);
});

test('class 13: blank otadata (set_actual_ota_seq path) honours the width too; efuseSecureVersionBits overrides the default', () => {
  const l = twoSlots();
  putSecureVersion(l.flash, l.byLabel.ota_0, 5);
  const base: BootOptions = { ...NO_VERIFY, antiRollback: true, chip: CHIP_IDS.esp32c2, efuseSecureVersion: 0 };
  assert.is(decideBoot(l.flash, l.table, base).efuseSecureVersionAfter, 0, 'C2: 4 bits');
  assert.is(decideBoot(l.flash, l.table, { ...base, efuseSecureVersionBits: 8 }).efuseSecureVersionAfter, 5, 'CONFIG of 8 bits');
  assert.is(decideBoot(l.flash, l.table, { ...base, chip: CHIP_IDS.esp32, efuseSecureVersionBits: 4 }).efuseSecureVersionAfter, 0, 'CONFIG of 4 bits on ESP32');
});

test('class 13: option checks: the eFuse cannot hold more than its width; the width is 1..32', () => {
  const l = twoSlots();
  const base: BootOptions = { ...NO_VERIFY, antiRollback: true };
  assert.is(errorCode(() => decideBoot(l.flash, l.table, { ...base, chip: CHIP_IDS.esp32c2, efuseSecureVersion: 5 })), 'BOOT_BAD_OPTION');
  for (const bits of [0, 33, 1.5, -1]) {
    assert.is(errorCode(() => decideBoot(l.flash, l.table, { ...base, efuseSecureVersionBits: bits })), 'BOOT_BAD_OPTION', String(bits));
  }
  assert.is(errorCode(() => decideBoot(l.flash, l.table, { ...base, efuseSecureVersionBits: 32, efuseSecureVersion: 0xffffffff })), 'BOOT_BAD_OPTION');
  assert.is(errorCode(() => decideBoot(l.flash, l.table, { ...base, efuseSecureVersionBits: 32, efuseSecureVersion: 32 })), 'no error');
});

function withSecureVersion(rel: string, sv: number): Uint8Array {
  const a = parseAppImage(image(rel));
  return buildAppImage({ segments: a.segments, header: a.header, appDesc: { ...a.appDesc!, secureVersion: sv } });
}

test('class 13: engine: markValid does not report a secure_version the eFuse field cannot hold (esp_ota_set_anti_rollback fails)', () => {
  const make = (svB: number) => {
    const r = rig();
    flashImage(r.flash, r.p.ota_0, withSecureVersion(APP_A, 1));
    flashImage(r.flash, r.p.ota_1, withSecureVersion(APP_B, svB));
    setEntries(r, makeOtaEntry(1, OTA_STATE.VALID), makeOtaEntry(2, OTA_STATE.PENDING_VERIFY));
    return r;
  };
  const seen = (svB: number, opts: { efuseSecureVersionBits?: number }) => {
    const r = make(svB);
    const got: number[] = [];
    OtaEngine.open(r.flash, { chip: CHIP_IDS.esp32, antiRollback: true, efuseSecureVersion: 1, onSecureVersionConfirmed: (v) => got.push(v), ...opts }).markValid();
    return got;
  };
  assert.equal(seen(20, {}), [20], 'ESP32: 32 bits');
  assert.equal(seen(20, { efuseSecureVersionBits: 16 }), [], '16 bits: 20 cannot be written');
  assert.equal(seen(16, { efuseSecureVersionBits: 16 }), [16]);
  assert.is(errorCode(() => OtaEngine.open(make(3).flash, { efuseSecureVersionBits: 0 })), 'OTA_BAD_ARGUMENT');
  assert.is(errorCode(() => OtaEngine.open(make(3).flash, { antiRollback: true, efuseSecureVersionBits: 4, efuseSecureVersion: 5 })), 'OTA_BAD_ARGUMENT');
});

test('class 13: `otaflash boot --anti-rollback --efuse-secure-version-bits N` models the width', () => {
  const r = rig();
  flashImage(r.flash, r.p.ota_0, withSecureVersion(APP_A, 20));
  setEntries(r, makeOtaEntry(1, OTA_STATE.VALID), BLANK());
  const file = tempFiles('otaflash-fuzz13-')('efuse.bin');
  fs.writeFileSync(file, r.flash.bytes);
  const after = (...flags: string[]) => {
    const out = runInProcess('boot', file, '--anti-rollback', '--json', ...flags);
    assert.is(out.code, 0, out.stderr);
    const j = JSON.parse(out.stdout);
    assert.is(j.boot, 'ota_0');
    return j.efuseSecureVersionAfter;
  };
  assert.is(after('--chip', 'esp32'), 20, 'ESP32: 32 bits');
  assert.is(after('--chip', 'esp32', '--efuse-secure-version-bits', '16'), 0, '16 bits: 20 is refused, the eFuse stays');
  assert.is(after('--efuse-secure-version-bits', '20'), 20);
  assert.is(runInProcess('boot', file, '--anti-rollback', '--efuse-secure-version-bits', '33').code, 2);
  assert.is(runInProcess('boot', file, '--anti-rollback', '--efuse-secure-version-bits', '4', '--efuse-secure-version', '5').code, 2);
  assert.is(runInProcess('boot', file, '--efuse-secure-version-bits', '8').code, 2, 'only with --anti-rollback');
});

test.run();

// More wrong arguments from plain-JS callers: boot model, otadata, resume log, partition tables and
// CSV, look-ups, image build/verify and FaultyFlash. Each must end as OtaflashError with the
// module's code, never a TypeError, and never a silent change of meaning (a string flashSize once
// switched the flash-size check off; a string expectedChip was reported as a chip mismatch).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  CHIP_IDS,
  FaultyFlash,
  MemoryFlash,
  OtaflashError,
  buildAppImage,
  createImageVerifier,
  decideBoot,
  encodePartitionTable,
  findPartition,
  findPartitions,
  formatPartitionCsv,
  otaAppSlots,
  parsePartitionCsv,
  partitionRegion,
  portableHashes,
  readOtadata,
  readResumeLog,
  simulateReboot,
  verifyImage,
  verifyImageOnDevice,
  type AppDescription,
} from '../../src/index';
import { startResumeLog } from '../../src/ota/progress-record';

function refuses(what: string, fn: () => unknown, codes: string[]): OtaflashError {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof OtaflashError)) return assert.unreachable(`${what}: threw ${(e as Error).name}: ${(e as Error).message}`) as never;
    assert.ok(codes.indexOf(e.code) >= 0, `${what}: code ${e.code}, expected one of ${codes.join(', ')}`);
    return e;
  }
  return assert.unreachable(`${what}: returned instead of refusing`) as never;
}

const CSV = 'nvs, data, nvs, 0x9000, 0x4000\notadata, data, ota, 0xd000, 0x2000\nota_0, app, ota_0, 0x10000, 0x100000\nota_1, app, ota_1, , 0x100000\n';

test('decideBoot and simulateReboot refuse a missing table and null options', () => {
  const flash = new MemoryFlash({ size: 0x400000 });
  const table = parsePartitionCsv(CSV);
  refuses('decideBoot(flash, null)', () => decideBoot(flash, null as never), ['BOOT_BAD_OPTION']);
  refuses('decideBoot(flash, {})', () => decideBoot(flash, {} as never), ['BOOT_BAD_OPTION']);
  refuses('decideBoot(null, table)', () => decideBoot(null as never, table), ['BOOT_BAD_OPTION']);
  refuses('simulateReboot(flash, table, null)', () => simulateReboot(flash, table, null as never), ['BOOT_BAD_OPTION']);
  refuses('decideBoot chip string', () => decideBoot(flash, table, { chip: 'esp32' as never }), ['BOOT_BAD_OPTION']);
  // undefined options are still the defaults.
  assert.is(decideBoot(flash, table, undefined).otaCount, 2);
});

test('readOtadata refuses a non-device', () => {
  refuses('readOtadata(null)', () => readOtadata(null as never), ['OTADATA_BAD_ARGUMENT']);
  refuses('readOtadata({})', () => readOtadata({} as never), ['OTADATA_BAD_ARGUMENT']);
});

test('readResumeLog without a hash provider uses the default one', () => {
  const flash = new MemoryFlash({ size: 0x2000 });
  const header = { eraseMode: 'sequential' as const, subtype: 0x10, slotOffset: 0x10000, slotSize: 0x100000, size: null, eraseLimit: 0x100000, eraseBudget: null };
  startResumeLog(flash, 1, header, portableHashes);
  const r = readResumeLog(flash, 1);
  assert.ok(r !== null, 'the open log was not read back');
  assert.is(r!.header.slotSize, 0x100000);
});

test('partition table and CSV functions refuse non-tables and bad options', () => {
  const BAD_TABLE = ['PARTITION_BAD_ARGUMENT'];
  refuses('encodePartitionTable(null)', () => encodePartitionTable(null as never), BAD_TABLE);
  refuses('encodePartitionTable({})', () => encodePartitionTable({} as never), BAD_TABLE);
  refuses('encodePartitionTable(table, null)', () => encodePartitionTable(parsePartitionCsv(CSV), null as never), ['PARTITION_BAD_OPTION']);
  refuses('formatPartitionCsv(null)', () => formatPartitionCsv(null as never), BAD_TABLE);
  refuses('formatPartitionCsv(table, null)', () => formatPartitionCsv(parsePartitionCsv(CSV), null as never), ['PARTITION_BAD_OPTION']);
  refuses('parsePartitionCsv(csv, null)', () => parsePartitionCsv(CSV, null as never), ['PARTITION_BAD_OPTION']);
  const e = refuses("flashSize '4MB'", () => parsePartitionCsv(CSV, { flashSize: '4MB' as never }), ['PARTITION_BAD_OPTION']);
  assert.match(e.message, /number of bytes/);
  refuses('flashSize NaN', () => parsePartitionCsv(CSV, { flashSize: NaN }), ['PARTITION_BAD_OPTION']);
  refuses("offset '0x8000'", () => parsePartitionCsv(CSV, { offset: '0x8000' as never }), ['PARTITION_BAD_OPTION']);
  // A numeric flashSize still checks the table end.
  refuses('flashSize too small', () => parsePartitionCsv(CSV, { flashSize: 0x100000 }), ['PARTITION_FLASH_SIZE']);
});

test('partition look-ups refuse non-tables and non-partitions', () => {
  const flash = new MemoryFlash({ size: 0x400000 });
  for (const bad of [null, undefined, {}, 'table', 5]) {
    refuses(`findPartition(${String(bad)}, 'x')`, () => findPartition(bad as never, 'x'), ['PARTITION_BAD_ARGUMENT']);
    refuses(`findPartitions(${String(bad)}, 0)`, () => findPartitions(bad as never, 0), ['PARTITION_BAD_ARGUMENT']);
    refuses(`otaAppSlots(${String(bad)})`, () => otaAppSlots(bad as never), ['PARTITION_BAD_ARGUMENT']);
    refuses(`partitionRegion(flash, ${String(bad)})`, () => partitionRegion(flash, bad as never), ['PARTITION_BAD_ARGUMENT']);
  }
});

const DESC: AppDescription = {
  secureVersion: 0, version: '1', projectName: 'p', time: '00:00:00', date: 'Jan  1 2026', idfVersion: 'v5',
  elfSha256: new Uint8Array(32), minEfuseBlkRevFull: 0, maxEfuseBlkRevFull: 0, mmuPageSizeLog2: 0, spiFlashMode: 0,
};
const SEGMENTS = [{ loadAddress: 0x3f400020, data: new Uint8Array(0x100) }];

test('buildAppImage refuses missing parts and an incomplete app description', () => {
  refuses('buildAppImage({})', () => buildAppImage({} as never), ['IMAGE_BAD_ARGUMENT']);
  refuses('buildAppImage(null)', () => buildAppImage(null as never), ['IMAGE_BAD_ARGUMENT']);
  refuses('buildAppImage segment without data', () => buildAppImage({ segments: [{ loadAddress: 0 } as never] }), ['IMAGE_BAD_ARGUMENT']);
  refuses('buildAppImage appDesc {}', () => buildAppImage({ segments: SEGMENTS, appDesc: {} as never }), ['IMAGE_BAD_ARGUMENT']);
  refuses('buildAppImage appDesc without elfSha256', () => buildAppImage({ segments: SEGMENTS, appDesc: { ...DESC, elfSha256: undefined } as never }), ['IMAGE_BAD_ARGUMENT']);
  assert.ok(buildAppImage({ segments: SEGMENTS, appDesc: DESC }).length > 0);
});

test('verifyImage and createImageVerifier refuse null options and a chip name', () => {
  const img = buildAppImage({ chip: CHIP_IDS.esp32, segments: SEGMENTS, appDesc: DESC });
  refuses('verifyImage(img, null)', () => verifyImage(img, null as never), ['IMAGE_BAD_ARGUMENT']);
  const e = refuses("verifyImage expectedChip 'esp32'", () => verifyImage(img, { expectedChip: 'esp32' as never }), ['IMAGE_BAD_ARGUMENT']);
  assert.match(e.message, /CHIP_IDS/);
  refuses('createImageVerifier(null)', () => createImageVerifier(null as never), ['IMAGE_BAD_ARGUMENT']);
  refuses("createImageVerifier expectedChip 'esp32'", () => createImageVerifier({ expectedChip: 'esp32' as never }), ['IMAGE_BAD_ARGUMENT']);
  refuses("verifyImage maxSize '4096'", () => verifyImage(img, { maxSize: '4096' as never }), ['IMAGE_BAD_ARGUMENT']);
  const flash = new MemoryFlash({ size: 0x10000 });
  refuses('verifyImageOnDevice(flash, null)', () => verifyImageOnDevice(flash, null as never), ['IMAGE_BAD_ARGUMENT']);
  refuses('verifyImageOnDevice(null)', () => verifyImageOnDevice(null as never), ['IMAGE_BAD_ARGUMENT']);
  assert.is(verifyImage(img, { expectedChip: CHIP_IDS.esp32 }).chip, CHIP_IDS.esp32);
});

test('FaultyFlash refuses anything but a MemoryFlash, and null options', () => {
  refuses('new FaultyFlash(null)', () => new FaultyFlash(null as never), ['FAULT_BAD_OPTION']);
  refuses('new FaultyFlash({})', () => new FaultyFlash({} as never), ['FAULT_BAD_OPTION']);
  refuses('new FaultyFlash(flash, null)', () => new FaultyFlash(new MemoryFlash({ size: 0x10000 }), null as never), ['FAULT_BAD_OPTION']);
});

test('readResumeLog refuses a non-device and a sector other than 0 or 1; parsePartitionCsv refuses mistyped boolean, secure, env and onWarning options', () => {
  const region = new MemoryFlash({ size: 0x2000, eraseSize: 0x1000 });
  for (const r of [null, {}, 'otadata']) refuses(`readResumeLog(${JSON.stringify(r)})`, () => readResumeLog(r as never, 0), ['OTA_BAD_ARGUMENT']);
  for (const sector of [2, -1, '1', null]) refuses(`readResumeLog(region, ${JSON.stringify(sector)})`, () => readResumeLog(region, sector as never), ['OTA_BAD_ARGUMENT']);
  assert.is(readResumeLog(region, 1), null);
  const csv = 'nvs, data, nvs, 0x9000, 0x6000,\n';
  const bad: Array<[string, unknown]> = [
    ["verify 'false'", { verify: 'false' }],
    ['disableMd5 1', { disableMd5: 1 }],
    ["secure 'v3'", { secure: 'v3' }],
    ['env null', { env: null }],
    ["onWarning 'x'", { onWarning: 'x' }],
  ];
  for (const [what, opts] of bad) refuses(`parsePartitionCsv(csv, ${what})`, () => parsePartitionCsv(csv, opts as never), ['PARTITION_BAD_OPTION']);
  assert.is(parsePartitionCsv(csv, { verify: false, disableMd5: true, secure: null }).partitions.length, 1);
});

test.run();

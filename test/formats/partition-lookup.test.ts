import * as fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MemoryFlash } from '../../src/flash/memory';
import { parsePartitionCsv } from '../../src/formats/partition-csv';
import {
  bootloaderOtaCount,
  factoryPartition,
  findPartition,
  findPartitions,
  otaAppCount,
  otaAppSlots,
  otadataPartition,
  otaSlotNumber,
  partitionRegion,
  testPartition,
} from '../../src/formats/partition-lookup';
import { decodePartitionTable } from '../../src/formats/partition-table';

const DIR = fileURLToPath(new URL('../fixtures/partition-tables/', import.meta.url));
if (!fs.existsSync(DIR)) throw new Error(`conformance vectors missing: ${DIR} (the repository's test/fixtures folder)`);

test('real OTA layout: otadata, slots in order, counts', () => {
  const t = decodePartitionTable(new Uint8Array(fs.readFileSync(DIR + 'uno-r4-esp32s3-0.6.0.partitions.bin')));
  assert.is(otadataPartition(t)!.offset, 0x9000);
  assert.equal(
    otaAppSlots(t).map((p) => p.label),
    ['app0', 'app1'],
  );
  assert.is(otaAppCount(t), 2);
  assert.is(bootloaderOtaCount(t), 2);
  assert.is(factoryPartition(t), undefined);
  assert.is(findPartition(t, 'nvs')!.offset, 0x3f0000);
  assert.is(findPartition(t, 'NVS'), undefined);
  assert.equal(
    findPartitions(t, 1).map((p) => p.label),
    ['otadata', 'cert', 'spiffs', 'nvs'],
  );
  assert.equal(
    findPartitions(t, 1, 0x82).map((p) => p.label),
    ['spiffs'],
  );
});

test('slots are ordered by subtype, not table order; gaps split app and bootloader counts', () => {
  const t = parsePartitionCsv(
    'otadata,data,ota,,0x2000\nf,app,factory,,1M\ns2,app,ota_2,,1M\ns0,app,ota_0,,1M\nt,app,test,,1M\n',
  );
  const slots = otaAppSlots(t);
  assert.equal(
    slots.map((p) => [p.label, otaSlotNumber(p)]),
    [
      ['s0', 0],
      ['s2', 2],
    ],
  );
  assert.is(otaAppCount(t), 1); // app side stops at the missing ota_1
  assert.is(bootloaderOtaCount(t), 2); // bootloader counts every ota_N present
  assert.is(factoryPartition(t)!.label, 'f');
  assert.is(testPartition(t)!.label, 't');
  assert.is(otaSlotNumber(factoryPartition(t)!), -1);
});

test('sixteen slots', () => {
  const t = decodePartitionTable(new Uint8Array(fs.readFileSync(DIR + 'edge_sixteen_ota.bin')));
  assert.is(otaAppSlots(t).length, 16);
  assert.is(otaAppCount(t), 16);
  assert.is(otaSlotNumber(otaAppSlots(t)[15]), 15);
});

test('partitionRegion is a bounded view of the partition', () => {
  const t = parsePartitionCsv('nvs,data,nvs,,0x6000\nf,app,factory,,1M\n');
  const flash = new MemoryFlash({ size: 0x200000, mode: 'nor' });
  const r = partitionRegion(flash, findPartition(t, 'nvs')!);
  assert.is(r.size, 0x6000);
  r.write(0x10, Uint8Array.of(1, 2, 3));
  assert.equal(Array.from(flash.bytes.subarray(0x9010, 0x9013)), [1, 2, 3]);
  assert.throws(() => r.write(0x6000, Uint8Array.of(0)));
  assert.throws(() => partitionRegion(new MemoryFlash({ size: 0x100000, mode: 'nor' }), findPartition(t, 'f')!));
});

test.run();

import { OtaflashError, kindOf } from '../errors';
import { RegionFlash } from '../flash/region';
import type { BlockDevice } from '../flash/types';
import {
  APP_SUBTYPE_FACTORY,
  APP_SUBTYPE_OTA_0,
  APP_SUBTYPE_TEST,
  DATA_SUBTYPE_OTA,
  PARTITION_TYPE_APP,
  PARTITION_TYPE_DATA,
  type Partition,
  type PartitionTable,
} from './partition-types';

const OTA_SLOT_LIMIT = 16;

/** Plain-JS callers can pass anything: a table must at least carry a partitions array. */
export function isPartitionTable(v: unknown): v is PartitionTable {
  return v !== null && typeof v === 'object' && Array.isArray((v as PartitionTable).partitions);
}

/** A partition as far as addressing goes: numeric offset and size. */
export function isPartition(v: unknown): v is Partition {
  return v !== null && typeof v === 'object' && typeof (v as Partition).offset === 'number' && typeof (v as Partition).size === 'number';
}

export function checkPartitionTable(table: unknown, what: string): asserts table is PartitionTable {
  if (!isPartitionTable(table)) throw new OtaflashError('PARTITION_BAD_ARGUMENT', `${what}: expected a partition table ({ partitions: [...] }), got ${kindOf(table)}`);
}

export function checkPartition(p: unknown, what: string): asserts p is Partition {
  if (!isPartition(p)) throw new OtaflashError('PARTITION_BAD_ARGUMENT', `${what}: expected a partition (with offset and size), got ${kindOf(p)}`);
}

/** First partition with this label (labels are compared exactly, as decoded). */
export function findPartition(table: PartitionTable, label: string): Partition | undefined {
  checkPartitionTable(table, 'findPartition');
  const list = table.partitions;
  for (let i = 0; i < list.length; i++) if (list[i].label === label) return list[i];
  return undefined;
}

/** Partitions of a type (and subtype when given), in table order. */
export function findPartitions(table: PartitionTable, type: number, subtype?: number): Partition[] {
  checkPartitionTable(table, 'findPartitions');
  return table.partitions.filter((p) => p.type === type && (subtype === undefined || p.subtype === subtype));
}

export function isOtaAppPartition(p: Partition): boolean {
  checkPartition(p, 'isOtaAppPartition');
  return p.type === PARTITION_TYPE_APP && p.subtype >= APP_SUBTYPE_OTA_0 && p.subtype < APP_SUBTYPE_OTA_0 + OTA_SLOT_LIMIT;
}

/** Slot number N of an ota_N app partition (subtype - 0x10); -1 for anything else. */
export function otaSlotNumber(p: Partition): number {
  return isOtaAppPartition(p) ? p.subtype - APP_SUBTYPE_OTA_0 : -1;
}

/**
 * The OTA app partitions present, ordered by subtype (the first of each subtype in table order).
 * An array index is not a slot number when slots have gaps: use otaSlotNumber().
 */
export function otaAppSlots(table: PartitionTable): Partition[] {
  checkPartitionTable(table, 'otaAppSlots');
  const bySlot: Array<Partition | undefined> = [];
  const list = table.partitions;
  for (let i = 0; i < list.length; i++) {
    const n = otaSlotNumber(list[i]);
    if (n >= 0 && bySlot[n] === undefined) bySlot[n] = list[i];
  }
  const out: Partition[] = [];
  for (let n = 0; n < OTA_SLOT_LIMIT; n++) {
    const p = bySlot[n];
    if (p !== undefined) out.push(p);
  }
  return out;
}

/** How many slots the app side sees (esp_ota_get_app_partition_count): ota_0, ota_1, ... up to the first gap. */
export function otaAppCount(table: PartitionTable): number {
  const slots = otaAppSlots(table);
  let n = 0;
  while (n < slots.length && otaSlotNumber(slots[n]) === n) n++;
  return n;
}

/** How many slots the bootloader sees: every app partition with subtype 0x10..0x1F, counted as listed. */
export function bootloaderOtaCount(table: PartitionTable): number {
  checkPartitionTable(table, 'bootloaderOtaCount');
  let n = 0;
  const list = table.partitions;
  for (let i = 0; i < list.length; i++) if (isOtaAppPartition(list[i])) n++;
  return n;
}

/** The otadata partition (data/ota), if any. */
export function otadataPartition(table: PartitionTable): Partition | undefined {
  return findPartitions(table, PARTITION_TYPE_DATA, DATA_SUBTYPE_OTA)[0];
}

export function factoryPartition(table: PartitionTable): Partition | undefined {
  return findPartitions(table, PARTITION_TYPE_APP, APP_SUBTYPE_FACTORY)[0];
}

export function testPartition(table: PartitionTable): Partition | undefined {
  return findPartitions(table, PARTITION_TYPE_APP, APP_SUBTYPE_TEST)[0];
}

/** The partition as a device of its own, addressed from 0 (FLASH_OUT_OF_RANGE if it does not fit). */
export function partitionRegion(device: BlockDevice, p: Partition): RegionFlash {
  checkPartition(p, 'partitionRegion');
  return new RegionFlash(device, p.offset, p.size, p.label);
}

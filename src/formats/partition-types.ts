/** One partition-table record as a frozen value. */
export interface Partition {
  /** Label as decoded (UTF-8, up to the first NUL, at most 16 bytes). */
  readonly label: string;
  readonly type: number;
  readonly subtype: number;
  /** Absolute flash address. */
  readonly offset: number;
  readonly size: number;
  /** Bit field: PARTITION_FLAG_ENCRYPTED | PARTITION_FLAG_READONLY (other bits kept as read). */
  readonly flags: number;
}

export interface PartitionTable {
  readonly partitions: readonly Partition[];
  /** The MD5 digest stored in (or to be written to) the table, or null when the table has no MD5 record. */
  readonly md5: Uint8Array | null;
}

export const PARTITION_TYPE_APP = 0x00;
export const PARTITION_TYPE_DATA = 0x01;
export const PARTITION_TYPE_BOOTLOADER = 0x02;
export const PARTITION_TYPE_PARTITION_TABLE = 0x03;

export const APP_SUBTYPE_FACTORY = 0x00;
export const APP_SUBTYPE_OTA_0 = 0x10;
export const APP_SUBTYPE_TEST = 0x20;
export const DATA_SUBTYPE_OTA = 0x00;
export const DATA_SUBTYPE_NVS = 0x02;

export const PARTITION_FLAG_ENCRYPTED = 0x1;
export const PARTITION_FLAG_READONLY = 0x2;

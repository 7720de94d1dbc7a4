// ESP chip identities as they appear in the app image's extended header (esp_chip_id_t).

/**
 * Chip name -> `chip_id` header value: every value of ESP-IDF's esp_chip_id_t
 * (components/bootloader_support/include/esp_app_format.h) and every IMAGE_CHIP_ID of esptool 5.x
 * (esptool/targets/*.py; ESP32-E22 is esptool's only). `esp8266` is not a header value: ESP8266
 * images have no extended header at all, so otaflash uses -1 to name that image format.
 */
export const CHIP_IDS: Readonly<Record<string, number>> = {
  esp8266: -1,
  esp32: 0x0000,
  esp32s2: 0x0002,
  esp32c3: 0x0005,
  esp32s3: 0x0009,
  esp32c2: 0x000c,
  esp32c6: 0x000d,
  esp32h2: 0x0010,
  esp32p4: 0x0012,
  esp32c61: 0x0014,
  esp32c5: 0x0017,
  esp32h21: 0x0019,
  esp32h4: 0x001c,
  esp32e22: 0x001f,
  esp32s31: 0x0020,
};

/** The pseudo chip id otaflash gives ESP8266 images (they carry none). */
export const ESP8266_CHIP = -1;

/** `chip_id` 0xFFFF means "invalid" in esp_chip_id_t. */
export const INVALID_CHIP_ID = 0xffff;

/** True when `id` names a chip of the table (an ESP32-family header value, not the ESP8266 pseudo id). */
export function isKnownChipId(id: number): boolean {
  if (id === ESP8266_CHIP) return false;
  for (const key in CHIP_IDS) if (CHIP_IDS[key] === id) return true;
  return false;
}

/** Display name in esptool's style ("ESP32-C3"), or "unknown chip 0x..." for ids no table knows. */
export function chipName(id: number): string {
  for (const key in CHIP_IDS) {
    if (CHIP_IDS[key] === id) return key === 'esp8266' || key === 'esp32' ? key.toUpperCase() : 'ESP32-' + key.slice(5).toUpperCase();
  }
  return 'unknown chip 0x' + (id >>> 0).toString(16);
}

/**
 * Chip id for a name: accepts "esp32c3", "ESP32-C3", "esp32_c3" and plain numbers ("5", "0x5").
 * Returns undefined for names it does not know.
 */
export function chipIdFromName(name: string): number | undefined {
  const t = name.trim().toLowerCase();
  if (/^(0x[0-9a-f]+|\d+)$/.test(t)) return parseInt(t, t.indexOf('0x') === 0 ? 16 : 10);
  const key = t.replace(/[-_ ]/g, '');
  return Object.prototype.hasOwnProperty.call(CHIP_IDS, key) ? CHIP_IDS[key] : undefined;
}

/**
 * Where a chip maps flash into its address space through the cache MMU, for the bootloader's
 * segment check: a segment whose load address lies in `windows` must sit in flash at the same
 * offset modulo the MMU page as its load address.
 */
export interface ChipFlashMapping {
  /** [start, end) address windows mapped from flash (instruction and data). */
  readonly windows: ReadonlyArray<readonly [number, number]>;
  /** MMU page sizes (bytes) the chip can be built with, smallest first. */
  readonly pageSizes: readonly number[];
}

const K = 1024;
const FIXED_64K = [64 * K];
const PAGES_16K_UP = [16 * K, 32 * K, 64 * K];
const PAGES_8K_UP = [8 * K, 16 * K, 32 * K, 64 * K];
const C6_FAMILY: ChipFlashMapping = { windows: [[0x42000000, 0x43000000]], pageSizes: PAGES_8K_UP };

// Windows are the part both esptool's elf2image (which places such segments) and the ESP-IDF
// bootloader (which checks them) treat as flash-mapped, so no image esptool built correctly is
// refused. Chips whose ranges could not be confirmed (ESP32-C61, ESP32-H4, ...) are not checked;
// where the page size is configurable and the image does not say, the smallest page is used,
// which is the weakest check and never refuses a correct image.
const FLASH_MAPPINGS: Readonly<Record<number, ChipFlashMapping>> = {
  0x0000: { windows: [[0x400d0000, 0x40400000], [0x3f400000, 0x3f800000]], pageSizes: FIXED_64K }, // ESP32
  0x0002: { windows: [[0x40080000, 0x40800000], [0x3f000000, 0x3f3f0000]], pageSizes: FIXED_64K }, // ESP32-S2
  0x0005: { windows: [[0x42000000, 0x42800000], [0x3c000000, 0x3c800000]], pageSizes: FIXED_64K }, // ESP32-C3
  0x0009: { windows: [[0x42000000, 0x44000000], [0x3c000000, 0x3d000000]], pageSizes: FIXED_64K }, // ESP32-S3
  0x000c: { windows: [[0x42000000, 0x42400000], [0x3c000000, 0x3c400000]], pageSizes: PAGES_16K_UP }, // ESP32-C2
  0x000d: C6_FAMILY, // ESP32-C6
  0x0010: C6_FAMILY, // ESP32-H2
  0x0019: C6_FAMILY, // ESP32-H21
  0x0012: { windows: [[0x40000000, 0x44000000]], pageSizes: FIXED_64K }, // ESP32-P4
  0x0017: { windows: [[0x42000000, 0x43000000]], pageSizes: PAGES_8K_UP }, // ESP32-C5
};

/** The flash mapping the bootloader checks segments against, or undefined when otaflash does not know the chip's. */
export function chipFlashMapping(chipId: number): ChipFlashMapping | undefined {
  return Object.prototype.hasOwnProperty.call(FLASH_MAPPINGS, chipId) ? FLASH_MAPPINGS[chipId] : undefined;
}

/**
 * The MMU page the bootloader's check uses: the page the app's description names (mmu_page_size,
 * log2; v5.4+) when the chip offers it, else the smallest the chip offers, the weakest check,
 * which never refuses an image built for a larger page.
 */
export function mappingPageSize(mapping: ChipFlashMapping, mmuPageSizeLog2?: number): number {
  if (mmuPageSizeLog2 !== undefined && mmuPageSizeLog2 >= 13 && mmuPageSizeLog2 <= 16) {
    const own = 1 << mmuPageSizeLog2;
    if (mapping.pageSizes.indexOf(own) >= 0) return own;
  }
  return mapping.pageSizes[0];
}

/**
 * Index of the first non-empty segment loaded at a flash-mapped address whose data does not sit
 * at the same offset modulo `page` in flash (image at `flashOffset`), or -1 when all agree.
 */
export function firstMisalignedSegment(
  mapping: ChipFlashMapping,
  page: number,
  segments: ReadonlyArray<{ readonly loadAddress: number; readonly length: number; readonly dataOffset: number }>,
  flashOffset: number,
): number {
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i];
    if (s.length > 0 && isFlashMapped(mapping, s.loadAddress) && (flashOffset + s.dataOffset) % page !== s.loadAddress % page) return i;
  }
  return -1;
}

/** True when `address` is inside one of the mapping's flash windows. */
export function isFlashMapped(mapping: ChipFlashMapping, address: number): boolean {
  for (let i = 0; i < mapping.windows.length; i++) {
    const w = mapping.windows[i];
    if (address >= w[0] && address < w[1]) return true;
  }
  return false;
}

/**
 * Bits of the eFuse field that holds the anti-rollback secure version, per chip: what
 * esp_efuse_update_secure_version can write and esp_efuse_read_secure_version can count. ESP-IDF
 * takes MIN(CONFIG_BOOTLOADER_APP_SEC_VER_SIZE_EFUSE_FIELD, SECURE_VERSION width); the CONFIG
 * defaults (components/bootloader/Kconfig.app_rollback) equal the field widths of each chip's
 * esp_efuse_table.csv: 32 on ESP32, 4 on ESP32-C2, 9 on ESP32-C5, 16 on every other target.
 */
const SECURE_VERSION_BITS: Readonly<Record<number, number>> = { 0x0000: 32, 0x000c: 4, 0x0017: 9 };
/** ESP-IDF targets with the common 16-bit field (esp_chip_id_t values other than the three above). */
const SECURE_VERSION_16_BIT = [0x0002, 0x0005, 0x0009, 0x000d, 0x0010, 0x0012, 0x0014, 0x0019, 0x001c, 0x0020];

/**
 * The default width (bits) of the eFuse secure version field for `chipId`. A chip ESP-IDF does not
 * support (or none given) gets 32, the widest field any chip has: the model then never refuses a
 * version some chip could store. Pass an explicit width to model a narrower CONFIG.
 */
export function defaultSecureVersionBits(chipId?: number): number {
  if (chipId === undefined) return 32;
  if (Object.prototype.hasOwnProperty.call(SECURE_VERSION_BITS, chipId)) return SECURE_VERSION_BITS[chipId];
  return SECURE_VERSION_16_BIT.indexOf(chipId) >= 0 ? 16 : 32;
}

// esp_app_desc_t and esp_bootloader_desc_t <-> values.
import { u32, putU32 } from './bytes';
import { APP_DESC_MAGIC, APP_DESC_SIZE, BOOTLOADER_DESC_MAGIC, BOOTLOADER_DESC_SIZE, type AppDescription, type BootloaderDescription } from './app-image-types';
import { utf8DecodeLossy, utf8Encode } from './utf8';

/** A fixed-size C string field: up to the first NUL (the whole field when it has none). */
function cString(b: Uint8Array, off: number, len: number): string {
  let end = off;
  while (end < off + len && b[end] !== 0) end++;
  return utf8DecodeLossy(b.subarray(off, end));
}

function putCString(b: Uint8Array, off: number, len: number, s: string): void {
  const bytes = utf8Encode(s);
  // The build keeps one NUL in each field; longer values are cut, as IDF's strncpy does.
  b.set(bytes.subarray(0, len - 1), off);
}

/**
 * Decodes the 256 bytes of an esp_app_desc_t; null when the magic word is not there (esptool then
 * prints no application information, and neither do we).
 */
export function decodeAppDescription(b: Uint8Array): AppDescription | null {
  if (b.length < APP_DESC_SIZE || u32(b, 0) !== APP_DESC_MAGIC) return null;
  return {
    secureVersion: u32(b, 4),
    version: cString(b, 16, 32),
    projectName: cString(b, 48, 32),
    time: cString(b, 80, 16),
    date: cString(b, 96, 16),
    idfVersion: cString(b, 112, 32),
    elfSha256: b.slice(144, 176),
    minEfuseBlkRevFull: b[176] | (b[177] << 8),
    maxEfuseBlkRevFull: b[178] | (b[179] << 8),
    mmuPageSizeLog2: b[180],
    spiFlashMode: b[181],
    ...(allZero(b, 8, 16) && allZero(b, 182, 256) ? {} : { reserved: { at8: b.slice(8, 16), at182: b.slice(182, 184), at184: b.slice(184, 256) } }),
  };
}

function allZero(b: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (b[i] !== 0) return false;
  return true;
}

/** The 256 bytes of an esp_app_desc_t for `d` (reserved bytes zero). */
export function encodeAppDescription(d: AppDescription): Uint8Array {
  const b = new Uint8Array(APP_DESC_SIZE);
  putU32(b, 0, APP_DESC_MAGIC);
  putU32(b, 4, d.secureVersion);
  putCString(b, 16, 32, d.version);
  putCString(b, 48, 32, d.projectName);
  putCString(b, 80, 16, d.time);
  putCString(b, 96, 16, d.date);
  putCString(b, 112, 32, d.idfVersion);
  b.set(d.elfSha256.subarray(0, 32), 144);
  b[176] = d.minEfuseBlkRevFull & 0xff;
  b[177] = (d.minEfuseBlkRevFull >>> 8) & 0xff;
  b[178] = d.maxEfuseBlkRevFull & 0xff;
  b[179] = (d.maxEfuseBlkRevFull >>> 8) & 0xff;
  b[180] = d.mmuPageSizeLog2;
  b[181] = d.spiFlashMode;
  if (d.reserved) {
    b.set(d.reserved.at8.subarray(0, 8), 8);
    b.set(d.reserved.at182.subarray(0, 2), 182);
    b.set(d.reserved.at184.subarray(0, 72), 184);
  }
  return b;
}

/** Decodes an esp_bootloader_desc_t (80 bytes, magic byte 0x50); null when absent. */
export function decodeBootloaderDescription(b: Uint8Array): BootloaderDescription | null {
  if (b.length < BOOTLOADER_DESC_SIZE || b[0] !== BOOTLOADER_DESC_MAGIC) return null;
  return {
    secureVersion: b[3],
    version: u32(b, 4),
    idfVersion: cString(b, 8, 32),
    dateTime: cString(b, 40, 24),
  };
}

// esp_image_header_t <-> ImageHeader, and telling the ESP8266 layout from the ESP32 one.
import { OtaflashError, hex } from '../errors';
import { ESP8266_CHIP, isKnownChipId } from './chips';
import { ESP8266_HEADER_SIZE, IMAGE_HEADER_SIZE, IMAGE_MAGIC, type ImageHeader } from './app-image-types';
import { putU16, putU32, u16, u32 } from './bytes';

/**
 * Whether a 24-byte header is read with the ESP32-family layout when the chip is not given. ESP8266
 * images have only the 8-byte common header (bytes 8..23 are already segment data), so the layout
 * has to be guessed, and otaflash guesses as esptool's image_info does (esptool 5.x,
 * `_parse_image_info_header`): hash_appended (byte 23) is 0 or 1 and the low byte of chip_id
 * (byte 12) is a chip it knows. Anything else is read as ESP8266, so an image for a chip nobody
 * knows is never taken for a valid ESP32-family one. The reserved bytes 19..22 play no part: a
 * newer header may use them, and esptool keeps the ESP32 layout whatever they hold.
 */
export function looksLikeExtendedHeader(h: Uint8Array): boolean {
  return h.length >= IMAGE_HEADER_SIZE && h[23] <= 1 && isKnownChipId(h[12]);
}

/**
 * Decodes the header at the start of `bytes` (24 bytes, or 8 when `format` is 'esp8266').
 * Checks the magic (IMAGE_BAD_MAGIC); nothing else, so callers decide their own policies.
 */
export function decodeImageHeader(bytes: Uint8Array, format: 'esp32' | 'esp8266'): ImageHeader {
  const need = format === 'esp8266' ? ESP8266_HEADER_SIZE : IMAGE_HEADER_SIZE;
  if (bytes.length < need) {
    throw new OtaflashError('IMAGE_TRUNCATED', `image ends at byte ${bytes.length}, inside its ${need}-byte header`, { offset: bytes.length });
  }
  if (bytes[0] !== IMAGE_MAGIC) {
    throw new OtaflashError('IMAGE_BAD_MAGIC', `not an ESP image: byte 0 is ${hex(bytes[0])}, expected 0xe9`, { offset: 0, found: bytes[0] });
  }
  const common = {
    magic: bytes[0],
    segmentCount: bytes[1],
    flashMode: bytes[2],
    flashFreq: bytes[3] & 0x0f,
    flashSize: bytes[3] >> 4,
    entry: u32(bytes, 4),
  };
  if (format === 'esp8266') {
    return {
      format,
      ...common,
      wpPin: 0,
      spiPinDrv: [0, 0, 0],
      chipId: ESP8266_CHIP,
      minChipRev: 0,
      minChipRevFull: 0,
      maxChipRevFull: 0,
      reserved: [0, 0, 0, 0],
      hashAppendedByte: 0,
    };
  }
  return {
    format,
    ...common,
    wpPin: bytes[8],
    spiPinDrv: [bytes[9], bytes[10], bytes[11]],
    chipId: u16(bytes, 12),
    minChipRev: bytes[14],
    minChipRevFull: u16(bytes, 15),
    maxChipRevFull: u16(bytes, 17),
    reserved: [bytes[19], bytes[20], bytes[21], bytes[22]],
    hashAppendedByte: bytes[23],
  };
}

/** The header bytes for `h` (24, or 8 for ESP8266). */
export function encodeImageHeader(h: ImageHeader): Uint8Array {
  const out = new Uint8Array(h.format === 'esp8266' ? ESP8266_HEADER_SIZE : IMAGE_HEADER_SIZE);
  out[0] = h.magic;
  out[1] = h.segmentCount;
  out[2] = h.flashMode;
  out[3] = ((h.flashSize & 0x0f) << 4) | (h.flashFreq & 0x0f);
  putU32(out, 4, h.entry);
  if (h.format === 'esp8266') return out;
  out[8] = h.wpPin;
  out[9] = h.spiPinDrv[0];
  out[10] = h.spiPinDrv[1];
  out[11] = h.spiPinDrv[2];
  putU16(out, 12, h.chipId);
  out[14] = h.minChipRev;
  putU16(out, 15, h.minChipRevFull);
  putU16(out, 17, h.maxChipRevFull);
  out[19] = h.reserved[0];
  out[20] = h.reserved[1];
  out[21] = h.reserved[2];
  out[22] = h.reserved[3];
  out[23] = h.hashAppendedByte;
  return out;
}

const FLASH_MODES = ['QIO', 'QOUT', 'DIO', 'DOUT', 'FAST_READ', 'SLOW_READ'];
const FLASH_SIZES = ['1MB', '2MB', '4MB', '8MB', '16MB', '32MB', '64MB', '128MB'];

export function flashModeName(mode: number): string {
  return FLASH_MODES[mode] ?? 'unknown (' + mode + ')';
}

export function flashSizeName(size: number, format: 'esp32' | 'esp8266' = 'esp32'): string {
  // ESP8266 numbers its sizes differently: 0 512KB, 1 256KB, 2 1MB, 3 2MB, 4 4MB, 8 8MB, 9 16MB.
  if (format === 'esp8266') {
    const m: Record<number, string> = { 0: '512KB', 1: '256KB', 2: '1MB', 3: '2MB', 4: '4MB', 5: '2MB-c1', 6: '4MB-c1', 8: '8MB', 9: '16MB' };
    return m[size] ?? 'unknown (' + size + ')';
  }
  return FLASH_SIZES[size] ?? 'unknown (' + size + ')';
}

/** Chip revision "v2.55" from major * 100 + minor. */
export function chipRevisionName(full: number): string {
  return 'v' + Math.floor(full / 100) + '.' + (full % 100);
}

// ESP chip identities as they appear in the app image's extended header (esp_chip_id_t).

/**
 * Chip name -> `chip_id` header value. `esp8266` is not a header value: ESP8266 images have no
 * extended header at all, so otaflash uses -1 to name that image format.
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
  esp32s31: 0x0020,
};

/** The pseudo chip id otaflash gives ESP8266 images (they carry none). */
export const ESP8266_CHIP = -1;

/** `chip_id` 0xFFFF means "invalid" in esp_chip_id_t. */
export const INVALID_CHIP_ID = 0xffff;

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

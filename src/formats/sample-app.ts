// A small, deterministic ESP32 app image for simulations and demos that need firmware without a
// build: one DRAM segment of pseudo-random, firmware-like bytes and an app description.
import { buildAppImage } from './app-image';
import type { HashProvider } from '../hash/types';
import { defaultHashes } from '../hash/portable';

/** A small ESP32 app image (one DRAM segment, an app description with `version`), `size` bytes of segment data. */
export function sampleAppImage(version: string, size = 8 * 1024, hashes: HashProvider = defaultHashes(), projectName = 'otaflash-sample'): Uint8Array {
  const data = new Uint8Array(size);
  let x = 0x2545f491;
  for (let i = 0; i < version.length; i++) x = Math.imul(x ^ version.charCodeAt(i), 0x01000193);
  for (let i = 256; i < data.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    // Firmware is mostly code and tables: a skewed byte distribution, so deflate has something to do.
    data[i] = (x & 0x3f) < 40 ? 0 : x & 0xff;
  }
  return buildAppImage({
    chip: 0,
    entry: 0x40080000,
    segments: [{ loadAddress: 0x3ffb0000, data }],
    appDesc: {
      secureVersion: 0,
      version,
      projectName,
      time: '00:00:00',
      date: 'Jan  1 2026',
      idfVersion: 'v5.3',
      elfSha256: new Uint8Array(32),
      minEfuseBlkRevFull: 0,
      maxEfuseBlkRevFull: 0,
      mmuPageSizeLog2: 0,
      spiFlashMode: 0,
    },
    hashes,
  });
}

// Shared set-up of the engine tests: a 4 MiB flash with a real partition table and real app images.
import * as fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MemoryFlash } from '../../src/flash/memory';
import type { BlockDevice } from '../../src/flash/types';
import { encodePartitionTable } from '../../src/formats/partition-table';
import type { Partition, PartitionTable } from '../../src/formats/partition-types';
import { readOtadata, type OtaSelectEntry } from '../../src/formats/otadata';
import { RegionFlash } from '../../src/flash/region';

const VECTORS = fileURLToPath(new URL('../fixtures/', import.meta.url));
if (!fs.existsSync(VECTORS)) throw new Error(`conformance vectors missing: ${VECTORS} (the repository's test/fixtures folder)`);

export function image(rel: string): Uint8Array {
  return new Uint8Array(fs.readFileSync(VECTORS + 'app-images/' + rel));
}

export const MANIFEST: { files: { file: string; esptool: { chip_id: number | null; hash_appended: boolean | null; hash: { valid: boolean } | null; checksum: { valid: boolean } | null; app_desc: { secure_version: number } | null } }[] } =
  JSON.parse(fs.readFileSync(VECTORS + 'app-images/manifest.json', 'utf8'));

/** esptool's verdict on a vector: valid checksum and (when appended) valid hash. */
export function esptoolSaysValid(rel: string): boolean {
  const f = MANIFEST.files.find((x) => x.file === rel);
  if (!f) throw new Error(`${rel} is not in manifest.json`);
  const e = f.esptool;
  return !!e.checksum && e.checksum.valid && (e.hash_appended !== true || (e.hash !== null && e.hash.valid));
}

// Two ESP32 apps with an appended SHA-256 that esptool calls valid (checked in a test below).
export const APP_A = 'esp-serial-flasher/hello_world-esp32.bin';
export const APP_B = 'elf2image/coredump-app-esp32.bin';
export const APP_NOHASH = 'elf2image/coredump-app-esp32.nohash.bin';

export const OTADATA_AT = 0xd000;

export interface Rig {
  flash: MemoryFlash;
  table: PartitionTable;
  p: Record<string, Partition>;
}

/** nvs, otadata, phy, [factory], ota_0..ota_{n-1} (slotSize each); the table written at 0x8000. */
export function rig(opts: { n?: number; factory?: boolean; slotSize?: number; writeSize?: number; size?: number } = {}): Rig {
  const n = opts.n ?? 2;
  const slotSize = opts.slotSize ?? 0x100000;
  const parts: Partition[] = [
    { label: 'nvs', type: 1, subtype: 2, offset: 0x9000, size: 0x4000, flags: 0 },
    { label: 'otadata', type: 1, subtype: 0, offset: OTADATA_AT, size: 0x2000, flags: 0 },
    { label: 'phy_init', type: 1, subtype: 1, offset: 0xf000, size: 0x1000, flags: 0 },
  ];
  let at = 0x10000;
  if (opts.factory) {
    parts.push({ label: 'factory', type: 0, subtype: 0, offset: at, size: slotSize, flags: 0 });
    at += slotSize;
  }
  for (let i = 0; i < n; i++) {
    parts.push({ label: `ota_${i}`, type: 0, subtype: 0x10 + i, offset: at, size: slotSize, flags: 0 });
    at += slotSize;
  }
  const table: PartitionTable = { partitions: parts, md5: null };
  const flash = new MemoryFlash({ size: opts.size ?? Math.max(0x400000, at), writeSize: opts.writeSize ?? 1 });
  const t = encodePartitionTable(table);
  flash.write(0x8000, t.length % flash.writeSize === 0 ? t : padTo(t, flash.writeSize));
  const p: Record<string, Partition> = {};
  for (const x of parts) p[x.label] = x;
  return { flash, table, p };
}

function padTo(b: Uint8Array, unit: number): Uint8Array {
  const out = new Uint8Array(Math.ceil(b.length / unit) * unit).fill(0xff);
  out.set(b);
  return out;
}

/** Puts an image into a partition directly (factory programming, not an OTA). */
export function flashImage(dev: BlockDevice, part: Partition, bytes: Uint8Array): void {
  dev.erase(part.offset, part.size);
  dev.write(part.offset, padTo(bytes, dev.writeSize));
}

export function otadataEntries(dev: BlockDevice): [OtaSelectEntry, OtaSelectEntry] {
  return readOtadata(new RegionFlash(dev, OTADATA_AT, 0x2000, 'otadata'));
}

/** Streams `bytes` into a writer in chunks of `chunk` bytes (the last one shorter). */
export function feed(w: { write(c: Uint8Array): void }, bytes: Uint8Array, chunk = 4096, from = 0): void {
  for (let o = from; o < bytes.length; o += chunk) w.write(bytes.subarray(o, Math.min(bytes.length, o + chunk)));
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Seeded PRNG (mulberry32) for chunk sizes; tests print the seed on failure. */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

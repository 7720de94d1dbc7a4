// The layouts the power-loss proof runs on, built from the conformance fixtures in test/fixtures (copied from the reference tools' vectors)
// (never copied into the repo). Shared by bench/prove.ts and the tests.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parsePartitionCsv } from '../src/formats/partition-csv';
import type { PartitionTable } from '../src/formats/partition-types';
import type { HashProvider } from '../src/hash/types';
import { nodeHashes } from '../src/node/hash';
import type { ProveLayout } from '../src/prove';
import { signImageV2 } from '../src/node/secure-boot-keys';
import { createNodeSignatureVerifier } from '../src/node/signature-verifier';
import { signDetached } from '../src/node/detached-sign';

export const VECTORS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../test/fixtures');

export function vector(rel: string): Uint8Array {
  const file = path.join(VECTORS, rel);
  if (!fs.existsSync(file)) throw new Error(`conformance vector missing: ${file} (the repository's test/fixtures folder)`);
  return new Uint8Array(fs.readFileSync(file));
}

/** Images with an appended SHA-256 that esptool accepts (manifest.json), all for the ESP32. */
export const IMAGES = {
  tiny: 'app-images/esptool/ram_helloworld/helloworld-esp32.bin', // 128 B
  small: 'app-images/elf2image/esp32-zephyr.bin', // 17 488 B
  helloWorld: 'app-images/esp-serial-flasher/hello_world-esp32.bin', // 124 416 B
  custVer: 'app-images/elf2image/esp32-app-cust-ver-info.bin', // 152 960 B
  template: 'app-images/elf2image/esp32-app-template.bin', // 601 808 B
};

/**
 * ESP-IDF's two-OTA table (partitions_two_ota.csv: nvs, otadata, phy_init, factory, ota_0, ota_1,
 * 1 MiB apps) on a 4 MiB chip with 4 KiB sectors and 32/64 KiB blocks. Old = hello_world (124 KB),
 * new = the ESP-IDF app template (602 KB), third = 153 KB.
 */
export function realisticLayout(hashes: HashProvider = nodeHashes): ProveLayout {
  const csv = new TextDecoder().decode(vector('partition-tables/partitions_two_ota.csv'));
  const table: PartitionTable = parsePartitionCsv(csv, { flashSize: 4 << 20, hashes });
  return {
    name: 'esp32-4MB',
    table: { partitions: table.partitions, md5: table.md5 },
    flashSize: 4 << 20,
    images: { old: vector(IMAGES.helloWorld), new: vector(IMAGES.template), third: vector(IMAGES.custVer) },
    chunk: 4096,
    hashes,
  };
}

/**
 * A small layout for exhaustive depth two: otadata and two 64 KiB slots on a 192 KiB chip, images of
 * 128 B (old), 17 KB (new) and 128 B+ (third), downloads in 1 KiB chunks.
 */
export function smallLayout(hashes: HashProvider = nodeHashes): ProveLayout {
  const csv = [
    '# Name, Type, SubType, Offset, Size, Flags',
    'nvs,      data, nvs,   0x9000,  0x4000,',
    'otadata,  data, ota,   0xd000,  0x2000,',
    'ota_0,    app,  ota_0, 0x10000, 0x10000,',
    'ota_1,    app,  ota_1, 0x20000, 0x10000,',
  ].join('\n');
  const table = parsePartitionCsv(csv, { flashSize: 0x30000, hashes });
  return {
    name: 'small',
    table: { partitions: table.partitions, md5: table.md5 },
    flashSize: 0x30000,
    images: { old: vector(IMAGES.tiny), new: vector(IMAGES.small), third: vector('app-images/esptool/ram_helloworld/helloworld-esp32s3.bin') },
    chunk: 1024,
    hashes,
  };
}

/**
 * ESP-IDF's sixteen-slot table (edge_sixteen_ota.csv: 16 x 192 KiB OTA apps, no factory) on a
 * 4 MiB chip: slot numbering and seq arithmetic beyond two slots. Old = hello_world (124 KB),
 * new = 153 KB, third = 162 KB.
 */
export function sixteenSlotLayout(hashes: HashProvider = nodeHashes): ProveLayout {
  const csv = new TextDecoder().decode(vector('partition-tables/edge_sixteen_ota.csv'));
  const table = parsePartitionCsv(csv, { flashSize: 4 << 20, hashes });
  return {
    name: 'sixteen-ota',
    table: { partitions: table.partitions, md5: table.md5 },
    flashSize: 4 << 20,
    images: { old: vector(IMAGES.helloWorld), new: vector(IMAGES.custVer), third: vector('app-images/elf2image/coredump-app-esp32.bin') },
    chunk: 4096,
    hashes,
  };
}

/** The small layout on a flash that programs 16-byte units (internal-flash style): padding and whole-unit writes. */
export function wideWriteLayout(hashes: HashProvider = nodeHashes): ProveLayout {
  return { ...smallLayout(hashes), name: 'small-w16', writeSize: 16 };
}

/**
 * The small layout with Secure Boot V2 trust: old and new are signed (RSA-3072, key
 * rsa3072-a from the espsecure vectors), third is the new image signed by rsa3072-b, whose digest
 * is not trusted. The engine and the bootloader model check signatures with node:crypto.
 */
export function signedLayout(hashes: HashProvider = nodeHashes): ProveLayout {
  const base = smallLayout(hashes);
  const key = (name: string) => fs.readFileSync(path.join(VECTORS, `signed-images/keys/${name}.pem`), 'utf8');
  const trusted = vector('signed-images/keys/rsa3072-a.digest.bin');
  return {
    ...base,
    name: 'signed',
    images: {
      old: signImageV2(base.images.old, { keys: [key('rsa3072-a')], hashes }),
      new: signImageV2(base.images.new, { keys: [key('rsa3072-a')], hashes }),
      third: signImageV2(base.images.new, { keys: [key('rsa3072-b')], hashes }),
    },
    trust: { trust: { keyDigests: [trusted] }, verifier: createNodeSignatureVerifier(hashes) },
    signPackage: (index) => signDetached(index, [key('rsa3072-a')]),
  };
}

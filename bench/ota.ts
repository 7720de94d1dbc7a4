// A whole 1 MiB OTA update (begin, 4 KiB writes, end, set boot) on a MemoryFlash, beside the raw sum
// of its unavoidable parts measured in the same run; and the simulated chip time of the same update
// beside the datasheet minimum for that many bytes.
import { createHash } from 'node:crypto';
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import { MemoryFlash } from '../src/flash/memory';
import { TimedFlash, W25Q32JV, eraseTimeMs, programTimeMs } from '../src/flash/timing';
import { setChecksumXor, xorInto } from '../src/formats/app-image-verify';
import { encodePartitionTable } from '../src/formats/partition-table';
import type { Partition, PartitionTable } from '../src/formats/partition-types';
import { portableHashes } from '../src/hash/portable';
import type { HashProvider } from '../src/hash/types';
import { nodeHashes } from '../src/node/hash';
import { createWasmChecksumXor } from '../src/node/image-checksum';
import type { BlockDevice } from '../src/flash/types';
import { OtaEngine } from '../src/ota/engine';
import { makeBenchImage } from './image';
import { type BenchRow, compare } from './lib';

const SLOT = 0x100000;
const CHUNK = 4096;

function layout(): { table: PartitionTable; ota: Partition[] } {
  const parts: Partition[] = [
    { label: 'nvs', type: 1, subtype: 2, offset: 0x9000, size: 0x4000, flags: 0 },
    { label: 'otadata', type: 1, subtype: 0, offset: 0xd000, size: 0x2000, flags: 0 },
    { label: 'ota_0', type: 0, subtype: 0x10, offset: 0x10000, size: SLOT, flags: 0 },
    { label: 'ota_1', type: 0, subtype: 0x11, offset: 0x10000 + SLOT, size: SLOT, flags: 0 },
  ];
  return { table: { partitions: parts, md5: null }, ota: [parts[2], parts[3]] };
}

/** One update of `img` into the slot that is not `running`; returns the slot written. */
export function updateOnce(dev: BlockDevice, table: PartitionTable, running: Partition, img: Uint8Array, hashes: HashProvider, erase: 'all' | 'sequential'): Partition {
  const engine = OtaEngine.open(dev, { table, running, hashes, chip: 5 });
  const w = engine.begin(undefined, { size: img.length, erase });
  for (let at = 0; at < img.length; at += CHUNK) w.write(img.subarray(at, at + CHUNK));
  w.end();
  engine.setBootPartition(w.partition);
  return w.partition;
}

export function otaSuite(): BenchRow[] {
  const img = makeBenchImage(SLOT);
  const n = img.length;
  const { table, ota } = layout();
  const rows: BenchRow[] = [];

  const wallRow = (name: string, hashes: HashProvider, sha: () => void, shaName: string) => {
    const flash = new MemoryFlash({ size: 0x400000 });
    flash.write(0x8000, encodePartitionTable(table));
    let running = ota[0];
    const subject = () => {
      const wrote = updateOnce(flash, table, running, img, hashes, 'all');
      running = wrote;
    };
    // The parts no update can skip: erase the slot (fill), copy the image in, hash it once.
    const raw = new Uint8Array(0x400000);
    const baseline = () => {
      raw.fill(0xff, 0x10000, 0x10000 + n);
      for (let at = 0; at < n; at += CHUNK) raw.set(img.subarray(at, at + CHUNK), 0x10000 + at);
      sha();
    };
    // The same, but erase and program go through a MemoryFlash as in the update (its NOR check
    // included): what the engine itself adds on top of the device and the hash.
    const plain = new MemoryFlash({ size: 0x400000 });
    const deviceBaseline = () => {
      plain.erase(0x10000, SLOT);
      for (let at = 0; at < n; at += CHUNK) plain.write(0x10000 + at, img.subarray(at, at + CHUNK));
      sha();
    };
    const a = compare(subject, baseline, { rounds: 7, minMs: 60 });
    const b = compare(subject, deviceBaseline, { rounds: 7, minMs: 60 });
    rows.push({
      suite: 'ota',
      name,
      value: a.subjectMs,
      unit: 'ms',
      baselineName: `fill + copy + ${shaName}`,
      baselineValue: a.baselineMs,
      ratio: a.baselineMs / a.subjectMs,
      target: '>= 0.67x (time <= 1.5x)',
      pass: a.subjectMs / a.baselineMs <= 1.5,
    });
    rows.push({
      suite: 'ota',
      name,
      value: b.subjectMs,
      unit: 'ms',
      baselineName: `MemoryFlash erase + 4 KiB programs + ${shaName}`,
      baselineValue: b.baselineMs,
      ratio: b.baselineMs / b.subjectMs,
    });
  };

  const wasm = createWasmChecksumXor();
  setChecksumXor(wasm);
  wallRow('1 MiB update, otaflash/node (node:crypto, wasm checksum)', nodeHashes, () => {
    createHash('sha256').update(img).digest();
  }, 'node:crypto sha256');
  setChecksumXor(xorInto);
  wallRow('1 MiB update, portable (own SHA-256, JS checksum)', portableHashes, () => {
    nobleSha256(img);
  }, '@noble/hashes sha256');
  setChecksumXor(wasm);

  // Chip time: every erase, program and read the engine issues, charged with the W25Q32JV figures.
  // The slots are 64 KiB aligned, so both have the same minimum.
  const minimum = eraseTimeMs(W25Q32JV, ota[1].offset, Math.ceil(n / 4096) * 4096) + programTimeMs(W25Q32JV, ota[1].offset, n);
  for (const erase of ['all', 'sequential'] as const) {
    const flash = new MemoryFlash({ size: 0x400000 });
    flash.write(0x8000, encodePartitionTable(table));
    const timed = new TimedFlash(flash, W25Q32JV);
    // Steady state: two updates first, so otadata holds entries and a resume log to clear.
    let running = updateOnce(timed, table, ota[0], img, nodeHashes, erase);
    running = updateOnce(timed, table, running, img, nodeHashes, erase);
    timed.resetTime();
    updateOnce(timed, table, running, img, nodeHashes, erase);
    const ms = timed.elapsedMs;
    rows.push({
      suite: 'ota',
      name: `1 MiB update, simulated W25Q32JV chip time (erase '${erase}'; erase ${timed.eraseMs.toFixed(0)} + program ${timed.programMs.toFixed(0)} + read ${timed.readMs.toFixed(1)} ms)`,
      value: ms,
      unit: 'ms',
      baselineName: 'datasheet minimum: 64 KiB block erases + 256 B page programs',
      baselineValue: minimum,
      ratio: minimum / ms,
      target: '>= 0.95x (time <= 1.05x)',
      pass: ms / minimum <= 1.05,
    });
  }
  return rows;
}

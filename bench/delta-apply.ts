// Delta apply speed. (1) The NINA pair (930 KB -> 932 KB, ESP32 app): detools's lzma and heatshrink
// patches applied through the engine from ota_0 into ota_1 of a MemoryFlash, beside a full update
// of the same new image through the same engine (same hashes, same 4 KiB writes); the goal
// is at most 2x the full update's time. (2) LZMA decoding alone: the NINA lzma patch's body decoded
// by our decoder beside lzma-purejs (the fastest pure-JS .lzma decoder on npm we measured: LZMA-JS
// `lzma` 2.3.2 took about 13 s for the same stream, too slow to repeat here).
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { DeltaUpdate } from '../src/delta/ota';
import { LzmaDecoder } from '../src/delta/lzma-decoder';
import { readDetoolsHeader } from '../src/formats/detools-patch';
import { MemoryFlash } from '../src/flash/memory';
import { encodePartitionTable } from '../src/formats/partition-table';
import type { Partition, PartitionTable } from '../src/formats/partition-types';
import { nodeHashes } from '../src/node/hash';
import { OtaEngine } from '../src/ota/engine';
import { type BenchRow, compare, mbps } from './lib';

const PAIR = fileURLToPath(new URL('../test/fixtures/firmware-pairs/esp32-nina-w102-app/', import.meta.url));
const SLOT = 0x100000;
const CHUNK = 4096;

function layout(): { table: PartitionTable; ota0: Partition; ota1: Partition } {
  const parts: Partition[] = [
    { label: 'otadata', type: 1, subtype: 0, offset: 0xd000, size: 0x2000, flags: 0 },
    { label: 'ota_0', type: 0, subtype: 0x10, offset: 0x10000, size: SLOT, flags: 0 },
    { label: 'ota_1', type: 0, subtype: 0x11, offset: 0x10000 + SLOT, size: SLOT, flags: 0 },
  ];
  return { table: { partitions: parts, md5: null }, ota0: parts[1], ota1: parts[2] };
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function deltaApplySuite(): BenchRow[] {
  const oldImg = new Uint8Array(fs.readFileSync(PAIR + 'old.bin'));
  const newImg = new Uint8Array(fs.readFileSync(PAIR + 'new.bin'));
  const { table, ota0, ota1 } = layout();
  const flash = new MemoryFlash({ size: 0x10000 + 2 * SLOT });
  flash.write(0x8000, encodePartitionTable(table));
  flash.write(ota0.offset, oldImg);
  const engineOpts = { table, running: ota0, hashes: nodeHashes, chip: 0 };
  const rows: BenchRow[] = [];

  const full = () => {
    const engine = OtaEngine.open(flash, engineOpts);
    const w = engine.begin(ota1, { size: newImg.length });
    for (let at = 0; at < newImg.length; at += CHUNK) w.write(newImg.subarray(at, at + CHUNK));
    w.end();
  };
  for (const c of ['lzma', 'heatshrink'] as const) {
    const patch = new Uint8Array(fs.readFileSync(`${PAIR}detools/sequential-${c}.patch`));
    const apply = () => {
      const u = new DeltaUpdate(OtaEngine.open(flash, engineOpts), { slot: ota1 });
      for (let at = 0; at < patch.length; at += CHUNK) u.push(patch.subarray(at, at + CHUNK));
      u.finish();
    };
    apply();
    if (!same(flash.bytes.subarray(ota1.offset, ota1.offset + newImg.length), newImg)) throw new Error(`delta-apply bench: the ${c} patch did not produce new.bin`);
    const r = compare(apply, full, { rounds: 7, minMs: 100 });
    rows.push({
      suite: 'delta',
      name: `apply NINA ${c} patch (${patch.length} B) into MemoryFlash, 932 KB image`,
      value: r.subjectMs,
      unit: 'ms',
      baselineName: 'full update of new.bin, same engine',
      baselineValue: r.baselineMs,
      ratio: r.baselineMs / r.subjectMs,
      target: 'time <= 2x full update',
      pass: r.subjectMs <= 2 * r.baselineMs,
    });
  }

  // LZMA decoding alone.
  const patch = new Uint8Array(fs.readFileSync(`${PAIR}detools/sequential-lzma.patch`));
  const body = patch.subarray(readDetoolsHeader(patch).length);
  let produced = 0;
  const ours = () => {
    produced = 0;
    const d = new LzmaDecoder((_, s, e) => (produced += e - s));
    d.push(body);
    d.finish();
  };
  const require = createRequire(import.meta.url);
  const purejs = require('lzma-purejs') as { decompressFile(b: Uint8Array): Uint8Array };
  const bodyBuf = Buffer.from(body);
  let theirs = 0;
  const baseline = () => {
    theirs = purejs.decompressFile(bodyBuf).length;
  };
  ours();
  baseline();
  if (produced !== theirs) throw new Error(`delta-apply bench: decoders disagree on the stream length (${produced} vs ${theirs})`);
  const r = compare(ours, baseline, { rounds: 7, minMs: 100 });
  rows.push({
    suite: 'delta',
    name: `LZMA decode, NINA lzma patch body (${body.length} B -> ${produced} B)`,
    value: mbps(produced, r.subjectMs),
    unit: 'MB/s',
    baselineName: 'lzma-purejs 0.9.3',
    baselineValue: mbps(produced, r.baselineMs),
    ratio: r.baselineMs / r.subjectMs,
    target: '>= the fastest pure-JS decoder',
    pass: r.subjectMs <= r.baselineMs,
  });
  return rows;
}

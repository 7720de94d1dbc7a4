// bench store: the image store's writeChunk against the bare MemoryFlash programming the same chunks
// at the same places in erased sectors (only the writes timed, subject and baseline alternating
// round by round); create + remove against erasing the same sectors; and the write amplification
// (bytes programmed per image byte).
import { createHash } from 'node:crypto';
import { MemoryFlash } from '../src/flash/memory';
import { nodeHashes } from '../src/node/hash';
import { ImageStore } from '../src/store/store';
import { type BenchRow, mbps } from './lib';

const DEVICE = 4 * 1024 * 1024;
const IMAGE = 1024 * 1024;

function pattern(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 151 + seed * 31 + 7) & 0xff;
  return b;
}

function shuffled(n: number): number[] {
  const order: number[] = [];
  for (let i = 0; i < n; i++) order.push(i);
  let s = 12345;
  for (let i = n - 1; i > 0; i--) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    const j = s % (i + 1);
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  return order;
}

interface Case {
  name: string;
  chunk: number;
  writeSize: number;
  random: boolean;
  /** ImageStoreOptions.flushChunks: 1 = every writeChunk durable with its bit on return. */
  flush: number;
}

function measure(c: Case): BenchRow[] {
  const data = pattern(IMAGE, c.chunk + c.writeSize + c.flush);
  const sha = new Uint8Array(createHash('sha256').update(data).digest());
  const chunks: Uint8Array[] = [];
  for (let at = 0; at < IMAGE; at += c.chunk) chunks.push(data.slice(at, at + c.chunk));
  const order = c.random ? shuffled(chunks.length) : chunks.map((_, i) => i);

  const dev = new MemoryFlash({ size: DEVICE, writeSize: c.writeSize });
  const store = ImageStore.open(dev, { hashes: nodeHashes, flushChunks: c.flush });
  const spec = { id: 1, kind: 'app' as const, component: 'bench', version: 'v1', size: IMAGE, sha256: sha, chunkSize: c.chunk, seq: 1 };
  // The same flash work without the store: program each chunk at its place in erased sectors.
  const bare = new MemoryFlash({ size: DEVICE, writeSize: c.writeSize });
  const dataAt = 4096;
  const writes = timeInterleaved(
    {
      setup: () => void store.create(spec),
      body: () => {
        for (let k = 0; k < order.length; k++) store.writeChunk(1, order[k], chunks[order[k]]);
      },
      teardown: () => store.remove(1),
    },
    {
      setup: () => bare.erase(dataAt, IMAGE),
      body: () => {
        for (let k = 0; k < order.length; k++) bare.write(dataAt + order[k] * c.chunk, chunks[order[k]]);
      },
      teardown: () => bare.erase(dataAt, IMAGE),
    },
  );
  // The bookkeeping around a download: create (blank checks, header) and remove, against erasing
  // the image's sectors twice (what any reuse of the space costs).
  const cycle = timeInterleaved(
    { setup: () => {}, body: () => { store.create(spec); store.remove(1); }, teardown: () => {} },
    { setup: () => {}, body: () => { bare.erase(dataAt, IMAGE); bare.erase(dataAt, IMAGE); }, teardown: () => {} },
  );
  // Amplification over one clean download, completion included.
  const amp = new MemoryFlash({ size: DEVICE, writeSize: c.writeSize });
  const s2 = ImageStore.open(amp, { hashes: nodeHashes, flushChunks: c.flush });
  s2.create(spec);
  for (let k = 0; k < order.length; k++) s2.writeChunk(1, order[k], chunks[order[k]]);
  s2.complete(1);
  const ratio = amp.stats.bytesProgrammed / IMAGE;

  const value = mbps(IMAGE, writes.subjectMs);
  const baselineValue = mbps(IMAGE, writes.baselineMs);
  return [
    {
      suite: 'store',
      name: `${c.name}: writeChunk x${chunks.length}`,
      value,
      unit: 'MB/s',
      baselineName: 'bare MemoryFlash write of the same chunks',
      baselineValue,
      ratio: value / baselineValue,
      target: '>= 0.8x',
      pass: value / baselineValue >= 0.8,
    },
    {
      suite: 'store',
      name: `${c.name}: create + remove`,
      value: cycle.subjectMs * 1000,
      unit: 'us',
      baselineName: 'erasing its data sectors twice',
      baselineValue: cycle.baselineMs * 1000,
      ratio: cycle.baselineMs / cycle.subjectMs,
    },
    {
      suite: 'store',
      name: `${c.name}: write amplification (bytes programmed / image bytes, complete() included)`,
      value: ratio,
      unit: 'x',
      target: '<= 1.05',
      pass: ratio <= 1.05,
    },
  ];
}

interface Timed {
  setup: () => void;
  body: () => void;
  teardown: () => void;
}

/**
 * Median time in ms of `body` alone for subject and baseline, alternating round by round so that
 * machine load hits both; setup and teardown (creating and removing the image, erasing) are untimed.
 */
function timeInterleaved(subject: Timed, baseline: Timed, rounds = 61): { subjectMs: number; baselineMs: number } {
  const one = (t: Timed) => {
    t.setup();
    const t0 = performance.now();
    t.body();
    const t1 = performance.now();
    t.teardown();
    return t1 - t0;
  };
  for (let i = 0; i < 5; i++) {
    one(subject);
    one(baseline);
  }
  const s: number[] = [];
  const b: number[] = [];
  for (let r = 0; r < rounds; r++) {
    s.push(one(subject));
    b.push(one(baseline));
  }
  const med = (a: number[]) => a.sort((x, y) => x - y)[a.length >> 1];
  return { subjectMs: med(s), baselineMs: med(b) };
}

export function storeSuite(): BenchRow[] {
  const cases: Case[] = [
    { name: '1 MiB, 4 KiB chunks in order, writeSize 1, bit per chunk', chunk: 4096, writeSize: 1, random: false, flush: 1 },
    { name: '1 MiB, 4 KiB chunks in order, writeSize 1, bits per 16 chunks', chunk: 4096, writeSize: 1, random: false, flush: 16 },
    { name: '1 MiB, 4 KiB chunks in order, writeSize 16, bit per chunk', chunk: 4096, writeSize: 16, random: false, flush: 1 },
    { name: '1 MiB, 1 KiB chunks in random order, writeSize 1, bit per chunk', chunk: 1024, writeSize: 1, random: true, flush: 1 },
    { name: '1 MiB, 256 B chunks in random order, writeSize 4, bit per chunk', chunk: 256, writeSize: 4, random: true, flush: 1 },
    { name: '1 MiB, 256 B chunks in random order, writeSize 16, bits per 16 chunks', chunk: 256, writeSize: 16, random: true, flush: 16 },
  ];
  const rows: BenchRow[] = [];
  for (const c of cases) rows.push(...measure(c));
  return rows;
}

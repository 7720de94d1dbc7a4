// bench flash: erase / write / read throughput of the flash drivers, each beside its raw baseline
// measured in the same run (interleaved), on a 16 MiB device, at 256 B, 4 KiB and 64 KiB.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MemoryFlash } from '../src/flash/memory';
import { FileFlash } from '../src/node/file-flash';
import { type BenchRow, compare, mbps } from './lib';

const SIZE = 16 * 1024 * 1024;
const SIZES = [256, 4096, 65536];

function pattern(n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 151 + 7) & 0xff;
  return b;
}

/** Walks the device in steps of `n` so every call touches fresh memory, as a sequential writer does. */
function walker(n: number): () => number {
  let pos = 0;
  return () => {
    const p = pos;
    pos += n;
    if (pos + n > SIZE) pos = 0;
    return p;
  };
}

// Baselines. Plain functions over persistent views: the cheapest code that does the same job.

/** The bare strict-program kernel: 32-bit scan for 0->1 bits, then native set. */
function scanThenSet(dst: Uint8Array, dstWords: Uint32Array, offset: number, src: Uint8Array, srcWords: Uint32Array): void {
  const d0 = offset >>> 2;
  const n = src.length >>> 2;
  for (let w = 0; w < n; w++) if ((srcWords[w] & ~dstWords[d0 + w]) !== 0) throw new Error('raise');
  dst.set(src, offset);
}

/** The bare NOR-program kernel: 32-bit AND in place. */
function andWords(dstWords: Uint32Array, offset: number, srcWords: Uint32Array): void {
  const d0 = offset >>> 2;
  const n = srcWords.length;
  for (let w = 0; w < n; w++) dstWords[d0 + w] &= srcWords[w];
}

function row(suite: string, name: string, bytes: number, r: { subjectMs: number; baselineMs: number }, baselineName: string, target?: number): BenchRow {
  const value = mbps(bytes, r.subjectMs);
  const baselineValue = mbps(bytes, r.baselineMs);
  const ratio = value / baselineValue;
  return {
    suite,
    name,
    value,
    unit: 'MB/s',
    baselineName,
    baselineValue,
    ratio,
    ...(target === undefined ? {} : { target: `>= ${target}x`, pass: ratio >= target }),
  };
}

function memoryRows(): BenchRow[] {
  const rows: BenchRow[] = [];
  const raw = new Uint8Array(SIZE).fill(0xff);
  const rawWords = new Uint32Array(raw.buffer);
  const strict = new MemoryFlash({ size: SIZE, mode: 'strict' });
  const nor = new MemoryFlash({ size: SIZE, mode: 'nor' });
  for (const n of SIZES) {
    const data = pattern(n);
    const dataWords = new Uint32Array(data.buffer);
    const into = new Uint8Array(n);
    const big = n >= 4096;
    let a = walker(n);
    let b = walker(n);
    rows.push(row('flash', `MemoryFlash strict write ${label(n)}`, n, compare(() => strict.write(a(), data), () => scanThenSet(raw, rawWords, b(), data, dataWords)), 'scan-then-set kernel', big ? 0.8 : undefined));
    a = walker(n);
    b = walker(n);
    rows.push(row('flash', `MemoryFlash nor write ${label(n)}`, n, compare(() => nor.write(a(), data), () => andWords(rawWords, b(), dataWords)), 'word AND kernel'));
    a = walker(n);
    b = walker(n);
    rows.push(row('flash', `MemoryFlash read ${label(n)}`, n, compare(() => strict.read(a(), into), () => { const p = b(); into.set(raw.subarray(p, p + n)); }), 'subarray + set'));
    if (n >= 4096) {
      a = walker(n);
      b = walker(n);
      rows.push(row('flash', `MemoryFlash erase ${label(n)}`, n, compare(() => strict.erase(a(), n), () => { const p = b(); raw.fill(0xff, p, p + n); }), 'fill(0xFF)', 0.8));
    }
  }
  return rows;
}

/** Cost of a snapshot after every 4 KiB program on a 4 MiB device (what a power-cut sweep does). */
function snapshotRows(): BenchRow[] {
  const size = 4 * 1024 * 1024;
  const dev = new MemoryFlash({ size, mode: 'nor' });
  const data = pattern(4096);
  let pos = 0;
  const next = () => {
    const p = pos;
    pos = (pos + 4096) % size;
    return p;
  };
  let keep: unknown = null;
  const r = compare(
    () => {
      dev.write(next(), data);
      keep = dev.snapshot();
    },
    () => dev.write(next(), data),
  );
  void keep;
  const base = dev.snapshot();
  dev.write(0, new Uint8Array(4096));
  const restore = compare(
    () => {
      dev.write(next(), data);
      dev.restore(base);
    },
    () => dev.write(next(), data),
  );
  const us = (ms: number) => ms * 1000;
  return [
    { suite: 'flash', name: 'MemoryFlash 4 KiB write + snapshot (4 MiB)', value: us(r.subjectMs), unit: 'us', baselineName: '4 KiB write alone', baselineValue: us(r.baselineMs), ratio: r.baselineMs / r.subjectMs },
    { suite: 'flash', name: 'MemoryFlash 4 KiB write + restore (4 MiB)', value: us(restore.subjectMs), unit: 'us', baselineName: '4 KiB write alone', baselineValue: us(restore.baselineMs), ratio: restore.baselineMs / restore.subjectMs },
  ];
}

/**
 * Sequential passes of `calls` writes, subject and baseline alternating pass by pass; `prepare`
 * (re-erasing) runs untimed before each pair. Every call is timed on its own and the median call
 * is reported: a pass is only milliseconds long, and on a shared machine one preemption or
 * writeback stall would otherwise decide the figure.
 */
function comparePasses(subject: (p: number) => void, baseline: (p: number) => void, prepare: () => void, n: number, calls: number, passes = 9): { subjectMs: number; baselineMs: number } {
  const s: number[] = [];
  const b: number[] = [];
  const pass = (fn: (p: number) => void, out: number[] | null) => {
    for (let i = 0; i < calls; i++) {
      const t0 = performance.now();
      fn(i * n);
      if (out) out.push(performance.now() - t0);
    }
  };
  for (let r = 0; r < passes + 1; r++) {
    prepare();
    // The first pair warms up; then alternate which goes first.
    const warm = r === 0;
    if (r % 2 === 0) {
      pass(subject, warm ? null : s);
      pass(baseline, warm ? null : b);
    } else {
      pass(baseline, warm ? null : b);
      pass(subject, warm ? null : s);
    }
  }
  const med = (a: number[]) => a.sort((p, q) => p - q)[a.length >> 1];
  return { subjectMs: med(s), baselineMs: med(b) };
}

/** Like comparePasses for calls that need no preparation: per-call medians over walks of the device. */
function comparePerCall(subject: (p: number) => void, baseline: (p: number) => void, n: number, calls: number): { subjectMs: number; baselineMs: number } {
  return comparePasses(subject, baseline, () => {}, n, calls);
}

function fileRows(): BenchRow[] {
  const rows: BenchRow[] = [];
  // OTAFLASH_BENCH_DIR=/dev/shm takes disk writeback (very noisy on a shared machine) out of the figures.
  const dir = fs.mkdtempSync(path.join(process.env.OTAFLASH_BENCH_DIR ?? os.tmpdir(), 'otaflash-bench-'));
  const dev = FileFlash.create(path.join(dir, 'flash.bin'), SIZE);
  const rawPath = path.join(dir, 'raw.bin');
  // Made the same way as the subject's file: ext4 handles a file written in one go differently.
  FileFlash.create(rawPath, SIZE).close();
  const fd = fs.openSync(rawPath, 'r+');
  const erasedMiB = new Uint8Array(1 << 20).fill(0xff);
  try {
    for (const n of SIZES) {
      const data = pattern(n);
      const into = new Uint8Array(n);
      const calls = Math.min(SIZE / n, 2048);
      const before = dev.readsBeforeWrite;
      const w = comparePasses(
        (p) => dev.write(p, data),
        (p) => fs.writeSync(fd, data, 0, n, p),
        () => {
          // Both files get the same freshly written 0xFF range, so page-cache state is alike.
          const span = Math.ceil((calls * n) / 4096) * 4096;
          dev.erase(0, span);
          for (let p = 0; p < span; p += erasedMiB.length) fs.writeSync(fd, erasedMiB, 0, Math.min(erasedMiB.length, span - p), p);
        },
        n,
        calls,
      );
      if (dev.readsBeforeWrite !== before) throw new Error('bench: sequential writes into erased space read first');
      rows.push(row('flash', `FileFlash sequential write into erased ${label(n)}`, n, w, 'fs.writeSync at position', n === 65536 ? 0.8 : undefined));
      rows.push(row('flash', `FileFlash read ${label(n)}`, n, comparePerCall((p) => dev.read(p, into), (p) => fs.readSync(fd, into, 0, n, p), n, calls), 'fs.readSync at position', 0.9));
      if (n >= 4096) {
        const erased = new Uint8Array(n).fill(0xff);
        rows.push(row('flash', `FileFlash erase ${label(n)}`, n, comparePerCall((p) => dev.erase(p, n), (p) => fs.writeSync(fd, erased, 0, n, p), n, calls), 'fs.writeSync of 0xFF'));
      }
    }
  } finally {
    dev.close();
    fs.closeSync(fd);
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

function label(n: number): string {
  return n >= 1024 ? `${n / 1024} KiB` : `${n} B`;
}

export function flashSuite(): BenchRow[] {
  return [...memoryRows(), ...snapshotRows(), ...fileRows()];
}

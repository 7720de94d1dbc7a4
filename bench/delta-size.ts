// Suite `delta`, patch sizes: for each real firmware pair, our lzma (64 KiB dictionary) and
// heatshrink patches beside detools 0.53.0's (8 MiB dictionary lzma; heatshrink 2^8/2^7) and beside
// the smallest patch of any tool (bsdiff, xdelta3, zstd --patch-from, detools), all from
// test/fixtures/firmware-pairs/baselines.json. Also the generator's time and peak memory on the
// NINA pair, measured in a fresh child process so the peak is the generator's own.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createDeltaPatch } from '../src/delta/generate';
import type { BenchRow } from './lib';

const PAIRS_DIR = fileURLToPath(new URL('../test/fixtures/firmware-pairs/', import.meta.url));
const TIMED_PAIR = 'esp32-nina-w102-app';

interface Baselines {
  pairs: Record<string, { new: number; detools_lzma: number; detools_heatshrink: number; smallest: { tool: string; size: number } }>;
}

function readPair(pair: string): { old: Uint8Array; nu: Uint8Array } {
  return {
    old: new Uint8Array(fs.readFileSync(`${PAIRS_DIR}${pair}/old.bin`)),
    nu: new Uint8Array(fs.readFileSync(`${PAIRS_DIR}${pair}/new.bin`)),
  };
}

/** Patch sizes of every pair (also used by the README table). */
export function measureSizes(): { pair: string; newSize: number; lzma: number; heatshrink: number; detoolsLzma: number; detoolsHeatshrink: number; smallest: { tool: string; size: number } }[] {
  const baselines = JSON.parse(fs.readFileSync(`${PAIRS_DIR}baselines.json`, 'utf8')) as Baselines;
  return Object.keys(baselines.pairs).map((pair) => {
    const b = baselines.pairs[pair];
    const { old, nu } = readPair(pair);
    return {
      pair,
      newSize: nu.length,
      lzma: createDeltaPatch(old, nu, { compression: 'lzma' }).length,
      heatshrink: createDeltaPatch(old, nu, { compression: 'heatshrink' }).length,
      detoolsLzma: b.detools_lzma,
      detoolsHeatshrink: b.detools_heatshrink,
      smallest: b.smallest,
    };
  });
}

function sizeRow(name: string, value: number, baselineName: string, baselineValue: number, target: string | undefined): BenchRow {
  return {
    suite: 'delta',
    name,
    value,
    unit: 'bytes',
    baselineName,
    baselineValue,
    // Above 1: smaller than the baseline.
    ratio: baselineValue / value,
    target,
    pass: target === undefined ? undefined : value <= baselineValue,
  };
}

export function deltaSizeSuite(): BenchRow[] {
  const rows: BenchRow[] = [];
  for (const s of measureSizes()) {
    rows.push(sizeRow(`${s.pair}: lzma patch (64 KiB dict)`, s.lzma, 'detools lzma (8 MiB dict)', s.detoolsLzma, '<= detools'));
    rows.push(sizeRow(`${s.pair}: heatshrink patch`, s.heatshrink, 'detools heatshrink', s.detoolsHeatshrink, '<= detools'));
    rows.push(sizeRow(`${s.pair}: lzma patch vs best of all tools`, s.lzma, `smallest (${s.smallest.tool})`, s.smallest.size, undefined));
  }
  const child = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--generate', TIMED_PAIR], {
    encoding: 'utf8',
    cwd: fileURLToPath(new URL('..', import.meta.url)),
  });
  if (child.status !== 0) throw new Error(`delta generator child failed: ${child.stderr}`);
  const timed = JSON.parse(child.stdout.trim().split('\n').pop() as string) as { ms: number; cpuMs: number; maxRssMiB: number; inputMiB: number };
  rows.push({ suite: 'delta', name: `generator time, ${TIMED_PAIR} lzma (930 KB -> 932 KB)`, value: timed.ms, unit: 'ms', target: '< 10000 ms', pass: timed.ms < 10000 });
  // The machine is shared: CPU time shows the generator's own cost when other work slows the wall clock.
  rows.push({ suite: 'delta', name: `generator CPU time, ${TIMED_PAIR} lzma`, value: timed.cpuMs, unit: 'ms', target: '< 10000 ms', pass: timed.cpuMs < 10000 });
  rows.push({ suite: 'delta', name: `generator peak memory (process max RSS), ${TIMED_PAIR}`, value: timed.maxRssMiB, unit: 'MiB', baselineName: 'old + new images', baselineValue: timed.inputMiB });
  return rows;
}

/** Child mode: time one lzma patch of a pair and report the process's peak RSS. */
function generateChild(pair: string): void {
  const { old, nu } = readPair(pair);
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  createDeltaPatch(old, nu, { compression: 'lzma' });
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  const maxRssMiB = process.resourceUsage().maxRSS / 1024;
  console.log(JSON.stringify({ ms, cpuMs, maxRssMiB, inputMiB: (old.length + nu.length) / (1024 * 1024) }));
}

if (process.argv[1] && pathToFileURL(process.argv[1]).href === import.meta.url && process.argv[2] === '--generate') {
  generateChild(process.argv[3]);
}

// Suite `device`: the device builds in the engines microcontroller runtimes use, beside QuickJS in the
// same run. The engines are built and run by scripts/test-engines.mjs (--bench) in a child process; its
// JSON comes back here as rows. Skipped, saying why, when the engine sources are absent.
//   OTAFLASH_BENCH_ENGINES=DIR  engines already built by test/engines/build.sh (nothing is built)
//   OTAFLASH_ENGINES_SRC=DIR    the engine sources (default ../shared/engines)
// Figures: JerryScript's smallest heap per build (from the heaps built; loaded from source and from a
// snapshot executed in place, its bytecode and literals outside the heap as in flash), Duktape's smallest heap
// (bisected), Espruino's variables after load and at peak loaded from a file and from Storage (each minus
// an empty bundle's), update time per MiB with the JS SHA-256 and with the host's, heap growth during the
// update (goal <= 48 KiB everywhere).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchRow } from './lib';

interface Figures {
  msPerMiB: number;
  afterLoad: number | null;
  peak: number | null;
  enginePeak: number | null;
  growth: number | null;
  growthBytes: number | null;
  unit: 'vars' | 'bytes';
}
interface Kept {
  ok: boolean;
  error: string | null;
  heapKiB?: number;
  figures: Figures | null;
}
interface Smallest {
  heapKiB: number | null;
  figures: Figures | null;
  snapshotBytes?: number | null;
  literalsBytes?: number | null;
}
interface Report {
  skipped: boolean;
  reason?: string;
  bench: {
    jerryHeaps: number[];
    jerrySmallest: Record<string, Smallest>;
    duktapeSmallest: Record<string, Smallest>;
    runs: Record<string, Kept>;
    espruino: {
      blocksize: number | null;
      emptyAfterLoad: number | null;
      file?: Kept;
      storage?: Kept & { storedBytes?: number };
      storagePretokenised?: Kept & { storedBytes?: number };
    };
  } | null;
}

const GROWTH_GOAL = 48 * 1024;
const S = 'device';

function growthRow(name: string, f: Figures | null | undefined): BenchRow[] {
  if (!f || f.growthBytes === null) return [];
  return [{ suite: S, name: `${name}: heap growth during the update`, value: f.growthBytes, unit: 'bytes', target: '<= 48 KiB', pass: f.growthBytes <= GROWTH_GOAL }];
}

function timeRow(name: string, k: Kept | undefined): BenchRow[] {
  if (!k) return [];
  if (!k.ok || !k.figures) return [{ suite: S, name: `${name}: update failed (${(k.error ?? '').slice(0, 80)})`, value: 0, unit: 'ms', pass: false }];
  return [{ suite: S, name: `${name}: update time per MiB`, value: k.figures.msPerMiB, unit: 'ms' }];
}

function smallestRow(engine: string, build: string, s: Smallest | undefined, goalKiB?: number): BenchRow[] {
  if (!s) return [];
  const target = goalKiB ? `<= ${goalKiB} KiB` : undefined;
  if (s.heapKiB === null) return [{ suite: S, name: `${engine} ${build}: no heap tried passes the scenario`, value: 0, unit: 'KiB', target, pass: false }];
  return [{ suite: S, name: `${engine} ${build}: smallest heap for the scenario`, value: s.heapKiB, unit: 'KiB', target, pass: goalKiB ? s.heapKiB <= goalKiB : undefined }];
}

export function deviceRows(report: Report): BenchRow[] {
  const b = report.bench;
  if (!b) return [];
  const rows: BenchRow[] = [];
  for (const build of ['otaflash-core.min.js', 'otaflash.min.js']) {
    const k = b.runs[`quickjs ${build}`];
    rows.push(...timeRow(`QuickJS ${build}`, k), ...growthRow(`QuickJS ${build}`, k?.figures));
  }
  for (const [build, s] of Object.entries(b.jerrySmallest)) {
    // keys: a build loaded from source, or `<build> (snapshot + literals)` / `(snapshot, literals on the heap)`
    rows.push(...smallestRow(`JerryScript (heaps built: ${b.jerryHeaps.join('/')} KiB)`, build, s, build.startsWith('otaflash-core.min.js') ? 128 : undefined));
    if (s.snapshotBytes != null) rows.push({ suite: S, name: `JerryScript ${build}: snapshot size (outside the heap)`, value: s.snapshotBytes, unit: 'bytes' });
    if (s.literalsBytes != null) rows.push({ suite: S, name: `JerryScript ${build}: literal list size (outside the heap)`, value: s.literalsBytes, unit: 'bytes' });
    if (s.figures?.afterLoad != null) rows.push({ suite: S, name: `JerryScript ${build} at ${s.heapKiB} KiB: heap in use after load`, value: s.figures.afterLoad, unit: 'bytes' });
    rows.push(...growthRow(`JerryScript ${build} at ${s.heapKiB} KiB`, s.figures));
  }
  for (const hash of ['js', 'host']) rows.push(...timeRow(`JerryScript core, ${hash} SHA-256`, b.runs[`jerry core ${hash}-hash`]));
  for (const [build, s] of Object.entries(b.duktapeSmallest)) {
    rows.push(...smallestRow('Duktape (DUK_HEAP_KIB bisected)', build, s));
    rows.push(...growthRow(`Duktape ${build}`, s.figures));
  }
  for (const hash of ['js', 'host']) rows.push(...timeRow(`Duktape core ES5, ${hash} SHA-256`, b.runs[`duktape core ${hash}-hash`]));
  const e = b.espruino;
  const empty = e.emptyAfterLoad;
  for (const [how, k] of [['from a file', e.file], ['from Storage (eval of require("Storage").read)', e.storage], ['from Storage after E.setFlags({pretokenise:1})', e.storagePretokenised]] as const) {
    if (!k) continue;
    if (!k.ok || !k.figures) {
      rows.push({ suite: S, name: `Espruino core ES5 ${how}: failed (${(k.error ?? '').slice(0, 80)})`, value: 0, unit: 'vars', pass: false });
      continue;
    }
    const f = k.figures;
    if (f.afterLoad !== null && empty !== null) {
      rows.push({ suite: S, name: `Espruino core ES5 ${how}: variables after load (minus an empty bundle's ${empty})`, value: f.afterLoad - empty, unit: 'vars', target: '<= 6000', pass: f.afterLoad - empty <= 6000 });
    }
    if (f.peak !== null && empty !== null) rows.push({ suite: S, name: `Espruino core ES5 ${how}: variables at peak (minus the empty bundle's)`, value: f.peak - empty, unit: 'vars' });
    rows.push(...timeRow(`Espruino core ES5 ${how}, js SHA-256`, k));
    rows.push(...growthRow(`Espruino core ES5 ${how} (${e.blocksize ?? '?'} bytes a variable)`, f));
  }
  return rows;
}

export function deviceSuite(): BenchRow[] {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  const tmp = mkdtempSync(join(tmpdir(), 'otaflash-bench-device-'));
  const json = join(tmp, 'engines.json');
  try {
    const args = [join(root, 'scripts', 'test-engines.mjs'), '--bench', '--json', json];
    if (process.env.OTAFLASH_BENCH_ENGINES) args.push('--engines', process.env.OTAFLASH_BENCH_ENGINES);
    const r = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 16 << 20 });
    if (!existsSync(json)) throw new Error(`device suite: scripts/test-engines.mjs wrote no results (exit ${r.status}): ${(r.stdout ?? '').slice(-500)}`);
    const report = JSON.parse(readFileSync(json, 'utf8')) as Report;
    if (report.skipped) {
      process.stderr.write(`device suite skipped: ${report.reason ?? 'no engine sources'} (see test/engines/README.md; OTAFLASH_ENGINES_SRC=DIR)\n`);
      return [];
    }
    return deviceRows(report);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

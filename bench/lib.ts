// Shared benchmark helpers: every figure is measured beside its baseline in the same run and
// reported as a ratio, because the machines are shared and noisy.

export interface BenchRow {
  suite: string;
  name: string;
  /** Throughput (MB/s, 1e6 bytes) or time, per `unit`. */
  value: number;
  unit: 'MB/s' | 'ms' | 'us' | 'x' | 'bytes' | 'MiB' | 'req/s' | 'KiB' | 'vars';
  baselineName?: string;
  baselineValue?: number;
  /** value / baseline for throughputs, baseline / value for times: above 1 means faster than the baseline. */
  ratio?: number;
  target?: string;
  pass?: boolean;
}

/** Median time in ms of `fn()` over `rounds` rounds (each round at least `minMs` long, repeating fn). */
export function timeMedian(fn: () => void, opts: { rounds?: number; minMs?: number } = {}): number {
  const rounds = opts.rounds ?? 7;
  const minMs = opts.minMs ?? 30;
  // Warm up so the JIT has seen the code.
  for (let i = 0; i < 3; i++) fn();
  const samples: number[] = [];
  for (let r = 0; r < rounds; r++) {
    let n = 0;
    const t0 = performance.now();
    let t1 = t0;
    do {
      fn();
      n++;
      t1 = performance.now();
    } while (t1 - t0 < minMs);
    samples.push((t1 - t0) / n);
  }
  samples.sort((a, b) => a - b);
  return samples[samples.length >> 1];
}

/**
 * Measures `subject` and `baseline` interleaved (A B A B ...) so that drift in machine load hits both,
 * and returns their median times in ms per call.
 */
export function compare(subject: () => void, baseline: () => void, opts: { rounds?: number; minMs?: number } = {}): { subjectMs: number; baselineMs: number } {
  const rounds = opts.rounds ?? 9;
  const s: number[] = [];
  const b: number[] = [];
  for (let r = 0; r < rounds; r++) {
    s.push(timeMedian(subject, { rounds: 1, minMs: opts.minMs }));
    b.push(timeMedian(baseline, { rounds: 1, minMs: opts.minMs }));
  }
  const med = (a: number[]) => a.sort((x, y) => x - y)[a.length >> 1];
  return { subjectMs: med(s), baselineMs: med(b) };
}

export function mbps(bytes: number, ms: number): number {
  return bytes / 1e6 / (ms / 1000);
}

export function formatTable(rows: BenchRow[]): string {
  const head = ['suite', 'measure', 'value', 'baseline', 'baseline value', 'speed vs baseline', 'target', 'ok'];
  const body = rows.map((r) => [
    r.suite,
    r.name,
    `${fmt(r.value)} ${r.unit}`,
    r.baselineName ?? '',
    r.baselineValue === undefined ? '' : `${fmt(r.baselineValue)} ${r.unit}`,
    r.ratio === undefined ? '' : `${r.ratio.toFixed(2)}x`,
    r.target ?? '',
    r.pass === undefined ? '' : r.pass ? 'yes' : 'NO',
  ]);
  const all = [head, ...body];
  const widths = head.map((_, i) => Math.max(...all.map((row) => row[i].length)));
  const line = (row: string[]) => '| ' + row.map((c, i) => c.padEnd(widths[i])).join(' | ') + ' |';
  return [line(head), '|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|', ...body.map(line)].join('\n');
}

function fmt(v: number): string {
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}

import type { CliIo } from './io';

/** Reports how far a long byte-oriented job has got. */
export interface Progress {
  /** `done` is the total number of bytes handled so far (not a delta). */
  update(done: number): void;
  /** Prints the final state (a last line, or the completed bar plus a newline). */
  finish(): void;
  /**
   * The job failed: clears a bar drawn on a terminal and prints nothing more, so the error that
   * follows is the one line the user reads.
   */
  abandon(): void;
}

export interface ProgressOptions {
  label: string;
  total: number;
  /** Milliseconds clock; injectable so tests get stable rates and ETAs. */
  now?: () => number;
  /** Terminal width of the bar in characters. */
  barWidth?: number;
  /** Fewest milliseconds between two redraws on a terminal. */
  redrawMs?: number;
  /** Plain mode: print a line each time this fraction of the total is crossed. */
  lineStep?: number;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MiB`;
}

export function formatRate(bytesPerSecond: number): string {
  if (!isFinite(bytesPerSecond) || bytesPerSecond <= 0) return '-';
  return `${formatBytes(Math.round(bytesPerSecond))}/s`;
}

export function formatEta(seconds: number): string {
  if (!isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.ceil(seconds);
  const m = Math.floor(s / 60);
  return `${m}:${String(s % 60).padStart(2, '0')}`;
}

/**
 * On a terminal: one line redrawn in place (bar, bytes, rate, ETA) at most every `redrawMs`.
 * Otherwise (pipes, CI logs): a plain line at each `lineStep` of the total, so logs stay short.
 * Both go to stderr, keeping stdout for data (--json).
 */
export function createProgress(io: CliIo, opts: ProgressOptions): Progress {
  const now = opts.now ?? (() => Date.now());
  const total = Math.max(0, opts.total);
  const width = opts.barWidth ?? 30;
  const redrawMs = opts.redrawMs ?? 100;
  const step = opts.lineStep ?? 0.25;
  const start = now();
  let lastDraw = -Infinity;
  let nextLineAt = step;
  let done = 0;
  let finished = false;

  const stats = () => {
    const seconds = Math.max(now() - start, 0) / 1000;
    const rate = seconds > 0 ? done / seconds : NaN;
    const eta = rate > 0 ? (total - done) / rate : NaN;
    const fraction = total > 0 ? Math.min(done / total, 1) : 1;
    return { seconds, rate, eta, fraction };
  };

  const drawBar = (final: boolean) => {
    const { rate, eta, fraction, seconds } = stats();
    const filled = Math.round(fraction * width);
    const bar = '#'.repeat(filled) + '-'.repeat(width - filled);
    const pct = `${Math.floor(fraction * 100)}%`.padStart(4);
    const tail = final ? `in ${seconds.toFixed(2)} s` : `ETA ${formatEta(eta)}`;
    io.stderr(`\r${opts.label} [${bar}] ${pct} ${formatBytes(done)}/${formatBytes(total)} ${formatRate(rate)} ${tail}\x1b[K${final ? '\n' : ''}`);
  };

  const line = () => {
    const { rate, fraction } = stats();
    io.stderr(`${opts.label}: ${done}/${total} bytes (${Math.floor(fraction * 100)}%), ${formatRate(rate)}\n`);
  };

  return {
    update(n: number) {
      if (finished) return;
      done = Math.min(Math.max(n, done), total);
      if (io.isTTY) {
        const t = now();
        if (t - lastDraw >= redrawMs) {
          lastDraw = t;
          drawBar(false);
        }
      } else if (total > 0 && done < total && done / total >= nextLineAt) {
        line();
        while (done / total >= nextLineAt) nextLineAt += step;
      }
    },
    finish() {
      if (finished) return;
      finished = true;
      if (io.isTTY) drawBar(true);
      else line();
    },
    abandon() {
      if (finished) return;
      finished = true;
      if (io.isTTY && lastDraw !== -Infinity) io.stderr('\r\x1b[K');
    },
  };
}

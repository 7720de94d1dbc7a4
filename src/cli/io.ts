import * as fs from 'node:fs';

/** Where a command prints; tests pass their own to capture output without a child process. */
export interface CliIo {
  stdout(text: string | Uint8Array): void;
  stderr(text: string): void;
  /** stderr is a terminal: progress is drawn as a bar redrawn in place there, else as plain lines. */
  isTTY: boolean;
}

/**
 * The reader of stdout went away (`otaflash ... | head`): there is no one left to tell, so the
 * dispatcher stops the command quietly instead of reporting an error.
 */
export class OutputClosedError extends Error {
  constructor() {
    super('stdout was closed by its reader');
  }
}

function writeAll(fd: number, t: string | Uint8Array): void {
  let bytes = typeof t === 'string' ? Buffer.from(t, 'utf8') : t;
  while (bytes.length > 0) {
    try {
      const n = fs.writeSync(fd, bytes);
      bytes = bytes.subarray(n);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EPIPE') throw new OutputClosedError();
      // A non-blocking pipe that is full: wait for the reader, then go on.
      if (code !== 'EAGAIN') throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
    }
  }
}

export const nodeIo: CliIo = {
  stdout: (t) => writeAll(1, t),
  stderr: (t) => {
    try {
      writeAll(2, t);
    } catch {
      // Nowhere left to report to; the exit code still tells.
    }
  },
  // Progress goes to stderr, so stderr decides: `otaflash update ... > log` still shows the bar.
  isTTY: Boolean(process.stderr.isTTY),
};

/** A usage or input problem found by the CLI itself (bad flag, missing file). */
export class CliError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 2) {
    super(message);
    this.exitCode = exitCode;
  }
}

export interface Command {
  summary: string;
  help: string;
  run(argv: string[], io: CliIo): number;
  /**
   * Commands that wait on the network or on signals (serve, pull) run here instead; `run` then only
   * refuses, as run() cannot wait. main.ts goes through runAsync(), which prefers this.
   */
  runAsync?(argv: string[], io: CliIo): Promise<number>;
}

export interface ParsedArgs {
  positional: string[];
  flags: Record<string, string | true>;
}

/**
 * Small argument parser: `--name value`, `--name=value`, boolean flags listed in `booleans`.
 * Unknown flags are an error so typos do not pass silently.
 */
export function parseArgs(argv: string[], spec: { values?: string[]; booleans?: string[]; repeat?: string[] }): ParsedArgs & { lists: Record<string, string[]> } {
  const values = new Set(spec.values ?? []);
  const booleans = new Set(spec.booleans ?? []);
  const repeat = new Set(spec.repeat ?? []);
  const positional: string[] = [];
  const flags: Record<string, string | true> = {};
  const lists: Record<string, string[]> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-' || !a.startsWith('-')) {
      positional.push(a);
      continue;
    }
    if (a === '--') {
      positional.push(...argv.slice(i + 1));
      break;
    }
    const eq = a.indexOf('=');
    const name = (eq >= 0 ? a.slice(0, eq) : a).replace(/^--?/, '');
    // The same option twice is a mistake that would otherwise silently keep only the last value.
    if (name in flags) throw new CliError(`option --${name} is given twice`);
    if (booleans.has(name)) {
      if (eq >= 0) throw new CliError(`option --${name} takes no value`);
      flags[name] = true;
    } else if (values.has(name) || repeat.has(name)) {
      let v: string;
      if (eq >= 0) v = a.slice(eq + 1);
      else {
        // `--label --json` means the value was forgotten, not that the label is "--json".
        if (i + 1 >= argv.length || argv[i + 1].startsWith('--')) throw new CliError(`option --${name} needs a value`);
        v = argv[++i];
      }
      if (repeat.has(name)) (lists[name] ??= []).push(v);
      else flags[name] = v;
    } else {
      const known = Array.from(values).concat(Array.from(repeat), Array.from(booleans)).filter((n) => n.length > 1).sort();
      throw new CliError(`unknown option ${eq >= 0 ? a.slice(0, eq) : a} (options: ${known.length > 0 ? known.map((n) => '--' + n).join(' ') : 'none'})`);
    }
  }
  return { positional, flags, lists };
}

/** Parses 4096, 0x1000, 4K, 4KB, 4M, 4MB, 4MiB. */
export function parseSize(text: string, what: string): number {
  const m = /^(0x[0-9a-f]+|\d+)\s*(k|kb|kib|m|mb|mib)?$/i.exec(text.trim());
  if (!m) throw new CliError(`${what}: '${text}' is not a size (examples: 4096, 0x1000, 64K, 4MB)`);
  const base = parseInt(m[1], m[1].toLowerCase().startsWith('0x') ? 16 : 10);
  const unit = (m[2] ?? '').toLowerCase();
  const mult = unit.startsWith('k') ? 1024 : unit.startsWith('m') ? 1024 * 1024 : 1;
  const v = base * mult;
  if (!Number.isSafeInteger(v)) throw new CliError(`${what}: '${text}' is too large`);
  return v;
}

/**
 * The largest input file the CLI reads: app images are at most 16 MiB and tables a few KiB, so
 * anything bigger is the wrong file, or an endless one (/dev/zero, a pipe that never ends).
 */
export const INPUT_LIMIT = 64 * 1024 * 1024;

function tooLarge(path: string, what: string, limit: number): CliError {
  return new CliError(`${what} '${path}' is larger than ${limit / (1024 * 1024)} MiB, more than any input otaflash takes (app images are at most 16 MiB)`);
}

/**
 * Reads a whole input file ('-' for stdin) in chunks, refusing it once it passes `limit`, so an
 * endless input is refused instead of read until memory runs out.
 */
export function readInput(path: string, what = 'input', limit = INPUT_LIMIT): Uint8Array {
  let fd = 0;
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    if (path !== '-') {
      fd = fs.openSync(path, 'r');
      const st = fs.fstatSync(fd);
      if (st.isFile() && st.size > limit) throw tooLarge(path, what, limit);
    }
    for (;;) {
      // One byte past the limit is enough to know the input is too large.
      const buf = Buffer.allocUnsafe(Math.min(1024 * 1024, limit + 1 - total));
      let n: number;
      try {
        n = fs.readSync(fd, buf, 0, buf.length, null);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EOF') break;
        // A non-blocking stdin with nothing yet: wait for the writer, then go on.
        if (code !== 'EAGAIN') throw e;
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
        continue;
      }
      if (n === 0) break;
      chunks.push(n === buf.length ? buf : buf.subarray(0, n));
      total += n;
      if (total > limit) throw tooLarge(path, what, limit);
    }
  } catch (e) {
    if (e instanceof CliError) throw e;
    throw new CliError(`cannot read ${what} '${path}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  } finally {
    if (path !== '-' && fd !== 0) fs.closeSync(fd);
  }
  return Buffer.concat(chunks, total);
}

export function writeOutput(path: string, data: Uint8Array | string, io: CliIo): void {
  if (path === '-') {
    io.stdout(data);
    return;
  }
  try {
    fs.writeFileSync(path, data);
  } catch (e) {
    throw new CliError(`cannot write '${path}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

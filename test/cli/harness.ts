// What the CLI test files share: temporary files, running the CLI in this process, and the two
// outcomes most checks look for (success, or a refusal with one line on stderr).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as assert from 'uvu/assert';
import { run } from '../../src/cli/run';

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** A new temporary folder (`.dir`), removed at exit; the function names a fresh file in it per call. */
export function tempFiles(prefix: string): ((name: string) => string) & { readonly dir: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  let counter = 0;
  return Object.assign((name: string) => path.join(dir, `${counter++}-${name}`), { dir });
}

/** The CLI through run() (what main.ts calls). The first argument may be a two-word command ('partition read'), split as a shell would. */
export function runInProcess(...args: string[]): Run {
  const argv = args[0].split(' ').concat(args.slice(1));
  let stdout = '';
  let stderr = '';
  const code = run(argv, {
    stdout: (t) => void (stdout += typeof t === 'string' ? t : Buffer.from(t).toString('latin1')),
    stderr: (t) => void (stderr += t),
    isTTY: false,
  });
  return { code, stdout, stderr };
}

/** `r` exited with `code` (0: success). */
export function expectExit(r: Run, code: number, args: string[]): Run {
  const what = code === 0 ? `exited ${r.code}` : `should exit ${code}, got ${r.code}`;
  assert.is(r.code, code, `otaflash ${args.join(' ')} ${what}:\n${r.stderr}${r.stdout}`);
  return r;
}

/** Exactly one line on stderr, mentioning `needle`. */
export function expectOneErrorLine(r: Run, needle: string | RegExp): void {
  const lines = r.stderr.split('\n').filter((l) => l.length > 0);
  assert.is(lines.length, 1, `one error line, got:\n${r.stderr}`);
  assert.ok(typeof needle === 'string' ? lines[0].includes(needle) : needle.test(lines[0]), `error line mentions ${needle}: ${lines[0]}`);
}

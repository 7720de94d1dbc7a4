// The CLI runs on Node: use node:crypto / zlib for hashes (4-10x the portable speed).
import '../node/index';
import { OtaflashError } from '../errors';
import { commands } from './commands';
import { CliError, type CliIo, type Command, OutputClosedError, nodeIo } from './io';

const USAGE = `otaflash: flash partitions and OTA updates, byte-exact with ESP-IDF

Usage: otaflash <command> [options]

Commands:
${'{COMMANDS}'}

Run 'otaflash <command> --help' for the options of one command.
Exit codes: 0 ok, 1 verification failed, 2 bad input or usage.`;

function usage(): string {
  const names = Object.keys(commands).sort();
  const width = Math.max(...names.map((n) => n.length));
  return USAGE.replace('{COMMANDS}', names.map((n) => `  ${n.padEnd(width)}  ${commands[n].summary}`).join('\n'));
}

/** Runs one CLI invocation; returns the exit code. Errors become one line on stderr. */
export function run(argv: string[], io: CliIo = nodeIo): number {
  const found = dispatch(argv, io);
  if (typeof found === 'number') return found;
  try {
    return found.cmd.run(found.rest, io);
  } catch (e) {
    return reportFailure(found.name, e, io);
  }
}

/** Like run(), for commands that wait (runAsync): what main.ts calls. */
export async function runAsync(argv: string[], io: CliIo = nodeIo): Promise<number> {
  const found = dispatch(argv, io);
  if (typeof found === 'number') return found;
  try {
    return found.cmd.runAsync ? await found.cmd.runAsync(found.rest, io) : found.cmd.run(found.rest, io);
  } catch (e) {
    return reportFailure(found.name, e, io);
  }
}

/** Finds the command of `argv`, or answers usage, --version and --help itself (an exit code). */
function dispatch(argv: string[], io: CliIo): number | { name: string; cmd: Command; rest: string[] } {
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    io.stdout(usage() + '\n');
    return argv.length === 0 ? 2 : 0;
  }
  if (argv[0] === '--version' || argv[0] === '-V') {
    io.stdout('0.1.0\n');
    return 0;
  }
  // Commands may be one word ("demo") or two ("partition-table convert").
  let name = argv[0];
  let rest = argv.slice(1);
  if (!(name in commands) && argv.length > 1 && `${argv[0]} ${argv[1]}` in commands) {
    name = `${argv[0]} ${argv[1]}`;
    rest = argv.slice(2);
  }
  const cmd = commands[name];
  if (!cmd) {
    const group = Object.keys(commands).filter((n) => n.startsWith(argv[0] + ' '));
    if (group.length > 0) {
      io.stderr(`otaflash: '${argv.slice(0, 2).join(' ')}' is not a command. Try: ${group.join(', ')}\n`);
    } else {
      io.stderr(`otaflash: unknown command '${argv[0]}'. Run 'otaflash --help'.\n`);
    }
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    io.stdout(cmd.help + '\n');
    return 0;
  }
  return { name, cmd, rest };
}

/** Exit code of a command that hit something no check foresaw: a bug to report, not bad input. */
export const EXIT_INTERNAL = 70;

/**
 * Every failure becomes one line on stderr and an exit code; nothing escapes as a stack trace.
 * OtaflashError and CliError are the expected ones (exit 2 unless the command says otherwise);
 * an operating-system error (disk full, permission denied) is bad input or environment, also 2;
 * anything else is a bug in otaflash, reported as such (OTAFLASH_DEBUG=1 adds the stack).
 */
function reportFailure(name: string, e: unknown, io: CliIo): number {
  if (e instanceof OutputClosedError) return 0;
  if (e instanceof CliError || e instanceof OtaflashError) {
    const code = e instanceof OtaflashError ? ` [${e.code}]` : '';
    io.stderr(`otaflash ${name}: ${oneLine(e.message)}${code}\n`);
    return e instanceof CliError ? e.exitCode : 2;
  }
  const errno = e as NodeJS.ErrnoException;
  if (e instanceof Error && typeof errno.code === 'string' && typeof errno.syscall === 'string') {
    const where = errno.path !== undefined ? ` '${errno.path}'` : '';
    io.stderr(`otaflash ${name}: ${errno.syscall}${where} failed: ${errno.code}\n`);
    return 2;
  }
  const message = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  const stack = process.env.OTAFLASH_DEBUG && e instanceof Error && e.stack ? ` | ${oneLine(e.stack)}` : '';
  io.stderr(`otaflash ${name}: internal error (please report it, with OTAFLASH_DEBUG=1 for details): ${oneLine(message)}${stack}\n`);
  return EXIT_INTERNAL;
}

/** Messages may quote user text (CSV cells, file names) that holds newlines: keep them to one line. */
function oneLine(text: string): string {
  return text.replace(/\r?\n/g, ' | ');
}

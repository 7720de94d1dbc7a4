// The CLI runs on Node: use node:crypto / zlib for hashes (4-10x the portable speed).
import '../node/index';
import { OtaflashError } from '../errors';
import { commands } from './commands';
import { CliError, type CliIo, nodeIo } from './io';

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
  try {
    return cmd.run(rest, io);
  } catch (e) {
    if (e instanceof CliError || e instanceof OtaflashError) {
      const code = e instanceof OtaflashError ? ` [${e.code}]` : '';
      io.stderr(`otaflash ${name}: ${e.message}${code}\n`);
      return e instanceof CliError ? e.exitCode : 2;
    }
    throw e;
  }
}

// otaflash delta create OLD NEW -o PATCH: a detools sequential patch from two image files.
import { createDeltaPatchDetailed, type DeltaCreateCompression } from '../delta/generate';
import { LZMA_DEFAULT_DICTIONARY } from '../delta/encode-lzma';
import { CliError, type CliIo, type Command, parseArgs, parseSize, readInput, writeOutput } from './io';
import { formatBytes } from './progress';

const HELP = `Usage: otaflash delta create OLD NEW -o PATCH [--compression lzma|heatshrink|none] [--dictionary SIZE] [--json]

Makes a detools "sequential" patch that turns the image OLD into NEW. Anything that applies
detools patches applies it (ESP-IDF's delta OTA, detools' C library, otaflash delta apply).

  --output PATCH (-o)  where to write the patch ('-' for stdout)
  --compression C      lzma (default), heatshrink (window 2^8, lookahead 2^7, as detools) or none
  --dictionary SIZE    lzma dictionary the device must hold while applying (default 64K; 4K..64M)
  --json               print what was made as JSON (sizes, records) on stdout

Small images are matched with several settings and the smallest patch is kept, so creating a
patch of a few hundred KiB takes a few seconds. Progress goes to stderr.

Exit status: 0 patch written, 2 unusable input (unreadable file, bad option).`;

const COMPRESSIONS: readonly DeltaCreateCompression[] = ['lzma', 'heatshrink', 'none'];

export const deltaCreateCommand: Command = {
  summary: 'make a detools sequential patch from two images',
  help: HELP,
  run(argv: string[], io: CliIo): number {
    // -o is the short form of --output.
    const normalised = argv.map((a) => (a === '-o' ? '--output' : a.startsWith('-o=') ? '--output=' + a.slice(3) : a));
    const args = parseArgs(normalised, { values: ['output', 'compression', 'dictionary'], booleans: ['json'] });
    if (args.positional.length !== 2) throw new CliError(`delta create needs OLD and NEW image files, got ${args.positional.length} file name(s) (see otaflash delta create --help)`);
    const output = args.flags.output;
    if (typeof output !== 'string') throw new CliError('delta create needs -o PATCH (where to write the patch)');
    const compression = (args.flags.compression ?? 'lzma') as DeltaCreateCompression;
    if (!COMPRESSIONS.includes(compression)) throw new CliError(`--compression must be lzma, heatshrink or none, got '${String(compression)}'`);
    let dictionarySize = LZMA_DEFAULT_DICTIONARY;
    if (args.flags.dictionary !== undefined) {
      if (compression !== 'lzma') throw new CliError('--dictionary applies to lzma patches only');
      dictionarySize = parseSize(String(args.flags.dictionary), '--dictionary');
      if (dictionarySize < 4096 || dictionarySize > 64 * 1024 * 1024) throw new CliError(`--dictionary must be 4K..64M, got ${dictionarySize} bytes`);
    }
    if (output === '-' && args.flags.json) throw new CliError('--json and -o - both write to stdout; write the patch to a file');
    const [oldPath, newPath] = args.positional;
    if (oldPath === '-' && newPath === '-') throw new CliError('OLD and NEW cannot both be stdin');
    const old = readInput(oldPath, 'old image');
    const nu = readInput(newPath, 'new image');

    const started = Date.now();
    let lastStage = '';
    const result = createDeltaPatchDetailed(old, nu, {
      compression,
      dictionarySize,
      onProgress: (stage, trial, trials) => {
        if (stage === 'done') return;
        const line = trials > 1 ? `matching and compressing, setting ${trial} of ${trials}...` : `${stage === 'match' ? 'matching' : 'compressing'}...`;
        if (line === lastStage) return;
        lastStage = line;
        io.stderr(`delta create: ${line}\n`);
      },
    });
    writeOutput(output, result.patch, io);
    const seconds = (Date.now() - started) / 1000;
    if (args.flags.json) {
      io.stdout(
        JSON.stringify({
          old: { file: oldPath, size: old.length },
          new: { file: newPath, size: nu.length },
          patch: { file: output, size: result.patch.length },
          type: 'sequential',
          compression,
          dictionarySize: compression === 'lzma' ? dictionarySize : null,
          heatshrink: compression === 'heatshrink' ? { window: 8, lookahead: 7 } : null,
          records: result.records,
          diffBytes: result.diffBytes,
          extraBytes: result.extraBytes,
          seconds,
        }, null, 2) + '\n',
      );
    } else if (output !== '-') {
      const ratio = nu.length > 0 ? ((100 * result.patch.length) / nu.length).toFixed(1) : '0.0';
      io.stdout(
        `${output}: ${result.patch.length} bytes (${formatBytes(result.patch.length)}, ${ratio}% of the new image), ` +
          `sequential ${compression}${compression === 'lzma' ? `, dictionary ${formatBytes(dictionarySize)}` : ''}; ` +
          `${result.records} records, ${result.extraBytes} new bytes; ${seconds.toFixed(1)} s\n`,
      );
    }
    return 0;
  },
};

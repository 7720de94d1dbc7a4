import * as fs from 'node:fs';
import { OtaflashError, hex } from '../errors';
import { partitionRegion } from '../formats/partition-lookup';
import { eraseAndWrite, printJson, readTableOf, removeQuietly, requirePartition, sameFile, tableOffsetFlag, withFlashImage } from './flash';
import { CliError, type Command, parseArgs, readInput } from './io';

// parttool.py's read_partition / write_partition / erase_partition, on a flash image file.
// Every access goes through a region view of the partition, so nothing can land outside it.

const CHUNK = 64 * 1024;

function common(argv: string[], extra: { values?: string[]; booleans?: string[] }) {
  const args = parseArgs(argv, { values: ['label', 'table-offset'].concat(extra.values ?? []), booleans: ['json'].concat(extra.booleans ?? []) });
  if (args.positional.length !== 1) throw new CliError('expected one FILE (a flash image)');
  if (typeof args.flags.label !== 'string' || args.flags.label === '') throw new CliError('--label NAME is required');
  return { args, file: args.positional[0], label: args.flags.label, tableOffset: tableOffsetFlag(args.flags) };
}

export const partitionReadCommand: Command = {
  summary: 'copy one partition of a flash image to a file (by label)',
  help: `Usage: otaflash partition read FILE --label NAME --output OUT.bin [--table-offset 0x8000] [--json]

Copies the whole partition NAME (its full size, erased bytes included) to OUT.bin ('-' for stdout).
--json prints what was copied (not with --output -, where stdout holds the partition's bytes).`,
  run(argv, io) {
    const { args, file, label, tableOffset } = common(argv, { values: ['output'] });
    const out = args.flags.output;
    if (typeof out !== 'string') throw new CliError('--output FILE is required (- for stdout)');
    if (out === '-' && args.flags.json) throw new CliError('--json and --output - both want stdout; pick one');
    // OUT is replaced by the partition's bytes: if it is the image itself, the image is lost.
    if (sameFile(out, file)) throw new CliError(`--output '${out}' is the flash image '${file}' itself: writing the partition there would replace the image; pick another file`);
    return withFlashImage(file, (image) => {
      const table = readTableOf(image, tableOffset);
      const p = requirePartition(table, label, file);
      const region = partitionRegion(image.device, p);
      // Written under a temporary name, renamed when complete: a failed read leaves no partial OUT.
      const temp = `${out}.otaflash-${process.pid}.tmp`;
      let fd = 1;
      if (out !== '-') {
        try {
          fd = fs.openSync(temp, 'w');
        } catch (e) {
          throw new CliError(`cannot write '${out}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
        }
      }
      let done = false;
      try {
        const buf = new Uint8Array(Math.min(CHUNK, p.size));
        for (let at = 0; at < p.size; at += buf.length) {
          const view = buf.subarray(0, Math.min(buf.length, p.size - at));
          region.read(at, view);
          if (out === '-') io.stdout(view);
          else fs.writeSync(fd, view);
        }
        if (out !== '-') {
          fs.closeSync(fd);
          fd = -1;
          try {
            fs.renameSync(temp, out);
          } catch (e) {
            throw new CliError(`cannot write '${out}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
          }
        }
        done = true;
      } finally {
        if (out !== '-') {
          if (fd >= 0) fs.closeSync(fd);
          if (!done) removeQuietly(temp);
        }
      }
      if (args.flags.json) printJson(io, { label: p.label, offset: p.offset, size: p.size, output: out });
      else if (out !== '-') io.stdout(`read ${p.size} bytes of '${p.label}' (${hex(p.offset)}) into ${out}\n`);
      return 0;
    }, 'read');
  },
};

export const partitionWriteCommand: Command = {
  summary: 'write a file into one partition of a flash image (by label), erasing first',
  help: `Usage: otaflash partition write FILE --label NAME --input IN.bin [--table-offset 0x8000] [--json]

Erases the sectors IN.bin needs at the start of partition NAME, writes it, and reads it back.
IN.bin must fit in the partition; the rest of the partition is left as it was.`,
  run(argv, io) {
    const { args, file, label, tableOffset } = common(argv, { values: ['input'] });
    const input = args.flags.input;
    if (typeof input !== 'string') throw new CliError('--input FILE is required');
    if (sameFile(input, file)) throw new CliError(`--input '${input}' is the flash image '${file}' itself: pick the file to write into partition '${label}'`);
    const data = readInput(input, 'input');
    // Almost surely the wrong file; 'partition erase' is the way to clear a partition.
    if (data.length === 0) throw new CliError(`input '${input}' is empty: nothing to write (to clear the partition, use 'otaflash partition erase')`);
    return withFlashImage(file, (image) => {
      const table = readTableOf(image, tableOffset);
      const p = requirePartition(table, label, file);
      if (data.length > p.size) {
        throw new OtaflashError('PARTITION_TOO_SMALL', `${input} is ${data.length} bytes (${hex(data.length)}), larger than partition '${p.label}' (${hex(p.size)} bytes at ${hex(p.offset)})`, { label: p.label });
      }
      eraseAndWrite(partitionRegion(image.device, p), 0, data, `partition '${p.label}'`);
      if (args.flags.json) printJson(io, { label: p.label, offset: p.offset, size: p.size, written: data.length });
      else io.stdout(`wrote ${data.length} bytes into '${p.label}' at ${hex(p.offset)} (partition size ${hex(p.size)})\n`);
      return 0;
    });
  },
};

export const partitionEraseCommand: Command = {
  summary: 'erase one partition of a flash image (by label)',
  help: `Usage: otaflash partition erase FILE --label NAME [--table-offset 0x8000] [--json]

Erases the whole partition NAME to 0xFF. Its offset and size must be whole 4 KiB sectors.`,
  run(argv, io) {
    const { args, file, label, tableOffset } = common(argv, {});
    return withFlashImage(file, (image) => {
      const table = readTableOf(image, tableOffset);
      const p = requirePartition(table, label, file);
      const dev = image.device;
      if (p.offset % dev.eraseSize !== 0 || p.size % dev.eraseSize !== 0) {
        throw new OtaflashError('FLASH_MISALIGNED', `partition '${p.label}' (${hex(p.offset)}+${hex(p.size)}) is not made of whole ${hex(dev.eraseSize)}-byte sectors, so it cannot be erased`, { label: p.label });
      }
      partitionRegion(dev, p).erase(0, p.size);
      dev.sync();
      if (args.flags.json) printJson(io, { label: p.label, offset: p.offset, erased: p.size });
      else io.stdout(`erased '${p.label}': ${p.size} bytes at ${hex(p.offset)}\n`);
      return 0;
    });
  },
};

import * as fs from 'node:fs';
import { OtaflashError, hex } from '../errors';
import type { BlockDevice } from '../flash/types';
import { verifyImage } from '../formats/app-image-verify';
import type { ImageVerdict } from '../formats/app-image-types';
import { chipName } from '../formats/chips';
import { parsePartitionCsv } from '../formats/partition-csv';
import { typeName, subtypeName } from '../formats/partition-keywords';
import { verifyPartitionTable } from '../formats/partition-verify';
import { findPartition, partitionRegion } from '../formats/partition-lookup';
import { PARTITION_TABLE_OFFSET, PARTITION_TABLE_SECTOR_SIZE, decodePartitionTable, encodePartitionTable, readPartitionTable } from '../formats/partition-table';
import { PARTITION_FLAG_ENCRYPTED, PARTITION_FLAG_READONLY, PARTITION_TYPE_APP, type Partition, type PartitionTable } from '../formats/partition-types';
import { FileFlash } from '../node/file-flash';
import { CliError, type CliIo, type Command, parseArgs, parseSize, readInput } from './io';

// Shared by every command that works on a whole flash image file: open it as a device, find the
// partition table in it, look partitions up by label with errors that name what exists.

export interface FlashImage {
  readonly device: BlockDevice;
  readonly path: string;
  close(): void;
}

/** Opens an existing flash image file as a block device (sync positional I/O, 4 KiB sectors). */
export function openFlashImage(path: string, access: 'read' | 'write' = 'write'): FlashImage {
  let st: fs.Stats;
  try {
    st = fs.statSync(path);
  } catch (e) {
    throw new CliError(`cannot open flash image '${path}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (!st.isFile()) throw new CliError(`flash image '${path}' is not a file`);
  if (st.size === 0 || st.size % 4096 !== 0) {
    throw new CliError(`flash image '${path}' is ${st.size} bytes, not a whole number of 4 KiB sectors`);
  }
  let device: FileFlash;
  try {
    device = new FileFlash(path, { readOnly: access === 'read' });
  } catch (e) {
    if (e instanceof OtaflashError && e.code !== 'FLASH_FILE_IO') throw e;
    throw new CliError(`cannot open flash image '${path}' for ${access === 'read' ? 'reading' : 'reading and writing'}: ${errnoOf(e)}`);
  }
  return { device, path, close: () => device.close() };
}

/**
 * Runs `body` with the image open and always closes it (the fd must not leak on an error).
 * Commands that only look open it with access 'read', so a read-only file works and a bug cannot write.
 */
export function withFlashImage<T>(path: string, body: (image: FlashImage) => T, access: 'read' | 'write' = 'write'): T {
  const image = openFlashImage(path, access);
  try {
    return body(image);
  } finally {
    image.close();
  }
}

export function readTableOf(image: FlashImage, tableOffset: number): PartitionTable {
  try {
    const table = readPartitionTable(image.device, tableOffset);
    // The bootloader refuses a table whose first record is the end marker (erased flash).
    if (table.partitions.length === 0) throw new OtaflashError('PARTITION_TABLE_EMPTY', 'the first record is the end marker (erased flash?)');
    return table;
  } catch (e) {
    if (e instanceof OtaflashError) {
      throw new OtaflashError(e.code, `${image.path}: no usable partition table at ${hex(tableOffset)} (${e.message})`, e.info as Record<string, unknown>);
    }
    throw e;
  }
}

export function tableOffsetFlag(flags: Record<string, string | true>): number {
  const v = flags['table-offset'];
  if (v === undefined) return PARTITION_TABLE_OFFSET;
  const n = parseSize(String(v), '--table-offset');
  if (n > 0xffffffff) throw new CliError(`--table-offset '${String(v)}' is beyond 32-bit flash addresses`);
  if (n % 0x1000 !== 0) throw new CliError(`--table-offset ${hex(n)} must be a multiple of 0x1000`);
  return n;
}

export function requirePartition(table: PartitionTable, label: string, where: string): Partition {
  const p = findPartition(table, label);
  if (!p) {
    const labels = table.partitions.map((x) => x.label).join(', ');
    throw new CliError(`${where}: no partition labelled '${label}' (the table has: ${labels || 'no partitions'})`);
  }
  return p;
}

/**
 * A partition table from a file: binary when it starts with the record magic AA 50 (written back
 * exactly as given), CSV otherwise (encoded with the MD5 record, as gen_esp32part does by default).
 * With `offset` (where the table will sit in flash), a CSV is laid out after that offset and a
 * binary table is checked as gen_esp32part would check it there, so a table that overlaps itself
 * or another partition is refused instead of written.
 */
export function loadTableFile(path: string, offset?: number): { table: PartitionTable; bytes: Uint8Array } {
  const bytes = readInput(path, 'partition table');
  if (bytes.length >= 2 && bytes[0] === 0xaa && bytes[1] === 0x50) {
    if (bytes.length !== 0xc00 && bytes.length !== 0x1000) {
      throw new CliError(`partition table '${path}' is ${bytes.length} bytes; a binary table is 3072 (0xC00) or 4096 bytes`);
    }
    const area = new Uint8Array(bytes.subarray(0, 0xc00));
    const table = nonEmpty(decodePartitionTable(area), path);
    if (offset !== undefined) prefixErrors(`partition table '${path}'`, () => verifyPartitionTable(table, { offset }));
    return { table, bytes: area };
  }
  const table = nonEmpty(parsePartitionCsv(bytes, offset !== undefined ? { offset } : {}), path);
  return { table, bytes: encodePartitionTable(table, { md5: true }) };
}

/**
 * Runs a library step whose errors know only a device or a table, and puts `where` (the file) in
 * front of their message unless it is already there.
 */
export function prefixErrors<T>(where: string, step: () => T): T {
  try {
    return step();
  } catch (e) {
    if (e instanceof OtaflashError && e.message.indexOf(where) !== 0) throw new OtaflashError(e.code, `${where}: ${e.message}`, e.info as Record<string, unknown>);
    throw e;
  }
}

/** The first bytes (at most 256) of `length` bytes at `offset` read as erased flash. */
export function isErased(dev: BlockDevice, offset: number, length: number): boolean {
  const buf = new Uint8Array(Math.min(length, 256));
  dev.read(offset, buf);
  for (let i = 0; i < buf.length; i++) if (buf[i] !== dev.eraseValue) return false;
  return true;
}

/**
 * True when both paths name the same existing file (another spelling, a symlink, a hard link):
 * writing one of them would destroy the other.
 */
export function sameFile(a: string, b: string): boolean {
  if (a === '-' || b === '-') return false;
  let sa: fs.Stats;
  let sb: fs.Stats;
  try {
    sa = fs.statSync(a);
    sb = fs.statSync(b);
  } catch {
    return false;
  }
  if (sa.ino !== 0 || sb.ino !== 0) return sa.dev === sb.dev && sa.ino === sb.ino;
  // Some file systems report no inode numbers: fall back to the resolved paths.
  try {
    return fs.realpathSync(a) === fs.realpathSync(b);
  } catch {
    return false;
  }
}

/** The bootloader refuses a table whose first record is the end marker, so a file of one is no table. */
function nonEmpty(table: PartitionTable, path: string): PartitionTable {
  if (table.partitions.length === 0) throw new OtaflashError('PARTITION_TABLE_EMPTY', `partition table '${path}' has no partitions`);
  return table;
}

/**
 * One partition in --json output, the same in every command: `partition-table show`'s fields
 * (numbers as numbers, as issue 3 asks) plus the type and subtype names people read.
 */
export function partitionJson(p: Partition) {
  return { ...partitionFieldsJson(p), typeName: typeName(p.type), subtypeName: subtypeName(p.type, p.subtype) };
}

/** Exactly the fields `partition-table show --json` promises, numbers as numbers. */
export function partitionFieldsJson(p: Partition) {
  return {
    label: p.label,
    type: p.type,
    subtype: p.subtype,
    offset: p.offset,
    size: p.size,
    encrypted: (p.flags & PARTITION_FLAG_ENCRYPTED) !== 0,
    readonly: (p.flags & PARTITION_FLAG_READONLY) !== 0,
  };
}

/** Deletes a file we made, ignoring failure: used on the way out of an error that is reported already. */
export function removeQuietly(path: string): void {
  try {
    fs.unlinkSync(path);
  } catch {
    // Nothing to clean, or nothing we can do about it.
  }
}

/** Where the ROM loads the second-stage bootloader from, by chip (esptool's BOOTLOADER_FLASH_OFFSET). */
export function bootloaderOffsetFor(chip: number): number {
  if (chip === 0x0000 || chip === 0x0002) return 0x1000; // ESP32, ESP32-S2
  if (chip === 0x0012 || chip === 0x0017) return 0x2000; // ESP32-P4, ESP32-C5
  return 0x0;
}

function verifyFileImage(bytes: Uint8Array, what: string, maxSize: number): ImageVerdict {
  try {
    return verifyImage(bytes, { maxSize });
  } catch (e) {
    if (e instanceof OtaflashError) throw new OtaflashError(e.code, `${what}: ${e.message}`, e.info as Record<string, unknown>);
    throw e;
  }
}

/** Erases the sectors [offset, offset + length rounded up) of `dev` and writes `data` there, then reads it back. */
export function eraseAndWrite(dev: BlockDevice, offset: number, data: Uint8Array, what: string): void {
  const end = offset + data.length;
  const eraseEnd = Math.ceil(end / dev.eraseSize) * dev.eraseSize;
  if (eraseEnd > dev.size) {
    throw new CliError(`${what}: ${data.length} bytes at ${hex(offset)} need the sectors up to ${hex(eraseEnd)}, past the end ${hex(dev.size)}`);
  }
  if (eraseEnd > offset) dev.erase(offset, eraseEnd - offset);
  const chunk = 64 * 1024;
  for (let at = 0; at < data.length; at += chunk) dev.write(offset + at, data.subarray(at, Math.min(at + chunk, data.length)));
  dev.sync();
  const back = new Uint8Array(Math.min(chunk, data.length));
  for (let at = 0; at < data.length; at += chunk) {
    const n = Math.min(chunk, data.length - at);
    const view = back.subarray(0, n);
    dev.read(offset + at, view);
    for (let i = 0; i < n; i++) {
      if (view[i] !== data[at + i]) throw new OtaflashError('FLASH_VERIFY_FAILED', `${what}: read-back differs at flash ${hex(offset + at + i)}`);
    }
  }
}

interface AppPlacement {
  partition: Partition;
  file: string;
  bytes: Uint8Array;
}

/** The file an `--app` spec names: `BIN`, or `LABEL=BIN` unless a file is literally called that. */
function appFileOf(spec: string): string {
  const eq = spec.indexOf('=');
  return eq > 0 && !fs.existsSync(spec) ? spec.slice(eq + 1) : spec;
}

/** `--app BIN` fills the app partitions in table order; `--app LABEL=BIN` names the target. */
function placeApps(table: PartitionTable, specs: string[]): AppPlacement[] {
  const apps = table.partitions.filter((p) => p.type === PARTITION_TYPE_APP);
  const used = new Set<Partition>();
  const out: AppPlacement[] = [];
  for (const spec of specs) {
    const eq = spec.indexOf('=');
    let target: Partition | undefined;
    let file = spec;
    if (eq > 0 && !fs.existsSync(spec)) {
      const label = spec.slice(0, eq);
      file = spec.slice(eq + 1);
      target = requirePartition(table, label, `--app ${spec}`);
      if (target.type !== PARTITION_TYPE_APP) throw new CliError(`--app ${spec}: partition '${label}' is not an app partition`);
    } else {
      target = apps.find((p) => !used.has(p));
      if (!target) throw new CliError(`--app ${spec}: every app partition of the table already has an image`);
    }
    if (used.has(target)) throw new CliError(`--app ${spec}: partition '${target.label}' already gets an image`);
    used.add(target);
    out.push({ partition: target, file, bytes: readInput(file, 'app image') });
  }
  return out;
}

export const flashCreateCommand: Command = {
  summary: 'create a flash image file (erased), with a partition table, bootloader and apps in place',
  help: `Usage: otaflash flash create FILE --size SIZE [--table TABLE.csv|TABLE.bin] [--bootloader BIN]
                            [--app BIN | --app LABEL=BIN ...] [--table-offset 0x8000]
                            [--bootloader-offset N] [--force] [--json]

Writes FILE: SIZE bytes of 0xFF (erased NOR flash), then the partition table at --table-offset,
the bootloader at the chip's address (0x1000 for ESP32/ESP32-S2, 0x2000 for ESP32-P4/C5, 0 for the
others, read from the image header; --bootloader-offset overrides), and each --app image into an
app partition: in table order (factory first, then ota_0, ...) or the one named by LABEL=.
Images are verified (checksum, SHA-256, fits the partition) before anything is written.
otadata is left erased, so the bootloader starts the factory app (or ota_0).

  --size SIZE        flash size: 4MB, 0x400000, 4096K ...
  --force            overwrite FILE if it exists
  --json             print what was written as JSON`,
  run(argv, io) {
    const args = parseArgs(argv, {
      values: ['size', 'table', 'bootloader', 'table-offset', 'bootloader-offset'],
      repeat: ['app'],
      booleans: ['force', 'json'],
    });
    if (args.positional.length !== 1) throw new CliError('expected one FILE (the flash image to create)');
    const file = args.positional[0];
    if (args.flags.size === undefined) throw new CliError('--size is required (for example --size 4MB)');
    const size = parseSize(String(args.flags.size), '--size');
    if (size === 0 || size % 0x1000 !== 0) throw new CliError(`--size ${hex(size)} must be a positive multiple of 4 KiB`);
    if (size > 0x10000000) throw new CliError(`--size ${hex(size)} is larger than 256 MiB, the largest ESP flash`);
    const tableOffset = tableOffsetFlag(args.flags);
    const apps = args.lists.app ?? [];
    // An option that would be ignored is a mistake the user should hear about.
    if (args.flags['bootloader-offset'] !== undefined && args.flags.bootloader === undefined) throw new CliError('--bootloader-offset needs --bootloader');
    if (args.flags['table-offset'] !== undefined && args.flags.table === undefined) throw new CliError('--table-offset needs --table');
    if (fs.existsSync(file) && !args.flags.force) throw new CliError(`'${file}' exists; pass --force to overwrite it`);
    // With --force, an input that is FILE itself would be read, then replaced by the new image.
    const inputs: Array<[string, string]> = [];
    if (args.flags.table !== undefined) inputs.push(['--table', String(args.flags.table)]);
    if (args.flags.bootloader !== undefined) inputs.push(['--bootloader', String(args.flags.bootloader)]);
    for (const spec of apps) inputs.push(['--app', appFileOf(spec)]);
    for (const [flag, input] of inputs) {
      if (sameFile(input, file)) throw new CliError(`${flag} '${input}' is '${file}' itself, the image being created: pick another output file`);
    }
    let bootloaderOffset: number | undefined;
    if (args.flags['bootloader-offset'] !== undefined) {
      // The bootloader's sectors are erased before it is written: it must start on a sector.
      bootloaderOffset = parseSize(String(args.flags['bootloader-offset']), '--bootloader-offset');
      if (bootloaderOffset % 0x1000 !== 0) throw new CliError(`--bootloader-offset ${hex(bootloaderOffset)} must be a multiple of 4 KiB (0x1000), the flash sector size`);
      if (bootloaderOffset >= size) throw new CliError(`--bootloader-offset ${hex(bootloaderOffset)} is past the end of ${hex(size)} bytes of flash`);
    }

    // Read and check every input before the file is touched, so a bad input leaves nothing behind.
    let table: PartitionTable | null = null;
    let tableBytes: Uint8Array | null = null;
    if (args.flags.table !== undefined) {
      const loaded = loadTableFile(String(args.flags.table), tableOffset);
      table = loaded.table;
      tableBytes = loaded.bytes;
      if (tableOffset + PARTITION_TABLE_SECTOR_SIZE > size) throw new CliError(`the partition table at ${hex(tableOffset)} does not fit in ${hex(size)} bytes of flash`);
      for (const p of table.partitions) {
        if (p.offset + p.size > size) {
          throw new OtaflashError('PARTITION_PAST_FLASH_END', `partition '${p.label}' (${hex(p.offset)}..${hex(p.offset + p.size)}) ends past the flash size ${hex(size)}`, { label: p.label });
        }
      }
    } else if (apps.length > 0) {
      throw new CliError('--app needs --table (the images go into its app partitions)');
    }
    const placements = table ? placeApps(table, apps) : [];
    const verdicts = placements.map((a) => verifyFileImage(a.bytes, `--app ${a.file}`, a.partition.size));

    let bootloader: { file: string; bytes: Uint8Array; offset: number; verdict: ImageVerdict } | null = null;
    if (args.flags.bootloader !== undefined) {
      const bfile = String(args.flags.bootloader);
      const bytes = readInput(bfile, 'bootloader');
      const verdict = verifyFileImage(bytes, `--bootloader ${bfile}`, size);
      const offset = bootloaderOffset ?? bootloaderOffsetFor(verdict.chip);
      if (offset + bytes.length > tableOffset) {
        throw new CliError(`--bootloader ${bfile}: ${bytes.length} bytes at ${hex(offset)} run into the partition table at ${hex(tableOffset)}`);
      }
      bootloader = { file: bfile, bytes, offset, verdict };
    }

    // One flash belongs to one chip: a mix is a mistake the bootloader would only report at boot.
    const chips = (bootloader ? [{ what: `--bootloader ${bootloader.file}`, chip: bootloader.verdict.chip }] : []).concat(
      placements.map((a, i) => ({ what: `--app ${a.file}`, chip: verdicts[i].chip })),
    );
    for (const c of chips) {
      if (c.chip !== chips[0].chip) {
        throw new CliError(`${c.what} is for ${chipName(c.chip)} but ${chips[0].what} is for ${chipName(chips[0].chip)}: one flash image holds images for one chip`);
      }
    }

    const written: Array<{ what: string; offset: number; size: number; label?: string; version?: string; chip?: string }> = [];
    // Built under a temporary name and renamed at the end: a failure (or a kill) never leaves a
    // half-made FILE behind, and with --force the old FILE survives a failed create.
    const temp = `${file}.otaflash-${process.pid}.tmp`;
    let dev: FileFlash;
    try {
      dev = new FileFlash(temp, { size, create: 'always' });
    } catch (e) {
      removeQuietly(temp);
      if (e instanceof OtaflashError && e.code !== 'FLASH_FILE_IO') throw e;
      throw new CliError(`cannot create '${file}': ${errnoOf(e)}`);
    }
    const image: FlashImage = { device: dev, path: file, close: () => dev.close() };
    let done = false;
    try {
      if (bootloader) {
        eraseAndWrite(dev, bootloader.offset, bootloader.bytes, `bootloader ${bootloader.file}`);
        written.push({ what: 'bootloader', offset: bootloader.offset, size: bootloader.bytes.length, chip: chipName(bootloader.verdict.chip) });
      }
      if (tableBytes) {
        eraseAndWrite(dev, tableOffset, tableBytes, 'partition table');
        written.push({ what: 'partition-table', offset: tableOffset, size: 0xc00 });
        // Read it back through the decoder: what we wrote must be what the bootloader will see.
        readTableOf(image, tableOffset);
      }
      placements.forEach((a, i) => {
        eraseAndWrite(partitionRegion(dev, a.partition), 0, a.bytes, `app ${a.file} -> ${a.partition.label}`);
        const d = verdicts[i].appDesc;
        written.push({ what: 'app', label: a.partition.label, offset: a.partition.offset, size: a.bytes.length, version: d ? d.version : undefined, chip: chipName(verdicts[i].chip) });
      });
      image.close();
      try {
        fs.renameSync(temp, file);
      } catch (e) {
        throw new CliError(`cannot create '${file}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
      done = true;
    } finally {
      image.close();
      if (!done) removeQuietly(temp);
    }

    if (args.flags.json) {
      io.stdout(JSON.stringify({ file, size, tableOffset: table ? tableOffset : null, partitions: table ? table.partitions.map(partitionJson) : [], written }, null, 2) + '\n');
    } else {
      io.stdout(`created ${file}: ${size} bytes (${hex(size)}) of erased flash\n`);
      for (const w of written) {
        const extra = w.what === 'app' ? ` -> ${w.label}${w.version ? ` (version ${w.version}, ${w.chip})` : ` (${w.chip})`}` : w.chip ? ` (${w.chip})` : '';
        io.stdout(`  ${w.what.padEnd(15)} at ${hex(w.offset).padStart(9)}, ${w.size} bytes${extra}\n`);
      }
    }
    return 0;
  },
};

export function printJson(io: CliIo, value: unknown): void {
  io.stdout(JSON.stringify(value, null, 2) + '\n');
}

/** The errno name of a file-system failure (raw Node error or FileFlash's FLASH_FILE_IO), else its message. */
function errnoOf(e: unknown): string {
  if (e instanceof OtaflashError && e.info && typeof e.info.errno === 'string') return e.info.errno;
  return (e as NodeJS.ErrnoException).code ?? (e as Error).message;
}

import * as path from 'node:path';
import { OtaflashError, hex } from '../errors';
import type { BlockDevice } from '../flash/types';
import { inspectImage } from '../formats/app-image-verify';
import { partitionRegion } from '../formats/partition-lookup';
import { OtaEngine } from '../ota/engine';
import { nodeHashes } from '../node/hash';
import { ImageStore } from '../store/store';
import { IMAGE_KIND_CODES, type ImageKind, type StoredImage } from '../store/types';
import { utf8Encode } from '../formats/utf8';
import { type FlashImage, openFlashImage, prefixErrors, printJson, readTableOf, requirePartition, sameFile, tableOffsetFlag } from './flash';
import { CliError, type CliIo, type Command, parseArgs, parseSize, readInput } from './io';
import { createProgress } from './progress';

// `otaflash store ...`: the image store (src/store) on flash image files. The store lives in a data
// partition of the flash image (--partition LABEL, default 'store'), or fills a file of its own
// (--store FILE: the image of an external SPI NOR chip, made with `otaflash flash create FILE --size 1MB`).

export const DEFAULT_STORE_PARTITION = 'store';

const COMMON_VALUES = ['partition', 'store', 'table-offset'];

const WHERE_HELP = `  --partition LABEL  the data partition of FLASH holding the store (default '${DEFAULT_STORE_PARTITION}')
  --store FILE       the store fills FILE instead (an external flash chip's image); FLASH is then
                     needed only by install
  --table-offset N   where FLASH's partition table is (default 0x8000)
  --json             print the result as JSON`;

interface Opened {
  store: ImageStore;
  flash: FlashImage | null;
  where: string;
  close(): void;
}

/** Opens the store named by the flags (and FLASH when given or needed), closing what it opened on failure. */
function openStore(positional: string[], flags: Record<string, string | true>, needFlash: boolean, flushChunks = 1): Opened {
  const storeFile = flags.store;
  const label = flags.partition;
  if (storeFile !== undefined && label !== undefined) throw new CliError('--store and --partition name two different stores; pick one');
  if (positional.length > 1) throw new CliError(`expected one FLASH image, got ${positional.length} files`);
  const flashPath = positional[0];
  if (flashPath === undefined && (storeFile === undefined || needFlash)) throw new CliError(needFlash ? 'expected FLASH (the flash image with the OTA slots)' : 'expected FLASH (a flash image), or --store FILE');
  if (storeFile !== undefined && flashPath !== undefined && sameFile(String(storeFile), flashPath)) {
    throw new CliError(`--store '${String(storeFile)}' is FLASH itself; to keep the store inside FLASH use --partition LABEL`);
  }
  const opened: FlashImage[] = [];
  const close = () => {
    for (const f of opened) f.close();
  };
  try {
    const flash = flashPath !== undefined ? openFlashImage(flashPath) : null;
    if (flash) opened.push(flash);
    let dev: BlockDevice;
    let where: string;
    if (storeFile !== undefined) {
      const f = openFlashImage(String(storeFile));
      opened.push(f);
      dev = f.device;
      where = String(storeFile);
    } else {
      const name = label === undefined ? DEFAULT_STORE_PARTITION : String(label);
      const table = readTableOf(flash!, tableOffsetFlag(flags));
      const p = requirePartition(table, name, flash!.path);
      if (p.type !== 1) throw new CliError(`${flash!.path}: partition '${name}' is an app partition; the store needs a data partition`);
      dev = partitionRegion(flash!.device, p);
      where = `${flash!.path} partition '${name}'`;
    }
    const store = prefixErrors(where, () => ImageStore.open(dev, { hashes: nodeHashes, flushChunks }));
    return { store, flash, where, close };
  } catch (e) {
    close();
    throw e;
  }
}

function toHex(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += (b[i] < 16 ? '0' : '') + b[i].toString(16);
  return s;
}

function imageJson(i: StoredImage) {
  return {
    id: i.id,
    kind: i.kind,
    component: i.component,
    version: i.version,
    seq: i.seq,
    size: i.size,
    sha256: toHex(i.sha256),
    chunkSize: i.chunkSize,
    chunks: i.chunks,
    storedChunks: i.storedChunks,
    state: i.state,
    offset: i.offset,
    sectors: i.sectors,
  };
}

function idFlag(flags: Record<string, string | true>): number {
  const v = flags.id;
  if (v === undefined) throw new CliError('--id N is required (otaflash store list shows the ids)');
  if (!/^\d{1,10}$/.test(String(v)) || Number(v) > 0xffffffff) throw new CliError(`--id '${String(v)}' is not a whole number 0..4294967295`);
  return Number(v);
}

export const storeListCommand: Command = {
  summary: 'list the images in an image store (data partition or store file)',
  help: `Usage: otaflash store list FLASH [--partition LABEL] [--table-offset 0x8000] [--json]
       otaflash store list --store FILE [--json]

One line per image: id, kind, component, version, seq, size, state, chunks stored, SHA-256.
Opening the store finishes a removal a power cut interrupted.

${WHERE_HELP}`,
  run(argv, io) {
    const args = parseArgs(argv, { values: COMMON_VALUES, booleans: ['json'] });
    const o = openStore(args.positional, args.flags, false);
    try {
      const list = o.store.list();
      const sp = o.store.space();
      if (args.flags.json) {
        printJson(io, { images: list.map(imageJson), sectors: sp.sectors, freeSectors: sp.freeSectors, largestFreeSectors: sp.largestFreeSectors, sectorSize: sp.eraseSize });
        return 0;
      }
      io.stdout(`${o.where}: ${list.length} image${list.length === 1 ? '' : 's'}, ${sp.freeSectors} of ${sp.sectors} sectors free (largest run ${sp.largestFreeSectors})\n`);
      for (const i of list) {
        io.stdout(`  id ${i.id}  ${i.kind}  ${i.component} ${i.version || '-'}  seq ${i.seq}  ${i.size} bytes  ${i.state}  ${i.storedChunks}/${i.chunks} chunks  sha256 ${toHex(i.sha256)}\n`);
      }
      return 0;
    } finally {
      o.close();
    }
  },
};

/** The app description's version of an ESP app image, or '' when it is not one. */
function appVersion(bytes: Uint8Array): string {
  try {
    const r = inspectImage(bytes);
    const v = r.appDesc ? r.appDesc.version : '';
    return utf8Encode(v).length <= 32 ? v : '';
  } catch {
    return '';
  }
}

export const storeAddCommand: Command = {
  summary: 'add a file to an image store, chunk by chunk, and verify it',
  help: `Usage: otaflash store add FLASH IMAGE.bin [--partition LABEL] [--kind KIND] [--component NAME]
                          [--version V] [--seq N] [--id N] [--chunk-size 4096] [--evict] [--json]
       otaflash store add --store FILE IMAGE.bin ...

Creates an image in the store, writes IMAGE.bin into it chunk by chunk, and completes it (the
stored bytes are read back and checked against IMAGE.bin's SHA-256): its state is then verified.

  --kind KIND        app (default), delta, scratchpad, file-set or opaque
  --component NAME   what the image is of (default: IMAGE's file name without extension), <= 32 bytes
  --version V        version string (default: an app image's own version, else empty), <= 32 bytes
  --seq N            sequence number (default: one above the highest of the same component)
  --id N             image id (default: one above the highest id)
  --chunk-size N     bytes per chunk (default 4096)
  --evict            when the store is full, evict failed and superseded installed images
${WHERE_HELP}`,
  run(argv, io) {
    const args = parseArgs(argv, { values: COMMON_VALUES.concat(['kind', 'component', 'version', 'seq', 'id', 'chunk-size']), booleans: ['json', 'evict'] });
    const f = args.flags;
    const pos = args.positional.slice();
    const input = pos.pop();
    if (input === undefined) throw new CliError('expected IMAGE (the file to add) after FLASH');
    const kind = f.kind === undefined ? 'app' : String(f.kind);
    if (!Object.prototype.hasOwnProperty.call(IMAGE_KIND_CODES, kind)) throw new CliError(`--kind '${kind}' is not one of ${Object.keys(IMAGE_KIND_CODES).join(', ')}`);
    const chunkSize = f['chunk-size'] === undefined ? 4096 : parseSize(String(f['chunk-size']), '--chunk-size');
    if (chunkSize < 1 || chunkSize > 1 << 20) throw new CliError(`--chunk-size ${chunkSize} must be 1..1048576 bytes`);
    for (const p of pos.concat(f.store !== undefined ? [String(f.store)] : [])) {
      if (sameFile(input, p)) throw new CliError(`IMAGE '${input}' is '${p}' itself; pick the file to add`);
    }
    const data = readInput(input, 'image');
    if (data.length === 0) throw new CliError(`image '${input}' is empty: nothing to store`);
    const component = f.component === undefined ? path.basename(input).replace(/\.[^.]*$/, '').slice(0, 32) : String(f.component);
    const version = f.version === undefined ? (kind === 'app' ? appVersion(data) : '') : String(f.version);
    // One fsync per 64 chunks instead of per chunk: an interrupted add leaves an image that is
    // simply still receiving (remove it and add again); complete() flushes the rest.
    const o = openStore(pos, f, false, 64);
    try {
      const s = o.store;
      let seq: number;
      if (f.seq !== undefined) {
        if (!/^\d{1,10}$/.test(String(f.seq)) || Number(f.seq) > 0xffffffff) throw new CliError(`--seq '${String(f.seq)}' is not a whole number 0..4294967295`);
        seq = Number(f.seq);
      } else {
        seq = 1;
        for (const i of s.list()) if (i.component === component && i.seq >= seq) seq = i.seq + 1;
      }
      const sha = nodeHashes.sha256().update(data).digest();
      const img = prefixErrors(o.where, () =>
        s.create({ id: f.id === undefined ? undefined : idFlag(f), kind: kind as ImageKind, component, version, size: data.length, sha256: sha, chunkSize, seq }, { evict: f.evict === true }),
      );
      const progress = createProgress(io, { label: `store ${img.id}`, total: data.length });
      try {
        for (let i = 0; i < img.chunks; i++) {
          s.writeChunk(img.id, i, data.subarray(i * chunkSize, Math.min(data.length, (i + 1) * chunkSize)));
          progress.update(Math.min(data.length, (i + 1) * chunkSize));
        }
        const done = s.complete(img.id);
        progress.finish();
        if (f.json) printJson(io, imageJson(done));
        else io.stdout(`added ${input} as image ${done.id} (${done.kind} ${done.component} ${done.version || '-'}, seq ${done.seq}, ${done.size} bytes in ${done.chunks} chunks) to ${o.where}: ${done.state}\n`);
      } catch (e) {
        progress.abandon();
        throw e;
      }
      return 0;
    } finally {
      o.close();
    }
  },
};

export const storeRemoveCommand: Command = {
  summary: 'remove an image from an image store',
  help: `Usage: otaflash store remove FLASH --id N [--partition LABEL] [--json]
       otaflash store remove --store FILE --id N [--json]

Removes image N and erases its sectors (power-cut safe: the next open finishes an interrupted removal).

${WHERE_HELP}`,
  run(argv, io) {
    const args = parseArgs(argv, { values: COMMON_VALUES.concat(['id']), booleans: ['json'] });
    const id = idFlag(args.flags);
    const o = openStore(args.positional, args.flags, false);
    try {
      const img = o.store.get(id);
      if (!img) throw new OtaflashError('STORE_NOT_FOUND', `${o.where}: no image with id ${id} (ids held: ${o.store.list().map((i) => i.id).join(', ') || 'none'})`, { id });
      o.store.remove(id);
      if (args.flags.json) printJson(io, { removed: id, freedSectors: img.sectors });
      else io.stdout(`removed image ${id} (${img.component} ${img.version || '-'}) from ${o.where}: ${img.sectors} sectors freed\n`);
      return 0;
    } finally {
      o.close();
    }
  },
};

export const storeInstallCommand: Command = {
  summary: 'install a verified app image (or delta package) from the store into the next OTA slot of a flash image',
  help: `Usage: otaflash store install FLASH --id N [--partition LABEL | --store FILE] [--no-select]
                              [--no-rollback] [--table-offset 0x8000] [--json]

Streams image N through the OTA engine into the slot after the running app (the one otadata
selects: an image file runs nothing), verifies it, and selects it for the next boot (state NEW).
A delta package (--kind delta at add) is applied to the running app's image on the way.
Run it again after an interruption: it resumes the slot from the engine's resume log.

  --no-select        write and verify the slot, but leave otadata as it is
  --no-rollback      the device runs without app rollback (the new entry is not marked NEW)
${WHERE_HELP}`,
  run(argv, io) {
    const args = parseArgs(argv, { values: COMMON_VALUES.concat(['id']), booleans: ['json', 'no-select', 'no-rollback'] });
    const id = idFlag(args.flags);
    const o = openStore(args.positional, args.flags, true);
    try {
      const img = o.store.get(id);
      if (!img) throw new OtaflashError('STORE_NOT_FOUND', `${o.where}: no image with id ${id} (ids held: ${o.store.list().map((i) => i.id).join(', ') || 'none'})`, { id });
      const flash = o.flash!;
      const table = readTableOf(flash, tableOffsetFlag(args.flags));
      const base = { table, rollback: args.flags['no-rollback'] !== true, hashes: nodeHashes };
      // As `update`: the app otadata selects stands for the running one.
      const running = prefixErrors(flash.path, () => OtaEngine.open(flash.device, base)).running;
      const engine = prefixErrors(flash.path, () => OtaEngine.open(flash.device, running ? { ...base, running } : base));
      const progress = createProgress(io, { label: `install ${id}`, total: img.size });
      let res;
      try {
        res = prefixErrors(flash.path, () =>
          o.store.install(id, engine, { setBoot: args.flags['no-select'] !== true, write: { onProgress: (p) => progress.update(p.written) } }),
        );
        if (res.how === 'written' || res.how === 'resumed') progress.finish();
        else progress.abandon();
      } catch (e) {
        progress.abandon();
        throw e;
      }
      const label = res.partition ? res.partition.label : null;
      if (args.flags.json) {
        printJson(io, { id, how: res.how, slot: label, offset: res.partition ? res.partition.offset : null, version: res.verdict && res.verdict.appDesc ? res.verdict.appDesc.version : img.version, selected: args.flags['no-select'] !== true && res.how !== 'already-installed' });
      } else if (res.how === 'already-installed') {
        io.stdout(`image ${id} is already installed; nothing written\n`);
      } else {
        io.stdout(`installed image ${id} (${img.component} ${img.version || '-'}) into ${label} at ${hex(res.partition!.offset)}${res.how === 'resumed' ? ' (resumed)' : ''}${args.flags['no-select'] ? '' : '; selected for the next boot'}\n`);
      }
      return 0;
    } finally {
      o.close();
    }
  },
};

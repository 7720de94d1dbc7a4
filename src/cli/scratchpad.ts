import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { randomBytes } from 'node:crypto';
import { OtaflashError, hex } from '../errors';
import type { BlockDevice } from '../flash/types';
import { checkCounterOrder, type CounterOrder } from '../crypto/ctr';
import {
  extractScratchpad, parseScratchpad, parseScratchpadKeys, processScratchpad, scratchpadBytes, scratchpadInfoJson, verifyScratchpad,
  SCRATCHPAD_MAX_SIZE, type ScratchpadInfo, type ScratchpadItem, type ScratchpadKeys,
} from '../formats/scratchpad';
import { createScratchpad, type ScratchpadItemInput } from '../formats/scratchpad-create';
import { intelHexImage, parseIntelHex } from '../formats/scratchpad-ihex';
import { partitionRegion } from '../formats/partition-lookup';
import { PARTITION_FLAG_ENCRYPTED, PARTITION_FLAG_READONLY } from '../formats/partition-types';
import { printJson, readTableOf, requirePartition, tableOffsetFlag, withFlashImage } from './flash';
import { CliError, type CliIo, type Command, parseArgs, readInput } from './io';

// Wirepas Mesh OTAP scratchpads (.otap): look at one, unpack or install one, make one. The format
// and its checks live in src/formats/scratchpad*.ts; this file only does files and flags.

const INFO_HELP = `Usage: otaflash scratchpad info FILE [--key HEX [--counter little|big]] [--json]

Reads a Wirepas OTAP scratchpad (.otap, tag SCR1) and prints what the SDK's scratchpadinfo.py
prints: length, CRC, sequence number, type, status, CMAC, initial counter block, and per item its
memory area id, stored (compressed, padded) length and version. Without a key it checks what
needs none (size, tag, length field, CRC-16, that every item fits); with --key it also checks the
CMAC and decrypts and inflates every item (nothing is written).

  --key HEX       64 hex digits: the authentication key, then the encryption key
  --counter ORDER counter block byte order: little (default; the first byte increments first)
                  or big (nRF9160 platforms)
  --json          print the fields as JSON (the names of the SDK vectors' manifest)

Exit status: 0 valid, 1 the scratchpad is damaged or does not verify, 2 unusable input.`;

const PROCESS_HELP = `Usage: otaflash scratchpad process FILE --key HEX [--counter little|big] --out DIR
       otaflash scratchpad process FILE --key HEX [--counter little|big] --flash FLASH.bin --area ID=PARTITION ... [--table-offset N]

Verifies a scratchpad (structure, CMAC, every item decrypted and inflated once) and only then
writes each item's content: to DIR as item<N>-<area id>.bin, or, with --flash, into the partition
of a flash image that each --area maps the item's memory area id to (the partition is erased, the
content written from its start). An item whose area has no --area, or whose content does not fit,
refuses the whole scratchpad before anything is written.

  --key HEX            64 hex digits: the authentication key, then the encryption key
  --counter ORDER      little (default) or big (nRF9160)
  --out DIR            write the contents as files (DIR is created if missing)
  --flash FLASH.bin    a flash image with an ESP-IDF partition table
  --area ID=PARTITION  area id (0x83744c06 or decimal) to partition label; repeat for each item
  --table-offset N     where the partition table is (default 0x8000)
  --json               print what was written as JSON

Exit status: 0 processed, 1 the scratchpad does not verify, 2 unusable input.`;

const CREATE_HELP = `Usage: otaflash scratchpad create --out FILE --seq N --key HEX [--icb HEX] [--counter little|big] [--json] AREA:VERSION:PATH ...

Makes a scratchpad as the Wirepas SDK's genscratchpad.py does: each item's content compressed
(zlib level 9, raw deflate), zero-padded to 16 bytes, encrypted with AES-128-CTR (one keystream
over all items), authenticated with AES-CMAC, CRC-16 in the header.

  AREA:VERSION:PATH  memory area id (0x83744c06 or decimal), version major.minor.maint.devel
                     (each 0..255), and the content: Intel HEX when PATH ends in .hex or .ihex
                     (the span from lowest to highest address, gaps zero-filled), else raw bytes
  --out FILE         the .otap file to write
  --seq N            sequence number 0..255 (genscratchpad writes 255; a sink replaces it on upload)
  --key HEX          64 hex digits: the authentication key, then the encryption key
  --icb HEX          32 hex digits: a fixed initial counter block, for a reproducible file
                     (default: 16 random bytes, as genscratchpad)
  --counter ORDER    little (default) or big (nRF9160)
  --json             print what was written as JSON (size and the parsed fields)`;

function keysFlag(flags: Record<string, string | true>, required: boolean): ScratchpadKeys | undefined {
  const v = flags.key;
  if (v === undefined) {
    if (required) throw new CliError('--key HEX is required (64 hex digits: authentication key, then encryption key)');
    return undefined;
  }
  try {
    return parseScratchpadKeys(String(v));
  } catch (e) {
    throw new CliError(`--key: ${(e as Error).message.replace(/^scratchpad: /, '')}`);
  }
}

function counterFlag(flags: Record<string, string | true>): CounterOrder {
  const v = flags.counter === undefined ? 'little' : String(flags.counter);
  try {
    checkCounterOrder(v, '--counter');
  } catch {
    throw new CliError(`--counter must be little or big, got '${v}'`);
  }
  return v as CounterOrder;
}

function parseAreaId(text: string, what: string): number {
  const t = text.trim();
  const n = /^0x[0-9a-f]+$/i.test(t) ? parseInt(t, 16) : /^\d+$/.test(t) ? parseInt(t, 10) : NaN;
  if (!(n >= 0 && n <= 0xffffffff)) throw new CliError(`${what}: '${text}' is not an area id (0..0xffffffff, e.g. 0x83744c06)`);
  return n;
}

function readScratchpadFile(file: string): Uint8Array {
  const raw = readInput(file, 'scratchpad', SCRATCHPAD_MAX_SIZE + 1);
  return new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength);
}

/** Runs a check on the scratchpad; a refusal of the file itself is exit 1 with one line, the rest propagates (exit 2). */
function refusal(name: string, file: string, io: CliIo, json: boolean, e: unknown): number {
  if (e instanceof OtaflashError && e.code.indexOf('SCRATCHPAD_') === 0 && e.code !== 'SCRATCHPAD_BAD_ARGUMENT' && e.code !== 'SCRATCHPAD_BAD_KEY') {
    if (json) printJson(io, { file, valid: false, error: { code: e.code, message: e.message } });
    io.stderr(`otaflash scratchpad ${name}: ${file}: ${e.message} [${e.code}]\n`);
    return 1;
  }
  throw e;
}

const itemName = (item: ScratchpadItem) => `item${item.index}-${hex(item.areaId)}.bin`;

function infoText(file: string, size: number, info: ScratchpadInfo, contentLengths: number[] | null): string {
  const j = scratchpadInfoJson(info);
  const out: string[] = [];
  out.push(`file       ${file} (${size} bytes)`);
  out.push(`length     ${j.length} bytes after the header`);
  out.push(`crc        ${hex(j.crc)} (valid)`);
  out.push(`seq        ${j.seq}${j.seq === 255 ? ' (as genscratchpad writes it; a sink sets the real one)' : ''}`);
  out.push(`pad        ${j.pad}`);
  out.push(`type       ${hex(j.type)}${j.type === 0 ? ' (process)' : ''}`);
  out.push(`status     ${hex(j.status)}${j.status === 0xffffffff ? ' (new)' : ''}`);
  out.push(`cmac       ${j.cmac}${contentLengths ? ' (valid with the key)' : ' (not checked: no --key)'}`);
  out.push(`icb        ${j.icb}`);
  j.items.forEach((it, i) => {
    const content = contentLengths ? `, content ${contentLengths[i]} bytes` : '';
    out.push(`item ${i}     area ${hex(it.area_id).padEnd(10)}  version ${it.version.padEnd(15)}  stored ${it.length} bytes${content}`);
  });
  return out.join('\n') + '\n';
}

export const scratchpadInfoCommand: Command = {
  summary: 'show and check a Wirepas OTAP scratchpad (.otap), like the SDK scratchpadinfo.py',
  help: INFO_HELP,
  run(argv, io) {
    const args = parseArgs(argv, { values: ['key', 'counter'], booleans: ['json'] });
    if (args.positional.length !== 1) throw new CliError('expected one FILE (a .otap scratchpad)');
    const file = args.positional[0];
    const keys = keysFlag(args.flags, false);
    const counter = counterFlag(args.flags);
    if (args.flags.counter !== undefined && !keys) throw new CliError('--counter needs --key (nothing is decrypted without a key)');
    const bytes = readScratchpadFile(file);
    const json = args.flags.json === true;
    let info: ScratchpadInfo;
    let contentLengths: number[] | null = null;
    try {
      if (keys) {
        const v = verifyScratchpad(scratchpadBytes(bytes), keys, { counter });
        info = v.info;
        contentLengths = v.items.map((d) => d.contentLength);
      } else info = parseScratchpad(scratchpadBytes(bytes));
    } catch (e) {
      return refusal('info', file, io, json, e);
    }
    if (json) {
      const j = scratchpadInfoJson(info);
      printJson(io, {
        file,
        size: bytes.length,
        valid: true,
        authenticated: keys ? true : null,
        ...j,
        items: j.items.map((it, i) => (contentLengths ? { ...it, content_length: contentLengths[i] } : it)),
      });
    } else io.stdout(infoText(file, bytes.length, info, contentLengths));
    return 0;
  },
};

function parseAreaFlags(list: string[]): { id: number; label: string }[] {
  const seen = new Set<number>();
  return list.map((spec) => {
    const eq = spec.indexOf('=');
    if (eq <= 0 || eq === spec.length - 1) throw new CliError(`--area '${spec}': expected ID=PARTITION (e.g. 0x83744c06=ota_0)`);
    const id = parseAreaId(spec.slice(0, eq), '--area');
    if (seen.has(id)) throw new CliError(`--area: area ${hex(id)} is given twice`);
    seen.add(id);
    return { id, label: spec.slice(eq + 1) };
  });
}

export const scratchpadProcessCommand: Command = {
  summary: 'verify a scratchpad, then write its items to files or into flash partitions by area id',
  help: PROCESS_HELP,
  run(argv, io) {
    const args = parseArgs(argv, { values: ['key', 'counter', 'out', 'flash', 'table-offset'], repeat: ['area'], booleans: ['json'] });
    if (args.positional.length !== 1) throw new CliError('expected one FILE (a .otap scratchpad)');
    const file = args.positional[0];
    const keys = keysFlag(args.flags, true) as ScratchpadKeys;
    const counter = counterFlag(args.flags);
    const outDir = args.flags.out;
    const flash = args.flags.flash;
    const areaSpecs = args.lists.area ?? [];
    if ((outDir === undefined) === (flash === undefined)) throw new CliError('give either --out DIR or --flash FLASH.bin (with --area ID=PARTITION)');
    if (outDir !== undefined && areaSpecs.length > 0) throw new CliError('--area goes with --flash, not --out');
    if (flash !== undefined && areaSpecs.length === 0) throw new CliError('--flash needs at least one --area ID=PARTITION');
    if (outDir !== undefined && args.flags['table-offset'] !== undefined) throw new CliError('--table-offset goes with --flash');
    const json = args.flags.json === true;
    const bytes = readScratchpadFile(file);
    const source = scratchpadBytes(bytes);
    const written: { index: number; area_id: number; version: string; content_length: number; to: string }[] = [];

    if (typeof outDir === 'string') {
      // Verify before creating anything, so a refused scratchpad leaves no folder or file behind.
      try {
        verifyScratchpad(source, keys, { counter });
      } catch (e) {
        return refusal('process', file, io, json, e);
      }
      fs.mkdirSync(outDir, { recursive: true });
      const fds: number[] = [];
      try {
        const r = extractScratchpad(source, keys, (item) => {
          const fd = fs.openSync(path.join(outDir, itemName(item)), 'w');
          fds.push(fd);
          return (chunk) => {
            let at = 0;
            while (at < chunk.length) at += fs.writeSync(fd, chunk, at, chunk.length - at);
          };
        }, { counter });
        for (const d of r.items) written.push({ index: d.item.index, area_id: d.item.areaId, version: d.item.version.join('.'), content_length: d.contentLength, to: path.join(outDir, itemName(d.item)) });
      } finally {
        for (const fd of fds) fs.closeSync(fd);
      }
    } else {
      const areas = parseAreaFlags(areaSpecs);
      const tableOffset = tableOffsetFlag(args.flags);
      const failed = withFlashImage(String(flash), (image) => {
        const table = readTableOf(image, tableOffset);
        const map: Record<number, BlockDevice> = {};
        const labels: Record<number, string> = {};
        for (const a of areas) {
          const p = requirePartition(table, a.label, `--area ${hex(a.id)}=${a.label}`);
          if (p.flags & PARTITION_FLAG_ENCRYPTED) throw new CliError(`--area ${hex(a.id)}=${a.label}: the partition is marked encrypted; a plaintext write would not be readable`);
          if (p.flags & PARTITION_FLAG_READONLY) throw new CliError(`--area ${hex(a.id)}=${a.label}: the partition is marked read-only`);
          map[a.id] = partitionRegion(image.device, p);
          labels[a.id] = a.label;
        }
        try {
          const done = processScratchpad(source, keys, map, { counter });
          for (const d of done) written.push({ index: d.item.index, area_id: d.item.areaId, version: d.item.version.join('.'), content_length: d.contentLength, to: labels[d.item.areaId] });
        } catch (e) {
          return refusal('process', file, io, json, e);
        }
        return 0;
      });
      if (failed !== 0) return failed;
    }
    if (json) printJson(io, { file, valid: true, items: written });
    else for (const w of written) io.stdout(`item ${w.index}: area ${hex(w.area_id)}, version ${w.version}, ${w.content_length} bytes -> ${w.to}\n`);
    return 0;
  },
};

function parseItemSpec(spec: string): ScratchpadItemInput {
  const first = spec.indexOf(':');
  const second = first < 0 ? -1 : spec.indexOf(':', first + 1);
  if (first <= 0 || second < 0 || second === spec.length - 1) throw new CliError(`item '${spec}': expected AREA:VERSION:PATH (e.g. 0x83744c06:1.0.0.0:app.bin)`);
  const areaId = parseAreaId(spec.slice(0, first), `item '${spec}'`);
  const vtext = spec.slice(first + 1, second);
  const parts = vtext.split('.');
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) throw new CliError(`item '${spec}': version '${vtext}' must be four numbers 0..255 (major.minor.maintenance.development)`);
  const file = spec.slice(second + 1);
  let content: Uint8Array;
  if (/\.(hex|ihex)$/i.test(file)) {
    const text = Buffer.from(readInput(file, 'Intel HEX file')).toString('latin1');
    try {
      content = intelHexImage(parseIntelHex(text)).data;
    } catch (e) {
      if (e instanceof OtaflashError) throw new OtaflashError(e.code, `${file}: ${e.message}`, e.info as Record<string, unknown>);
      throw e;
    }
  } else {
    const raw = readInput(file, 'item content');
    content = new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength);
  }
  if (content.length === 0) throw new CliError(`item '${spec}': ${file} is empty`);
  return { areaId, version: parts.map(Number), content };
}

export const scratchpadCreateCommand: Command = {
  summary: 'make a Wirepas OTAP scratchpad (.otap) from .bin or Intel HEX items, like the SDK genscratchpad.py',
  help: CREATE_HELP,
  run(argv, io) {
    const args = parseArgs(argv, { values: ['out', 'seq', 'key', 'icb', 'counter'], booleans: ['json'] });
    const out = args.flags.out;
    if (typeof out !== 'string' || out === '') throw new CliError('--out FILE is required');
    if (args.flags.seq === undefined) throw new CliError('--seq N is required (0..255; genscratchpad writes 255)');
    const seqText = String(args.flags.seq);
    const seq = /^\d{1,3}$/.test(seqText) ? Number(seqText) : NaN;
    if (!(seq >= 0 && seq <= 255)) throw new CliError(`--seq must be 0..255, got '${seqText}'`);
    const keys = keysFlag(args.flags, true) as ScratchpadKeys;
    const counter = counterFlag(args.flags);
    let icb: Uint8Array;
    if (args.flags.icb !== undefined) {
      const t = String(args.flags.icb).replace(/[\s:]/g, '');
      if (!/^[0-9a-fA-F]{32}$/.test(t)) throw new CliError(`--icb must be 32 hex digits (16 bytes), got ${t.length} characters`);
      icb = new Uint8Array(Buffer.from(t, 'hex'));
    } else icb = new Uint8Array(randomBytes(16));
    if (args.positional.length === 0) throw new CliError('expected at least one item AREA:VERSION:PATH');
    const items = args.positional.map(parseItemSpec);
    const file = createScratchpad({ items, keys, icb, seq, counter, deflateRaw: (c) => new Uint8Array(zlib.deflateRawSync(c, { level: 9 })) });
    // Read back what we made before writing it: a file the tools would refuse never leaves here.
    const check = verifyScratchpad(scratchpadBytes(file), keys, { counter });
    check.items.forEach((d, i) => {
      if (d.contentLength !== items[i].content.length) throw new OtaflashError('SCRATCHPAD_INTERNAL', `item ${i} reads back as ${d.contentLength} bytes, not ${items[i].content.length}`);
    });
    fs.writeFileSync(out, file);
    if (args.flags.json === true) printJson(io, { file: out, size: file.length, ...scratchpadInfoJson(check.info) });
    else {
      io.stdout(`created ${out}: ${file.length} bytes, seq ${seq}, counter ${counter}, icb ${Buffer.from(icb).toString('hex')}\n`);
      check.info.items.forEach((it, i) => io.stdout(`  item ${i}: area ${hex(it.areaId)}, version ${it.version.join('.')}, ${items[i].content.length} bytes -> ${it.length} stored\n`));
    }
    return 0;
  },
};

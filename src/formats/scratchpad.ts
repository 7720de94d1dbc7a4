// Wirepas Mesh OTAP scratchpads (.otap, "combi scratchpad" with tag SCR1): parse, verify and
// process. Layout and checks follow what the Wirepas SDK's genscratchpad.py writes and
// scratchpadinfo.py accepts; docs/scratchpad.md describes the format byte for byte.
//
// Reading goes through a ScratchpadSource (a BlockDevice or RegionFlash is one), chunk by chunk,
// so a scratchpad stored in flash is verified and unpacked without being held in memory.
import { OtaflashError, hex, kindOf } from '../errors';
import type { BlockDevice } from '../flash/types';
import { AesCmac, equalTags } from '../crypto/cmac';
import { AesCtr, checkCounterOrder, type CounterOrder } from '../crypto/ctr';
import { crc16CcittFalse } from './scratchpad-crc';
import { inflateRaw, type InflateInput } from './scratchpad-inflate';
import { toHex } from './bytes';

/** "SCR1" and 12 fixed bytes. */
export const SCRATCHPAD_TAG: readonly number[] = [0x53, 0x43, 0x52, 0x31, 0x9a, 0x93, 0x30, 0x82, 0xd9, 0xeb, 0x0a, 0xfc, 0x31, 0x21, 0xe3, 0x37];
/** Tag (16) + header (16): neither is covered by the CRC or the CMAC. */
export const SCRATCHPAD_HEADER_SIZE = 32;
/** CMAC (16) + initial counter block (16). */
export const SCRATCHPAD_SECURITY_SIZE = 32;
export const SCRATCHPAD_ITEM_HEADER_SIZE = 16;
/** The SDK's info tool refuses files outside 48 bytes .. 16 MiB before it looks at anything else. */
export const SCRATCHPAD_MIN_SIZE = 48;
export const SCRATCHPAD_MAX_SIZE = 16 * 1024 * 1024;
/** Byte offsets of the fields. */
export const SCRATCHPAD_OFFSETS = { tag: 0, length: 16, crc: 20, seq: 22, pad: 23, type: 24, status: 28, cmac: 32, icb: 48, items: 64 } as const;
/** Type 0: the bootloader should process the scratchpad. Status 0xffffffff: not yet processed. */
export const SCRATCHPAD_TYPE_PROCESS = 0;
export const SCRATCHPAD_STATUS_NEW = 0xffffffff;
/** genscratchpad refuses inputs spanning more than 8 MiB; decoding refuses more than this by default. */
export const SCRATCHPAD_DEFAULT_MAX_CONTENT = 16 * 1024 * 1024;

/** Random-access bytes of one scratchpad: [0, size). A BlockDevice or RegionFlash qualifies. */
export interface ScratchpadSource {
  readonly size: number;
  read(offset: number, into: Uint8Array): void;
}

export interface ScratchpadHeader {
  /** Bytes after the 32-byte tag and header (file size - 32). */
  readonly length: number;
  readonly crc: number;
  readonly seq: number;
  readonly pad: number;
  readonly type: number;
  readonly status: number;
}

export interface ScratchpadItem {
  readonly index: number;
  /** Memory area id, unsigned 32-bit. */
  readonly areaId: number;
  /** Bytes of stored (compressed, padded, encrypted) data after the item header. */
  readonly length: number;
  /** major, minor, maintenance, development. */
  readonly version: readonly [number, number, number, number];
  readonly pad: number;
  /** Offset of the item header in the file. */
  readonly headerOffset: number;
  readonly dataOffset: number;
  /** Where this item's data starts in the file's one keystream (sum of the earlier items' data lengths). */
  readonly keystreamOffset: number;
}

export interface ScratchpadInfo {
  readonly size: number;
  readonly header: ScratchpadHeader;
  readonly cmac: Uint8Array;
  readonly icb: Uint8Array;
  readonly items: readonly ScratchpadItem[];
}

export interface ScratchpadKeys {
  /** AES-128 key of the CMAC. */
  readonly auth: Uint8Array;
  /** AES-128 key of the counter mode encryption. */
  readonly encrypt: Uint8Array;
}

const CHUNK = 4096;

function fail(code: string, message: string, info?: Record<string, unknown>): OtaflashError {
  return new OtaflashError(code, `scratchpad: ${message}`, info);
}

function checkSource(source: unknown): asserts source is ScratchpadSource {
  const s = source as ScratchpadSource;
  if (s === null || typeof s !== 'object' || typeof s.read !== 'function' || typeof s.size !== 'number' || !(s.size >= 0) || s.size % 1 !== 0) {
    throw fail('SCRATCHPAD_BAD_ARGUMENT', `the source must be an object with size and read(offset, into), got ${kindOf(source)}`);
  }
}

/** A ScratchpadSource over bytes in memory. */
export function scratchpadBytes(bytes: Uint8Array): ScratchpadSource {
  if (!(bytes instanceof Uint8Array)) throw fail('SCRATCHPAD_BAD_ARGUMENT', `expected a Uint8Array, got ${kindOf(bytes)}`);
  return {
    size: bytes.length,
    read(offset: number, into: Uint8Array): void {
      if (offset < 0 || offset + into.length > bytes.length) throw fail('SCRATCHPAD_BAD_ARGUMENT', `read ${offset}+${into.length} outside ${bytes.length} bytes`);
      into.set(bytes.subarray(offset, offset + into.length));
    },
  };
}

const u32 = (b: Uint8Array, at: number) => (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0;

/** Reads the 32-byte tag and header alone (what a sink or a store needs to know the size). */
export function readScratchpadHeader(head: Uint8Array): { tagValid: boolean; header: ScratchpadHeader } {
  if (!(head instanceof Uint8Array) || head.length < SCRATCHPAD_HEADER_SIZE) throw fail('SCRATCHPAD_TRUNCATED', `the tag and header need 32 bytes`);
  let tagValid = true;
  for (let i = 0; i < 16; i++) if (head[i] !== SCRATCHPAD_TAG[i]) tagValid = false;
  return {
    tagValid,
    header: { length: u32(head, 16), crc: head[20] | (head[21] << 8), seq: head[22], pad: head[23], type: u32(head, 24), status: u32(head, 28) },
  };
}

/**
 * Structural checks that need no key, in the SDK info tool's order: size 48 bytes .. 16 MiB, tag,
 * length field = size - 32, CRC-16 over bytes 32..end, then the walk over the items (every header
 * and every item's data must fit, at least one item). Throws SCRATCHPAD_TRUNCATED,
 * SCRATCHPAD_TOO_LARGE, SCRATCHPAD_BAD_TAG, SCRATCHPAD_BAD_LENGTH, SCRATCHPAD_BAD_CRC or
 * SCRATCHPAD_ITEM_OVERRUN.
 */
export function parseScratchpad(source: ScratchpadSource): ScratchpadInfo {
  checkSource(source);
  const size = source.size;
  if (size < SCRATCHPAD_MIN_SIZE) throw fail('SCRATCHPAD_TRUNCATED', `${size} bytes, shorter than the ${SCRATCHPAD_MIN_SIZE} of the smallest scratchpad`, { size });
  if (size > SCRATCHPAD_MAX_SIZE) throw fail('SCRATCHPAD_TOO_LARGE', `${size} bytes, more than the 16 MiB a scratchpad may have`, { size });
  const head = new Uint8Array(SCRATCHPAD_HEADER_SIZE + SCRATCHPAD_SECURITY_SIZE);
  source.read(0, head.subarray(0, Math.min(head.length, size)));
  const { tagValid, header } = readScratchpadHeader(head);
  if (!tagValid) throw fail('SCRATCHPAD_BAD_TAG', 'bytes 0..15 are not the scratchpad tag (SCR1 ...)');
  if (header.length !== size - SCRATCHPAD_HEADER_SIZE) {
    throw fail('SCRATCHPAD_BAD_LENGTH', `the header says ${header.length} bytes follow it, the file has ${size - SCRATCHPAD_HEADER_SIZE}${header.length > size - 32 ? ' (truncated?)' : ' (trailing bytes?)'}`, { stored: header.length, actual: size - SCRATCHPAD_HEADER_SIZE });
  }
  const crc = crcOf(source, SCRATCHPAD_HEADER_SIZE, size);
  if (crc !== header.crc) throw fail('SCRATCHPAD_BAD_CRC', `CRC-16 of bytes 32..${size} is ${hex(crc)}, the header says ${hex(header.crc)}`, { stored: header.crc, calculated: crc });
  if (size < SCRATCHPAD_HEADER_SIZE + SCRATCHPAD_SECURITY_SIZE) throw fail('SCRATCHPAD_TRUNCATED', `${size} bytes: the CMAC and counter block end at byte 64`, { size });
  const cmac = head.slice(32, 48);
  const icb = head.slice(48, 64);
  if (size < SCRATCHPAD_HEADER_SIZE + SCRATCHPAD_SECURITY_SIZE + SCRATCHPAD_ITEM_HEADER_SIZE) throw fail('SCRATCHPAD_TRUNCATED', `${size} bytes: no room for an item`, { size });
  const items: ScratchpadItem[] = [];
  const ih = new Uint8Array(SCRATCHPAD_ITEM_HEADER_SIZE);
  let at = SCRATCHPAD_HEADER_SIZE + SCRATCHPAD_SECURITY_SIZE;
  let keystream = 0;
  while (at < size) {
    if (at + SCRATCHPAD_ITEM_HEADER_SIZE > size) {
      throw fail('SCRATCHPAD_ITEM_OVERRUN', `item ${items.length}: its 16-byte header at byte ${at} runs past the end (${size} bytes)`, { item: items.length, offset: at });
    }
    source.read(at, ih);
    const length = u32(ih, 4);
    const dataOffset = at + SCRATCHPAD_ITEM_HEADER_SIZE;
    if (dataOffset + length > size) {
      throw fail('SCRATCHPAD_ITEM_OVERRUN', `item ${items.length} (area ${hex(u32(ih, 0))}): ${length} bytes of data from byte ${dataOffset} run past the end (${size} bytes)`, { item: items.length, offset: dataOffset, length });
    }
    items.push({ index: items.length, areaId: u32(ih, 0), length, version: [ih[8], ih[9], ih[10], ih[11]], pad: u32(ih, 12), headerOffset: at, dataOffset, keystreamOffset: keystream });
    keystream += length;
    at = dataOffset + length;
  }
  return { size, header, cmac, icb, items };
}

function crcOf(source: ScratchpadSource, from: number, to: number): number {
  const buf = new Uint8Array(Math.min(CHUNK, Math.max(0, to - from)));
  let crc = 0xffff;
  for (let at = from; at < to; at += buf.length) {
    const n = Math.min(buf.length, to - at);
    const view = n === buf.length ? buf : buf.subarray(0, n);
    source.read(at, view);
    crc = crc16CcittFalse(view, crc);
  }
  return crc;
}

const HEX64 = /^[0-9a-fA-F]{64}$/;

/** Keys from 64 hex digits: the authentication key, then the encryption key (spaces, ':' and ',' between bytes are ignored). */
export function parseScratchpadKeys(text: string): ScratchpadKeys {
  if (typeof text !== 'string') throw fail('SCRATCHPAD_BAD_KEY', `the key must be a string of 64 hex digits, got ${kindOf(text)}`);
  const clean = text.replace(/[\s:,]/g, '');
  if (!HEX64.test(clean)) throw fail('SCRATCHPAD_BAD_KEY', `the key must be 64 hex digits (authentication key then encryption key), got ${clean.length} characters${/[^0-9a-fA-F]/.test(clean) ? ' with non-hex ones' : ''}`);
  const bytes = new Uint8Array(32);
  for (let i = 0; i < 32; i++) bytes[i] = parseInt(clean.substr(2 * i, 2), 16);
  return { auth: bytes.slice(0, 16), encrypt: bytes.slice(16) };
}

function checkKeys(keys: unknown): asserts keys is ScratchpadKeys {
  const k = keys as ScratchpadKeys;
  if (k === null || typeof k !== 'object' || !(k.auth instanceof Uint8Array) || !(k.encrypt instanceof Uint8Array) || k.auth.length !== 16 || k.encrypt.length !== 16) {
    throw fail('SCRATCHPAD_BAD_KEY', 'keys must be { auth, encrypt }, two 16-byte Uint8Arrays (parseScratchpadKeys makes them from 64 hex digits)');
  }
}

/** The CMAC the scratchpad should carry: AES-CMAC with the authentication key over bytes 48..end. */
export function computeScratchpadCmac(source: ScratchpadSource, authKey: Uint8Array): Uint8Array {
  checkSource(source);
  const mac = new AesCmac(authKey);
  const buf = new Uint8Array(Math.min(CHUNK, Math.max(0, source.size - 48)));
  for (let at = 48; at < source.size; at += buf.length) {
    const n = Math.min(buf.length, source.size - at);
    const view = n === buf.length ? buf : buf.subarray(0, n);
    source.read(at, view);
    mac.update(view);
  }
  return mac.digest();
}

/** Throws SCRATCHPAD_BAD_CMAC unless the stored CMAC matches (a wrong authentication key, or changed bytes). */
export function verifyScratchpadCmac(source: ScratchpadSource, info: ScratchpadInfo, authKey: Uint8Array): void {
  const mac = computeScratchpadCmac(source, authKey);
  if (!equalTags(mac, info.cmac)) {
    throw fail('SCRATCHPAD_BAD_CMAC', 'the CMAC does not match: a wrong authentication key, or bytes 48..end were changed', { stored: toHex(info.cmac), calculated: toHex(mac) });
  }
}

export interface ScratchpadDecodeOptions {
  /** Byte order of the counter block: 'little' (default, first byte increments first) or 'big' (nRF9160). */
  counter?: CounterOrder;
  /** Refuse an item whose content is larger (SCRATCHPAD_ITEM_TOO_LARGE). Default 16 MiB. */
  maxContent?: number;
}

export interface DecodedItem {
  readonly item: ScratchpadItem;
  /** Bytes of content after inflation. */
  readonly contentLength: number;
  /** Bytes of the deflate stream (the rest of the item, 0..15 zero bytes, is padding). */
  readonly deflateLength: number;
}

/** Decrypting input over one item's data. */
function itemInput(source: ScratchpadSource, item: ScratchpadItem, ctr: AesCtr): InflateInput {
  let at = item.dataOffset;
  const end = item.dataOffset + item.length;
  ctr.seek(item.keystreamOffset);
  return {
    fill(into: Uint8Array): number {
      const n = Math.min(into.length, end - at);
      if (n <= 0) return 0;
      const view = n === into.length ? into : into.subarray(0, n);
      source.read(at, view);
      ctr.apply(view);
      at += n;
      return n;
    },
  };
}

/**
 * Decrypts and inflates one item, handing its content to `output` in pieces (views valid only
 * during the call). Does not check the CMAC: call it only after verifyScratchpadCmac. Throws
 * SCRATCHPAD_BAD_DEFLATE (not a deflate stream: a wrong encryption key or counter order, or
 * damage), SCRATCHPAD_BAD_PADDING (anything but 0..15 zero bytes after the stream) or
 * SCRATCHPAD_ITEM_TOO_LARGE.
 */
export function decodeScratchpadItem(
  source: ScratchpadSource,
  info: ScratchpadInfo,
  item: ScratchpadItem,
  encryptKey: Uint8Array,
  output: (chunk: Uint8Array) => void,
  options: ScratchpadDecodeOptions = {},
): DecodedItem {
  const order = options.counter === undefined ? 'little' : options.counter;
  checkCounterOrder(order, 'scratchpad counter order');
  const ctr = new AesCtr(encryptKey, info.icb, order);
  const where = `item ${item.index} (area ${hex(item.areaId)})`;
  const max = options.maxContent === undefined ? SCRATCHPAD_DEFAULT_MAX_CONTENT : options.maxContent;
  let r;
  try {
    r = inflateRaw(itemInput(source, item, ctr), output, { maxOutput: max });
  } catch (e) {
    if (e instanceof OtaflashError && e.code === 'INFLATE_TOO_LARGE') {
      throw fail('SCRATCHPAD_ITEM_TOO_LARGE', `${where}: its content is larger than the ${max} bytes allowed`, { item: item.index, areaId: item.areaId, limit: max });
    }
    if (e instanceof OtaflashError && (e.code === 'INFLATE_BAD_DATA' || e.code === 'INFLATE_TRUNCATED')) {
      throw fail('SCRATCHPAD_BAD_DEFLATE', `${where}: the decrypted data is not a deflate stream (wrong encryption key or counter order?): ${e.message}`, { item: item.index, areaId: item.areaId });
    }
    throw e;
  }
  if (r.trailingLength >= 16 || !r.trailingAllZero) {
    throw fail('SCRATCHPAD_BAD_PADDING', `${where}: ${r.trailingLength} bytes follow the deflate stream${r.trailingAllZero ? '' : ', not all zero'} (genscratchpad pads with 0..15 zero bytes)`, { item: item.index, trailing: r.trailingLength });
  }
  return { item, contentLength: r.outputLength, deflateLength: r.deflateLength };
}

export interface VerifiedScratchpad {
  readonly info: ScratchpadInfo;
  readonly items: readonly DecodedItem[];
}

/**
 * Everything short of writing: the structural checks, the CMAC, then every item decrypted and
 * inflated once with its output thrown away, so that a later pass that writes can no longer fail
 * on the data. `maxContentOf` may bound each item's content (the size of the area it goes to).
 */
export function verifyScratchpad(
  source: ScratchpadSource,
  keys: ScratchpadKeys,
  options: ScratchpadDecodeOptions & { maxContentOf?: (item: ScratchpadItem) => number } = {},
): VerifiedScratchpad {
  checkKeys(keys);
  const info = parseScratchpad(source);
  verifyScratchpadCmac(source, info, keys.auth);
  const decoded: DecodedItem[] = [];
  for (const item of info.items) {
    const maxContent = options.maxContentOf ? options.maxContentOf(item) : options.maxContent;
    decoded.push(decodeScratchpadItem(source, info, item, keys.encrypt, () => undefined, { counter: options.counter, maxContent }));
  }
  return { info, items: decoded };
}

/** Where each area id's content goes: a map or a function returning a block device (usually a RegionFlash over a partition). */
export type ScratchpadAreaMap = Readonly<Record<number, BlockDevice>> | ((areaId: number) => BlockDevice | undefined);

export interface ProcessedItem extends DecodedItem {
  readonly device: BlockDevice;
}

function areaDevice(areas: ScratchpadAreaMap, areaId: number): BlockDevice | undefined {
  if (typeof areas === 'function') return areas(areaId);
  return Object.prototype.hasOwnProperty.call(areas, areaId) ? areas[areaId] : undefined;
}

/**
 * Verifies the whole scratchpad (structure, CMAC, every item inflated into nothing, every area
 * known and large enough), and only then, item by item, erases each mapped area and writes the
 * item's content into it, chunk by chunk. So a refused scratchpad leaves every area untouched. A
 * power cut during the write pass leaves the area partly written; processing the same scratchpad
 * again finishes the job (as Wirepas's bootloader does: the scratchpad stays until it succeeds).
 * Throws the errors of verifyScratchpad, plus SCRATCHPAD_UNKNOWN_AREA, SCRATCHPAD_DUPLICATE_AREA
 * and SCRATCHPAD_ITEM_TOO_LARGE (content larger than its area).
 */
export function processScratchpad(source: ScratchpadSource, keys: ScratchpadKeys, areas: ScratchpadAreaMap, options: ScratchpadDecodeOptions = {}): readonly ProcessedItem[] {
  checkKeys(keys);
  if (areas === null || (typeof areas !== 'object' && typeof areas !== 'function')) throw fail('SCRATCHPAD_BAD_ARGUMENT', `areas must be a map or a function from area id to block device, got ${kindOf(areas)}`);
  const info = parseScratchpad(source);
  verifyScratchpadCmac(source, info, keys.auth);
  const devices: BlockDevice[] = [];
  const seen: Record<number, boolean> = {};
  for (const item of info.items) {
    const dev = areaDevice(areas, item.areaId);
    if (!dev || typeof dev.write !== 'function' || typeof dev.erase !== 'function') {
      throw fail('SCRATCHPAD_UNKNOWN_AREA', `item ${item.index}: no block device is mapped to area ${hex(item.areaId)}`, { item: item.index, areaId: item.areaId });
    }
    if (seen[item.areaId]) throw fail('SCRATCHPAD_DUPLICATE_AREA', `item ${item.index}: area ${hex(item.areaId)} appears twice`, { item: item.index, areaId: item.areaId });
    seen[item.areaId] = true;
    devices.push(dev);
  }
  const max = options.maxContent === undefined ? SCRATCHPAD_DEFAULT_MAX_CONTENT : options.maxContent;
  const verified = verifyScratchpadItems(source, info, keys, options.counter, (item) => Math.min(max, devices[item.index].size));
  const out: ProcessedItem[] = [];
  for (const d of verified) {
    const dev = devices[d.item.index];
    writeItemToDevice(source, info, d.item, keys.encrypt, dev, options.counter);
    out.push({ item: d.item, contentLength: d.contentLength, deflateLength: d.deflateLength, device: dev });
  }
  return out;
}

function verifyScratchpadItems(source: ScratchpadSource, info: ScratchpadInfo, keys: ScratchpadKeys, counter: CounterOrder | undefined, maxOf: (item: ScratchpadItem) => number): DecodedItem[] {
  const out: DecodedItem[] = [];
  for (const item of info.items) out.push(decodeScratchpadItem(source, info, item, keys.encrypt, () => undefined, { counter, maxContent: maxOf(item) }));
  return out;
}

/** Erases the whole area, then writes the content in write-unit-aligned chunks (the tail padded with the erase value). */
function writeItemToDevice(source: ScratchpadSource, info: ScratchpadInfo, item: ScratchpadItem, encryptKey: Uint8Array, dev: BlockDevice, counter: CounterOrder | undefined): void {
  dev.erase(0, dev.size);
  const unit = dev.writeSize > 0 ? dev.writeSize : 1;
  const buf = new Uint8Array(Math.max(unit, Math.floor(CHUNK / unit) * unit));
  let fill = 0;
  let at = 0;
  decodeScratchpadItem(
    source,
    info,
    item,
    encryptKey,
    (chunk) => {
      let i = 0;
      while (i < chunk.length) {
        const n = Math.min(buf.length - fill, chunk.length - i);
        buf.set(chunk.subarray(i, i + n), fill);
        fill += n;
        i += n;
        if (fill === buf.length) {
          dev.write(at, buf);
          at += fill;
          fill = 0;
        }
      }
    },
    { counter, maxContent: dev.size },
  );
  if (fill > 0) {
    const padded = Math.ceil(fill / unit) * unit;
    buf.fill(dev.eraseValue, fill, padded);
    dev.write(at, buf.subarray(0, padded));
  }
  dev.sync();
}

/**
 * Writes every item's content to `sinkOf(item)` after the whole scratchpad has verified (two
 * passes over the data; nothing reaches a sink from a scratchpad that is refused).
 */
export function extractScratchpad(
  source: ScratchpadSource,
  keys: ScratchpadKeys,
  sinkOf: (item: ScratchpadItem) => (chunk: Uint8Array) => void,
  options: ScratchpadDecodeOptions = {},
): VerifiedScratchpad {
  const verified = verifyScratchpad(source, keys, options);
  for (const d of verified.items) decodeScratchpadItem(source, verified.info, d.item, keys.encrypt, sinkOf(d.item), options);
  return verified;
}

/** The fields of the SDK info tool, as plain JSON-ready values (hex strings for cmac and icb, "a.b.c.d" versions). */
export function scratchpadInfoJson(info: ScratchpadInfo) {
  return {
    tag: toHex(new Uint8Array(SCRATCHPAD_TAG)),
    length: info.header.length,
    crc: info.header.crc,
    seq: info.header.seq,
    pad: info.header.pad,
    type: info.header.type,
    status: info.header.status,
    cmac: toHex(info.cmac),
    icb: toHex(info.icb),
    items: info.items.map((it) => ({ area_id: it.areaId, length: it.length, version: it.version.join('.'), pad: it.pad })),
  };
}

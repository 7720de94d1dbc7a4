// Builds a scratchpad as the Wirepas SDK's genscratchpad.py does: every item compressed (raw
// deflate), zero-padded to 16 bytes, encrypted with one AES-128-CTR keystream over all item data,
// CMAC over bytes 48..end, CRC-16 over bytes 32..end. The compressor is a parameter: the portable
// core carries no deflate encoder (a device only ever inflates), and the host passes zlib's (the
// CLI uses node:zlib at level 9, which is what genscratchpad uses, so its files match the SDK's
// byte for byte when the ICB is the same).
import { OtaflashError, hex, kindOf } from '../errors';
import { AesCmac } from '../crypto/cmac';
import { AesCtr, checkCounterOrder, type CounterOrder } from '../crypto/ctr';
import { crc16CcittFalse } from './scratchpad-crc';
import { SCRATCHPAD_HEADER_SIZE, SCRATCHPAD_ITEM_HEADER_SIZE, SCRATCHPAD_MAX_SIZE, SCRATCHPAD_SECURITY_SIZE, SCRATCHPAD_STATUS_NEW, SCRATCHPAD_TAG, SCRATCHPAD_TYPE_PROCESS, type ScratchpadKeys } from './scratchpad';

/** genscratchpad refuses an input whose memory image spans more than 8 MiB. */
export const SCRATCHPAD_MAX_ITEM_CONTENT = 8 * 1024 * 1024;

export interface ScratchpadItemInput {
  /** Memory area id, 0..0xffffffff. */
  readonly areaId: number;
  /** major, minor, maintenance, development: each 0..255. */
  readonly version: readonly number[];
  /** The memory image the bootloader writes to the area. */
  readonly content: Uint8Array;
}

export interface CreateScratchpadOptions {
  readonly items: readonly ScratchpadItemInput[];
  readonly keys: ScratchpadKeys;
  /** The 16-byte initial counter block. genscratchpad draws it at random; pass fixed bytes for a reproducible file. */
  readonly icb: Uint8Array;
  /** Raw deflate (RFC 1951, no zlib header or checksum) of one item's content. */
  readonly deflateRaw: (content: Uint8Array) => Uint8Array;
  /** 0..255; genscratchpad writes 255 and the sink replaces it on upload. */
  readonly seq?: number;
  readonly counter?: CounterOrder;
}

function fail(code: string, message: string, info?: Record<string, unknown>): OtaflashError {
  return new OtaflashError(code, `scratchpad create: ${message}`, info);
}

function checkByte(v: unknown, what: string): number {
  if (typeof v !== 'number' || v % 1 !== 0 || v < 0 || v > 255) throw fail('SCRATCHPAD_BAD_ARGUMENT', `${what} must be an integer 0..255, got ${JSON.stringify(v)}`);
  return v;
}

const putU32 = (b: Uint8Array, at: number, v: number) => {
  b[at] = v & 0xff;
  b[at + 1] = (v >>> 8) & 0xff;
  b[at + 2] = (v >>> 16) & 0xff;
  b[at + 3] = (v >>> 24) & 0xff;
};

export function createScratchpad(options: CreateScratchpadOptions): Uint8Array {
  if (options === null || typeof options !== 'object') throw fail('SCRATCHPAD_BAD_ARGUMENT', `options must be an object, got ${kindOf(options)}`);
  const { items, keys, icb, deflateRaw } = options;
  const seq = options.seq === undefined ? 255 : checkByte(options.seq, 'seq');
  const counter = options.counter === undefined ? 'little' : options.counter;
  checkCounterOrder(counter, 'counter order');
  if (!Array.isArray(items) || items.length === 0) throw fail('SCRATCHPAD_BAD_ARGUMENT', 'at least one item is needed');
  if (!(icb instanceof Uint8Array) || icb.length !== 16) throw fail('SCRATCHPAD_BAD_ARGUMENT', 'the initial counter block must be 16 bytes');
  if (!keys || !(keys.auth instanceof Uint8Array) || !(keys.encrypt instanceof Uint8Array) || keys.auth.length !== 16 || keys.encrypt.length !== 16) {
    throw fail('SCRATCHPAD_BAD_KEY', 'keys must be { auth, encrypt }, two 16-byte Uint8Arrays');
  }
  if (typeof deflateRaw !== 'function') throw fail('SCRATCHPAD_BAD_ARGUMENT', 'deflateRaw must be a function');

  const parts: { header: Uint8Array; data: Uint8Array }[] = [];
  let total = SCRATCHPAD_HEADER_SIZE + SCRATCHPAD_SECURITY_SIZE;
  items.forEach((item, i) => {
    const where = `item ${i}`;
    if (item === null || typeof item !== 'object') throw fail('SCRATCHPAD_BAD_ARGUMENT', `${where} must be an object, got ${kindOf(item)}`);
    const a = item.areaId;
    if (typeof a !== 'number' || a % 1 !== 0 || a < 0 || a > 0xffffffff) throw fail('SCRATCHPAD_BAD_ARGUMENT', `${where}: area id must be 0..0xffffffff, got ${JSON.stringify(a)}`);
    if (!Array.isArray(item.version) || item.version.length !== 4) throw fail('SCRATCHPAD_BAD_ARGUMENT', `${where}: version must be four numbers (major, minor, maintenance, development)`);
    const version = (item.version as readonly unknown[]).map((v: unknown, k: number) => checkByte(v, `${where} version part ${k + 1}`));
    if (!(item.content instanceof Uint8Array) || item.content.length === 0) throw fail('SCRATCHPAD_BAD_ARGUMENT', `${where} (area ${hex(a)}): the content is empty`);
    if (item.content.length > SCRATCHPAD_MAX_ITEM_CONTENT) throw fail('SCRATCHPAD_TOO_LARGE', `${where} (area ${hex(a)}): ${item.content.length} bytes, more than genscratchpad's 8 MiB`);
    const compressed = deflateRaw(item.content);
    if (!(compressed instanceof Uint8Array) || compressed.length === 0) throw fail('SCRATCHPAD_BAD_ARGUMENT', `${where}: deflateRaw returned no bytes`);
    const data = new Uint8Array(Math.ceil(compressed.length / 16) * 16);
    data.set(compressed);
    const header = new Uint8Array(SCRATCHPAD_ITEM_HEADER_SIZE);
    putU32(header, 0, a);
    putU32(header, 4, data.length);
    header.set(version, 8);
    parts.push({ header, data });
    total += header.length + data.length;
  });
  if (total > SCRATCHPAD_MAX_SIZE) throw fail('SCRATCHPAD_TOO_LARGE', `the scratchpad would be ${total} bytes, more than 16 MiB`);

  const out = new Uint8Array(total);
  out.set(SCRATCHPAD_TAG, 0);
  out.set(icb, 48);
  // One keystream, item data only: headers stay plaintext and take no keystream.
  const ctr = new AesCtr(keys.encrypt, icb, counter);
  let at = 64;
  for (const p of parts) {
    out.set(p.header, at);
    at += p.header.length;
    out.set(p.data, at);
    ctr.apply(out, at, at + p.data.length);
    at += p.data.length;
  }
  out.set(new AesCmac(keys.auth).update(out.subarray(48)).digest(), 32);
  putU32(out, 16, total - SCRATCHPAD_HEADER_SIZE);
  const crc = crc16CcittFalse(out, 0xffff, 32, total);
  out[20] = crc & 0xff;
  out[21] = crc >>> 8;
  out[22] = seq;
  out[23] = 0;
  putU32(out, 24, SCRATCHPAD_TYPE_PROCESS);
  putU32(out, 28, SCRATCHPAD_STATUS_NEW);
  return out;
}

/** Sets the sequence number of a scratchpad in place, as a sink does on upload (no CRC or CMAC covers it). */
export function setScratchpadSeq(scratchpad: Uint8Array, seq: number): void {
  if (!(scratchpad instanceof Uint8Array) || scratchpad.length < SCRATCHPAD_HEADER_SIZE) throw fail('SCRATCHPAD_BAD_ARGUMENT', 'not a scratchpad (fewer than 32 bytes)');
  scratchpad[22] = checkByte(seq, 'seq');
}

/**
 * The agent's persisted state: one small record kept in two erase sectors of a block-device region,
 * written alternately (A/B), so that a power cut at any flash operation leaves the last committed
 * record readable. The layout (all integers little-endian), at the start of each sector:
 *
 *   0  u32  magic 0x5447414f ("OAGT")
 *   4  u32  sequence number (the higher valid one is current; 0xFFFFFFFF is never used)
 *   8  u32  payload length in bytes
 *  12  u32  reserved, 0xFFFFFFFF
 *  16  ...  payload (UTF-8 JSON), then 0xFF up to the next program unit
 *   C  u32  CRC-32 of bytes 0..15 and the payload, alone in its own program unit at
 *           C = align_up(16 + length, max(writeSize, 4))
 *
 * Why the CRC is programmed last and alone: a torn program of the body cannot then leave a good
 * CRC (the CRC bytes are still erased), and a torn program of the CRC unit leaves a CRC that does
 * not match (a partially programmed word is not the CRC of the body, except by 2^-32 chance).
 * Only the older sector is ever erased, so the current record survives every cut.
 */
import { OtaflashError, hex, kindOf } from '../errors';
import { isBlockDevice } from '../flash/checks';
import type { BlockDevice } from '../flash/types';
import { u32, putU32 } from '../formats/bytes';
import { utf8Decode, utf8Encode } from '../formats/utf8';
import { crc32 } from '../hash/portable';

export const AGENT_RECORD_MAGIC = 0x5447414f;
const HEADER = 16;

export interface StoredRecord {
  readonly seq: number;
  readonly sector: 0 | 1;
  readonly payload: unknown;
}

function unit(dev: BlockDevice): number {
  return Math.max(4, dev.writeSize);
}

function alignUp(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

function checkRegion(dev: BlockDevice): void {
  if (!isBlockDevice(dev)) throw new OtaflashError('AGENT_BAD_ARGUMENT', `the agent record needs a block device, got ${kindOf(dev)}`);
  if (dev.size < 2 * dev.eraseSize) {
    throw new OtaflashError('AGENT_RECORD_REGION', `the agent record needs two erase sectors (${2 * dev.eraseSize} bytes); the region has ${dev.size}`);
  }
}

/** Reads one sector's record, or null when it holds none that is whole. */
function readSector(dev: BlockDevice, sector: 0 | 1): { seq: number; payload: unknown } | null {
  const base = sector * dev.eraseSize;
  const head = new Uint8Array(HEADER);
  dev.read(base, head);
  if (u32(head, 0) !== AGENT_RECORD_MAGIC) return null;
  const seq = u32(head, 4);
  const len = u32(head, 8);
  if (seq === 0xffffffff) return null;
  const crcAt = alignUp(HEADER + len, unit(dev));
  if (crcAt + 4 > dev.eraseSize) return null;
  const body = new Uint8Array(len);
  dev.read(base + HEADER, body);
  const crcBytes = new Uint8Array(4);
  dev.read(base + crcAt, crcBytes);
  const want = crc32(body, crc32(head));
  if (u32(crcBytes, 0) !== want >>> 0) return null;
  const text = utf8Decode(body);
  if (text === null) return null;
  try {
    return { seq, payload: JSON.parse(text) };
  } catch (e) {
    // A CRC-valid record that is not JSON was written by something else: treat as absent.
    return null;
  }
}

/** The current record of the region (the valid one with the higher sequence), or null. */
export function readAgentRecord(dev: BlockDevice): StoredRecord | null {
  checkRegion(dev);
  const a = readSector(dev, 0);
  const b = readSector(dev, 1);
  if (a && (!b || a.seq > b.seq)) return { seq: a.seq, sector: 0, payload: a.payload };
  if (b) return { seq: b.seq, sector: 1, payload: b.payload };
  return null;
}

/**
 * Commits `payload` as the new current record, into the sector that does not hold the current one.
 * Returns what was written. Throws AGENT_RECORD_TOO_LARGE when it cannot fit one sector.
 */
export function writeAgentRecord(dev: BlockDevice, payload: unknown, current: StoredRecord | null = readAgentRecord(dev)): StoredRecord {
  checkRegion(dev);
  const text = JSON.stringify(payload);
  if (typeof text !== 'string') throw new OtaflashError('AGENT_BAD_ARGUMENT', `the agent state is not serialisable (${kindOf(payload)})`);
  const body = utf8Encode(text);
  const u = unit(dev);
  const crcAt = alignUp(HEADER + body.length, u);
  if (crcAt + u > dev.eraseSize) {
    throw new OtaflashError('AGENT_RECORD_TOO_LARGE', `the agent state takes ${body.length} bytes; a sector of ${dev.eraseSize} holds at most ${dev.eraseSize - HEADER - 2 * u}`, { bytes: body.length });
  }
  const seq = current ? current.seq + 1 : 1;
  if (seq >= 0xffffffff) throw new OtaflashError('AGENT_RECORD_WORN', `the agent record sequence reached ${hex(seq)}`);
  const sector: 0 | 1 = current ? (current.sector === 0 ? 1 : 0) : 0;
  const base = sector * dev.eraseSize;
  const first = new Uint8Array(crcAt).fill(dev.eraseValue);
  putU32(first, 0, AGENT_RECORD_MAGIC);
  putU32(first, 4, seq);
  putU32(first, 8, body.length);
  putU32(first, 12, 0xffffffff);
  first.set(body, HEADER);
  const crc = crc32(body, crc32(first.subarray(0, HEADER)));
  const last = new Uint8Array(u).fill(dev.eraseValue);
  putU32(last, 0, crc >>> 0);
  dev.erase(base, dev.eraseSize);
  dev.write(base, first);
  dev.write(base + crcAt, last);
  dev.sync();
  return { seq, sector, payload: JSON.parse(text) };
}

// Byte layout of a detools sequential patch, writing side: header byte (type 0 << 4 |
// compression), the new image's size, then the compressed stream: data-format size 0, and per
// record: diff size, diff bytes (new - old, mod 256), extra size, extra bytes, old-offset adjustment.
import { ByteSink } from './encode-range';
import type { DeltaRecord } from './generate-matcher';

export const COMPRESSION_NUMBERS = { none: 0, lzma: 1, heatshrink: 4 } as const;

/**
 * detools' size encoding: the first byte holds 6 value bits, bit 6 the sign and bit 7 "more";
 * each next byte 7 value bits and bit 7 "more". The header's to-size uses it unsigned.
 */
export function packSize(out: ByteSink, value: number): void {
  let v = value < 0 ? -value : value;
  let first = (value < 0 ? 0x40 : 0) | (v & 0x3f);
  v = Math.floor(v / 64);
  if (v > 0) first |= 0x80;
  out.push(first);
  while (v > 0) {
    let b = v & 0x7f;
    v = Math.floor(v / 128);
    if (v > 0) b |= 0x80;
    out.push(b);
  }
}

/** The uncompressed stream the compressor is fed. */
export function serializeRecords(old: Uint8Array, nu: Uint8Array, records: readonly DeltaRecord[]): Uint8Array {
  const out = new ByteSink();
  packSize(out, 0);
  let oldPos = 0;
  let newPos = 0;
  for (const r of records) {
    packSize(out, r.diffLength);
    for (let i = 0; i < r.diffLength; i++) out.push((nu[newPos + i] - old[oldPos + i]) & 0xff);
    newPos += r.diffLength;
    oldPos += r.diffLength;
    packSize(out, r.extraLength);
    for (let i = 0; i < r.extraLength; i++) out.push(nu[newPos + i]);
    newPos += r.extraLength;
    packSize(out, r.adjustment);
    oldPos += r.adjustment;
  }
  return out.bytes();
}

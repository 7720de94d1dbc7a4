// CRC-32 (ISO-HDLC / zlib: reflected, polynomial 0xEDB88320, initial and final XOR 0xFFFFFFFF), one
// byte per step through a 256-entry table. On a device CRC-32 guards small records (otadata entries,
// the resume log, agent and package records), so the table is kept to 1 KiB instead of the 17 KiB of
// slice-by-16 tables a general-purpose package builds at load: that heap is worth more to a 128 KiB
// JerryScript or Espruino device than the extra speed.

/** table[n] = CRC of the byte n alone (before the final XOR), computed once at load. */
const TABLE = new Int32Array(256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  TABLE[n] = c;
}

/**
 * CRC-32 of `data` continuing from `previous` (zlib's chaining: crc32(b, crc32(a)) is the CRC of a
 * followed by b; `previous` may be signed or unsigned). Returns an unsigned 32-bit number.
 */
export function crc32(data: Uint8Array, previous = 0): number {
  const t = TABLE;
  let c = ~previous;
  const n = data.length;
  for (let i = 0; i < n; i++) c = t[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

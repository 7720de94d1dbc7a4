// CRC-16/CCITT-FALSE: polynomial 0x1021, initial 0xffff, MSB first, no reflection, no final XOR
// (check value 0x29b1 for "123456789"). The scratchpad header carries it over bytes 32..end.

let TABLE: Uint16Array | null = null;

function table(): Uint16Array {
  const t = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 8;
    for (let k = 0; k < 8; k++) c = c & 0x8000 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff;
    t[i] = c;
  }
  return t;
}

/** Continues a CRC over data[start..end); start a new one with crc = 0xffff. */
export function crc16CcittFalse(data: Uint8Array, crc = 0xffff, start = 0, end = data.length): number {
  const t = TABLE || (TABLE = table());
  let c = crc & 0xffff;
  for (let i = start; i < end; i++) c = ((c << 8) & 0xffff) ^ t[(c >>> 8) ^ data[i]];
  return c;
}

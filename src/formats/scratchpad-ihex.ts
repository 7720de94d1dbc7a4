// Intel HEX input for scratchpad items (genscratchpad reads only Intel HEX): records 00 (data),
// 01 (end of file), 02 (extended segment address), 04 (extended linear address); 03 and 05 (start
// addresses) carry nothing for the memory image and are skipped. The item's content is the span
// from the lowest to the highest address written, gaps filled with 0x00, as genscratchpad does.
import { OtaflashError } from '../errors';

export interface IntelHexRange {
  readonly address: number;
  readonly data: Uint8Array;
}

function fail(line: number, message: string): OtaflashError {
  return new OtaflashError('SCRATCHPAD_BAD_HEX', `Intel HEX line ${line}: ${message}`, { line });
}

/** The data records of an Intel HEX text, merged into contiguous ranges sorted by address. Refuses overlaps. */
export function parseIntelHex(text: string): IntelHexRange[] {
  if (typeof text !== 'string') throw new OtaflashError('SCRATCHPAD_BAD_HEX', 'Intel HEX input must be text');
  const records: { address: number; data: Uint8Array; line: number }[] = [];
  let base = 0;
  let ended = false;
  const lines = text.split(/\r?\n/);
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n].trim();
    if (line === '') continue;
    const no = n + 1;
    if (ended) throw fail(no, 'data after the end-of-file record');
    if (line[0] !== ':' || !/^:[0-9a-fA-F]+$/.test(line) || line.length % 2 !== 1 || line.length < 11) throw fail(no, 'not a record (":" and an even number of hex digits, at least 10)');
    const bytes = new Uint8Array((line.length - 1) / 2);
    for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(line.substr(1 + 2 * i, 2), 16);
    const count = bytes[0];
    if (bytes.length !== count + 5) throw fail(no, `the byte count says ${count} data bytes, the record has ${bytes.length - 5}`);
    let sum = 0;
    for (let i = 0; i < bytes.length; i++) sum = (sum + bytes[i]) & 0xff;
    if (sum !== 0) throw fail(no, 'checksum mismatch');
    const offset = (bytes[1] << 8) | bytes[2];
    const type = bytes[3];
    const data = bytes.subarray(4, 4 + count);
    if (type === 0) records.push({ address: base + offset, data, line: no });
    else if (type === 1) ended = true;
    else if (type === 2) {
      if (count !== 2) throw fail(no, 'an extended segment address record has 2 data bytes');
      base = ((data[0] << 8) | data[1]) * 16;
    } else if (type === 4) {
      if (count !== 2) throw fail(no, 'an extended linear address record has 2 data bytes');
      base = ((data[0] << 8) | data[1]) * 0x10000;
    } else if (type !== 3 && type !== 5) throw fail(no, `unknown record type ${type}`);
  }
  records.sort((a, b) => a.address - b.address);
  const ranges: { address: number; chunks: Uint8Array[]; end: number }[] = [];
  for (const r of records) {
    if (r.data.length === 0) continue;
    const last = ranges[ranges.length - 1];
    if (last && r.address < last.end) throw fail(r.line, `data at 0x${r.address.toString(16)} overlaps earlier data`);
    if (last && r.address === last.end) {
      last.chunks.push(r.data);
      last.end += r.data.length;
    } else ranges.push({ address: r.address, chunks: [r.data], end: r.address + r.data.length });
  }
  return ranges.map((r) => {
    const data = new Uint8Array(r.end - r.address);
    let at = 0;
    for (const c of r.chunks) {
      data.set(c, at);
      at += c.length;
    }
    return { address: r.address, data };
  });
}

/** The flat memory image from the lowest to the highest address, gaps filled with `fill`. Refuses a span above `maxSpan`. */
export function intelHexImage(ranges: readonly IntelHexRange[], fill = 0, maxSpan = 8 * 1024 * 1024): { address: number; data: Uint8Array } {
  if (ranges.length === 0) throw new OtaflashError('SCRATCHPAD_BAD_HEX', 'the Intel HEX input holds no data');
  const start = ranges[0].address;
  const last = ranges[ranges.length - 1];
  const span = last.address + last.data.length - start;
  if (span > maxSpan) throw new OtaflashError('SCRATCHPAD_BAD_HEX', `the data spans ${span} bytes (0x${start.toString(16)}..), more than ${maxSpan}`);
  const data = new Uint8Array(span);
  if (fill !== 0) data.fill(fill);
  for (const r of ranges) data.set(r.data, r.address - start);
  return { address: start, data };
}

// heatshrink encoder (the bitstream atomicobject/heatshrink decodes): tag bit 1 + 8-bit literal,
// or tag bit 0 + (offset - 1) in `window` bits + (count - 1) in `lookahead` bits, MSB first,
// the last byte padded with zero bits. Host-side only.
//
// heatshrink's own encoder is greedy. A back-reference costs the same whatever its offset, so an
// optimal parse only needs the longest match at each position: a backward shortest-path pass then
// picks literals and match lengths for the fewest bits.
import { OtaflashError } from '../errors';
import { ByteSink } from './encode-range';

export interface HeatshrinkEncodeOptions {
  /** log2 of the window, 4..15 (detools default 8). */
  window?: number;
  /** log2 of the longest back-reference, 3..(window - 1) (detools default 7). */
  lookahead?: number;
}

export const HEATSHRINK_DEFAULT_WINDOW = 8;
export const HEATSHRINK_DEFAULT_LOOKAHEAD = 7;

export function checkHeatshrinkParams(window: number, lookahead: number): void {
  if (!Number.isInteger(window) || window < 4 || window > 15) {
    throw new OtaflashError('DELTA_BAD_OPTION', `heatshrink window must be 4..15 (log2 bytes), got ${String(window)}`, { window });
  }
  if (!Number.isInteger(lookahead) || lookahead < 3 || lookahead >= window) {
    throw new OtaflashError('DELTA_BAD_OPTION', `heatshrink lookahead must be 3..${window - 1} (log2 bytes, below the window), got ${String(lookahead)}`, { lookahead });
  }
}

export function encodeHeatshrink(data: Uint8Array, options: HeatshrinkEncodeOptions = {}): Uint8Array {
  const wBits = options.window ?? HEATSHRINK_DEFAULT_WINDOW;
  const lBits = options.lookahead ?? HEATSHRINK_DEFAULT_LOOKAHEAD;
  checkHeatshrinkParams(wBits, lBits);
  const n = data.length;
  const windowSize = 1 << wBits;
  const maxCount = 1 << lBits;
  const refBits = 1 + wBits + lBits;

  // Longest match (within the window, never before the start) at each position.
  const bestLen = new Uint16Array(n);
  const bestOff = new Uint16Array(n);
  const head = new Int32Array(1 << 16).fill(-1);
  const prev = new Int32Array(n);
  for (let i = 0; i + 1 < n; i++) {
    const key = (data[i] << 8) | data[i + 1];
    const limit = Math.min(maxCount, n - i);
    let len = 0;
    let off = 0;
    for (let c = head[key]; c >= 0 && i - c <= windowSize; c = prev[c]) {
      if (data[c + len] !== data[i + len]) continue;
      let l = 2;
      while (l < limit && data[c + l] === data[i + l]) l++;
      if (l > len) {
        len = l;
        off = i - c;
        if (l === limit) break;
      }
    }
    bestLen[i] = len;
    bestOff[i] = off;
    prev[i] = head[key];
    head[key] = i;
  }

  // Fewest bits from each position to the end.
  const cost = new Float64Array(n + 1);
  const step = new Uint16Array(n);
  for (let i = n - 1; i >= 0; i--) {
    let best = 9 + cost[i + 1];
    let take = 1;
    for (let l = bestLen[i]; l >= 2; l--) {
      const c = refBits + cost[i + l];
      if (c < best) { best = c; take = l; }
    }
    cost[i] = best;
    step[i] = take;
  }

  const out = new ByteSink();
  let acc = 0;
  let accBits = 0;
  const put = (value: number, bits: number): void => {
    for (let b = bits - 1; b >= 0; b--) {
      acc = (acc << 1) | ((value >>> b) & 1);
      if (++accBits === 8) { out.push(acc); acc = 0; accBits = 0; }
    }
  };
  for (let i = 0; i < n;) {
    const l = step[i];
    if (l === 1) {
      put(1, 1);
      put(data[i], 8);
    } else {
      put(0, 1);
      put(bestOff[i] - 1, wBits);
      put(l - 1, lBits);
    }
    i += l;
  }
  if (accBits > 0) out.push(acc << (8 - accBits));
  return out.bytes();
}

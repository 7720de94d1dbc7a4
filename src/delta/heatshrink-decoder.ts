// A streaming heatshrink decoder (LZSS with a 2^W-byte window and 2^L-byte lookahead), the body
// of detools heatshrink patches. The bit stream, most significant bit first:
//   1, then 8 bits                          a literal byte
//   0, then W bits (index-1), L bits (count-1)  copy `count` bytes from `index` bytes back
// The window starts zero-filled, so a reference before the first byte yields zeros (as the
// reference decoder does). The encoder pads the last byte with zero bits; finish() accepts at most
// 7 such bits and refuses anything more as bytes after the end of the stream.
//
// Memory: the window (2^W bytes, 256 for detools's default W=8) and a 4 KiB output buffer.
import { OtaflashError } from '../errors';
import type { ByteSink, StreamDecoder } from './stream';

export interface HeatshrinkParams {
  windowSz2: number;
  lookaheadSz2: number;
}

const OUT_SIZE = 4096;
const ST_TAG = 0;
const ST_LITERAL = 1;
const ST_INDEX = 2;
const ST_COUNT = 3;

/** Refuses parameters the reference decoder refuses (window 4..15 bits, lookahead 3..window-1). */
export function checkHeatshrinkParams(p: HeatshrinkParams): void {
  if (!(p.windowSz2 >= 4 && p.windowSz2 <= 15 && p.lookaheadSz2 >= 3 && p.lookaheadSz2 < p.windowSz2)) {
    throw new OtaflashError('DELTA_BAD_HEATSHRINK_PARAMS', `heatshrink window 2^${p.windowSz2} with lookahead 2^${p.lookaheadSz2} is not valid (window 2^4..2^15, lookahead 2^3 up to half the window)`, { windowSz2: p.windowSz2, lookaheadSz2: p.lookaheadSz2 });
  }
}

export class HeatshrinkDecoder implements StreamDecoder {
  private readonly sink: ByteSink;
  private readonly w: number;
  private readonly l: number;
  private readonly window: Uint8Array;
  private readonly mask: number;
  private head = 0;
  private readonly out = new Uint8Array(OUT_SIZE);
  private outLen = 0;
  private bits = 0; // pending input bits, right-aligned
  private nbits = 0;
  private st = ST_TAG;
  private index = 0;
  private bitsInOp = 0; // input bits read for the operation in progress
  private opNonZero = false;
  private inBytes = 0;
  private failed = false;

  constructor(sink: ByteSink, params: HeatshrinkParams) {
    checkHeatshrinkParams(params);
    this.sink = sink;
    this.w = params.windowSz2;
    this.l = params.lookaheadSz2;
    this.window = new Uint8Array(1 << this.w);
    this.mask = (1 << this.w) - 1;
  }

  get consumed(): number {
    return this.inBytes;
  }

  push(chunk: Uint8Array): void {
    if (this.failed) throw new OtaflashError('DELTA_DECODER_FAILED', 'the heatshrink decoder already failed');
    try {
      this.decode(chunk);
      this.flush();
    } catch (e) {
      // No flush here: the sink may be what threw, and the bytes it was given must not reach it twice.
      this.failed = true;
      throw e;
    }
  }

  finish(): void {
    if (this.failed) throw new OtaflashError('DELTA_DECODER_FAILED', 'the heatshrink decoder already failed');
    const left = this.bitsInOp + this.nbits;
    if (left >= 8 || this.opNonZero || (this.bits & ((1 << this.nbits) - 1)) !== 0) {
      this.failed = true;
      throw new OtaflashError('DELTA_PATCH_TOO_LONG', `the heatshrink stream has ${left} bits after its last complete symbol, more than the zero padding of one byte`, { bits: left });
    }
  }

  private flush(): void {
    if (this.outLen > 0) {
      const n = this.outLen;
      this.outLen = 0;
      this.sink(this.out, 0, n);
    }
  }

  // The decode loop keeps the bit buffer, the state and the window position in locals (written
  // back at the end of each push): a method call per bit or byte costs about half the speed.
  private decode(chunk: Uint8Array): void {
    const len = chunk.length;
    const w = this.w;
    const l = this.l;
    const win = this.window;
    const mask = this.mask;
    const out = this.out;
    let i = 0;
    let bits = this.bits;
    let nbits = this.nbits;
    let st = this.st;
    let head = this.head;
    let outLen = this.outLen;
    let inOp = this.bitsInOp;
    let nonZero = this.opNonZero;
    let v = 0;
    try {
      for (;;) {
        // Keep at least 16 bits at hand when input allows (the widest field is 15 bits).
        while (nbits <= 16 && i < len) {
          bits = ((bits << 8) | chunk[i++]) & 0xffffff;
          nbits += 8;
        }
        if (st === ST_TAG) {
          if (nbits < 1) return;
          nbits -= 1;
          v = (bits >>> nbits) & 1;
          inOp = 1;
          nonZero = v !== 0;
          st = v === 1 ? ST_LITERAL : ST_INDEX;
        } else if (st === ST_LITERAL) {
          if (nbits < 8) return;
          nbits -= 8;
          v = (bits >>> nbits) & 0xff;
          win[head & mask] = v;
          head++;
          out[outLen++] = v;
          if (outLen === OUT_SIZE) {
            this.outLen = outLen;
            this.flush();
            outLen = 0;
          }
          st = ST_TAG;
          inOp = 0;
          nonZero = false;
        } else if (st === ST_INDEX) {
          if (nbits < w) return;
          nbits -= w;
          v = (bits >>> nbits) & ((1 << w) - 1);
          inOp += w;
          if (v !== 0) nonZero = true;
          this.index = v + 1;
          st = ST_COUNT;
        } else {
          if (nbits < l) return;
          nbits -= l;
          v = (bits >>> nbits) & ((1 << l) - 1);
          const count = v + 1;
          const back = this.index;
          for (let k = 0; k < count; k++) {
            const c = win[(head - back) & mask];
            win[head & mask] = c;
            head++;
            out[outLen++] = c;
            if (outLen === OUT_SIZE) {
              this.outLen = outLen;
              this.flush();
              outLen = 0;
            }
          }
          st = ST_TAG;
          inOp = 0;
          nonZero = false;
        }
      }
    } finally {
      this.inBytes += i;
      this.bits = bits;
      this.nbits = nbits;
      this.st = st;
      this.head = head;
      this.outLen = outLen;
      this.bitsInOp = inOp;
      this.opNonZero = nonZero;
    }
  }
}

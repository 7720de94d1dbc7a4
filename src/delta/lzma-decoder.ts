// A streaming decoder for the LZMA "alone" format (.lzma, LZMA_Alone), the body of detools lzma
// patches (Python's lzma.compress(..., format=FORMAT_ALONE)). Written from the LZMA specification
// (Igor Pavlov's lzma-specification.txt): range decoder, literal coder with match byte, length and
// distance coders, the 12-state machine and the four rep distances.
//
// Memory is the probability tables (about 14 KiB for lc=3, lp=0) plus the dictionary window. The
// window is allocated lazily: it starts small and grows as output accumulates, never past the
// dictionary size the header declares, so detools's 8 MiB declaration costs only what the stream
// produces. `maxDictionary` refuses, before any output, a stream declaring a larger dictionary.
//
// Input may arrive in chunks of any size. One LZMA symbol reads at most 20 bytes, so a symbol is
// decoded only while 20 bytes are at hand; the last few bytes of a chunk wait for the next push
// (or finish(), where running out is a truncated stream).
import { OtaflashError } from '../errors';
import type { ByteSink, StreamDecoder } from './stream';

export interface LzmaDecoderOptions {
  /** Refuse streams whose declared dictionary is larger (bytes). Default: no limit. */
  maxDictionary?: number;
  /** First window allocation in bytes (default 64 KiB); it grows by a quarter (at least 64 KiB) as needed. */
  initialWindow?: number;
}

export interface LzmaAloneHeader {
  lc: number;
  lp: number;
  pb: number;
  dictionarySize: number;
  /** Declared uncompressed size, or null for "unknown" (all ones: the stream ends with an end marker). */
  uncompressedSize: number | null;
}

const HEADER_SIZE = 13;
const IN_REQUIRED = 20;
const MATCH_MAX = 273;
const BIT_MODEL_TOTAL = 2048;
const MOVE_BITS = 5;
const TOP = 0x1000000;

// Offsets into one Uint16Array of probabilities.
const IS_MATCH = 0; // 12 states << 4 posStates
const IS_REP = IS_MATCH + 192;
const IS_REP_G0 = IS_REP + 12;
const IS_REP_G1 = IS_REP_G0 + 12;
const IS_REP_G2 = IS_REP_G1 + 12;
const IS_REP0_LONG = IS_REP_G2 + 12; // 192
const POS_SLOT = IS_REP0_LONG + 192; // 4 << 6
const SPEC_POS = POS_SLOT + 256; // 114 (indexed from base + 1)
const ALIGN = SPEC_POS + 114; // 16
const LEN_CODER = ALIGN + 16; // 514 each: choice, choice2, low 16x8, mid 16x8, high 256
const REP_LEN_CODER = LEN_CODER + 514;
const LITERAL = REP_LEN_CODER + 514;
const LEN_CHOICE = 0;
const LEN_CHOICE2 = 1;
const LEN_LOW = 2;
const LEN_MID = LEN_LOW + 128;
const LEN_HIGH = LEN_MID + 128;

function fail(code: string, message: string, info?: Record<string, unknown>): never {
  throw new OtaflashError(code, message, info);
}

/** Decodes the 13-byte header (properties byte, dictionary size, uncompressed size), all little-endian. */
export function decodeLzmaAloneHeader(b: Uint8Array, at = 0): LzmaAloneHeader {
  if (b.length - at < HEADER_SIZE) fail('DELTA_TRUNCATED', `the lzma stream ends inside its ${HEADER_SIZE}-byte header`);
  let d = b[at];
  if (d >= 9 * 5 * 5) fail('DELTA_CORRUPT_COMPRESSED', `lzma properties byte ${d} is out of range (must be below 225)`, { props: d });
  const lc = d % 9;
  d = (d / 9) | 0;
  const lp = d % 5;
  const pb = (d / 5) | 0;
  const dictionarySize = (b[at + 1] | (b[at + 2] << 8) | (b[at + 3] << 16) | (b[at + 4] << 24)) >>> 0;
  let allOnes = true;
  for (let i = 5; i < 13; i++) if (b[at + i] !== 0xff) allOnes = false;
  let size: number | null = null;
  if (!allOnes) {
    const lo = (b[at + 5] | (b[at + 6] << 8) | (b[at + 7] << 16) | (b[at + 8] << 24)) >>> 0;
    const hi = (b[at + 9] | (b[at + 10] << 8) | (b[at + 11] << 16) | (b[at + 12] << 24)) >>> 0;
    if (hi >= 0x200000) fail('DELTA_CORRUPT_COMPRESSED', 'lzma header declares an uncompressed size of 2^53 bytes or more');
    size = hi * 0x100000000 + lo;
  }
  return { lc, lp, pb, dictionarySize, uncompressedSize: size };
}

export class LzmaDecoder implements StreamDecoder {
  private readonly sink: ByteSink;
  private readonly opts: LzmaDecoderOptions;
  private header: LzmaAloneHeader | null = null;
  private headerBuf = new Uint8Array(HEADER_SIZE);
  private headerLen = 0;
  private rcInit = 0; // range coder bytes read so far (5 at start)
  private done = false;
  private failed = false;

  private probs: Uint16Array = new Uint16Array(0);
  private lc = 0;
  private lpMask = 0;
  private pbMask = 0;
  private dictSize = 0;
  private limit = -1; // uncompressed size when declared

  private range = 0xffffffff;
  private code = 0;
  private state = 0;
  private rep0 = 0;
  private rep1 = 0;
  private rep2 = 0;
  private rep3 = 0;

  private win: Uint8Array = new Uint8Array(0);
  private pos = 0; // write position in win
  private flushed = 0; // win[flushed, pos) not yet given to the sink
  private total = 0; // bytes produced
  private circular = false;

  // Input of the current step: either the caller's chunk or `carry` (leftover + new bytes).
  private inBuf: Uint8Array = new Uint8Array(0);
  private inPos = 0;
  private inEnd = 0;
  private carry: Uint8Array = new Uint8Array(64);
  private carryLen = 0;
  private consumedBefore = 0;
  private trailing = 0;

  constructor(sink: ByteSink, opts: LzmaDecoderOptions = {}) {
    this.sink = sink;
    this.opts = opts;
  }

  get consumed(): number {
    return this.consumedBefore + this.inPos;
  }

  /** The decoded header, once 13 bytes have arrived. */
  get streamHeader(): LzmaAloneHeader | null {
    return this.header;
  }

  /** Bytes of window currently allocated (for memory reports). */
  get windowBytes(): number {
    return this.win.length;
  }

  push(chunk: Uint8Array): void {
    if (this.failed) fail('DELTA_DECODER_FAILED', 'the lzma decoder already failed');
    try {
      this.run(chunk, false);
    } catch (e) {
      this.failed = true;
      throw e;
    }
  }

  finish(): void {
    if (this.failed) fail('DELTA_DECODER_FAILED', 'the lzma decoder already failed');
    try {
      this.run(new Uint8Array(0), true);
      if (!this.done) fail('DELTA_TRUNCATED', `the lzma stream ends after ${this.total} decoded bytes, before its end${this.limit >= 0 ? ` (it declares ${this.limit})` : ' marker'}`, { produced: this.total });
      if (this.trailing > 0) fail('DELTA_PATCH_TOO_LONG', `${this.trailing} bytes follow the end of the lzma stream`, { trailing: this.trailing });
    } catch (e) {
      this.failed = true;
      throw e;
    }
  }

  private run(chunk: Uint8Array, final: boolean): void {
    let at = 0;
    if (this.header === null) {
      const n = Math.min(HEADER_SIZE - this.headerLen, chunk.length);
      this.headerBuf.set(chunk.subarray(0, n), this.headerLen);
      this.headerLen += n;
      at = n;
      this.consumedBefore += n;
      if (this.headerLen < HEADER_SIZE) {
        if (final) fail('DELTA_TRUNCATED', `the lzma stream ends inside its ${HEADER_SIZE}-byte header`);
        return;
      }
      this.start(decodeLzmaAloneHeader(this.headerBuf));
    }
    if (this.done) {
      this.trailing += chunk.length - at;
      return;
    }
    // Leftover bytes from the last push are joined with the new ones in `carry`.
    let buf: Uint8Array;
    let end: number;
    if (this.carryLen > 0) {
      const need = this.carryLen + chunk.length - at;
      if (need > this.carry.length) {
        const c = new Uint8Array(Math.max(need, this.carry.length * 2));
        c.set(this.carry.subarray(0, this.carryLen));
        this.carry = c;
      }
      this.carry.set(chunk.subarray(at), this.carryLen);
      buf = this.carry;
      end = need;
      at = 0;
      // The carried bytes were counted when they came in; count them again below from zero.
      this.consumedBefore -= this.carryLen;
      this.carryLen = 0;
    } else {
      buf = chunk;
      end = chunk.length;
    }
    this.inBuf = buf;
    this.inPos = at;
    this.inEnd = end;
    // No flush on an error: the sink may be what threw, and its bytes must not reach it twice.
    this.decode(final);
    this.flush();
    const rest = this.inEnd - this.inPos;
    if (this.done) {
      this.trailing += rest;
      this.consumedBefore += this.inPos;
    } else if (rest > 0) {
      if (buf !== this.carry) {
        if (rest > this.carry.length) this.carry = new Uint8Array(rest * 2);
        this.carry.set(buf.subarray(this.inPos, this.inEnd));
      } else {
        this.carry.copyWithin(0, this.inPos, this.inEnd);
      }
      this.carryLen = rest;
      this.consumedBefore += this.inEnd;
    } else {
      this.consumedBefore += this.inEnd;
    }
    this.inBuf = new Uint8Array(0);
    this.inPos = 0;
    this.inEnd = 0;
  }

  private start(h: LzmaAloneHeader): void {
    const max = this.opts.maxDictionary;
    if (max !== undefined && h.dictionarySize > max) {
      fail('DELTA_DICTIONARY_TOO_LARGE', `the lzma stream declares a ${h.dictionarySize}-byte dictionary, more than the ${max} bytes allowed (maxDictionary); create the patch with a smaller dictionary`, { dictionarySize: h.dictionarySize, maxDictionary: max });
    }
    this.header = h;
    this.lc = h.lc;
    this.lpMask = (1 << h.lp) - 1;
    this.pbMask = (1 << h.pb) - 1;
    // As the reference decoder: a window of at least 4 KiB whatever the header says.
    this.dictSize = Math.max(h.dictionarySize, 4096);
    this.limit = h.uncompressedSize === null ? -1 : h.uncompressedSize;
    this.probs = new Uint16Array(LITERAL + (0x300 << (h.lc + h.lp)));
    this.probs.fill(BIT_MODEL_TOTAL >> 1);
    let first = Math.min(this.dictSize, this.opts.initialWindow ?? 65536);
    if (this.limit >= 0) first = Math.min(first, Math.max(this.limit, 1));
    this.win = new Uint8Array(first);
    this.circular = this.win.length >= this.dictSize || (this.limit >= 0 && this.win.length >= this.limit);
  }

  private flush(): void {
    if (this.pos > this.flushed) {
      const from = this.flushed;
      this.flushed = this.pos;
      this.sink(this.win, from, this.pos);
    }
  }

  /** Makes room for `n` more bytes at `pos`: grows the window, or wraps it once it has the dictionary size. */
  private room(n: number): void {
    if (this.pos + n <= this.win.length) return;
    if (!this.circular) {
      // Grow by a quarter (at least 64 KiB): at most 25% beyond what the stream has produced, at
      // the cost of a few more copies than doubling.
      const cur = this.win.length;
      let size = Math.max(this.pos + n, cur + Math.max(65536, cur >> 2));
      size = Math.min(size, this.dictSize);
      if (this.limit >= 0) size = Math.min(size, Math.max(this.limit, this.pos + n));
      if (size > this.win.length) {
        const w = new Uint8Array(size);
        w.set(this.win.subarray(0, this.pos));
        this.win = w;
      }
      // At the dictionary size the window wraps; at a declared size it is as large as it will need.
      if (size >= this.dictSize || (this.limit >= 0 && size >= this.limit)) this.circular = true;
      if (this.pos + n <= this.win.length) return;
    }
    // Circular: output wraps byte by byte in putByte / copyMatch.
  }

  // The hot loop: the range decoder and every coder are written out inline on locals (a closure or
  // method per bit costs about half the speed). A symbol is decoded only with IN_REQUIRED input
  // bytes at hand, except in the final call, where reading past the input is noticed (inPos > end)
  // before the symbol's output is committed.
  private decode(final: boolean): void {
    const buf = this.inBuf;
    const end = this.inEnd;
    if (this.rcInit < 5) {
      while (this.rcInit < 5) {
        if (this.inPos >= end) {
          if (final) fail('DELTA_TRUNCATED', 'the lzma stream ends inside its range coder start');
          return;
        }
        const c = buf[this.inPos++];
        if (this.rcInit === 0 && c !== 0) fail('DELTA_CORRUPT_COMPRESSED', 'corrupt lzma data: the first range coder byte is not 0');
        if (this.rcInit > 0) this.code = ((this.code << 8) | c) >>> 0;
        this.rcInit++;
      }
      if (this.code === this.range) fail('DELTA_CORRUPT_COMPRESSED', 'corrupt lzma data: bad range coder start');
    }
    const probs = this.probs;
    const lc = this.lc;
    const lpMask = this.lpMask;
    const pbMask = this.pbMask;
    const limit = this.limit;
    const dictSize = this.dictSize;
    let range = this.range;
    let code = this.code;
    let inPos = this.inPos;
    let state = this.state;
    let rep0 = this.rep0;
    let rep1 = this.rep1;
    let rep2 = this.rep2;
    let rep3 = this.rep3;
    let win = this.win;
    let size = win.length;
    let pos = this.pos;
    let total = this.total;
    let p = 0;
    let pi = 0;
    let bound = 0;
    let b = 0;
    let m = 0;
    let len = 0;
    let dist = 0;
    let slot = 0;
    let v = 0;
    try {
      for (;;) {
        if (limit >= 0 && total >= limit) {
          // Declared size reached: the stream is done (an end marker after it counts as trailing bytes).
          this.done = true;
          break;
        }
        if (!final && end - inPos < IN_REQUIRED) break;
        if (!this.circular && pos + MATCH_MAX > size) {
          this.pos = pos;
          this.room(MATCH_MAX);
          win = this.win;
          size = win.length;
        }
        const posState = total & pbMask;
        if (range < TOP) {
          range = (range << 8) >>> 0;
          code = ((code << 8) | buf[inPos++]) >>> 0;
        }
        pi = IS_MATCH + (state << 4) + posState;
        p = probs[pi];
        bound = (range >>> 11) * p;
        if (code < bound) {
          range = bound;
          probs[pi] = p + ((BIT_MODEL_TOTAL - p) >>> MOVE_BITS);
          b = 0;
        } else {
          range -= bound;
          code -= bound;
          probs[pi] = p - (p >>> MOVE_BITS);
          b = 1;
        }
        if (b === 0) {
          // Literal, coded with the previous byte's high bits (and, after a match, the match byte).
          const prev = total > 0 ? win[pos > 0 ? pos - 1 : size - 1] : 0;
          const base = LITERAL + 0x300 * (((total & lpMask) << lc) + (prev >> (8 - lc)));
          let sym = 1;
          if (state >= 7) {
            let at = pos - rep0 - 1;
            if (at < 0) at += size;
            let match = win[at];
            do {
              const mb = (match >> 7) & 1;
              match <<= 1;
              if (range < TOP) {
                range = (range << 8) >>> 0;
                code = ((code << 8) | buf[inPos++]) >>> 0;
              }
              pi = base + ((1 + mb) << 8) + sym;
              p = probs[pi];
              bound = (range >>> 11) * p;
              if (code < bound) {
                range = bound;
                probs[pi] = p + ((BIT_MODEL_TOTAL - p) >>> MOVE_BITS);
                b = 0;
              } else {
                range -= bound;
                code -= bound;
                probs[pi] = p - (p >>> MOVE_BITS);
                b = 1;
              }
              sym = (sym << 1) | b;
              if (mb !== b) break;
            } while (sym < 0x100);
          }
          while (sym < 0x100) {
            if (range < TOP) {
              range = (range << 8) >>> 0;
              code = ((code << 8) | buf[inPos++]) >>> 0;
            }
            pi = base + sym;
            p = probs[pi];
            bound = (range >>> 11) * p;
            if (code < bound) {
              range = bound;
              probs[pi] = p + ((BIT_MODEL_TOTAL - p) >>> MOVE_BITS);
              b = 0;
            } else {
              range -= bound;
              code -= bound;
              probs[pi] = p - (p >>> MOVE_BITS);
              b = 1;
            }
            sym = (sym << 1) | b;
          }
          if (inPos > end) this.truncated(total);
          if (pos === size) {
            this.pos = pos;
            this.wrap();
            pos = 0;
          }
          win[pos++] = sym & 0xff;
          total++;
          state = state < 4 ? 0 : state < 10 ? state - 3 : state - 6;
          continue;
        }
        if (range < TOP) {
          range = (range << 8) >>> 0;
          code = ((code << 8) | buf[inPos++]) >>> 0;
        }
        pi = IS_REP + state;
        p = probs[pi];
        bound = (range >>> 11) * p;
        if (code < bound) {
          range = bound;
          probs[pi] = p + ((BIT_MODEL_TOTAL - p) >>> MOVE_BITS);
          b = 0;
        } else {
          range -= bound;
          code -= bound;
          probs[pi] = p - (p >>> MOVE_BITS);
          b = 1;
        }
        if (b === 0) {
          // Match with a new distance.
          if (range < TOP) {
            range = (range << 8) >>> 0;
            code = ((code << 8) | buf[inPos++]) >>> 0;
          }
          pi = LEN_CODER + LEN_CHOICE;
          p = probs[pi];
          bound = (range >>> 11) * p;
          if (code < bound) {
            range = bound;
            probs[pi] = p + ((BIT_MODEL_TOTAL - p) >>> MOVE_BITS);
            b = 0;
          } else {
            range -= bound;
            code -= bound;
            probs[pi] = p - (p >>> MOVE_BITS);
            b = 1;
          }
          if (b === 0) {
            m = 1;
            for (let k = 0; k < 3; k++) {
              if (range < TOP) {
                range = (range << 8) >>> 0;
                code = ((code << 8) | buf[inPos++]) >>> 0;
              }
              pi = LEN_CODER + LEN_LOW + (posState << 3) + m;
              p = probs[pi];
              bound = (range >>> 11) * p;
              if (code < bound) {
                range = bound;
                probs[pi] = p + ((BIT_MODEL_TOTAL - p) >>> MOVE_BITS);
                b = 0;
              } else {
                range -= bound;
                code -= bound;
                probs[pi] = p - (p >>> MOVE_BITS);
                b = 1;
              }
              m = (m << 1) | b;
            }
            len = m - 8;
          } else {
            if (range < TOP) {
              range = (range << 8) >>> 0;
              code = ((code << 8) | buf[inPos++]) >>> 0;
            }
            pi = LEN_CODER + LEN_CHOICE2;
            p = probs[pi];
            bound = (range >>> 11) * p;
            if (code < bound) {
              range = bound;
              probs[pi] = p + ((BIT_MODEL_TOTAL - p) >>> MOVE_BITS);
              b = 0;
            } else {
              range -= bound;
              code -= bound;
              probs[pi] = p - (p >>> MOVE_BITS);
              b = 1;
            }
            if (b === 0) {
              m = 1;
              for (let k = 0; k < 3; k++) {
                if (range < TOP) {
                  range = (range << 8) >>> 0;
                  code = ((code << 8) | buf[inPos++]) >>> 0;
                }
                pi = LEN_CODER + LEN_MID + (posState << 3) + m;
                p = probs[pi];
                bound = (range >>> 11) * p;
                if (code < bound) {
                  range = bound;
                  probs[pi] = p + ((BIT_MODEL_TOTAL - p) >>> MOVE_BITS);
                  b = 0;
                } else {
                  range -= bound;
                  code -= bound;
                  probs[pi] = p - (p >>> MOVE_BITS);
                  b = 1;
                }
                m = (m << 1) | b;
              }
              len = m - 8;
              len += 8;
            } else {
              m = 1;
              for (let k = 0; k < 8; k++) {
                if (range < TOP) {
                  range = (range << 8) >>> 0;
                  code = ((code << 8) | buf[inPos++]) >>> 0;
                }
                pi = LEN_CODER + LEN_HIGH + m;
                p = probs[pi];
                bound = (range >>> 11) * p;
                if (code < bound) {
                  range = bound;
                  probs[pi] = p + ((BIT_MODEL_TOTAL - p) >>> MOVE_BITS);
                  b = 0;
                } else {
                  range -= bound;
                  code -= bound;
                  probs[pi] = p - (p >>> MOVE_BITS);
                  b = 1;
                }
                m = (m << 1) | b;
              }
              len = m - 256;
              len += 16;
            }
          }
          state = state < 7 ? 7 : 10;
          m = 1;
          for (let k = 0; k < 6; k++) {
            if (range < TOP) {
              range = (range << 8) >>> 0;
              code = ((code << 8) | buf[inPos++]) >>> 0;
            }
            pi = POS_SLOT + ((len < 4 ? len : 3) << 6) + m;
            p = probs[pi];
            bound = (range >>> 11) * p;
            if (code < bound) {
              range = bound;
              probs[pi] = p + ((BIT_MODEL_TOTAL - p) >>> MOVE_BITS);
              b = 0;
            } else {
              range -= bound;
              code -= bound;
              probs[pi] = p - (p >>> MOVE_BITS);
              b = 1;
            }
            m = (m << 1) | b;
          }
          slot = m - 64;
          if (slot < 4) {
            dist = slot;
          } else {
            const direct = (slot >> 1) - 1;
            dist = (2 | (slot & 1)) * (1 << direct);
            if (slot < 14) {
              m = 1;
              v = 0;
              for (let k = 0; k < direct; k++) {
                if (range < TOP) {
                  range = (range << 8) >>> 0;
                  code = ((code << 8) | buf[inPos++]) >>> 0;
                }
                pi = SPEC_POS + dist - slot - 1 + m;
                p = probs[pi];
                bound = (range >>> 11) * p;
                if (code < bound) {
                  range = bound;
                  probs[pi] = p + ((BIT_MODEL_TOTAL - p) >>> MOVE_BITS);
                  b = 0;
                } else {
                  range -= bound;
                  code -= bound;
                  probs[pi] = p - (p >>> MOVE_BITS);
                  b = 1;
                }
                m = (m << 1) | b;
                v |= b << k;
              }
              dist += v;
            } else {
              v = 0;
              for (let k = direct - 4; k > 0; k--) {
                if (range < TOP) {
                  range = (range << 8) >>> 0;
                  code = ((code << 8) | buf[inPos++]) >>> 0;
                }
                range = range >>> 1;
                if (code >= range) {
                  code -= range;
                  v = v * 2 + 1;
                } else {
                  v = v * 2;
                }
              }
              dist += v * 16;
              m = 1;
              v = 0;
              for (let k = 0; k < 4; k++) {
                if (range < TOP) {
                  range = (range << 8) >>> 0;
                  code = ((code << 8) | buf[inPos++]) >>> 0;
                }
                pi = ALIGN + m;
                p = probs[pi];
                bound = (range >>> 11) * p;
                if (code < bound) {
                  range = bound;
                  probs[pi] = p + ((BIT_MODEL_TOTAL - p) >>> MOVE_BITS);
                  b = 0;
                } else {
                  range -= bound;
                  code -= bound;
                  probs[pi] = p - (p >>> MOVE_BITS);
                  b = 1;
                }
                m = (m << 1) | b;
                v |= b << k;
              }
              dist += v;
            }
          }
          if (dist === 0xffffffff) {
            // End marker.
            if (range < TOP) {
              range = (range << 8) >>> 0;
              code = ((code << 8) | buf[inPos++]) >>> 0;
            }
            if (inPos > end) this.truncated(total);
            if (code !== 0) fail('DELTA_CORRUPT_COMPRESSED', 'corrupt lzma data after the end marker (range coder not finished)');
            if (limit >= 0 && total !== limit) fail('DELTA_CORRUPT_COMPRESSED', `lzma end marker after ${total} bytes, but the header declares ${limit}`);
            this.done = true;
            break;
          }
          rep3 = rep2;
          rep2 = rep1;
          rep1 = rep0;
          rep0 = dist;
        } else {
          if (range < TOP) {
            range = (range << 8) >>> 0;
            code = ((code << 8) | buf[inPos++]) >>> 0;
          }
          pi = IS_REP_G0 + state;
          p = probs[pi];
          bound = (range >>> 11) * p;
          if (code < bound) {
            range = bound;
            probs[pi] = p + ((BIT_MODEL_TOTAL - p) >>> MOVE_BITS);
            b = 0;
          } else {
            range -= bound;
            code -= bound;
            probs[pi] = p - (p >>> MOVE_BITS);
            b = 1;
          }
          if (b === 0) {
            if (range < TOP) {
              range = (range << 8) >>> 0;
              code = ((code << 8) | buf[inPos++]) >>> 0;
            }
            pi = IS_REP0_LONG + (state << 4) + posState;
            p = probs[pi];
            bound = (range >>> 11) * p;
            if (code < bound) {
              range = bound;
              probs[pi] = p + ((BIT_MODEL_TOTAL - p) >>> MOVE_BITS);
              b = 0;
            } else {
              range -= bound;
              code -= bound;
              probs[pi] = p - (p >>> MOVE_BITS);
              b = 1;
            }
            if (b === 0) {
              // Short rep: one byte from rep0.
              if (inPos > end) this.truncated(total);
              if (rep0 >= total || rep0 >= dictSize) this.badDistance(rep0, total);
              let at = pos - rep0 - 1;
              if (at < 0) at += size;
              const c = win[at];
              if (pos === size) {
                this.pos = pos;
                this.wrap();
                pos = 0;
              }
              win[pos++] = c;
              total++;
              state = state < 7 ? 9 : 11;
              continue;
            }
          } else {
            if (range < TOP) {
              range = (range << 8) >>> 0;
              code = ((code << 8) | buf[inPos++]) >>> 0;
            }
            pi = IS_REP_G1 + state;
            p = probs[pi];
            bound = (range >>> 11) * p;
            if (code < bound) {
              range = bound;
              probs[pi] = p + ((BIT_MODEL_TOTAL - p) >>> MOVE_BITS);
              b = 0;
            } else {
              range -= bound;
              code -= bound;
              probs[pi] = p - (p >>> MOVE_BITS);
              b = 1;
            }
            if (b === 0) {
              dist = rep1;
            } else {
              if (range < TOP) {
                range = (range << 8) >>> 0;
                code = ((code << 8) | buf[inPos++]) >>> 0;
              }
              pi = IS_REP_G2 + state;
              p = probs[pi];
              bound = (range >>> 11) * p;
              if (code < bound) {
                range = bound;
                probs[pi] = p + ((BIT_MODEL_TOTAL - p) >>> MOVE_BITS);
                b = 0;
              } else {
                range -= bound;
                code -= bound;
                probs[pi] = p - (p >>> MOVE_BITS);
                b = 1;
              }
              if (b === 0) {
                dist = rep2;
              } else {
                dist = rep3;
                rep3 = rep2;
              }
              rep2 = rep1;
            }
            rep1 = rep0;
            rep0 = dist;
          }
          if (range < TOP) {
            range = (range << 8) >>> 0;
            code = ((code << 8) | buf[inPos++]) >>> 0;
          }
          pi = REP_LEN_CODER + LEN_CHOICE;
          p = probs[pi];
          bound = (range >>> 11) * p;
          if (code < bound) {
            range = bound;
            probs[pi] = p + ((BIT_MODEL_TOTAL - p) >>> MOVE_BITS);
            b = 0;
          } else {
            range -= bound;
            code -= bound;
            probs[pi] = p - (p >>> MOVE_BITS);
            b = 1;
          }
          if (b === 0) {
            m = 1;
            for (let k = 0; k < 3; k++) {
              if (range < TOP) {
                range = (range << 8) >>> 0;
                code = ((code << 8) | buf[inPos++]) >>> 0;
              }
              pi = REP_LEN_CODER + LEN_LOW + (posState << 3) + m;
              p = probs[pi];
              bound = (range >>> 11) * p;
              if (code < bound) {
                range = bound;
                probs[pi] = p + ((BIT_MODEL_TOTAL - p) >>> MOVE_BITS);
                b = 0;
              } else {
                range -= bound;
                code -= bound;
                probs[pi] = p - (p >>> MOVE_BITS);
                b = 1;
              }
              m = (m << 1) | b;
            }
            len = m - 8;
          } else {
            if (range < TOP) {
              range = (range << 8) >>> 0;
              code = ((code << 8) | buf[inPos++]) >>> 0;
            }
            pi = REP_LEN_CODER + LEN_CHOICE2;
            p = probs[pi];
            bound = (range >>> 11) * p;
            if (code < bound) {
              range = bound;
              probs[pi] = p + ((BIT_MODEL_TOTAL - p) >>> MOVE_BITS);
              b = 0;
            } else {
              range -= bound;
              code -= bound;
              probs[pi] = p - (p >>> MOVE_BITS);
              b = 1;
            }
            if (b === 0) {
              m = 1;
              for (let k = 0; k < 3; k++) {
                if (range < TOP) {
                  range = (range << 8) >>> 0;
                  code = ((code << 8) | buf[inPos++]) >>> 0;
                }
                pi = REP_LEN_CODER + LEN_MID + (posState << 3) + m;
                p = probs[pi];
                bound = (range >>> 11) * p;
                if (code < bound) {
                  range = bound;
                  probs[pi] = p + ((BIT_MODEL_TOTAL - p) >>> MOVE_BITS);
                  b = 0;
                } else {
                  range -= bound;
                  code -= bound;
                  probs[pi] = p - (p >>> MOVE_BITS);
                  b = 1;
                }
                m = (m << 1) | b;
              }
              len = m - 8;
              len += 8;
            } else {
              m = 1;
              for (let k = 0; k < 8; k++) {
                if (range < TOP) {
                  range = (range << 8) >>> 0;
                  code = ((code << 8) | buf[inPos++]) >>> 0;
                }
                pi = REP_LEN_CODER + LEN_HIGH + m;
                p = probs[pi];
                bound = (range >>> 11) * p;
                if (code < bound) {
                  range = bound;
                  probs[pi] = p + ((BIT_MODEL_TOTAL - p) >>> MOVE_BITS);
                  b = 0;
                } else {
                  range -= bound;
                  code -= bound;
                  probs[pi] = p - (p >>> MOVE_BITS);
                  b = 1;
                }
                m = (m << 1) | b;
              }
              len = m - 256;
              len += 16;
            }
          }
          state = state < 7 ? 8 : 11;
        }
        if (inPos > end) this.truncated(total);
        if (rep0 >= total || rep0 >= dictSize) this.badDistance(rep0, total);
        len += 2;
        if (limit >= 0 && total + len > limit) fail('DELTA_CORRUPT_COMPRESSED', `corrupt lzma data: a match runs past the declared size ${limit}`);
        // Copy `len` bytes from `rep0 + 1` back.
        let src = pos - rep0 - 1;
        if (src < 0) src += size;
        total += len;
        if (pos + len <= size && src + len <= size) {
          if (rep0 + 1 >= len) win.copyWithin(pos, src, src + len);
          else for (let k = 0; k < len; k++) win[pos + k] = win[src + k];
          pos += len;
        } else {
          for (let k = 0; k < len; k++) {
            if (pos === size) {
              this.pos = pos;
              this.wrap();
              pos = 0;
            }
            win[pos++] = win[src++];
            if (src === size) src = 0;
          }
        }
      }
    } finally {
      this.range = range;
      this.code = code;
      this.inPos = inPos;
      this.state = state;
      this.rep0 = rep0;
      this.rep1 = rep1;
      this.rep2 = rep2;
      this.rep3 = rep3;
      this.pos = pos;
      this.total = total;
    }
  }

  private truncated(total: number): never {
    fail('DELTA_TRUNCATED', `the lzma stream is truncated: it ends after ${total} decoded bytes, inside a symbol`, { produced: total });
  }

  private badDistance(rep0: number, total: number): never {
    fail('DELTA_CORRUPT_COMPRESSED', `corrupt lzma data: a match reaches ${rep0 + 1} bytes back, but only ${Math.min(total, this.dictSize)} are in the window (after ${total} decoded bytes)`, { produced: total, distance: rep0 + 1 });
  }

  private wrap(): void {
    this.flush();
    this.pos = 0;
    this.flushed = 0;
  }
}

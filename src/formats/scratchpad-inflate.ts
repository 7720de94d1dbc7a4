// Raw DEFLATE (RFC 1951) decoder that pulls its input and pushes its output in pieces, holding only
// a 32 KiB window, one input buffer and the Huffman tables: a scratchpad item of any size inflates
// in bounded memory. Written here rather than taken from fflate because fflate's module sets up a
// TextDecoder when loaded (a global the device bundle must not name) and its streaming class grows
// buffers with the input; this one is about 5 KB minified and plain ES2015.
import { OtaflashError } from '../errors';

/** Where compressed bytes come from: fills `into` from the front, returns how many (0 at the end). */
export interface InflateInput {
  fill(into: Uint8Array): number;
}

export interface InflateResult {
  /** Bytes of output produced. */
  readonly outputLength: number;
  /** Bytes of input the deflate stream used (its last byte may be partly padding bits). */
  readonly deflateLength: number;
  /** Bytes of input after the end of the stream, and whether all of them are zero. */
  readonly trailingLength: number;
  readonly trailingAllZero: boolean;
}

export interface InflateOptions {
  /** Refuse (INFLATE_TOO_LARGE) once the output would pass this many bytes. */
  maxOutput?: number;
  /** Input buffer size, bytes (default 4096). */
  inputChunk?: number;
}

const WINDOW = 32768;
const MASK = WINDOW - 1;
const FAST_BITS = 9;
const LEN_BASE = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
const LEN_EXTRA = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const DIST_BASE = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577];
const DIST_EXTRA = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];
const CODE_LENGTH_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

/** A canonical Huffman code: counts per length and symbols in code order (the slow path), plus a 9-bit lookup table (the fast path). */
interface Huffman {
  count: Uint16Array;
  symbol: Uint16Array;
  /** Indexed by the next 9 input bits: (symbol << 4) | length, or 0 when the code is longer. */
  fast: Uint16Array;
}

function bad(message: string, at: number): OtaflashError {
  return new OtaflashError('INFLATE_BAD_DATA', `${message} (deflate input byte ${at})`, { at });
}

/**
 * Builds a code from symbol lengths. Refuses an over-subscribed set, and an incomplete one unless it
 * is empty or a single one-bit code (what zlib accepts: a block may use one distance, or none).
 */
function buildHuffman(lengths: Uint8Array | number[], n: number, what: string, at: number): Huffman {
  const count = new Uint16Array(16);
  for (let s = 0; s < n; s++) count[lengths[s]]++;
  const used = n - count[0];
  let left = 1;
  for (let len = 1; len < 16; len++) {
    left = left * 2 - count[len];
    if (left < 0) throw bad(`over-subscribed ${what} code`, at);
  }
  if (left > 0 && used !== 0 && !(used === 1 && count[1] === 1)) throw bad(`incomplete ${what} code`, at);
  const offs = new Uint16Array(16);
  for (let len = 1; len < 15; len++) offs[len + 1] = offs[len] + count[len];
  const symbol = new Uint16Array(n);
  for (let s = 0; s < n; s++) if (lengths[s] !== 0) symbol[offs[lengths[s]]++] = s;
  // Fast table: walk codes in canonical order, store each short one bit-reversed (deflate sends codes MSB first into an LSB-first stream).
  const fast = new Uint16Array(1 << FAST_BITS);
  let code = 0;
  let k = 0;
  for (let len = 1; len < 16; len++) {
    for (let c = 0; c < count[len]; c++, k++, code++) {
      if (len > FAST_BITS) continue;
      let rev = 0;
      for (let b = 0; b < len; b++) rev |= ((code >>> b) & 1) << (len - 1 - b);
      for (let j = rev; j < 1 << FAST_BITS; j += 1 << len) fast[j] = (symbol[k] << 4) | len;
    }
    code <<= 1;
  }
  return { count, symbol, fast };
}

let fixedLit: Huffman | null = null;
let fixedDist: Huffman | null = null;

function fixedCodes(): void {
  const l = new Uint8Array(288);
  for (let i = 0; i < 288; i++) l[i] = i < 144 ? 8 : i < 256 ? 9 : i < 280 ? 7 : 8;
  fixedLit = buildHuffman(l, 288, 'fixed literal/length', 0);
  // 32 five-bit codes; symbols 30 and 31 are refused where they are decoded.
  const d = new Uint8Array(32);
  d.fill(5);
  fixedDist = buildHuffman(d, 32, 'fixed distance', 0);
}

class Inflater {
  private readonly input: InflateInput;
  private readonly inBuf: Uint8Array;
  private inPos = 0;
  private inEnd = 0;
  private inputDone = false;
  /** Bytes handed out of inBuf so far. */
  private consumed = 0;
  private bitBuf = 0;
  private bitCount = 0;
  private readonly window = new Uint8Array(WINDOW);
  private wpos = 0;
  private flushed = 0;
  private total = 0;
  private readonly maxOutput: number;
  private readonly output: (chunk: Uint8Array) => void;

  constructor(input: InflateInput, output: (chunk: Uint8Array) => void, opts: InflateOptions) {
    this.input = input;
    this.output = output;
    this.inBuf = new Uint8Array(opts.inputChunk || 4096);
    this.maxOutput = opts.maxOutput === undefined ? Infinity : opts.maxOutput;
  }

  private nextByte(): number {
    if (this.inPos === this.inEnd) {
      if (this.inputDone) return -1;
      const n = this.input.fill(this.inBuf);
      if (!(n > 0)) {
        this.inputDone = true;
        return -1;
      }
      this.inPos = 0;
      this.inEnd = Math.min(n, this.inBuf.length);
    }
    this.consumed++;
    return this.inBuf[this.inPos++];
  }

  private need(n: number): void {
    while (this.bitCount < n) {
      const b = this.nextByte();
      if (b < 0) throw new OtaflashError('INFLATE_TRUNCATED', `the deflate stream ends before its final block (after ${this.consumed} input bytes)`, { at: this.consumed });
      this.bitBuf |= b << this.bitCount;
      this.bitCount += 8;
    }
  }

  private bits(n: number): number {
    if (n === 0) return 0;
    this.need(n);
    const v = this.bitBuf & ((1 << n) - 1);
    this.bitBuf >>>= n;
    this.bitCount -= n;
    return v;
  }

  private decode(h: Huffman): number {
    while (this.bitCount < FAST_BITS) {
      const b = this.nextByte();
      if (b < 0) break;
      this.bitBuf |= b << this.bitCount;
      this.bitCount += 8;
    }
    const e = h.fast[this.bitBuf & ((1 << FAST_BITS) - 1)];
    if (e !== 0 && (e & 15) <= this.bitCount) {
      this.bitBuf >>>= e & 15;
      this.bitCount -= e & 15;
      return e >>> 4;
    }
    // Codes longer than the table (or a stream ending): one bit at a time, canonical order.
    let code = 0;
    let first = 0;
    let index = 0;
    for (let len = 1; len < 16; len++) {
      code |= this.bits(1);
      const count = h.count[len];
      if (code - count < first) return h.symbol[index + (code - first)];
      index += count;
      first = (first + count) << 1;
      code <<= 1;
    }
    throw bad('invalid Huffman code', this.consumed);
  }

  private put(b: number): void {
    this.window[this.wpos++] = b;
    if (this.wpos === WINDOW) this.flush();
  }

  private flush(): void {
    if (this.wpos > this.flushed) this.output(this.window.subarray(this.flushed, this.wpos));
    if (this.wpos === WINDOW) this.wpos = 0;
    this.flushed = this.wpos;
  }

  private grow(n: number): void {
    this.total += n;
    if (this.total > this.maxOutput) {
      throw new OtaflashError('INFLATE_TOO_LARGE', `the inflated data is larger than the ${this.maxOutput} bytes allowed`, { limit: this.maxOutput });
    }
  }

  private stored(): void {
    // Skip to a byte boundary; what is left in bitBuf is then whole bytes.
    this.bits(this.bitCount & 7);
    const len = this.bits(16);
    const nlen = this.bits(16);
    if ((len ^ 0xffff) !== nlen) throw bad('stored block length does not match its complement', this.consumed);
    this.grow(len);
    for (let i = 0; i < len; i++) this.put(this.bits(8));
  }

  private codes(lit: Huffman, dist: Huffman): void {
    const window = this.window;
    for (;;) {
      const sym = this.decode(lit);
      if (sym < 256) {
        this.grow(1);
        this.put(sym);
      } else if (sym === 256) {
        return;
      } else {
        const li = sym - 257;
        if (li >= 29) throw bad(`invalid length symbol ${sym}`, this.consumed);
        const len = LEN_BASE[li] + this.bits(LEN_EXTRA[li]);
        const ds = this.decode(dist);
        if (ds >= 30) throw bad(`invalid distance symbol ${ds}`, this.consumed);
        const d = DIST_BASE[ds] + this.bits(DIST_EXTRA[ds]);
        if (d > this.total) throw bad(`distance ${d} reaches before the start of the output (${this.total} bytes so far)`, this.consumed);
        this.grow(len);
        for (let i = 0; i < len; i++) {
          window[this.wpos] = window[(this.wpos - d) & MASK];
          if (++this.wpos === WINDOW) this.flush();
        }
      }
    }
  }

  private dynamic(): void {
    const nlen = this.bits(5) + 257;
    const ndist = this.bits(5) + 1;
    const ncode = this.bits(4) + 4;
    if (nlen > 286 || ndist > 30) throw bad(`dynamic block declares ${nlen} length and ${ndist} distance codes`, this.consumed);
    const cl = new Uint8Array(19);
    for (let i = 0; i < ncode; i++) cl[CODE_LENGTH_ORDER[i]] = this.bits(3);
    const clCode = buildHuffman(cl, 19, 'code length', this.consumed);
    const lengths = new Uint8Array(nlen + ndist);
    let i = 0;
    while (i < nlen + ndist) {
      const sym = this.decode(clCode);
      if (sym < 16) {
        lengths[i++] = sym;
        continue;
      }
      let rep: number;
      let value = 0;
      if (sym === 16) {
        if (i === 0) throw bad('repeat of a previous code length with none before it', this.consumed);
        value = lengths[i - 1];
        rep = 3 + this.bits(2);
      } else if (sym === 17) rep = 3 + this.bits(3);
      else rep = 11 + this.bits(7);
      if (i + rep > nlen + ndist) throw bad('code lengths run past the declared count', this.consumed);
      while (rep-- > 0) lengths[i++] = value;
    }
    if (lengths[256] === 0) throw bad('no end-of-block code', this.consumed);
    const lit = buildHuffman(lengths.subarray(0, nlen), nlen, 'literal/length', this.consumed);
    const dist = buildHuffman(lengths.subarray(nlen), ndist, 'distance', this.consumed);
    this.codes(lit, dist);
  }

  run(): InflateResult {
    let last = 0;
    while (!last) {
      last = this.bits(1);
      const type = this.bits(2);
      if (type === 0) this.stored();
      else if (type === 1) {
        if (!fixedLit) fixedCodes();
        this.codes(fixedLit as Huffman, fixedDist as Huffman);
      } else if (type === 2) this.dynamic();
      else throw bad('block type 3 (reserved)', this.consumed);
    }
    this.flush();
    // The stream ended: the rest of its last byte is filler bits; whole bytes still in the bit
    // buffer and everything the input has left are trailing bytes.
    this.bitBuf >>>= this.bitCount & 7;
    this.bitCount -= this.bitCount & 7;
    const deflateLength = this.consumed - this.bitCount / 8;
    let trailingLength = 0;
    let allZero = true;
    while (this.bitCount > 0) {
      if ((this.bitBuf & 0xff) !== 0) allZero = false;
      this.bitBuf >>>= 8;
      this.bitCount -= 8;
      trailingLength++;
    }
    for (let b = this.nextByte(); b >= 0; b = this.nextByte()) {
      if (b !== 0) allZero = false;
      trailingLength++;
    }
    return { outputLength: this.total, deflateLength, trailingLength, trailingAllZero: allZero };
  }
}

/**
 * Inflates a raw deflate stream from `input`, calling `output` with consecutive pieces of the
 * result (views into the window, valid only during the call: copy or write them out). Stops at the
 * end of the final block and reports what input follows it. Throws INFLATE_BAD_DATA,
 * INFLATE_TRUNCATED or INFLATE_TOO_LARGE.
 */
export function inflateRaw(input: InflateInput, output: (chunk: Uint8Array) => void, opts: InflateOptions = {}): InflateResult {
  return new Inflater(input, output, opts).run();
}

/** An InflateInput over bytes in memory. */
export function bytesInput(bytes: Uint8Array): InflateInput {
  let at = 0;
  return {
    fill(into: Uint8Array): number {
      const n = Math.min(into.length, bytes.length - at);
      into.set(bytes.subarray(at, at + n));
      at += n;
      return n;
    },
  };
}

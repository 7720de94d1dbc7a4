// LZMA encoder, "alone" (.lzma) format as detools writes it: 13-byte header (properties,
// dictionary size, size unknown = all ones), LZMA1 stream, end marker. Host-side only.
//
// Written here rather than taken from npm: the one pure-JS encoder there (LZMA-JS, 2015) fixes the
// dictionary through presets and uses a weak 2-byte match finder, and the native ones cannot write
// the alone format with a chosen dictionary. A price-driven optimal parse (forward shortest path
// over the next positions, as the LZMA SDK's encoder does) matters here: delta streams are long
// zero runs broken by short, repeating differences, where choosing rep matches over fresh
// distances saves more than the dictionary size costs.
import { OtaflashError } from '../errors';
import { ByteSink, RangeEncoder, bitPrice, reverseTreePrice, treePrice } from './encode-range';
import { HashChainMatchFinder } from './encode-lzma-matches';

export interface LzmaEncodeOptions {
  /** Dictionary (window) size the decoder must keep, in bytes; 4 KiB..64 MiB. Default 64 KiB. */
  dictionarySize?: number;
  /** Literal context bits 0..8 (lc + lp <= 4 for liblzma). Default 3. */
  lc?: number;
  /** Literal position bits 0..4. Default 0. */
  lp?: number;
  /** Position bits 0..4. Default 2. */
  pb?: number;
  /** Match length that is taken without further search (2..273). Default 273. */
  niceLength?: number;
  /** Hash-chain candidates tried per position. Default 256. */
  depth?: number;
}

export const LZMA_DEFAULT_DICTIONARY = 64 * 1024;
const MATCH_MAX = 273;
const OPTS = 4096;
const REFRESH_OPS = 64;

// Operation kinds of a parse.
const LIT = 0;
const SHORT_REP = 1;
const REP = 2;
const MATCH = 3;
/** A literal followed by a rep0 match (kept as one step so the parse can see past a single changed byte). */
const LIT_REP0 = 4;

function posSlotOf(dist0: number): number {
  if (dist0 < 4) return dist0;
  const n = 31 - Math.clz32(dist0);
  return (n << 1) | ((dist0 >>> (n - 1)) & 1);
}

function lenState(len: number): number {
  return len < 6 ? len - 2 : 3;
}

function checkInt(name: string, v: number, lo: number, hi: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) {
    throw new OtaflashError('DELTA_BAD_OPTION', `lzma ${name} must be an integer in ${lo}..${hi}, got ${String(v)}`, { [name]: v });
  }
  return v;
}

/** Length coder probabilities: choice, choice2, low[16][8], mid[16][8], high[256]. */
const LEN_LOW = 2;
const LEN_MID = 2 + 128;
const LEN_HIGH = 2 + 256;

class Model {
  readonly isMatch = probs(12 * 16);
  readonly isRep = probs(12);
  readonly isRepG0 = probs(12);
  readonly isRepG1 = probs(12);
  readonly isRepG2 = probs(12);
  readonly isRep0Long = probs(12 * 16);
  readonly posSlot = probs(4 * 64);
  readonly posSpecial = probs(114);
  readonly align = probs(16);
  readonly len = probs(LEN_HIGH + 256);
  readonly repLen = probs(LEN_HIGH + 256);
  readonly literal: Uint16Array;
  constructor(lc: number, lp: number) {
    this.literal = probs(0x300 << (lc + lp));
  }
}

function probs(n: number): Uint16Array {
  return new Uint16Array(n).fill(1024);
}

export function encodeLzmaAlone(data: Uint8Array, options: LzmaEncodeOptions = {}): Uint8Array {
  const enc = new LzmaAloneEncoder(data, options);
  return enc.run();
}

class LzmaAloneEncoder {
  private readonly lc: number;
  private readonly lp: number;
  private readonly pb: number;
  private readonly dictionarySize: number;
  private readonly nice: number;
  private readonly m: Model;
  private readonly out = new ByteSink();
  private readonly rc = new RangeEncoder(this.out);
  private readonly mf: HashChainMatchFinder;
  private state = 0;
  private readonly reps = [1, 1, 1, 1];

  // Price caches, refreshed every REFRESH_OPS operations.
  private readonly lenPrices: Float64Array;
  private readonly repLenPrices: Float64Array;
  private readonly slotPrices = new Float64Array(4 * 64);
  private readonly distPrices = new Float64Array(4 * 128);
  private readonly alignPrices = new Float64Array(16);
  private opsSinceRefresh = REFRESH_OPS;

  // Parse nodes.
  private readonly price = new Float64Array(OPTS + MATCH_MAX + 2);
  private readonly prev = new Int32Array(OPTS + MATCH_MAX + 2);
  private readonly kind = new Uint8Array(OPTS + MATCH_MAX + 2);
  private readonly arg = new Int32Array(OPTS + MATCH_MAX + 2);
  private readonly oplen = new Int32Array(OPTS + MATCH_MAX + 2);
  private readonly nstate = new Uint8Array(OPTS + MATCH_MAX + 2);
  private readonly nreps = new Int32Array(4 * (OPTS + MATCH_MAX + 2));
  private readonly pathNodes = new Int32Array(OPTS + MATCH_MAX + 2);
  /** Furthest node any choice so far reaches. */
  private lenEnd = 0;

  constructor(private readonly data: Uint8Array, o: LzmaEncodeOptions) {
    this.dictionarySize = checkInt('dictionarySize', o.dictionarySize ?? LZMA_DEFAULT_DICTIONARY, 4096, 64 * 1024 * 1024);
    this.lc = checkInt('lc', o.lc ?? 3, 0, 8);
    this.lp = checkInt('lp', o.lp ?? 0, 0, 4);
    this.pb = checkInt('pb', o.pb ?? 2, 0, 4);
    if (this.lc + this.lp > 4) {
      throw new OtaflashError('DELTA_BAD_OPTION', `lzma lc + lp must be at most 4 (liblzma refuses more), got ${this.lc} + ${this.lp}`);
    }
    this.nice = checkInt('niceLength', o.niceLength ?? MATCH_MAX, 8, MATCH_MAX);
    const depth = checkInt('depth', o.depth ?? 256, 1, 1 << 16);
    this.m = new Model(this.lc, this.lp);
    this.mf = new HashChainMatchFinder(data, this.dictionarySize, this.nice, depth);
    this.lenPrices = new Float64Array((1 << this.pb) * (MATCH_MAX + 1));
    this.repLenPrices = new Float64Array((1 << this.pb) * (MATCH_MAX + 1));
  }

  run(): Uint8Array {
    this.writeHeader();
    const n = this.data.length;
    let pos = 0;
    while (pos < n) {
      if (this.opsSinceRefresh >= REFRESH_OPS) this.refreshPrices();
      pos = this.parseAndEncode(pos);
    }
    this.encodeEndMarker(n);
    this.rc.flush();
    return this.out.bytes();
  }

  private writeHeader(): void {
    this.out.push((this.pb * 5 + this.lp) * 9 + this.lc);
    const d = this.dictionarySize;
    this.out.push(d & 0xff);
    this.out.push((d >>> 8) & 0xff);
    this.out.push((d >>> 16) & 0xff);
    this.out.push((d >>> 24) & 0xff);
    for (let i = 0; i < 8; i++) this.out.push(0xff);
  }

  // --- coding ---------------------------------------------------------------------------------

  private literalBase(p: number): number {
    const prevByte = p > 0 ? this.data[p - 1] : 0;
    return 0x300 * (((p & ((1 << this.lp) - 1)) << this.lc) + (prevByte >>> (8 - this.lc)));
  }

  private encodeLiteral(p: number): void {
    const m = this.m;
    const ps = p & ((1 << this.pb) - 1);
    this.rc.encodeBit(m.isMatch, (this.state << 4) + ps, 0);
    const base = this.literalBase(p);
    let sym = this.data[p] | 0x100;
    if (this.state < 7) {
      do {
        this.rc.encodeBit(m.literal, base + (sym >>> 8), (sym >>> 7) & 1);
        sym <<= 1;
      } while (sym < 0x10000);
    } else {
      let matchByte = this.data[p - this.reps[0]];
      let offs = 0x100;
      do {
        matchByte <<= 1;
        this.rc.encodeBit(m.literal, base + offs + (matchByte & offs) + (sym >>> 8), (sym >>> 7) & 1);
        sym <<= 1;
        offs &= ~(matchByte ^ sym);
      } while (sym < 0x10000);
    }
    this.state = this.state < 4 ? 0 : this.state < 10 ? this.state - 3 : this.state - 6;
  }

  private encodeLength(probs: Uint16Array, len: number, ps: number): void {
    const l = len - 2;
    if (l < 8) {
      this.rc.encodeBit(probs, 0, 0);
      this.rc.encodeTree(probs, LEN_LOW + ps * 8, 3, l);
    } else if (l < 16) {
      this.rc.encodeBit(probs, 0, 1);
      this.rc.encodeBit(probs, 1, 0);
      this.rc.encodeTree(probs, LEN_MID + ps * 8, 3, l - 8);
    } else {
      this.rc.encodeBit(probs, 0, 1);
      this.rc.encodeBit(probs, 1, 1);
      this.rc.encodeTree(probs, LEN_HIGH, 8, l - 16);
    }
  }

  private encodeMatch(p: number, dist: number, len: number): void {
    const m = this.m;
    const ps = p & ((1 << this.pb) - 1);
    this.rc.encodeBit(m.isMatch, (this.state << 4) + ps, 1);
    this.rc.encodeBit(m.isRep, this.state, 0);
    this.encodeLength(m.len, len, ps);
    const d0 = dist - 1;
    const slot = posSlotOf(d0);
    this.rc.encodeTree(m.posSlot, lenState(len) * 64, 6, slot);
    if (slot >= 4) {
      const footer = (slot >>> 1) - 1;
      const base = ((2 | (slot & 1)) << footer) >>> 0;
      const reduced = d0 - base;
      if (slot < 14) {
        this.rc.encodeReverseTree(m.posSpecial, base - slot - 1, footer, reduced);
      } else {
        this.rc.encodeDirect(reduced >>> 4, footer - 4);
        this.rc.encodeReverseTree(m.align, 0, 4, reduced & 15);
      }
    }
    this.reps[3] = this.reps[2];
    this.reps[2] = this.reps[1];
    this.reps[1] = this.reps[0];
    this.reps[0] = dist;
    this.state = this.state < 7 ? 7 : 10;
    this.opsSinceRefresh++;
  }

  private encodeRep(p: number, idx: number, len: number): void {
    const m = this.m;
    const ps = p & ((1 << this.pb) - 1);
    const st = this.state;
    this.rc.encodeBit(m.isMatch, (st << 4) + ps, 1);
    this.rc.encodeBit(m.isRep, st, 1);
    if (idx === 0) {
      this.rc.encodeBit(m.isRepG0, st, 0);
      this.rc.encodeBit(m.isRep0Long, (st << 4) + ps, len === 1 ? 0 : 1);
    } else {
      this.rc.encodeBit(m.isRepG0, st, 1);
      if (idx === 1) {
        this.rc.encodeBit(m.isRepG1, st, 0);
      } else {
        this.rc.encodeBit(m.isRepG1, st, 1);
        this.rc.encodeBit(m.isRepG2, st, idx - 2);
      }
      const dist = this.reps[idx];
      for (let i = idx; i > 0; i--) this.reps[i] = this.reps[i - 1];
      this.reps[0] = dist;
    }
    if (len === 1) {
      this.state = st < 7 ? 9 : 11;
    } else {
      this.encodeLength(m.repLen, len, ps);
      this.state = st < 7 ? 8 : 11;
    }
    this.opsSinceRefresh++;
  }

  /** A match at distance 2^32 with length 2 marks the end, as Python's FORMAT_ALONE writes it. */
  private encodeEndMarker(p: number): void {
    const m = this.m;
    const ps = p & ((1 << this.pb) - 1);
    this.rc.encodeBit(m.isMatch, (this.state << 4) + ps, 1);
    this.rc.encodeBit(m.isRep, this.state, 0);
    this.encodeLength(m.len, 2, ps);
    this.rc.encodeTree(m.posSlot, 0, 6, 63);
    this.rc.encodeDirect((1 << 26) - 1, 26);
    this.rc.encodeReverseTree(m.align, 0, 4, 15);
  }

  // --- prices ---------------------------------------------------------------------------------

  private refreshPrices(): void {
    const m = this.m;
    const nPos = 1 << this.pb;
    for (let ps = 0; ps < nPos; ps++) {
      for (let len = 2; len <= MATCH_MAX; len++) {
        this.lenPrices[ps * (MATCH_MAX + 1) + len] = lengthPrice(m.len, len, ps);
        this.repLenPrices[ps * (MATCH_MAX + 1) + len] = lengthPrice(m.repLen, len, ps);
      }
    }
    for (let ls = 0; ls < 4; ls++) {
      for (let slot = 0; slot < 64; slot++) {
        let price = treePrice(m.posSlot, ls * 64, 6, slot);
        if (slot >= 14) price += (slot >>> 1) - 1 - 4;
        this.slotPrices[ls * 64 + slot] = price;
      }
      for (let d0 = 0; d0 < 128; d0++) {
        const slot = posSlotOf(d0);
        let price = this.slotPrices[ls * 64 + slot];
        if (slot >= 4) {
          const footer = (slot >>> 1) - 1;
          const base = (2 | (slot & 1)) << footer;
          price += reverseTreePrice(m.posSpecial, base - slot - 1, footer, d0 - base);
        }
        this.distPrices[ls * 128 + d0] = price;
      }
    }
    for (let i = 0; i < 16; i++) this.alignPrices[i] = reverseTreePrice(m.align, 0, 4, i);
    this.opsSinceRefresh = 0;
  }

  private distPrice(dist: number, len: number): number {
    const d0 = dist - 1;
    const ls = lenState(len);
    if (d0 < 128) return this.distPrices[ls * 128 + d0];
    return this.slotPrices[ls * 64 + posSlotOf(d0)] + this.alignPrices[d0 & 15];
  }

  private literalPrice(p: number, state: number, rep0: number): number {
    const probsLit = this.m.literal;
    const base = this.literalBase(p);
    let sym = this.data[p] | 0x100;
    let price = 0;
    if (state < 7) {
      do {
        price += bitPrice(probsLit[base + (sym >>> 8)], (sym >>> 7) & 1);
        sym <<= 1;
      } while (sym < 0x10000);
    } else {
      let matchByte = this.data[p - rep0];
      let offs = 0x100;
      do {
        matchByte <<= 1;
        price += bitPrice(probsLit[base + offs + (matchByte & offs) + (sym >>> 8)], (sym >>> 7) & 1);
        sym <<= 1;
        offs &= ~(matchByte ^ sym);
      } while (sym < 0x10000);
    }
    return price;
  }

  private repIndexPrice(idx: number, st: number, ps: number): number {
    const m = this.m;
    if (idx === 0) return bitPrice(m.isRepG0[st], 0) + bitPrice(m.isRep0Long[(st << 4) + ps], 1);
    let price = bitPrice(m.isRepG0[st], 1);
    if (idx === 1) return price + bitPrice(m.isRepG1[st], 0);
    price += bitPrice(m.isRepG1[st], 1);
    return price + bitPrice(m.isRepG2[st], idx - 2);
  }

  // --- parse ----------------------------------------------------------------------------------

  private relax(to: number, price: number, from: number, kind: number, arg: number, len: number): void {
    if (price < this.price[to]) {
      this.price[to] = price;
      this.prev[to] = from;
      this.kind[to] = kind;
      this.arg[to] = arg;
      this.oplen[to] = len;
      if (to > this.lenEnd) this.lenEnd = to;
    }
  }

  /** State and repeat distances after the operation that reaches node i. */
  private settleNode(i: number): void {
    const from = this.prev[i];
    const st = this.nstate[from];
    const r = this.nreps;
    const f4 = from * 4;
    const i4 = i * 4;
    const k = this.kind[i];
    if (k === LIT_REP0) {
      this.nstate[i] = 8;
      r[i4] = r[f4]; r[i4 + 1] = r[f4 + 1]; r[i4 + 2] = r[f4 + 2]; r[i4 + 3] = r[f4 + 3];
    } else if (k === LIT) {
      this.nstate[i] = st < 4 ? 0 : st < 10 ? st - 3 : st - 6;
      r[i4] = r[f4]; r[i4 + 1] = r[f4 + 1]; r[i4 + 2] = r[f4 + 2]; r[i4 + 3] = r[f4 + 3];
    } else if (k === SHORT_REP) {
      this.nstate[i] = st < 7 ? 9 : 11;
      r[i4] = r[f4]; r[i4 + 1] = r[f4 + 1]; r[i4 + 2] = r[f4 + 2]; r[i4 + 3] = r[f4 + 3];
    } else if (k === REP) {
      this.nstate[i] = st < 7 ? 8 : 11;
      const idx = this.arg[i];
      r[i4] = r[f4 + idx];
      let j = 1;
      for (let s = 0; s < 4; s++) if (s !== idx) r[i4 + j++] = r[f4 + s];
    } else {
      this.nstate[i] = st < 7 ? 7 : 10;
      r[i4] = this.arg[i]; r[i4 + 1] = r[f4]; r[i4 + 2] = r[f4 + 1]; r[i4 + 3] = r[f4 + 2];
    }
  }

  /** Finds the cheapest coding of the next stretch from pos (until no choice reaches further), codes it, returns the new position. */
  private parseAndEncode(pos: number): number {
    const d = this.data;
    const n = d.length;
    const mf = this.mf;
    const m = this.m;
    const pbMask = (1 << this.pb) - 1;
    this.nstate[0] = this.state;
    for (let i = 0; i < 4; i++) this.nreps[i] = this.reps[i];
    this.price[0] = 0;
    let reach = 0;
    this.lenEnd = 0;
    let cur = 0;
    let end = -1;
    let skipFrom = 0;
    const repLens = [0, 0, 0, 0];
    for (;;) {
      const p = pos + cur;
      const maxLen = Math.min(MATCH_MAX, n - p);
      if (maxLen === 0) { end = cur; skipFrom = p; break; }
      const count = mf.find(maxLen);
      const st = this.nstate[cur];
      const r4 = cur * 4;
      let bestRep = 0;
      for (let i = 0; i < 4; i++) {
        const dist = this.nreps[r4 + i];
        let len = 0;
        if (dist <= p) {
          const q = p - dist;
          while (len < maxLen && d[q + len] === d[p + len]) len++;
        }
        repLens[i] = len;
        if (len > repLens[bestRep]) bestRep = i;
      }
      const longest = count > 0 ? mf.lens[count - 1] : 0;
      if (repLens[bestRep] >= this.nice || longest >= this.nice) {
        // Long match: take it without weighing alternatives (they cannot be much cheaper).
        const t = repLens[bestRep] >= this.nice && repLens[bestRep] + 1 >= longest
          ? { kind: REP, arg: bestRep, len: repLens[bestRep] }
          : { kind: MATCH, arg: mf.dists[count - 1], len: longest };
        end = cur + t.len;
        this.prev[end] = cur;
        this.kind[end] = t.kind;
        this.arg[end] = t.arg;
        this.oplen[end] = t.len;
        skipFrom = p + 1;
        break;
      }
      const top = cur + Math.max(maxLen, 1) + 1;
      while (reach < top) this.price[++reach] = Infinity;
      const ps = p & pbMask;
      const base = this.price[cur];
      const rep0 = this.nreps[r4];
      const isMatchIdx = (st << 4) + ps;
      const litPrice = base + bitPrice(m.isMatch[isMatchIdx], 0) + this.literalPrice(p, st, rep0);
      this.relax(cur + 1, litPrice, cur, LIT, 0, 1);
      if (rep0 <= p + 1 && maxLen > 2 && (rep0 > p || d[p - rep0] !== d[p])) {
        // One changed byte, then the old distance again: common where a pointer changed.
        const q = p + 1 - rep0;
        const limit = maxLen - 1;
        let len = 0;
        while (len < limit && d[q + len] === d[p + 1 + len]) len++;
        if (len >= 2) {
          const st2 = st < 4 ? 0 : st < 10 ? st - 3 : st - 6;
          const ps2 = (p + 1) & pbMask;
          const price = litPrice + bitPrice(m.isMatch[(st2 << 4) + ps2], 1) + bitPrice(m.isRep[st2], 1) +
            this.repIndexPrice(0, st2, ps2) + this.repLenPrices[ps2 * (MATCH_MAX + 1) + len];
          this.relax(cur + 1 + len, price, cur, LIT_REP0, 0, 1 + len);
        }
      }
      const matchBase = base + bitPrice(m.isMatch[isMatchIdx], 1);
      const repBase = matchBase + bitPrice(m.isRep[st], 1);
      if (rep0 <= p && d[p - rep0] === d[p]) {
        this.relax(cur + 1, repBase + bitPrice(m.isRepG0[st], 0) + bitPrice(m.isRep0Long[isMatchIdx], 0), cur, SHORT_REP, 0, 1);
      }
      const lpBase = ps * (MATCH_MAX + 1);
      for (let i = 0; i < 4; i++) {
        const len = repLens[i];
        if (len < 2) continue;
        const pre = repBase + this.repIndexPrice(i, st, ps);
        for (let l = 2; l <= len; l++) this.relax(cur + l, pre + this.repLenPrices[lpBase + l], cur, REP, i, l);
      }
      if (count > 0) {
        const normBase = matchBase + bitPrice(m.isRep[st], 0);
        let l = 2;
        for (let k = 0; k < count; k++) {
          const dist = mf.dists[k];
          const kl = mf.lens[k];
          for (; l <= kl; l++) this.relax(cur + l, normBase + this.lenPrices[lpBase + l] + this.distPrice(dist, l), cur, MATCH, dist, l);
        }
      }
      cur++;
      if (cur >= this.lenEnd || cur >= OPTS) { end = cur; skipFrom = pos + cur; break; }
      this.settleNode(cur);
    }
    // Walk back from the end, then code forwards.
    let count = 0;
    for (let i = end; i > 0; i = this.prev[i]) this.pathNodes[count++] = i;
    let p = pos;
    for (let j = count - 1; j >= 0; j--) {
      const i = this.pathNodes[j];
      const k = this.kind[i];
      const len = this.oplen[i];
      if (k === LIT_REP0) {
        this.encodeLiteral(p);
        this.encodeRep(p + 1, 0, len - 1);
      } else if (k === LIT) this.encodeLiteral(p);
      else if (k === SHORT_REP) this.encodeRep(p, 0, 1);
      else if (k === REP) this.encodeRep(p, this.arg[i], len);
      else this.encodeMatch(p, this.arg[i], len);
      p += len;
    }
    for (let q = skipFrom; q < pos + end; q++) mf.skip();
    return pos + end;
  }
}

function lengthPrice(probs: Uint16Array, len: number, ps: number): number {
  const l = len - 2;
  if (l < 8) return bitPrice(probs[0], 0) + treePrice(probs, LEN_LOW + ps * 8, 3, l);
  if (l < 16) return bitPrice(probs[0], 1) + bitPrice(probs[1], 0) + treePrice(probs, LEN_MID + ps * 8, 3, l - 8);
  return bitPrice(probs[0], 1) + bitPrice(probs[1], 1) + treePrice(probs, LEN_HIGH, 8, l - 16);
}

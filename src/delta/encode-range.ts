// The LZMA range encoder and bit prices. Host-side (patch generator) only.

/** A growable byte output. */
export class ByteSink {
  private buf = new Uint8Array(1 << 16);
  length = 0;

  push(b: number): void {
    if (this.length === this.buf.length) {
      const grown = new Uint8Array(this.buf.length * 2);
      grown.set(this.buf);
      this.buf = grown;
    }
    this.buf[this.length++] = b;
  }

  pushAll(bytes: Uint8Array): void {
    let size = this.buf.length;
    while (size < this.length + bytes.length) size *= 2;
    if (size !== this.buf.length) {
      const grown = new Uint8Array(size);
      grown.set(this.buf.subarray(0, this.length));
      this.buf = grown;
    }
    this.buf.set(bytes, this.length);
    this.length += bytes.length;
  }

  bytes(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

const TOP = 1 << 24;
const TWO_32 = 4294967296;

/**
 * LZMA's carry-propagating range encoder. `low` is kept as a double (it never exceeds 2^33),
 * so no BigInt is needed.
 */
export class RangeEncoder {
  private low = 0;
  private range = 0xffffffff;
  private cache = 0;
  private cacheSize = 1;

  constructor(readonly out: ByteSink) {}

  encodeBit(probs: Uint16Array, i: number, bit: number): void {
    const p = probs[i];
    const bound = (this.range >>> 11) * p;
    if (bit === 0) {
      this.range = bound;
      probs[i] = p + ((2048 - p) >>> 5);
    } else {
      this.low += bound;
      this.range -= bound;
      probs[i] = p - (p >>> 5);
    }
    while (this.range < TOP) {
      this.range = (this.range * 256) >>> 0;
      this.shiftLow();
    }
  }

  encodeDirect(value: number, bits: number): void {
    for (let i = bits - 1; i >= 0; i--) {
      this.range >>>= 1;
      if ((value >>> i) & 1) this.low += this.range;
      while (this.range < TOP) {
        this.range = (this.range * 256) >>> 0;
        this.shiftLow();
      }
    }
  }

  /** Bits MSB first through a binary tree of probabilities rooted at base + 1. */
  encodeTree(probs: Uint16Array, base: number, bits: number, symbol: number): void {
    let m = 1;
    for (let i = bits - 1; i >= 0; i--) {
      const bit = (symbol >>> i) & 1;
      this.encodeBit(probs, base + m, bit);
      m = (m << 1) | bit;
    }
  }

  /** Bits LSB first through a binary tree (distance footers and align bits). */
  encodeReverseTree(probs: Uint16Array, base: number, bits: number, symbol: number): void {
    let m = 1;
    for (let i = 0; i < bits; i++) {
      const bit = symbol & 1;
      symbol >>>= 1;
      this.encodeBit(probs, base + m, bit);
      m = (m << 1) | bit;
    }
  }

  flush(): void {
    for (let i = 0; i < 5; i++) this.shiftLow();
  }

  private shiftLow(): void {
    const carry = this.low >= TWO_32 ? 1 : 0;
    const lo32 = carry ? this.low - TWO_32 : this.low;
    if (lo32 < 0xff000000 || carry) {
      let temp = this.cache;
      do {
        this.out.push((temp + carry) & 0xff);
        temp = 0xff;
      } while (--this.cacheSize !== 0);
      this.cache = lo32 >>> 24;
    }
    this.cacheSize++;
    this.low = (lo32 & 0x00ffffff) * 256;
  }
}

/** Price in bits of coding a 0 with probability p (of 2048); a 1 costs bitPrice0(2048 - p). */
const PRICES = (() => {
  const t = new Float64Array(2049);
  for (let p = 1; p <= 2048; p++) t[p] = -Math.log2(p / 2048);
  t[0] = t[1];
  return t;
})();

export function bitPrice(p: number, bit: number): number {
  return PRICES[bit === 0 ? p : 2048 - p];
}

export function treePrice(probs: Uint16Array, base: number, bits: number, symbol: number): number {
  let price = 0;
  let m = 1;
  for (let i = bits - 1; i >= 0; i--) {
    const bit = (symbol >>> i) & 1;
    price += PRICES[bit === 0 ? probs[base + m] : 2048 - probs[base + m]];
    m = (m << 1) | bit;
  }
  return price;
}

export function reverseTreePrice(probs: Uint16Array, base: number, bits: number, symbol: number): number {
  let price = 0;
  let m = 1;
  for (let i = 0; i < bits; i++) {
    const bit = symbol & 1;
    symbol >>>= 1;
    price += PRICES[bit === 0 ? probs[base + m] : 2048 - probs[base + m]];
    m = (m << 1) | bit;
  }
  return price;
}

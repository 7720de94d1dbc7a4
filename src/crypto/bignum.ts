// Fixed-size unsigned big numbers in 24-bit limbs held in plain numbers (no BigInt: small engines lack
// it). 24 bits keep a limb product (< 2^48) plus two limbs and a carry below 2^53, so every step is
// exact in a double. Limbs are little-endian: limb 0 holds the lowest 24 bits.

const BITS = 24;
const BASE = 16777216; // 2^24
/** 2^-24: multiplying by it is exact, and cheaper than % or / in interpreters. */
const INV = 1 / BASE;

export type Limbs = Float64Array;

/** Big-endian bytes to `count` limbs (the number must fit). */
export function limbsFromBytes(be: Uint8Array, count: number): Limbs {
  const out = new Float64Array(count);
  let limb = 0;
  let shift = 0;
  let acc = 0;
  for (let i = be.length - 1; i >= 0; i--) {
    acc += be[i] * Math.pow(2, shift);
    shift += 8;
    if (shift === BITS) {
      if (limb < count) out[limb] = acc;
      else if (acc !== 0) throw new RangeError('number does not fit');
      limb++;
      acc = 0;
      shift = 0;
    }
  }
  if (shift > 0) {
    if (limb < count) out[limb] = acc;
    else if (acc !== 0) throw new RangeError('number does not fit');
  }
  return out;
}

/** Limbs to `length` big-endian bytes (high bytes beyond `length` must be zero). */
export function limbsToBytes(a: Limbs, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let pos = length - 1;
  for (let i = 0; i < a.length; i++) {
    let v = a[i];
    for (let k = 0; k < 3; k++) {
      if (pos >= 0) out[pos--] = v & 0xff;
      v = Math.floor(v / 256);
    }
  }
  return out;
}

/** -1 a < b, 0 equal, 1 a > b (same length). */
export function compareLimbs(a: Limbs, b: Limbs): number {
  for (let i = a.length - 1; i >= 0; i--) if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
  return 0;
}

/** a -= b in place (a >= b). */
function subInPlace(a: Limbs, b: Limbs): void {
  let borrow = 0;
  for (let i = 0; i < a.length; i++) {
    let v = a[i] - b[i] - borrow;
    if (v < 0) {
      v += BASE;
      borrow = 1;
    } else borrow = 0;
    a[i] = v;
  }
}

/** -m^-1 mod 2^24 for an odd limb m (Newton: each step doubles the correct low bits). */
function negInverse24(m: number): number {
  let x = 1;
  // x = x * (2 - m * x) mod 2^24; products of two 24-bit values are exact below 2^48.
  for (let i = 0; i < 5; i++) {
    const mx = mulLow24(m, x);
    x = mulLow24(x, (2 - mx + BASE) % BASE);
  }
  return (BASE - x) % BASE;
}

function mulLow24(a: number, b: number): number {
  // Split b so each partial product stays far below 2^53 before the modulo.
  const bl = b & 0xfff;
  const bh = b >>> 12;
  return ((a * bl) % BASE + ((a * bh) % 4096) * 4096) % BASE;
}

/**
 * Montgomery arithmetic modulo an odd n: mul(a, b) = a * b / R mod n with R = 2^(24 * limbs).
 * Scratch buffers are kept, so a verification allocates only its inputs and result.
 */
export class Montgomery {
  readonly n: Limbs;
  readonly size: number;
  private readonly n0: number;
  private readonly t: Float64Array;
  /** R^2 mod n, to bring numbers into Montgomery form. */
  readonly r2: Limbs;

  constructor(modulusBe: Uint8Array, limbCount: number) {
    this.size = limbCount;
    this.n = limbsFromBytes(modulusBe, limbCount);
    if ((this.n[0] & 1) === 0) throw new RangeError('modulus must be odd');
    this.n0 = negInverse24(this.n[0]);
    this.t = new Float64Array(limbCount + 2);
    this.r2 = this.computeR2();
  }

  /**
   * R^2 mod n. R^2 = 2^T * R with T = 24 * limbs = a * 2^k (a odd): R mod n doubled a times is
   * 2^a * R (in Montgomery form), and k Montgomery squarings make it 2^(a * 2^k) * R = R^2.
   * For RSA-3072 that is 3 doublings and 10 multiplications instead of 6144 doublings.
   */
  private computeR2(): Limbs {
    const s = this.size;
    const x = new Float64Array(s);
    // R mod n: start from the top bit of n (below n) and double up to 2^(24 * limbs).
    let top = s - 1;
    while (top > 0 && this.n[top] === 0) top--;
    let bit = 0;
    while (Math.pow(2, bit + 1) <= this.n[top]) bit++;
    x[top] = Math.pow(2, bit);
    const T = BITS * s;
    let doublings = T - (top * BITS + bit);
    let a = T;
    let k = 0;
    while (a % 2 === 0) {
      a /= 2;
      k++;
    }
    doublings += a;
    for (let d = 0; d < doublings; d++) this.double(x);
    for (let i = 0; i < k; i++) this.mul(x, x, x);
    return x;
  }

  /** x = 2x mod n for x < n. */
  private double(x: Limbs): void {
    const s = this.size;
    let carry = 0;
    for (let i = 0; i < s; i++) {
      const v = x[i] * 2 + carry;
      if (v >= BASE) {
        x[i] = v - BASE;
        carry = 1;
      } else {
        x[i] = v;
        carry = 0;
      }
    }
    if (carry || compareLimbs(x, this.n) >= 0) subInPlace(x, this.n);
  }

  /** out = a * b / R mod n (CIOS). `out` may alias a or b. */
  mul(a: Limbs, b: Limbs, out: Limbs): void {
    const s = this.size;
    const n = this.n;
    const t = this.t;
    const n0 = this.n0;
    for (let i = 0; i < s + 2; i++) t[i] = 0;
    for (let i = 0; i < s; i++) {
      const ai = a[i];
      let carry = 0;
      let v = 0;
      for (let j = 0; j < s; j++) {
        v = t[j] + ai * b[j] + carry;
        carry = Math.floor(v * INV);
        t[j] = v - carry * BASE;
      }
      v = t[s] + carry;
      carry = Math.floor(v * INV);
      t[s] = v - carry * BASE;
      t[s + 1] += carry;
      const m = mulLow24(t[0], n0);
      v = t[0] + m * n[0];
      carry = Math.floor(v * INV);
      for (let j = 1; j < s; j++) {
        v = t[j] + m * n[j] + carry;
        carry = Math.floor(v * INV);
        t[j - 1] = v - carry * BASE;
      }
      v = t[s] + carry;
      carry = Math.floor(v * INV);
      t[s - 1] = v - carry * BASE;
      t[s] = t[s + 1] + carry;
      t[s + 1] = 0;
    }
    // t < 2n: one conditional subtraction.
    let ge = t[s] !== 0;
    if (!ge) {
      ge = true;
      for (let i = s - 1; i >= 0; i--) {
        if (t[i] !== n[i]) {
          ge = t[i] > n[i];
          break;
        }
      }
    }
    let borrow = 0;
    for (let i = 0; i < s; i++) {
      if (ge) {
        let v = t[i] - n[i] - borrow;
        if (v < 0) {
          v += BASE;
          borrow = 1;
        } else borrow = 0;
        out[i] = v;
      } else out[i] = t[i];
    }
  }

  /** base^e mod n for a plain (not Montgomery) base < n and a 32-bit exponent e >= 1. */
  powSmall(base: Limbs, e: number): Limbs {
    const s = this.size;
    const bm = new Float64Array(s);
    this.mul(base, this.r2, bm); // base * R mod n
    const acc = new Float64Array(s);
    acc.set(bm);
    let top = 31;
    while (top > 0 && Math.floor(e / Math.pow(2, top)) % 2 === 0) top--;
    for (let bit = top - 1; bit >= 0; bit--) {
      this.mul(acc, acc, acc);
      if (Math.floor(e / Math.pow(2, bit)) % 2 === 1) this.mul(acc, bm, acc);
    }
    const one = new Float64Array(s);
    one[0] = 1;
    const out = new Float64Array(s);
    this.mul(acc, one, out); // leave Montgomery form
    return out;
  }
}

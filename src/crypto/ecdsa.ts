// ECDSA verification over NIST P-192, P-256 and P-384 without BigInt: field and scalar arithmetic
// through the Montgomery class of bignum.ts (24-bit limbs), points in Jacobian coordinates (a = -3),
// u1*G + u2*Q in one pass (Shamir's trick), and the final x check done as r * Z^2 == X, so no field
// inversion is needed; the one inversion mod n uses Fermat's little theorem.
import { Montgomery, compareLimbs, limbsFromBytes, limbsToBytes, type Limbs } from './bignum';

export type EcCurveName = 'P-192' | 'P-256' | 'P-384';

interface CurveHex {
  p: string;
  n: string;
  b: string;
  gx: string;
  gy: string;
}

const CURVES: Record<EcCurveName, CurveHex> = {
  'P-192': {
    p: 'fffffffffffffffffffffffffffffffeffffffffffffffff',
    n: 'ffffffffffffffffffffffff99def836146bc9b1b4d22831',
    b: '64210519e59c80e70fa7e9ab72243049feb8deecc146b9b1',
    gx: '188da80eb03090f67cbf20eb43a18800f4ff0afd82ff1012',
    gy: '07192b95ffc8da78631011ed6b24cdd573f977a11e794811',
  },
  'P-256': {
    p: 'ffffffff00000001000000000000000000000000ffffffffffffffffffffffff',
    n: 'ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551',
    b: '5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b',
    gx: '6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296',
    gy: '4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5',
  },
  'P-384': {
    p: 'fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffff',
    n: 'ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973',
    b: 'b3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875ac656398d8a2ed19d2a85c8edd3ec2aef',
    gx: 'aa87ca22be8b05378eb1c71ef320ad746e1d3b628ba79b9859f741e082542a385502f25dbf55296c3a545e3872760ab7',
    gy: '3617de4a96262c6f5d9e98bf9292dc29f8f41dbd289a147ce9da3113b5f0b8c00a60b1ce1d7e819d7a431d7c90ea0e5f',
  },
};

const BASE = 16777216;

function hexBytes(h: string): Uint8Array {
  const out = new Uint8Array(h.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(h.substr(i * 2, 2), 16);
  return out;
}

function isZero(a: Limbs): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== 0) return false;
  return true;
}

/** Field (or scalar) ring mod m with Montgomery multiplication and plain add/sub. */
class Ring {
  readonly mont: Montgomery;
  readonly m: Limbs;
  readonly size: number;
  readonly one: Limbs; // R mod m (1 in Montgomery form)

  constructor(modBe: Uint8Array) {
    this.size = Math.ceil((modBe.length * 8) / 24);
    this.mont = new Montgomery(modBe, this.size);
    this.m = this.mont.n;
    const plainOne = new Float64Array(this.size);
    plainOne[0] = 1;
    this.one = this.toMont(plainOne);
  }

  fresh(): Limbs {
    return new Float64Array(this.size);
  }

  toMont(a: Limbs): Limbs {
    const out = this.fresh();
    this.mont.mul(a, this.mont.r2, out);
    return out;
  }

  fromMont(a: Limbs): Limbs {
    const one = this.fresh();
    one[0] = 1;
    const out = this.fresh();
    this.mont.mul(a, one, out);
    return out;
  }

  mul(a: Limbs, b: Limbs): Limbs {
    const out = this.fresh();
    this.mont.mul(a, b, out);
    return out;
  }

  add(a: Limbs, b: Limbs): Limbs {
    const s = this.size;
    const out = this.fresh();
    let carry = 0;
    for (let i = 0; i < s; i++) {
      const v = a[i] + b[i] + carry;
      if (v >= BASE) {
        out[i] = v - BASE;
        carry = 1;
      } else {
        out[i] = v;
        carry = 0;
      }
    }
    if (carry || compareLimbs(out, this.m) >= 0) this.subInPlace(out, this.m);
    return out;
  }

  sub(a: Limbs, b: Limbs): Limbs {
    const s = this.size;
    const out = this.fresh();
    let borrow = 0;
    for (let i = 0; i < s; i++) {
      let v = a[i] - b[i] - borrow;
      if (v < 0) {
        v += BASE;
        borrow = 1;
      } else borrow = 0;
      out[i] = v;
    }
    if (borrow) {
      // a - b + m: add m back, dropping the final carry.
      let carry = 0;
      for (let i = 0; i < s; i++) {
        const v = out[i] + this.m[i] + carry;
        if (v >= BASE) {
          out[i] = v - BASE;
          carry = 1;
        } else {
          out[i] = v;
          carry = 0;
        }
      }
    }
    return out;
  }

  private subInPlace(a: Limbs, b: Limbs): void {
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

  /** a^e (Montgomery form in and out) for a big-endian exponent. */
  pow(a: Limbs, expBe: Uint8Array): Limbs {
    let acc = this.one;
    for (let i = 0; i < expBe.length; i++) {
      for (let bit = 7; bit >= 0; bit--) {
        acc = this.mul(acc, acc);
        if ((expBe[i] >> bit) & 1) acc = this.mul(acc, a);
      }
    }
    return acc;
  }
}

interface Jacobian {
  x: Limbs;
  y: Limbs;
  z: Limbs;
  inf: boolean;
}

class CurveMath {
  readonly f: Ring;
  readonly q: Ring;
  readonly bytes: number;
  readonly b: Limbs;
  readonly g: Jacobian;
  readonly nMinus2: Uint8Array;
  readonly nBe: Uint8Array;
  readonly pBe: Uint8Array;

  constructor(c: CurveHex) {
    this.pBe = hexBytes(c.p);
    this.nBe = hexBytes(c.n);
    this.bytes = this.pBe.length;
    this.f = new Ring(this.pBe);
    this.q = new Ring(this.nBe);
    this.b = this.f.toMont(limbsFromBytes(hexBytes(c.b), this.f.size));
    this.g = { x: this.f.toMont(limbsFromBytes(hexBytes(c.gx), this.f.size)), y: this.f.toMont(limbsFromBytes(hexBytes(c.gy), this.f.size)), z: this.f.one, inf: false };
    const nm2 = this.nBe.slice();
    // n is odd and ends well above 2: subtracting 2 touches only the last byte.
    nm2[nm2.length - 1] -= 2;
    this.nMinus2 = nm2;
  }

  double(p: Jacobian): Jacobian {
    const f = this.f;
    if (p.inf || isZero(p.y)) return { x: f.fresh(), y: f.fresh(), z: f.fresh(), inf: true };
    const delta = f.mul(p.z, p.z);
    const gamma = f.mul(p.y, p.y);
    const beta = f.mul(p.x, gamma);
    const t = f.mul(f.sub(p.x, delta), f.add(p.x, delta));
    const alpha = f.add(f.add(t, t), t);
    const beta4 = f.add(f.add(beta, beta), f.add(beta, beta));
    const beta8 = f.add(beta4, beta4);
    const x3 = f.sub(f.mul(alpha, alpha), beta8);
    const yz = f.add(p.y, p.z);
    const z3 = f.sub(f.sub(f.mul(yz, yz), gamma), delta);
    const g2 = f.mul(gamma, gamma);
    const g4 = f.add(g2, g2);
    const g8 = f.add(g4, g4);
    const y3 = f.sub(f.mul(alpha, f.sub(beta4, x3)), f.add(g8, g8));
    return { x: x3, y: y3, z: z3, inf: false };
  }

  add(p: Jacobian, q: Jacobian): Jacobian {
    if (p.inf) return q;
    if (q.inf) return p;
    const f = this.f;
    const z1z1 = f.mul(p.z, p.z);
    const z2z2 = f.mul(q.z, q.z);
    const u1 = f.mul(p.x, z2z2);
    const u2 = f.mul(q.x, z1z1);
    const s1 = f.mul(f.mul(p.y, q.z), z2z2);
    const s2 = f.mul(f.mul(q.y, p.z), z1z1);
    const h = f.sub(u2, u1);
    const rr = f.sub(s2, s1);
    if (isZero(h)) {
      if (isZero(rr)) return this.double(p);
      return { x: f.fresh(), y: f.fresh(), z: f.fresh(), inf: true };
    }
    const r = f.add(rr, rr);
    const h2 = f.add(h, h);
    const i = f.mul(h2, h2);
    const j = f.mul(h, i);
    const v = f.mul(u1, i);
    const x3 = f.sub(f.sub(f.mul(r, r), j), f.add(v, v));
    const s1j = f.mul(s1, j);
    const y3 = f.sub(f.mul(r, f.sub(v, x3)), f.add(s1j, s1j));
    const zz = f.add(p.z, q.z);
    const z3 = f.mul(f.sub(f.sub(f.mul(zz, zz), z1z1), z2z2), h);
    return { x: x3, y: y3, z: z3, inf: false };
  }

  onCurve(x: Limbs, y: Limbs): boolean {
    const f = this.f;
    const y2 = f.mul(y, y);
    const x3 = f.mul(f.mul(x, x), x);
    const x3a = f.sub(f.sub(f.sub(x3, x), x), x);
    const rhs = f.add(x3a, this.b);
    return compareLimbs(y2, rhs) === 0;
  }
}

const cache: Partial<Record<EcCurveName, CurveMath>> = {};

function curveMath(name: EcCurveName): CurveMath {
  return cache[name] || (cache[name] = new CurveMath(CURVES[name]));
}

function toLimbsBelow(be: Uint8Array, ring: Ring): Limbs | null {
  let l: Limbs;
  try {
    l = limbsFromBytes(be, ring.size);
  } catch {
    return null;
  }
  return compareLimbs(l, ring.m) < 0 ? l : null;
}

function bitAt(be: Uint8Array, bitFromTop: number, totalBits: number): number {
  const offset = be.length * 8 - totalBits + bitFromTop;
  if (offset < 0) return 0;
  return (be[offset >> 3] >> (7 - (offset & 7))) & 1;
}

/**
 * Verifies an ECDSA signature (r, s) over `hash` (the message digest; truncated to the order's
 * bit length as the standard says) with public key (x, y). All numbers big-endian.
 */
export function ecdsaVerify(curve: EcCurveName, x: Uint8Array, y: Uint8Array, r: Uint8Array, s: Uint8Array, hash: Uint8Array): boolean {
  const c = curveMath(curve);
  const f = c.f;
  const q = c.q;
  const px = toLimbsBelow(x, f);
  const py = toLimbsBelow(y, f);
  const rl = toLimbsBelow(r, q);
  const sl = toLimbsBelow(s, q);
  if (!px || !py || !rl || !sl || isZero(rl) || isZero(sl)) return false;
  const qx = f.toMont(px);
  const qy = f.toMont(py);
  if (!c.onCurve(qx, qy)) return false;
  // e: the leftmost bits of the hash, as many as the order has (all our orders are whole bytes).
  const eBytes = hash.length > c.nBe.length ? hash.subarray(0, c.nBe.length) : hash;
  let e = limbsFromBytes(eBytes, q.size);
  if (compareLimbs(e, q.m) >= 0) e = q.sub(e, q.m);
  // w = s^-1 mod n; u1 = e w, u2 = r w (plain values, taken out of Montgomery form).
  const sM = q.toMont(sl);
  const wM = q.pow(sM, c.nMinus2);
  const u1 = q.fromMont(q.mul(q.toMont(e), wM));
  const u2 = q.fromMont(q.mul(q.toMont(rl), wM));
  const u1b = limbsToBytes(u1, c.nBe.length);
  const u2b = limbsToBytes(u2, c.nBe.length);
  const Q: Jacobian = { x: qx, y: qy, z: f.one, inf: false };
  const GQ = c.add(c.g, Q);
  let acc: Jacobian = { x: f.fresh(), y: f.fresh(), z: f.fresh(), inf: true };
  const bits = c.nBe.length * 8;
  for (let i = 0; i < bits; i++) {
    acc = c.double(acc);
    const a = bitAt(u1b, i, bits);
    const b = bitAt(u2b, i, bits);
    if (a && b) acc = c.add(acc, GQ);
    else if (a) acc = c.add(acc, c.g);
    else if (b) acc = c.add(acc, Q);
  }
  if (acc.inf) return false;
  // x(acc) mod n == r  <=>  X == r' Z^2 (mod p) for r' = r or r + n (when r + n < p).
  const z2 = f.mul(acc.z, acc.z);
  const cand = [rl];
  const rPlusN = addPlain(rl, q.m);
  if (rPlusN && compareLimbs(rPlusN, f.m) < 0) cand.push(rPlusN);
  for (const rc of cand) {
    if (rc.length !== f.size) continue;
    if (compareLimbs(f.mul(f.toMont(rc), z2), acc.x) === 0) return true;
  }
  return false;
}

/** a + b as plain limbs (same length), or null on overflow of the limb array. */
function addPlain(a: Limbs, b: Limbs): Limbs | null {
  const out = new Float64Array(a.length);
  let carry = 0;
  for (let i = 0; i < a.length; i++) {
    const v = a[i] + b[i] + carry;
    if (v >= BASE) {
      out[i] = v - BASE;
      carry = 1;
    } else {
      out[i] = v;
      carry = 0;
    }
  }
  return carry ? null : out;
}

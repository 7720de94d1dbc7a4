// Deterministic ECDSA (RFC 6979) for the host: espsecure signs Secure Boot V1 images this way
// (python-ecdsa's sign_deterministic with SHA-256 on P-256), so the same key and image give the same
// 68 bytes. node:crypto cannot sign with a chosen nonce, so the nonce (HMAC-SHA-256 DRBG, RFC 6979
// §3.2) and the signature (k·G on short Weierstrass curves with a = -3) are computed here with BigInt.
// Host only: the device never signs.
import { createHmac } from 'node:crypto';
import { OtaflashError } from '../errors';

/** A prime-order curve y² = x³ - 3x + b over GF(p) with base point G of order n. */
export interface WeierstrassCurve {
  readonly name: string;
  readonly p: bigint;
  readonly b: bigint;
  readonly gx: bigint;
  readonly gy: bigint;
  readonly n: bigint;
  /** Bytes of p and n (both the same length on the NIST curves). */
  readonly bytes: number;
}

/** NIST P-256 (FIPS 186-4, D.1.2.3). */
export const P256: WeierstrassCurve = {
  name: 'P-256',
  p: BigInt('0xffffffff00000001000000000000000000000000ffffffffffffffffffffffff'),
  b: BigInt('0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b'),
  gx: BigInt('0x6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296'),
  gy: BigInt('0x4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5'),
  n: BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551'),
  bytes: 32,
};

const ZERO = BigInt(0);
const ONE = BigInt(1);
const TWO = BigInt(2);
const THREE = BigInt(3);
const FOUR = BigInt(4);
const EIGHT = BigInt(8);

export function bytesToBigInt(be: Uint8Array): bigint {
  return be.length === 0 ? ZERO : BigInt('0x' + Buffer.from(be.buffer, be.byteOffset, be.byteLength).toString('hex'));
}

export function bigIntToBytes(v: bigint, len: number): Uint8Array {
  const h = v.toString(16);
  if (h.length > len * 2) throw new OtaflashError('SIGNATURE_BAD_ARGUMENT', `a number of ${Math.ceil(h.length / 2)} bytes does not fit ${len}`);
  return new Uint8Array(Buffer.from(h.padStart(len * 2, '0'), 'hex'));
}

function bitLength(v: bigint): number {
  return v === ZERO ? 0 : v.toString(2).length;
}

function mod(a: bigint, m: bigint): bigint {
  const r = a % m;
  return r < ZERO ? r + m : r;
}

/** a^-1 mod m (m prime or a coprime to m), by the extended Euclidean algorithm. */
export function modInverse(a: bigint, m: bigint): bigint {
  let [r0, r1] = [mod(a, m), m];
  let [s0, s1] = [ONE, ZERO];
  while (r1 !== ZERO) {
    const q = r0 / r1;
    [r0, r1] = [r1, r0 - q * r1];
    [s0, s1] = [s1, s0 - q * s1];
  }
  if (r0 !== ONE) throw new OtaflashError('SIGNATURE_BAD_ARGUMENT', 'no modular inverse');
  return mod(s0, m);
}

// --- RFC 6979 §2.3 conversions -----------------------------------------------------------------

/** bits2int: the leftmost qlen bits of `b` as an integer (§2.3.2). */
export function bits2int(b: Uint8Array, qlen: number): bigint {
  const v = bytesToBigInt(b);
  const blen = b.length * 8;
  return blen > qlen ? v >> BigInt(blen - qlen) : v;
}

/** int2octets: `x` as rlen = 8·ceil(qlen/8) bits, big-endian (§2.3.3). */
export function int2octets(x: bigint, q: bigint): Uint8Array {
  return bigIntToBytes(x, Math.ceil(bitLength(q) / 8));
}

/** bits2octets: bits2int, reduced mod q once (z1 < 2q), then int2octets (§2.3.4). */
export function bits2octets(b: Uint8Array, q: bigint): Uint8Array {
  const z1 = bits2int(b, bitLength(q));
  const z2 = z1 >= q ? z1 - q : z1;
  return int2octets(z2, q);
}

function hmac(hash: string, key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  const h = createHmac(hash, key);
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

/**
 * The nonce candidates of RFC 6979 §3.2 for private key `x` and message hash `h1`, in order: the
 * first is the k of the RFC; a caller that must reject one (k·G gives r = 0, or s = 0) takes the next,
 * as §3.2 step h.3 and python-ecdsa's retry do.
 */
export function* rfc6979Nonces(q: bigint, x: bigint, h1: Uint8Array, hash: 'sha256' | 'sha384' = 'sha256'): Generator<bigint, never, void> {
  const qlen = bitLength(q);
  const hlen = hash === 'sha256' ? 32 : 48;
  let v: Uint8Array = new Uint8Array(hlen).fill(0x01);
  let k: Uint8Array = new Uint8Array(hlen);
  const xo = int2octets(x, q);
  const ho = bits2octets(h1, q);
  k = hmac(hash, k, v, Uint8Array.of(0x00), xo, ho);
  v = hmac(hash, k, v);
  k = hmac(hash, k, v, Uint8Array.of(0x01), xo, ho);
  v = hmac(hash, k, v);
  for (;;) {
    const t: Uint8Array[] = [];
    let tlen = 0;
    while (tlen < qlen) {
      v = hmac(hash, k, v);
      t.push(v);
      tlen += v.length * 8;
    }
    const candidate = bits2int(Buffer.concat(t), qlen);
    if (candidate >= ONE && candidate < q) yield candidate;
    k = hmac(hash, k, v, Uint8Array.of(0x00));
    v = hmac(hash, k, v);
  }
}

// --- Curve arithmetic (Jacobian coordinates, a = -3) -------------------------------------------

type Jacobian = readonly [bigint, bigint, bigint];
const INFINITY: Jacobian = [ONE, ONE, ZERO];

function double(c: WeierstrassCurve, [x, y, z]: Jacobian): Jacobian {
  if (z === ZERO || y === ZERO) return INFINITY;
  const p = c.p;
  const yy = (y * y) % p;
  const zz = (z * z) % p;
  const s = (FOUR * x * yy) % p;
  const m = (THREE * (x - zz) * (x + zz)) % p; // 3x² + a·z⁴ with a = -3
  const x3 = mod(m * m - TWO * s, p);
  const y3 = mod(m * (s - x3) - EIGHT * yy * yy, p);
  const z3 = (TWO * y * z) % p;
  return [x3, y3, z3];
}

function add(c: WeierstrassCurve, a: Jacobian, b: Jacobian): Jacobian {
  if (a[2] === ZERO) return b;
  if (b[2] === ZERO) return a;
  const p = c.p;
  const z1z1 = (a[2] * a[2]) % p;
  const z2z2 = (b[2] * b[2]) % p;
  const u1 = (a[0] * z2z2) % p;
  const u2 = (b[0] * z1z1) % p;
  const s1 = (a[1] * b[2] * z2z2) % p;
  const s2 = (b[1] * a[2] * z1z1) % p;
  const h = mod(u2 - u1, p);
  const r = mod(s2 - s1, p);
  if (h === ZERO) return r === ZERO ? double(c, a) : INFINITY;
  const hh = (h * h) % p;
  const hhh = (h * hh) % p;
  const v = (u1 * hh) % p;
  const x3 = mod(r * r - hhh - TWO * v, p);
  const y3 = mod(r * (v - x3) - s1 * hhh, p);
  const z3 = (a[2] * b[2] * h) % p;
  return [x3, y3, z3];
}

/** k·G as affine x (null at infinity). Not constant-time: a signing host, not a device. */
function baseMulX(c: WeierstrassCurve, k: bigint): bigint | null {
  let acc: Jacobian = INFINITY;
  const g: Jacobian = [c.gx, c.gy, ONE];
  for (let i = bitLength(k) - 1; i >= 0; i--) {
    acc = double(c, acc);
    if ((k >> BigInt(i)) & ONE) acc = add(c, acc, g);
  }
  if (acc[2] === ZERO) return null;
  const zi = modInverse(acc[2], c.p);
  return (acc[0] * zi * zi) % c.p;
}

/** An ECDSA signature: r and s big-endian, `curve.bytes` each. */
export interface EcdsaSignature {
  readonly r: Uint8Array;
  readonly s: Uint8Array;
}

/**
 * ECDSA with the RFC 6979 nonce over a message digest (already hashed with `hash`), as python-ecdsa's
 * sign_digest_deterministic: the digest is bits2int'ed (truncated to the order's length), s is not
 * normalised to the low half, and a nonce giving r = 0 or s = 0 is replaced by the next candidate.
 */
export function signDeterministic(curve: WeierstrassCurve, privateKey: bigint, digest: Uint8Array, hash: 'sha256' | 'sha384' = 'sha256'): EcdsaSignature {
  const n = curve.n;
  if (privateKey <= ZERO || privateKey >= n) throw new OtaflashError('KEY_BAD_FORMAT', `the ${curve.name} private key is out of range`);
  const e = bits2int(digest, bitLength(n));
  const nonces = rfc6979Nonces(n, privateKey, digest, hash);
  for (let tries = 0; tries < 16; tries++) {
    const k = nonces.next().value;
    const x = baseMulX(curve, k);
    if (x === null) continue;
    const r = x % n;
    if (r === ZERO) continue;
    const s = (modInverse(k, n) * ((e + r * privateKey) % n)) % n;
    if (s === ZERO) continue;
    return { r: bigIntToBytes(r, curve.bytes), s: bigIntToBytes(s, curve.bytes) };
  }
  // Each retry happens with probability about 2^-256: sixteen in a row means broken arithmetic.
  throw new OtaflashError('SIGNATURE_BAD_ARGUMENT', 'deterministic ECDSA found no usable nonce');
}

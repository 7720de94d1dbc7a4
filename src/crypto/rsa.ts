// RSA public-key operation without BigInt (Montgomery arithmetic on 24-bit limbs) and RSA-PSS
// verification on top of it: a Secure Boot V2 RSA-3072 check with e = 65537 is 19 multiplications.
import type { HashProvider } from '../hash/types';
import { Montgomery, compareLimbs, limbsFromBytes, limbsToBytes } from './bignum';
import { bitLength, pssVerify } from './pss';

/** Moduli up to 4096 bits; Secure Boot V2 uses 3072. */
const MAX_BITS = 4096;

/**
 * signature^e mod n, big-endian, as many bytes as the modulus; null when the signature is not below
 * n, n is even, or e is not a positive 32-bit number.
 */
export function rsaPublic(n: Uint8Array, e: number, signature: Uint8Array): Uint8Array | null {
  const bits = bitLength(n);
  if (bits < 512 || bits > MAX_BITS || (n[n.length - 1] & 1) === 0) return null;
  if (!(e >= 3 && e <= 0xffffffff && e % 1 === 0)) return null;
  const limbs = Math.ceil(bits / 24);
  const mont = new Montgomery(n, limbs);
  let s;
  try {
    s = limbsFromBytes(signature, limbs);
  } catch {
    return null;
  }
  if (compareLimbs(s, mont.n) >= 0) return null;
  const m = mont.powSmall(s, e);
  return limbsToBytes(m, Math.ceil(bits / 8));
}

/** RSA-PSS verification (MGF1-SHA-256, salt `saltLength`) of a SHA-256 digest. */
export function rsaPssVerify(n: Uint8Array, e: number, signature: Uint8Array, mHash: Uint8Array, hashes: HashProvider, saltLength = 32): boolean {
  const bits = bitLength(n);
  const k = Math.ceil(bits / 8);
  if (signature.length > k + 1) return false;
  const m = rsaPublic(n, e, signature);
  if (!m) return false;
  const emBits = bits - 1;
  const emLen = Math.ceil(emBits / 8);
  // When the modulus bit length is 1 mod 8 the encoded message is one byte shorter than k.
  if (emLen < k && m[0] !== 0) return false;
  return pssVerify(mHash, m.subarray(k - emLen), emBits, saltLength, hashes);
}

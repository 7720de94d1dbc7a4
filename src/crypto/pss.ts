// EMSA-PSS-VERIFY (RFC 8017, 9.1.2) with SHA-256 and MGF1-SHA-256: what ESP Secure Boot V2's RSA
// blocks use (salt length 32). Shared by the portable and the Node verifier: only the RSA step differs.
import type { HashProvider } from '../hash/types';

const HASH_LEN = 32;

function mgf1(seed: Uint8Array, length: number, hashes: HashProvider): Uint8Array {
  const out = new Uint8Array(length);
  // seed || counter in one buffer: one update per hash lets a provider hash it in one call.
  const input = new Uint8Array(seed.length + 4);
  input.set(seed);
  const n = seed.length;
  for (let c = 0, at = 0; at < length; c++, at += HASH_LEN) {
    input[n] = (c >>> 24) & 0xff;
    input[n + 1] = (c >>> 16) & 0xff;
    input[n + 2] = (c >>> 8) & 0xff;
    input[n + 3] = c & 0xff;
    const block = hashes.sha256().update(input).digest();
    out.set(block.subarray(0, Math.min(HASH_LEN, length - at)), at);
  }
  return out;
}

/**
 * Checks an encoded message `em` (the RSA result, emLen bytes big-endian) against `mHash`.
 * `emBits` is the modulus bit length minus one. Any salt length is accepted when `saltLength` is -1.
 */
export function pssVerify(mHash: Uint8Array, em: Uint8Array, emBits: number, saltLength: number, hashes: HashProvider): boolean {
  const emLen = Math.ceil(emBits / 8);
  if (mHash.length !== HASH_LEN || em.length !== emLen) return false;
  if (emLen < HASH_LEN + (saltLength < 0 ? 0 : saltLength) + 2) return false;
  if (em[emLen - 1] !== 0xbc) return false;
  const dbLen = emLen - HASH_LEN - 1;
  const maskedDb = em.subarray(0, dbLen);
  const h = em.subarray(dbLen, dbLen + HASH_LEN);
  const unused = 8 * emLen - emBits;
  const topMask = unused === 0 ? 0 : (0xff << (8 - unused)) & 0xff;
  if ((maskedDb[0] & topMask) !== 0) return false;
  const db = mgf1(h, dbLen, hashes);
  for (let i = 0; i < dbLen; i++) db[i] ^= maskedDb[i];
  db[0] &= ~topMask & 0xff;
  // DB = PS (zeros) || 0x01 || salt
  let i = 0;
  while (i < dbLen && db[i] === 0) i++;
  if (i >= dbLen || db[i] !== 0x01) return false;
  const salt = db.subarray(i + 1);
  if (saltLength >= 0 && salt.length !== saltLength) return false;
  const mPrime = new Uint8Array(8 + mHash.length + salt.length);
  mPrime.set(mHash, 8);
  mPrime.set(salt, 8 + mHash.length);
  const h2 = hashes.sha256().update(mPrime).digest();
  let diff = 0;
  for (let k = 0; k < HASH_LEN; k++) diff |= h2[k] ^ h[k];
  return diff === 0;
}

/** Bit length of a big-endian number. */
export function bitLength(be: Uint8Array): number {
  let i = 0;
  while (i < be.length && be[i] === 0) i++;
  if (i === be.length) return 0;
  let bits = (be.length - i - 1) * 8;
  for (let v = be[i]; v > 0; v >>= 1) bits++;
  return bits;
}

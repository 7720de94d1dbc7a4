// The Node SignatureVerifier: node:crypto does the public-key work. RSA: the raw public operation
// (publicDecrypt without padding) then the shared PSS decode, so the image is hashed once for every
// block. ECDSA: node:crypto cannot verify a precomputed digest, so it verifies over the signed bytes.
import * as crypto from 'node:crypto';
import { OtaflashError } from '../errors';
import type { HashProvider } from '../hash/types';
import type { EcdsaCurve } from '../formats/secure-boot-signature';
import type { SignatureVerifier } from '../formats/secure-boot-verify';
import { bitLength, pssVerify } from '../crypto/pss';
import { nodeHashes } from './hash';
import { SHA256_IV, sha256Blocks } from '../hash/sha256';
import { wordsBe } from '../hash/block-hash';
import type { IncrementalHash } from '../hash/types';

const oneShot = (crypto as unknown as { hash?: (alg: string, data: Uint8Array, enc: 'buffer') => Buffer }).hash;

// SHA-256 of a message of at most 55 bytes (one block) in JS, through the project's own compression
// function: MGF1 hashes twelve 36-byte inputs per RSA-PSS check, and a native call costs more than
// the hashing (about 1.5 us against 0.35 us).
const oneBlock = new Uint8Array(64);
const oneState = new Int32Array(8);

/** SHA-256 of `m` (m.length <= 55: padding and length fit one block). */
export function sha256OneBlock(m: Uint8Array): Uint8Array {
  const n = m.length;
  oneBlock.fill(0);
  oneBlock.set(m);
  oneBlock[n] = 0x80;
  oneBlock[62] = (n * 8) >>> 8;
  oneBlock[63] = (n * 8) & 0xff;
  oneState.set(SHA256_IV);
  sha256Blocks(oneState, oneBlock, 0, 1);
  return wordsBe(oneState, 8);
}

/**
 * SHA-256 for PSS's small inputs, each hashed in one update: one block in JS (MGF1's 36 bytes), else
 * crypto.hash (Node >= 20.12) in one native call, else createHash.
 */
const smallHashes: HashProvider = {
  ...nodeHashes,
  sha256(): IncrementalHash {
    let one: Uint8Array | null = null;
    let more: Uint8Array[] | null = null;
    const api: IncrementalHash = {
      update(d) {
        if (one === null && more === null) one = d;
        else (more ??= [one!]).push(d);
        return api;
      },
      digest() {
        if (more === null) {
          const m = one ?? new Uint8Array(0);
          if (m.length <= 55) return sha256OneBlock(m);
          if (oneShot) return new Uint8Array(oneShot('sha256', m, 'buffer'));
          more = [m];
        }
        const h = crypto.createHash('sha256');
        for (const p of more) h.update(p);
        return new Uint8Array(h.digest());
      },
    };
    return api;
  },
};

const CURVE_OIDS: Record<EcdsaCurve, number[]> = {
  'P-192': [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x01],
  'P-256': [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07],
  'P-384': [0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22],
};
const EC_PUBLIC_KEY_OID = [0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
export const CURVE_LENGTHS: Record<EcdsaCurve, number> = { 'P-192': 24, 'P-256': 32, 'P-384': 48 };

function derLength(n: number): number[] {
  return n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : [0x82, n >> 8, n & 0xff];
}

function der(tag: number, body: number[]): number[] {
  return [tag, ...derLength(body.length), ...body];
}

function padTo(be: Uint8Array, len: number): Uint8Array | null {
  let start = 0;
  while (be.length - start > len && be[start] === 0) start++;
  if (be.length - start > len) return null;
  // Already the right width (a block's RSA signature is): no copy, one allocation fewer per check.
  if (start === 0 && be.length === len) return be;
  const out = new Uint8Array(len);
  out.set(be.subarray(start), len - (be.length - start));
  return out;
}

/** A node:crypto public key for an EC point (SPKI DER: JWK has no P-192). */
export function ecPublicKey(curve: EcdsaCurve, x: Uint8Array, y: Uint8Array): crypto.KeyObject | null {
  const len = CURVE_LENGTHS[curve];
  const px = padTo(x, len);
  const py = padTo(y, len);
  if (!px || !py) return null;
  const point = [0x04, ...px, ...py];
  const spki = der(0x30, [...der(0x30, [...EC_PUBLIC_KEY_OID, ...CURVE_OIDS[curve]]), ...der(0x03, [0x00, ...point])]);
  try {
    return crypto.createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  } catch {
    // A point not on the curve: no key, so no signature can verify with it.
    return null;
  }
}

function b64url(b: Uint8Array): string {
  return Buffer.from(b).toString('base64url');
}

/** The last few RSA keys seen (images are checked against few keys): found by comparing n's bytes. */
const rsaKeys: { n: Uint8Array; e: number; key: crypto.KeyObject }[] = [];

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = a.length - 1; i >= 0; i--) if (a[i] !== b[i]) return false;
  return true;
}

function rsaKey(n: Uint8Array, e: number): crypto.KeyObject {
  for (const k of rsaKeys) if (k.e === e && sameBytes(k.n, n)) return k.key;
  const eb = Buffer.alloc(4);
  eb.writeUInt32BE(e >>> 0);
  let i = 0;
  while (i < 3 && eb[i] === 0) i++;
  const key = crypto.createPublicKey({ key: { kty: 'RSA', n: b64url(n), e: b64url(eb.subarray(i)) }, format: 'jwk' });
  if (rsaKeys.length >= 8) rsaKeys.pop();
  rsaKeys.unshift({ n: n.slice(), e, key });
  return key;
}

export function createNodeSignatureVerifier(_hashes: HashProvider = nodeHashes): SignatureVerifier {
  return {
    name: 'node:crypto',
    rsaPss(n, e, signature, message) {
      const bits = bitLength(n);
      const k = Math.ceil(bits / 8);
      const sig = padTo(signature, k);
      if (!sig || bits < 1024 || (n[n.length - 1] & 1) === 0) return false;
      let em: Buffer;
      try {
        em = crypto.publicDecrypt({ key: rsaKey(n, e), padding: crypto.constants.RSA_NO_PADDING }, sig);
      } catch {
        // OpenSSL refuses a signature not below the modulus: not a valid signature.
        return false;
      }
      const emBits = bits - 1;
      const emLen = Math.ceil(emBits / 8);
      const emBytes = new Uint8Array(em.buffer, em.byteOffset, em.byteLength);
      if (emLen < k && emBytes[0] !== 0) return false;
      // MGF1 hashes twelve 36-byte inputs: one block each, in JS (see smallHashes).
      return pssVerify(message.digest('sha256'), emBytes.subarray(k - emLen), emBits, 32, smallHashes);
    },
    ecdsa(curve, x, y, r, s, message) {
      if (!message.bytes) {
        throw new OtaflashError('SIGNATURE_UNSUPPORTED', `node:crypto verifies ECDSA ${curve} only over the signed bytes, and only a digest was given`, { curve });
      }
      const key = ecPublicKey(curve, x, y);
      const len = CURVE_LENGTHS[curve];
      const pr = padTo(r, len);
      const ps = padTo(s, len);
      if (!key || !pr || !ps) return false;
      const sig = Buffer.concat([pr, ps]);
      return crypto.verify(curve === 'P-384' ? 'sha384' : 'sha256', message.bytes, { key, dsaEncoding: 'ieee-p1363' }, sig);
    },
  };
}

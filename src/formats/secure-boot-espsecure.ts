// What `espsecure verify-signature --version 2` (5.3.1) would answer for a file and one public key,
// so the CLI can say when it disagrees with ESP-IDF. espsecure takes the last 4096 bytes of the file as
// the sector, stops at the first stored-digest mismatch, and verifies with the key it is given (never
// the block's own key). Where 5.3.1 crashes (an RSA block read with an ECDSA key, a P-384 block read
// with an RSA key) the answer is 'crashed'.
import { OtaflashError } from '../errors';
import type { HashProvider, IncrementalHash } from '../hash/types';
import { SB2_BLOCK_SIZE, SB2_MAGIC, SB2_SECTOR_SIZE, decodeSignatureBlock, isValidBlockFrame, type EcdsaCurve } from './secure-boot-signature';
import { messageFromBytes, type SignatureVerifier } from './secure-boot-verify';

export type EspsecureKey = { readonly kind: 'rsa'; readonly n: Uint8Array; readonly e: number } | { readonly kind: 'ecdsa'; readonly curve: EcdsaCurve; readonly x: Uint8Array; readonly y: Uint8Array };

export interface EspsecureOutcome {
  readonly outcome: 'valid' | 'rejected' | 'crashed';
  readonly reason: string;
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function espsecureVerdict(bytes: Uint8Array, key: EspsecureKey, verifier: SignatureVerifier, hashes: HashProvider, sha384?: () => IncrementalHash): EspsecureOutcome {
  if (bytes.length === 0 || bytes.length % SB2_SECTOR_SIZE !== 0) return { outcome: 'rejected', reason: 'Invalid datafile: length is not a multiple of 4096' };
  const at = bytes.length - SB2_SECTOR_SIZE;
  const message = messageFromBytes(bytes.subarray(0, at), hashes, sha384);
  let verified = -1;
  for (let i = 0; i < 3; i++) {
    const raw = bytes.subarray(at + i * SB2_BLOCK_SIZE, at + (i + 1) * SB2_BLOCK_SIZE);
    if (raw[0] !== SB2_MAGIC || !isValidBlockFrame(raw, hashes)) continue;
    const b = decodeSignatureBlock(raw, i, hashes);
    let digest: Uint8Array;
    try {
      digest = message.digest(b.hash);
    } catch (e) {
      if (e instanceof OtaflashError && e.code === 'SIGNATURE_UNSUPPORTED') return { outcome: 'rejected', reason: e.message };
      throw e;
    }
    if (!bytesEqual(b.imageDigest, digest)) return { outcome: 'rejected', reason: `block ${i}: stored digest does not match the file (espsecure stops here)` };
    // espsecure reads the block in the layout of the key it was given, not by the block's version byte.
    let ok = false;
    if (key.kind === 'rsa') {
      if (b.hash === 'sha384') return { outcome: 'crashed', reason: `block ${i}: a P-384 block read with an RSA key (espsecure 5.3.1 raises ValueError)` };
      const asRsa = raw.slice();
      asRsa[1] = 2;
      ok = verifier.rsaPss(key.n, key.e, decodeSignatureBlock(asRsa, i, hashes).signature!, message);
    } else {
      const curveId = raw[b.hash === 'sha384' ? 52 : 36];
      if (curveId < 1 || curveId > 3) return { outcome: 'crashed', reason: `block ${i}: curve id ${curveId} fails espsecure 5.3.1's assert (an RSA block read with an ECDSA key)` };
      const asEcdsa = raw.slice();
      asEcdsa[1] = 3;
      const e = decodeSignatureBlock(asEcdsa, i, hashes);
      ok = verifier.ecdsa(key.curve, key.x, key.y, e.r!, e.s!, message);
    }
    if (ok && verified < 0) verified = i;
  }
  return verified >= 0 ? { outcome: 'valid', reason: `block ${verified} verifies with the supplied key` } : { outcome: 'rejected', reason: 'no block verifies with the supplied key' };
}

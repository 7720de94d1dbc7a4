// Detached signatures: one to three Secure Boot V2 signature blocks (1216 bytes each) over a payload
// that is not an app image (a delta package index, a manifest, an upgrade plan). The block format,
// the keys, the eFuse key digests, revocation and the verifier are the Secure Boot ones, so a device
// that trusts a key for its firmware trusts it for everything else with no second key type or
// second verifier. Format and reasons: docs/signatures.md.
import { OtaflashError, kindOf } from '../errors';
import { defaultHashes } from '../hash/portable';
import type { HashProvider, IncrementalHash } from '../hash/types';
import { createPortableSignatureVerifier } from '../crypto/rsa-verifier';
import { SB2_BLOCK_SIZE, SB2_MAX_BLOCKS, SB2_SECTOR_SIZE, type EcdsaCurve, type SignatureHash } from './secure-boot-signature';
import {
  checkSignatureSector,
  messageFromBytes,
  type SignatureScheme,
  type SignatureTrust,
  type SignatureVerdict,
  type SignatureVerifier,
  type SignedMessage,
} from './secure-boot-verify';

export { SB2_BLOCK_SIZE as DETACHED_BLOCK_SIZE };

export interface DetachedVerifyOptions {
  /** Trusted key digests (as eFuse holds them) and revoked ones. */
  readonly trust: SignatureTrust;
  /** Public-key operations; default: the portable verifier (no BigInt). */
  readonly verifier?: SignatureVerifier;
  readonly hashes?: HashProvider;
  /** SHA-384 for P-384 blocks (the portable hashes have none; see docs/secure-boot.md). */
  readonly sha384?: () => IncrementalHash;
  /** Accept only this scheme ('rsa' or 'ecdsa'); default any. */
  readonly scheme?: SignatureScheme;
  /** Accept only this ECDSA curve; default any. */
  readonly curve?: EcdsaCurve;
  /** Payload length for the verdict (streaming form; the in-memory form knows it). */
  readonly payloadLength?: number;
}

/**
 * How many blocks a detached signature holds: 1216, 2432 or 3648 bytes, or a whole 4096-byte Secure
 * Boot sector (the sector of an espsecure-signed image, 0xFF after its blocks). Anything else is a
 * typed error: a signature of the wrong size is damaged, not merely untrusted.
 */
export function detachedBlockCount(signature: Uint8Array): number {
  if (!(signature instanceof Uint8Array)) throw new OtaflashError('SIGNATURE_BAD_ARGUMENT', `a detached signature must be a Uint8Array, got ${kindOf(signature)}`);
  if (signature.length === SB2_SECTOR_SIZE) {
    // Up to the last slot that is not all 0xFF: a blank slot between two blocks is reported, not dropped.
    let n = SB2_MAX_BLOCKS;
    while (n > 0 && allFF(signature.subarray((n - 1) * SB2_BLOCK_SIZE, n * SB2_BLOCK_SIZE))) n--;
    if (n === 0) throw new OtaflashError('SIGNATURE_EMPTY', 'the signature sector holds no block (all 0xFF)');
    return n;
  }
  if (signature.length === 0 || signature.length % SB2_BLOCK_SIZE !== 0 || signature.length > SB2_MAX_BLOCKS * SB2_BLOCK_SIZE) {
    throw new OtaflashError(
      'SIGNATURE_BAD_LENGTH',
      `a detached signature is 1 to ${SB2_MAX_BLOCKS} blocks of ${SB2_BLOCK_SIZE} bytes (or a ${SB2_SECTOR_SIZE}-byte sector), got ${signature.length} bytes`,
      { length: signature.length },
    );
  }
  return signature.length / SB2_BLOCK_SIZE;
}

function allFF(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0xff) return false;
  return true;
}

/**
 * Verifies a detached signature over a message given by its digests (hash a large payload in
 * chunks, then call this). Valid when one block from a trusted, unrevoked key verifies over the
 * payload digest, with the key embedded in that block (the Secure Boot V2 rule). Every block present
 * is reported with its status and reason.
 */
export function verifyDetachedSignatureDigest(message: SignedMessage, signature: Uint8Array, opts: DetachedVerifyOptions): SignatureVerdict {
  if (opts === null || typeof opts !== 'object') throw new OtaflashError('SIGNATURE_BAD_ARGUMENT', `detached signature options must be an object, got ${kindOf(opts)}`);
  if (!message || typeof message.digest !== 'function') throw new OtaflashError('SIGNATURE_BAD_ARGUMENT', `the signed message must have a digest(hash) method, got ${kindOf(message)}`);
  const count = detachedBlockCount(signature);
  const hashes = opts.hashes || defaultHashes();
  const verifier = opts.verifier || createPortableSignatureVerifier(hashes);
  const length = opts.payloadLength !== undefined ? opts.payloadLength : message.bytes ? message.bytes.length : -1;
  const sector = signature.length === SB2_SECTOR_SIZE ? signature : padToSector(signature);
  const verdict = checkSignatureSector(sector, 0, length, message, {
    trust: opts.trust,
    verifier,
    hashes,
    sha384: opts.sha384,
    scheme: opts.scheme,
    curve: opts.curve,
  });
  // Slots past the signature's own blocks are padding we added (or the sector's 0xFF): not blocks.
  const blocks = verdict.blocks.filter((b) => b.index < count);
  const reason = verdict.valid ? verdict.reason : blocks.map((b) => `block ${b.index}: ${b.reason}`).join('; ');
  return Object.assign({}, verdict, { blocks, reason, signatureOffset: 0, signedLength: length, imageLength: length });
}

function padToSector(signature: Uint8Array): Uint8Array {
  const out = new Uint8Array(SB2_SECTOR_SIZE);
  out.fill(0xff);
  out.set(signature);
  return out;
}

/** Verifies a detached signature over a payload held in memory. */
export function verifyDetachedSignature(payload: Uint8Array, signature: Uint8Array, opts: DetachedVerifyOptions): SignatureVerdict {
  if (!(payload instanceof Uint8Array)) throw new OtaflashError('SIGNATURE_BAD_ARGUMENT', `the signed payload must be a Uint8Array, got ${kindOf(payload)}`);
  const hashes = (opts && opts.hashes) || defaultHashes();
  return verifyDetachedSignatureDigest(messageFromBytes(payload, hashes, opts ? opts.sha384 : undefined), signature, opts);
}

/**
 * A SignedMessage for a payload hashed in chunks by the caller: `update` each chunk, then pass the
 * message to verifyDetachedSignatureDigest. SHA-384 is computed only when a `sha384` is given.
 */
export interface StreamedMessage extends SignedMessage {
  update(chunk: Uint8Array): void;
  readonly length: number;
}

export function streamedMessage(hashes: HashProvider = defaultHashes(), sha384?: () => IncrementalHash): StreamedMessage {
  const h256 = hashes.sha256();
  const h384 = sha384 ? sha384() : null;
  const done: { sha256?: Uint8Array; sha384?: Uint8Array } = {};
  let length = 0;
  return {
    get length() {
      return length;
    },
    update(chunk: Uint8Array) {
      if (done.sha256 || done.sha384) throw new OtaflashError('SIGNATURE_BAD_ARGUMENT', 'the message was already hashed: no more chunks');
      h256.update(chunk);
      if (h384) h384.update(chunk);
      length += chunk.length;
    },
    digest(hash: SignatureHash): Uint8Array {
      if (hash === 'sha256') return done.sha256 || (done.sha256 = h256.digest());
      if (!h384) throw new OtaflashError('SIGNATURE_UNSUPPORTED', 'no SHA-384 available for a P-384 digest (pass `sha384`)');
      return done.sha384 || (done.sha384 = h384.digest());
    },
  };
}

// Base64 (RFC 4648, with padding) for carrying signatures in JSON. Our own codec: small engines
// (QuickJS builds without it, JerryScript, Duktape) have no atob/btoa, and the portable core has no Buffer.
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
let reverseAlphabet: Int16Array | null = null;

function reverseTable(): Int16Array {
  if (!reverseAlphabet) {
    reverseAlphabet = new Int16Array(128);
    reverseAlphabet.fill(-1);
    for (let i = 0; i < ALPHABET.length; i++) reverseAlphabet[ALPHABET.charCodeAt(i)] = i;
  }
  return reverseAlphabet;
}

/** Standard base64 with '=' padding, no line breaks. */
export function encodeSignatureText(signature: Uint8Array): string {
  if (!(signature instanceof Uint8Array)) throw new OtaflashError('SIGNATURE_BAD_ARGUMENT', `a signature to encode must be a Uint8Array, got ${kindOf(signature)}`);
  const parts: string[] = [];
  let line = '';
  for (let i = 0; i < signature.length; i += 3) {
    const a = signature[i];
    const b = i + 1 < signature.length ? signature[i + 1] : 0;
    const c = i + 2 < signature.length ? signature[i + 2] : 0;
    const n = (a << 16) | (b << 8) | c;
    line += ALPHABET.charAt((n >> 18) & 63) + ALPHABET.charAt((n >> 12) & 63);
    line += i + 1 < signature.length ? ALPHABET.charAt((n >> 6) & 63) : '=';
    line += i + 2 < signature.length ? ALPHABET.charAt(n & 63) : '=';
    // Join in pieces: repeated += on one long string is slow in some small engines.
    if (line.length >= 1024) {
      parts.push(line);
      line = '';
    }
  }
  parts.push(line);
  return parts.join('');
}

/** Decodes what encodeSignatureText makes; anything else (bad character, length, padding) is SIGNATURE_BAD_TEXT. */
export function decodeSignatureText(text: string): Uint8Array {
  if (typeof text !== 'string') throw new OtaflashError('SIGNATURE_BAD_TEXT', `a signature text must be a string, got ${kindOf(text)}`);
  if (text.length % 4 !== 0) throw new OtaflashError('SIGNATURE_BAD_TEXT', `base64 signature text has ${text.length} characters, not a multiple of 4`, { length: text.length });
  let pad = 0;
  if (text.length > 0 && text.charAt(text.length - 1) === '=') pad = text.charAt(text.length - 2) === '=' ? 2 : 1;
  const out = new Uint8Array((text.length / 4) * 3 - pad);
  const table = reverseTable();
  let o = 0;
  for (let i = 0; i < text.length; i += 4) {
    let n = 0;
    for (let k = 0; k < 4; k++) {
      const at = i + k;
      const code = text.charCodeAt(at);
      let v: number;
      if (code === 61 && at >= text.length - pad) v = 0;
      else {
        v = code < 128 ? table[code] : -1;
        if (v < 0) throw new OtaflashError('SIGNATURE_BAD_TEXT', `base64 signature text has ${JSON.stringify(text.charAt(at))} at ${at}`, { at });
      }
      n = (n << 6) | v;
    }
    out[o++] = (n >> 16) & 255;
    if (o < out.length) out[o++] = (n >> 8) & 255;
    if (o < out.length) out[o++] = n & 255;
    // Canonical form only: bits the padding drops must be zero (one text per signature).
    if (i + 4 === text.length && pad > 0 && (pad === 2 ? n & 0xffff : n & 0xff) !== 0) {
      throw new OtaflashError('SIGNATURE_BAD_TEXT', 'base64 signature text has non-zero bits under its padding', { at: i });
    }
  }
  return out;
}

// Host-side Secure Boot keys: PEM keys to the fields a signature block holds (and their eFuse digest),
// key generation for tests, and signing images the way `espsecure sign-data` lays them out.
// BigInt is fine here (Node only): rinv and mdash are computed once per key.
import * as crypto from 'node:crypto';
import { OtaflashError } from '../errors';
import type { HashProvider } from '../hash/types';
import {
  CURVE_BYTES,
  SB1_BLOCK_SIZE,
  SB2_BLOCK_SIZE,
  SB2_MAGIC,
  SB2_MAX_BLOCKS,
  SB2_SECTOR_SIZE,
  encodeKeyFields,
  encodeSignatureBlock,
  encodeSignatureSector,
  encodeSignatureV1,
  keyDigestOfFields,
  signatureSectorOffset,
  type EcdsaCurve,
  type RsaBlockKey,
} from '../formats/secure-boot-signature';
import { nodeHashes } from './hash';
import { P256, bytesToBigInt, signDeterministic } from './rfc6979';
import { isSigner, normaliseSignature, pemSigner, type Signer } from './signer';
import { createNodeSignatureVerifier } from './signature-verifier';

export type SecureBootKeyType = 'rsa3072' | 'ecdsa192' | 'ecdsa256' | 'ecdsa384';

export type SecureBootPublicKey =
  | { readonly kind: 'rsa'; readonly key: RsaBlockKey; readonly type: SecureBootKeyType }
  | { readonly kind: 'ecdsa'; readonly curve: EcdsaCurve; readonly x: Uint8Array; readonly y: Uint8Array; readonly type: SecureBootKeyType };

const NAMED_CURVES: Record<string, EcdsaCurve> = { prime192v1: 'P-192', prime256v1: 'P-256', secp384r1: 'P-384' };

function toBigInt(be: Uint8Array): bigint {
  return be.length === 0 ? BigInt(0) : BigInt('0x' + Buffer.from(be).toString('hex'));
}

function fromBigInt(v: bigint, len: number): Uint8Array {
  const hexs = v.toString(16).padStart(len * 2, '0');
  return new Uint8Array(Buffer.from(hexs, 'hex'));
}

function modInverse(a: bigint, m: bigint): bigint {
  let [r0, r1] = [a % m, m];
  let [s0, s1] = [BigInt(1), BigInt(0)];
  while (r1 !== BigInt(0)) {
    const q = r0 / r1;
    [r0, r1] = [r1, r0 - q * r1];
    [s0, s1] = [s1, s0 - q * s1];
  }
  return ((s0 % m) + m) % m;
}

/** The RSA fields of a block: rinv = R^2 mod n (R = 2^3072), mdash = -n^-1 mod 2^32. */
export function rsaBlockKey(nBe: Uint8Array, e: number): RsaBlockKey {
  const n = toBigInt(nBe);
  const r = BigInt(1) << BigInt(6144);
  const w = BigInt(1) << BigInt(32);
  const rinv = r % n;
  const mdash = Number(w - modInverse(n % w, w)) >>> 0;
  return { kind: 'rsa', n: fromBigInt(n, 384), e, rinv: fromBigInt(rinv, 384), mdash };
}

/** A PEM (or DER) public or private key as Secure Boot sees it; RSA must be 3072 bits (as espsecure). */
export function secureBootPublicKey(pem: string | Uint8Array): SecureBootPublicKey {
  let key: crypto.KeyObject;
  try {
    key = crypto.createPublicKey(typeof pem === 'string' ? pem : Buffer.from(pem));
  } catch (e) {
    throw new OtaflashError('KEY_BAD_FORMAT', `not a PEM public or private key: ${(e as Error).message}`);
  }
  const d = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'rsa') {
    if (d.modulusLength !== 3072) throw new OtaflashError('KEY_UNSUPPORTED', `RSA key has ${d.modulusLength} bits; Secure Boot V2 supports only RSA-3072`, { bits: d.modulusLength });
    const jwk = key.export({ format: 'jwk' });
    const n = new Uint8Array(Buffer.from(jwk.n!, 'base64url'));
    const e = Number(toBigInt(new Uint8Array(Buffer.from(jwk.e!, 'base64url'))));
    return { kind: 'rsa', key: rsaBlockKey(n, e), type: 'rsa3072' };
  }
  if (key.asymmetricKeyType === 'ec') {
    const curve = NAMED_CURVES[d.namedCurve ?? ''];
    if (!curve) throw new OtaflashError('KEY_UNSUPPORTED', `ECDSA curve ${d.namedCurve} is not a Secure Boot curve (P-192, P-256, P-384)`, { curve: d.namedCurve });
    const spki = key.export({ format: 'der', type: 'spki' });
    const len = CURVE_BYTES[curve];
    // SPKI ends with the uncompressed point 04 || X || Y.
    const point = spki.subarray(spki.length - 2 * len);
    const type = curve === 'P-192' ? 'ecdsa192' : curve === 'P-256' ? 'ecdsa256' : 'ecdsa384';
    return { kind: 'ecdsa', curve, x: new Uint8Array(point.subarray(0, len)), y: new Uint8Array(point.subarray(len)), type };
  }
  throw new OtaflashError('KEY_UNSUPPORTED', `${key.asymmetricKeyType} keys are not Secure Boot keys (RSA-3072 or ECDSA)`);
}

/** The key digest eFuse holds: SHA-256 of the block's key fields. */
export function secureBootKeyDigest(key: SecureBootPublicKey, hashes: HashProvider = nodeHashes): Uint8Array {
  return keyDigestOfFields(encodeKeyFields(key.kind === 'rsa' ? key.key : { kind: 'ecdsa', curve: key.curve, x: key.x, y: key.y }), hashes);
}

/** A new private key in PKCS#8 PEM (tests, demos). */
export function generateSecureBootKey(type: SecureBootKeyType): string {
  const opts = { privateKeyEncoding: { type: 'pkcs8' as const, format: 'pem' as const }, publicKeyEncoding: { type: 'spki' as const, format: 'pem' as const } };
  if (type === 'rsa3072') return crypto.generateKeyPairSync('rsa', { modulusLength: 3072, publicExponent: 65537, ...opts }).privateKey as unknown as string;
  const namedCurve = type === 'ecdsa192' ? 'prime192v1' : type === 'ecdsa256' ? 'prime256v1' : type === 'ecdsa384' ? 'secp384r1' : '';
  if (!namedCurve) throw new OtaflashError('KEY_UNSUPPORTED', `key type ${JSON.stringify(type)} must be rsa3072, ecdsa192, ecdsa256 or ecdsa384`);
  return crypto.generateKeyPairSync('ec', { namedCurve, ...opts }).privateKey as unknown as string;
}

/** A signer from a PEM private key, or the signer itself. */
export function toSigner(key: string | Uint8Array | Signer): Signer {
  if (isSigner(key)) return key;
  return pemSigner(key, secureBootPublicKey(key), 'PEM private key');
}

/**
 * Asks `signer` for a signature over `signed` (whose digest is `digest`) and checks it against the
 * signer's public key before anything is built from it: an external signer that answers with the
 * wrong key, a garbled signature or another digest's is a SIGN_BAD_SIGNATURE error.
 */
function signChecked(signer: Signer, signed: Uint8Array, digest: Uint8Array): Uint8Array {
  const pub = signer.publicKey;
  const sig = normaliseSignature(signer.sign(digest, signed), pub, signer.description);
  const message = { bytes: signed, digest: () => digest };
  const ok = pub.kind === 'rsa'
    ? checkVerifier.rsaPss(pub.key.n, pub.key.e, sig, message)
    : checkVerifier.ecdsa(pub.curve, pub.x, pub.y, sig.subarray(0, sig.length / 2), sig.subarray(sig.length / 2), message);
  if (!ok) {
    throw new OtaflashError('SIGN_BAD_SIGNATURE', `${signer.description} returned a signature that does not verify with its public key (${pub.type}, key digest ${Buffer.from(secureBootKeyDigest(pub)).toString('hex')}): wrong key, wrong digest or a garbled answer; nothing written`, { signer: signer.description });
  }
  return sig;
}

const checkVerifier = createNodeSignatureVerifier(nodeHashes);

/**
 * One V2 block for `signed` (the padded image, or any payload) with a private key (PEM) or a signer.
 * The signature is verified with the signer's public key before the block is made.
 */
export function signBlock(signed: Uint8Array, key: string | Uint8Array | Signer, hashes: HashProvider = nodeHashes): Uint8Array {
  const signer = toSigner(key);
  const pub = signer.publicKey;
  const digest = pub.kind === 'ecdsa' && pub.curve === 'P-384' ? new Uint8Array(crypto.createHash('sha384').update(signed).digest()) : hashes.sha256().update(signed).digest();
  const sig = signChecked(signer, signed, digest);
  if (pub.kind === 'rsa') return encodeSignatureBlock({ kind: 'rsa', key: pub.key, signature: sig }, digest, hashes);
  const len = CURVE_BYTES[pub.curve];
  return encodeSignatureBlock({ kind: 'ecdsa', curve: pub.curve, x: pub.x, y: pub.y, r: sig.subarray(0, len), s: sig.subarray(len) }, digest, hashes);
}

export interface SignImageOptions {
  /** Private keys (PEM) or signers, one block each, in order. */
  readonly keys: readonly (string | Uint8Array | Signer)[];
  /** Keep the blocks of the file's last sector and add after them (espsecure --append-signatures). */
  readonly append?: boolean;
  readonly hashes?: HashProvider;
}

function sectorBlocks(sector: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < SB2_MAX_BLOCKS; i++) {
    const b = sector.subarray(i * SB2_BLOCK_SIZE, (i + 1) * SB2_BLOCK_SIZE);
    if (b[0] !== SB2_MAGIC) break;
    out.push(b);
  }
  return out;
}

/**
 * Secure Boot V2 signing as `espsecure sign-data --version 2`: pad with 0xFF to 4 KiB, sign the padded
 * bytes, add a sector. With `append`, a file whose length is a multiple of 4096 keeps the blocks of
 * its last sector byte for byte and gets the new ones after them (the signed range stays the same).
 */
export function signImageV2(image: Uint8Array, opts: SignImageOptions): Uint8Array {
  const hashes = opts.hashes ?? nodeHashes;
  if (opts.keys.length === 0) throw new OtaflashError('SIGN_NO_KEY', 'signing needs at least one key');
  let signed: Uint8Array;
  let kept: Uint8Array[] = [];
  if (opts.append && image.length % SB2_SECTOR_SIZE === 0 && image.length >= SB2_SECTOR_SIZE) {
    signed = image.subarray(0, image.length - SB2_SECTOR_SIZE);
    kept = sectorBlocks(image.subarray(image.length - SB2_SECTOR_SIZE));
  } else {
    signed = new Uint8Array(signatureSectorOffset(image.length)).fill(0xff);
    signed.set(image);
  }
  if (kept.length + opts.keys.length > SB2_MAX_BLOCKS) {
    throw new OtaflashError('SIGN_TOO_MANY_BLOCKS', `${kept.length} block(s) already signed and ${opts.keys.length} key(s) given: a sector holds up to ${SB2_MAX_BLOCKS} blocks (ESP32 and ESP32-C2 read only the first)`, { kept: kept.length, keys: opts.keys.length });
  }
  const blocks = kept.concat(opts.keys.map((k) => signBlock(signed, k, hashes)));
  const out = new Uint8Array(signed.length + SB2_SECTOR_SIZE);
  out.set(signed);
  out.set(encodeSignatureSector(blocks), signed.length);
  return out;
}

export const V1_SIGNATURE_SIZE = SB1_BLOCK_SIZE;

/**
 * Secure Boot V1 (ESP32): ECDSA P-256 over SHA-256 of the image, r and s big-endian, appended after a
 * zero version word. With a PEM key the nonce is RFC 6979's, as espsecure's (python-ecdsa
 * sign_deterministic), so the 68 bytes equal espsecure's for the same key and image. A signer (HSM,
 * command) signs however it does; its signature is verified before it is written.
 */
export function signImageV1(image: Uint8Array, key: string | Uint8Array | Signer): Uint8Array {
  const pub = isSigner(key) ? key.publicKey : secureBootPublicKey(key);
  if (pub.kind !== 'ecdsa' || pub.curve !== 'P-256') throw new OtaflashError('KEY_UNSUPPORTED', 'Secure Boot V1 signs only with an ECDSA P-256 key');
  const digest = new Uint8Array(crypto.createHash('sha256').update(image).digest());
  let sig: Uint8Array;
  if (isSigner(key)) {
    sig = signChecked(key, image, digest);
  } else {
    const d = privateKey(key).export({ format: 'jwk' }).d;
    const rs = signDeterministic(P256, bytesToBigInt(new Uint8Array(Buffer.from(d!, 'base64url'))), digest);
    sig = new Uint8Array(64);
    sig.set(rs.r);
    sig.set(rs.s, 32);
  }
  const out = new Uint8Array(image.length + SB1_BLOCK_SIZE);
  out.set(image);
  out.set(encodeSignatureV1(sig.subarray(0, 32), sig.subarray(32)), image.length);
  return out;
}

function privateKey(pem: string | Uint8Array): crypto.KeyObject {
  try {
    return crypto.createPrivateKey(typeof pem === 'string' ? pem : Buffer.from(pem));
  } catch (e) {
    throw new OtaflashError('KEY_BAD_FORMAT', `not a PEM private key: ${(e as Error).message}`);
  }
}

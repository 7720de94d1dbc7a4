// Secure Boot signature verification with ESP-IDF's app-side rules
// (esp_secure_boot_verify_sbv2_signature_block): each slot stands alone; a slot is skipped when its
// frame (magic, CRC), scheme, curve or key digest is wrong; the image is accepted when one block from
// a trusted key verifies with the key embedded in it. The stored image digest is reported, not required.
import { OtaflashError, hex, kindOf } from '../errors';
import type { BlockDevice } from '../flash/types';
import { defaultHashes } from '../hash/portable';
import type { HashProvider, IncrementalHash } from '../hash/types';
import { inspectImage, verifyImageOnDevice } from './app-image-verify';
import { looksLikeExtendedHeader } from './app-image-header';
import { chipName, CHIP_IDS } from './chips';
import {
  CURVE_IDS,
  SB1_BLOCK_SIZE,
  SB2_BLOCK_SIZE,
  SB2_MAGIC,
  SB2_SECTOR_SIZE,
  SB2_VERSION_ECDSA,
  SB2_VERSION_RSA,
  decodeSignatureSector,
  decodeSignatureV1,
  keyDigestOfFields,
  signatureSectorOffset,
  type EcdsaCurve,
  type SignatureBlockV2,
  type SignatureHash,
} from './secure-boot-signature';

/** The bytes a signature covers, hashed on demand (once per hash) or handed over whole. */
export interface SignedMessage {
  /** The signed range itself, when it is in memory (lets node:crypto hash and verify in one call). */
  readonly bytes?: Uint8Array;
  digest(hash: SignatureHash): Uint8Array;
}

/** The public-key operations, behind one interface: portable limb arithmetic, or node:crypto. */
export interface SignatureVerifier {
  readonly name: string;
  /** RSA-PSS (MGF1-SHA-256, salt 32) over the SHA-256 of the message; numbers big-endian. */
  rsaPss(n: Uint8Array, e: number, signature: Uint8Array, message: SignedMessage): boolean;
  /**
   * ECDSA over SHA-256 (P-192, P-256) or SHA-384 (P-384) of the message; numbers big-endian. Throws
   * OtaflashError SIGNATURE_UNSUPPORTED when this verifier cannot check that curve.
   */
  ecdsa(curve: EcdsaCurve, x: Uint8Array, y: Uint8Array, r: Uint8Array, s: Uint8Array, message: SignedMessage): boolean;
}

export type SignatureScheme = 'rsa' | 'ecdsa';

/** What one chip's ROM and ESP-IDF allow (soc_caps.h, Kconfig.projbuild). */
export interface ChipSignatureLimits {
  readonly blocks: number;
  readonly rsa: boolean;
  readonly curves: readonly EcdsaCurve[];
  /** Bytes of the key digest eFuse keeps (ESP32-C2: 16). */
  readonly digestBytes: number;
}

const ALL_CURVES: readonly EcdsaCurve[] = ['P-192', 'P-256', 'P-384'];

/**
 * Per chip. P-192 on ESP32-C2 is kept because ESP-IDF 5.x and espsecure still accept it (IDF removed
 * it in v6.1). ESP32 V2 means revision 3.0 or later.
 */
const CHIP_LIMITS: Readonly<Record<string, ChipSignatureLimits>> = {
  esp32: { blocks: 1, rsa: true, curves: [], digestBytes: 32 },
  esp32s2: { blocks: 3, rsa: true, curves: [], digestBytes: 32 },
  esp32s3: { blocks: 3, rsa: true, curves: [], digestBytes: 32 },
  esp32c3: { blocks: 3, rsa: true, curves: [], digestBytes: 32 },
  esp32c2: { blocks: 1, rsa: false, curves: ['P-192', 'P-256'], digestBytes: 16 },
  esp32c6: { blocks: 3, rsa: true, curves: ['P-256'], digestBytes: 32 },
  esp32h2: { blocks: 3, rsa: true, curves: ['P-256'], digestBytes: 32 },
  esp32c5: { blocks: 3, rsa: true, curves: ['P-256', 'P-384'], digestBytes: 32 },
  esp32p4: { blocks: 3, rsa: true, curves: ['P-256', 'P-384'], digestBytes: 32 },
  esp32c61: { blocks: 3, rsa: false, curves: ['P-256'], digestBytes: 32 },
};

/** Limits for a chip id, or undefined when otaflash does not know its Secure Boot (then none apply). */
export function chipSignatureLimits(chipId: number): ChipSignatureLimits | undefined {
  for (const key in CHIP_LIMITS) if (CHIP_IDS[key] === chipId) return CHIP_LIMITS[key];
  return undefined;
}

export interface SignatureTrust {
  /**
   * Trusted key digests as eFuse holds them: 32 bytes, or the first 16 (ESP32-C2's 128-bit slot),
   * which match any key whose digest starts with them.
   */
  readonly keyDigests?: readonly Uint8Array[];
  /** Digests of revoked slots: never trusted, even when also listed in keyDigests. */
  readonly revokedDigests?: readonly Uint8Array[];
  /** Secure Boot V1 public keys (P-256 X and Y, big-endian), compiled into a V1 bootloader. */
  readonly v1Keys?: readonly { readonly x: Uint8Array; readonly y: Uint8Array }[];
}

export interface SignatureCheckOptions {
  readonly trust: SignatureTrust;
  readonly verifier: SignatureVerifier;
  readonly hashes?: HashProvider;
  /** Chip id whose limits apply (blocks read, schemes, curves); undefined: none (as espsecure). */
  readonly chip?: number;
  /** The project's scheme (a build signs with RSA or with ECDSA); undefined: any. */
  readonly scheme?: SignatureScheme;
  /** The project's ECDSA curve; undefined: any the chip allows. */
  readonly curve?: EcdsaCurve;
  /** Force V1 or V2; undefined: recognised from the bytes after the image. */
  readonly version?: 1 | 2;
  /** The parsed image length (ESP-IDF's image_len); undefined: parsed from the image. */
  readonly imageLength?: number;
  /**
   * SHA-384 for P-384 digests. Optional: the portable hashes have none (the only pure-JS SHA-384 at
   * hand needs BigInt), so without it a P-384 digest is reported unknown and only a verifier that
   * hashes the signed bytes itself (node:crypto) can check a P-384 block.
   */
  readonly sha384?: () => IncrementalHash;
}

export type BlockStatus = 'verified' | 'bad-frame' | 'truncated' | 'wrong-scheme' | 'wrong-curve' | 'not-allowed' | 'untrusted-key' | 'bad-signature' | 'unsupported' | 'not-checked';

export interface BlockCheck {
  readonly index: number;
  /** Offset of the block in the file. */
  readonly offset: number;
  readonly status: BlockStatus;
  /** Why, in words ('key digest not trusted', 'scheme 2, expected 3', ...). */
  readonly reason: string;
  readonly block: SignatureBlockV2 | null;
  /** SHA-256 of the block's key fields, when it has a valid frame and a known scheme. */
  readonly keyDigest: Uint8Array | null;
  /** Whether the digest stored in the block equals the image's (espsecure stops on a mismatch). */
  readonly storedDigestMatches: boolean | null;
}

export interface SignatureVerdict {
  readonly version: 1 | 2;
  readonly valid: boolean;
  /** The block that verified (V2), 0 for V1, null when none. */
  readonly verifiedBlock: number | null;
  /** ESP-IDF style summary: 'block 1 verifies with the trusted key' or the failures per block. */
  readonly reason: string;
  readonly imageLength: number;
  /** Where the V2 sector (or V1 trailer) was looked for. */
  readonly signatureOffset: number;
  readonly signedLength: number;
  readonly blocks: readonly BlockCheck[];
  readonly chip: number | undefined;
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A listed digest matches on its first `digestBytes` bytes (or fewer, when it is a 16-byte one). */
function digestListed(digest: Uint8Array, list: readonly Uint8Array[] | undefined, digestBytes: number): boolean {
  if (!list) return false;
  for (const d of list) {
    const k = Math.min(d.length, digestBytes);
    if (k > 0 && bytesEqual(digest.subarray(0, k), d.subarray(0, k))) return true;
  }
  return false;
}

/** Trusted when listed and not revoked; with `digestBytes` 16, only the first 16 bytes count (ESP32-C2). */
export function isTrustedDigest(digest: Uint8Array, trust: SignatureTrust, digestBytes = 32): boolean {
  return digestListed(digest, trust.keyDigests, digestBytes) && !digestListed(digest, trust.revokedDigests, digestBytes);
}

function checkOptions(opts: SignatureCheckOptions): void {
  if (opts === null || typeof opts !== 'object') throw new OtaflashError('SIGNATURE_BAD_ARGUMENT', `signature check options must be an object, got ${kindOf(opts)}`);
  if (!opts.trust || typeof opts.trust !== 'object') throw new OtaflashError('SIGNATURE_BAD_ARGUMENT', 'signature check needs `trust` (key digests or V1 keys)');
  const v = opts.verifier;
  if (!v || typeof v.rsaPss !== 'function' || typeof v.ecdsa !== 'function') throw new OtaflashError('SIGNATURE_BAD_ARGUMENT', 'signature check needs a `verifier` with rsaPss and ecdsa');
  for (const d of [...(opts.trust.keyDigests ?? []), ...(opts.trust.revokedDigests ?? [])]) {
    if (!(d instanceof Uint8Array) || (d.length !== 32 && d.length !== 16)) throw new OtaflashError('SIGNATURE_BAD_ARGUMENT', `a key digest must be 32 bytes (or 16 for ESP32-C2), got ${d instanceof Uint8Array ? d.length + ' bytes' : kindOf(d)}`);
  }
  if (opts.scheme !== undefined && opts.scheme !== 'rsa' && opts.scheme !== 'ecdsa') throw new OtaflashError('SIGNATURE_BAD_ARGUMENT', `scheme ${JSON.stringify(opts.scheme)} must be 'rsa' or 'ecdsa'`);
  if (opts.curve !== undefined && ALL_CURVES.indexOf(opts.curve) < 0) throw new OtaflashError('SIGNATURE_BAD_ARGUMENT', `curve ${JSON.stringify(opts.curve)} must be P-192, P-256 or P-384`);
}

/** Hashes `length` bytes through `read` once per hash and remembers the result. */
function cachedMessage(read: (hash: SignatureHash) => Uint8Array, bytes?: Uint8Array): SignedMessage {
  const memo: Partial<Record<SignatureHash, Uint8Array>> = {};
  return {
    bytes,
    digest(hash) {
      return memo[hash] || (memo[hash] = read(hash));
    },
  };
}

function hashFactory(hash: SignatureHash, hashes: HashProvider, sha384?: () => IncrementalHash): IncrementalHash {
  if (hash === 'sha256') return hashes.sha256();
  if (!sha384) throw new OtaflashError('SIGNATURE_UNSUPPORTED', 'no SHA-384 available for a P-384 digest (pass `sha384`)');
  return sha384();
}

export function messageFromBytes(signed: Uint8Array, hashes: HashProvider, sha384?: () => IncrementalHash): SignedMessage {
  return cachedMessage((hash) => hashFactory(hash, hashes, sha384).update(signed).digest(), signed);
}

/** The image length ESP-IDF's parser gives (image, checksum padding, appended SHA-256). */
/**
 * The image length from the segment headers alone (no checksum or hash pass): what the signature
 * check needs. Null when the bytes are not a well-formed ESP32-family image; the full parser then
 * gives the reason.
 */
function segmentWalkLength(bytes: Uint8Array): number | null {
  if (bytes.length < 24 || bytes[0] !== 0xe9) return null;
  const count = bytes[1];
  if (count > 16) return null;
  let pos = 24;
  for (let i = 0; i < count; i++) {
    if (pos + 8 > bytes.length) return null;
    const len = (bytes[pos + 4] | (bytes[pos + 5] << 8) | (bytes[pos + 6] << 16) | (bytes[pos + 7] << 24)) >>> 0;
    if (len >= 0x1000000 || (len & 3) !== 0) return null;
    pos += 8 + len;
  }
  const end = ((pos + 16) & ~15) + (bytes[23] !== 0 ? 32 : 0);
  return end <= bytes.length ? end : null;
}

function imageLengthOf(bytes: Uint8Array, hashes: HashProvider): number {
  // ESP8266 images (no extended header) have no Secure Boot; their length comes from the full parser.
  const fast = looksLikeExtendedHeader(bytes) ? segmentWalkLength(bytes) : null;
  if (fast !== null) return fast;
  // The length does not depend on the appended hash: skip that SHA-256 pass (the signed digest is
  // the only full hash a signature check needs).
  const noHash: IncrementalHash = { update: () => noHash, digest: () => new Uint8Array(32) };
  const r = inspectImage(bytes, { hashes: { sha256: () => noHash, md5: hashes.md5, crc32: hashes.crc32 } });
  if (!r.verdict) {
    throw new OtaflashError('SIGNATURE_NO_IMAGE', `cannot find the signature: the image does not parse (${r.error ? r.error.message : 'unknown reason'})`, { cause: r.error ? r.error.code : null });
  }
  return r.verdict.size;
}

/** Which Secure Boot the bytes after the image are: a 0xE7 block at the next 4 KiB boundary is V2. */
export function detectSignatureVersion(bytes: Uint8Array, imageLength: number): 1 | 2 {
  const sector = signatureSectorOffset(imageLength);
  if (sector < bytes.length && bytes[sector] === SB2_MAGIC) return 2;
  // V1 appends 68 bytes to the file as it is, with a version word of 0 (only the ESP32 has V1).
  const rest = bytes.length - imageLength;
  if (rest === SB1_BLOCK_SIZE || (rest >= SB1_BLOCK_SIZE && bytes[imageLength] === 0 && bytes[imageLength + 1] === 0 && bytes[imageLength + 2] === 0 && bytes[imageLength + 3] === 0)) return 1;
  return 2;
}

interface BlockPolicy {
  readonly scheme?: SignatureScheme;
  readonly curve?: EcdsaCurve;
  readonly limits?: ChipSignatureLimits;
  readonly chip?: number;
}

/** The checks one block goes through, in ESP-IDF's order; the verifier runs only for a trusted key. */
function checkBlock(block: SignatureBlockV2, offset: number, message: SignedMessage, opts: SignatureCheckOptions, policy: BlockPolicy, hashes: HashProvider): BlockCheck {
  // Results are built by one function rather than spread from a shared base: V8 spends about 4 us on
  // each object spread, as much as the rest of a block's checks.
  const result = (status: BlockStatus, reason: string, keyDigest: Uint8Array | null, storedDigest: boolean | null): BlockCheck => ({ index: block.index, offset, block, status, reason, keyDigest, storedDigestMatches: storedDigest });
  const storedDigestMatches = (): boolean | null => {
    try {
      return bytesEqual(block.imageDigest, message.digest(block.hash));
    } catch (e) {
      if (e instanceof OtaflashError && e.code === 'SIGNATURE_UNSUPPORTED') return null;
      throw e;
    }
  };
  if (block.magic !== SB2_MAGIC || !block.crcValid) return result('bad-frame', 'bad magic/CRC', null, null);
  const want = policy.scheme === 'rsa' ? SB2_VERSION_RSA : policy.scheme === 'ecdsa' ? SB2_VERSION_ECDSA : undefined;
  if (want !== undefined && block.version !== want) return result('wrong-scheme', `scheme ${block.version}, expected ${want}`, null, null);
  if (block.version !== SB2_VERSION_RSA && block.version !== SB2_VERSION_ECDSA) return result('wrong-scheme', `unknown scheme ${block.version}`, null, null);
  const key = block.key!;
  if (key.kind === 'ecdsa' && policy.curve !== undefined) {
    // ESP-IDF's block struct is laid out for the configured curve: a P-384 build reads the curve id
    // at byte 52 (after a 48-byte digest), any other at byte 36, whatever the block's own selector says.
    const seen = block.raw[policy.curve === 'P-384' ? 52 : 36];
    if (seen !== CURVE_IDS[policy.curve]) return result('wrong-curve', `curve id ${seen}, expected ${CURVE_IDS[policy.curve]}`, null, null);
  }
  if (key.kind === 'ecdsa' && key.curve === null) return result('wrong-curve', `unknown curve id ${key.curveId}`, null, null);
  // P-384 signs SHA-384: a block that says P-384 with the SHA-256 selector (or the reverse) is malformed.
  if (key.kind === 'ecdsa' && (key.curve === 'P-384') !== (block.hash === 'sha384')) {
    return result('wrong-curve', `curve id ${key.curveId} with hash selector ${block.hashSelector}`, null, null);
  }
  const lim = policy.limits;
  if (lim && (key.kind === 'rsa' ? !lim.rsa : lim.curves.indexOf(key.curve!) < 0)) {
    const what = key.kind === 'rsa' ? 'RSA-3072' : 'ECDSA ' + key.curve;
    return result('not-allowed', `${what} is not a Secure Boot scheme of ${chipName(policy.chip!)}`, null, null);
  }
  const keyDigest = keyDigestOfFields(block.keyFields!, hashes);
  if (!isTrustedDigest(keyDigest, opts.trust, lim ? lim.digestBytes : 32)) return result('untrusted-key', 'key digest not trusted', keyDigest, storedDigestMatches());
  let ok: boolean;
  try {
    ok = key.kind === 'rsa' ? opts.verifier.rsaPss(key.n, key.e, block.signature!, message) : opts.verifier.ecdsa(key.curve!, key.x, key.y, block.r!, block.s!, message);
  } catch (e) {
    if (e instanceof OtaflashError && e.code === 'SIGNATURE_UNSUPPORTED') return result('unsupported', e.message, keyDigest, storedDigestMatches());
    throw e;
  }
  return result(ok ? 'verified' : 'bad-signature', ok ? 'verifies with the trusted key' : 'signature does not verify over the image digest', keyDigest, storedDigestMatches());
}

function policyOf(opts: SignatureCheckOptions): BlockPolicy {
  const limits = opts.chip !== undefined ? chipSignatureLimits(opts.chip) : undefined;
  return { scheme: opts.scheme, curve: opts.curve, limits, chip: opts.chip };
}

/**
 * Checks a V2 sector (the bytes from the sector offset on, possibly fewer than 4096) against the
 * signed message. Every slot the chip reads is reported.
 */
export function checkSignatureSector(sector: Uint8Array, sectorOffset: number, imageLength: number, message: SignedMessage, opts: SignatureCheckOptions): SignatureVerdict {
  checkOptions(opts);
  const hashes = opts.hashes ?? defaultHashes();
  const policy = policyOf(opts);
  const verdict = (valid: boolean, verifiedBlock: number | null, reason: string, blocks: BlockCheck[]): SignatureVerdict => ({ version: 2, imageLength, signatureOffset: sectorOffset, signedLength: sectorOffset, chip: opts.chip, valid, verifiedBlock, reason, blocks });
  if (sector.length < SB2_BLOCK_SIZE) {
    return verdict(false, null, `no room for a signature block after the padded image (offset ${hex(sectorOffset)})`, []);
  }
  const slots = decodeSignatureSector(sector, hashes, policy.limits ? policy.limits.blocks : 3);
  const blocks: BlockCheck[] = [];
  let verified: number | null = null;
  for (const slot of slots) {
    const offset = sectorOffset + slot.index * SB2_BLOCK_SIZE;
    if (verified !== null) {
      blocks.push({ index: slot.index, offset, status: 'not-checked', reason: 'not checked (an earlier block verified)', block: slot.block, keyDigest: null, storedDigestMatches: null });
      continue;
    }
    if (!slot.block) {
      const truncated = slot.missing === 'truncated';
      blocks.push({ index: slot.index, offset, status: truncated ? 'truncated' : 'bad-frame', reason: truncated ? 'truncated' : 'bad magic/CRC', block: null, keyDigest: null, storedDigestMatches: null });
      continue;
    }
    const c = checkBlock(slot.block, offset, message, opts, policy, hashes);
    blocks.push(c);
    if (c.status === 'verified') verified = slot.index;
  }
  const reason = verified !== null ? `block ${verified} verifies with the trusted key` : blocks.map((b) => `block ${b.index}: ${b.reason}`).join('; ');
  return verdict(verified !== null, verified, reason, blocks);
}

function checkV1(bytes: Uint8Array, imageLength: number, opts: SignatureCheckOptions, hashes: HashProvider): SignatureVerdict {
  const base = { version: 1 as const, imageLength, signatureOffset: imageLength, signedLength: imageLength, chip: opts.chip, blocks: [] as BlockCheck[] };
  if (opts.chip !== undefined && opts.chip !== CHIP_IDS.esp32) return { ...base, valid: false, verifiedBlock: null, reason: `Secure Boot V1 exists only on the ESP32, not on ${chipName(opts.chip)}` };
  if (imageLength + SB1_BLOCK_SIZE > bytes.length) return { ...base, valid: false, verifiedBlock: null, reason: `no room for the ${SB1_BLOCK_SIZE}-byte V1 signature after the image (offset ${hex(imageLength)})` };
  const sig = decodeSignatureV1(bytes, imageLength);
  if (sig.versionWord !== 0) return { ...base, valid: false, verifiedBlock: null, reason: `V1 signature version word is ${sig.versionWord}, expected 0` };
  const keys = opts.trust.v1Keys ?? [];
  if (keys.length === 0) return { ...base, valid: false, verifiedBlock: null, reason: 'no trusted V1 public key given' };
  const message = messageFromBytes(bytes.subarray(0, imageLength), hashes, opts.sha384);
  for (const k of keys) {
    if (opts.verifier.ecdsa('P-256', k.x, k.y, sig.r, sig.s, message)) return { ...base, valid: true, verifiedBlock: 0, reason: 'V1 signature verifies with a trusted key' };
  }
  return { ...base, valid: false, verifiedBlock: null, reason: 'V1 signature does not verify with any trusted key' };
}

/**
 * Verifies the Secure Boot signature of an image held in memory, as ESP-IDF's app-side check does:
 * the sector is found from the parsed image length (bytes after the sector are ignored).
 */
export function verifyImageSignature(bytes: Uint8Array, opts: SignatureCheckOptions): SignatureVerdict {
  checkOptions(opts);
  if (!(bytes instanceof Uint8Array)) throw new OtaflashError('SIGNATURE_BAD_ARGUMENT', `image must be a Uint8Array, got ${kindOf(bytes)}`);
  const hashes = opts.hashes ?? defaultHashes();
  const imageLength = opts.imageLength ?? imageLengthOf(bytes, hashes);
  const version = opts.version ?? detectSignatureVersion(bytes, imageLength);
  if (version === 1) return checkV1(bytes, imageLength, opts, hashes);
  const at = signatureSectorOffset(imageLength);
  const signed = bytes.subarray(0, Math.min(at, bytes.length));
  const sector = at < bytes.length ? bytes.subarray(at, Math.min(bytes.length, at + SB2_SECTOR_SIZE)) : new Uint8Array(0);
  // Missing padding bytes mean a truncated file: nothing can verify, and hashing less would lie.
  if (signed.length < at) return checkSignatureSector(new Uint8Array(0), at, imageLength, messageFromBytes(signed, hashes, opts.sha384), opts);
  return checkSignatureSector(sector, at, imageLength, messageFromBytes(signed, hashes, opts.sha384), opts);
}

/**
 * Verifies the image stored from offset 0 of `device` (a partition region) without holding it: the
 * image is parsed, the sector read, and the signed range hashed in chunks when a block needs it.
 * Secure Boot V2 only (V1 exists on the ESP32 alone and its apps are checked by the bootloader).
 */
export function verifyDeviceImageSignature(device: BlockDevice, opts: SignatureCheckOptions & { chunkSize?: number }): SignatureVerdict {
  checkOptions(opts);
  const hashes = opts.hashes ?? defaultHashes();
  const imageLength = opts.imageLength ?? verifyImageOnDevice(device, { hashes }).size;
  const at = signatureSectorOffset(imageLength);
  const have = Math.max(0, Math.min(SB2_SECTOR_SIZE, device.size - at));
  const sector = new Uint8Array(have);
  if (have > 0) device.read(at, sector);
  const chunk = new Uint8Array(opts.chunkSize ?? 16384);
  const message = cachedMessage((hash) => {
    const h = hashFactory(hash, hashes, opts.sha384);
    for (let off = 0; off < at; off += chunk.length) {
      const view = chunk.subarray(0, Math.min(chunk.length, at - off));
      device.read(off, view);
      h.update(view);
    }
    return h.digest();
  });
  return checkSignatureSector(sector, at, imageLength, message, opts);
}

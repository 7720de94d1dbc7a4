// Streaming verification of an ESP app image: fed in chunks of any size, constant state, one pass.
// The checks follow esp_image_verify (app context): magic, chip, segment count and lengths,
// checksum, fit in the partition, appended SHA-256.
import { OtaflashError, hex, kindOf } from '../errors';
import { isBlockDevice } from '../flash/checks';
import type { BlockDevice } from '../flash/types';
import { defaultHashes } from '../hash/portable';
import type { HashProvider, IncrementalHash } from '../hash/types';
import { decodeAppDescription, decodeBootloaderDescription } from './app-image-desc';
import { chipRevisionName as revName, decodeImageHeader, looksLikeExtendedHeader } from './app-image-header';
import { parseSignatureBlocks } from './app-image-signature';
import {
  APP_DESC_SIZE,
  CHECKSUM_SEED,
  ESP8266_HEADER_SIZE,
  IMAGE_HEADER_SIZE,
  IMAGE_MAGIC,
  IMAGE_MAX_SEGMENTS,
  MAX_SEGMENT_LENGTH,
  SEGMENT_HEADER_SIZE,
  SIGNATURE_BLOCK_MAGIC,
  SIGNATURE_BLOCK_SIZE,
  SIGNATURE_MAX_BLOCKS,
  SIGNATURE_SECTOR_SIZE,
  type AppDescription,
  type ImageHeader,
  type ImageReport,
  type ImageSegment,
  type ImageVerdict,
  type ImageVerifier,
  type ImageVerifierOptions,
  type SignatureBlock,
} from './app-image-types';
import { ESP8266_CHIP, chipFlashMapping, chipName, firstMisalignedSegment, mappingPageSize } from './chips';
import { u32 } from './bytes';

// Where the reader is. Plain numbers: const enums do not survive isolatedModules.
const AT_HEADER = 0;
const AT_SEGMENT_HEADER = 1;
const AT_SEGMENT_DATA = 2;
const AT_PADDING = 3;
const AT_HASH = 4;
const AT_TRAILER = 5;

const SIGNATURE_SPAN = SIGNATURE_BLOCK_SIZE * SIGNATURE_MAX_BLOCKS;
/** Bytes checksummed then hashed together; small enough to stay in L2 between the two passes. */
const CACHE_PIECE = 65536;

/**
 * XOR of data[start, end) folded into a 32-bit accumulator. Byte positions do not matter for the
 * final one-byte checksum, so the word loop aligns on memory addresses, not on image offsets.
 */
export function xorInto(acc: number, data: Uint8Array, start: number, end: number): number {
  let i = start;
  const head = (4 - ((data.byteOffset + i) & 3)) & 3;
  const headEnd = Math.min(end, i + head);
  for (; i < headEnd; i++) acc ^= data[i];
  const words = (end - i) >> 2;
  if (words >= 8) {
    const w = new Int32Array(data.buffer, data.byteOffset + i, words);
    let a = 0;
    let b = 0;
    let c = 0;
    let d = 0;
    let k = 0;
    const n4 = words & ~3;
    for (; k < n4; k += 4) {
      a ^= w[k];
      b ^= w[k + 1];
      c ^= w[k + 2];
      d ^= w[k + 3];
    }
    for (; k < words; k++) a ^= w[k];
    acc ^= a ^ b ^ c ^ d;
    i += words << 2;
  }
  for (; i < end; i++) acc ^= data[i];
  return acc;
}

/** A checksum kernel: XOR of data[start, end) folded into a 32-bit accumulator (see xorInto). */
export type ChecksumXor = (acc: number, data: Uint8Array, start: number, end: number) => number;

let defaultXor: ChecksumXor = xorInto;

/**
 * Installs a faster checksum kernel for verifiers created afterwards without an `xor` option
 * (otaflash/node installs a WebAssembly SIMD one); null restores the portable xorInto.
 */
export function setChecksumXor(fn: ChecksumXor | null): void {
  defaultXor = fn ?? xorInto;
}

function foldXor(acc: number): number {
  return (acc ^ (acc >>> 8) ^ (acc >>> 16) ^ (acc >>> 24)) & 0xff;
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Plain-JS callers can pass anything: options are checked before any field is read. */
function checkVerifierOptions(opts: ImageVerifierOptions): void {
  if (opts === null || typeof opts !== 'object') throw new OtaflashError('IMAGE_BAD_ARGUMENT', `image verifier options must be an object, got ${kindOf(opts)}`);
  const chip = opts.expectedChip;
  // A chip name would otherwise never equal the header's id and be reported as IMAGE_CHIP_MISMATCH.
  if (chip !== undefined && !(typeof chip === 'number' && chip % 1 === 0 && chip >= -1 && chip <= 0xffff)) {
    throw new OtaflashError('IMAGE_BAD_ARGUMENT', `expectedChip ${JSON.stringify(chip)} must be a chip id number such as CHIP_IDS.esp32`);
  }
  const rev = opts.chipRevision;
  if (rev !== undefined && !(typeof rev === 'number' && rev % 1 === 0 && rev >= 0)) {
    throw new OtaflashError('IMAGE_BAD_ARGUMENT', `chipRevision ${JSON.stringify(rev)} must be a number (major * 100 + minor)`);
  }
  const max = opts.maxSize;
  if (max !== undefined && !(typeof max === 'number' && max >= 0)) {
    throw new OtaflashError('IMAGE_BAD_ARGUMENT', `maxSize ${JSON.stringify(max)} must be a number of bytes`);
  }
  if (opts.xor !== undefined && typeof opts.xor !== 'function') throw new OtaflashError('IMAGE_BAD_ARGUMENT', `xor must be a function, got ${typeof opts.xor}`);
  const at = opts.flashOffset;
  if (at !== undefined && !(typeof at === 'number' && at >= 0 && at <= 0xffffffff && at === Math.floor(at))) {
    throw new OtaflashError('IMAGE_BAD_ARGUMENT', `flashOffset ${String(at)} is not a flash address (a whole number from 0 to 0xffffffff)`);
  }
}

class StreamingImageVerifier implements ImageVerifier {
  private readonly hashes: HashProvider;
  private readonly expectedChip: number | undefined;
  private readonly maxSize: number;
  private readonly requireHash: boolean;
  private readonly chipRevision: number | undefined;
  private readonly xorFn: ChecksumXor;
  private readonly flashOffset: number;

  private pos = 0;
  private state = AT_HEADER;
  private error: OtaflashError | null = null;
  /** Header (24 bytes), segment header (8) or stored hash (32) being collected. */
  private readonly small = new Uint8Array(32);
  private smallLen = 0;

  private header: ImageHeader | null = null;
  private readonly segments: ImageSegment[] = [];
  private segmentRemaining = 0;
  private xor = 0;

  /** The first 256 bytes of segment 0's data: where esp_app_desc_t / esp_bootloader_desc_t live. */
  private descBuf: Uint8Array | null = null;
  private descLen = 0;
  private descOpen = false;

  private checksumOffset = -1;
  private checksumStored = -1;
  private end = -1;

  /** The header says a SHA-256 is appended (byte 23). */
  private appended = false;
  /** Compute the SHA-256 (false: structure and checksum only, see createStructureVerifier). */
  private readonly hashing: boolean;
  private sha: IncrementalHash | null = null;
  private hashEnd = -1;
  private hashedTo = 0;
  private digest: Uint8Array | null = null;

  private signatureOffset = -1;
  private sigBuf: Uint8Array | null = null;
  private sigLen = 0;
  private sigDone = false;

  constructor(opts: ImageVerifierOptions, hashing: boolean) {
    checkVerifierOptions(opts);
    this.hashing = hashing;
    this.hashes = opts.hashes ?? defaultHashes();
    this.expectedChip = opts.expectedChip;
    this.maxSize = opts.maxSize ?? Infinity;
    this.requireHash = opts.requireHash ?? false;
    this.chipRevision = opts.chipRevision;
    this.xorFn = opts.xor ?? defaultXor;
    this.flashOffset = opts.flashOffset ?? 0;
  }

  get bytesRead(): number {
    return this.pos;
  }

  get imageSize(): number | null {
    return this.end >= 0 ? this.end : null;
  }

  get complete(): boolean {
    return this.state === AT_TRAILER && this.sigDone;
  }

  update(chunk: Uint8Array): void {
    if (this.error) throw this.error;
    if (!(chunk instanceof Uint8Array)) throw new OtaflashError('IMAGE_BAD_ARGUMENT', `image chunk must be a Uint8Array, got ${chunk === null ? 'null' : typeof chunk}`);
    // Large chunks go through in pieces, so the checksum pass leaves each piece in cache for the hash.
    if (chunk.length > CACHE_PIECE) {
      for (let at = 0; at < chunk.length; at += CACHE_PIECE) this.updatePiece(chunk.subarray(at, at + CACHE_PIECE));
    } else {
      this.updatePiece(chunk);
    }
  }

  private updatePiece(chunk: Uint8Array): void {
    try {
      const base = this.pos;
      this.consume(chunk, 0, chunk.length);
      if (this.sha && this.digest === null) {
        const stop = this.hashEnd >= 0 && this.hashEnd < this.pos ? this.hashEnd : this.pos;
        if (stop > this.hashedTo) {
          this.sha.update(chunk.subarray(this.hashedTo - base, stop - base));
          this.hashedTo = stop;
        }
        if (this.hashedTo === this.hashEnd) this.digest = this.sha.digest();
      }
    } catch (e) {
      if (e instanceof OtaflashError) this.error = e;
      throw e;
    }
  }

  private fail(code: string, message: string, offset: number): never {
    throw new OtaflashError(code, message, { offset });
  }

  private consume(chunk: Uint8Array, from: number, to: number): void {
    let i = from;
    while (i < to) {
      switch (this.state) {
        case AT_HEADER: {
          // The magic byte alone first, so a non-image is refused at byte 0 whatever the chunking.
          const take = this.smallLen === 0 ? 1 : Math.min(to - i, IMAGE_HEADER_SIZE - this.smallLen);
          this.small.set(chunk.subarray(i, i + take), this.smallLen);
          this.smallLen += take;
          i += take;
          this.pos += take;
          if (this.small[0] !== IMAGE_MAGIC) {
            this.fail('IMAGE_BAD_MAGIC', `not an ESP image: byte 0 is ${hex(this.small[0])}, expected 0xe9`, 0);
          }
          if (this.smallLen === IMAGE_HEADER_SIZE) {
            const replay = this.startImage();
            // An ESP8266 header is 8 bytes: the 16 bytes after it were already segment data.
            if (replay) this.consume(replay, 0, replay.length);
          }
          break;
        }
        case AT_SEGMENT_HEADER: {
          const take = Math.min(to - i, SEGMENT_HEADER_SIZE - this.smallLen);
          this.small.set(chunk.subarray(i, i + take), this.smallLen);
          this.smallLen += take;
          i += take;
          this.pos += take;
          if (this.smallLen === SEGMENT_HEADER_SIZE) this.startSegment();
          break;
        }
        case AT_SEGMENT_DATA: {
          const take = Math.min(to - i, this.segmentRemaining);
          this.xor = this.xorFn(this.xor, chunk, i, i + take);
          if (this.descOpen && this.descLen < APP_DESC_SIZE) {
            if (!this.descBuf) this.descBuf = new Uint8Array(APP_DESC_SIZE);
            const d = Math.min(take, APP_DESC_SIZE - this.descLen);
            this.descBuf.set(chunk.subarray(i, i + d), this.descLen);
            this.descLen += d;
          }
          i += take;
          this.pos += take;
          this.segmentRemaining -= take;
          if (this.segmentRemaining === 0) this.nextSegment();
          break;
        }
        case AT_PADDING: {
          // Padding bytes are not checked (the loader does not), only hashed.
          const take = Math.min(to - i, this.checksumOffset - this.pos);
          i += take;
          this.pos += take;
          if (i < to && this.pos === this.checksumOffset) {
            this.checksumStored = chunk[i];
            i++;
            this.pos++;
            this.smallLen = 0;
            this.state = this.hashEnd >= 0 ? AT_HASH : AT_TRAILER;
          }
          break;
        }
        case AT_HASH: {
          const take = Math.min(to - i, 32 - this.smallLen);
          this.small.set(chunk.subarray(i, i + take), this.smallLen);
          this.smallLen += take;
          i += take;
          this.pos += take;
          if (this.smallLen === 32) this.state = AT_TRAILER;
          break;
        }
        default: {
          i = this.trailer(chunk, i, to);
        }
      }
    }
    if (this.state === AT_TRAILER && !this.sigDone && (this.signatureOffset < 0 || this.signatureOffset + SIGNATURE_SPAN > this.maxSize)) {
      this.sigDone = true;
    }
  }

  /** Bytes after the image: only a Secure Boot v2 sector at the next 4 KiB boundary is of interest. */
  private trailer(chunk: Uint8Array, i: number, to: number): number {
    if (this.sigDone) {
      this.pos += to - i;
      return to;
    }
    if (this.pos < this.signatureOffset) {
      const skip = Math.min(to - i, this.signatureOffset - this.pos);
      this.pos += skip;
      return i + skip;
    }
    if (this.sigLen === 0 && chunk[i] !== SIGNATURE_BLOCK_MAGIC) {
      this.sigDone = true;
      return i;
    }
    if (!this.sigBuf) this.sigBuf = new Uint8Array(SIGNATURE_SPAN);
    const take = Math.min(to - i, SIGNATURE_SPAN - this.sigLen);
    this.sigBuf.set(chunk.subarray(i, i + take), this.sigLen);
    this.sigLen += take;
    this.pos += take;
    if (this.sigLen === SIGNATURE_SPAN) this.sigDone = true;
    return i + take;
  }

  /** Header complete: decide the layout, check it. Returns bytes to re-read as segment data (ESP8266). */
  private startImage(): Uint8Array | null {
    const want = this.expectedChip;
    const esp8266 = want === ESP8266_CHIP || (want === undefined && !looksLikeExtendedHeader(this.small));
    const h = decodeImageHeader(this.small, esp8266 ? 'esp8266' : 'esp32');
    this.header = h;
    if (want !== undefined && h.chipId !== want) {
      this.fail('IMAGE_CHIP_MISMATCH', `image is for ${chipName(h.chipId)} (chip id ${h.chipId} at byte 12), expected ${chipName(want)}`, 12);
    }
    const rev = this.chipRevision;
    if (rev !== undefined && h.format === 'esp32') {
      const max = h.maxChipRevFull;
      if (rev < h.minChipRevFull || (max !== 0 && max !== 0xffff && rev > max)) {
        this.fail('IMAGE_CHIP_REVISION', `image needs chip revision ${revName(h.minChipRevFull)}${max !== 0 && max !== 0xffff ? ` to ${revName(max)}` : ' or newer'} (header bytes 15..18); this chip is ${revName(rev)}`, 15);
      }
    }
    if (h.segmentCount > IMAGE_MAX_SEGMENTS) {
      this.fail('IMAGE_TOO_MANY_SEGMENTS', `image header (byte 1) declares ${h.segmentCount} segments; at most ${IMAGE_MAX_SEGMENTS} are allowed`, 1);
    }
    if (h.hashAppendedByte !== 0) {
      this.appended = true;
      if (this.hashing) {
        this.sha = this.hashes.sha256();
        this.sha.update(this.small.subarray(0, IMAGE_HEADER_SIZE));
        this.hashedTo = IMAGE_HEADER_SIZE;
      }
    } else if (this.requireHash) {
      this.fail('IMAGE_HASH_REQUIRED', 'image has no appended SHA-256 (hash_appended byte 23 is 0) and a hash is required', 23);
    }
    this.descOpen = !esp8266;
    this.smallLen = 0;
    if (h.segmentCount === 0) this.startPadding();
    else this.state = AT_SEGMENT_HEADER;
    if (!esp8266) return null;
    this.pos = ESP8266_HEADER_SIZE;
    return this.small.slice(ESP8266_HEADER_SIZE, IMAGE_HEADER_SIZE);
  }

  private startSegment(): void {
    const at = this.pos - SEGMENT_HEADER_SIZE;
    const index = this.segments.length;
    const loadAddress = u32(this.small, 0);
    const length = u32(this.small, 4);
    this.smallLen = 0;
    if (length >= MAX_SEGMENT_LENGTH) {
      this.fail('IMAGE_SEGMENT_OUT_OF_BOUNDS', `segment ${index} (header at ${hex(at)}) declares ${hex(length)} bytes: segments must be below 16 MiB`, at);
    }
    if (this.pos + length > this.maxSize) {
      this.fail('IMAGE_SEGMENT_OUT_OF_BOUNDS', `segment ${index} (header at ${hex(at)}, ${hex(length)} bytes) runs to ${hex(this.pos + length)}, past the end of the ${hex(this.maxSize)}-byte space`, at);
    }
    if (this.header!.format === 'esp32' && (length & 3) !== 0) {
      this.fail('IMAGE_BAD_SEGMENT_LENGTH', `segment ${index} (header at ${hex(at)}) has length ${hex(length)}, not a multiple of 4`, at);
    }
    this.segments.push({ loadAddress, length, dataOffset: this.pos });
    this.segmentRemaining = length;
    if (length === 0) this.nextSegment();
    else this.state = AT_SEGMENT_DATA;
  }

  private nextSegment(): void {
    // Only segment 0's data can hold the description.
    this.descOpen = false;
    if (this.segments.length < this.header!.segmentCount) this.state = AT_SEGMENT_HEADER;
    else this.startPadding();
  }

  private startPadding(): void {
    const last = this.pos;
    this.checksumOffset = ((last + 16) & ~15) - 1;
    this.end = this.checksumOffset + 1 + (this.appended ? 32 : 0);
    if (this.appended) this.hashEnd = this.checksumOffset + 1;
    if (this.end > this.maxSize) {
      this.fail('IMAGE_TOO_LARGE', `image is ${hex(this.end)} bytes (segments end at ${hex(last)}), more than the ${hex(this.maxSize)} bytes allowed`, last);
    }
    this.signatureOffset = (this.end + SIGNATURE_SECTOR_SIZE - 1) & ~(SIGNATURE_SECTOR_SIZE - 1);
    this.state = AT_PADDING;
  }

  private truncationError(): OtaflashError | null {
    const p = this.pos;
    switch (this.state) {
      case AT_HEADER:
        return new OtaflashError('IMAGE_TRUNCATED', `image ends at byte ${p}, inside its 24-byte header`, { offset: p });
      case AT_SEGMENT_HEADER:
        return new OtaflashError('IMAGE_TRUNCATED', `image ends at ${hex(p)}, inside the header of segment ${this.segments.length}`, { offset: p });
      case AT_SEGMENT_DATA: {
        const s = this.segments[this.segments.length - 1];
        return new OtaflashError('IMAGE_TRUNCATED', `image ends at ${hex(p)}, inside segment ${this.segments.length - 1} (${hex(s.length)} bytes of data from ${hex(s.dataOffset)} to ${hex(s.dataOffset + s.length)})`, { offset: p });
      }
      case AT_PADDING:
        return new OtaflashError('IMAGE_TRUNCATED', `image ends at ${hex(p)}, before its checksum byte at ${hex(this.checksumOffset)}`, { offset: p });
      case AT_HASH:
        return new OtaflashError('IMAGE_TRUNCATED', `image ends at ${hex(p)}, inside its appended SHA-256 (${hex(this.checksumOffset + 1)}..${hex(this.end)})`, { offset: p });
      default:
        return null;
    }
  }

  private signatures(): SignatureBlock[] {
    if (!this.sigBuf) return [];
    return parseSignatureBlocks(this.sigBuf.subarray(0, this.sigLen), this.signatureOffset, this.hashes);
  }

  report(): ImageReport {
    const error = this.error ?? this.truncationError();
    const h = this.header;
    const base = {
      header: h,
      segments: this.segments.slice(),
      bytesRead: this.pos,
      appDesc: this.descBuf ? decodeAppDescription(this.descBuf.subarray(0, this.descLen)) : null,
    };
    if (error || !h) {
      return {
        ...base,
        error,
        verdict: null,
        checksumValid: this.checksumStored >= 0 ? this.checksumStored === foldXor(this.xor ^ CHECKSUM_SEED) : null,
        hashAppended: h ? h.hashAppendedByte !== 0 : null,
        hashValid: this.digest && this.state === AT_TRAILER ? bytesEqual(this.digest, this.small) : null,
      };
    }
    const checksumCalculated = foldXor(this.xor ^ CHECKSUM_SEED);
    const checksumValid = checksumCalculated === this.checksumStored;
    const storedSha256 = this.appended ? this.small.slice(0, 32) : null;
    const hashValid = this.digest && storedSha256 ? bytesEqual(this.digest, storedSha256) : null;
    const signatures = this.signatures();
    const verdict: ImageVerdict = {
      size: this.end,
      header: h,
      chip: h.chipId,
      chipName: chipName(h.chipId),
      entry: h.entry,
      segments: base.segments,
      checksumStored: this.checksumStored,
      checksumCalculated,
      checksumValid,
      hashAppended: this.appended,
      hashValid,
      sha256: this.digest,
      storedSha256,
      appDesc: base.appDesc,
      bootloaderDesc: this.descBuf ? decodeBootloaderDescription(this.descBuf.subarray(0, this.descLen)) : null,
      signatures,
      signatureOffset: signatures.length > 0 ? this.signatureOffset : null,
    };
    // The loader checks each segment header (mapping included) before the checksum, and the
    // checksum before the hash: the first failure in that order is the reason given.
    let verdictError: OtaflashError | null = this.misalignedSegment(h, base.appDesc);
    if (verdictError === null && !checksumValid) {
      verdictError = new OtaflashError('IMAGE_BAD_CHECKSUM', `checksum byte at ${hex(this.checksumOffset)} is ${hex(this.checksumStored)}, the segment data gives ${hex(checksumCalculated)}`, { offset: this.checksumOffset });
    } else if (verdictError === null && hashValid === false) {
      verdictError = new OtaflashError('IMAGE_BAD_HASH', `appended SHA-256 at ${hex(this.checksumOffset + 1)} does not match the SHA-256 of bytes 0..${hex(this.checksumOffset)}`, { offset: this.checksumOffset + 1 });
    }
    return { ...base, error: verdictError, verdict, checksumValid, hashAppended: verdict.hashAppended, hashValid };
  }

  /**
   * The bootloader's mapping rule: a segment loaded at a flash-mapped address must lie in flash at
   * the same offset modulo the MMU page, or the cache cannot map it. Null when every segment obeys.
   */
  private misalignedSegment(h: ImageHeader, desc: AppDescription | null): OtaflashError | null {
    if (h.format !== 'esp32') return null;
    const mapping = chipFlashMapping(h.chipId);
    if (!mapping) return null;
    const page = mappingPageSize(mapping, desc ? desc.mmuPageSizeLog2 : undefined);
    const i = firstMisalignedSegment(mapping, page, this.segments, this.flashOffset);
    if (i < 0) return null;
    const s = this.segments[i];
    return new OtaflashError(
      'IMAGE_SEGMENT_MISALIGNED',
      `segment ${i} is mapped from flash at ${hex(s.loadAddress)} but its data starts at flash ${hex(this.flashOffset + s.dataOffset)} (image offset ${hex(s.dataOffset)}): the two must agree modulo the ${page / 1024} KiB MMU page, so the bootloader refuses this image`,
      { offset: s.dataOffset - SEGMENT_HEADER_SIZE, segment: i },
    );
  }

  finish(): ImageVerdict {
    const r = this.report();
    if (r.error) throw r.error;
    return r.verdict!;
  }
}

/** A verifier to feed an image in chunks as they arrive (see ImageVerifier). */
export function createImageVerifier(opts: ImageVerifierOptions = {}): ImageVerifier {
  return new StreamingImageVerifier(opts, true);
}

/**
 * A verifier of structure and checksum only: every IMAGE_* check of createImageVerifier except the
 * SHA-256 (its verdict has hashValid and sha256 null). For a stream whose bytes are verified in full
 * once more where they end up: the OTA writer checks the download as it arrives with this, and the
 * SHA-256 once, from flash, in end(), so the image is hashed once per update and the hash covers the
 * bytes the bootloader will read, not the bytes that were sent.
 */
export function createStructureVerifier(opts: ImageVerifierOptions = {}): ImageVerifier {
  return new StreamingImageVerifier(opts, false);
}

/**
 * Fills in SignatureBlock.digestValid: the signed digest covers everything before the signature
 * sector (image, appended hash, 0xFF padding), which `hashPrefix` hashes.
 */
function withSignatureDigests(v: ImageVerdict, hashPrefix: (length: number) => Uint8Array): ImageVerdict {
  if (v.signatures.length === 0 || v.signatureOffset === null) return v;
  const digest = hashPrefix(v.signatureOffset);
  return { ...v, signatures: v.signatures.map((s) => ({ ...s, digestValid: bytesEqual(s.imageDigest, digest) })) };
}

/** Verifies a whole image held in memory (bytes after the image are taken as a possible signature sector). */
export function verifyImage(bytes: Uint8Array, opts: ImageVerifierOptions = {}): ImageVerdict {
  const v = createImageVerifier(opts);
  v.update(bytes);
  const hashes = opts.hashes ?? defaultHashes();
  return withSignatureDigests(v.finish(), (n) => hashes.sha256().update(bytes.subarray(0, n)).digest());
}

/** Like verifyImage but never throws on a bad image: what was read, and why it is not valid. */
export function inspectImage(bytes: Uint8Array, opts: ImageVerifierOptions = {}): ImageReport {
  const v = createImageVerifier(opts);
  try {
    v.update(bytes);
  } catch (e) {
    if (!(e instanceof OtaflashError)) throw e;
  }
  const r = v.report();
  if (!r.verdict) return r;
  const hashes = opts.hashes ?? defaultHashes();
  return { ...r, verdict: withSignatureDigests(r.verdict, (n) => hashes.sha256().update(bytes.subarray(0, n)).digest()) };
}

/** One flash sector: the read buffer is most of a device verification's heap (a 128 KiB JerryScript heap counts it). */
const DEVICE_CHUNK = 4096;

/**
 * Verifies the image stored from offset 0 of `device` (usually a partition region), reading it in
 * chunks into one reused buffer. `maxSize` defaults to the device size. A Secure Boot v2 signature
 * sector at the first 4 KiB boundary after the image is read and reported when present.
 */
export function verifyImageOnDevice(device: BlockDevice, opts: ImageVerifierOptions & { chunkSize?: number } = {}): ImageVerdict {
  checkVerifierOptions(opts);
  if (!isBlockDevice(device)) throw new OtaflashError('IMAGE_BAD_ARGUMENT', `verifyImageOnDevice needs a block device, got ${kindOf(device)}`);
  const maxSize = Math.min(opts.maxSize ?? device.size, device.size);
  const v = createImageVerifier({ ...opts, maxSize });
  const chunk = opts.chunkSize ?? DEVICE_CHUNK;
  // A zero-length buffer would never advance the signed-image digest pass; a huge one is a typo.
  if (typeof chunk !== 'number' || !(chunk >= 1 && chunk <= 0x4000000) || chunk % 1 !== 0) {
    throw new OtaflashError('IMAGE_BAD_ARGUMENT', `chunkSize ${String(chunk)} must be a whole number of bytes from 1 to 64 MiB`, { chunkSize: chunk });
  }
  const buf = new Uint8Array(chunk);
  let off = 0;
  while (!v.complete && off < maxSize) {
    // Read no further than the verifier can use: the image end, then the signature sector.
    let want = buf.length;
    const size = v.imageSize;
    if (size !== null) {
      const sigEnd = ((size + SIGNATURE_SECTOR_SIZE - 1) & ~(SIGNATURE_SECTOR_SIZE - 1)) + SIGNATURE_SPAN;
      want = Math.min(want, sigEnd - off);
    }
    const n = Math.min(want, maxSize - off);
    if (n <= 0) break;
    const view = n === buf.length ? buf : buf.subarray(0, n);
    device.read(off, view);
    v.update(view);
    off += n;
  }
  const hashes = opts.hashes ?? defaultHashes();
  return withSignatureDigests(v.finish(), (length) => {
    // Signed images only: a second pass over the image to check the digest the signature covers.
    const sha = hashes.sha256();
    for (let at = 0; at < length; at += buf.length) {
      const view = buf.subarray(0, Math.min(buf.length, length - at));
      device.read(at, view);
      sha.update(view);
    }
    return sha.digest();
  });
}

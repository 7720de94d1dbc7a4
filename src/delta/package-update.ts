// Installing a delta package through the OTA engine, as it streams in: the index is collected
// first; the running slot is hashed to pick the patch made for it (or the full image), and a
// package with neither is refused (DELTA_SOURCE_MISMATCH) before anything is erased. Then only the
// chosen blob's bytes go on, to a DeltaUpdate (or straight to the OTA writer for the full image);
// the others are skipped as they pass. On resume the same choice is made again from the same bytes.
// With `trust`, the header's signature is checked before the choice (an unsigned or badly signed
// package is refused with nothing erased) and the image made is held to the signed target SHA-256.
import { OtaflashError, isOtaflashError } from '../errors';
import type { SignatureTrust, SignatureVerdict, SignatureVerifier } from '../formats/secure-boot-verify';
import type { Partition } from '../formats/partition-types';
import { partitionRegion } from '../formats/partition-lookup';
import type { ImageVerdict } from '../formats/app-image-types';
import { defaultHashes } from '../hash/portable';
import type { HashProvider, IncrementalHash } from '../hash/types';
import type { OtaEngine } from '../ota/engine';
import type { OtaWriter } from '../ota/writer';
import { DeltaUpdate, type DeltaWriteOptions } from './ota';
import { type DeltaPackageChoice, type DeltaPackageIndex, choosePackageBlob, decodeDeltaPackageIndex, deltaPackageHeaderNeed, sha256Hex } from './package';
import { requireDeltaPackageSignature } from './package-signature';

export interface DeltaPackageUpdateOptions extends Omit<DeltaWriteOptions, 'expectSha256' | 'sha256' | 'oldSize'> {
  /** Install the package's full image when no patch matches the running image (default true). */
  allowFullImage?: boolean;
  /** Hashes for the running image and the target check (default: the portable ones). */
  hashes?: HashProvider;
  /** Called once the choice is made, before anything is erased. */
  onChoice?: (index: DeltaPackageIndex, choice: DeltaPackageChoice) => void;
  /**
   * Keys this device trusts (eFuse-style digests): the package must carry a signature over its
   * index from one of them, else it is refused before anything is erased. Unset: signatures are
   * not required (a signed package installs as before).
   */
  trust?: SignatureTrust;
  /** Public-key operations for the signature (default: the portable verifier). */
  verifier?: SignatureVerifier;
  /** SHA-384 for P-384 signatures (the portable hashes have none). */
  sha384?: () => IncrementalHash;
}

/** Options that are DeltaPackageUpdate's own, not the DeltaUpdate's or the writer's. */
const OWN_OPTIONS = ['allowFullImage', 'hashes', 'onChoice', 'trust', 'verifier', 'sha384'];

/** A copy of `opts` without `drop` (no object rest/spread: the device engines' ES2015 subset). */
function without<T extends object>(opts: T, drop: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k in opts) if (Object.prototype.hasOwnProperty.call(opts, k) && drop.indexOf(k) < 0) out[k] = (opts as Record<string, unknown>)[k];
  return out;
}

const HASH_CHUNK = 16384;

/** SHA-256 of the first `size` bytes of a device region. */
function hashPrefix(read: (offset: number, into: Uint8Array) => void, size: number, h: IncrementalHash): Uint8Array {
  const buf = new Uint8Array(Math.min(HASH_CHUNK, Math.max(1, size)));
  for (let at = 0; at < size; at += buf.length) {
    const n = Math.min(buf.length, size - at);
    const view = n === buf.length ? buf : buf.subarray(0, n);
    read(at, view);
    h.update(view);
  }
  return h.digest();
}

export class DeltaPackageUpdate {
  readonly engine: OtaEngine;
  private readonly opts: DeltaPackageUpdateOptions;
  private readonly hashes: HashProvider;
  private prefix: Uint8Array = new Uint8Array(64);
  private prefixLen = 0;
  private idx: DeltaPackageIndex | null = null;
  private pick: DeltaPackageChoice | null = null;
  private blobStart = 0;
  private blobEnd = 0;
  private received = 0;
  private delta: DeltaUpdate | null = null;
  private full: { writer: OtaWriter; hash: IncrementalHash; skip: number } | null = null;
  private state: 'open' | 'done' | 'failed' = 'open';
  private verdict: SignatureVerdict | null = null;

  constructor(engine: OtaEngine, opts: DeltaPackageUpdateOptions = {}) {
    this.engine = engine;
    this.opts = opts;
    this.hashes = opts.hashes ?? defaultHashes();
    if (!engine.running) throw new OtaflashError('DELTA_NO_RUNNING_APP', 'a delta package needs the running app to choose its patch, and the partition table has no app');
  }

  get index(): DeltaPackageIndex | null {
    return this.idx;
  }

  get choice(): DeltaPackageChoice | null {
    return this.pick;
  }

  /** The DeltaUpdate carrying the chosen patch (null for the full image or before the choice). */
  get deltaUpdate(): DeltaUpdate | null {
    return this.delta;
  }

  /** The signature's verdict once the header is in (null: unsigned, or not checked without trust). */
  get signatureVerdict(): SignatureVerdict | null {
    return this.verdict;
  }

  /** The slot being written (null before the choice). */
  get partition(): Partition | null {
    if (this.delta) return this.delta.partition;
    return this.full ? this.full.writer.partition : null;
  }

  /** Package bytes received so far. */
  get receivedBytes(): number {
    return this.received;
  }

  push(chunk: Uint8Array): void {
    if (this.state !== 'open') throw new OtaflashError(this.state === 'done' ? 'DELTA_ALREADY_DONE' : 'DELTA_ALREADY_FAILED', `push(): this package update has already ${this.state === 'done' ? 'finished' : 'failed'}`);
    try {
      this.take(chunk);
    } catch (e) {
      if (this.opts.trust && e instanceof OtaflashError && e.code === 'DELTA_PACKAGE_BAD_MAGIC') {
        // A bare detools patch (or anything else) cannot carry a signature.
        this.fail(new OtaflashError('SIGNATURE_REQUIRED', 'not a delta package, so not signed, and this device accepts only packages signed by a trusted key; nothing was written'));
      }
      this.fail(e);
    }
  }

  private take(chunk: Uint8Array): void {
    let at = 0;
    if (!this.idx) {
      // Collect the header: 12 bytes give the index length, the index gives the signature's.
      let need = deltaPackageHeaderNeed(this.prefix.subarray(0, this.prefixLen));
      for (;;) {
        const n = Math.min(chunk.length - at, need - this.prefixLen);
        if (this.prefixLen + n > this.prefix.length) {
          const p = new Uint8Array(Math.max(need, this.prefix.length * 2));
          p.set(this.prefix.subarray(0, this.prefixLen));
          this.prefix = p;
        }
        this.prefix.set(chunk.subarray(at, at + n), this.prefixLen);
        this.prefixLen += n;
        this.received += n;
        at += n;
        if (this.prefixLen < need) return;
        const next = deltaPackageHeaderNeed(this.prefix.subarray(0, this.prefixLen));
        if (next === need) break;
        need = next;
      }
      const header = this.prefix.subarray(0, need);
      const idx = decodeDeltaPackageIndex(header);
      this.checkSignature(header, idx);
      this.idx = idx;
      this.prefix = new Uint8Array(0);
      this.choose(idx);
    }
    if (at >= chunk.length) return;
    // Route the part of [received, received + rest) that falls inside the chosen blob.
    const start = this.received;
    const end = start + chunk.length - at;
    this.received = end;
    if (end > this.idx.totalLength) {
      throw new OtaflashError('DELTA_PATCH_TOO_LONG', `the delta package goes on past the ${this.idx.totalLength} bytes its index describes`, { expected: this.idx.totalLength });
    }
    const s = Math.max(start, this.blobStart);
    const e = Math.min(end, this.blobEnd);
    if (s < e) this.feedBlob(chunk.subarray(at + (s - start), at + (e - start)), s - this.blobStart);
  }

  /** With trust: refuses unsigned and badly signed packages before the choice (nothing erased yet). */
  private checkSignature(header: Uint8Array, idx: DeltaPackageIndex): void {
    const o = this.opts;
    // Without trust nothing is checked: `index.signature` says whether the package carries one.
    if (o.trust) this.verdict = requireDeltaPackageSignature(header, idx, { trust: o.trust, verifier: o.verifier, hashes: this.hashes, sha384: o.sha384 });
  }

  private choose(idx: DeltaPackageIndex): void {
    const running = this.engine.running!;
    const region = partitionRegion(this.engine.device, running);
    const pick = choosePackageBlob(
      idx,
      (size) => (size > running.size ? null : hashPrefix((o, b) => region.read(o, b), size, this.hashes.sha256())),
      this.opts.allowFullImage !== false,
    );
    if (this.opts.onChoice) this.opts.onChoice(idx, pick);
    this.pick = pick;
    if (pick.kind === 'patch') {
      this.blobStart = pick.entry.offset;
      this.blobEnd = pick.entry.offset + pick.entry.patchSize;
      const deltaOpts = Object.assign(without(this.opts, OWN_OPTIONS), { oldSize: pick.entry.sourceSize, expectSha256: idx.targetSha256, sha256: () => this.hashes.sha256() });
      this.delta = new DeltaUpdate(this.engine, deltaOpts as DeltaWriteOptions);
    } else {
      this.blobStart = idx.fullImageOffset!;
      this.blobEnd = this.blobStart + idx.targetSize;
    }
  }

  private feedBlob(bytes: Uint8Array, offsetInBlob: number): void {
    if (this.delta) {
      this.delta.push(bytes);
      return;
    }
    if (!this.full) {
      const slot = this.opts.slot;
      const resume = this.opts.resume;
      const writeOpts = without(this.opts, OWN_OPTIONS.concat(['slot', 'maxDictionary', 'writeChunk', 'resume']));
      const writer = resume ? this.engine.resume(writeOpts) : this.engine.begin(slot ?? this.engine.nextUpdatePartition(), Object.assign(writeOpts, { size: this.idx!.targetSize }));
      if (resume && writer.offset > this.idx!.targetSize) throw new OtaflashError('DELTA_RESUME_MISMATCH', 'the interrupted update wrote more bytes than this package\'s image has');
      this.full = { writer, hash: this.hashes.sha256(), skip: writer.offset };
    }
    const f = this.full;
    f.hash.update(bytes);
    const from = Math.max(0, f.skip - offsetInBlob);
    if (from < bytes.length) f.writer.write(from === 0 ? bytes : bytes.subarray(from));
  }

  /** The package is complete: finishes the chosen blob and ends the writer. Does not select the slot. */
  finish(): ImageVerdict {
    if (this.state !== 'open') throw new OtaflashError(this.state === 'done' ? 'DELTA_ALREADY_DONE' : 'DELTA_ALREADY_FAILED', `finish(): this package update has already ${this.state === 'done' ? 'finished' : 'failed'}`);
    try {
      if (!this.idx) throw new OtaflashError(this.prefixLen === 0 ? 'DELTA_EMPTY_PATCH' : 'DELTA_TRUNCATED', `the delta package ends inside its index (${this.prefixLen} bytes)`);
      if (this.received < this.idx.totalLength) {
        throw new OtaflashError('DELTA_TRUNCATED', `the delta package ends after ${this.received} of its ${this.idx.totalLength} bytes`, { received: this.received, expected: this.idx.totalLength });
      }
      let verdict: ImageVerdict;
      if (this.delta) verdict = this.delta.finish();
      else {
        const f = this.full!;
        const got = f.hash.digest();
        if (sha256Hex(got) !== sha256Hex(this.idx.targetSha256)) {
          throw new OtaflashError('DELTA_TARGET_MISMATCH', `the package's full image has SHA-256 ${sha256Hex(got)}, its index promises ${sha256Hex(this.idx.targetSha256)}`);
        }
        verdict = f.writer.end();
      }
      this.state = 'done';
      return verdict;
    } catch (e) {
      this.fail(e);
    }
  }

  abort(): void {
    if (this.delta) this.delta.abort();
    if (this.full && this.full.writer.isOpen) this.full.writer.abort();
    this.state = 'failed';
  }

  private fail(e: unknown): never {
    this.state = 'failed';
    if (!isOtaflashError(e, 'POWER_LOSS') && this.full && this.full.writer.isOpen) {
      try {
        this.full.writer.abort();
      } catch (err) {
        // A power cut stops everything; a device failing as well leaves the resume log.
        if (isOtaflashError(err, 'POWER_LOSS')) throw err;
      }
    }
    if (this.opts.trust && !isOtaflashError(e, 'POWER_LOSS')) this.eraseHeader();
    throw e;
  }

  /**
   * With trust, a package whose body failed (another image than the signed target, a patch that
   * does not decode): the bytes written so far are on flash (a streaming device cannot hold the body
   * to check it first) and never selected; erasing the slot's first sector also leaves no image
   * header there, so nothing can select it later by mistake. Before the choice there is no slot.
   */
  private eraseHeader(): void {
    // Only a slot this update has begun writing: a patch refused by its header erased nothing.
    const began = this.delta ? this.delta.otaWriter !== null : this.full !== null;
    const slot = this.partition;
    if (!slot || !began) return;
    const dev = this.engine.device;
    try {
      dev.erase(slot.offset, Math.min(dev.eraseSize, slot.size));
    } catch (err) {
      // A power cut stops everything (the sweep's simulated one must not be taken for a device
      // fault and run on); a failing device: the slot is still not selected, which is what matters.
      if (isOtaflashError(err, 'POWER_LOSS')) throw err;
    }
  }
}

// A delta update through the OTA engine: the old image is the running slot (read through a region
// of the device), new bytes go through the engine's OtaWriter (erase-ahead, budgets, verification,
// resume log: all unchanged). The writer is opened only once the patch header and its body preamble
// have passed every check, so a refused patch erases nothing.
//
// Resume after a power cut: the writer's resume log says how many new bytes are on flash. The patch
// is decoded again from its first byte; new bytes below that mark are compared with the slot
// instead of written (DELTA_RESUME_MISMATCH when they differ), so nothing is erased or written twice.
import { OtaflashError, isOtaflashError, hex } from '../errors';
import type { BlockDevice } from '../flash/types';
import type { DetoolsPatchHeader } from '../formats/detools-patch';
import { partitionRegion } from '../formats/partition-lookup';
import type { Partition } from '../formats/partition-types';
import type { ImageVerdict } from '../formats/app-image-types';
import type { IncrementalHash } from '../hash/types';
import type { OtaEngine } from '../ota/engine';
import type { OtaWriteOptions, OtaWriter } from '../ota/writer';
import { PatchApplier } from './apply';
import type { OldImage } from './sequential';
import { sameBytes, toHex } from '../formats/bytes';

export interface DeltaWriteOptions extends Omit<OtaWriteOptions, 'size'> {
  /** Update slot (default: engine.nextUpdatePartition()). Ignored on resume. */
  slot?: Partition;
  /** Refuse lzma patches declaring a larger dictionary (bytes). Default: no limit. */
  maxDictionary?: number;
  /** New bytes handed to the writer per write() call (default: the device's erase size). */
  writeChunk?: number;
  /** Size of the old image in the running slot (default: the whole running partition). */
  oldSize?: number;
  /** Continue the interrupted update recorded in the resume log instead of starting one. */
  resume?: boolean;
  /** SHA-256 the new image must have (a delta package's target); checked before end(). */
  expectSha256?: Uint8Array;
  /** Incremental SHA-256 (default: the engine's hashes, through `sha256`). Only with expectSha256. */
  sha256?: () => IncrementalHash;
}

/** The running slot's bytes as the patch's old image. */
export function oldImageFromDevice(device: BlockDevice, size: number): OldImage {
  if (!(size >= 0 && size <= device.size)) {
    throw new OtaflashError('DELTA_BAD_ARGUMENT', `old image size ${size} does not fit the device (${device.size} bytes)`);
  }
  return { size, read: (offset, into) => device.read(offset, into) };
}

/**
 * One delta update in progress: push() the patch in chunks of any size, then finish() (which ends
 * the writer and returns the image verdict). The caller selects the slot for boot afterwards
 * (engine.setBootPartition), exactly as after a full update.
 */
export class DeltaUpdate {
  readonly engine: OtaEngine;
  private readonly opts: DeltaWriteOptions;
  private readonly applier: PatchApplier;
  private writer: OtaWriter | null = null;
  private slotRegion: BlockDevice | null = null;
  private readonly buf: Uint8Array;
  private bufLen = 0;
  /** New-image bytes produced by the patch so far (also those skipped on resume). */
  private produced = 0;
  /** On resume: new bytes already on flash, checked instead of written. */
  private skip = 0;
  private check: Uint8Array | null = null;
  private hash: IncrementalHash | null = null;
  private target: Partition;
  private state: 'open' | 'done' | 'failed' = 'open';

  constructor(engine: OtaEngine, opts: DeltaWriteOptions = {}) {
    if (engine === null || typeof engine !== 'object' || typeof engine.begin !== 'function') {
      throw new OtaflashError('DELTA_BAD_ARGUMENT', 'DeltaUpdate needs an OtaEngine (OtaEngine.open(device))');
    }
    this.engine = engine;
    this.opts = opts;
    const running = engine.running;
    if (!running) throw new OtaflashError('DELTA_NO_RUNNING_APP', 'a delta update needs the running app as its old image, and the partition table has no app');
    const pending = opts.resume ? engine.pendingUpdate() : null;
    if (opts.resume && !pending) throw new OtaflashError('OTA_NOTHING_TO_RESUME', 'no interrupted update is recorded on this device');
    this.target = pending ? pending.partition : (opts.slot ?? engine.nextUpdatePartition());
    const oldRegion = partitionRegion(engine.device, running);
    const oldSize = opts.oldSize ?? running.size;
    const chunk = opts.writeChunk ?? engine.device.eraseSize;
    if (!(chunk >= 1 && chunk === Math.floor(chunk))) throw new OtaflashError('DELTA_BAD_ARGUMENT', `writeChunk ${chunk} is not a positive integer`);
    this.buf = new Uint8Array(chunk);
    if (opts.expectSha256) {
      const make = opts.sha256;
      if (!make) throw new OtaflashError('DELTA_BAD_ARGUMENT', 'expectSha256 needs a sha256 factory');
      this.hash = make();
    }
    this.applier = new PatchApplier(oldImageFromDevice(oldRegion, oldSize), (b, s, e) => this.take(b, s, e), {
      maxDictionary: opts.maxDictionary,
      onHeader: (h) => this.open(h, pending ? pending.size : null),
    });
  }

  /** The update slot. */
  get partition(): Partition {
    return this.target;
  }

  /** The patch header, once known. */
  get header(): DetoolsPatchHeader | null {
    return this.applier.header;
  }

  /** The OTA writer (null until the header has arrived). */
  get otaWriter(): OtaWriter | null {
    return this.writer;
  }

  /** New-image bytes produced so far, and the total once the header is known. */
  get progress(): { produced: number; total: number | null; patchBytes: number; resumedFrom: number } {
    const h = this.applier.header;
    return { produced: this.produced, total: h ? h.toSize : null, patchBytes: this.applier.received, resumedFrom: this.skip };
  }

  private open(h: DetoolsPatchHeader, resumedSize: number | null): void {
    const { slot: _slot, maxDictionary: _m, writeChunk: _w, oldSize: _o, resume, expectSha256: _e, sha256: _s, ...writeOpts } = this.opts;
    if (resume && resumedSize !== h.toSize) {
      throw new OtaflashError('DELTA_RESUME_MISMATCH', `the interrupted update was for a ${resumedSize === null ? 'image of unknown size' : `${resumedSize}-byte image`}, but this patch makes ${h.toSize} bytes: not the same patch`, { logged: resumedSize, toSize: h.toSize });
    }
    if (h.toSize === 0) throw new OtaflashError('DELTA_EMPTY_IMAGE', 'the patch makes an empty image: nothing to install');
    if (h.toSize > this.target.size) {
      throw new OtaflashError('OTA_IMAGE_TOO_LARGE', `the patch makes a ${h.toSize}-byte image, larger than ${this.target.label} (${hex(this.target.size)} bytes)`, { size: h.toSize, slotSize: this.target.size });
    }
    if (resume) {
      this.writer = this.engine.resume(writeOpts);
      this.skip = this.writer.offset;
      this.slotRegion = partitionRegion(this.engine.device, this.writer.partition);
      this.check = new Uint8Array(Math.min(4096, Math.max(1, this.skip)));
    } else {
      this.writer = this.engine.begin(this.target, { ...writeOpts, size: h.toSize });
    }
  }

  /** New bytes from the patch, in order. */
  private take(b: Uint8Array, s: number, e: number): void {
    if (this.hash) this.hash.update(b.subarray(s, e));
    if (this.produced < this.skip) {
      const n = Math.min(e - s, this.skip - this.produced);
      this.verifyOnFlash(b, s, n);
      s += n;
      this.produced += n;
    }
    while (s < e) {
      const n = Math.min(e - s, this.buf.length - this.bufLen);
      this.buf.set(b.subarray(s, s + n), this.bufLen);
      this.bufLen += n;
      s += n;
      this.produced += n;
      if (this.bufLen === this.buf.length) this.flush();
    }
  }

  private verifyOnFlash(b: Uint8Array, s: number, n: number): void {
    let at = this.produced;
    let i = 0;
    while (i < n) {
      const k = Math.min(n - i, this.check!.length);
      const have = k === this.check!.length ? this.check! : this.check!.subarray(0, k);
      this.slotRegion!.read(at, have);
      for (let j = 0; j < k; j++) {
        if (have[j] !== b[s + i + j]) {
          throw new OtaflashError('DELTA_RESUME_MISMATCH', `${this.target.label} at ${hex(at + j)} holds ${hex(have[j])} from before the interruption, but the patch makes ${hex(b[s + i + j])} there: not the same patch or old image; abort and start again`, { offset: at + j });
        }
      }
      i += k;
      at += k;
    }
  }

  private flush(): void {
    if (this.bufLen === 0) return;
    const n = this.bufLen;
    this.bufLen = 0;
    this.writer!.write(n === this.buf.length ? this.buf : this.buf.subarray(0, n));
  }

  /** Feeds the next chunk of the patch. */
  push(chunk: Uint8Array): void {
    if (this.state !== 'open') throw new OtaflashError(this.state === 'done' ? 'DELTA_ALREADY_DONE' : 'DELTA_ALREADY_FAILED', `push(): this delta update has already ${this.state === 'done' ? 'finished' : 'failed'}`);
    try {
      this.applier.push(chunk);
    } catch (e) {
      this.failed(e);
      throw e;
    }
  }

  /**
   * The patch is complete: checks it ended exactly with the new image, programs the tail and ends
   * the writer (image verification). Does not select the slot for boot.
   */
  finish(): ImageVerdict {
    if (this.state !== 'open') throw new OtaflashError(this.state === 'done' ? 'DELTA_ALREADY_DONE' : 'DELTA_ALREADY_FAILED', `finish(): this delta update has already ${this.state === 'done' ? 'finished' : 'failed'}`);
    try {
      this.applier.finish();
      if (!this.writer) throw new OtaflashError('DELTA_EMPTY_IMAGE', 'the patch makes an empty image: nothing to install');
      this.flush();
      if (this.hash) {
        const got = this.hash.digest();
        if (!sameBytes(got, this.opts.expectSha256!)) {
          throw new OtaflashError('DELTA_TARGET_MISMATCH', `the new image's SHA-256 is ${toHex(got)}, not the ${toHex(this.opts.expectSha256!)} the package promises; nothing was selected`, { sha256: toHex(got) });
        }
      }
      const verdict = this.writer.end();
      this.state = 'done';
      return verdict;
    } catch (e) {
      this.failed(e);
      throw e;
    }
  }

  /** Gives up: the slot keeps what was written, otadata still boots the old app. */
  abort(): void {
    if (this.writer && this.writer.isOpen) this.writer.abort();
    this.state = 'failed';
  }

  private failed(e: unknown): void {
    this.state = 'failed';
    // A power cut leaves the writer as it is (a reboot and resume continue it); any other failure
    // closes it, like esp_ota_abort.
    if (isOtaflashError(e, 'POWER_LOSS')) return;
    if (this.writer && this.writer.isOpen) {
      try {
        this.writer.abort();
      } catch (err) {
        // A cut during the abort stops everything (nothing runs after a power cut); a device that
        // failed too leaves the resume log as it is.
        if (isOtaflashError(err, 'POWER_LOSS')) throw err;
      }
    }
  }
}

// The streaming writer of one OTA slot: erase ahead, program, feed the image verifier, checkpoint
// progress into the resume log. Created by OtaEngine.begin() / resume(), never directly.
//
// Hashing: the download is checked as it arrives for structure and checksum only (cheap, and a bad
// header or an oversized image is refused at the first chunk that shows it); the SHA-256 is taken
// once, in end(), over the slot as read back from flash. One SHA-256 pass per update, and it judges
// the bytes the bootloader will load, so bytes that did not land (a worn cell, a dropped program)
// fail end() exactly like a corrupt download. Hashing the stream instead would need a second pass
// (a read-back compare) to give that guarantee.
import { OtaflashError, hex } from '../errors';
import type { BlockDevice } from '../flash/types';
import type { HashProvider } from '../hash/types';
import type { Partition } from '../formats/partition-types';
import { createImageVerifier, createStructureVerifier } from '../formats/app-image-verify';
import type { ImageVerdict, ImageVerifier } from '../formats/app-image-types';
import { eraseUnitAt, roundUp } from './erase-plan';
import { type ResumeLog, closeResumeLog } from './progress-record';

export interface OtaProgress {
  /** Image bytes accepted so far (all of them are on flash once `end()` returns). */
  readonly written: number;
  /** Bytes of the slot erased so far, from its start. */
  readonly erased: number;
  /** Declared image size, or null when unknown. */
  readonly total: number | null;
  /** How far the erase plan goes (the declared size rounded up to sectors, or the whole slot). */
  readonly eraseTotal: number;
}

export interface OtaWriteOptions {
  /** Image size if known: 'all' erases only that much, and writes past it are refused. */
  size?: number;
  /** 'all' (default): erase the planned range before writing; 'sequential': erase just ahead of each write. */
  erase?: 'all' | 'sequential';
  /**
   * Upper bound on the bytes one eraseStep() erases (at least one sector). With it, begin() erases
   * nothing itself, and the erase-ahead inside write() uses only erase commands within the budget
   * and erases only the sectors its chunk reaches: whole-sector chunks no larger than the budget
   * keep every write() call within it too.
   */
  maxEraseBytesPerStep?: number;
  /** Upper bound on the estimated chip milliseconds of one eraseStep() (and of write()'s erase commands); needs `eraseTimeMs`. */
  maxEraseMsPerStep?: number;
  /** Estimated chip time of erasing `bytes` in one unit (e.g. from the flash timing model). */
  eraseTimeMs?: (bytes: number) => number;
  /**
   * Image bytes between two resume-log checkpoints (default: one erase sector; 0: every write call).
   * A checkpoint is taken at the end of a write() call once this much is new, so after a power cut
   * the caller re-sends at most the last write call or this many bytes, whichever is more. Each
   * checkpoint costs a sync and one small otadata program.
   */
  checkpointBytes?: number;
  onProgress?: (p: OtaProgress) => void;
}

/** What the engine hands the writer: where to write and where to log. */
export interface WriterContext {
  readonly slot: Partition;
  readonly region: BlockDevice;
  readonly hashes: HashProvider;
  readonly chip: number | undefined;
  readonly requireHash: boolean;
  /** Lowest acceptable secure_version (anti-rollback on), or null. */
  readonly secureVersionFloor: number | null;
  /** The resume log, or null when there is none (no otadata). */
  readonly log: ResumeLog | null;
  readonly eraseLimit: number;
  readonly size: number | null;
  /** Resume only: bytes already on flash (read back into the structure check) and erased. */
  readonly written: number;
  readonly erased: number;
  /** Resume only: [written, dirtyEnd) may hold bytes programmed after the last checkpoint. */
  readonly dirtyEnd: number;
  readonly onClose: (w: OtaWriter, verdict: ImageVerdict | null) => void;
}

/** Read-back buffer of resume and end(): one sector, so the heap peak of end() stays small. */
const READBACK_CHUNK = 4096;

/** Refuses options that would be silently ignored or misread (OTA_BAD_ARGUMENT), before anything is written. */
export function checkWriteOptions(opts: OtaWriteOptions): void {
  const bad = (what: string) => {
    throw new OtaflashError('OTA_BAD_ARGUMENT', what);
  };
  const every = opts.checkpointBytes;
  if (every !== undefined && !(every >= 0 && every === Math.floor(every))) bad(`checkpointBytes ${every} is not a non-negative integer`);
  const bytes = opts.maxEraseBytesPerStep;
  if (bytes !== undefined && !(bytes > 0)) bad(`maxEraseBytesPerStep ${bytes} is not a positive number`);
  const ms = opts.maxEraseMsPerStep;
  if (ms !== undefined && !(ms > 0)) bad(`maxEraseMsPerStep ${ms} is not a positive number`);
  if (ms !== undefined && typeof opts.eraseTimeMs !== 'function') bad('maxEraseMsPerStep needs eraseTimeMs (the estimated chip time of an erase), for example from the flash timing model');
  if (opts.onProgress !== undefined && typeof opts.onProgress !== 'function') bad('onProgress must be a function');
}

export class OtaWriter {
  readonly partition: Partition;
  private readonly ctx: WriterContext;
  private readonly region: BlockDevice;
  private readonly verifier: ImageVerifier;
  private readonly opts: OtaWriteOptions;
  private readonly unit: number;
  private readonly interval: number;
  private accepted: number;
  private flushed: number;
  private erasedTo: number;
  /** Bytes received but not yet programmed because the device programs whole write units. */
  private pending: Uint8Array | null = null;
  private pendingLen = 0;
  private checkpointWritten: number;
  private dirtyEnd: number;
  private state: 'open' | 'closed' | 'broken' = 'open';
  private brokenBy: unknown = null;

  /** @internal */
  constructor(ctx: WriterContext, opts: OtaWriteOptions) {
    this.ctx = ctx;
    this.partition = ctx.slot;
    this.region = ctx.region;
    this.opts = opts;
    this.unit = Math.max(1, this.region.writeSize);
    this.verifier = createStructureVerifier(this.verifierOptions());
    this.accepted = ctx.written;
    this.flushed = ctx.written;
    this.erasedTo = ctx.erased;
    this.checkpointWritten = ctx.written;
    this.dirtyEnd = ctx.dirtyEnd;
    checkWriteOptions(opts);
    this.interval = Math.max(1, opts.checkpointBytes ?? this.region.eraseSize);
    if (ctx.written > 0) this.rehashPrefix(ctx.written);
  }

  /** Image bytes accepted so far: a resumed writer expects the caller to continue from here. */
  get offset(): number {
    return this.accepted;
  }

  get erased(): number {
    return this.erasedTo;
  }

  get isOpen(): boolean {
    return this.state === 'open';
  }

  /** Bytes the erase plan still has to erase (eraseStep() until 0 to pre-erase everything). */
  get eraseRemaining(): number {
    return Math.max(0, this.ctx.eraseLimit - this.erasedTo);
  }

  private verifierOptions() {
    const ctx = this.ctx;
    return { hashes: ctx.hashes, expectedChip: ctx.chip, maxSize: ctx.slot.size, requireHash: ctx.requireHash, flashOffset: ctx.slot.offset };
  }

  /** Feeds the slot's bytes [0, n) as they are on flash into `into`, one sector at a time. */
  private readBack(n: number, into: { update(chunk: Uint8Array): void }): void {
    const buf = new Uint8Array(Math.min(READBACK_CHUNK, n));
    for (let off = 0; off < n; off += buf.length) {
      const len = Math.min(buf.length, n - off);
      const view = len === buf.length ? buf : buf.subarray(0, len);
      this.region.read(off, view);
      into.update(view);
    }
  }

  private rehashPrefix(n: number): void {
    // The structure check must cover every byte of the image, so on resume the part already on
    // flash is read back once and fed through it (end() hashes the whole slot from flash anyway).
    try {
      this.readBack(n, this.verifier);
    } catch (e) {
      if (e instanceof OtaflashError && e.code.indexOf('IMAGE_') === 0) {
        throw new OtaflashError('OTA_RESUME_CORRUPT', `the ${hex(n)} bytes already in ${this.partition.label} are not the start of a valid image (${e.code}: ${e.message}); abort and start again`, { cause: e.code });
      }
      throw e;
    }
  }

  private checkOpen(op: string): void {
    if (this.state === 'closed') throw new OtaflashError('OTA_WRITER_CLOSED', `${op}: the update of ${this.partition.label} has already ended or been aborted`);
    if (this.state === 'broken') {
      const why = this.brokenBy instanceof Error ? this.brokenBy.message : String(this.brokenBy);
      throw new OtaflashError('OTA_WRITER_FAILED', `${op}: an earlier operation on ${this.partition.label} failed (${why}); abort, or resume() after a reboot`);
    }
  }

  private fail(e: unknown): never {
    this.state = 'broken';
    this.brokenBy = e;
    throw e;
  }

  /**
   * Erases the next part of the plan: at most `maxBytes` (default: the begin() budget, else all),
   * but always at least one sector. Returns the bytes still to erase. Lets a device runtime erase a
   * large slot in slices and feed its watchdog between calls.
   */
  eraseStep(maxBytes?: number): number {
    this.checkOpen('eraseStep');
    if (maxBytes !== undefined && !(typeof maxBytes === 'number' && maxBytes > 0)) {
      throw new OtaflashError('OTA_BAD_ARGUMENT', `eraseStep: the byte budget must be a positive number (Infinity for no limit), got ${String(maxBytes)}`);
    }
    try {
      this.eraseTo(this.ctx.eraseLimit, this.stepBudget(maxBytes), true);
    } catch (e) {
      this.fail(e);
    }
    return this.eraseRemaining;
  }

  private stepBudget(maxBytes: number | undefined): { bytes: number; ms: number } {
    const o = this.opts;
    return {
      bytes: maxBytes ?? o.maxEraseBytesPerStep ?? Infinity,
      ms: maxBytes === undefined && o.maxEraseMsPerStep !== undefined && o.eraseTimeMs ? o.maxEraseMsPerStep : Infinity,
    };
  }

  /** Erases forward from erasedTo up to `target` (a multiple of eraseSize), within a budget. */
  private eraseTo(target: number, budget: { bytes: number; ms: number }, explicit: boolean): void {
    const limit = this.ctx.eraseLimit;
    let bytes = budget.bytes;
    let ms = budget.ms;
    let first = true;
    while (this.erasedTo < target) {
      // The first unit of a call shrinks to fit the budget (a sector always goes); later ones must
      // be the natural unit there, because filling the rest of a budget with sectors would break the
      // block alignment of every later call and cost more chip time in total.
      let unit = eraseUnitAt(this.region, this.erasedTo, limit, first ? Math.max(bytes, this.region.eraseSize) : Infinity);
      if (!first && unit > bytes) break;
      if (ms !== Infinity) {
        const timeOf = this.opts.eraseTimeMs!;
        if (first) while (unit > this.region.eraseSize && timeOf(unit) > ms) unit = eraseUnitAt(this.region, this.erasedTo, limit, unit - 1);
        else if (timeOf(unit) > ms) break;
        ms -= timeOf(unit);
      }
      this.region.erase(this.erasedTo, unit);
      this.erasedTo += unit;
      bytes -= unit;
      first = false;
    }
    this.region.sync();
    // Erase-ahead inside write() is logged by the checkpoint at the end of that write.
    if (explicit) {
      this.checkpointErased();
      this.report();
    }
  }

  /** Programs the next bytes of the image (any size). Erases ahead as needed. */
  write(chunk: Uint8Array): void {
    this.checkOpen('write');
    if (!(chunk instanceof Uint8Array)) throw new OtaflashError('OTA_BAD_ARGUMENT', 'write() takes a Uint8Array');
    const len = chunk.length;
    if (len === 0) return;
    if (this.accepted === 0 && chunk[0] !== 0xe9) {
      // ESP-IDF checks the magic on the first chunk so that a wrong file is refused before it is written.
      throw new OtaflashError('OTA_VALIDATE_FAILED', `first byte of the image is ${hex(chunk[0])}, not the app image magic 0xe9; nothing was written to ${this.partition.label}`);
    }
    const end = this.accepted + len;
    const cap = this.ctx.size ?? this.partition.size;
    if (end > cap) {
      throw new OtaflashError(
        'OTA_IMAGE_TOO_LARGE',
        this.ctx.size !== null
          ? `write of ${len} bytes at ${hex(this.accepted)} goes past the declared image size ${hex(this.ctx.size)}`
          : `write of ${len} bytes at ${hex(this.accepted)} goes past the end of ${this.partition.label} (${hex(this.partition.size)} bytes)`,
        { offset: this.accepted, length: len },
      );
    }
    try {
      this.verifier.update(chunk);
      this.program(chunk);
      this.accepted = end;
      this.maybeCheckpoint();
    } catch (e) {
      this.fail(e);
    }
    this.report();
  }

  private program(chunk: Uint8Array): void {
    const u = this.unit;
    let data = chunk;
    if (u > 1) {
      // Whole write units only: join with what is pending, keep the remainder for next time.
      const total = this.pendingLen + chunk.length;
      const whole = total - (total % u);
      if (!this.pending) this.pending = new Uint8Array(u);
      if (this.pendingLen === 0 && whole > 0) {
        // Nothing pending (the usual case: chunks of whole write units): program the caller's bytes
        // as they are, without a copy per chunk.
        this.programAt(this.flushed, chunk.subarray(0, whole));
        this.flushed += whole;
        const tail = chunk.subarray(whole);
        this.pending.set(tail);
        this.pendingLen = tail.length;
        return;
      }
      if (whole === 0) {
        this.pending.set(chunk, this.pendingLen);
        this.pendingLen = total;
        return;
      }
      const joined = new Uint8Array(whole);
      joined.set(this.pending.subarray(0, this.pendingLen));
      joined.set(chunk.subarray(0, whole - this.pendingLen), this.pendingLen);
      const rest = chunk.subarray(whole - this.pendingLen);
      this.pending.set(rest);
      this.pendingLen = rest.length;
      data = joined;
    }
    this.programAt(this.flushed, data);
    this.flushed += data.length;
  }

  private programAt(at: number, data: Uint8Array): void {
    const end = at + data.length;
    if (this.erasedTo < end) {
      // Erase what this chunk reaches. With a step budget every erase command stays within it (one
      // unit per eraseTo call), so a chunk no larger than the budget costs at most one budget.
      const target = roundUp(end, this.region.eraseSize);
      const budget = this.stepBudget(undefined);
      while (this.erasedTo < target) this.eraseTo(target, budget, false);
    }
    if (at < this.dirtyEnd) this.checkDirty(at, data, false);
    this.region.write(at, data);
    if (at < this.dirtyEnd) this.checkDirty(at, data, true);
  }

  /**
   * After a resume, bytes between the last checkpoint and the cut may already be programmed. Re-sent
   * identical data programs over them harmlessly; different data would silently AND into garbage
   * that the stream hash cannot see, so it is refused before writing and checked after.
   */
  private checkDirty(at: number, data: Uint8Array, after: boolean): void {
    const n = Math.min(data.length, this.dirtyEnd - at);
    const have = new Uint8Array(n);
    this.region.read(at, have);
    for (let i = 0; i < n; i++) {
      const bad = after ? have[i] !== data[i] : (data[i] & ~have[i] & 0xff) !== 0;
      if (bad) {
        throw new OtaflashError(
          'OTA_RESUME_MISMATCH',
          `${this.partition.label} at ${hex(at + i)} already holds ${hex(have[i])} from before the interruption, which the re-sent byte ${hex(data[i])} cannot produce: the data differs from the first attempt; abort and start again`,
          { offset: at + i },
        );
      }
    }
  }

  /** Logs erase progress that the written bytes do not already imply (the erase is synced). */
  private checkpointErased(): void {
    const log = this.ctx.log;
    if (log && this.erasedTo > roundUp(this.flushed, this.region.eraseSize)) log.markErased(this.erasedTo);
  }

  /** At the end of a write() call: logs the bytes programmed so far once `interval` of them are new. */
  private maybeCheckpoint(): void {
    const log = this.ctx.log;
    if (!log) return;
    const claim = Math.floor(this.flushed / log.granule) * log.granule;
    // The call that completes a declared size is always logged: end() comes next, and a cut before
    // it should not cost the caller the tail.
    const complete = this.ctx.size !== null && this.accepted === this.ctx.size;
    if (claim <= this.checkpointWritten || (claim - this.checkpointWritten < this.interval && !complete)) return;
    // Only data already durable may be claimed by a checkpoint; erase progress goes first so that
    // the log never claims written bytes in space it does not know to be erased.
    this.region.sync();
    this.checkpointErased();
    log.markWritten(claim);
    this.checkpointWritten = claim;
  }

  private report(): void {
    const cb = this.opts.onProgress;
    if (cb) cb({ written: this.accepted, erased: this.erasedTo, total: this.ctx.size, eraseTotal: this.ctx.eraseLimit });
  }

  /**
   * Finishes the update: programs any buffered tail, takes the structure check's verdict on the
   * stream, then verifies the image once from flash (checksum and SHA-256 of the bytes that landed,
   * as esp_ota_end does). Throws IMAGE_* for a bad image (the message says "read back from flash"
   * when only the flash copy is bad), OTA_SMALL_SEC_VER when anti-rollback refuses it. The writer
   * is closed afterwards on every path, like esp_ota_end.
   */
  end(): ImageVerdict {
    this.checkOpen('end');
    if (this.accepted === 0) {
      this.close(null);
      throw new OtaflashError('OTA_NOTHING_WRITTEN', `end(): nothing was written to ${this.partition.label}`);
    }
    let verdict: ImageVerdict;
    try {
      if (this.pendingLen > 0) {
        const padded = new Uint8Array(this.unit);
        padded.fill(this.region.eraseValue);
        padded.set(this.pending!.subarray(0, this.pendingLen));
        this.programAt(this.flushed, padded);
        this.flushed += this.unit;
        this.pendingLen = 0;
      }
      this.region.sync();
      const streamed = this.verifier.finish();
      verdict = this.verifyFromFlash(streamed);
      const floor = this.ctx.secureVersionFloor;
      if (floor !== null) {
        const v = verdict.appDesc ? verdict.appDesc.secureVersion : 0;
        if (v < floor) {
          throw new OtaflashError('OTA_SMALL_SEC_VER', `image secure_version ${v} is lower than ${floor} (running app / eFuse): anti-rollback refuses it`, { secureVersion: v, floor });
        }
      }
    } catch (e) {
      if (e instanceof OtaflashError && e.code === 'POWER_LOSS') this.fail(e);
      this.close(null);
      throw e;
    }
    this.close(verdict);
    return verdict;
  }

  /** The full verification (SHA-256 included) of the accepted bytes as they are on flash now. */
  private verifyFromFlash(streamed: ImageVerdict): ImageVerdict {
    const full = createImageVerifier(this.verifierOptions());
    let verdict: ImageVerdict;
    try {
      this.readBack(this.accepted, full);
      verdict = full.finish();
    } catch (e) {
      if (e instanceof OtaflashError && e.code.indexOf('IMAGE_') === 0) {
        // The stream passed its structure and checksum checks: say that this verdict is about flash.
        throw new OtaflashError(e.code, `${this.partition.label}, read back from flash: ${e.message}`, e.info ? Object.assign({ readBack: true }, e.info) : { readBack: true });
      }
      throw e;
    }
    if (verdict.size !== streamed.size || verdict.checksumStored !== streamed.checksumStored) {
      throw new OtaflashError('OTA_READBACK_MISMATCH', `${this.partition.label}: the image read back from flash (${hex(verdict.size)} bytes, checksum ${hex(verdict.checksumStored)}) is not the one written (${hex(streamed.size)} bytes, checksum ${hex(streamed.checksumStored)})`, { label: this.partition.label });
    }
    return verdict;
  }

  /** Gives up the update: the slot keeps whatever was written, otadata still selects the old app. */
  abort(): void {
    if (this.state === 'closed') return;
    this.close(null);
  }

  private close(verdict: ImageVerdict | null): void {
    this.state = 'closed';
    const log = this.ctx.log;
    if (log) closeResumeLog(log.region, log.sector);
    this.ctx.onClose(this, verdict);
  }
}

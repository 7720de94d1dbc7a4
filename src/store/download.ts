/**
 * Background download into the image store (the Harmony shape): the application hands over chunks
 * as they arrive (offer), and its main loop calls step(budget), which does at most about that much
 * flash work (bytes, or milliseconds of chip time from the timing model) and returns. The work is:
 * erase the new image's sectors, write its header, program queued chunks, then hash the stored
 * image. When the status says 'verified', the application decides when to install and reboot.
 *
 * Every unit of work is one of the store's own power-cut-safe operations, so a download survives a
 * reset: StoreDownload.resume(store, id) continues an image the store already holds (missing chunks
 * come from missingChunks()); a cut while preparing leaves only free space behind.
 */
import { OtaflashError, kindOf } from '../errors';
import { type ChipProfile, type TimingCorner, eraseTimeMs, programTimeMs, readTimeMs } from '../flash/timing';
import { type CreateOptions, type ImageHashJob, type ImageStore, type Reservation } from './store';
import type { CreateImageOptions, ImageState } from './types';

export interface StepBudget {
  /** Bytes of flash work: bytes read, programmed and erased, each counted. */
  bytes?: number;
  /** Milliseconds of estimated chip time (needs `timing` in the download options). */
  ms?: number;
}

export interface DownloadOptions extends CreateOptions {
  /** Chip profile whose timing prices each operation for `ms` budgets (e.g. W25Q32JV). */
  timing?: ChipProfile;
  corner?: TimingCorner;
  /** Chunks held in RAM waiting for a step (default 4): offer() answers 'full' beyond it. */
  maxQueuedChunks?: number;
}

export type DownloadPhase = 'preparing' | 'receiving' | 'verifying' | 'verified';

export interface DownloadStatus {
  readonly id: number;
  readonly phase: DownloadPhase;
  readonly chunks: number;
  readonly storedChunks: number;
  readonly queuedChunks: number;
  /** Image bytes hashed so far in the verifying phase. */
  readonly hashedBytes: number;
  readonly size: number;
  /** Flash work this step did, in the budget's units (bytes, and ms when timed). */
  readonly stepBytes: number;
  readonly stepMs: number;
}

export type OfferResult = 'queued' | 'duplicate' | 'full';

const HASH_PIECE = 4096;

export class StoreDownload {
  readonly store: ImageStore;
  readonly id: number;
  private readonly size: number;
  private readonly chunkSize: number;
  private readonly chunks: number;
  private readonly opts: DownloadOptions;
  private reservation: Reservation | null;
  private readonly queue: { index: number; bytes: Uint8Array }[] = [];
  private hashJob: ImageHashJob | null = null;
  private phaseNow: DownloadPhase;

  private constructor(store: ImageStore, id: number, size: number, chunkSize: number, reservation: Reservation | null, phase: DownloadPhase, opts: DownloadOptions) {
    this.store = store;
    this.id = id;
    this.size = size;
    this.chunkSize = chunkSize;
    this.chunks = Math.ceil(size / chunkSize);
    this.reservation = reservation;
    this.phaseNow = phase;
    this.opts = opts;
  }

  /** Starts downloading a new image: sets its sectors aside now (evicting if allowed), erases them in later steps. */
  static start(store: ImageStore, image: CreateImageOptions, opts: DownloadOptions = {}): StoreDownload {
    checkOptions(opts);
    const r = store.reserve(image, opts);
    return new StoreDownload(store, r.rec.id, r.rec.size, r.rec.chunkSize, r, 'preparing', opts);
  }

  /** Continues downloading an image the store holds (for example after a reboot). */
  static resume(store: ImageStore, id: number, opts: DownloadOptions = {}): StoreDownload {
    checkOptions(opts);
    const img = store.get(id);
    if (!img) throw new OtaflashError('STORE_NOT_FOUND', `download: no image with id ${String(id)} in the store`, { id });
    const phase = phaseOfState(img.state, img.storedChunks === img.chunks);
    return new StoreDownload(store, id, img.size, img.chunkSize, null, phase, opts);
  }

  get phase(): DownloadPhase {
    return this.phaseNow;
  }

  /**
   * Hands over a received chunk (copied). 'duplicate' when it is already on flash (not re-read: a
   * chunk's content is checked when it is written, and by the hash at the end) or queued with the
   * same bytes; 'full' when the queue is full (offer it again after a step). A different content
   * for a queued chunk throws STORE_CHUNK_MISMATCH; a bad index or length their STORE_* errors.
   */
  offer(index: number, bytes: Uint8Array): OfferResult {
    if (typeof index !== 'number' || !(index >= 0 && index < this.chunks) || index !== Math.floor(index)) {
      throw new OtaflashError('STORE_BAD_CHUNK_INDEX', `offer: image ${this.id} has chunks 0..${this.chunks - 1}, got ${String(index)}`, { id: this.id, index });
    }
    const len = index === this.chunks - 1 ? this.size - index * this.chunkSize : this.chunkSize;
    if (!(bytes instanceof Uint8Array) || bytes.length !== len) {
      throw new OtaflashError('STORE_BAD_CHUNK_SIZE', `offer: chunk ${index} of image ${this.id} is ${len} bytes, got ${bytes instanceof Uint8Array ? bytes.length + ' bytes' : kindOf(bytes)}`, { id: this.id, index, expected: len });
    }
    if (this.phaseNow !== 'preparing' && this.store.hasChunk(this.id, index)) return 'duplicate';
    for (let q = 0; q < this.queue.length; q++) {
      if (this.queue[q].index !== index) continue;
      const have = this.queue[q].bytes;
      for (let i = 0; i < len; i++) {
        if (have[i] !== bytes[i]) throw new OtaflashError('STORE_CHUNK_MISMATCH', `offer: chunk ${index} of image ${this.id} is already queued with different content (byte ${i})`, { id: this.id, index, offset: i });
      }
      return 'duplicate';
    }
    if (this.queue.length >= (this.opts.maxQueuedChunks ?? 4)) return 'full';
    this.queue.push({ index, bytes: bytes.slice() });
    return 'queued';
  }

  /** Chunks still wanted: not on flash and not queued, ascending, at most `limit`. */
  wanted(limit = Infinity): number[] {
    const out: number[] = [];
    const queued = (i: number) => this.queue.some((q) => q.index === i);
    if (this.phaseNow === 'preparing') {
      for (let i = 0; i < this.chunks && out.length < limit; i++) if (!queued(i)) out.push(i);
      return out;
    }
    const missing = this.store.missingChunks(this.id);
    for (let k = 0; k < missing.length && out.length < limit; k++) if (!queued(missing[k])) out.push(missing[k]);
    return out;
  }

  /**
   * Does flash work until the budget is spent (always at least one unit: a sector's check and erase,
   * a header, one chunk, or one 4 KiB hash piece, so a tiny budget still makes progress) or nothing
   * is left to do. Returns the status. Throws what the store throws (STORE_HASH_MISMATCH when the
   * finished image does not match its SHA-256: it is then marked failed).
   */
  step(budget: StepBudget = {}): DownloadStatus {
    if (budget === null || typeof budget !== 'object') throw new OtaflashError('STORE_BAD_ARGUMENT', `step: budget must be an object, got ${kindOf(budget)}`);
    const maxBytes = budget.bytes ?? Infinity;
    const maxMs = budget.ms ?? Infinity;
    if (!(maxBytes > 0) || !(maxMs > 0)) throw new OtaflashError('STORE_BAD_ARGUMENT', `step: budgets must be positive, got bytes ${String(budget.bytes)}, ms ${String(budget.ms)}`);
    if (budget.ms !== undefined && !this.opts.timing) throw new OtaflashError('STORE_BAD_ARGUMENT', 'step: a millisecond budget needs a chip profile (download option timing, e.g. W25Q32JV)');
    let bytes = 0;
    let ms = 0;
    const fits = (b: number, t: number) => (bytes === 0 && ms === 0) || (bytes + b <= maxBytes && ms + t <= maxMs);
    const es = this.store.device.eraseSize;
    for (;;) {
      if (this.phaseNow === 'preparing') {
        const r = this.reservation!;
        if (r.prepared < r.sectors) {
          const at = r.at + r.prepared * es;
          const b = 2 * es;
          const t = this.readMs(es) + this.eraseMs(at, es);
          if (!fits(b, t)) break;
          const erased = this.store.prepare(r);
          bytes += es + erased;
          ms += this.readMs(es) + (erased ? this.eraseMs(at, es) : 0);
          continue;
        }
        const hb = r.layout.recordSpan + r.layout.unit;
        if (!fits(hb, this.programMs(r.at, hb))) break;
        this.store.commit(r);
        this.reservation = null;
        bytes += hb;
        ms += this.programMs(r.at, hb);
        this.phaseNow = 'receiving';
        continue;
      }
      if (this.phaseNow === 'receiving') {
        const img = this.store.get(this.id)!;
        if (img.storedChunks === img.chunks) {
          this.phaseNow = 'verifying';
          continue;
        }
        if (this.queue.length === 0) break;
        const q = this.queue[0];
        const t = this.programMs(0, q.bytes.length) + this.programMs(0, this.store.unit);
        if (!fits(q.bytes.length, t)) break;
        this.queue.shift();
        this.store.writeChunk(this.id, q.index, q.bytes);
        bytes += q.bytes.length;
        ms += t;
        continue;
      }
      if (this.phaseNow === 'verifying') {
        if (!this.hashJob) {
          this.hashJob = this.store.startHash(this.id);
          if (this.hashJob.alreadyVerified) {
            this.phaseNow = 'verified';
            break;
          }
        }
        const n = Math.min(HASH_PIECE, this.size - this.hashJob.hashed);
        const t = this.readMs(n);
        if (!fits(n, t)) break;
        bytes += n;
        ms += t;
        if (this.hashJob.step(n)) this.phaseNow = 'verified';
        continue;
      }
      break;
    }
    return this.status(bytes, ms);
  }

  status(stepBytes = 0, stepMs = 0): DownloadStatus {
    const img = this.store.get(this.id);
    return {
      id: this.id,
      phase: this.phaseNow,
      chunks: this.chunks,
      storedChunks: img ? img.storedChunks : 0,
      queuedChunks: this.queue.length,
      hashedBytes: this.hashJob ? this.hashJob.hashed : this.phaseNow === 'verified' ? this.size : 0,
      size: this.size,
      stepBytes,
      stepMs,
    };
  }

  /** Gives up: a reservation is released (nothing is on flash yet); an image already created stays (remove() it if unwanted). */
  cancel(): void {
    if (this.reservation) this.store.release(this.reservation);
    this.reservation = null;
    this.queue.length = 0;
  }

  private readMs(n: number): number {
    const p = this.opts.timing;
    return p ? readTimeMs(p, n) : 0;
  }

  private eraseMs(at: number, n: number): number {
    const p = this.opts.timing;
    return p ? eraseTimeMs(p, at, n, this.opts.corner ?? 'typ', []) : 0;
  }

  private programMs(at: number, n: number): number {
    const p = this.opts.timing;
    return p ? programTimeMs(p, at, n, this.opts.corner ?? 'typ') : 0;
  }
}

function phaseOfState(state: ImageState, allStored: boolean): DownloadPhase {
  if (state === 'receiving') return allStored ? 'verifying' : 'receiving';
  if (state === 'complete') return 'verifying';
  if (state === 'failed') throw new OtaflashError('STORE_BAD_STATE', 'download: the image has failed; remove it and start again');
  return 'verified';
}

function checkOptions(opts: DownloadOptions): void {
  if (opts === null || typeof opts !== 'object') throw new OtaflashError('STORE_BAD_ARGUMENT', `download: options must be an object, got ${kindOf(opts)}`);
  const q = opts.maxQueuedChunks;
  if (q !== undefined && !(typeof q === 'number' && q >= 1 && q === Math.floor(q))) throw new OtaflashError('STORE_BAD_ARGUMENT', `download: maxQueuedChunks must be a positive whole number, got ${String(q)}`);
  if (opts.timing !== undefined && (opts.timing === null || typeof opts.timing !== 'object' || typeof opts.timing.sectorSize !== 'number')) {
    throw new OtaflashError('STORE_BAD_ARGUMENT', 'download: timing must be a chip profile such as W25Q32JV');
  }
}

// The body of a detools sequential patch, once decompressed (bsdiff's control stream, interleaved):
//
//   dfpatch_size                                 0: no data-format patch (anything else is refused)
//   repeat until to_size bytes are produced:
//     diff_size,  diff_size bytes                new[i] = old[from + i] + diff[i] (mod 256)
//     extra_size, extra_size bytes               copied to new as they are
//     adjustment                                 from += adjustment (signed)
//
// Sizes are signed base-128 (first byte: 6 value bits, bit 6 = sign; then 7 bits a byte; bit 7 =
// more), at most 4 bytes as detools's C code reads them. `from` advances by each diff's size.
// This machine is fed decompressed bytes in pieces of any size and never buffers more than one
// 4 KiB block of old bytes.
import { OtaflashError, hex } from '../errors';
import type { ByteSink } from './stream';

/** Where the old image's bytes come from: `read` fills `into` from `offset` (within [0, size)). */
export interface OldImage {
  readonly size: number;
  read(offset: number, into: Uint8Array): void;
}

/** What a walk over the patch learns (the facts `detools patch_info` prints). */
export interface SequentialStats {
  dfpatchSize: number;
  diffSizes: number[];
  extraSizes: number[];
  adjustments: number[];
  /** Bytes the diff, extra and adjustment sizes take. */
  sizeBytes: number;
}

const DF_SIZE = 0;
const DIFF_SIZE = 1;
const DIFF_DATA = 2;
const EXTRA_SIZE = 3;
const EXTRA_DATA = 4;
const ADJUSTMENT = 5;
const DONE = 6;
const BLOCK = 4096;
const MAX_SIZE_BYTES = 4;

function corrupt(code: string, message: string, info?: Record<string, unknown>): never {
  throw new OtaflashError(code, message, info);
}

export class SequentialPatchMachine {
  readonly toSize: number;
  private readonly old: OldImage | null;
  private readonly out: ByteSink | null;
  private readonly stats: SequentialStats | null;
  private st: number;
  private toPos = 0;
  private fromPos = 0;
  private left = 0;
  // Size being read.
  private value = 0;
  private scale = 1;
  private negative = false;
  private sizeLen = 0;
  private readonly block: Uint8Array;
  private bodyBytes = 0;

  /**
   * `old` and `out` null: walk only (for patch info), recording `stats`. Otherwise new bytes go to
   * `out` in order, each exactly once.
   */
  constructor(toSize: number, old: OldImage | null, out: ByteSink | null, stats: SequentialStats | null = null) {
    this.toSize = toSize;
    this.old = old;
    this.out = out;
    this.stats = stats;
    this.block = new Uint8Array(old ? BLOCK : 0);
    // As detools's C code: an empty new image has no body at all.
    this.st = toSize === 0 ? DONE : DF_SIZE;
  }

  /** Bytes of the new image produced so far. */
  get produced(): number {
    return this.toPos;
  }

  get done(): boolean {
    return this.st === DONE;
  }

  /** Decompressed body bytes consumed so far. */
  get consumed(): number {
    return this.bodyBytes;
  }

  /** Feeds decompressed body bytes `bytes[start, end)`; bytes past the end of the body are refused. */
  feed(bytes: Uint8Array, start: number, end: number): void {
    const i = this.feedSome(bytes, start, end);
    if (i < end) {
      corrupt('DELTA_PATCH_TOO_LONG', `the patch body goes on after the new image is complete (${this.toSize} bytes): ${end - i} more decompressed bytes at body offset ${this.bodyBytes}`, { bodyOffset: this.bodyBytes });
    }
  }

  /** Like feed, but stops where the body ends; returns the index of the first byte not consumed. */
  feedSome(bytes: Uint8Array, start: number, end: number): number {
    let i = start;
    while (i < end && this.st !== DONE) {
      switch (this.st) {
        case DF_SIZE:
        case DIFF_SIZE:
        case EXTRA_SIZE:
        case ADJUSTMENT: {
          const b = bytes[i++];
          this.bodyBytes++;
          if (this.sizeByte(b)) this.sizeDone();
          break;
        }
        case DIFF_DATA: {
          const n = Math.min(this.left, end - i, BLOCK);
          if (this.old) this.diff(bytes, i, n);
          i += n;
          this.bodyBytes += n;
          this.fromPos += n;
          this.advance(n, EXTRA_SIZE);
          break;
        }
        case EXTRA_DATA: {
          const n = Math.min(this.left, end - i);
          if (this.out) this.out(bytes, i, i + n);
          i += n;
          this.bodyBytes += n;
          this.advance(n, ADJUSTMENT);
          break;
        }
      }
    }
    return i;
  }

  /** The body is complete: the new image must be too. */
  finish(): void {
    if (this.st !== DONE) {
      corrupt('DELTA_TRUNCATED', `the patch ends after ${this.toPos} of the ${this.toSize} bytes of the new image (not enough patch data)`, { produced: this.toPos, toSize: this.toSize });
    }
  }

  private advance(n: number, next: number): void {
    this.left -= n;
    this.toPos += n;
    if (this.left === 0) this.startSize(next);
  }

  private startSize(st: number): void {
    this.st = st;
    this.value = 0;
    this.scale = 1;
    this.negative = false;
    this.sizeLen = 0;
  }

  private sizeByte(b: number): boolean {
    if (this.sizeLen === 0) {
      this.negative = (b & 0x40) !== 0;
      this.value = b & 0x3f;
      this.scale = 64;
    } else {
      if (this.sizeLen >= MAX_SIZE_BYTES) {
        corrupt('DELTA_CORRUPT_PATCH', `a size in the patch body (at decompressed offset ${this.bodyBytes - 1}) is longer than ${MAX_SIZE_BYTES} bytes`, { bodyOffset: this.bodyBytes - 1 });
      }
      this.value += (b & 0x7f) * this.scale;
      this.scale *= 128;
    }
    this.sizeLen++;
    if (this.stats) this.statsSizeByte();
    return (b & 0x80) === 0;
  }

  private statsSizeByte(): void {
    if (this.st !== DF_SIZE) this.stats!.sizeBytes++;
  }

  private sizeDone(): void {
    const v = this.negative ? -this.value : this.value;
    const s = this.stats;
    switch (this.st) {
      case DF_SIZE:
        if (v > 0) corrupt('DELTA_UNSUPPORTED_DATA_FORMAT', `the patch carries a ${v}-byte data-format patch (detools --data-format), which is not supported (detools's C apply code does not implement it either)`, { dfpatchSize: v });
        if (v < 0) corrupt('DELTA_CORRUPT_PATCH', `data-format patch size ${v} is negative`);
        if (s) s.dfpatchSize = v;
        this.startSize(DIFF_SIZE);
        return;
      case DIFF_SIZE:
      case EXTRA_SIZE: {
        const what = this.st === DIFF_SIZE ? 'diff' : 'extra';
        if (v < 0 || this.toPos + v > this.toSize) {
          corrupt('DELTA_CORRUPT_PATCH', `${what} size ${v} at new offset ${hex(this.toPos)} ${v < 0 ? 'is negative' : `runs past the new image size ${this.toSize}`}`, { kind: what, size: v, toOffset: this.toPos, toSize: this.toSize });
        }
        if (s) (this.st === DIFF_SIZE ? s.diffSizes : s.extraSizes).push(v);
        const data = this.st === DIFF_SIZE ? DIFF_DATA : EXTRA_DATA;
        const after = this.st === DIFF_SIZE ? EXTRA_SIZE : ADJUSTMENT;
        this.left = v;
        if (v === 0) this.startSize(after);
        else {
          if (data === DIFF_DATA && this.old) this.checkOld(v);
          this.st = data;
        }
        return;
      }
      case ADJUSTMENT:
        if (s) s.adjustments.push(v);
        this.fromPos += v;
        if (this.toPos === this.toSize) this.st = DONE;
        else this.startSize(DIFF_SIZE);
        return;
    }
  }

  /** A diff must read old bytes inside the old image (refused before any of its output). */
  private checkOld(n: number): void {
    const size = this.old!.size;
    if (this.fromPos < 0 || this.fromPos + n > size) {
      corrupt('DELTA_OLD_OUT_OF_RANGE', `the patch reads old bytes [${this.fromPos}, ${this.fromPos + n}) for new offset ${hex(this.toPos)}, outside the old image (${size} bytes): wrong old image, or a corrupt patch`, { fromOffset: this.fromPos, length: n, oldSize: size, toOffset: this.toPos });
    }
  }

  private diff(bytes: Uint8Array, at: number, n: number): void {
    const blk = n === BLOCK ? this.block : this.block.subarray(0, n);
    this.old!.read(this.fromPos, blk);
    for (let k = 0; k < n; k++) blk[k] = (blk[k] + bytes[at + k]) & 0xff;
    this.out!(blk, 0, n);
  }
}

import { checkErase, checkRange, checkWrite } from './checks';
import type { BlockDevice } from './types';

/**
 * I/O counters of a device. Counting is a handful of additions per call, so drivers keep it on
 * unconditionally; `sectorErases` is the wear map (erase cycles per sector since creation or reset).
 */
export interface FlashStats {
  reads: number;
  writes: number;
  erases: number;
  syncs: number;
  bytesRead: number;
  bytesProgrammed: number;
  bytesErased: number;
  /** Erase count per sector (index = offset / eraseSize). */
  readonly sectorErases: Uint32Array;
}

export function createFlashStats(sectorCount: number): FlashStats {
  return { reads: 0, writes: 0, erases: 0, syncs: 0, bytesRead: 0, bytesProgrammed: 0, bytesErased: 0, sectorErases: new Uint32Array(sectorCount) };
}

export function resetFlashStats(s: FlashStats): void {
  s.reads = s.writes = s.erases = s.syncs = 0;
  s.bytesRead = s.bytesProgrammed = s.bytesErased = 0;
  s.sectorErases.fill(0);
}

/** The most-erased sector's count: the figure wear-levelling arguments start from. */
export function maxSectorErases(s: FlashStats): number {
  let m = 0;
  const w = s.sectorErases;
  for (let i = 0; i < w.length; i++) if (w[i] > m) m = w[i];
  return m;
}

/** Adds an erase of [offset, offset + length) to the counters; the range is already validated. */
export function countErase(s: FlashStats, eraseSize: number, offset: number, length: number): void {
  s.erases++;
  s.bytesErased += length;
  const w = s.sectorErases;
  const end = (offset + length) / eraseSize;
  for (let i = offset / eraseSize; i < end; i++) w[i]++;
}

/**
 * Counts the I/O of any device (for drivers without built-in counters, such as FileFlash).
 * Calls that the inner device rejects are not counted.
 */
export class StatsFlash implements BlockDevice {
  readonly size: number;
  readonly eraseSize: number;
  readonly writeSize: number;
  readonly eraseValue: number;
  readonly blockEraseSizes?: readonly number[];
  readonly stats: FlashStats;

  constructor(readonly inner: BlockDevice) {
    this.size = inner.size;
    this.eraseSize = inner.eraseSize;
    this.writeSize = inner.writeSize;
    this.eraseValue = inner.eraseValue;
    if (inner.blockEraseSizes) this.blockEraseSizes = inner.blockEraseSizes;
    this.stats = createFlashStats(inner.size / inner.eraseSize);
  }

  read(offset: number, into: Uint8Array): void {
    checkRange(this, 'read', offset, into.length);
    this.inner.read(offset, into);
    this.stats.reads++;
    this.stats.bytesRead += into.length;
  }

  write(offset: number, data: Uint8Array): void {
    checkWrite(this, offset, data.length);
    this.inner.write(offset, data);
    this.stats.writes++;
    this.stats.bytesProgrammed += data.length;
  }

  erase(offset: number, length: number): void {
    checkErase(this, offset, length);
    this.inner.erase(offset, length);
    countErase(this.stats, this.eraseSize, offset, length);
  }

  sync(): void {
    this.inner.sync();
    this.stats.syncs++;
  }
}

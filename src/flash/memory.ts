import { OtaflashError, hex } from '../errors';
import { checkBytes, checkErase, checkRange, checkWrite, resolveGeometry } from './checks';
import { ErasedMap } from './erased-map';
import { type FlashStats, countErase, createFlashStats } from './stats';
import type { BlockDevice, FlashGeometry } from './types';

/** 'strict': programming a 0 bit back to 1 throws FLASH_WRITE_NOT_ERASED. 'nor': stores old & new, as a chip does. */
export type ProgramMode = 'strict' | 'nor';

export interface MemoryFlashOptions extends Partial<FlashGeometry> {
  size: number;
  mode?: ProgramMode;
  /** Initial contents (copied); the rest is erased. */
  contents?: Uint8Array;
}

/**
 * The contents of a MemoryFlash at one moment, for `restore()`. Sector copies are shared between
 * snapshots and never written, so taking one costs a copy of the sectors changed since the last
 * snapshot plus one pointer per sector.
 */
export class FlashSnapshot {
  /** @internal */
  constructor(
    readonly owner: MemoryFlash,
    /** @internal one immutable copy per sector */
    readonly sectors: readonly Uint8Array[],
  ) {}
}

/**
 * A NOR flash chip in memory, with I/O statistics and cheap snapshots.
 *
 * Writes take a 32-bit word path when the device offset and the source's byte offset are both
 * 4-aligned; keep source buffers 4-aligned (a reused chunk buffer is ideal) for full speed.
 */
export class MemoryFlash implements BlockDevice {
  readonly size: number;
  readonly eraseSize: number;
  readonly writeSize: number;
  readonly eraseValue: number;
  readonly blockEraseSizes?: readonly number[];
  readonly mode: ProgramMode;
  /**
   * The backing bytes. Reading it directly is fine in tests; writing it bypasses the NOR rules,
   * the statistics and snapshot tracking: use `poke()` to change bytes behind the chip's back.
   */
  readonly bytes: Uint8Array;
  /** Counters since creation or `resetFlashStats(dev.stats)`. Not rewound by `restore()`. */
  readonly stats: FlashStats;
  private readonly words: Uint32Array;
  private readonly sectorShift: number;
  // Snapshot tracking: frozen[s] is an immutable copy equal to sector s, or null when s changed since.
  private readonly frozen: (Uint8Array | null)[];
  private readonly erasedSector: Uint8Array;
  private dirty: number[] = [];
  private readonly inDirty: Uint8Array;
  // A program that lands wholly in known-erased space needs no 0->1 scan and no AND: the common
  // case of a sequential OTA write into freshly erased sectors.
  private readonly erased: ErasedMap;
  // Word view over the last source buffer seen, so repeated writes from one buffer allocate nothing.
  private srcBuffer: ArrayBufferLike | null = null;
  private srcWords: Uint32Array = new Uint32Array(0);

  constructor(opts: MemoryFlashOptions) {
    const g = resolveGeometry(opts);
    this.size = g.size;
    this.eraseSize = g.eraseSize;
    this.writeSize = g.writeSize;
    this.eraseValue = g.eraseValue;
    this.blockEraseSizes = g.blockEraseSizes;
    this.mode = g.mode;
    this.bytes = new Uint8Array(this.size);
    this.bytes.fill(this.eraseValue);
    this.words = new Uint32Array(this.bytes.buffer, 0, this.size >>> 2);
    this.sectorShift = g.sectorShift;
    const sectors = this.size / this.eraseSize;
    this.stats = createFlashStats(sectors);
    this.erasedSector = new Uint8Array(this.eraseSize);
    this.erasedSector.fill(this.eraseValue);
    this.frozen = new Array(sectors);
    for (let s = 0; s < sectors; s++) this.frozen[s] = this.erasedSector;
    this.inDirty = new Uint8Array(sectors);
    this.erased = new ErasedMap(sectors, this.eraseSize, this.sectorShift, true);
    if (opts.contents != null) {
      checkBytes('contents', opts.contents);
      const c = opts.contents.subarray(0, this.size);
      this.bytes.set(c);
      if (c.length > 0) this.markChanged(0, c.length);
    }
  }

  read(offset: number, into: Uint8Array): void {
    if (!(into instanceof Uint8Array && (offset | 0) === offset && offset >= 0 && offset + into.length <= this.size)) {
      checkBytes('read', into);
      checkRange(this, 'read', offset, into.length);
    }
    into.set(this.bytes.subarray(offset, offset + into.length));
    this.stats.reads++;
    this.stats.bytesRead += into.length;
  }

  write(offset: number, data: Uint8Array): void {
    if (!(data instanceof Uint8Array)) checkBytes('write', data);
    const len = data.length;
    // Inline test for the common valid call; anything else goes through the full check (which throws).
    if (!((offset | 0) === offset && offset >= 0 && offset + len <= this.size && ((offset | len) & (this.writeSize - 1)) === 0)) {
      checkWrite(this, offset, len);
    }
    if (len > 0 && this.erased.covers(offset, len)) {
      this.bytes.set(data, offset);
    } else if (this.mode === 'strict') {
      const bad = this.findRaisedBit(offset, data);
      if (bad >= 0) {
        throw new OtaflashError(
          'FLASH_WRITE_NOT_ERASED',
          `write at ${hex(offset + bad)} would change bits from 0 to 1 (stored ${hex(this.bytes[offset + bad])}, new ${hex(data[bad])}): erase first`,
          { offset: offset + bad, stored: this.bytes[offset + bad], data: data[bad] },
        );
      }
      this.bytes.set(data, offset);
    } else {
      this.andInto(offset, data);
    }
    this.stats.writes++;
    this.stats.bytesProgrammed += len;
    if (len > 0) this.markProgrammed(offset, len);
  }

  private markProgrammed(offset: number, len: number): void {
    this.erased.programmed(offset, len);
    this.markChanged(offset, len, true);
  }

  /**
   * Index in `data` of the first byte whose write at `offset` would need a 0 -> 1 bit change, or -1.
   * The range must be valid.
   */
  findRaisedBit(offset: number, data: Uint8Array): number {
    const len = data.length;
    const b = this.bytes;
    let i = 0;
    if (((offset | data.byteOffset) & 3) === 0 && len >= 16) {
      const src = this.wordsOf(data.buffer);
      const dst = this.words;
      const s0 = data.byteOffset >>> 2;
      const d0 = offset >>> 2;
      const n = len >>> 2;
      let w = 0;
      while (w < n && (src[s0 + w] & ~dst[d0 + w]) === 0) w++;
      i = w << 2;
    }
    for (; i < len; i++) if ((data[i] & ~b[offset + i]) !== 0) return i;
    return -1;
  }

  private andInto(offset: number, data: Uint8Array): void {
    const len = data.length;
    const b = this.bytes;
    let i = 0;
    if (((offset | data.byteOffset) & 3) === 0 && len >= 16) {
      const src = this.wordsOf(data.buffer);
      const dst = this.words;
      const s0 = data.byteOffset >>> 2;
      const d0 = offset >>> 2;
      const n = len >>> 2;
      for (let w = 0; w < n; w++) dst[d0 + w] &= src[s0 + w];
      i = n << 2;
    }
    for (; i < len; i++) b[offset + i] &= data[i];
  }

  private wordsOf(buf: ArrayBufferLike): Uint32Array {
    if (buf !== this.srcBuffer) {
      this.srcBuffer = buf;
      this.srcWords = new Uint32Array(buf, 0, buf.byteLength >>> 2);
    }
    return this.srcWords;
  }

  erase(offset: number, length: number): void {
    checkErase(this, offset, length);
    this.bytes.fill(this.eraseValue, offset, offset + length);
    countErase(this.stats, this.eraseSize, offset, length);
    const end = (offset + length) >>> this.sectorShift;
    for (let s = offset >>> this.sectorShift; s < end; s++) {
      this.frozen[s] = this.erasedSector;
    }
    this.erased.erased(offset >>> this.sectorShift, end);
  }

  sync(): void {
    this.stats.syncs++;
  }

  /**
   * Overwrites bytes with no NOR rule and no statistics, as a fault or a test fixture would:
   * the only sanctioned way to change `bytes` behind the chip's back.
   */
  poke(offset: number, data: Uint8Array): void {
    checkBytes('poke', data);
    checkRange(this, 'poke', offset, data.length);
    this.bytes.set(data, offset);
    if (data.length > 0) this.markChanged(offset, data.length);
  }

  /** Captures the contents (not the statistics). Cost: a copy of each sector changed since the previous snapshot. */
  snapshot(): FlashSnapshot {
    const f = this.frozen;
    const es = this.eraseSize;
    const d = this.dirty;
    for (let k = 0; k < d.length; k++) {
      const s = d[k];
      this.inDirty[s] = 0;
      if (f[s] === null) f[s] = this.bytes.slice(s * es, (s + 1) * es);
    }
    this.dirty = [];
    return new FlashSnapshot(this, f.slice() as Uint8Array[]);
  }

  /** Puts back the contents captured by `snapshot()` of this device; only sectors that differ are copied. */
  restore(snap: FlashSnapshot): void {
    if (!(snap instanceof FlashSnapshot) || snap.owner !== this) {
      throw new OtaflashError('FLASH_BAD_SNAPSHOT', 'restore() needs a snapshot taken from this same MemoryFlash');
    }
    const f = this.frozen;
    const es = this.eraseSize;
    const src = snap.sectors;
    for (let s = 0; s < f.length; s++) {
      if (f[s] !== src[s]) {
        this.bytes.set(src[s], s * es);
        f[s] = src[s];
        this.erased.setSector(s, src[s] === this.erasedSector);
      }
    }
    const d = this.dirty;
    for (let k = 0; k < d.length; k++) this.inDirty[d[k]] = 0;
    this.dirty = [];
  }

  /** A new device with the same geometry and mode holding a copy of the current contents. */
  clone(): MemoryFlash {
    return new MemoryFlash({
      size: this.size,
      eraseSize: this.eraseSize,
      writeSize: this.writeSize,
      eraseValue: this.eraseValue,
      blockEraseSizes: this.blockEraseSizes,
      mode: this.mode,
      contents: this.bytes,
    });
  }

  /** Snapshot bookkeeping, and (unless called for a program) forgets what was known erased. */
  private markChanged(offset: number, length: number, programmed = false): void {
    if (!programmed) this.erased.unknown(offset, length);
    const last = (offset + length - 1) >>> this.sectorShift;
    for (let s = offset >>> this.sectorShift; s <= last; s++) {
      this.frozen[s] = null;
      if (this.inDirty[s] === 0) {
        this.inDirty[s] = 1;
        this.dirty.push(s);
      }
    }
  }
}

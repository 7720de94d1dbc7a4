import { OtaflashError, hex } from '../errors';
import { checkErase, checkGeometry, checkRange, checkWrite } from './checks';
import type { BlockDevice, FlashGeometry } from './types';

/** 'strict': programming a 0 bit back to 1 throws FLASH_WRITE_NOT_ERASED. 'nor': stores old & new, as a chip does. */
export type ProgramMode = 'strict' | 'nor';

export interface MemoryFlashOptions extends Partial<FlashGeometry> {
  size: number;
  mode?: ProgramMode;
  /** Initial contents (copied); the rest is erased. */
  contents?: Uint8Array;
}

/** A NOR flash chip in memory. */
export class MemoryFlash implements BlockDevice {
  readonly size: number;
  readonly eraseSize: number;
  readonly writeSize: number;
  readonly eraseValue: number;
  readonly blockEraseSizes?: readonly number[];
  readonly mode: ProgramMode;
  /** The backing bytes. Reading it directly is fine in tests; writing it bypasses NOR rules. */
  readonly bytes: Uint8Array;
  private readonly words: Uint32Array;

  constructor(opts: MemoryFlashOptions) {
    const geometry: FlashGeometry = {
      size: opts.size,
      eraseSize: opts.eraseSize ?? 4096,
      writeSize: opts.writeSize ?? 1,
      eraseValue: opts.eraseValue ?? 0xff,
      blockEraseSizes: opts.blockEraseSizes ?? [32768, 65536],
    };
    checkGeometry(geometry);
    this.size = geometry.size;
    this.eraseSize = geometry.eraseSize;
    this.writeSize = geometry.writeSize;
    this.eraseValue = geometry.eraseValue;
    this.blockEraseSizes = geometry.blockEraseSizes!.filter((b) => b <= geometry.size);
    this.mode = opts.mode ?? 'strict';
    this.bytes = new Uint8Array(this.size);
    this.bytes.fill(this.eraseValue);
    if (opts.contents) this.bytes.set(opts.contents.subarray(0, this.size));
    this.words = new Uint32Array(this.bytes.buffer, 0, this.size >>> 2);
  }

  read(offset: number, into: Uint8Array): void {
    checkRange(this, 'read', offset, into.length);
    into.set(this.bytes.subarray(offset, offset + into.length));
  }

  write(offset: number, data: Uint8Array): void {
    checkWrite(this, offset, data.length);
    const len = data.length;
    if (this.mode === 'strict') {
      const bad = this.firstRaisedBit(offset, data);
      if (bad >= 0) {
        throw new OtaflashError(
          'FLASH_WRITE_NOT_ERASED',
          `write at ${hex(offset + bad)} would change bits from 0 to 1 (stored ${hex(this.bytes[offset + bad])}, new ${hex(data[bad])}): erase first`,
          { offset: offset + bad },
        );
      }
      this.bytes.set(data, offset);
      return;
    }
    const b = this.bytes;
    for (let i = 0; i < len; i++) b[offset + i] &= data[i];
  }

  /** Index in `data` of the first byte that would need a 0 -> 1 bit change, or -1. */
  private firstRaisedBit(offset: number, data: Uint8Array): number {
    const len = data.length;
    const b = this.bytes;
    let i = 0;
    // Word path when both sides are 4-aligned: 4x fewer iterations than bytes.
    if ((offset & 3) === 0 && (data.byteOffset & 3) === 0 && len >= 16) {
      const n = len >>> 2;
      const src = new Uint32Array(data.buffer, data.byteOffset, n);
      const dst = this.words;
      const base = offset >>> 2;
      for (let w = 0; w < n; w++) {
        if ((src[w] & ~dst[base + w]) !== 0) {
          i = w << 2;
          break;
        }
        i = (w + 1) << 2;
      }
    }
    for (; i < len; i++) if ((data[i] & ~b[offset + i]) !== 0) return i;
    return -1;
  }

  erase(offset: number, length: number): void {
    checkErase(this, offset, length);
    this.bytes.fill(this.eraseValue, offset, offset + length);
  }

  sync(): void {}
}

import { OtaflashError, hex } from '../errors';
import { checkBytes, checkErase, checkRange, checkWrite } from './checks';
import type { BlockDevice } from './types';

/**
 * A bounded window [offset, offset + size) of another device, addressed from 0. Every call is
 * checked against the window before it reaches the parent, so nothing written through a region
 * can land outside it.
 */
export class RegionFlash implements BlockDevice {
  readonly size: number;
  readonly eraseSize: number;
  readonly writeSize: number;
  readonly eraseValue: number;
  readonly blockEraseSizes?: readonly number[];

  constructor(
    readonly parent: BlockDevice,
    readonly offset: number,
    size: number,
    readonly name = 'region',
  ) {
    if (parent === null || typeof parent !== 'object' || typeof parent.size !== 'number') {
      throw new OtaflashError('FLASH_BAD_ARGUMENT', `${name}: the parent must be a block device`);
    }
    // typeof checks first: null and '16' would otherwise pass the arithmetic below by coercion.
    if (typeof offset !== 'number' || typeof size !== 'number' || !(offset >= 0 && size >= 0 && offset + size <= parent.size) || offset % 1 !== 0 || size % 1 !== 0) {
      throw new OtaflashError('FLASH_OUT_OF_RANGE', `${name} ${hex(offset)}+${hex(size)} does not fit in a device of ${hex(parent.size)} bytes`, { offset, size });
    }
    this.size = size;
    this.eraseSize = parent.eraseSize;
    this.writeSize = parent.writeSize;
    this.eraseValue = parent.eraseValue;
    // A larger erase unit is usable only where the window keeps the parent's alignment.
    const blocks = (parent.blockEraseSizes ?? []).filter((b) => offset % b === 0);
    if (blocks.length > 0) this.blockEraseSizes = blocks;
  }

  read(offset: number, into: Uint8Array): void {
    checkBytes('read', into);
    checkRange(this, 'read', offset, into.length);
    this.parent.read(this.offset + offset, into);
  }

  write(offset: number, data: Uint8Array): void {
    checkBytes('write', data);
    checkWrite(this, offset, data.length);
    this.parent.write(this.offset + offset, data);
  }

  erase(offset: number, length: number): void {
    checkErase(this, offset, length);
    if ((this.offset + offset) % this.eraseSize !== 0) {
      throw new OtaflashError('FLASH_MISALIGNED', `${this.name} at ${hex(this.offset)} is not sector aligned, so it cannot be erased`);
    }
    this.parent.erase(this.offset + offset, length);
  }

  sync(): void {
    this.parent.sync();
  }
}

import { OtaflashError, hex } from '../errors';
import type { BlockDevice, FlashGeometry } from './types';

function isCount(n: number): boolean {
  return typeof n === 'number' && n >= 0 && n === Math.floor(n) && n <= 0x1fffffffffffff;
}

/** Data and read buffers must be Uint8Arrays: a string or number would otherwise be copied as garbage or crash. */
/** Looks like a block device to plain JS: an object with a numeric size and a read method. */
export function isBlockDevice(v: unknown): v is BlockDevice {
  return v !== null && typeof v === 'object' && typeof (v as BlockDevice).size === 'number' && typeof (v as BlockDevice).read === 'function';
}

export function checkBytes(op: string, data: unknown): void {
  if (!(data instanceof Uint8Array)) {
    throw new OtaflashError('FLASH_BAD_ARGUMENT', `${op}: expected a Uint8Array, got ${data === null ? 'null' : typeof data}`, { op });
  }
}

/** Bounds check shared by every driver: [offset, offset + length) must lie inside [0, size). */
export function checkRange(dev: FlashGeometry, op: string, offset: number, length: number): void {
  if (!isCount(offset) || !isCount(length)) {
    throw new OtaflashError('FLASH_BAD_ARGUMENT', `${op}: offset ${offset} and length ${length} must be non-negative integers`, { op, offset, length });
  }
  if (offset + length > dev.size) {
    throw new OtaflashError(
      'FLASH_OUT_OF_RANGE',
      `${op} of ${length} bytes at ${hex(offset)} ends at ${hex(offset + length)}, past the device end ${hex(dev.size)}`,
      { op, offset, length, size: dev.size },
    );
  }
}

export function checkWrite(dev: FlashGeometry, offset: number, length: number): void {
  checkRange(dev, 'write', offset, length);
  const w = dev.writeSize;
  if (w > 1 && (offset % w !== 0 || length % w !== 0)) {
    throw new OtaflashError('FLASH_MISALIGNED', `write of ${length} bytes at ${hex(offset)} is not aligned to the write size ${w}`, { offset, length, writeSize: w });
  }
}

export function checkErase(dev: FlashGeometry, offset: number, length: number): void {
  checkRange(dev, 'erase', offset, length);
  const e = dev.eraseSize;
  if (offset % e !== 0 || length % e !== 0) {
    throw new OtaflashError('FLASH_MISALIGNED', `erase of ${hex(length)} bytes at ${hex(offset)} is not aligned to the sector size ${hex(e)}`, { offset, length, eraseSize: e });
  }
}

/** Validates a geometry given to a driver's constructor. */
export function checkGeometry(g: FlashGeometry): void {
  const pow2 = (n: number) => isCount(n) && n > 0 && (n & (n - 1)) === 0;
  if (!pow2(g.eraseSize)) throw new OtaflashError('FLASH_BAD_GEOMETRY', `eraseSize ${g.eraseSize} must be a power of two`);
  if (!pow2(g.writeSize) || g.writeSize > g.eraseSize) throw new OtaflashError('FLASH_BAD_GEOMETRY', `writeSize ${g.writeSize} must be a power of two no larger than eraseSize`);
  if (!isCount(g.size) || g.size === 0 || g.size % g.eraseSize !== 0) {
    throw new OtaflashError('FLASH_BAD_GEOMETRY', `size ${g.size} must be a positive multiple of eraseSize ${g.eraseSize}`);
  }
  if (!isCount(g.eraseValue) || g.eraseValue > 255) throw new OtaflashError('FLASH_BAD_GEOMETRY', `eraseValue ${g.eraseValue} must be a byte`);
  for (const b of g.blockEraseSizes ?? []) {
    if (!pow2(b) || b % g.eraseSize !== 0) throw new OtaflashError('FLASH_BAD_GEOMETRY', `block erase size ${b} must be a power-of-two multiple of eraseSize`);
  }
}

/** Geometry options every driver takes; unset fields get SPI NOR defaults. */
export interface GeometryOptions extends Partial<FlashGeometry> {
  size: number;
  /** 'strict' (default) throws FLASH_WRITE_NOT_ERASED on a 0->1 program; 'nor' stores old AND new. */
  mode?: 'strict' | 'nor';
}

/** A checked geometry with its program mode and log2(eraseSize), as the drivers keep them. */
export interface ResolvedGeometry {
  size: number;
  eraseSize: number;
  writeSize: number;
  eraseValue: number;
  blockEraseSizes: number[];
  mode: 'strict' | 'nor';
  sectorShift: number;
}

/**
 * Fills in the defaults (4 KiB sectors, byte writes, 0xFF, 32K/64K blocks, strict) and validates
 * the result. Drivers that do sector arithmetic with 32-bit shifts are limited to 2 GiB.
 */
export function resolveGeometry(opts: GeometryOptions): ResolvedGeometry {
  if (opts === null || typeof opts !== 'object') throw new OtaflashError('FLASH_BAD_GEOMETRY', `flash options must be an object with a size, got ${opts === null ? 'null' : typeof opts}`);
  if (opts.blockEraseSizes != null && !Array.isArray(opts.blockEraseSizes)) {
    throw new OtaflashError('FLASH_BAD_GEOMETRY', `blockEraseSizes must be an array of sizes, got ${typeof opts.blockEraseSizes}`);
  }
  const g = {
    size: opts.size,
    eraseSize: opts.eraseSize ?? 4096,
    writeSize: opts.writeSize ?? 1,
    eraseValue: opts.eraseValue ?? 0xff,
    blockEraseSizes: opts.blockEraseSizes ?? [32768, 65536],
  };
  checkGeometry(g);
  if (g.size > 0x80000000) throw new OtaflashError('FLASH_BAD_GEOMETRY', `size ${g.size} is over the 2 GiB this driver supports`);
  if (opts.mode !== undefined && opts.mode !== 'strict' && opts.mode !== 'nor') {
    throw new OtaflashError('FLASH_BAD_GEOMETRY', `mode ${String(opts.mode)} must be 'strict' or 'nor'`);
  }
  return {
    size: g.size,
    eraseSize: g.eraseSize,
    writeSize: g.writeSize,
    eraseValue: g.eraseValue,
    blockEraseSizes: g.blockEraseSizes.filter((b) => b <= g.size),
    mode: opts.mode ?? 'strict',
    sectorShift: Math.round(Math.log(g.eraseSize) / Math.LN2),
  };
}

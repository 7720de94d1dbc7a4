import type { FlashGeometry } from '../flash/types';

/**
 * The erase unit to use at `offset` (a multiple of eraseSize) when everything up to `limit` may be
 * erased: the largest block the chip offers that is aligned there, fits below `limit` and, when a
 * `budget` is given, does not exceed it; the plain sector otherwise. One block erase is several
 * times faster on a real chip than the same bytes in sectors, so this is where chip time is won.
 */
export function eraseUnitAt(dev: FlashGeometry, offset: number, limit: number, budget = Infinity): number {
  let best = dev.eraseSize;
  const blocks = dev.blockEraseSizes;
  if (blocks) {
    for (let i = 0; i < blocks.length; i++) {
      const b = blocks[i];
      if (b > best && offset % b === 0 && offset + b <= limit && b <= budget) best = b;
    }
  }
  return best;
}

/** n rounded up to a multiple of unit. */
export function roundUp(n: number, unit: number): number {
  return Math.ceil(n / unit) * unit;
}

/**
 * A small seeded PRNG (mulberry32) so fault injection and property tests replay exactly from a
 * seed. Not for anything security related.
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return function next(): number {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Integer in [0, n). */
export function randomBelow(rand: () => number, n: number): number {
  return Math.floor(rand() * n);
}

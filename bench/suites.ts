import type { BenchRow } from './lib';

/** Each benchmark suite registers here: name -> function returning its rows. */
export const suites: Record<string, () => BenchRow[]> = {};

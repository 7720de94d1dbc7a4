import type { BenchRow } from './lib';
import { flashSuite } from './flash';

/** Each benchmark suite registers here: name -> function returning its rows. */
export const suites: Record<string, () => BenchRow[]> = {
  flash: flashSuite,
};

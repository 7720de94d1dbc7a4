import type { BenchRow } from './lib';
import { imageSuite } from './image';
import { flashSuite } from './flash';
import { partitionTableSuite } from './partition-table';
import { otaSuite } from './ota';

/** Each benchmark suite registers here: name -> function returning its rows. */
export const suites: Record<string, () => BenchRow[]> = {
  image: imageSuite,
  flash: flashSuite,
  'partition-table': partitionTableSuite,
  ota: otaSuite,
};

import type { BenchRow } from './lib';
import { imageSuite } from './image';
import { flashSuite } from './flash';
import { partitionTableSuite } from './partition-table';
import { otaSuite } from './ota';
import { deltaSizeSuite } from './delta-size';
import { storeSuite } from './store';
import { deltaApplySuite } from './delta-apply';
import { serverSuite } from './server';
import { signatureSuite } from './signature';
import { fleetSuite } from './fleet';
import { meshSuite } from './mesh';
import { hashSuite } from './hash';
import { deviceSuite } from './device';

/** Each benchmark suite registers here: name -> function returning its rows. */
export const suites: Record<string, () => BenchRow[]> = {
  image: imageSuite,
  flash: flashSuite,
  'partition-table': partitionTableSuite,
  ota: otaSuite,
  store: storeSuite,
  // Patch sizes and generator figures; the apply-speed figures of the same suite join this list.
  delta: () => [...deltaSizeSuite(), ...deltaApplySuite()],
  server: serverSuite,
  signature: signatureSuite,
  // 10,000 simulated devices through the plan server (OTAFLASH_BENCH_FLEET_DEVICES for fewer).
  fleet: fleetSuite,
  // Scratchpad propagation through simulated meshes of 100 and 1,000 devices (src/mesh).
  mesh: meshSuite,
  // Own SHA-256 / MD5 / SHA-1 beside @noble/hashes and node:crypto, in V8 and in QuickJS.
  hash: hashSuite,
  // The device builds in JerryScript, Duktape, Espruino beside QuickJS (skipped without the engine sources).
  device: deviceSuite,
};

/**
 * The power-loss proof: a sweep harness (sweep.ts) that cuts the power at every flash operation of
 * a flow in every fault mode and checks what the device does after, the world the flows run in
 * (world.ts), the OTA building blocks (ota-flows.ts), and one scenario file per feature.
 *
 * A feature adds its scenarios by writing `scenarios-<feature>.ts` with a function
 * `(layout) => ProveScenario[]` and listing it in FEATURES below; the CLI (`otaflash prove`), the
 * test sweep and `npm run prove` all take their scenarios from `proveScenarios`.
 */
import type { ProveScenario } from './world';
import type { ProveLayout } from './ota-flows';
import { otaScenarios } from './scenarios-ota';
import { agentScenarios } from './scenarios-agent';
import { storeScenarios } from './scenarios-store';
import { deltaScenarios } from './scenarios-delta';
import { manifestScenarios } from './scenarios-manifest';
import { scratchpadScenarios } from './scenarios-scratchpad';
import { signedScenarios } from './scenarios-signed';

export interface ProveFeature {
  /** Short name, for listings and `--feature`. */
  readonly name: string;
  /** This feature's scenarios on a layout (an empty list when the layout cannot host them). */
  scenarios(layout: ProveLayout): ProveScenario[];
}

/** Every feature the proof covers, in the order reports list them. */
export const PROVE_FEATURES: ProveFeature[] = [
  { name: 'ota', scenarios: otaScenarios },
  { name: 'agent', scenarios: agentScenarios },
  { name: 'store', scenarios: storeScenarios },
  { name: 'delta', scenarios: deltaScenarios },
  { name: 'fileset', scenarios: manifestScenarios },
  { name: 'scratchpad', scenarios: scratchpadScenarios },
  { name: 'signed', scenarios: signedScenarios },
];

/** Every scenario of the proof on one layout, all features together. */
export function proveScenarios(layout: ProveLayout, features: readonly ProveFeature[] = PROVE_FEATURES): ProveScenario[] {
  const out: ProveScenario[] = [];
  for (let i = 0; i < features.length; i++) {
    const list = features[i].scenarios(layout);
    for (let j = 0; j < list.length; j++) out.push(list[j]);
  }
  return out;
}

export * from './sweep';
export { otaScenarios } from './scenarios-ota';
export { agentScenarios } from './scenarios-agent';
export { storeScenarios } from './scenarios-store';
export { deltaScenarios } from './scenarios-delta';
export { manifestScenarios } from './scenarios-manifest';
export type { ProveLayout } from './ota-flows';

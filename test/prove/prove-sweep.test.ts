// CI's bounded power-loss sweep (the full one is `npm run prove`): every scenario on the small
// layout at every operation in every fault mode plus seeded depth-two samples, and every scenario
// on the realistic layout (ESP-IDF two-OTA table, 4 MiB, real images) at a spread of cut points
// including the first and last operations, where otadata changes; two flows on the 16-slot table.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { nodeHashes } from '../../src/node/hash';
import { proveScenario, type ProveReport } from '../../src/prove';
import { PROVE_FEATURES, proveScenarios } from '../../src/prove';
import { realisticLayout, signedLayout, sixteenSlotLayout, smallLayout, wideWriteLayout } from '../../bench/prove-layouts';

const SEED = 1;

function explain(r: ProveReport): string {
  return `${r.failures} failures in ${r.scenario} (seed ${SEED}; ${JSON.stringify(r.rules)}):\n` + r.kept.slice(0, 5).map((f) => `  ${f.rule}: ${f.message}\n    replay: npx tsx bench/prove.ts --replay ${f.id}`).join('\n');
}

for (const s of proveScenarios(smallLayout(nodeHashes))) {
  test(`${s.key}: every cut, every mode, 150 depth-two samples`, () => {
    const r = proveScenario(s, { hashes: nodeHashes, seed: SEED, depth2: 150 });
    assert.ok(r.operations > 0);
    assert.ok(r.cutPoints === r.operations * 5);
    assert.is(r.failures, 0, explain(r));
  });
}

for (const s of proveScenarios(realisticLayout(nodeHashes))) {
  test(`${s.key}: first 10, last 16 and every 12th operation, every mode`, () => {
    const r = proveScenario(s, { hashes: nodeHashes, seed: SEED, untouchedEvery: 4, pick: (k, n) => k < 10 || k >= n - 16 || k % 12 === 0 });
    assert.ok(r.cutPoints > 0);
    assert.is(r.failures, 0, explain(r));
  });
}

for (const s of proveScenarios(sixteenSlotLayout(nodeHashes))) {
  if (s.name !== 'two-updates' && s.name !== 'blank-otadata') continue;
  test(`${s.key}: first 10, last 16 and every 16th operation, every mode`, () => {
    const r = proveScenario(s, { hashes: nodeHashes, seed: SEED, untouchedEvery: 4, pick: (k, n) => k < 10 || k >= n - 16 || k % 16 === 0 });
    assert.ok(r.cutPoints > 0);
    assert.is(r.failures, 0, explain(r));
  });
}

// Secure Boot trust on: a signed update, and one signed by an untrusted key, every cut and mode.
for (const s of proveScenarios(signedLayout(nodeHashes), PROVE_FEATURES.filter((f) => f.name === 'signed'))) {
  test(`${s.key}: every cut, every mode, trust on (engine and bootloader check signatures)`, () => {
    const r = proveScenario(s, { hashes: nodeHashes, seed: SEED, depth2: 100 });
    assert.is(r.failures, 0, explain(r));
  });
}

for (const s of proveScenarios(wideWriteLayout(nodeHashes))) {
  if (s.name !== 'full-update' && s.name !== 'resume' && s.name !== 'explicit-rollback') continue;
  test(`${s.key}: every cut, every mode (16-byte program units)`, () => {
    const r = proveScenario(s, { hashes: nodeHashes, seed: SEED });
    assert.is(r.failures, 0, explain(r));
  });
}

test.run();

// Cases the power-loss sweep found in the engine, kept as regression tests. Operation numbers shift
// when the engine changes its writes, so each test sweeps the window where the flaw lives instead of
// pinning one replay id (the ids in the comments are those of the engine the flaw was found in).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { nodeHashes } from '../../src/node/hash';
import { proveScenario, type ProveOptions } from '../../src/prove';
import { proveScenarios } from '../../src/prove';
import { smallLayout } from '../../bench/prove-layouts';

const scenarios = proveScenarios(smallLayout(nodeHashes));

function holds(key: string, opts: ProveOptions): void {
  const s = scenarios.find((x) => x.key === key)!;
  const r = proveScenario(s, { hashes: nodeHashes, ...opts });
  assert.ok(r.cutPoints > 0);
  assert.is(r.failures, 0, r.kept.slice(0, 3).map((f) => `${f.rule}: ${f.message}\n  replay: npx tsx bench/prove.ts --replay ${f.id}`).join('\n'));
}

// markValid() writes the confirmation into the OTHER sector O, so it first kills O's entry (CRC
// zeroed), erases O, writes it. But O holds the previous app's entry: the rollback target. From the
// kill until O's CRC lands, the only valid entry is the running one, still PENDING_VERIFY; a cut
// there and the bootloader aborts it, finds no valid entry and scans (factory, else ota_0 upward).
// In two-updates the unconfirmed 'third' sits in ota_0 and boots again with no otadata entry at
// all; elsewhere the device lands on the factory app or ota_0 by luck of the scan order.
// Fixed in ff6aa26: when A is unconfirmed, markValid confirms A in place; O stays valid throughout.
test('markValid: no single cut leaves the unconfirmed app running (was two-updates@small:56:before:1)', () => {
  holds('two-updates@small', {});
});

test('markValid: no single cut leaves otadata without a valid entry (was first-boot-confirm@small:3:before:1)', () => {
  holds('first-boot-confirm@small', {});
});

// The bootloader's first write on blank otadata is torn (seq landed, CRC not): ESP-IDF does not call
// that "initial contents" (the state is not INVALID/ABORTED), so nothing repairs it and the old app
// keeps running with no valid entry. setBootPartition then writes the new entry into sector 0 as
// the ONLY valid entry; the bootloader's in-place NEW -> PENDING_VERIFY rewrite of that sector is
// cut after its erase: otadata is empty and the bootloader's blank default (ota_0) decides. Here
// that is the old app by luck; with the roles of the slots swapped it would be the unconfirmed new
// one, booted with no rollback. Fixed in ff6aa26: when no entry selects the running app,
// setBootPartition first commits one for it, then selects the new slot in the other sector.
test('torn first bootloader write, then an update: no second cut empties otadata (was blank-otadata@small:1:torn-prefix:1:33:after)', () => {
  // Operation 1 is the bootloader's first otadata write (the flow starts with a power-on).
  holds('blank-otadata@small', { pick: (k) => k === 1, modes: ['torn-prefix', 'after'], depth2: 'all' });
});

test.run();

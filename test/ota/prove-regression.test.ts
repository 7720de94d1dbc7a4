// Cases the power-loss sweep found in the engine, kept as regression tests. Each replays one cut
// (replay id = scenario@layout:k:mode:seed[:k2:mode2]) and requires every invariant to hold.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { nodeHashes } from '../../src/node/hash';
import { parseReplayId, replayCase } from '../../src/ota/prove';
import { proveScenarios } from '../../src/ota/prove-scenarios';
import { smallLayout } from '../../bench/prove-layouts';

const scenarios = proveScenarios(smallLayout(nodeHashes));

function holds(id: string): void {
  const rid = parseReplayId(id);
  const s = scenarios.find((x) => x.key === rid.key)!;
  const t = replayCase(s, rid, { hashes: nodeHashes });
  assert.is(t.failure, null, `${id}\n${t.lines.join('\n')}`);
}

// markValid() first kills the other otadata sector (it holds the previous app, the rollback target)
// and only then writes the confirmation there. Cut in between: the running entry is still
// PENDING_VERIFY, the bootloader aborts it, and no valid entry is left, so the bootloader scans:
// here ota_0 holds the unconfirmed 'third', which boots again with no otadata entry at all.
test('markValid: a cut after the kill of the other sector does not leave the unconfirmed app running', () => {
  holds('two-updates@small:56:before:1');
});

test('markValid: a cut after the kill of the other sector keeps a valid entry (first confirm)', () => {
  holds('first-boot-confirm@small:3:before:1');
});

// The bootloader's first write on blank otadata is torn (seq landed, CRC not): ESP-IDF does not call
// that "initial contents" (state is not INVALID/ABORTED), so nothing repairs it. setBootPartition
// then writes the new entry into sector 0 while no entry names the running app; the bootloader's
// in-place NEW -> PENDING_VERIFY rewrite of that sector is cut after its erase: no valid entry.
test('setBootPartition with no valid entry for the running app: the bootloader rewrite cannot leave otadata empty', () => {
  holds('blank-otadata@small:1:torn-prefix:1:33:after');
});

test.run();

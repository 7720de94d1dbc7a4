// The harness itself: it must catch broken flows (each with a replay id that reproduces the same
// broken rule), its snapshot shortcut must equal a live cut byte for byte, and replay ids round-trip.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FAULT_MODES } from '../../src/flash/faults';
import { OTA_STATE, activeOtaSector, makeOtaEntry, readOtadata, writeOtaEntry } from '../../src/formats/otadata';
import { commitOtaEntry } from '../../src/ota/otadata-commit';
import { findPartition, partitionRegion } from '../../src/formats/partition-lookup';
import { nodeHashes } from '../../src/node/hash';
import { portableHashes } from '../../src/hash/portable';
import { OtaflashError } from '../../src/errors';
import {
  deviceAfterCut,
  formatReplayId,
  parseReplayId,
  proveScenario,
  replayCase,
  type ProveScenario,
  type ProveWorld,
  ProveViolation,
  PROVE_FEATURES,
} from '../../src/prove';
import { proveScenarios } from '../../src/prove';
import { realisticLayout, smallLayout } from '../../bench/prove-layouts';

const layout = smallLayout(nodeHashes);
const scenarios = proveScenarios(layout);
const fullUpdate = scenarios.find((s) => s.name === 'full-update')!;

/** A scenario with full-update's starting device and goal but a hand-written (broken) flow. */
function broken(name: string, run: (w: ProveWorld) => void): ProveScenario {
  // Both slots writable, so the fence does not stop the flows below before the sweep sees them.
  const setup = () => ({ ...fullUpdate.setup(), writable: ['otadata', 'ota_0', 'ota_1'] });
  return { ...fullUpdate, key: `${name}@small`, name, setup, run, recover: () => {} };
}

function rawWrite(w: ProveWorld, label: string, bytes: Uint8Array): void {
  const p = findPartition(w.table, label)!;
  w.device.erase(p.offset, Math.ceil(bytes.length / 4096) * 4096);
  for (let off = 0; off < bytes.length; off += 1024) w.device.write(p.offset + off, bytes.subarray(off, Math.min(off + 1024, bytes.length)));
}

function rulesOf(s: ProveScenario): { [rule: string]: number } {
  const r = proveScenario(s, { hashes: nodeHashes, keepFailures: 5 });
  return r.rules;
}

test('a flow that overwrites the running app is caught (nothing bootable), and its replay id reproduces it', () => {
  const s = broken('overwrite-running', (w) => {
    rawWrite(w, 'ota_0', w.image('new'));
    w.mark('select-done', 'new');
  });
  const r = proveScenario(s, { hashes: nodeHashes, keepFailures: 3 });
  assert.ok(r.operations > 5, `the flow made ${r.operations} operations`);
  assert.ok(r.failures > 0, 'the sweep found no failure in a flow that destroys the only bootable app');
  assert.ok((r.rules.brick ?? 0) + (r.rules['unknown-image'] ?? 0) > 0, JSON.stringify(r.rules));
  const f = r.kept[0];
  const t = replayCase(s, parseReplayId(f.id), { hashes: nodeHashes });
  assert.ok(t.failure, `replay of ${f.id} passed:\n${t.lines.join('\n')}`);
  assert.is(t.failure!.rule, f.rule);
  assert.is(t.failure!.message, f.message);
});

test('a flow that selects the new slot before writing it is caught (the bootloader falls back)', () => {
  const s = broken('select-first', (w) => {
    const od = partitionRegion(w.device, findPartition(w.table, 'otadata')!);
    writeOtaEntry(od, 1, makeOtaEntry(2, OTA_STATE.UNDEFINED, undefined, nodeHashes));
    w.mark('select-done', 'new');
    rawWrite(w, 'ota_1', w.image('new'));
  });
  const rules = rulesOf(s);
  assert.ok((rules.fallback ?? 0) > 0, JSON.stringify(rules));
});

test('the markValid flaw the sweep first found (confirm into the rollback target\'s sector) is still caught', () => {
  const base = scenarios.find((x) => x.name === 'first-boot-confirm')!;
  const flawed: ProveScenario = {
    ...base,
    key: 'flawed-confirm@small',
    run: (w) => {
      w.reboot();
      // The engine's first markValid: the confirmation goes to the other sector, whose entry (the
      // previous app, the rollback target) is killed first; the running entry is still PENDING_VERIFY.
      const od = partitionRegion(w.device, findPartition(w.table, 'otadata')!);
      const e = readOtadata(od);
      const active = activeOtaSector(e, nodeHashes) as 0 | 1;
      const other = active === 0 ? 1 : 0;
      const previous = e[other];
      w.mark('confirm-start', 'new');
      commitOtaEntry(od, other, makeOtaEntry(other === 0 ? e[active].seq : e[active].seq + 2, OTA_STATE.VALID, undefined, nodeHashes), nodeHashes);
      commitOtaEntry(od, active, previous, nodeHashes);
      w.mark('confirm-done', 'new');
    },
  };
  const r = proveScenario(flawed, { hashes: nodeHashes, keepFailures: 1 });
  assert.ok(r.failures > 0, 'the sweep no longer sees the kill-the-rollback-target window');
  assert.ok((r.rules.fallback ?? 0) > 0, JSON.stringify(r.rules));
});

test('a flow that writes outside its partitions fails in the clean run (the running slot included)', () => {
  const s = broken('outside', (w) => {
    rawWrite(w, 'ota_1', w.image('new'));
    w.device.write(findPartition(w.table, 'nvs')!.offset, new Uint8Array([0]));
  });
  const intoRunning: ProveScenario = { ...fullUpdate, run: (w) => rawWrite(w, 'ota_0', w.image('new')) };
  const r0 = proveScenario(intoRunning, { hashes: nodeHashes });
  assert.is(r0.kept[0] && r0.kept[0].rule, 'outside-write');
  const r = proveScenario(s, { hashes: nodeHashes });
  assert.is(r.failures, 1);
  assert.is(r.kept[0].rule, 'outside-write');
  assert.is(r.kept[0].mode, 'none');
});

test('the untouched check sees a change the fence could not (a poke behind the device)', () => {
  const s = broken('poke', (w) => {
    rawWrite(w, 'ota_1', w.image('new'));
    const od = partitionRegion(w.device, findPartition(w.table, 'otadata')!);
    writeOtaEntry(od, 1, makeOtaEntry(2, OTA_STATE.UNDEFINED, undefined, nodeHashes));
  });
  const poked: ProveScenario = {
    ...s,
    run: (w) => {
      s.run(w);
      // What a buggy driver writing past its window would do: not through the fenced device.
      (w.device as unknown as { mem: { poke(o: number, d: Uint8Array): void } }).mem.poke(0x9000, new Uint8Array([1]));
    },
  };
  const r = proveScenario(poked, { hashes: nodeHashes });
  assert.is(r.kept[0] && r.kept[0].rule, 'outside-changed');
});

test('a correct flow passes: full-update@small, every operation, every mode', () => {
  const r = proveScenario(fullUpdate, { hashes: nodeHashes });
  assert.ok(r.operations >= 20, `${r.operations} operations`);
  assert.is(r.cutPoints, r.operations * FAULT_MODES.length);
  assert.is(r.failures, 0, r.kept.map((f) => `${f.id}: ${f.message}`).join('\n'));
});

test('the harness runs on the portable hashes alone (no node:crypto), as on a device', () => {
  const portable = proveScenarios(smallLayout(portableHashes)).find((s) => s.name === 'full-update')!;
  const r = proveScenario(portable, { hashes: portableHashes, modes: ['torn-bits'], pick: (k, n) => k === 0 || k === n - 1 || k % 5 === 0 });
  assert.ok(r.cutPoints >= 5);
  assert.is(r.failures, 0, r.kept.map((f) => `${f.id}: ${f.message}`).join('\n'));
});

test('snapshot shortcut == live cut, byte for byte, at every operation and mode of full-update@small', () => {
  const n = proveScenario(fullUpdate, { hashes: nodeHashes, modes: ['before'], pick: () => false }).operations;
  for (let k = 0; k < n; k++) {
    for (const mode of FAULT_MODES) {
      const a = deviceAfterCut(fullUpdate, k, mode, 7, 'live', { hashes: nodeHashes });
      const b = deviceAfterCut(fullUpdate, k, mode, 7, 'snapshot', { hashes: nodeHashes });
      let diff = -1;
      for (let i = 0; i < a.length && diff < 0; i++) if (a[i] !== b[i]) diff = i;
      assert.is(diff, -1, `k ${k} ${mode}: first difference at ${diff}`);
    }
  }
});

test('torn modes really tear: before/after/torn results differ somewhere in the flow', () => {
  const k = 20;
  const before = deviceAfterCut(fullUpdate, k, 'before', 1, 'snapshot', { hashes: nodeHashes });
  const after = deviceAfterCut(fullUpdate, k, 'after', 1, 'snapshot', { hashes: nodeHashes });
  const torn = deviceAfterCut(fullUpdate, k, 'torn-bits', 1, 'snapshot', { hashes: nodeHashes });
  const same = (x: Uint8Array, y: Uint8Array) => x.every((v, i) => v === y[i]);
  assert.not.ok(same(before, after), 'op 20 changes nothing');
  assert.not.ok(same(torn, after), 'torn-bits applied the whole operation');
});

test('cut chains (up to 5 cuts) run, and a chain failure replays to the same rule', () => {
  const r = proveScenario(fullUpdate, { hashes: nodeHashes, chains: 40, modes: FAULT_MODES, pick: () => false });
  assert.is(r.chains, 40);
  assert.ok(r.chainCuts > 40, `${r.chainCuts} cuts in 40 chains`);
  assert.is(r.failures, 0, r.kept.map((f) => `${f.id}: ${f.message}`).join('\n'));
  const s = broken('select-first-chain', (w) => {
    const od = partitionRegion(w.device, findPartition(w.table, 'otadata')!);
    writeOtaEntry(od, 1, makeOtaEntry(2, OTA_STATE.UNDEFINED, undefined, nodeHashes));
    w.mark('select-done', 'new');
    rawWrite(w, 'ota_1', w.image('new'));
  });
  const b = proveScenario(s, { hashes: nodeHashes, chains: 30, pick: () => false });
  assert.ok(b.failures > 0);
  const t = replayCase(s, parseReplayId(b.kept[0].id), { hashes: nodeHashes });
  assert.is(t.failure && t.failure.rule, b.kept[0].rule, t.lines.join('\n'));
});

test('a feature check (scenario.check) runs after the clean run and every recovery, and its violations count', () => {
  let calls = 0;
  const s: ProveScenario = {
    ...fullUpdate,
    key: 'checked@small',
    name: 'checked',
    check: (w) => {
      calls++;
      // A rule that holds while the old app still runs: the clean flow never reboots, so it
      // passes; a recovery starts with a reboot, and one after a late cut boots the new app.
      if (w.running !== 'old') throw new ProveViolation('feature-rule', `running ${w.running}`);
    },
  };
  const r = proveScenario(s, { hashes: nodeHashes, keepFailures: 3 });
  assert.is(calls, r.cutPoints + 1, 'checked after the clean run and after every recovery');
  assert.ok(r.rules['feature-rule'] > 0 && r.rules['feature-rule'] < r.cutPoints, JSON.stringify(r.rules));
  assert.is(r.failures, r.rules['feature-rule']);
  let n = 0;
  const s2: ProveScenario = { ...fullUpdate, key: 'counted@small', name: 'counted', check: () => { n++; } };
  const r2 = proveScenario(s2, { hashes: nodeHashes, modes: ['before'] });
  assert.is(r2.failures, 0);
  assert.is(n, r2.cutPoints + 1, 'one check per cut plus the clean run');
});

test('proveScenarios is the union of every feature\'s scenarios', () => {
  let total = 0;
  for (const f of PROVE_FEATURES) total += f.scenarios(layout).length;
  assert.is(scenarios.length, total);
  assert.ok(PROVE_FEATURES.some((f) => f.name === 'ota'));
});

test('replay ids round-trip and bad ones are refused with PROVE_BAD_REPLAY_ID', () => {
  const id = formatReplayId('two-updates@esp32-4MB', 17, 'torn-bits', 3, 5, 'interrupted-erase');
  assert.is(id, 'two-updates@esp32-4MB:17:torn-bits:3:5:interrupted-erase');
  assert.equal(parseReplayId(id), { key: 'two-updates@esp32-4MB', k: 17, mode: 'torn-bits', seed: 3, k2: 5, mode2: 'interrupted-erase' });
  assert.equal(parseReplayId('full-update@small:0:before:1'), { key: 'full-update@small', k: 0, mode: 'before', seed: 1 });
  const chain = 'blank-otadata@small:3:after:1:0:torn-bits:7:before:2:interrupted-erase';
  assert.equal(parseReplayId(chain).later, [[7, 'before'], [2, 'interrupted-erase']]);
  const p = parseReplayId(chain);
  assert.is(formatReplayId(p.key, p.k, p.mode, p.seed, p.k2, p.mode2, p.later), chain);
  for (const bad of ['x', 'a@b:1:before', 'a@b:x:before:1', 'a@b:1:sideways:1', 'a@b:1:before:1:2', 'a@b:1:before:1:2:after:3']) {
    try {
      parseReplayId(bad);
      assert.unreachable(`accepted ${bad}`);
    } catch (e) {
      assert.instance(e, OtaflashError);
      assert.is((e as OtaflashError).code, 'PROVE_BAD_REPLAY_ID');
    }
  }
});

test('every scenario of the issues exists on a layout, per feature', () => {
  const byFeature: { [f: string]: string[] } = {};
  for (const f of PROVE_FEATURES) byFeature[f.name] = f.scenarios(layout).map((s) => s.name).sort();
  assert.equal(byFeature.ota, ['blank-otadata', 'explicit-rollback', 'first-boot-confirm', 'full-update', 'no-confirm-rollback', 'resume', 'self-test-rollback', 'two-updates']);
  assert.equal(byFeature.agent, ['agent-plan']);
  assert.ok(byFeature.delta && byFeature.delta.length >= 3, JSON.stringify(byFeature.delta));
  assert.ok(byFeature.store && byFeature.store.length >= 3, JSON.stringify(byFeature.store));
  // from-factory needs a factory partition, which the small layout has not.
  assert.ok(proveScenarios(realisticLayout(nodeHashes)).some((s) => s.name === 'from-factory'));
});

test('a layout whose download chunk is 0, NaN or fractional is refused up front (a 0 chunk would loop forever)', () => {
  for (const chunk of [0, NaN, -4096, 0.5]) {
    try {
      proveScenarios({ ...layout, chunk });
      assert.unreachable(`chunk ${chunk} accepted`);
    } catch (e) {
      assert.ok(e instanceof OtaflashError && e.code === 'PROVE_BAD_LAYOUT', `chunk ${chunk}: ${String(e)}`);
    }
  }
});

test.run();

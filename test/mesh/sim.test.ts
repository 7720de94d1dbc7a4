// Mesh propagation: small networks, deterministic by seed; every invariant shown able to fail by
// a fault injected on purpose (a corrupting neighbour with verification switched off, a lower-seq
// upload taken by devices told to accept any seq, a run stopped before the devices rebooted).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runMeshSimulation, type MeshSummary } from '../../src/mesh/sim';
import { meshSampleImage } from '../../src/mesh/sample';
import { errorCode } from '../helpers';

function stable(s: MeshSummary): Omit<MeshSummary, 'wallSeconds'> {
  const { wallSeconds, ...rest } = s;
  return rest;
}

test('clean grid: every device updated, no violation, within 1.5x the lower bound, same run for the same seed', () => {
  const a = runMeshSimulation({ nodes: 25, seed: 3 });
  assert.is(a.updated, 25);
  assert.is(a.invariantViolations, 0);
  assert.is(a.stored, 25);
  assert.is(a.powerCuts, 0);
  assert.ok(a.propagationSeconds !== null && a.propagationSeconds <= 1.5 * a.lowerBoundSeconds, `${a.propagationSeconds} vs ${a.lowerBoundSeconds}`);
  assert.ok(a.propagationSeconds! >= a.lowerBoundSeconds * 0.99, 'no faster than the bound');
  assert.ok(a.messages > 0 && a.flashWrites > 0 && a.flashErases > 0);
  const b = runMeshSimulation({ nodes: 25, seed: 3 });
  assert.equal(stable(b), stable(a));
});

test('loss, duplication and reordering: still every device, no violation; another seed gives another run', () => {
  const a = runMeshSimulation({ nodes: 30, seed: 5, loss: 0.15, duplication: 0.1, reordering: 0.2 });
  assert.is(a.updated, 30);
  assert.is(a.invariantViolations, 0);
  const clean = runMeshSimulation({ nodes: 30, seed: 5 });
  assert.ok(a.propagationSeconds! > clean.propagationSeconds!, 'loss costs time');
  const b = runMeshSimulation({ nodes: 30, seed: 6, loss: 0.15, duplication: 0.1, reordering: 0.2 });
  assert.not.equal(stable(b), stable(a));
});

test('power cuts at random flash operations: devices recover from flash and all end on the new image', () => {
  for (const seed of [1, 2]) {
    const r = runMeshSimulation({ nodes: 30, seed, loss: 0.05, powerCutRate: 0.01 });
    assert.ok(r.powerCuts > 5, `cuts ${r.powerCuts}`);
    assert.is(r.invariantViolations, 0, JSON.stringify(r.invariants.examples));
    assert.is(r.updated, 30);
  }
});

test('a line with loss and power cuts: a node whose neighbours\' answers were lost asks again, nobody stalls', () => {
  for (const seed of [1, 2, 3]) {
    const r = runMeshSimulation({ nodes: 40, topology: 'line', seed, loss: 0.05, powerCutRate: 0.01, maxSimSeconds: 600 });
    assert.is(r.invariantViolations, 0, `seed ${seed}: ${JSON.stringify(r.invariants.examples)}`);
    assert.is(r.updated, 40);
  }
});

test('several sinks: the depth and the time shrink, every device updated', () => {
  const one = runMeshSimulation({ nodes: 48, seed: 2 });
  const three = runMeshSimulation({ nodes: 48, seed: 2, sinks: 3, loss: 0.05 });
  assert.is(three.updated, 48);
  assert.is(three.invariantViolations, 0);
  assert.ok(three.maxDepth < one.maxDepth, `${three.maxDepth} < ${one.maxDepth}`);
  const corners = runMeshSimulation({ nodes: 49, seed: 2, sinkNodes: [0, 48] });
  assert.is(corners.maxDepth, 6);
  assert.is(corners.updated, 49);
  assert.is(corners.invariantViolations, 0);
});

test('line and random topologies; unreachable nodes keep their old image without a violation', () => {
  const line = runMeshSimulation({ nodes: 15, topology: 'line', seed: 1, loss: 0.1 });
  assert.is(line.updated, 15);
  assert.is(line.maxDepth, 7);
  assert.is(line.invariantViolations, 0);
  // Mean degree 2 leaves some nodes cut off: the sink waits for 80% or 20 s, then commands.
  const rnd = runMeshSimulation({ nodes: 40, topology: 'random', meanDegree: 2.5, seed: 4, share: 0.8, commandTimeoutSeconds: 20 });
  assert.ok(rnd.reachable < 40, `reachable ${rnd.reachable}`);
  assert.is(rnd.updated, rnd.reachable);
  assert.is(rnd.invariantViolations, 0);
  assert.ok(rnd.commandSeconds !== null);
});

test('a neighbour corrupting chunks: the SHA-256 and CMAC keep it out; without them the checker counts it', () => {
  const safe = runMeshSimulation({ nodes: 16, seed: 1, corruptSource: 5, maxSimSeconds: 60, commandTimeoutSeconds: 30, share: 0.5 });
  assert.is(safe.invariants.byRule['processed-incomplete-or-corrupt'], 0);
  assert.is(safe.invariants.byRule['bad-boot'], 0);
  const unsafe = runMeshSimulation({ nodes: 16, seed: 1, corruptSource: 5, unsafeSkipVerify: true, maxSimSeconds: 60, commandTimeoutSeconds: 30, share: 0.5 });
  assert.ok(unsafe.invariants.byRule['processed-incomplete-or-corrupt'] > 0, JSON.stringify(unsafe.invariants));
});

test('a later upload with a lower seq is refused; devices that take it are counted', () => {
  const third = meshSampleImage('3.0.0', 2048);
  const extraUploads = [{ image: third, version: '3.0.0', seq: 6, atSeconds: 5 }];
  const safe = runMeshSimulation({ nodes: 16, seed: 1, extraUploads, maxSimSeconds: 30 });
  assert.is(safe.invariantViolations, 0);
  assert.is(safe.updated, 16);
  // The command of seq 7 may come before the seq 6 upload; stop before it to see the takeover.
  const unsafe = runMeshSimulation({ nodes: 16, seed: 1, unsafeAcceptAnySeq: true, extraUploads: [{ ...extraUploads[0], atSeconds: 0.9 }], share: 1, commandTimeoutSeconds: 100, maxSimSeconds: 20 });
  assert.ok(unsafe.invariants.byRule['lower-seq-replaced-higher'] > 0, JSON.stringify(unsafe.invariants));
});

test('a run stopped before the devices came back from processing counts every reachable device not updated', () => {
  const r = runMeshSimulation({ nodes: 9, seed: 1, processSeconds: 50, maxSimSeconds: 10 });
  assert.ok(r.commandSeconds !== null);
  assert.is(r.updated, 0);
  assert.is(r.invariants.byRule['reachable-not-updated'], 9);
});

test('bad options are typed errors', () => {
  assert.is(errorCode(() => runMeshSimulation({ nodes: 0 })), 'MESH_BAD_ARGUMENT');
  assert.is(errorCode(() => runMeshSimulation({ nodes: 10, loss: 2 })), 'MESH_BAD_ARGUMENT');
  assert.is(errorCode(() => runMeshSimulation({ nodes: 10, sinks: 11 })), 'MESH_BAD_ARGUMENT');
  assert.is(errorCode(() => runMeshSimulation({ nodes: 10, topology: 'ring' as never })), 'MESH_BAD_ARGUMENT');
  assert.is(errorCode(() => runMeshSimulation({ nodes: 10, seq: 255 })), 'MESH_BAD_ARGUMENT');
  assert.is(errorCode(() => runMeshSimulation({ nodes: 10, chunkSize: 3 })), 'MESH_BAD_ARGUMENT');
  assert.is(errorCode(() => runMeshSimulation(null as never)), 'MESH_BAD_ARGUMENT');
  // 100,000 devices with two 64 KiB slots and a store each: far more memory than allowed.
  assert.is(errorCode(() => runMeshSimulation({ nodes: 100000, image: meshSampleImage('2.0.0', 60 * 1024) })), 'MESH_TOO_LARGE');
});

test.run();

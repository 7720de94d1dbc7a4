// The simulation's parts on their own: the event queue's order, the topologies' depths and next
// hops, and the invariant checker counting each rule.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { EventQueue } from '../../src/mesh/event-queue';
import { buildTopology } from '../../src/mesh/topology';
import { InvariantChecker } from '../../src/mesh/invariants';
import { seededRandom } from '../../src/flash/rng';
import { errorCode } from '../helpers';

test('event queue: time order, ties in scheduling order, never in the past', () => {
  const q = new EventQueue();
  const seen: string[] = [];
  q.at(2, () => seen.push('c'));
  q.at(1, () => seen.push('a'));
  q.at(1, () => {
    seen.push('b');
    q.after(-5, () => seen.push('b2'));
  });
  q.at(0.5, () => seen.push('0'));
  while (q.step());
  assert.equal(seen, ['0', 'a', 'b', 'b2', 'c']);
  assert.is(q.now, 2);
  assert.is(q.processed, 5);
});

test('grid: a centre sink, depths by hops, next hops one step closer', () => {
  const t = buildTopology({ kind: 'grid', nodes: 25, sinks: 1, rand: seededRandom(1) });
  assert.equal(t.sinks, [12]);
  assert.is(t.maxDepth, 4);
  assert.is(t.depth[0], 4);
  assert.is(t.reachable, 25);
  for (let i = 0; i < 25; i++) if (i !== 12) assert.is(t.depth[t.parent[i]], t.depth[i] - 1);
  assert.equal(t.neighbours[6], [1, 5, 7, 11]);
});

test('line with two sinks: the depth halves; random graphs are seeded', () => {
  const one = buildTopology({ kind: 'line', nodes: 20, sinks: 1, rand: seededRandom(1) });
  const two = buildTopology({ kind: 'line', nodes: 20, sinks: 2, rand: seededRandom(1) });
  assert.is(one.maxDepth, 10);
  assert.is(two.maxDepth, 5);
  const a = buildTopology({ kind: 'random', nodes: 200, sinks: 2, rand: seededRandom(9) });
  const b = buildTopology({ kind: 'random', nodes: 200, sinks: 2, rand: seededRandom(9) });
  assert.equal(a.neighbours, b.neighbours);
  let links = 0;
  for (const n of a.neighbours) links += n.length;
  assert.ok(links / 200 > 5 && links / 200 < 10, `mean degree ${links / 200}`);
  assert.is(errorCode(() => buildTopology({ kind: 'grid', nodes: 5, sinks: 0, rand: seededRandom(1) })), 'MESH_BAD_ARGUMENT');
  // Chosen sinks: a corner of a 5x5 grid is 8 hops from the far corner.
  const corner = buildTopology({ kind: 'grid', nodes: 25, sinks: 1, sinkNodes: [0], rand: seededRandom(1) });
  assert.equal(corner.sinks, [0]);
  assert.is(corner.maxDepth, 8);
  assert.is(errorCode(() => buildTopology({ kind: 'grid', nodes: 25, sinks: 2, sinkNodes: [3, 3], rand: seededRandom(1) })), 'MESH_BAD_ARGUMENT');
  assert.is(errorCode(() => buildTopology({ kind: 'grid', nodes: 25, sinks: 1, sinkNodes: [25], rand: seededRandom(1) })), 'MESH_BAD_ARGUMENT');
});

test('checker: each rule counts, correct events do not', () => {
  const truth = new Uint8Array([1, 2, 3]);
  const c = new InvariantChecker(4, (s) => (s === 7 ? truth : null));
  c.onAccept(0, 7);
  c.onAccept(0, 7); // the same seq again (a restarted download)
  c.onAccept(1, 254);
  c.onAccept(1, 2); // wraps: 2 is newer than 254
  c.onProcess(0, 7, true, new Uint8Array([1, 2, 3]));
  c.onBoot(0, 'new');
  c.onBoot(1, 'old');
  assert.is(c.report().total, 0);
  c.onAccept(0, 6);
  c.onProcess(1, 7, false, new Uint8Array([1, 2, 3]));
  c.onProcess(2, 7, true, new Uint8Array([1, 2, 4]));
  c.onProcess(3, 8, true, new Uint8Array([1, 2, 3]));
  c.onBoot(2, null);
  c.onNotUpdated(3);
  const r = c.report();
  assert.equal(r.byRule, { 'processed-incomplete-or-corrupt': 3, 'lower-seq-replaced-higher': 1, 'bad-boot': 1, 'reachable-not-updated': 1 });
  assert.is(r.total, 6);
  assert.is(r.examples.length, 6);
});

test.run();

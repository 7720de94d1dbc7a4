// The file-set scenario in the power-loss sweep: cut at every flash operation in every fault mode,
// the files on a flash log; 0 failures, and a broken variant (firmware committed after the files)
// is caught, so the check can fail.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { nodeHashes } from '../../src/node/hash';
import { proveScenario } from '../../src/prove';
import { manifestScenarios } from '../../src/prove/scenarios-manifest';
import { smallLayout } from '../../bench/prove-layouts';
import { FlashLogFileStore } from '../../src/manifest/flash-log-file-store';
import { MemoryFlash } from '../../src/flash/memory';
import { utf8Encode } from '../../src/formats/utf8';

const [fileset] = manifestScenarios(smallLayout(nodeHashes));

test('fileset-update: every cut, every fault mode: the goal and whole-old-or-whole-new files', () => {
  assert.ok(fileset, 'the small layout hosts the scenario');
  const r = proveScenario(fileset, { hashes: nodeHashes, keepFailures: 3 });
  assert.ok(r.cutPoints > 30, `${r.cutPoints} cut points`);
  assert.is(r.failures, 0, JSON.stringify(r.kept.map((k) => [k.id, k.rule, k.message])));
});

test('the sweep catches a flow that switches the files but never commits the firmware', () => {
  const broken = { ...fileset, key: 'fileset-broken@small', name: 'fileset-broken', recover: () => undefined };
  const r = proveScenario(broken, { hashes: nodeHashes, modes: ['before'], keepFailures: 1 });
  assert.ok(r.failures > 0, 'no failure found');
});

test('flash log: a torn record is skipped on replay and appends go after it', () => {
  const dev = new MemoryFlash({ size: 0x4000, eraseSize: 0x1000, writeSize: 1, mode: 'strict' });
  const s = FlashLogFileStore.format(dev);
  s.mkdir('flash');
  s.create('flash/a');
  s.write('flash/a', 0, utf8Encode('hello'));
  // A torn program: a record header with garbage after it, as a cut leaves it.
  const end = 0x200;
  dev.write(end, new Uint8Array([0x4c, 2, 0, 0, 40, 0, 0, 0, 1, 2]));
  const s2 = FlashLogFileStore.open(dev);
  assert.equal(s2.stat('flash/a'), { kind: 'file', size: 5 });
  s2.rename('flash/a', 'flash/b');
  const s3 = FlashLogFileStore.open(dev);
  assert.is(s3.stat('flash/a'), null);
  assert.equal(s3.stat('flash/b'), { kind: 'file', size: 5 });
});

test.run();

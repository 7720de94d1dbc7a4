// The background download: bounded flash work per step (bytes, or chip milliseconds from the
// W25Q32JV timing model), chunks offered in any order with duplicates and backpressure, resume
// after a reboot, and a wrong hash.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ImageStore } from '../../src/store/store';
import { StoreDownload } from '../../src/store/download';
import { W25Q32JV, TimedFlash } from '../../src/flash/timing';
import { StatsFlash } from '../../src/flash/stats';
import { errorCode } from '../helpers';
import { bytesOf, chunkOf, flash, spec } from './helpers';

test('byte budget: each step stays within it (one unit of work at least), the image ends verified', () => {
  const dev = new StatsFlash(flash({ size: 256 * 1024 }));
  const store = ImageStore.open(dev);
  // Dirty the space first so preparing has sectors to erase.
  dev.write(0, new Uint8Array(64 * 1024));
  const data = bytesOf(50000, 1);
  const d = StoreDownload.start(store, spec(data, 1024, { id: 5 }));
  assert.is(d.phase, 'preparing');
  assert.is(dev.stats.erases, 0, 'start() only reserves');
  const order: number[] = [];
  for (let i = 48; i >= 0; i--) order.push(i);
  let steps = 0;
  let maxStep = 0;
  while (d.phase !== 'verified') {
    while (order.length > 0) {
      const i = order[order.length - 1];
      const r = d.offer(i, chunkOf(data, 1024, i));
      if (r === 'full') break;
      order.pop();
      if (i % 7 === 0) assert.is(d.offer(i, chunkOf(data, 1024, i)), 'duplicate');
    }
    const before = { r: dev.stats.bytesRead, p: dev.stats.bytesProgrammed, e: dev.stats.bytesErased };
    const st = d.step({ bytes: 9000 });
    const work = dev.stats.bytesRead - before.r + dev.stats.bytesProgrammed - before.p + dev.stats.bytesErased - before.e;
    maxStep = Math.max(maxStep, work);
    assert.ok(st.stepBytes <= 9000, `step reported ${st.stepBytes}`);
    steps++;
    assert.ok(steps < 1000);
  }
  // Reading back the header and a bitmap unit is the only work a step does beyond its count.
  assert.ok(maxStep <= 9000 + 512, `a step did ${maxStep} bytes of flash work`);
  assert.ok(steps > 10, `${steps} steps`);
  assert.is(store.get(5)!.state, 'verified');
});

test('millisecond budget with the W25Q32JV model: erase steps are one sector each, chip time per step within budget', () => {
  const timed = new TimedFlash(flash({ size: 256 * 1024 }), W25Q32JV);
  const store = ImageStore.open(timed);
  timed.write(0, new Uint8Array(32 * 1024)); // dirty: 8 sectors to erase
  const data = bytesOf(20000, 2);
  const d = StoreDownload.start(store, spec(data, 4096, { id: 1 }), { timing: W25Q32JV, maxQueuedChunks: 8 });
  let worst = 0;
  for (let i = 0; i < 5; i++) d.offer(i, chunkOf(data, 4096, i));
  let guard = 0;
  while (d.phase !== 'verified' && guard++ < 500) {
    const t0 = timed.elapsedMs;
    d.step({ ms: 50 });
    worst = Math.max(worst, timed.elapsedMs - t0);
  }
  assert.is(d.phase, 'verified');
  // One sector erase (45 ms typ) plus its blank check fits; the model's own clock agrees.
  assert.ok(worst <= 50, `worst step took ${worst} ms of chip time`);
});

test('resume after a reboot: the store knows what is missing; a wrong hash fails the image', () => {
  const dev = flash();
  const data = bytesOf(10000, 3);
  let store = ImageStore.open(dev);
  let d = StoreDownload.start(store, spec(data, 2048, { id: 2 }));
  d.step();
  assert.is(d.phase, 'receiving');
  d.offer(4, chunkOf(data, 2048, 4));
  d.offer(1, chunkOf(data, 2048, 1));
  d.step();
  store = ImageStore.open(dev); // reboot
  d = StoreDownload.resume(store, 2);
  assert.equal(d.wanted(), [0, 2, 3]);
  assert.is(d.offer(1, chunkOf(data, 2048, 1)), 'duplicate');
  for (const i of [0, 2, 3]) d.offer(i, chunkOf(data, 2048, i));
  assert.equal(d.wanted(), []);
  const st = d.step();
  assert.is(st.phase, 'verified');
  assert.is(st.hashedBytes, 10000);
  assert.is(StoreDownload.resume(store, 2).phase, 'verified');

  const bad = spec(data, 2048, { id: 3 });
  bad.sha256 = new Uint8Array(32);
  const d3 = StoreDownload.start(store, bad, { maxQueuedChunks: 8 });
  for (let i = 0; i < 5; i++) d3.offer(i, chunkOf(data, 2048, i));
  assert.is(errorCode(() => d3.step()), 'STORE_HASH_MISMATCH');
  assert.is(store.get(3)!.state, 'failed');
  assert.is(errorCode(() => StoreDownload.resume(store, 3)), 'STORE_BAD_STATE');
});

test('offer and step refuse bad input with typed errors', () => {
  const store = ImageStore.open(flash());
  const data = bytesOf(3000, 4);
  const d = StoreDownload.start(store, spec(data, 1024, { id: 1 }), { maxQueuedChunks: 2 });
  assert.is(errorCode(() => d.offer(3, data.subarray(0, 1024))), 'STORE_BAD_CHUNK_INDEX');
  assert.is(errorCode(() => d.offer(2, data.subarray(0, 1024))), 'STORE_BAD_CHUNK_SIZE');
  assert.is(d.offer(0, chunkOf(data, 1024, 0)), 'queued');
  const other = chunkOf(data, 1024, 0).slice();
  other[0] ^= 0xff;
  assert.is(errorCode(() => d.offer(0, other)), 'STORE_CHUNK_MISMATCH');
  assert.is(d.offer(1, chunkOf(data, 1024, 1)), 'queued');
  assert.is(d.offer(2, chunkOf(data, 1024, 2)), 'full');
  assert.is(errorCode(() => d.step({ ms: 5 })), 'STORE_BAD_ARGUMENT');
  assert.is(errorCode(() => d.step({ bytes: 0 })), 'STORE_BAD_ARGUMENT');
  assert.is(errorCode(() => d.step(null as never)), 'STORE_BAD_ARGUMENT');
  assert.is(errorCode(() => StoreDownload.start(store, spec(data, 1024, { id: 2 }), { maxQueuedChunks: 0 })), 'STORE_BAD_ARGUMENT');
  assert.is(errorCode(() => StoreDownload.start(store, spec(data, 1024, { id: 1 }))), 'STORE_ID_EXISTS', 'the reservation holds the id');
  assert.is(errorCode(() => StoreDownload.resume(store, 9)), 'STORE_NOT_FOUND');
  d.cancel();
  assert.is(store.space().freeSectors, 16);
});

test.run();

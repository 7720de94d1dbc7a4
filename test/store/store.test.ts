// The image store's API: create, chunks in any order and more than once, completion against the
// SHA-256, list, remove, reopen, a full store and its eviction policy, bad input, program units 1/4/16.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ImageStore } from '../../src/store/store';
import { extentLayout } from '../../src/store/layout';
import { RegionFlash } from '../../src/flash/region';
import { errorCode } from '../helpers';
import { bytesOf, chunkOf, equal, flash, sha256, spec } from './helpers';

for (const ws of [1, 4, 16]) {
  test(`writeSize ${ws}: chunks out of order and duplicated, complete, reopen, read back`, () => {
    const dev = flash({ writeSize: ws });
    const store = ImageStore.open(dev);
    assert.equal(store.list(), []);
    const data = bytesOf(5000, ws); // 5000 = 19 chunks of 256 and a last one of 136 (not a whole unit for 16)
    const img = store.create(spec(data, 256, { id: 7, kind: 'app', component: 'esp32-app', version: 'v2.1.0-rc1', seq: 42 }));
    assert.equal([img.id, img.state, img.chunks, img.storedChunks, img.seq], [7, 'receiving', 20, 0, 42]);
    const order = [19, 3, 0, 7, 3, 19, 12, 1, 2, 4, 5, 6, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18];
    const fresh: boolean[] = [];
    for (const i of order) fresh.push(store.writeChunk(7, i, chunkOf(data, 256, i)));
    assert.equal(fresh.filter((x) => !x).length, 2, 'two duplicates reported as not new');
    assert.equal(store.missingChunks(7), []);
    assert.is(store.get(7)!.state, 'complete');
    const done = store.complete(7);
    assert.is(done.state, 'verified');
    // Reopen from the bytes alone.
    const again = ImageStore.open(dev).get(7)!;
    assert.equal([again.kind, again.component, again.version, again.size, again.seq, again.chunkSize, again.state], ['app', 'esp32-app', 'v2.1.0-rc1', 5000, 42, 256, 'verified']);
    assert.ok(equal(again.sha256, sha256(data)));
    const buf = new Uint8Array(256);
    const s2 = ImageStore.open(dev);
    for (let i = 0; i < 20; i++) {
      const n = s2.readChunk(7, i, buf);
      assert.ok(equal(buf.subarray(0, n), chunkOf(data, 256, i)), `chunk ${i}`);
    }
  });
}

test('write amplification: bytes programmed per image byte stays under 1.05 (1 KiB chunks, writeSize 16)', () => {
  const dev = flash({ writeSize: 16, size: 256 * 1024 });
  const store = ImageStore.open(dev);
  const data = bytesOf(100 * 1024, 3);
  store.create(spec(data, 1024, { id: 1 }));
  for (let i = 0; i < 100; i++) store.writeChunk(1, i, chunkOf(data, 1024, i));
  store.complete(1);
  const amp = dev.stats.bytesProgrammed / data.length;
  assert.ok(amp <= 1.05 && amp >= 1, `amplification ${amp}`);
});

test('partial image: chunks are served while receiving; missing ones are refused', () => {
  const store = ImageStore.open(flash());
  const data = bytesOf(3000, 9);
  store.create(spec(data, 1000, { id: 1 }));
  store.writeChunk(1, 1, chunkOf(data, 1000, 1));
  assert.equal(store.missingChunks(1), [0, 2]);
  assert.equal(store.missingChunks(1, 1), [0]);
  const buf = new Uint8Array(1000);
  assert.is(store.readChunk(1, 1, buf), 1000);
  assert.ok(equal(buf, chunkOf(data, 1000, 1)));
  assert.is(errorCode(() => store.readChunk(1, 0, buf)), 'STORE_CHUNK_MISSING');
  assert.is(errorCode(() => store.complete(1)), 'STORE_INCOMPLETE');
  assert.ok(store.hasChunk(1, 1) && !store.hasChunk(1, 2));
});

test('a different content for a stored chunk is refused, and the stored one kept', () => {
  const store = ImageStore.open(flash());
  const data = bytesOf(2048, 1);
  store.create(spec(data, 1024, { id: 1 }));
  store.writeChunk(1, 0, chunkOf(data, 1024, 0));
  const other = chunkOf(data, 1024, 0).slice();
  other[100] ^= 1;
  assert.is(errorCode(() => store.writeChunk(1, 0, other)), 'STORE_CHUNK_MISMATCH');
  const buf = new Uint8Array(1024);
  store.readChunk(1, 0, buf);
  assert.ok(equal(buf, chunkOf(data, 1024, 0)));
});

test('a wrong SHA-256 marks the image failed and is refused again', () => {
  const store = ImageStore.open(flash());
  const data = bytesOf(2048, 1);
  const s = spec(data, 1024, { id: 1 });
  s.sha256 = sha256(bytesOf(2048, 2));
  store.create(s);
  store.writeChunk(1, 0, chunkOf(data, 1024, 0));
  store.writeChunk(1, 1, chunkOf(data, 1024, 1));
  assert.is(errorCode(() => store.complete(1)), 'STORE_HASH_MISMATCH');
  assert.is(store.get(1)!.state, 'failed');
  assert.is(ImageStore.open(store.device).get(1)!.state, 'failed');
  assert.is(errorCode(() => store.complete(1)), 'STORE_BAD_STATE');
});

test('remove frees the sectors; ids default to one above the highest', () => {
  const dev = flash();
  const store = ImageStore.open(dev);
  const a = store.create(spec(bytesOf(5000, 1), 512));
  const b = store.create(spec(bytesOf(100, 2), 100, { id: 10 }));
  const c = store.create(spec(bytesOf(100, 3), 100));
  assert.equal([a.id, b.id, c.id], [1, 10, 11]);
  assert.is(errorCode(() => store.create(spec(bytesOf(100, 3), 100, { id: 10 }))), 'STORE_ID_EXISTS');
  const before = store.space().freeSectors;
  store.remove(1);
  assert.is(store.space().freeSectors, before + a.sectors);
  assert.is(store.get(1), null);
  assert.equal(ImageStore.open(dev).list().map((x) => x.id), [10, 11]);
  // The freed run is erased and reused.
  const d = store.create(spec(bytesOf(5000, 4), 512, { id: 20 }));
  assert.is(d.offset, a.offset);
  assert.is(errorCode(() => store.remove(1)), 'STORE_NOT_FOUND');
});

test('full store: refused without eviction; eviction takes failed, then superseded installed images, never the rest', () => {
  // 16 sectors; each image of 3 data sectors + 1 header sector = 4 sectors.
  const dev = flash({ size: 16 * 4096 });
  const store = ImageStore.open(dev);
  const imgs = [1, 2, 3, 4].map((id) => bytesOf(3 * 4096, id));
  const mk = (id: number, seq: number, comp = 'app') => store.create(spec(imgs[(id - 1) % 4], 4096, { id, seq, component: comp }));
  const fill = (id: number) => {
    for (let i = 0; i < 3; i++) store.writeChunk(id, i, chunkOf(imgs[(id - 1) % 4], 4096, i));
    store.complete(id);
  };
  mk(1, 1);
  fill(1);
  mk(2, 2);
  fill(2);
  mk(3, 3);
  mk(4, 4, 'other');
  assert.is(store.space().freeSectors, 0);
  const err = errorCode(() => mk(5, 5));
  assert.is(err, 'STORE_FULL');
  // Nothing evictable yet: 1 and 2 verified, 3 and 4 receiving.
  assert.is(errorCode(() => store.create(spec(imgs[0], 4096, { id: 5 }), { evict: true })), 'STORE_FULL');
  assert.is(store.list().length, 4);
  store.mark(1, 'installing');
  store.mark(1, 'installed');
  // 1 is the newest installed image of 'app': kept.
  assert.is(errorCode(() => store.create(spec(imgs[0], 4096, { id: 5 }), { evict: true })), 'STORE_FULL');
  store.mark(2, 'installing');
  store.mark(2, 'installed');
  assert.equal(store.evictionCandidates().map((x) => x.id), [1]);
  const e = store.create(spec(imgs[0], 4096, { id: 5, seq: 5 }), { evict: true });
  assert.is(e.offset, 0, 'took the evicted run');
  assert.equal(store.list().map((x) => x.id).sort(), [2, 3, 4, 5]);
});

test('eviction prefers failed images (lowest seq first)', () => {
  const dev = flash({ size: 8 * 4096 });
  const store = ImageStore.open(dev);
  const d = bytesOf(4096, 1);
  for (const [id, seq] of [[1, 9], [2, 3]]) {
    const s = spec(d, 4096, { id, seq });
    s.sha256 = new Uint8Array(32);
    store.create(s);
    store.writeChunk(id, 0, d);
    assert.is(errorCode(() => store.complete(id)), 'STORE_HASH_MISMATCH');
  }
  store.create(spec(bytesOf(2 * 4096, 3), 4096, { id: 3 })); // 3 sectors
  assert.is(store.space().freeSectors, 1);
  assert.equal(store.evictionCandidates().map((x) => x.id), [2, 1]);
  store.create(spec(bytesOf(4096 + 1, 3), 4096, { id: 4 }), { evict: true }); // needs 3
  // Evicting 2 alone leaves two sectors in a row; 1 goes too, and 4 lands at the start.
  assert.equal(store.list().map((x) => x.id), [4, 3]);
});

test('flushChunks: bits wait in RAM up to N chunks, then one sync and one program; sync() and complete() flush', () => {
  const dev = flash();
  const store = ImageStore.open(dev, { flushChunks: 8 });
  const data = bytesOf(16 * 256, 8);
  store.create(spec(data, 256, { id: 1 }));
  for (let i = 0; i < 7; i++) store.writeChunk(1, i, chunkOf(data, 256, i));
  assert.is(store.get(1)!.storedChunks, 7, 'the store itself counts them');
  assert.is(ImageStore.open(dev).get(1)!.storedChunks, 0, 'not on flash yet');
  const writes = dev.stats.writes;
  store.writeChunk(1, 7, chunkOf(data, 256, 7));
  assert.is(dev.stats.writes - writes, 2, 'the chunk, then one bitmap program for eight chunks');
  assert.is(ImageStore.open(dev).get(1)!.storedChunks, 8);
  store.writeChunk(1, 12, chunkOf(data, 256, 12));
  store.sync();
  assert.equal(ImageStore.open(dev).missingChunks(1), [8, 9, 10, 11, 13, 14, 15]);
  for (const i of [8, 9, 10, 11, 13, 14, 15]) store.writeChunk(1, i, chunkOf(data, 256, i));
  assert.is(store.complete(1).state, 'verified');
  assert.is(ImageStore.open(dev).get(1)!.state, 'verified');
  for (const bad of [0, 1.5, '2', -1]) assert.is(errorCode(() => ImageStore.open(dev, { flushChunks: bad as never })), 'STORE_BAD_ARGUMENT');
});

test('bad input: typed errors, nothing written', () => {
  const dev = flash({ writeSize: 4 });
  const store = ImageStore.open(dev);
  const data = bytesOf(1000, 1);
  const good = spec(data, 256, { id: 1 });
  const bad: [string, unknown][] = [
    ['kind', { ...good, kind: 'firmware' }],
    ['size 0', { ...good, size: 0 }],
    ['size fraction', { ...good, size: 10.5 }],
    ['sha256 short', { ...good, sha256: new Uint8Array(31) }],
    ['chunk not a unit multiple', { ...good, chunkSize: 254 }],
    ['chunk 0', { ...good, chunkSize: 0 }],
    ['seq negative', { ...good, seq: -1 }],
    ['seq string', { ...good, seq: '3' }],
    ['id too big', { ...good, id: 2 ** 32 }],
    ['component too long', { ...good, component: 'x'.repeat(33) }],
    ['version not a string', { ...good, version: 3 }],
    ['version with NUL', { ...good, version: 'a\u0000b' }],
    ['null', null],
  ];
  for (const [what, o] of bad) assert.is(errorCode(() => store.create(o as never)), 'STORE_BAD_ARGUMENT', what);
  assert.is(dev.stats.writes + dev.stats.erases, 0);
  assert.is(errorCode(() => store.create(spec(bytesOf(1 << 20, 1), 4096, { id: 2 }))), 'STORE_FULL');
  store.create(good);
  assert.is(errorCode(() => store.writeChunk(1, 4, data.subarray(0, 10))), 'STORE_BAD_CHUNK_INDEX');
  assert.is(errorCode(() => store.writeChunk(1, -1, data.subarray(0, 256))), 'STORE_BAD_CHUNK_INDEX');
  assert.is(errorCode(() => store.writeChunk(1, 1.5, data.subarray(0, 256))), 'STORE_BAD_CHUNK_INDEX');
  assert.is(errorCode(() => store.writeChunk(1, 0, data.subarray(0, 255))), 'STORE_BAD_CHUNK_SIZE');
  assert.is(errorCode(() => store.writeChunk(1, 3, data.subarray(0, 256))), 'STORE_BAD_CHUNK_SIZE', 'the last chunk is 232 bytes');
  assert.is(errorCode(() => store.writeChunk(1, 0, 'abc' as never)), 'STORE_BAD_CHUNK_SIZE');
  assert.is(errorCode(() => store.writeChunk(2, 0, data.subarray(0, 256))), 'STORE_NOT_FOUND');
  assert.is(errorCode(() => store.writeChunk('1' as never, 0, data.subarray(0, 256))), 'STORE_BAD_ARGUMENT');
  assert.is(errorCode(() => store.readChunk(1, 0, new Uint8Array(10))), 'STORE_BAD_ARGUMENT');
  assert.is(errorCode(() => store.missingChunks(1, -1)), 'STORE_BAD_ARGUMENT');
  assert.is(errorCode(() => ImageStore.open(null as never)), 'STORE_BAD_ARGUMENT');
  assert.is(errorCode(() => ImageStore.open(dev, 'x' as never)), 'STORE_BAD_ARGUMENT');
});

test('a store written with one program unit is refused on a device with another', () => {
  const a = flash({ writeSize: 4 });
  const store = ImageStore.open(a);
  store.create(spec(bytesOf(100, 1), 100, { id: 1 }));
  const b = flash({ writeSize: 16 });
  b.poke(0, a.bytes);
  assert.is(errorCode(() => ImageStore.open(b)), 'STORE_GEOMETRY_MISMATCH');
});

test('a store in a data partition (RegionFlash) stays inside it', () => {
  const dev = flash({ size: 128 * 1024 });
  const region = new RegionFlash(dev, 0x8000, 0x10000, 'storage');
  const store = ImageStore.open(region);
  const data = bytesOf(20000, 5);
  store.create(spec(data, 4096, { id: 3 }));
  for (let i = 0; i < 5; i++) store.writeChunk(3, i, chunkOf(data, 4096, i));
  store.complete(3);
  for (let i = 0; i < 0x8000; i++) assert.is(dev.bytes[i], 0xff);
  for (let i = 0x18000; i < dev.size; i++) assert.is(dev.bytes[i], 0xff);
  // Byte-level check of the documented layout: record at 0, data from the next sector.
  assert.is(dev.bytes[0x8000], 0x4f); // 'O' of "OFIS"
  assert.ok(equal(dev.bytes.subarray(0x9000, 0x9000 + 20000), data));
  const l = extentLayout(1, 4096, 20000, 4096);
  assert.equal([l.recordSpan, l.commitAt, l.marksAt, l.bitmapAt, l.bitmapBytes, l.headerSectors, l.dataSectors], [132, 132, 133, 139, 1, 1, 5]);
  assert.is(dev.bytes[0x8000 + 132], 0, 'commit marker');
  assert.is(dev.bytes[0x8000 + 133], 0, 'complete mark');
  assert.is(dev.bytes[0x8000 + 134], 0, 'verified mark');
  assert.is(dev.bytes[0x8000 + 135], 0xff, 'installing mark');
  assert.is(dev.bytes[0x8000 + 139], 0xe0, 'bitmap: chunks 0..4 stored');
});

test('a chunk area holding bits of an interrupted write: same content programs over, other content is refused', () => {
  const dev = flash({ mode: 'nor' });
  const store = ImageStore.open(dev);
  const data = bytesOf(2048, 4);
  store.create(spec(data, 1024, { id: 1 }));
  // What a torn program leaves: some of the chunk's bits cleared, no bitmap bit.
  const torn = chunkOf(data, 1024, 1).slice();
  for (let i = 512; i < 1024; i++) torn[i] = 0xff;
  dev.write(4096 + 1024, torn); // the data area starts one sector in
  const reopened = ImageStore.open(dev);
  assert.equal(reopened.missingChunks(1), [0, 1]);
  const other = chunkOf(data, 1024, 1).slice();
  other.fill(0xff);
  assert.is(errorCode(() => reopened.writeChunk(1, 1, other)), 'STORE_CHUNK_CONFLICT');
  assert.ok(reopened.writeChunk(1, 1, chunkOf(data, 1024, 1)));
  reopened.writeChunk(1, 0, chunkOf(data, 1024, 0));
  assert.is(reopened.complete(1).state, 'verified');
});

test.run();

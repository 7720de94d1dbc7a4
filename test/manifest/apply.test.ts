import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { applyManifest, recover, rollback, readDeviceVersion, FileSetUpdate, followFirmware, type FirmwareTarget } from '../../src/manifest/apply';
import { MemoryFileStore } from '../../src/manifest/memory-file-store';
import { loadJournal } from '../../src/manifest/journal';
import { errorCode } from '../helpers';
import { MemoryTransport, NEW, OLD, allFiles, enc, makeManifest, oldStore, visibleFiles } from './apply-harness';

test('a full update: new set, Pycom backups, version file exactly as Pycom writes it', () => {
  const store = oldStore();
  const journal = store.journal();
  const t = MemoryTransport.forNewSet();
  const r = applyManifest(makeManifest(), store, t, { journal })!;
  assert.equal(visibleFiles(store), NEW);
  const all = allFiles(store);
  assert.is(all['flash/main.py.bak'], OLD['flash/main.py']);
  assert.is(all['flash/old.py.bak_del'], OLD['flash/old.py']);
  assert.is(all['flash/OTA_VERSION.py.bak'], OLD['flash/OTA_VERSION.py']);
  assert.is(all['flash/OTA_VERSION.py'], "VERSION = '1.0.1'");
  assert.ok(Object.keys(all).every((p) => !p.endsWith('.new')));
  assert.equal(r.added.sort(), ['flash/lib/new_lib.py', 'sd/assets/asset.txt']);
  assert.equal(r.deleted, ['flash/old.py']);
  assert.is(readDeviceVersion(store), '1.0.1');
  assert.is(loadJournal(journal)!.state, 'done');
  // Only the files that changed were fetched.
  assert.equal(t.requests.map((q) => q.urlPath).sort(), ['/1.0.1/flash/lib/new_lib.py', '/1.0.1/flash/main.py', '/1.0.1/sd/assets/asset.txt']);
});

test('dst_path without a leading slash (Pycom\'s documentation) works the same', () => {
  const m = makeManifest();
  for (const e of m.new.concat(m.update)) e.dst_path = e.dst_path.slice(1);
  const store = oldStore();
  applyManifest(m, store, MemoryTransport.forNewSet(), { journal: store.journal() });
  assert.equal(visibleFiles(store), NEW);
});

test('a null manifest changes nothing', () => {
  const store = oldStore();
  assert.is(applyManifest(null, store, MemoryTransport.forNewSet(), { journal: store.journal() }), null);
  assert.is(store.operations, 0);
});

test('an interrupted download resumes from where it broke off (Range), hashed across the break', () => {
  const store = oldStore();
  const t = MemoryTransport.forNewSet({ chunk: 700, breakAfter: (u, attempt) => (u.endsWith('asset.txt') && attempt < 2 ? 1500 * (attempt + 1) : null) });
  applyManifest(makeManifest(), store, t, { journal: store.journal() });
  assert.equal(visibleFiles(store), NEW);
  assert.equal(t.requests.filter((q) => q.urlPath.endsWith('asset.txt')).map((q) => q.offset), [0, 1500, 3000]);
});

test('a server that ignores Range: the file starts over and still checks', () => {
  const store = oldStore();
  const t = MemoryTransport.forNewSet({ ignoreRange: true, breakAfter: (u, attempt) => (u.endsWith('asset.txt') && attempt === 0 ? 2000 : null) });
  applyManifest(makeManifest(), store, t, { journal: store.journal() });
  assert.equal(visibleFiles(store), NEW);
});

test('a hash mismatch switches nothing and leaves nothing behind', () => {
  for (const field of ['hash', 'sha256'] as const) {
    const m = makeManifest();
    const e = m.new.find((x) => x.dst_path.endsWith('asset.txt'))!;
    e[field] = e[field]!.replace(/^./, (c) => (c === '0' ? '1' : '0'));
    const store = oldStore();
    const journal = store.journal();
    assert.is(errorCode(() => applyManifest(m, store, MemoryTransport.forNewSet(), { journal })), 'FILESET_HASH_MISMATCH');
    assert.equal(allFiles(store), OLD, field);
    assert.equal(store.directories().sort(), ['flash', 'flash/lib']);
    assert.is(loadJournal(journal), null);
  }
});

test('download failures: attempts used up, then the update is abandoned cleanly', () => {
  const store = oldStore();
  const t = MemoryTransport.forNewSet({ breakAfter: (u) => (u.endsWith('main.py') ? 5 : null) });
  assert.is(errorCode(() => applyManifest(makeManifest(), store, t, { journal: store.journal(), attempts: 3 })), 'FILESET_DOWNLOAD_FAILED');
  assert.is(t.requests.filter((q) => q.urlPath.endsWith('main.py')).length, 3);
  assert.equal(allFiles(store), OLD);
});

test('a delete of a file the device does not have is skipped (Pycom\'s client stopped half-applied)', () => {
  const store = oldStore();
  store.remove('flash/old.py');
  const r = applyManifest(makeManifest(), store, MemoryTransport.forNewSet(), { journal: store.journal() })!;
  assert.equal(r.deleted, []);
  assert.equal(visibleFiles(store), NEW);
});

test('traversal and bad fields in a manifest are refused before anything is written', () => {
  const cases: [string, (m: ReturnType<typeof makeManifest>) => void][] = [
    ['dst_path ..', (m) => (m.new[0].dst_path = '/flash/../../etc/passwd')],
    ['dst_path leading ..', (m) => (m.new[0].dst_path = '../outside.py')],
    ['dst_path //', (m) => (m.new[0].dst_path = '//etc/passwd')],
    ['dst_path backslash', (m) => (m.new[0].dst_path = '/flash\\..\\..\\x')],
    ['dst_path drive', (m) => (m.new[0].dst_path = 'C:/x.py')],
    ['dst_path NUL', (m) => (m.new[0].dst_path = '/flash/a\0.py')],
    ['dst_path .bak', (m) => (m.new[0].dst_path = '/flash/main.py.bak')],
    ['delete ..', (m) => m.delete.push('flash/../../etc/passwd')],
    ['URL ..', (m) => (m.new[0].URL = 'http://10.0.0.2:8000/1.0.1/../../etc/passwd')],
    ['URL %2e%2e', (m) => (m.new[0].URL = 'http://10.0.0.2:8000/1.0.1/%2e%2e/%2E%2E/etc/passwd')],
    ['URL %2f', (m) => (m.new[0].URL = 'http://10.0.0.2:8000/1.0.1%2f..%2fetc')],
    ['URL not http', (m) => (m.new[0].URL = 'file:///etc/passwd')],
    ['hash', (m) => (m.new[0].hash = 'zz')],
    ['version code', (m) => (m.version = "1.0.1'\nimport os\nos.remove('main.py')\n#")],
    ['version path', (m) => (m.version = '../..')],
    ['duplicate', (m) => m.delete.push('flash/main.py')],
    ['file and dir', (m) => m.new.push({ ...m.new[0], dst_path: '/flash/main.py/x' })],
  ];
  for (const [name, spoil] of cases) {
    const m = makeManifest();
    spoil(m);
    const store = oldStore();
    assert.is(errorCode(() => applyManifest(m, store, MemoryTransport.forNewSet(), { journal: store.journal() })), 'MANIFEST_INVALID', name);
    assert.is(store.operations, 0, `${name}: nothing written`);
  }
});

test('a destination whose directory is a file is refused before anything is written', () => {
  const store = oldStore();
  store.put('sd', 'a file where a directory should be');
  assert.is(errorCode(() => applyManifest(makeManifest(), store, MemoryTransport.forNewSet(), { journal: store.journal() })), 'FILESET_PATH_CONFLICT');
  assert.is(store.operations, 0);
});

test('rollback puts back the old set (and the version file); a second rollback is refused', () => {
  const store = oldStore();
  const journal = store.journal();
  applyManifest(makeManifest(), store, MemoryTransport.forNewSet(), { journal });
  rollback(store, journal);
  assert.equal(allFiles(store), OLD);
  assert.equal(store.directories().sort(), ['flash', 'flash/lib']);
  assert.is(readDeviceVersion(store), '1.0.0');
  assert.is(errorCode(() => rollback(store, journal)), 'ROLLBACK_IMPOSSIBLE');
  // And the update applies again afterwards.
  applyManifest(makeManifest(), store, MemoryTransport.forNewSet(), { journal });
  assert.equal(visibleFiles(store), NEW);
});

test('rollback with a backup missing is refused without changing anything', () => {
  const store = oldStore();
  const journal = store.journal();
  applyManifest(makeManifest(), store, MemoryTransport.forNewSet(), { journal });
  store.remove('flash/main.py.bak');
  const before = allFiles(store);
  assert.is(errorCode(() => rollback(store, journal)), 'ROLLBACK_IMPOSSIBLE');
  assert.equal(allFiles(store), before);
});

test('a device without a version file is on 1.0.0; rollback removes the version file again', () => {
  const store = oldStore();
  store.remove('flash/OTA_VERSION.py');
  assert.is(readDeviceVersion(store), '1.0.0');
  const journal = store.journal();
  applyManifest(makeManifest(), store, MemoryTransport.forNewSet(), { journal });
  assert.is(readDeviceVersion(store), '1.0.1');
  rollback(store, journal);
  assert.is(store.stat('flash/OTA_VERSION.py'), null);
});

test('an unfinished journal must be recovered before another update starts', () => {
  const store = oldStore();
  const journal = store.journal();
  store.cutPowerAfter(8);
  assert.is(errorCode(() => applyManifest(makeManifest(), store, MemoryTransport.forNewSet(), { journal })), 'POWER_LOSS');
  store.reboot();
  assert.is(errorCode(() => FileSetUpdate.begin(makeManifest(), store, { journal })), 'FILESET_RECOVER_FIRST');
  recover(store, journal);
  applyManifest(makeManifest(), store, MemoryTransport.forNewSet(), { journal });
  assert.equal(visibleFiles(store), NEW);
});

function wholeOldOrNew(store: MemoryFileStore, where: string): 'old' | 'new' {
  const v = visibleFiles(store);
  const all = allFiles(store);
  assert.ok(Object.keys(all).every((p) => !p.endsWith('.new')), `${where}: a .new file is left`);
  if (JSON.stringify(v) === JSON.stringify(sorted(OLD)) || equalSets(v, OLD)) return 'old';
  assert.ok(equalSets(v, NEW), `${where}: neither the old nor the new set:\n${JSON.stringify(Object.keys(v).sort())}`);
  return 'new';
}

function sorted(o: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(o).sort());
}

function equalSets(a: Record<string, string>, b: Record<string, string>): boolean {
  return JSON.stringify(sorted(a)) === JSON.stringify(sorted(b));
}

test('power cut at every operation of an update, then at every operation of the recovery: whole old or whole new', () => {
  const clean = oldStore();
  applyManifest(makeManifest(), clean, MemoryTransport.forNewSet({ chunk: 2048 }), { journal: clean.journal() });
  const total = clean.operations;
  assert.ok(total > 20, `an update takes ${total} operations`);
  let sawOld = 0;
  let sawNew = 0;
  let runs = 0;
  for (let cut = 0; cut < total; cut++) {
    // First a cut in the update, then (j) a second cut during the recovery after it.
    for (let j = 0; ; j++) {
      const store = oldStore();
      const journal = store.journal();
      store.cutPowerAfter(cut);
      assert.is(errorCode(() => applyManifest(makeManifest(), store, MemoryTransport.forNewSet({ chunk: 2048 }), { journal })), 'POWER_LOSS', `cut ${cut}`);
      store.reboot();
      const before = store.operations;
      store.cutPowerAfter(j);
      let done = true;
      try {
        recover(store, journal);
      } catch (e) {
        assert.is((e as { code: string }).code, 'POWER_LOSS');
        done = false;
        store.reboot();
        recover(store, journal);
      }
      store.cutPowerAfter(Infinity);
      runs++;
      const state = wholeOldOrNew(store, `cut ${cut}, recovery cut ${j}`);
      if (state === 'old') sawOld++;
      else sawNew++;
      // Whatever the state, the device can go on: the update applies (again) to reach the new set.
      if (j === 0) {
        if (state === 'old') applyManifest(makeManifest(), store, MemoryTransport.forNewSet(), { journal });
        assert.ok(equalSets(visibleFiles(store), NEW), `cut ${cut}: the update applies after recovery`);
      }
      if (done || store.operations - before > 200) break;
    }
  }
  assert.ok(sawOld > 0 && sawNew > 0, `both outcomes occur (old ${sawOld}, new ${sawNew}, ${runs} runs)`);
  if (process.env.SHOW_RUNS) console.log({ total, runs, sawOld, sawNew });
});

test('power cut at every operation of a rollback: whole new or whole old after recovery', () => {
  const base = oldStore();
  const bj = base.journal();
  applyManifest(makeManifest(), base, MemoryTransport.forNewSet(), { journal: bj });
  const start = base.operations;
  rollback(base, bj);
  const total = base.operations - start;
  for (let cut = 0; cut < total; cut++) {
    const store = oldStore();
    const journal = store.journal();
    applyManifest(makeManifest(), store, MemoryTransport.forNewSet(), { journal });
    store.cutPowerAfter(cut);
    assert.is(errorCode(() => rollback(store, journal)), 'POWER_LOSS');
    store.reboot();
    recover(store, journal);
    const state = wholeOldOrNew(store, `rollback cut ${cut}`);
    // Once the journal says rolling-back, recovery finishes the rollback.
    if (cut > 0) assert.is(state, 'old', `rollback cut ${cut}`);
  }
});

test('without syncs the memory store loses data (the model the power-cut tests rely on)', () => {
  const s = new MemoryFileStore();
  s.mkdir('a');
  s.create('a/f');
  s.write('a/f', 0, enc('hello'));
  s.rename('a/f', 'a/g');
  s.cutPowerAfter(0);
  assert.is(errorCode(() => s.create('a/h')), 'POWER_LOSS');
  s.reboot();
  assert.equal(s.stat('a/g'), { kind: 'file', size: 0 });
});

test('a firmware commits together with the files: cut anywhere, files new exactly when the firmware is committed', () => {
  const fwBytes = enc('F'.repeat(3000));
  const sha1 = createHash('sha1').update(fwBytes).digest('hex');
  const manifest = () => ({ ...makeManifest(), firmware: { URL: 'http://h/firmware_1.0.1.bin', hash: sha1, size: fwBytes.length } });
  const transport = () => {
    const t = MemoryTransport.forNewSet();
    (t as unknown as { files: Record<string, Uint8Array> }).files['/firmware_1.0.1.bin'] = fwBytes;
    return t;
  };
  const target = (state: { committed: boolean; written: number }): FirmwareTarget => ({
    description: 'test-slot',
    begin: () => void (state.written = 0),
    write: (c) => void (state.written += c.length),
    finish: () => assert.is(state.written, fwBytes.length),
    commit: () => void (state.committed = true),
    abort: () => undefined,
  });
  const clean = oldStore();
  const st0 = { committed: false, written: 0 };
  applyManifest(manifest(), clean, transport(), { journal: clean.journal(), firmware: target(st0) });
  assert.ok(st0.committed);
  for (let cut = 0; cut < clean.operations; cut++) {
    const store = oldStore();
    const journal = store.journal();
    const st = { committed: false, written: 0 };
    store.cutPowerAfter(cut);
    assert.is(errorCode(() => applyManifest(manifest(), store, transport(), { journal, firmware: target(st) })), 'POWER_LOSS');
    store.reboot();
    const r = recover(store, journal, { commitFirmware: (d) => { assert.is(d, 'test-slot'); st.committed = true; } });
    const state = wholeOldOrNew(store, `firmware cut ${cut}`);
    assert.is(st.committed, state === 'new', `cut ${cut}: files ${state}, firmware committed ${st.committed} (${r.action})`);
  }
  // Rolled back by the bootloader: the files follow.
  const store = oldStore();
  const journal = store.journal();
  applyManifest(manifest(), store, transport(), { journal, firmware: target({ committed: false, written: 0 }) });
  assert.is(followFirmware(store, journal, (d) => d === 'test-slot'), null);
  assert.ok(followFirmware(store, journal, () => false));
  assert.equal(allFiles(store), OLD);
});

test.run();

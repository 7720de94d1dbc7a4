/**
 * The file-set update's power-loss scenario (src/manifest): a Pycom-style manifest that changes,
 * adds and deletes files and carries a firmware. The files live in a flash log (a data partition
 * 'files' appended after the layout's flash), so every store change is a flash program the sweep
 * cuts like any other; the firmware goes through the OTA engine and is selected in the same switch.
 * After each cut the device boots, the store is replayed, recover() finishes or undoes the switch,
 * and the update is applied again if it was undone. Besides the boot invariants, the files are
 * checked right after every recovery: the whole old set or the whole new set, never a mix, and the
 * new set exactly when the new firmware is the one that boots.
 */
import { sha1 as sha1Hash } from '../hash/sha1';
import { RegionFlash } from '../flash/region';
import type { BlockDevice } from '../flash/types';
import { utf8Decode, utf8Encode } from '../formats/utf8';
import { PARTITION_TABLE_OFFSET, encodePartitionTable } from '../formats/partition-table';
import type { Partition, PartitionTable } from '../formats/partition-types';
import { applyManifest, recover, type FirmwareTarget, type SyncTransport } from '../manifest/apply';
import { FlashLogFileStore } from '../manifest/flash-log-file-store';
import { loadJournal } from '../manifest/journal';
import { commitOtaFirmware, otaFirmwareTarget } from '../manifest/ota-firmware';
import { baseDevice, chunkOf, scenario, slotsOf, writableOf, type ProveLayout } from './ota-flows';
import { ProveViolation, type ProveScenario, type ProveWorld } from './world';

const FILES_LABEL = 'files';
const FILES_SUBTYPE = 0x41;
const FILES_SIZE = 0x20000;

const OLD: { [path: string]: string } = {
  'flash/main.py': 'print("old main")\n',
  'flash/lib/OTA.py': 'class OTA: pass\n',
  'flash/old.py': 'def old(): pass\n',
  'flash/OTA_VERSION.py': "VERSION = '1.0'",
};
const NEW_FILES: { [path: string]: string } = {
  'flash/main.py': 'print("new main, longer than before")\n',
  'flash/lib/OTA.py': 'class OTA: pass\n',
  'flash/lib/new_lib.py': 'def new_lib(): return 2\n',
  'sd/assets/asset.txt': new Array(301).join('asset line\n'),
};
const NEW: { [path: string]: string } = { 'flash/main.py': NEW_FILES['flash/main.py'], 'flash/lib/OTA.py': NEW_FILES['flash/lib/OTA.py'], 'flash/lib/new_lib.py': NEW_FILES['flash/lib/new_lib.py'], 'sd/assets/asset.txt': NEW_FILES['sd/assets/asset.txt'], 'flash/OTA_VERSION.py': "VERSION = '2.0'" };

function hex(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += (b[i] < 16 ? '0' : '') + b[i].toString(16);
  return s;
}

interface FilesLayout {
  readonly layout: ProveLayout;
  readonly table: PartitionTable;
  readonly files: Partition;
}

function filesLayout(layout: ProveLayout): FilesLayout {
  const files: Partition = { label: FILES_LABEL, type: 1, subtype: FILES_SUBTYPE, offset: layout.flashSize, size: FILES_SIZE, flags: 0 };
  const table: PartitionTable = { partitions: layout.table.partitions.concat([files]), md5: layout.table.md5 };
  return { layout: { ...layout, flashSize: layout.flashSize + FILES_SIZE, table }, table, files };
}

function region(f: FilesLayout, dev: BlockDevice): BlockDevice {
  return new RegionFlash(dev, f.files.offset, f.files.size, FILES_LABEL);
}

const sha1 = (b: Uint8Array): Uint8Array => sha1Hash().update(b).digest();

/** The manifest from the device's 1.0 to 2.0 (what otaflash serve would send), firmware included. */
function manifestFor(layout: ProveLayout): unknown {
  const entry = (p: string) => ({ URL: `http://server/2.0/${p}`, dst_path: '/' + p, hash: hex(sha1(utf8Encode(NEW_FILES[p]))) });
  return {
    delete: ['flash/old.py'],
    new: [entry('flash/lib/new_lib.py'), entry('sd/assets/asset.txt')],
    update: [entry('flash/main.py')],
    firmware: { URL: 'http://server/firmware_2.0.bin', hash: hex(sha1(layout.images.new)), size: layout.images.new.length },
    version: '2.0',
  };
}

function transport(layout: ProveLayout): SyncTransport {
  const chunk = chunkOf(layout);
  return {
    get(urlPath, offset, sink) {
      const body = urlPath === '/firmware_2.0.bin' ? layout.images.new : utf8Encode(NEW_FILES[urlPath.slice('/2.0/'.length)]);
      sink.start(offset);
      for (let at = offset; at < body.length; at += chunk) sink.data(body.subarray(at, Math.min(at + chunk, body.length)));
    },
  };
}

/** The OTA target with the marks the boot invariants rely on around the engine's steps. */
function markedFirmware(w: ProveWorld): FirmwareTarget {
  const inner = otaFirmwareTarget(w.engine());
  return {
    description: inner.description,
    begin(size) {
      w.mark('write-start', 'new', inner.description.slice(4));
      inner.begin(size);
    },
    write: (c) => inner.write(c),
    finish: () => inner.finish(),
    commit() {
      w.mark('select-start', 'new');
      inner.commit();
      w.mark('select-done', 'new');
    },
    abort: () => inner.abort(),
  };
}

function filesOf(store: FlashLogFileStore): { [path: string]: string } {
  const out: { [path: string]: string } = {};
  store.snapshot().forEach((b, p) => {
    if (p.slice(-4) !== '.bak' && p.slice(-8) !== '.bak_del') out[p] = utf8Decode(b) ?? '<not UTF-8>';
  });
  return out;
}

function same(a: { [p: string]: string }, b: { [p: string]: string }): boolean {
  const ka = Object.keys(a).sort();
  const kb = Object.keys(b).sort();
  if (ka.join('\n') !== kb.join('\n')) return false;
  for (const k of ka) if (a[k] !== b[k]) return false;
  return true;
}

export function manifestScenarios(base: ProveLayout): ProveScenario[] {
  const slots = slotsOf(base);
  if (slots.length < 2 || !base.hashes) return [];
  const f = filesLayout(base);
  const layout = f.layout;
  const apply = (w: ProveWorld, store: FlashLogFileStore) => {
    applyManifest(manifestFor(layout), store, transport(layout), { journal: store.journal(), firmware: markedFirmware(w) });
  };
  const s = scenario(
    layout,
    'fileset-update',
    'file-set update (Pycom manifest: 1 changed, 2 new, 1 deleted file, a firmware) from a flash log; journal, switch, firmware selected with the files; goal: new boots with exactly the new files',
    false,
    { image: 'new' },
    () => {
      const b = baseDevice(layout, false, true);
      const t = encodePartitionTable(f.table, { hashes: layout.hashes });
      b.dev.erase(PARTITION_TABLE_OFFSET, 0x1000);
      b.dev.write(PARTITION_TABLE_OFFSET, t);
      const store = FlashLogFileStore.format(region(f, b.dev));
      for (const p of Object.keys(OLD)) {
        const parts = p.split('/');
        for (let i = 1; i < parts.length; i++) store.mkdir(parts.slice(0, i).join('/'));
        store.create(p);
        store.write(p, 0, utf8Encode(OLD[p]));
      }
      return { device: b.dev, table: f.table, images: b.images, slots: b.slots, writable: writableOf(layout, [1]).concat([FILES_LABEL]) };
    },
    (w) => apply(w, FlashLogFileStore.open(region(f, w.device))),
    (w) => {
      const store = FlashLogFileStore.open(region(f, w.device));
      const journal = store.journal();
      recover(store, journal, {
        commitFirmware: (d) => {
          w.mark('select-start', 'new');
          commitOtaFirmware(w.engine(), d);
          w.mark('select-done', 'new');
        },
      });
      // Undone (the cut came before the switch): the firmware asks the server again.
      const r = loadJournal(journal);
      if (r === null || r.state !== 'done' || r.version !== '2.0') apply(w, store);
    },
  );
  const check = (w: ProveWorld) => {
    const store = FlashLogFileStore.open(region(f, w.device));
    const files = filesOf(store);
    const isNew = same(files, NEW);
    if (!isNew && !same(files, OLD)) throw new ProveViolation('fileset-mixed', `the files are neither the old nor the new set: ${Object.keys(files).sort().join(', ')}`);
    store.snapshot().forEach((_b, p) => {
      if (p.slice(-4) === '.new') throw new ProveViolation('fileset-leftover', `'${p}' is left after the update`);
    });
    // The check runs once the goal holds: the new firmware boots, so the files must be new.
    if (!isNew) throw new ProveViolation('fileset-firmware', 'the new firmware boots with the old files');
  };
  return [{ ...s, check }];
}

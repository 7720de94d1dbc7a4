/**
 * The image store's power-loss scenarios (src/store): a download into the store (create, chunks out
 * of order with duplicates, complete), a removal, and an install from the store through the OTA
 * engine (then reboot and confirm). The store lives in a data partition 'store' appended after the
 * layout's flash (the device grows by it), so every layout hosts them. Besides the boot invariants,
 * each scenario checks the store right after every cut (every image as it was or in its new state,
 * every chunk its bitmap claims holding its bytes) and once recovered (the goal state, nothing else).
 */
import { RegionFlash } from '../flash/region';
import { OTA_STATE } from '../formats/otadata';
import { PARTITION_TABLE_OFFSET, encodePartitionTable } from '../formats/partition-table';
import type { Partition, PartitionTable } from '../formats/partition-types';
import type { BlockDevice } from '../flash/types';
import type { HashProvider } from '../hash/types';
import { ImageStore } from '../store/store';
import { extentLayout } from '../store/layout';
import type { CreateImageOptions, StoredImage } from '../store/types';
import { MAX_ROUNDS, baseDevice, chunkOf, confirm, scenario, slotsOf, writableOf, type ProveLayout } from './ota-flows';
import { ProveViolation, type ProveScenario, type ProveSetup, type ProveWorld } from './world';

const STORE_LABEL = 'store';
/** Store data partition subtype (a custom one, 0x40-0xFE). */
const STORE_SUBTYPE = 0x40;
const NEW_ID = 1;
const OLD_ID = 2;

interface StoreLayout {
  readonly layout: ProveLayout;
  readonly table: PartitionTable;
  readonly store: Partition;
  readonly chunk: number;
  readonly hashes: HashProvider;
}

function storeLayout(layout: ProveLayout): StoreLayout | null {
  const hashes = layout.hashes;
  if (!hashes) return null;
  const es = layout.eraseSize ?? 4096;
  const w = Math.max(1, layout.writeSize ?? 1);
  const chunk = Math.ceil(chunkOf(layout) / w) * w;
  const sectors = (n: number) => {
    const l = extentLayout(w, es, n, chunk);
    return l.headerSectors + l.dataSectors;
  };
  // Room for the new and the old image, and two sectors to spare; kept to whole 64 KiB blocks so
  // the chip's block erases stay aligned after it.
  const size = Math.ceil(((sectors(layout.images.new.length) + sectors(layout.images.old.length) + 2) * es) / 0x10000) * 0x10000;
  const store: Partition = { label: STORE_LABEL, type: 1, subtype: STORE_SUBTYPE, offset: layout.flashSize, size, flags: 0 };
  const table: PartitionTable = { partitions: layout.table.partitions.concat([store]), md5: layout.table.md5 };
  return { layout: { ...layout, flashSize: layout.flashSize + size, table }, table, store, chunk, hashes };
}

function hashOf(h: HashProvider, b: Uint8Array): Uint8Array {
  return h.sha256().update(b).digest();
}

function imageSpec(s: StoreLayout, id: number, bytes: Uint8Array, version: string): CreateImageOptions {
  return { id, kind: 'app', component: 'app', version, size: bytes.length, sha256: hashOf(s.hashes, bytes), chunkSize: s.chunk, seq: id };
}

function openStore(s: StoreLayout, dev: BlockDevice): ImageStore {
  return ImageStore.open(new RegionFlash(dev, s.store.offset, s.store.size, STORE_LABEL), { hashes: s.hashes });
}

/** The factory device with the store partition in its table (and the table on flash saying so). */
function storeDevice(s: StoreLayout, fill: (store: ImageStore) => void): ProveSetup {
  const b = baseDevice(s.layout, true, true);
  const t = encodePartitionTable(s.table, { hashes: s.hashes });
  b.dev.erase(PARTITION_TABLE_OFFSET, 0x1000);
  b.dev.write(PARTITION_TABLE_OFFSET, t);
  fill(openStore(s, b.dev));
  return { device: b.dev, table: s.table, images: b.images, slots: b.slots, writable: [STORE_LABEL] };
}

function putAll(store: ImageStore, id: number, bytes: Uint8Array, chunk: number): void {
  for (let i = 0; i * chunk < bytes.length; i++) store.writeChunk(id, i, bytes.subarray(i * chunk, Math.min(bytes.length, (i + 1) * chunk)));
}

/** Chunk order of the download: odd indices first, then evens descending, with a duplicate every fifth. */
function scrambled(count: number): number[] {
  const order: number[] = [];
  for (let i = 1; i < count; i += 2) order.push(i);
  for (let i = count - 1 - ((count - 1) % 2); i >= 0; i -= 2) order.push(i);
  const out: number[] = [];
  for (let k = 0; k < order.length; k++) {
    out.push(order[k]);
    if (k % 5 === 4) out.push(order[k - 2]);
  }
  return out;
}

/** Every chunk the bitmap claims reads back as the image's bytes; the metadata is the one created. */
function checkImage(store: ImageStore, img: StoredImage, bytes: Uint8Array, spec: CreateImageOptions): void {
  if (img.size !== spec.size || img.chunkSize !== spec.chunkSize || img.kind !== spec.kind || img.seq !== spec.seq || img.version !== spec.version) {
    throw new ProveViolation('store-metadata', `image ${img.id} reads back as ${img.kind} ${img.version} seq ${img.seq}, ${img.size} bytes in ${img.chunkSize}-byte chunks`);
  }
  const buf = new Uint8Array(img.chunkSize);
  for (let i = 0; i < img.chunks; i++) {
    if (!store.hasChunk(img.id, i)) {
      if (img.state !== 'receiving') throw new ProveViolation('store-state', `image ${img.id} is ${img.state} with chunk ${i} missing`);
      continue;
    }
    const n = store.readChunk(img.id, i, buf);
    const at = i * img.chunkSize;
    for (let k = 0; k < n; k++) {
      if (buf[k] !== bytes[at + k]) throw new ProveViolation('store-claims-missing-data', `image ${img.id} claims chunk ${i}, but its byte ${k} reads ${buf[k]}, not ${bytes[at + k]}`);
    }
  }
}

function expectStates(img: StoredImage, allowed: readonly string[], when: string): void {
  if (allowed.indexOf(img.state) < 0) throw new ProveViolation('store-state', `${when}: image ${img.id} is ${img.state}, not ${allowed.join(' or ')}`);
}

function ids(store: ImageStore): string {
  return store.list().map((i) => i.id).join(',');
}

export function storeScenarios(layout: ProveLayout): ProveScenario[] {
  const s = storeLayout(layout);
  if (!s) return [];
  const slots = slotsOf(layout);
  const newBytes = layout.images.new;
  const oldBytes = layout.images.old;
  const newSpec = imageSpec(s, NEW_ID, newBytes, 'new');
  const oldSpec = imageSpec(s, OLD_ID, oldBytes, 'old');
  const list: ProveScenario[] = [];

  // --- download: create, chunks out of order with duplicates, complete ---
  const download = (store: ImageStore) => {
    if (!store.get(NEW_ID)) store.create(newSpec);
    const count = Math.ceil(newBytes.length / s.chunk);
    const order = scrambled(count);
    for (let k = 0; k < order.length; k++) {
      const i = order[k];
      store.writeChunk(NEW_ID, i, newBytes.subarray(i * s.chunk, Math.min(newBytes.length, (i + 1) * s.chunk)));
    }
    store.complete(NEW_ID);
  };
  const dl = scenario(
    s.layout, 'store-download', 'image store: create, every chunk out of order with duplicates, complete (SHA-256 from flash); goal: verified, byte for byte',
    true, { image: 'old' },
    () => storeDevice(s, () => {}),
    (w) => download(openStore(s, w.device)),
    (w) => {
      const store = openStore(s, w.device);
      const list = store.list();
      if (list.length > 1 || (list.length === 1 && list[0].id !== NEW_ID)) throw new ProveViolation('store-extra-image', `after the cut the store holds images ${ids(store)}`);
      if (list.length === 1) {
        expectStates(list[0], ['receiving', 'complete', 'verified'], 'after the cut');
        checkImage(store, list[0], newBytes, newSpec);
      }
      // The firmware asks again for what is missing.
      if (!store.get(NEW_ID)) store.create(newSpec);
      const missing = store.missingChunks(NEW_ID);
      for (let k = 0; k < missing.length; k++) {
        const i = missing[k];
        store.writeChunk(NEW_ID, i, newBytes.subarray(i * s.chunk, Math.min(newBytes.length, (i + 1) * s.chunk)));
      }
      store.complete(NEW_ID);
    },
  );
  list.push({
    ...dl,
    check: (w) => {
      const store = openStore(s, w.device);
      const img = store.get(NEW_ID);
      if (!img || store.list().length !== 1) throw new ProveViolation('store-goal', `the store holds images ${ids(store)}, not just ${NEW_ID}`);
      expectStates(img, ['verified'], 'at the goal');
      checkImage(store, img, newBytes, newSpec);
    },
  });

  // --- remove: two verified images, the new one removed; the old one untouched, no sector leaked ---
  const twoImages = (store: ImageStore) => {
    store.create(newSpec);
    putAll(store, NEW_ID, newBytes, s.chunk);
    store.complete(NEW_ID);
    store.create(oldSpec);
    putAll(store, OLD_ID, oldBytes, s.chunk);
    store.complete(OLD_ID);
  };
  const keepsOld = (store: ImageStore, when: string) => {
    const old = store.get(OLD_ID);
    if (!old) throw new ProveViolation('store-lost-image', `${when}: image ${OLD_ID}, not being removed, is gone`);
    expectStates(old, ['verified'], when);
    checkImage(store, old, oldBytes, oldSpec);
  };
  const rm = scenario(
    s.layout, 'store-remove', 'image store: two verified images, remove one (removed mark, erase data, kill magic, erase header); goal: the other intact, the space free',
    true, { image: 'old' },
    () => storeDevice(s, twoImages),
    (w) => openStore(s, w.device).remove(NEW_ID),
    (w) => {
      const store = openStore(s, w.device);
      keepsOld(store, 'after the cut');
      const img = store.get(NEW_ID);
      if (img) {
        expectStates(img, ['verified'], 'after the cut');
        checkImage(store, img, newBytes, newSpec);
        store.remove(NEW_ID);
      }
    },
  );
  list.push({
    ...rm,
    check: (w) => {
      const store = openStore(s, w.device);
      keepsOld(store, 'at the goal');
      if (store.get(NEW_ID)) throw new ProveViolation('store-goal', `image ${NEW_ID} is still listed after its removal`);
      const sp = store.space();
      const held = store.get(OLD_ID)!.sectors;
      if (sp.freeSectors !== sp.sectors - held) throw new ProveViolation('store-leak', `${sp.freeSectors} of ${sp.sectors} sectors free with one image of ${held} sectors`);
    },
  });

  // --- install: the verified new image into the next OTA slot, selected; reboot; confirm ---
  if (slots.length >= 2) {
    const installFromStore = (w: ProveWorld, reinstall: boolean) => {
      const e = w.engine();
      w.mark('write-start', 'new', e.nextUpdatePartition().label);
      // install() ends with the selection; the invariants learn it as a selection in progress.
      w.mark('select-start', 'new');
      openStore(s, w.device).install(NEW_ID, e, { reinstall });
      w.mark('select-done', 'new');
    };
    const inst = scenario(
      s.layout, 'store-install', 'image store: install the verified new image through the engine (installing mark, begin, write, end, set boot, installed mark), reboot, confirm; goal: new VALID',
      true, { image: 'new', state: OTA_STATE.VALID },
      () => {
        const setup = storeDevice(s, (store) => {
          store.create(newSpec);
          putAll(store, NEW_ID, newBytes, s.chunk);
          store.complete(NEW_ID);
        });
        return { ...setup, writable: writableOf(layout, [1]).concat([STORE_LABEL]) };
      },
      (w) => {
        installFromStore(w, false);
        w.reboot();
        confirm(w);
      },
      (w) => {
        const first = openStore(s, w.device).get(NEW_ID);
        if (!first) throw new ProveViolation('store-lost-image', 'after the cut the image being installed is gone');
        expectStates(first, ['verified', 'installing', 'installed'], 'after the cut');
        for (let round = 0; round < MAX_ROUNDS; round++) {
          const pending = w.runningState === OTA_STATE.PENDING_VERIFY;
          if (w.running === 'new') {
            if (pending) confirm(w);
            // Booted into the new app after a cut between set-boot and the 'installed' mark: the
            // app finishes the store's bookkeeping (install() recognises the selected slot).
            const img = openStore(s, w.device).get(NEW_ID)!;
            if (img.state === 'installing') installFromStore(w, false);
            return;
          }
          if (pending) confirm(w);
          // Still on the old app: install (again, if the store says installed but the new app was
          // rolled back before it confirmed itself), reboot into it.
          installFromStore(w, openStore(s, w.device).get(NEW_ID)!.state === 'installed');
          w.reboot();
        }
        throw new ProveViolation('no-progress', `recovery did not reach the new app in ${MAX_ROUNDS} rounds (running ${w.running})`);
      },
    );
    list.push({
      ...inst,
      check: (w) => {
        const img = openStore(s, w.device).get(NEW_ID);
        if (!img) throw new ProveViolation('store-lost-image', 'the installed image is gone from the store');
        expectStates(img, ['installed'], 'at the goal');
      },
    });
  }
  return list;
}

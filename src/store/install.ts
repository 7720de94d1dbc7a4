// Installing a stored image: an app image is streamed from the store into the next OTA slot through
// the OTA engine (its writer verifies the image and keeps the resume log), then selected for boot.
// The store's 'installing' mark, programmed before the first slot byte, is what tells a later call
// after a power cut to recover instead of starting over:
//  - the engine has an interrupted update of this size: resume() it (after checking that the bytes
//    already in the slot are this image's), and send the rest from the store;
//  - otadata already selects a slot holding exactly this image (the cut came after set-boot): only
//    the 'installed' mark was missing;
//  - otherwise: write the slot again from the start.
import { OtaflashError, kindOf } from '../errors';
import type { ImageVerdict } from '../formats/app-image-types';
import type { Partition } from '../formats/partition-types';
import { isOtaAppPartition, partitionRegion } from '../formats/partition-lookup';
import type { OtaEngine } from '../ota/engine';
import type { OtaWriteOptions, OtaWriter } from '../ota/writer';
import { DeltaUpdate } from '../delta/ota';
import type { ImageStore } from './store';
import type { StoredImage } from './types';

export interface InstallOptions {
  /** Select the slot for the next boot once the image is written and verified (default true). The caller reboots when it chooses. */
  setBoot?: boolean;
  /** Passed to engine.begin() (size is the image's); default erase 'sequential'. */
  write?: Omit<OtaWriteOptions, 'size'>;
  /** Bytes read from the store per writer.write() call (default 4096). */
  pieceBytes?: number;
  /**
   * Install an image already marked installed once more (the device fell back to the old app, for
   * example after the new one failed its self-test). Without it an installed image is left alone.
   */
  reinstall?: boolean;
}

export interface InstallResult {
  /** The slot written (null when the image was already installed). */
  readonly partition: Partition | null;
  /** The writer's verdict (null when nothing had to be written). */
  readonly verdict: ImageVerdict | null;
  /** How this call went: a fresh write, a resumed one, or only the final mark after a cut. */
  readonly how: 'written' | 'resumed' | 'already-selected' | 'already-installed';
}

/** Failures that are the image's fault: the store marks it failed so it is not installed again. */
function isImageRefusal(e: unknown): boolean {
  if (!(e instanceof OtaflashError)) return false;
  return e.code.indexOf('IMAGE_') === 0 || e.code === 'OTA_VALIDATE_FAILED' || e.code === 'OTA_SMALL_SEC_VER' || e.code === 'OTA_IMAGE_TOO_LARGE';
}

/**
 * Installs image `id`: app images only (a delta package needs a delta apply, which this build does
 * not wire in: STORE_KIND_UNSUPPORTED, as for scratchpads, file sets and opaque images). The image
 * must be verified (complete() it first). Power-cut safe: call it again after a reboot.
 */
export function installImage(store: ImageStore, id: number, engine: OtaEngine, opts: InstallOptions = {}): InstallResult {
  if (opts === null || typeof opts !== 'object') throw new OtaflashError('STORE_BAD_ARGUMENT', `install: options must be an object, got ${kindOf(opts)}`);
  if (engine === null || typeof engine !== 'object' || typeof (engine as OtaEngine).begin !== 'function') {
    throw new OtaflashError('STORE_BAD_ARGUMENT', `install: expected an OtaEngine, got ${kindOf(engine)}`);
  }
  const piece = opts.pieceBytes ?? 4096;
  if (!(typeof piece === 'number' && piece >= 1 && piece === Math.floor(piece))) throw new OtaflashError('STORE_BAD_ARGUMENT', `install: pieceBytes must be a positive whole number, got ${String(piece)}`);
  const img = store.get(id);
  if (!img) throw new OtaflashError('STORE_NOT_FOUND', `install: no image with id ${String(id)} in the store`, { id });
  if (img.kind !== 'app' && img.kind !== 'delta') {
    throw new OtaflashError('STORE_KIND_UNSUPPORTED', `install: image ${id} is of kind ${img.kind}; only app images and delta packages are installed through the OTA engine`, { id, kind: img.kind });
  }
  const again = img.state === 'installed' && opts.reinstall === true;
  if (img.state === 'installed' && !again) return { partition: null, verdict: null, how: 'already-installed' };
  if (img.state !== 'verified' && img.state !== 'installing' && !again) {
    throw new OtaflashError('STORE_BAD_STATE', `install: image ${id} is ${img.state}; only a verified image is installed (complete() it first)`, { id, state: img.state });
  }
  const setBoot = opts.setBoot !== false;
  if (img.kind === 'delta') return installDelta(store, img, engine, opts, setBoot, piece);
  let writer: OtaWriter | null = null;
  let how: InstallResult['how'] = 'written';
  if (img.state === 'installing' || again) {
    // A reinstall keeps the 'installed' mark throughout, so it recovers like an interrupted install.
    writer = resumeIfOurs(store, img, engine);
    if (writer) how = 'resumed';
    else if (setBoot && selectedSlotHolds(store, img, engine)) {
      store.mark(id, 'installed');
      return { partition: engine.bootPartition(), verdict: null, how: 'already-selected' };
    }
  } else {
    store.mark(id, 'installing');
  }
  if (!writer) {
    const w: OtaWriteOptions = { erase: 'sequential' };
    const extra = opts.write ?? {};
    for (const k in extra) (w as Record<string, unknown>)[k] = (extra as Record<string, unknown>)[k];
    w.size = img.size;
    writer = engine.begin(undefined, w);
  }
  const slot = writer.partition;
  let verdict: ImageVerdict;
  try {
    const buf = new Uint8Array(Math.min(piece, img.size));
    for (let at = writer.offset; at < img.size; ) {
      const n = Math.min(buf.length, img.size - at);
      const view = n === buf.length ? buf : buf.subarray(0, n);
      store.readImage(id, at, view);
      writer.write(view);
      at += n;
    }
    verdict = writer.end();
  } catch (e) {
    if (isImageRefusal(e)) {
      writer.abort();
      store.mark(id, 'failed');
    }
    throw e;
  }
  if (setBoot) engine.setBootPartition(slot);
  store.mark(id, 'installed');
  return { partition: slot, verdict, how };
}

/** The engine's interrupted update, resumed, when its slot holds a prefix of this image; else null (and nothing resumed). */
function resumeIfOurs(store: ImageStore, img: StoredImage, engine: OtaEngine): OtaWriter | null {
  const pending = engine.pendingUpdate();
  if (!pending || pending.size !== img.size) return null;
  // The engine re-hashes the written prefix into its verifier when it resumes; check first that the
  // prefix is ours, so a different download's leftovers are started over rather than continued.
  if (!slotPrefixEquals(store, img, engine, pending.partition, pending.written)) return null;
  return engine.resume();
}

function slotPrefixEquals(store: ImageStore, img: StoredImage, engine: OtaEngine, p: Partition, n: number): boolean {
  if (n > img.size || n > p.size) return false;
  const region = partitionRegion(engine.device, p);
  const a = new Uint8Array(Math.min(4096, Math.max(1, n)));
  const b = new Uint8Array(a.length);
  for (let at = 0; at < n; at += a.length) {
    const len = Math.min(a.length, n - at);
    const va = len === a.length ? a : a.subarray(0, len);
    const vb = len === b.length ? b : b.subarray(0, len);
    region.read(at, va);
    store.readImage(img.id, at, vb);
    for (let i = 0; i < len; i++) if (va[i] !== vb[i]) return false;
  }
  return true;
}

/** After a cut between set-boot and the 'installed' mark: otadata selects a slot whose first bytes are exactly this image. */
function selectedSlotHolds(store: ImageStore, img: StoredImage, engine: OtaEngine): boolean {
  const p = engine.bootPartition();
  if (!p || !isOtaAppPartition(p) || p.size < img.size) return false;
  const region = partitionRegion(engine.device, p);
  const h = store.hashes.sha256();
  const buf = new Uint8Array(Math.min(4096, img.size));
  for (let at = 0; at < img.size; at += buf.length) {
    const len = Math.min(buf.length, img.size - at);
    const v = len === buf.length ? buf : buf.subarray(0, len);
    region.read(at, v);
    h.update(v);
  }
  const d = h.digest();
  for (let i = 0; i < 32; i++) if (d[i] !== img.sha256[i]) return false;
  return true;
}

/**
 * A delta package (a detools sequential patch from the running app to the new one) applied through
 * the engine by DeltaUpdate: old bytes from the running slot, new ones through the OTA writer.
 * The store knows the patch's SHA-256, not the new image's, so after a cut it recovers by what the
 * engine shows: an interrupted write is resumed (the patch is decoded again from its start, bytes
 * on flash are checked, not rewritten); a selection of another slot than the running one is taken
 * as this install's (only the 'installed' mark was missing); otherwise the patch is applied again
 * from the running app. If the device has meanwhile booted the new app, that last case cannot
 * succeed (the running app is no longer the patch's source): the application, which knows its own
 * version, then marks the image installed itself (store.mark(id, 'installed')).
 */
function installDelta(store: ImageStore, img: StoredImage, engine: OtaEngine, opts: InstallOptions, setBoot: boolean, piece: number): InstallResult {
  const id = img.id;
  let how: InstallResult['how'] = 'written';
  let resume = false;
  const fresh = img.state === 'verified';
  if (fresh) store.mark(id, 'installing');
  else {
    const pending = engine.pendingUpdate();
    if (pending) resume = true;
    else {
      const selected = engine.bootPartition();
      if (setBoot && selected && engine.running && isOtaAppPartition(selected) && (selected.offset !== engine.running.offset || selected.size !== engine.running.size)) {
        store.mark(id, 'installed');
        return { partition: selected, verdict: null, how: 'already-selected' };
      }
      // Starting over after a cut: if the new app already runs, the patch no longer applies, which
      // says nothing against the package, so a failure here does not mark it failed.
    }
  }
  const write: Record<string, unknown> = { erase: 'sequential' };
  const extra = opts.write ?? {};
  for (const k in extra) write[k] = (extra as Record<string, unknown>)[k];
  let u = new DeltaUpdate(engine, { ...(write as Omit<OtaWriteOptions, 'size'>), resume });
  if (resume) how = 'resumed';
  const feed = (d: DeltaUpdate) => {
    const buf = new Uint8Array(Math.min(piece, img.size));
    for (let at = 0; at < img.size; at += buf.length) {
      const n = Math.min(buf.length, img.size - at);
      const view = n === buf.length ? buf : buf.subarray(0, n);
      store.readImage(id, at, view);
      d.push(view);
    }
    return d.finish();
  };
  let verdict: ImageVerdict;
  try {
    try {
      verdict = feed(u);
    } catch (e) {
      // The interrupted write was another patch's (or from another old image): start over.
      if (!(resume && e instanceof OtaflashError && e.code === 'DELTA_RESUME_MISMATCH')) throw e;
      u.abort();
      how = 'written';
      u = new DeltaUpdate(engine, write as Omit<OtaWriteOptions, 'size'>);
      verdict = feed(u);
    }
  } catch (e) {
    if (fresh && e instanceof OtaflashError && e.code !== 'POWER_LOSS' && (isImageRefusal(e) || e.code.indexOf('DELTA_') === 0)) store.mark(id, 'failed');
    throw e;
  }
  const slot = u.partition;
  if (setBoot) engine.setBootPartition(slot);
  store.mark(id, 'installed');
  return { partition: slot, verdict, how };
}

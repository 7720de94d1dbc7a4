/**
 * Delta updates under power loss: the update arrives as a detools sequential patch from the running
 * image (old) to the new one, made once per layout by the generator (lzma with its default 64 KiB
 * dictionary, or heatshrink), and is applied through DeltaUpdate: old bytes read from the running
 * slot, new ones written through the OTA writer. The harness cuts every flash operation in every
 * fault mode; the firmware's recovery resumes an interrupted delta (decoding the patch again from
 * its first byte; bytes already on flash are checked, not rewritten) or starts it over, and the
 * rolled-back delta never boots again.
 */
import { OTA_STATE } from '../formats/otadata';
import { createDeltaPatch } from '../delta/generate';
import { DeltaUpdate } from '../delta/ota';
import { DeltaPackageUpdate } from '../delta/package-update';
import { decodeDeltaPackageIndex, encodeDeltaPackage } from '../delta/package';
import { OtaflashError } from '../errors';
import { defaultHashes } from '../hash/portable';
import { MAX_ROUNDS, baseDevice, chunkOf, confirm, lastWriteStart, prepared, rollBack, rollBackUntilOld, scenario, slotsOf, writableOf, type ProveLayout } from './ota-flows';
import { ProveViolation, type ProveScenario, type ProveSetup, type ProveWorld } from './world';

type Compression = 'lzma' | 'heatshrink';

// One patch per (old, new, compression): scenarios are listed often (CLI, replays), patches are made
// only when a scenario runs, and only once.
const patches = new WeakMap<Uint8Array, WeakMap<Uint8Array, { [c: string]: Uint8Array }>>();

function patchFor(layout: ProveLayout, compression: Compression): Uint8Array {
  const { old, new: nu } = layout.images;
  let byNew = patches.get(old);
  if (!byNew) patches.set(old, (byNew = new WeakMap()));
  let byC = byNew.get(nu);
  if (!byC) byNew.set(nu, (byC = {}));
  return (byC[compression] ??= createDeltaPatch(old, nu, { compression, trials: 1 }));
}

/** Feeds `patch` to `u` in the layout's chunk size (as a download delivers it), from `from` up to `upTo`. */
function feed(u: DeltaUpdate, patch: Uint8Array, chunk: number, from = 0, upTo = patch.length): void {
  for (let at = from; at < upTo; at += chunk) u.push(patch.subarray(at, Math.min(at + chunk, upTo)));
}

/**
 * Applies the delta to the next slot and selects it. With `resume`, an interrupted delta of the
 * same image (the firmware knows what it was doing: the last write-start) continues from the
 * resume log; otherwise it starts over.
 */
function installDelta(w: ProveWorld, layout: ProveLayout, compression: Compression, resume: boolean): void {
  if (w.running !== 'old') throw new ProveViolation('delta-source', `the delta is made from old, but ${String(w.running)} runs`);
  const patch = patchFor(layout, compression);
  const size = layout.images.new.length;
  const e = w.engine();
  const pending = e.pendingUpdate();
  const last = lastWriteStart(w);
  let u: DeltaUpdate;
  if (resume && pending && last && last.image === 'new' && last.slot === pending.partition.label && pending.size === size) {
    u = new DeltaUpdate(e, { resume: true });
  } else {
    const target = e.nextUpdatePartition();
    w.mark('write-start', 'new', target.label);
    u = new DeltaUpdate(e, { slot: target });
  }
  feed(u, patch, chunkOf(layout));
  u.finish();
  w.mark('select-start', 'new');
  e.setBootPartition(u.partition);
  w.mark('select-done', 'new');
}

/** From whatever boots after a reset to `new`: confirm it once it runs, else (old runs) apply the delta again or resume it. */
function convergeDelta(w: ProveWorld, layout: ProveLayout, compression: Compression): void {
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const pending = w.rollback && w.runningState === OTA_STATE.PENDING_VERIFY;
    if (w.running === 'new') {
      if (pending) confirm(w);
      return;
    }
    if (pending) confirm(w);
    installDelta(w, layout, compression, true);
    if (!w.rollback) return;
    w.reboot();
  }
  throw new ProveViolation('no-progress', `recovery did not reach new in ${MAX_ROUNDS} rounds (running ${String(w.running)})`);
}

/**
 * The compression of the swept delta-update: lzma where the new image is small; heatshrink above
 * 128 KiB, where decoding a large lzma stream again in every one of the thousands of branches
 * would make this one scenario take longer than the rest of the proof together (the apply path
 * under test is the same; the decoders have their own tests).
 */
function sweptCompression(layout: ProveLayout): Compression {
  return layout.images.new.length <= 128 * 1024 ? 'lzma' : 'heatshrink';
}

/** The delta scenarios on one layout. */
export function deltaScenarios(layout: ProveLayout): ProveScenario[] {
  slotsOf(layout);
  chunkOf(layout);
  const main = sweptCompression(layout);
  const plain = (rollback: boolean, writable: readonly number[]): ProveSetup => {
    const b = baseDevice(layout, rollback, true);
    return { device: b.dev, table: layout.table, images: b.images, slots: b.slots, writable: writableOf(layout, writable) };
  };
  return [
    scenario(
      layout, 'delta-update', `old runs; ${main} delta old->new applied from the running slot into the next (rollback off), set boot; goal: new boots`,
      false, { image: 'new' }, () => plain(false, [1]),
      (w) => installDelta(w, layout, main, false),
      (w) => convergeDelta(w, layout, main),
    ),
    scenario(
      layout, 'delta-resume', 'heatshrink delta: half the patch, reset, resume (patch decoded again from its start), finish, confirm; goal: new VALID',
      true, { image: 'new', state: OTA_STATE.VALID }, () => plain(true, [1]),
      (w) => {
        const patch = patchFor(layout, 'heatshrink');
        const e = w.engine();
        const target = e.nextUpdatePartition();
        w.mark('write-start', 'new', target.label);
        const u = new DeltaUpdate(e, { slot: target });
        feed(u, patch, chunkOf(layout), 0, Math.floor(patch.length / 2));
        // A reset in the middle of the download; the firmware picks the delta up again.
        w.reboot();
        const e2 = w.engine();
        if (!e2.pendingUpdate()) throw new ProveViolation('resume', 'after a reset in the middle of a delta, the engine finds nothing to resume');
        const u2 = new DeltaUpdate(e2, { resume: true });
        feed(u2, patch, chunkOf(layout));
        if (u2.progress.resumedFrom === 0) throw new ProveViolation('resume', 'the resumed delta rewrote the new image from byte 0');
        u2.finish();
        w.mark('select-start', 'new');
        e2.setBootPartition(u2.partition);
        w.mark('select-done', 'new');
        w.reboot();
        confirm(w);
      },
      (w) => convergeDelta(w, layout, 'heatshrink'),
    ),
    scenario(
      layout, 'delta-rollback', 'new installed by an lzma delta and selected; reboot into it, its self-test fails: markInvalidAndRollback, reboot; goal: old VALID, new never again',
      true, { image: 'old', state: OTA_STATE.VALID },
      () =>
        prepared(layout, true, [], (_d, engine) => {
          const u = new DeltaUpdate(engine());
          feed(u, patchFor(layout, 'lzma'), chunkOf(layout));
          u.finish();
          engine().setBootPartition(u.partition);
        }),
      (w) => {
        w.reboot();
        rollBack(w);
        w.reboot();
      },
      rollBackUntilOld,
    ),
  ];
}

// --------------------------------------------------------------------------------------------
// Signed delta packages (layouts with Secure Boot trust and a package signer)

const packages = new WeakMap<Uint8Array, { signed: Uint8Array; tampered: Uint8Array }>();

/**
 * Two packages signed with the layout's trusted key: a heatshrink patch old->new, and a full image
 * of new with one byte changed after signing (the signature over the index still verifies; the
 * image it makes is not the signed target).
 */
function signedPackages(layout: ProveLayout): { signed: Uint8Array; tampered: Uint8Array } {
  const { old, new: nu } = layout.images;
  let p = packages.get(nu);
  if (!p) {
    const hashes = layout.hashes ?? defaultHashes();
    const sha = (b: Uint8Array) => hashes.sha256().update(b).digest();
    const sign = layout.signPackage!;
    const signed = encodeDeltaPackage({ targetVersion: 'new', targetSha256: sha(nu), targetSize: nu.length, patches: [{ sourceSha256: sha(old), sourceSize: old.length, sourceVersion: 'old', patch: patchFor(layout, 'heatshrink') }], sign });
    const tampered = encodeDeltaPackage({ targetVersion: 'new', targetSha256: sha(nu), targetSize: nu.length, patches: [], fullImage: nu, sign });
    const idx = decodeDeltaPackageIndex(tampered, tampered.length);
    tampered[idx.fullImageOffset! + (nu.length >> 1)] ^= 0x01;
    packages.set(nu, (p = { signed, tampered }));
  }
  return p;
}

/** Streams `pkg` through a DeltaPackageUpdate with the layout's trust; resumes a recorded interrupted install. */
function installPackage(w: ProveWorld, layout: ProveLayout, pkg: Uint8Array, resume: boolean): DeltaPackageUpdate {
  const e = w.engine();
  const pending = e.pendingUpdate();
  const last = lastWriteStart(w);
  const trust = { trust: layout.trust!.trust, verifier: layout.trust!.verifier, hashes: layout.hashes };
  let u: DeltaPackageUpdate;
  if (resume && pending && last && last.image === 'new' && last.slot === pending.partition.label && pending.size === layout.images.new.length) {
    u = new DeltaPackageUpdate(e, Object.assign({ resume: true }, trust));
  } else {
    const target = e.nextUpdatePartition();
    w.mark('write-start', 'new', target.label);
    u = new DeltaPackageUpdate(e, Object.assign({ slot: target }, trust));
  }
  const chunk = chunkOf(layout);
  for (let at = 0; at < pkg.length; at += chunk) u.push(pkg.subarray(at, Math.min(at + chunk, pkg.length)));
  u.finish();
  return u;
}

/** The tampered package must be refused at its end (the image is not the signed one); anything else is a failure. */
function installTamperedRefused(w: ProveWorld, layout: ProveLayout, resume: boolean): void {
  try {
    installPackage(w, layout, signedPackages(layout).tampered, resume);
  } catch (e) {
    if (e instanceof OtaflashError && e.code === 'DELTA_TARGET_MISMATCH') return;
    throw e;
  }
  throw new ProveViolation('tampered-accepted', 'a package whose image is not the signed target was installed');
}

/** Signed delta package scenarios; none unless the layout has Secure Boot trust and a package signer. */
export function signedDeltaScenarios(layout: ProveLayout): ProveScenario[] {
  if (!layout.trust || !layout.signPackage) return [];
  const plain = (rollback: boolean): ProveSetup => {
    const b = baseDevice(layout, rollback, true);
    return { device: b.dev, table: layout.table, images: b.images, slots: b.slots, writable: writableOf(layout, [1]) };
  };
  const selectInstalled = (w: ProveWorld, resume: boolean) => {
    const u = installPackage(w, layout, signedPackages(layout).signed, resume);
    w.mark('select-start', 'new');
    w.engine().setBootPartition(u.partition!);
    w.mark('select-done', 'new');
  };
  return [
    scenario(
      layout, 'signed-delta-package', 'trust on: a signed delta package (heatshrink patch old->new; signature over its index checked before anything is erased), set boot; goal: new boots',
      false, { image: 'new' }, () => plain(false),
      (w) => selectInstalled(w, false),
      // After a cut: install again (resuming a recorded interrupted one) unless new already runs.
      (w) => {
        if (w.running !== 'new') selectInstalled(w, true);
      },
    ),
    scenario(
      layout, 'tampered-delta-package', 'trust on: a signed package whose full image was changed after signing streams into the next slot, is refused at its end (slot header erased) and never selected; goal: old VALID',
      true, { image: 'old', state: OTA_STATE.VALID }, () => plain(true),
      (w) => installTamperedRefused(w, layout, false),
      // After a cut the firmware fetches the package again; it is refused again.
      (w) => installTamperedRefused(w, layout, true),
    ),
  ];
}

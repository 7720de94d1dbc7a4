// The delta package: encode/decode, damage detection, and installing one through the engine:
// the patch for the running image is chosen, a package for other images is refused before anything
// is erased (DELTA_SOURCE_MISMATCH naming what it expected), the full image is the fallback.
import { createHash } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DeltaPackageUpdate } from '../../src/delta/package-update';
import { decodeDeltaPackageIndex, encodeDeltaPackage, isDeltaPackage } from '../../src/delta/package';
import { OtaflashError } from '../../src/errors';
import { FaultyFlash } from '../../src/flash/faults';
import { resetFlashStats } from '../../src/flash/stats';
import type { BlockDevice } from '../../src/flash/types';
import { nodeHashes } from '../../src/node/hash';
import { simulateReboot } from '../../src/ota/bootloader';
import { OtaEngine } from '../../src/ota/engine';
import { equalBytes, flashImage, rig, type Rig } from '../ota/engine-fixtures';
import { errorCode } from '../helpers';
import { pairFile, patchFile } from './fixtures';

const sha = (b: Uint8Array) => new Uint8Array(createHash('sha256').update(b).digest());
const PAIR = 'esp32s3-hello-world-app';
const OLD = pairFile(PAIR, 'old.bin');
const NEW = pairFile(PAIR, 'new.bin');
const BOOT = { rollback: true, hashes: nodeHashes };

function pkg(opts: { full?: boolean; sources?: 'right' | 'wrong' | 'both' } = {}): Uint8Array {
  const sources = opts.sources ?? 'both';
  const other = pairFile('esp32-bootloader', 'old.bin');
  const patches = [];
  if (sources !== 'right') patches.push({ sourceSha256: sha(other), sourceSize: other.length, sourceVersion: 'bootloader 2023-07', patch: patchFile('esp32-bootloader', 'sequential-lzma.patch') });
  if (sources !== 'wrong') patches.push({ sourceSha256: sha(OLD), sourceSize: OLD.length, sourceVersion: '1', patch: patchFile(PAIR, 'sequential-heatshrink.patch') });
  return encodeDeltaPackage({ targetVersion: 'v1.4.1-2-g0296947-dirty', targetSha256: sha(NEW), targetSize: NEW.length, patches, fullImage: opts.full ? NEW : undefined });
}

function setUp(): Rig {
  const r = rig({ slotSize: 0x40000, size: 0x90000 });
  flashImage(r.flash, r.p.ota_0, OLD);
  simulateReboot(r.flash, r.table, BOOT);
  return r;
}

const engineOn = (dev: BlockDevice, r: Rig) => OtaEngine.open(dev, { table: r.table, running: r.p.ota_0, hashes: nodeHashes });

function install(dev: BlockDevice, r: Rig, p: Uint8Array, chunk = 999, opts = {}) {
  const u = new DeltaPackageUpdate(engineOn(dev, r), { hashes: nodeHashes, ...opts });
  for (let i = 0; i < p.length; i += chunk) u.push(p.subarray(i, i + chunk));
  const verdict = u.finish();
  return { u, verdict };
}

test('encode/decode round trip: index fields, blob offsets, total length', () => {
  const p = pkg({ full: true });
  assert.ok(isDeltaPackage(p));
  const idx = decodeDeltaPackageIndex(p, p.length);
  assert.is(idx.targetVersion, 'v1.4.1-2-g0296947-dirty');
  assert.equal(Array.from(idx.targetSha256), Array.from(sha(NEW)));
  assert.is(idx.targetSize, NEW.length);
  assert.is(idx.patches.length, 2);
  assert.is(idx.patches[1].sourceVersion, '1');
  assert.is(idx.patches[1].sourceSize, OLD.length);
  const hs = patchFile(PAIR, 'sequential-heatshrink.patch');
  assert.ok(equalBytes(p.subarray(idx.patches[1].offset, idx.patches[1].offset + idx.patches[1].patchSize), hs));
  assert.ok(equalBytes(p.subarray(idx.fullImageOffset!, idx.fullImageOffset! + NEW.length), NEW));
  assert.is(idx.totalLength, p.length);
});

test('damage is refused: index CRC, version, truncation, trailing bytes', () => {
  const p = pkg();
  const bad = p.slice();
  bad[20] ^= 1;
  assert.is(errorCode(() => decodeDeltaPackageIndex(bad)), 'DELTA_PACKAGE_CORRUPT');
  const v2 = p.slice();
  v2[4] = 2;
  assert.is(errorCode(() => decodeDeltaPackageIndex(v2)), 'DELTA_PACKAGE_VERSION');
  assert.is(errorCode(() => decodeDeltaPackageIndex(p.subarray(0, 40))), 'DELTA_TRUNCATED');
  assert.is(errorCode(() => decodeDeltaPackageIndex(p, p.length - 1)), 'DELTA_TRUNCATED');
  assert.is(errorCode(() => decodeDeltaPackageIndex(p, p.length + 1)), 'DELTA_PATCH_TOO_LONG');
  const r = setUp();
  const u = new DeltaPackageUpdate(engineOn(r.flash, r), { hashes: nodeHashes });
  u.push(p.subarray(0, p.length - 10));
  assert.is(errorCode(() => u.finish()), 'DELTA_TRUNCATED');
});

test('the patch for the running image is chosen (whatever order), the image installed byte for byte and booted', () => {
  for (const chunk of [1, 7, 4096, 1 << 20]) {
    const r = setUp();
    const { u, verdict } = install(r.flash, r, pkg(), chunk);
    assert.is(u.choice!.kind, 'patch');
    assert.is(u.choice!.kind === 'patch' && u.choice!.entry.sourceVersion, '1');
    assert.is(verdict.size, NEW.length);
    assert.ok(equalBytes(r.flash.bytes.subarray(r.p.ota_1.offset, r.p.ota_1.offset + NEW.length), NEW), `chunk ${chunk}`);
    engineOn(r.flash, r).setBootPartition(r.p.ota_1);
    assert.is(simulateReboot(r.flash, r.table, BOOT).boot!.label, 'ota_1');
  }
});

test('no matching source: DELTA_SOURCE_MISMATCH saying what it expected, before anything is erased or written', () => {
  const r = setUp();
  const before = r.flash.clone();
  resetFlashStats(r.flash.stats);
  let err: unknown = null;
  try {
    install(r.flash, r, pkg({ sources: 'wrong' }));
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof OtaflashError && err.code === 'DELTA_SOURCE_MISMATCH', String(err));
  const msg = (err as OtaflashError).message;
  assert.ok(msg.indexOf('bootloader 2023-07') >= 0, msg);
  assert.ok(msg.indexOf(Buffer.from(sha(pairFile('esp32-bootloader', 'old.bin'))).toString('hex').slice(0, 16)) >= 0, msg);
  assert.is(r.flash.stats.erases + r.flash.stats.writes, 0);
  assert.ok(equalBytes(r.flash.bytes, before.bytes));
});

test('no matching source but the full image included: the full image is installed (unless allowFullImage: false)', () => {
  const r = setUp();
  const { u } = install(r.flash, r, pkg({ sources: 'wrong', full: true }), 5000);
  assert.is(u.choice!.kind, 'full');
  assert.ok(equalBytes(r.flash.bytes.subarray(r.p.ota_1.offset, r.p.ota_1.offset + NEW.length), NEW));
  const r2 = setUp();
  assert.is(errorCode(() => install(r2.flash, r2, pkg({ sources: 'wrong', full: true }), 5000, { allowFullImage: false })), 'DELTA_SOURCE_MISMATCH');
});

test('a package whose patch makes another image than its index promises: DELTA_TARGET_MISMATCH, nothing selected', () => {
  const r = setUp();
  const p = encodeDeltaPackage({ targetVersion: 'x', targetSha256: sha(OLD), targetSize: NEW.length, patches: [{ sourceSha256: sha(OLD), sourceSize: OLD.length, sourceVersion: '1', patch: patchFile(PAIR, 'sequential-lzma.patch') }] });
  assert.is(errorCode(() => install(r.flash, r, p)), 'DELTA_TARGET_MISMATCH');
  assert.is(simulateReboot(r.flash, r.table, BOOT).boot!.label, 'ota_0');
});

test('resume of a package install after a power cut: same choice, finishes byte for byte', () => {
  const r = setUp();
  const p = pkg({ full: true });
  for (const cut of [3, 20, 41]) {
    const dev = new FaultyFlash(r.flash.clone(), { cutAt: cut, mode: 'torn-bits', seed: cut });
    try {
      install(dev, r, p, 3000);
    } catch (e) {
      if (!(e instanceof OtaflashError && e.code === 'POWER_LOSS')) throw e;
    }
    const after = dev.reboot();
    const pending = engineOn(after, r).pendingUpdate();
    install(after, r, p, 3000, pending ? { resume: true } : {});
    assert.ok(equalBytes(after.bytes.subarray(r.p.ota_1.offset, r.p.ota_1.offset + NEW.length), NEW), `cut ${cut}`);
  }
});

test.run();

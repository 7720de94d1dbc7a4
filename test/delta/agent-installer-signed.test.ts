// The agent's module installer with trusted keys: a 'delta' component must be a signed delta
// package; an unsigned one, a bare detools patch or a bad signature is refused before anything is
// erased, and nothing is selected.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { otaModuleInstaller } from '../../src/agent/ota-installer';
import type { PlanComponent } from '../../src/agent/types';
import { encodeDeltaPackage, signDeltaPackage } from '../../src/delta/package';
import { OtaflashError } from '../../src/errors';
import { resetFlashStats } from '../../src/flash/stats';
import { nodeHashes } from '../../src/node/hash';
import { signDetached, trustFromKeys } from '../../src/node/detached-sign';
import { createNodeSignatureVerifier } from '../../src/node/signature-verifier';
import { simulateReboot } from '../../src/ota/bootloader';
import { OtaEngine } from '../../src/ota/engine';
import { equalBytes, flashImage, rig, type Rig } from '../ota/engine-fixtures';
import { pairFile, patchFile } from './fixtures';

const KEYS = path.resolve(new URL('../fixtures/signed-images/keys/', import.meta.url).pathname);
const key = (name: string) => fs.readFileSync(path.join(KEYS, name), 'utf8');
const sha = (b: Uint8Array) => new Uint8Array(createHash('sha256').update(b).digest());
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const PAIR = 'esp32s3-hello-world-app';
const OLD = pairFile(PAIR, 'old.bin');
const NEW = pairFile(PAIR, 'new.bin');
const BOOT = { rollback: true, hashes: nodeHashes };
const TRUST = trustFromKeys({ pubkeys: [key('rsa3072-a.pub.pem')] });
const PATCH = patchFile(PAIR, 'sequential-heatshrink.patch');
const UNSIGNED = encodeDeltaPackage({ targetVersion: '2', targetSha256: sha(NEW), targetSize: NEW.length, patches: [{ sourceSha256: sha(OLD), sourceSize: OLD.length, sourceVersion: '1', patch: PATCH }] });
const sign = (p: Uint8Array, k: string) => signDeltaPackage(p, (index) => signDetached(index, [key(k)]));

function setUp(): Rig {
  const r = rig({ slotSize: 0x40000, size: 0x90000 });
  flashImage(r.flash, r.p.ota_0, OLD);
  simulateReboot(r.flash, r.table, BOOT);
  return r;
}

function component(pkg: Uint8Array): PlanComponent {
  return { id: 'app', kind: 'module', source: '1', target: '2', package: { kind: 'delta', size: pkg.length, sha256: hex(sha(pkg)) } } as PlanComponent;
}

function installer(r: Rig) {
  return otaModuleInstaller({ engine: () => OtaEngine.open(r.flash, { table: r.table, rollback: true, running: r.p.ota_0, hashes: nodeHashes }), hashes: nodeHashes, trust: TRUST, verifier: createNodeSignatureVerifier(nodeHashes) });
}

function feed(r: Rig, pkg: Uint8Array): void {
  const inst = installer(r);
  const c = component(pkg);
  inst.begin(c, inst.resumeOffset(c));
  for (let i = 0; i < pkg.length; i += 1500) inst.write(c, pkg.subarray(i, i + 1500));
  inst.finish(c);
  inst.activate(c);
}

test('a signed delta package: installed, selected, boots', () => {
  const r = setUp();
  feed(r, sign(UNSIGNED, 'rsa3072-a.pem'));
  assert.ok(equalBytes(r.flash.bytes.subarray(r.p.ota_1.offset, r.p.ota_1.offset + NEW.length), NEW));
  assert.is(simulateReboot(r.flash, r.table, BOOT).boot!.label, 'ota_1');
});

test('refused before anything is erased or written: unsigned package, bare patch, untrusted key', () => {
  for (const [what, pkg, code] of [
    ['unsigned', UNSIGNED, 'SIGNATURE_REQUIRED'],
    ['bare patch', PATCH, 'SIGNATURE_REQUIRED'],
    ['untrusted key', sign(UNSIGNED, 'rsa3072-b.pem'), 'DELTA_SIGNATURE_INVALID'],
  ] as const) {
    const r = setUp();
    const before = r.flash.clone();
    resetFlashStats(r.flash.stats);
    let err: unknown = null;
    try {
      feed(r, pkg);
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof OtaflashError && err.code === code, `${what}: ${String(err)}`);
    assert.is(r.flash.stats.erases + r.flash.stats.writes, 0, what);
    assert.ok(equalBytes(r.flash.bytes, before.bytes), what);
    assert.is(simulateReboot(r.flash, r.table, BOOT).boot!.label, 'ota_0', what);
  }
});

test.run();

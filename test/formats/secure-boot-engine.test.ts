// The engine's `trust` option: setBootPartition refuses an image whose signature does not verify,
// before otadata is touched (espsecure-signed ESP32-C3 images from the vectors).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { OtaEngine } from '../../src/ota/engine';
import { isOtaflashError } from '../../src/errors';
import { createPortableSignatureVerifier } from '../../src/crypto/rsa-verifier';
import { createNodeSignatureVerifier } from '../../src/node/signature-verifier';
import { nodeHashes } from '../../src/node/hash';
import { rig, flashImage, feed, OTADATA_AT } from '../ota/engine-fixtures';
import { decideBoot } from '../../src/ota/bootloader';

const dir = path.resolve(new URL('../fixtures/signed-images/', import.meta.url).pathname);
const read = (p: string) => new Uint8Array(fs.readFileSync(path.join(dir, p)));
const digest = (k: string) => new Uint8Array(fs.readFileSync(path.join(dir, `keys/${k}.digest.bin`)));
const C3 = 5;
const SIGNED = 'v2/esp32c3-ram.rsa3072-a.bin';

function otadataBytes(flash: { read(o: number, b: Uint8Array): void }): Uint8Array {
  const b = new Uint8Array(0x2000);
  flash.read(OTADATA_AT, b);
  return b;
}

function setup(file: string) {
  const r = rig({ n: 2 });
  flashImage(r.flash, r.p.ota_0, read(SIGNED));
  // Make ota_0 the running app first (no trust needed for that).
  OtaEngine.open(r.flash, { chip: C3 }).setBootPartition(r.p.ota_0);
  const img = read(file);
  return { r, img };
}

const verifiers = { portable: createPortableSignatureVerifier(nodeHashes), node: createNodeSignatureVerifier(nodeHashes) };

for (const [name, verifier] of Object.entries(verifiers)) {
  test(`trust (${name} verifier): a correctly signed update written through the engine is selected`, () => {
    const { r, img } = setup(SIGNED);
    const e = OtaEngine.open(r.flash, { chip: C3, trust: { trust: { keyDigests: [digest('rsa3072-a')] }, verifier } });
    const w = e.begin(r.p.ota_1, { size: img.length });
    feed(w, img);
    w.end();
    e.setBootPartition(r.p.ota_1);
    assert.is(OtaEngine.open(r.flash).bootPartition()!.label, 'ota_1');
  });

  test(`trust (${name} verifier): wrong key, tampered key field, flipped image byte, unsigned: refused, otadata untouched`, () => {
    const cases: [string, string][] = [
      [SIGNED, 'rsa3072-b'],
      ['tampered/esp32c3-ram.rsa3072-a.key-field-flip-crc-fixed.bin', 'rsa3072-a'],
      ['tampered/esp32c3-ram.rsa3072-a.sig-byte-flip-crc-fixed.bin', 'rsa3072-a'],
      ['tampered/esp32c3-ram.rsa3072-a.truncated-no-sector.bin', 'rsa3072-a'],
    ];
    for (const [file, key] of cases) {
      const { r, img } = setup(file);
      const before = otadataBytes(r.flash);
      const e = OtaEngine.open(r.flash, { chip: C3, trust: { trust: { keyDigests: [digest(key)] }, verifier } });
      flashImage(r.flash, r.p.ota_1, img);
      assert.throws(() => e.setBootPartition(r.p.ota_1), (err: unknown) => isOtaflashError(err, 'OTA_SIGNATURE_INVALID'), `${file} with ${key}`);
      assert.equal(otadataBytes(r.flash), before, `${file}: otadata changed`);
      assert.is(OtaEngine.open(r.flash).bootPartition()!.label, 'ota_0');
    }
  });
}

test('trust: an image whose app bytes were changed after signing is refused; without trust the same image is selected', () => {
  const { r } = setup(SIGNED);
  const img = read('tampered/esp32c3-ram.rsa3072-a.image-byte-flip.bin');
  flashImage(r.flash, r.p.ota_1, img);
  const e = OtaEngine.open(r.flash, { chip: C3, requireHash: false, trust: { trust: { keyDigests: [digest('rsa3072-a')] }, verifier: verifiers.node } });
  let refused = false;
  try {
    e.setBootPartition(r.p.ota_1);
  } catch (err) {
    // The flipped byte may already break the image checksum: either refusal keeps ota_0.
    refused = isOtaflashError(err);
  }
  assert.ok(refused);
  assert.is(OtaEngine.open(r.flash).bootPartition()!.label, 'ota_0');
  // The padding flip keeps the image valid as an image: only the signature catches it.
  const { r: r2 } = setup(SIGNED);
  flashImage(r2.flash, r2.p.ota_1, read('tampered/esp32c3-ram.rsa3072-a.padding-byte-flip.bin'));
  assert.throws(() => OtaEngine.open(r2.flash, { chip: C3, trust: { trust: { keyDigests: [digest('rsa3072-a')] }, verifier: verifiers.node } }).setBootPartition(r2.p.ota_1), (err: unknown) => isOtaflashError(err, 'OTA_SIGNATURE_INVALID'));
  OtaEngine.open(r2.flash, { chip: C3 }).setBootPartition(r2.p.ota_1);
  assert.is(OtaEngine.open(r2.flash).bootPartition()!.label, 'ota_1');
});

test('bootloader model with trust: an app selected without a valid signature is skipped and the next one boots', () => {
  const { r } = setup(SIGNED);
  flashImage(r.flash, r.p.ota_1, read('tampered/esp32c3-ram.rsa3072-a.key-field-flip-crc-fixed.bin'));
  // Selected by an engine that does not check signatures (or written by someone else).
  OtaEngine.open(r.flash, { chip: C3 }).setBootPartition(r.p.ota_1);
  const trust = { trust: { keyDigests: [digest('rsa3072-a')] }, verifier: verifiers.portable };
  const plain = decideBoot(r.flash, r.table, { chip: C3 });
  assert.is(plain.label, 'ota_1');
  const signed = decideBoot(r.flash, r.table, { chip: C3, trust });
  assert.is(signed.label, 'ota_0');
  assert.is(signed.tried[0].label, 'ota_1');
  assert.not.ok(signed.tried[0].ok);
  assert.match(signed.tried[0].error!, /Secure Boot signature does not verify: block 0: key digest not trusted/);
  // No app with a trusted signature: nothing boots.
  const none = decideBoot(r.flash, r.table, { chip: C3, trust: { trust: { keyDigests: [digest('rsa3072-c')] }, verifier: verifiers.portable } });
  assert.is(none.boot, null);
});

test.run();

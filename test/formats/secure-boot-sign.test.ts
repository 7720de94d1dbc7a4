// Signing as `espsecure sign-data`: for the same source and key, every byte except the randomized
// signature (and the CRC that covers it) equals espsecure's file; our blocks verify.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { chipIdFromName } from '../../src/formats/chips';
import { decodeSignatureSector, encodeSignatureBlock, SB2_BLOCK_SIZE } from '../../src/formats/secure-boot-signature';
import { verifyImageSignature } from '../../src/formats/secure-boot-verify';
import { createNodeSignatureVerifier } from '../../src/node/signature-verifier';
import { createPortableSignatureVerifier } from '../../src/crypto/rsa-verifier';
import { generateSecureBootKey, secureBootKeyDigest, secureBootPublicKey, signImageV1, signImageV2 } from '../../src/node/secure-boot-keys';
import { nodeHashes } from '../../src/node/hash';
import { isOtaflashError } from '../../src/errors';

const dir = path.resolve(new URL('../fixtures/signed-images/', import.meta.url).pathname);
const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
const read = (p: string) => new Uint8Array(fs.readFileSync(path.join(dir, p)));
const pem = (name: string) => fs.readFileSync(path.join(dir, 'keys', name + '.pem'), 'utf8');
const node = createNodeSignatureVerifier(nodeHashes);

/** Byte ranges of a block that depend on the random signature: the signature field and the CRC. */
function randomRanges(block: Uint8Array): [number, number][] {
  if (block[1] === 2) return [[812, 1200]];
  const p384 = block[2] === 1;
  const at = p384 ? 52 : 36;
  const width = p384 ? 48 : 32;
  return [[at + 1 + 2 * width, at + 1 + 4 * width], [1196, 1200]];
}

function assertSameExceptSignature(ours: Uint8Array, theirs: Uint8Array, sectorAt: number, label: string): void {
  assert.is(ours.length, theirs.length, `${label}: length`);
  const masked = (b: Uint8Array) => {
    const c = b.slice();
    for (let i = 0; i < 3; i++) {
      const at = sectorAt + i * SB2_BLOCK_SIZE;
      if (c[at] !== 0xe7) continue;
      for (const [s, e] of randomRanges(c.subarray(at, at + SB2_BLOCK_SIZE))) c.fill(0, at + s, at + e);
    }
    return c;
  };
  const a = masked(ours);
  const b = masked(theirs);
  let first = -1;
  for (let i = 0; i < a.length && first < 0; i++) if (a[i] !== b[i]) first = i;
  assert.is(first, -1, `${label}: first difference at ${first}`);
}

const signedV2 = manifest.files.filter((f: { kind: string; scheme: string; appended_to?: string }) => f.kind === 'signed' && f.scheme === 'secure-boot-v2' && !f.appended_to);

test('sign-data --version 2: every field but the signature equals espsecure, and the result verifies (node and portable RSA)', () => {
  assert.ok(signedV2.length >= 10);
  const portable = createPortableSignatureVerifier(nodeHashes);
  for (const f of signedV2) {
    const theirs = read(f.file);
    const source = theirs.subarray(0, f.image_len);
    const ours = signImageV2(source, { keys: f.signing_keys.map(pem) });
    assertSameExceptSignature(ours, theirs, f.sig_sector_offset, f.file);
    for (const k of f.signing_keys) {
      const digest = new Uint8Array(Buffer.from(manifest.keys[k].digest, 'hex'));
      const v = verifyImageSignature(ours, { trust: { keyDigests: [digest] }, verifier: node, hashes: nodeHashes, chip: chipIdFromName(f.chip) });
      assert.ok(v.valid, `${f.file} ${k}: ${v.reason}`);
      if (manifest.keys[k].type === 'RSA-3072') assert.ok(verifyImageSignature(ours, { trust: { keyDigests: [digest] }, verifier: portable, hashes: nodeHashes }).valid);
    }
  }
});

test('--append keeps the existing blocks byte for byte, adds after them, and matches espsecure --append-signatures', () => {
  for (const f of manifest.files.filter((x: { appended_to?: string }) => x.appended_to)) {
    const base = read(f.appended_to);
    const theirs = read(f.file);
    const before = manifest.files.find((x: { file: string }) => x.file === f.appended_to).signing_keys.length;
    const added = f.signing_keys.slice(before);
    const ours = signImageV2(base, { keys: added.map(pem), append: true });
    assertSameExceptSignature(ours, theirs, f.sig_sector_offset, f.file);
    const at = f.sig_sector_offset;
    assert.equal(ours.subarray(at, at + before * SB2_BLOCK_SIZE), base.subarray(at, at + before * SB2_BLOCK_SIZE));
    for (const k of f.signing_keys) {
      const digest = new Uint8Array(Buffer.from(manifest.keys[k].digest, 'hex'));
      assert.ok(verifyImageSignature(ours, { trust: { keyDigests: [digest] }, verifier: node, hashes: nodeHashes }).valid, `${f.file} ${k}`);
    }
  }
});

test('refused like espsecure: a fourth block, an RSA-2048 key', () => {
  const full = read('v2/esp32s3-hello_world.rsa3072-abc.bin');
  assert.throws(() => signImageV2(full, { keys: [pem('rsa3072-a')], append: true }), (e: unknown) => isOtaflashError(e, 'SIGN_TOO_MANY_BLOCKS'));
  const src = full.subarray(0, 4096);
  assert.throws(() => signImageV2(src, { keys: [pem('rsa3072-a'), pem('rsa3072-b'), pem('rsa3072-c'), pem('ecdsa256-a')] }), (e: unknown) => isOtaflashError(e, 'SIGN_TOO_MANY_BLOCKS'));
  assert.throws(() => signImageV2(src, { keys: [pem('extra-rsa2048')] }), (e: unknown) => isOtaflashError(e, 'KEY_UNSUPPORTED'));
});

test('V1: our signature is laid out as espsecure V1 and verifies with the V1 key', () => {
  const f = manifest.files.find((x: { file: string }) => x.file === 'v1/esp32-zephyr.sbv1-ecdsa256-a.bin');
  const theirs = read(f.file);
  const ours = signImageV1(theirs.subarray(0, f.image_len), pem('sbv1-ecdsa256-a'));
  assert.is(ours.length, theirs.length);
  assert.equal(ours.subarray(0, f.image_len + 4), theirs.subarray(0, f.image_len + 4));
  const raw = read('keys/sbv1-ecdsa256-a.pub.raw');
  const v = verifyImageSignature(ours, { trust: { v1Keys: [{ x: raw.subarray(0, 32), y: raw.subarray(32) }] }, verifier: node, hashes: nodeHashes });
  assert.ok(v.valid, v.reason);
});

test('generated keys of every type sign and verify; a block re-encoded from its decoded fields is byte-identical', () => {
  const img = read('v2/esp32c6-ram.ecdsa256-ab.bin').subarray(0, 128);
  for (const type of ['rsa3072', 'ecdsa192', 'ecdsa256', 'ecdsa384'] as const) {
    const key = generateSecureBootKey(type);
    const signed = signImageV2(img, { keys: [key] });
    const digest = secureBootKeyDigest(secureBootPublicKey(key));
    assert.ok(verifyImageSignature(signed, { trust: { keyDigests: [digest] }, verifier: node, hashes: nodeHashes }).valid, type);
    const slot = decodeSignatureSector(signed.subarray(4096), nodeHashes)[0].block!;
    const k = slot.key!;
    const content = k.kind === 'rsa' ? { kind: 'rsa' as const, key: k, signature: slot.signature! } : { kind: 'ecdsa' as const, curve: k.curve!, x: k.x, y: k.y, r: slot.r!, s: slot.s! };
    assert.equal(encodeSignatureBlock(content, slot.imageDigest, nodeHashes), slot.raw, type);
  }
});

test.run();

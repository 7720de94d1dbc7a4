// Conformance with the espsecure 5.3.1 vectors (test/fixtures/signed-images): every file, every key,
// ESP-IDF's app-side verdict and reason (manifest `idf_app_model`); V1 files against espsecure's verdict.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { chipIdFromName } from '../../src/formats/chips';
import { decodeSignatureSector, signatureSectorOffset } from '../../src/formats/secure-boot-signature';
import { verifyImageSignature, type SignatureScheme } from '../../src/formats/secure-boot-verify';
import type { EcdsaCurve } from '../../src/formats/secure-boot-signature';
import { createNodeSignatureVerifier } from '../../src/node/signature-verifier';
import { createPortableSignatureVerifier } from '../../src/crypto/rsa-verifier';
import { secureBootKeyDigest, secureBootPublicKey } from '../../src/node/secure-boot-keys';
import { nodeHashes } from '../../src/node/hash';
import { portableHashes } from '../../src/hash/portable';
import { createHash } from 'node:crypto';

const dir = path.resolve(new URL('../fixtures/signed-images/', import.meta.url).pathname);
const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
const read = (p: string) => new Uint8Array(fs.readFileSync(path.join(dir, p)));
const fromHex = (h: string) => new Uint8Array(Buffer.from(h, 'hex'));
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');

interface KeyInfo { digest?: string; type: string; curve?: string; public: string; scheme: string; v1_raw_public_key?: string }
const keys: Record<string, KeyInfo> = manifest.keys;
const v2Keys = Object.keys(keys).filter((k) => keys[k].digest);

function schemeOf(k: KeyInfo): { scheme: SignatureScheme; curve?: EcdsaCurve } {
  return k.type === 'RSA-3072' ? { scheme: 'rsa' } : { scheme: 'ecdsa', curve: k.curve as EcdsaCurve };
}

const node = createNodeSignatureVerifier(nodeHashes);
const portable = createPortableSignatureVerifier(portableHashes);

test('key digests: SHA-256 of the key fields equals espsecure digest-sbv2-public-key', () => {
  for (const name of v2Keys) {
    const pub = secureBootPublicKey(fs.readFileSync(path.join(dir, keys[name].public), 'utf8'));
    assert.is(toHex(secureBootKeyDigest(pub)), keys[name].digest, name);
    assert.is(toHex(secureBootKeyDigest(pub)), toHex(read(`keys/${name}.digest.bin`)), name);
  }
});

test('sector decode: magic, version, CRC, stored digest and key digest of every block as the manifest lists', () => {
  let n = 0;
  for (const f of manifest.files) {
    if (f.scheme !== 'secure-boot-v2') continue;
    const bytes = read(f.file);
    const at = signatureSectorOffset(f.image_len);
    assert.is(at, f.sig_sector_offset, f.file);
    const slots = decodeSignatureSector(bytes.subarray(at, at + 4096), portableHashes);
    for (const b of f.blocks) {
      const slot = slots[b.index];
      assert.ok(slot.block, `${f.file} block ${b.index}`);
      const blk = slot.block!;
      assert.is(blk.magic, parseInt(b.magic, 16));
      assert.is(blk.version, b.version);
      assert.is(blk.crcStored, parseInt(b.crc_stored, 16));
      assert.is(blk.crcValid, b.crc_ok, `${f.file} block ${b.index} crc`);
      if (b.image_digest) assert.is(toHex(blk.imageDigest), b.image_digest, `${f.file} block ${b.index} digest`);
      if (b.key_digest && blk.keyFields) assert.is(toHex(nodeHashes.sha256().update(blk.keyFields).digest()), b.key_digest, `${f.file} block ${b.index} key digest`);
      if (b.rsa_e !== undefined && blk.key && blk.key.kind === 'rsa') {
        assert.is(blk.key.e, b.rsa_e);
        assert.is(blk.key.mdash, parseInt(b.rsa_mdash, 16));
      }
      if (b.curve_id !== undefined && blk.key && blk.key.kind === 'ecdsa') assert.is(blk.key.curveId, b.curve_id);
      n++;
    }
  }
  assert.ok(n > 30, `${n} blocks compared`);
});

test('every V2 file with every key: the ESP-IDF app-side verdict and reason (node:crypto verifier, chip limits from the manifest)', () => {
  let checked = 0;
  const differ: string[] = [];
  for (const f of manifest.files) {
    if (f.scheme !== 'secure-boot-v2') continue;
    const bytes = read(f.file);
    for (const name of v2Keys) {
      const want = f.idf_app_model[name];
      const v = verifyImageSignature(bytes, { trust: { keyDigests: [fromHex(keys[name].digest!)] }, verifier: node, hashes: nodeHashes, chip: chipIdFromName(f.chip), ...schemeOf(keys[name]) });
      assert.is(v.valid ? 'valid' : 'invalid', want.verdict, `${f.file} with ${name}: ${v.reason}`);
      if (v.reason !== want.reason) differ.push(`${f.file} ${name}: ours "${v.reason}" model "${want.reason}"`);
      checked++;
    }
  }
  assert.is(differ.length, 0, differ.join('\n'));
  assert.is(checked, 43 * 7);
});

test('without chip limits or a project scheme (as espsecure: any scheme), trusted digests of all keys: ESP-IDF validity per key', () => {
  for (const f of manifest.files) {
    if (f.scheme !== 'secure-boot-v2') continue;
    const bytes = read(f.file);
    for (const name of v2Keys) {
      const want = f.idf_app_model[name].verdict;
      const v = verifyImageSignature(bytes, { trust: { keyDigests: [fromHex(keys[name].digest!)] }, verifier: node, hashes: nodeHashes });
      // ESP32 reads block 0 only; without --chip every slot is read, which can only add valid blocks.
      if (f.chip_blocks_checked === 3 || want === 'valid') assert.is(v.valid ? 'valid' : 'invalid', want, `${f.file} with ${name}: ${v.reason}`);
    }
  }
});

test('revocation: trusting {a, b} with a revoked is trusting {b}', () => {
  const f = manifest.files.find((x: { file: string }) => x.file === 'v2/esp32c3-bootloader.rsa3072-ab.bin');
  const bytes = read(f.file);
  const a = fromHex(keys['rsa3072-a'].digest!);
  const b = fromHex(keys['rsa3072-b'].digest!);
  const both = verifyImageSignature(bytes, { trust: { keyDigests: [a, b], revokedDigests: [a] }, verifier: node, hashes: nodeHashes });
  assert.ok(both.valid);
  assert.is(both.verifiedBlock, 1);
  assert.is(both.blocks[0].status, 'untrusted-key');
  const onlyA = verifyImageSignature(bytes, { trust: { keyDigests: [a], revokedDigests: [a] }, verifier: node, hashes: nodeHashes });
  assert.not.ok(onlyA.valid);
});

test('ESP32-C2 keeps 128 bits of the digest: the first 16 bytes trust the key', () => {
  const f = 'v2/esp32c2-ram.ecdsa256-a.bin';
  const d16 = fromHex(keys['ecdsa256-a'].digest!).subarray(0, 16);
  const v = verifyImageSignature(read(f), { trust: { keyDigests: [d16] }, verifier: node, hashes: nodeHashes, chip: chipIdFromName('esp32c2') });
  assert.ok(v.valid, v.reason);
});

const sha384 = () => {
  const h = createHash('sha384');
  const api = { update: (d: Uint8Array) => (h.update(d), api), digest: () => new Uint8Array(h.digest()) };
  return api;
};

test('portable verifier (no BigInt): every V2 file with every key (RSA and ECDSA) gives the ESP-IDF verdict and reason', () => {
  let n = 0;
  for (const f of manifest.files) {
    if (f.scheme !== 'secure-boot-v2') continue;
    const bytes = read(f.file);
    for (const name of v2Keys) {
      const want = f.idf_app_model[name];
      const v = verifyImageSignature(bytes, { trust: { keyDigests: [fromHex(keys[name].digest!)] }, verifier: portable, hashes: portableHashes, sha384, chip: chipIdFromName(f.chip), ...schemeOf(keys[name]) });
      assert.is(v.valid ? 'valid' : 'invalid', want.verdict, `${f.file} with ${name}: ${v.reason}`);
      assert.is(v.reason, want.reason, `${f.file} with ${name}`);
      n++;
    }
  }
  assert.is(n, 43 * 7);
});

test('portable verifier: V1 files give the espsecure --version 1 verdicts', () => {
  const raw = read('keys/sbv1-ecdsa256-a.pub.raw');
  for (const f of manifest.files) {
    if (f.scheme !== 'secure-boot-v1') continue;
    const v = verifyImageSignature(read(f.file), { trust: { v1Keys: [{ x: raw.subarray(0, 32), y: raw.subarray(32) }] }, verifier: portable, hashes: portableHashes });
    assert.is(v.valid ? 'valid' : 'invalid', f.espsecure_verify['sbv1-ecdsa256-a'].verdict, `${f.file}: ${v.reason}`);
  }
});

test('portable P-384 without a SHA-384: the block is reported unsupported, never valid', () => {
  const f = 'v2/esp32c5-ram.ecdsa384-a.bin';
  const v = verifyImageSignature(read(f), { trust: { keyDigests: [fromHex(keys['ecdsa384-a'].digest!)] }, verifier: portable, hashes: portableHashes });
  assert.not.ok(v.valid);
  assert.is(v.blocks[0].status, 'unsupported');
});

test('V1 files: the verdict of espsecure verify-signature --version 1 with the V1 key', () => {
  const raw = read('keys/sbv1-ecdsa256-a.pub.raw');
  const trust = { v1Keys: [{ x: raw.subarray(0, 32), y: raw.subarray(32) }] };
  let n = 0;
  for (const f of manifest.files) {
    if (f.scheme !== 'secure-boot-v1') continue;
    const v = verifyImageSignature(read(f.file), { trust, verifier: node, hashes: nodeHashes });
    assert.is(v.version, 1, f.file);
    assert.is(v.valid ? 'valid' : 'invalid', f.espsecure_verify['sbv1-ecdsa256-a'].verdict, `${f.file}: ${v.reason}`);
    assert.is(v.signatureOffset, f.v1_block.offset);
    n++;
  }
  assert.is(n, 5);
});

test.run();

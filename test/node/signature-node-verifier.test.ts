// The Node verifier's fast paths: the one-block SHA-256 used by MGF1, the RSA key cache, and the
// sector decoder's 4-bytes-at-a-time empty-slot check (aligned and unaligned views agree).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { decodeSignatureSector } from '../../src/formats/secure-boot-signature';
import { verifyImageSignature } from '../../src/formats/secure-boot-verify';
import { nodeHashes } from '../../src/node/hash';
import { createNodeSignatureVerifier, sha256OneBlock } from '../../src/node/signature-verifier';
import { secureBootKeyDigest, secureBootPublicKey } from '../../src/node/secure-boot-keys';

const dir = path.resolve(new URL('../fixtures/signed-images/', import.meta.url).pathname);

test('sha256OneBlock equals node:crypto for every length 0..55', () => {
  for (let n = 0; n <= 55; n++) {
    const m = crypto.randomBytes(n);
    assert.is(Buffer.from(sha256OneBlock(m)).toString('hex'), crypto.createHash('sha256').update(m).digest('hex'), `length ${n}`);
  }
});

test('node verifier: RSA files verify, a flipped signature does not, across several keys (cache)', () => {
  const node = createNodeSignatureVerifier(nodeHashes);
  for (let round = 0; round < 2; round++) {
    for (const [file, key] of [['v2/esp32c3-ram.rsa3072-a.bin', 'rsa3072-a'], ['v2/esp32c3-bootloader.rsa3072-ab.bin', 'rsa3072-b'], ['v2/esp32c3-hello_world.rsa3072-a.bin', 'rsa3072-a']]) {
      const bytes = new Uint8Array(fs.readFileSync(path.join(dir, file)));
      const digest = secureBootKeyDigest(secureBootPublicKey(fs.readFileSync(path.join(dir, 'keys', key + '.pub.pem'), 'utf8')));
      assert.ok(verifyImageSignature(bytes, { trust: { keyDigests: [digest] }, verifier: node, hashes: nodeHashes }).valid, file);
    }
  }
  const bytes = new Uint8Array(fs.readFileSync(path.join(dir, 'tampered/esp32c3-ram.rsa3072-a.sig-byte-flip-crc-fixed.bin')));
  const digest = secureBootKeyDigest(secureBootPublicKey(fs.readFileSync(path.join(dir, 'keys/rsa3072-a.pub.pem'), 'utf8')));
  const v = verifyImageSignature(bytes, { trust: { keyDigests: [digest] }, verifier: node, hashes: nodeHashes });
  assert.is(v.valid, false);
  assert.is(v.blocks[0].status, 'bad-signature');
});

test('sector decode: empty and non-empty slots are the same at every byte alignment', () => {
  const file = new Uint8Array(fs.readFileSync(path.join(dir, 'v2/esp32c3-ram.rsa3072-a.bin')));
  const sector = file.subarray(file.length - 4096);
  const want = decodeSignatureSector(sector, nodeHashes, 3).map((s) => s.missing);
  assert.equal(want, [null, 'empty', 'empty']);
  for (let shift = 0; shift < 4; shift++) {
    const buf = new Uint8Array(4096 + 8);
    buf.set(sector, shift);
    const view = buf.subarray(shift, shift + 4096);
    assert.equal(decodeSignatureSector(view, nodeHashes, 3).map((s) => s.missing), want, `shift ${shift}`);
    // One non-0xFF byte late in slot 2 (past the last whole word when unaligned): not empty.
    view[2432 + 1215] = 0;
    assert.equal(decodeSignatureSector(view, nodeHashes, 3)[2].missing, null, `shift ${shift}: last byte`);
    view[2432 + 1215] = 0xff;
    view[1216 + 600] = 0xfe;
    assert.equal(decodeSignatureSector(view, nodeHashes, 3)[1].missing, null, `shift ${shift}: middle byte`);
  }
});

test.run();

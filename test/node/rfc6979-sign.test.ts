// Deterministic ECDSA (RFC 6979): the RFC's own P-256/SHA-256 vectors, then the reason it exists here:
// Secure Boot V1 signatures byte for byte equal to those espsecure 5.3.1 wrote for the same key and image.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { P256, bits2octets, bytesToBigInt, int2octets, rfc6979Nonces, signDeterministic } from '../../src/node/rfc6979';
import { signImageV1 } from '../../src/node/secure-boot-keys';
import { isOtaflashError } from '../../src/errors';

const dir = path.resolve(new URL('../fixtures/signed-images/', import.meta.url).pathname);
const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const sha256 = (s: string | Uint8Array) => new Uint8Array(crypto.createHash('sha256').update(s).digest());

// RFC 6979 appendix A.2.5 (ECDSA, 256 bits, prime field): private key, public key, and for SHA-256
// the nonce k and the signature (r, s) of the messages "sample" and "test".
const A25 = {
  x: 'c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721',
  ux: '60fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb6',
  uy: '7903fe1008b8bc99a41ae9e95628bc64f2f1b20c2d7e9f5177a3c294d4462299',
  sample: {
    k: 'a6e3c57dd01abe90086538398355dd4c3b17aa873382b0f24d6129493d8aad60',
    r: 'efd48b2aacb6a8fd1140dd9cd45e81d69d2c877b56aaf991c34d0ea84eaf3716',
    s: 'f7cb1c942d657c41d436c7a1b6e29f65f3e900dbb9aff4064dc4ab2f843acda8',
  },
  test: {
    k: 'd16b6ae827f17175e040871a1c7ec3500192c4c92677336ec2537acaee0008e0',
    r: 'f1abb023518351cd71d881567b1ea663ed3efcf6c5132b354f28d3b0b7d38367',
    s: '019f4113742a2b14bd25926b49c649155f267e60d3814b4c0cc84250e46f0083',
  },
};
const x = BigInt('0x' + A25.x);

for (const msg of ['sample', 'test'] as const) {
  test(`RFC 6979 A.2.5 P-256 SHA-256 "${msg}": k, r and s as published`, () => {
    const h1 = sha256(msg);
    const k = rfc6979Nonces(P256.n, x, h1).next().value;
    assert.is(k.toString(16).padStart(64, '0'), A25[msg].k);
    const sig = signDeterministic(P256, x, h1);
    assert.is(hex(sig.r), A25[msg].r);
    assert.is(hex(sig.s), A25[msg].s);
    // And node:crypto accepts it with the published public key.
    const pub = crypto.createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: Buffer.from(A25.ux, 'hex').toString('base64url'), y: Buffer.from(A25.uy, 'hex').toString('base64url') }, format: 'jwk' });
    assert.ok(crypto.verify('sha256', Buffer.from(msg), { key: pub, dsaEncoding: 'ieee-p1363' }, Buffer.concat([sig.r, sig.s])));
  });
}

test('RFC 6979 conversions: bits2octets reduces once mod q, int2octets pads to the order length', () => {
  // A 256-bit string above q: bits2octets subtracts q once.
  const above = new Uint8Array(32).fill(0xff);
  assert.is(bytesToBigInt(bits2octets(above, P256.n)), (BigInt(1) << BigInt(256)) - BigInt(1) - P256.n);
  assert.is(int2octets(BigInt(5), P256.n).length, 32);
  assert.is(int2octets(BigInt(5), P256.n)[31], 5);
  // A longer hash (SHA-384 with P-256) keeps its leftmost 256 bits.
  const h = new Uint8Array(48);
  h[0] = 0x80;
  assert.is(bytesToBigInt(bits2octets(h, P256.n)), BigInt(1) << BigInt(255));
});

test('the nonce changes with the message and the key (no fixed k)', () => {
  const a = rfc6979Nonces(P256.n, x, sha256('a')).next().value;
  const b = rfc6979Nonces(P256.n, x, sha256('b')).next().value;
  const c = rfc6979Nonces(P256.n, x + BigInt(1), sha256('a')).next().value;
  assert.not.equal(a, b);
  assert.not.equal(a, c);
});

const v1Files = manifest.files.filter((f: { kind: string; scheme: string }) => f.kind === 'signed' && f.scheme === 'secure-boot-v1');

test('Secure Boot V1: otaflash signs byte for byte as espsecure 5.3.1 sign-data --version 1 (every V1 vector)', () => {
  assert.is(v1Files.length, 2);
  for (const f of v1Files) {
    const theirs = new Uint8Array(fs.readFileSync(path.join(dir, f.file)));
    // The unsigned source is the first image_len bytes (the fixtures README); its SHA-256 is recorded.
    const source = theirs.subarray(0, f.image_len);
    assert.is(hex(sha256(source)), f.source_image.sha256, `${f.file}: source`);
    const pem = fs.readFileSync(path.join(dir, manifest.keys[f.signing_keys[0]].private), 'utf8');
    const ours = signImageV1(source, pem);
    assert.is(ours.length, theirs.length, f.file);
    assert.is(hex(ours), hex(theirs), `${f.file}: differs from espsecure's`);
    assert.is(hex(ours.subarray(f.image_len + 4, f.image_len + 36)), f.v1_block.r_be);
  }
});

test('Secure Boot V1 refuses keys other than ECDSA P-256 with a typed error', () => {
  const pem = fs.readFileSync(path.join(dir, 'keys/ecdsa384-a.pem'), 'utf8');
  try {
    signImageV1(new Uint8Array(128), pem);
    assert.unreachable('signed');
  } catch (e) {
    assert.ok(isOtaflashError(e) && e.code === 'KEY_UNSUPPORTED', String(e));
  }
});

test.run();

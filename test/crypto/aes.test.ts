// AES-128, AES-CMAC and CTR against the standards' vectors and against node:crypto (OpenSSL) on
// seeded random inputs: the portable code must agree with both, in either counter byte order.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as crypto from 'node:crypto';
import { aes128EncryptBlock, expandAes128Key } from '../../src/crypto/aes128';
import { AesCmac, aesCmac, equalTags } from '../../src/crypto/cmac';
import { AesCtr } from '../../src/crypto/ctr';
import { seededRandom } from '../../src/flash/rng';
import { errorCode } from '../helpers';

const h = (s: string) => new Uint8Array(Buffer.from(s.replace(/\s/g, ''), 'hex'));
const hx = (b: Uint8Array) => Buffer.from(b).toString('hex');

function randomBytes(rng: () => number, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rng() * 256);
  return b;
}

function ecb(key: Uint8Array, block: Uint8Array): Uint8Array {
  const c = crypto.createCipheriv('aes-128-ecb', key, null);
  c.setAutoPadding(false);
  return new Uint8Array(Buffer.concat([c.update(block), c.final()]));
}

test('AES-128: FIPS 197 appendix C.1 and B', () => {
  const out = new Uint8Array(16);
  aes128EncryptBlock(expandAes128Key(h('000102030405060708090a0b0c0d0e0f')), h('00112233445566778899aabbccddeeff'), 0, out, 0);
  assert.is(hx(out), '69c4e0d86a7b0430d8cdb78070b4c55a');
  aes128EncryptBlock(expandAes128Key(h('2b7e151628aed2a6abf7158809cf4f3c')), h('3243f6a8885a308d313198a2e0370734'), 0, out, 0);
  assert.is(hx(out), '3925841d02dc09fbdc118597196a0b32');
});

test('AES-128: equals OpenSSL on 500 random keys and blocks, in place too', () => {
  const rng = seededRandom(0xae5);
  for (let i = 0; i < 500; i++) {
    const key = randomBytes(rng, 16);
    const block = randomBytes(rng, 16);
    const want = hx(ecb(key, block));
    const out = new Uint8Array(16);
    aes128EncryptBlock(expandAes128Key(key), block, 0, out, 0);
    assert.is(hx(out), want, `seed 0xae5, case ${i}`);
    const buf = new Uint8Array(40);
    buf.set(block, 7);
    aes128EncryptBlock(expandAes128Key(key), buf, 7, buf, 7);
    assert.is(hx(buf.subarray(7, 23)), want);
  }
});

test('AES-128: a key that is not 16 bytes is refused', () => {
  assert.is(errorCode(() => expandAes128Key(new Uint8Array(24))), 'CRYPTO_BAD_KEY');
  assert.is(errorCode(() => expandAes128Key('00' as unknown as Uint8Array)), 'CRYPTO_BAD_KEY');
});

// RFC 4493 section 4: the four examples (0, 16, 40 and 64 bytes of the same message).
const RFC4493_KEY = h('2b7e1516 28aed2a6 abf71588 09cf4f3c');
const RFC4493_MSG = h(`6bc1bee2 2e409f96 e93d7e11 7393172a ae2d8a57 1e03ac9c 9eb76fac 45af8e51
  30c81c46 a35ce411 e5fbc119 1a0a52ef f69f2445 df4f9b17 ad2b417b e66c3710`);
const RFC4493 = [
  [0, 'bb1d6929e95937287fa37d129b756746'],
  [16, '070a16b46b4d4144f79bdd9dd04a287c'],
  [40, 'dfa66747de9ae63030ca32611497c827'],
  [64, '51f0bebf7e3b9d92fc49741779363cfe'],
] as const;

test('AES-CMAC: RFC 4493 examples 1-4, in one piece and byte by byte', () => {
  for (const [len, tag] of RFC4493) {
    assert.is(hx(aesCmac(RFC4493_KEY, RFC4493_MSG.subarray(0, len))), tag, `${len} bytes`);
    const mac = new AesCmac(RFC4493_KEY);
    for (let i = 0; i < len; i++) mac.update(RFC4493_MSG.subarray(i, i + 1));
    assert.is(hx(mac.digest()), tag, `${len} bytes fed one at a time`);
  }
});

test('AES-CMAC: any split of a message into pieces gives the one-piece tag (the held-back last block)', () => {
  const rng = seededRandom(0xc3ac);
  for (let i = 0; i < 200; i++) {
    const len = Math.floor(rng() * 100);
    const msg = randomBytes(rng, len);
    const whole = hx(aesCmac(RFC4493_KEY, msg));
    const mac = new AesCmac(RFC4493_KEY);
    let at = 0;
    while (at < len) {
      const n = Math.min(len - at, Math.floor(rng() * 33));
      mac.update(msg.subarray(at, at + n));
      at += n;
    }
    assert.is(hx(mac.digest()), whole, `seed 0xc3ac case ${i} (${len} bytes)`);
  }
});

test('AES-CMAC: digest twice or update after digest is refused; tags compare', () => {
  const mac = new AesCmac(RFC4493_KEY);
  mac.digest();
  assert.is(errorCode(() => mac.digest()), 'CRYPTO_BAD_STATE');
  assert.is(errorCode(() => mac.update(new Uint8Array(1))), 'CRYPTO_BAD_STATE');
  assert.ok(equalTags(h('00ff'), h('00ff')));
  assert.not.ok(equalTags(h('00ff'), h('00fe')));
  assert.not.ok(equalTags(h('00'), h('0000')));
});

/** Keystream by hand: AES(key, ICB + j) with the addition in the given byte order, via OpenSSL ECB. */
function keystream(key: Uint8Array, icb: Uint8Array, order: 'little' | 'big', blocks: number): Uint8Array {
  const out = new Uint8Array(blocks * 16);
  const c = icb.slice();
  for (let j = 0; j < blocks; j++) {
    out.set(ecb(key, c), j * 16);
    for (let k = 0; k < 16; k++) {
      const at = order === 'little' ? k : 15 - k;
      c[at] = (c[at] + 1) & 0xff;
      if (c[at] !== 0) break;
    }
  }
  return out;
}

test('CTR big-endian equals OpenSSL aes-128-ctr, wrapping past all-ones', () => {
  const key = h('8ac037eb9a889ce7135531081a6b74ee');
  for (const icb of [h('00000000000000000000000000000000'), h('0102030405060708090a0b0cfffffffe'), h('ffffffffffffffffffffffffffffffff')]) {
    const data = new Uint8Array(100);
    const want = crypto.createCipheriv('aes-128-ctr', key, icb).update(data);
    const got = data.slice();
    new AesCtr(key, icb, 'big').apply(got);
    assert.is(hx(got), hx(new Uint8Array(want)), hx(icb));
  }
});

test('CTR little-endian: the first byte increments first, carries upward, wraps modulo 2^128', () => {
  const key = h('01020304050607080102030405060708');
  for (const icb of [h('fe000000000000000000000000000000'), h('ffffffffffffffffffffffffffffff00'), h('ffffffffffffffffffffffffffffffff'), h('0a40e2a78549ad55adde489e9e6c9e65')]) {
    const ks = keystream(key, icb, 'little', 4);
    const got = new Uint8Array(64);
    new AesCtr(key, icb, 'little').apply(got);
    assert.is(hx(got), hx(ks), hx(icb));
  }
  // The two orders differ once the counter moves.
  const a = new Uint8Array(32);
  const b = new Uint8Array(32);
  new AesCtr(key, h('00000000000000000000000000000000'), 'little').apply(a);
  new AesCtr(key, h('00000000000000000000000000000000'), 'big').apply(b);
  assert.is(hx(a.subarray(0, 16)), hx(b.subarray(0, 16)));
  assert.is.not(hx(a.subarray(16)), hx(b.subarray(16)));
});

test('CTR: pieces of any size and seek() give the same keystream as one call', () => {
  const rng = seededRandom(0xc7e);
  const key = randomBytes(rng, 16);
  for (const order of ['little', 'big'] as const) {
    const icb = h('fffffffffffffffffffffffffffffff0');
    if (order === 'little') icb.reverse();
    const whole = new Uint8Array(700);
    new AesCtr(key, icb, order).apply(whole);
    const ctr = new AesCtr(key, icb, order);
    const pieces = new Uint8Array(700);
    let at = 0;
    while (at < 700) {
      const n = Math.min(700 - at, Math.floor(rng() * 40));
      ctr.apply(pieces, at, at + n);
      at += n;
    }
    assert.is(hx(pieces), hx(whole), order);
    for (const off of [0, 1, 15, 16, 17, 255, 256, 699]) {
      const s = new AesCtr(key, icb, order);
      s.seek(off);
      const tail = new Uint8Array(700 - off);
      s.apply(tail);
      assert.is(hx(tail), hx(whole.subarray(off)), `${order} seek ${off}`);
    }
  }
});

test('CTR: bad arguments are refused with typed errors', () => {
  assert.is(errorCode(() => new AesCtr(new Uint8Array(16), new Uint8Array(15))), 'CRYPTO_BAD_ARGUMENT');
  assert.is(errorCode(() => new AesCtr(new Uint8Array(16), new Uint8Array(16), 'middle' as 'big')), 'CRYPTO_BAD_ARGUMENT');
  assert.is(errorCode(() => new AesCtr(new Uint8Array(16), new Uint8Array(16)).seek(-1)), 'CRYPTO_BAD_ARGUMENT');
  assert.is(errorCode(() => new AesCtr(new Uint8Array(8), new Uint8Array(16))), 'CRYPTO_BAD_KEY');
});

test.run();

// The project's own SHA-256, SHA-384/512, SHA-1 and MD5 (src/hash) against the
// published test vectors of their standards, and against node:crypto (the reference here) on
// seeded random data of random lengths fed in random pieces.
import { createHash } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { sha256 } from '../../src/hash/sha256';
import { sha1 } from '../../src/hash/sha1';
import { md5 } from '../../src/hash/md5';
import { sha384, sha512 } from '../../src/hash/sha512';
import type { IncrementalHash } from '../../src/hash/types';
import { OtaflashError } from '../../src/errors';
import { seededRandom } from '../../src/flash/rng';

const SEED = Number(process.env.SEED ?? Date.now() % 1e9);
const ascii = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const hexOf = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
const once = (f: () => IncrementalHash, msg: string) => hexOf(f().update(ascii(msg)).digest());

/** `count` repetitions of `piece`, fed as `count` update() calls. */
function repeated(f: () => IncrementalHash, piece: string, count: number): string {
  const p = ascii(piece);
  const h = f();
  for (let i = 0; i < count; i++) h.update(p);
  return hexOf(h.digest());
}

test("SHA-256: FIPS 180-4 examples (abc, the 448-bit message, one million 'a')", () => {
  // FIPS 180-2 appendix B / NIST CSRC "SHA256.pdf" example values.
  assert.is(once(sha256, ''), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  assert.is(once(sha256, 'abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  assert.is(once(sha256, 'abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq'), '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1');
  assert.is(
    once(sha256, 'abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu'),
    'cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1',
  );
  assert.is(repeated(sha256, 'a'.repeat(1000), 1000), 'cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0');
  // The same million bytes in pieces that never line up with the 64-byte blocks.
  assert.is(repeated(sha256, 'a'.repeat(625), 1600), 'cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0');
});

test("SHA-512 and SHA-384: FIPS 180-4 examples (abc, the 896-bit message, one million 'a')", () => {
  const long = 'abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu';
  assert.is(once(sha512, 'abc'), 'ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f');
  assert.is(once(sha512, long), '8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909');
  assert.is(repeated(sha512, 'a'.repeat(1000), 1000), 'e718483d0ce769644e2e42c7bc15b4638e1f98b13b2044285632a803afa973ebde0ff244877ea60a4cb0432ce577c31beb009c5c2c49aa2e4eadb217ad8cc09b');
  assert.is(once(sha384, 'abc'), 'cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7');
  assert.is(once(sha384, long), '09330c33f71147e83d192fc782cd1b4753111b173b3b05d22fa08086e3b0f712fcc7c71a557e2db966c3e9fa91746039');
  assert.is(repeated(sha384, 'a'.repeat(625), 1600), '9d0e1809716474cb086e834e310a4a1ced149e9c00f248527972cec5704c2a5b07b8b3dc38ecc4ebae97ddd87f3d8985');
});

test('SHA-1: RFC 3174 section 7.3 test suite (TEST1..TEST4)', () => {
  assert.is(once(sha1, 'abc'), 'a9993e364706816aba3e25717850c26c9cd0d89d');
  assert.is(once(sha1, 'abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq'), '84983e441c3bd26ebaae4aa1f95129e5e54670f1');
  assert.is(repeated(sha1, 'a', 1000000), '34aa973cd4c4daa4f61eeb2bdbad27316534016f');
  assert.is(repeated(sha1, '0123456701234567012345670123456701234567012345670123456701234567', 10), 'dea356a2cddd90c7a7ecedc5ebb563934f460452');
  assert.is(once(sha1, ''), 'da39a3ee5e6b4b0d3255bfef95601890afd80709');
});

test('MD5: RFC 1321 appendix A.5 test suite', () => {
  const suite: [string, string][] = [
    ['', 'd41d8cd98f00b204e9800998ecf8427e'],
    ['a', '0cc175b9c0f1b6a831c399e269772661'],
    ['abc', '900150983cd24fb0d6963f7d28e17f72'],
    ['message digest', 'f96b697d7cb7938d525a2f31aaf161d0'],
    ['abcdefghijklmnopqrstuvwxyz', 'c3fcd3d76192e4007dfb496cca67e13b'],
    ['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789', 'd174ab98d277d9f5a5611c2c9f419d9f'],
    ['12345678901234567890123456789012345678901234567890123456789012345678901234567890', '57edf4a22be3c955ac49da2e2107b67a'],
  ];
  for (const [msg, want] of suite) assert.is(once(md5, msg), want, JSON.stringify(msg));
});

test('padding edges: every length from 0 to 300 bytes against node:crypto', () => {
  const data = new Uint8Array(300);
  for (let i = 0; i < data.length; i++) data[i] = (i * 151 + 17) & 0xff;
  for (let n = 0; n <= 300; n++) {
    const d = data.subarray(0, n);
    assert.is(hexOf(sha256().update(d).digest()), createHash('sha256').update(d).digest('hex'), `sha256 ${n}`);
    assert.is(hexOf(sha1().update(d).digest()), createHash('sha1').update(d).digest('hex'), `sha1 ${n}`);
    assert.is(hexOf(md5().update(d).digest()), createHash('md5').update(d).digest('hex'), `md5 ${n}`);
    assert.is(hexOf(sha512().update(d).digest()), createHash('sha512').update(d).digest('hex'), `sha512 ${n}`);
    assert.is(hexOf(sha384().update(d).digest()), createHash('sha384').update(d).digest('hex'), `sha384 ${n}`);
  }
});

test('random lengths 0..10,000 split at random points (views at odd offsets, empty pieces) match node:crypto (seeded)', () => {
  const r = seededRandom(SEED);
  const algos: [string, () => IncrementalHash][] = [['sha256', sha256], ['sha1', sha1], ['md5', md5], ['sha512', sha512], ['sha384', sha384]];
  try {
    for (let round = 0; round < 150; round++) {
      const len = Math.floor(r() * 10001);
      // A larger buffer, so the message starts at an odd byteOffset of its ArrayBuffer.
      const backing = new Uint8Array(len + 7);
      for (let i = 0; i < backing.length; i++) backing[i] = Math.floor(r() * 256);
      const data = backing.subarray(3, 3 + len);
      for (const [name, f] of algos) {
        const h = f();
        for (let at = 0; at < len; ) {
          const n = Math.min(len - at, Math.floor(r() * r() * 300));
          h.update(data.subarray(at, at + n));
          at += n;
        }
        assert.is(hexOf(h.digest()), createHash(name).update(data).digest('hex'), `${name} round ${round} length ${len}`);
      }
    }
  } catch (e) {
    (e as Error).message = `[seed ${SEED}: replay with SEED=${SEED}] ` + (e as Error).message;
    throw e;
  }
});

test('misuse is a typed error: update() or digest() after digest(), input that is not a Uint8Array', () => {
  for (const f of [sha256, sha1, md5, sha512, sha384]) {
    const h = f();
    h.update(ascii('abc'));
    h.digest();
    for (const call of [() => h.update(ascii('x')), () => h.digest()]) {
      try {
        call();
        assert.unreachable('should throw');
      } catch (e) {
        assert.instance(e, OtaflashError);
        assert.is((e as OtaflashError).code, 'HASH_FINISHED');
      }
    }
    for (const bad of ['abc', [1, 2, 3], null, new ArrayBuffer(4)]) {
      try {
        f().update(bad as unknown as Uint8Array);
        assert.unreachable('should throw');
      } catch (e) {
        assert.instance(e, OtaflashError);
        assert.is((e as OtaflashError).code, 'HASH_BAD_INPUT');
      }
    }
  }
});

test.run();

// Detached signatures (Secure Boot V2 blocks over any payload). The honest cross-check: the blocks of
// an espsecure-signed image ARE a detached signature over the image bytes up to the sector, so every
// espsecure vector (signed and tampered) must get ESP-IDF's verdict (manifest `idf_app_model`) when
// checked as payload + detached signature. Our own signatures are checked with node:crypto directly.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash, createPublicKey, verify as cryptoVerify, constants } from 'node:crypto';
import {
  decodeSignatureText,
  detachedBlockCount,
  encodeSignatureText,
  streamedMessage,
  verifyDetachedSignature,
  verifyDetachedSignatureDigest,
} from '../../src/formats/detached-signature';
import type { SignatureScheme } from '../../src/formats/secure-boot-verify';
import type { EcdsaCurve } from '../../src/formats/secure-boot-signature';
import { decodeSignatureBlock, reversed } from '../../src/formats/secure-boot-signature';
import { createNodeSignatureVerifier } from '../../src/node/signature-verifier';
import { createPortableSignatureVerifier } from '../../src/crypto/rsa-verifier';
import { signDetached, trustFromKeys } from '../../src/node/detached-sign';
import { nodeHashes } from '../../src/node/hash';
import { portableHashes } from '../../src/hash/portable';
import { OtaflashError } from '../../src/errors';

const dir = path.resolve(new URL('../fixtures/signed-images/', import.meta.url).pathname);
const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
const read = (p: string) => new Uint8Array(fs.readFileSync(path.join(dir, p)));
const readText = (p: string) => fs.readFileSync(path.join(dir, p), 'utf8');
const fromHex = (h: string) => new Uint8Array(Buffer.from(h, 'hex'));

interface KeyInfo { digest?: string; type: string; curve?: string; public: string; private: string }
const keys: Record<string, KeyInfo> = manifest.keys;
const v2Keys = Object.keys(keys).filter((k) => keys[k].digest);
const trustOf = (name: string) => ({ keyDigests: [fromHex(keys[name].digest!)] });
function schemeOf(k: KeyInfo): { scheme: SignatureScheme; curve?: EcdsaCurve } {
  return k.type === 'RSA-3072' ? { scheme: 'rsa' } : { scheme: 'ecdsa', curve: k.curve as EcdsaCurve };
}
const sha384 = () => {
  const h = createHash('sha384');
  const api = { update: (d: Uint8Array) => (h.update(d), api), digest: () => new Uint8Array(h.digest()) };
  return api;
};
const node = createNodeSignatureVerifier(nodeHashes);
const portable = createPortableSignatureVerifier(portableHashes);

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof OtaflashError) return e.code;
    throw e;
  }
  return 'no error';
}

/** Splits the model's "block 0: x; block 1: y" into reasons per block. */
function reasonsByBlock(reason: string): Record<number, string> {
  const out: Record<number, string> = {};
  for (const part of reason.split('; ')) {
    const m = /^block (\d+): (.*)$/.exec(part);
    if (m) out[Number(m[1])] = m[2];
  }
  return out;
}

// Files whose sector is wholly at the offset ESP-IDF reads (the truncated ones have no full sector).
const wholeV2 = manifest.files.filter((f: { scheme: string; size: number; sig_sector_offset: number }) => f.scheme === 'secure-boot-v2' && f.size >= f.sig_sector_offset + 4096);

for (const [label, verifier, hashes] of [['node:crypto', node, nodeHashes], ['portable', portable, portableHashes]] as const) {
  test(`espsecure vectors as detached signatures (${label}): every whole V2 file x every key gives ESP-IDF's verdict and per-block reasons`, () => {
    let n = 0;
    let valid = 0;
    for (const f of wholeV2) {
      const bytes = read(f.file);
      const at = f.sig_sector_offset;
      const payload = bytes.subarray(0, at);
      const sector = bytes.subarray(at, at + 4096);
      for (const name of v2Keys) {
        const want = f.idf_app_model[name];
        if (sector.every((b: number) => b === 0xff)) {
          // No block at all (the sector moved away): a typed error rather than a verdict.
          assert.is(want.verdict, 'invalid');
          assert.is(codeOf(() => verifyDetachedSignature(payload, sector, { trust: trustOf(name), verifier })), 'SIGNATURE_EMPTY');
          n++;
          continue;
        }
        const v = verifyDetachedSignature(payload, sector, Object.assign({ trust: trustOf(name), verifier, hashes, sha384 }, schemeOf(keys[name])));
        assert.is(v.valid ? 'valid' : 'invalid', want.verdict, `${f.file} with ${name}: ${v.reason}`);
        if (v.valid) {
          assert.is(v.reason, want.reason, `${f.file} with ${name}`);
          valid++;
        } else {
          const model = reasonsByBlock(want.reason);
          assert.ok(v.blocks.length > 0, f.file);
          for (const b of v.blocks) assert.is(b.reason, model[b.index], `${f.file} with ${name} block ${b.index}`);
        }
        n++;
      }
    }
    assert.ok(n >= 35 * 7, `${n} checks`);
    assert.ok(valid >= 15, `${valid} valid`);
  });
}

test('the blocks alone (n x 1216 bytes, no 0xFF sector tail) verify like the sector', () => {
  for (const f of manifest.files.filter((x: { kind: string; scheme: string }) => x.kind === 'signed' && x.scheme === 'secure-boot-v2')) {
    const bytes = read(f.file);
    const at = f.sig_sector_offset;
    const blocks = bytes.slice(at, at + f.blocks.length * 1216);
    assert.is(detachedBlockCount(blocks), f.blocks.length);
    const name = f.signing_keys[0];
    const v = verifyDetachedSignature(bytes.subarray(0, at), blocks, { trust: trustOf(name), verifier: node, hashes: nodeHashes, sha384 });
    assert.ok(v.valid, `${f.file}: ${v.reason}`);
    assert.is(v.blocks.length, f.blocks.length);
    assert.is(v.signedLength, at);
  }
});

const payload = new Uint8Array(5000).map((_, i) => (i * 31 + 7) & 255);
const keyNames = ['rsa3072-a', 'ecdsa256-a', 'ecdsa384-a', 'ecdsa192-a'];

test('ours: one block per key, each checked by node:crypto with the PEM public key (not our verifier)', () => {
  for (const name of keyNames) {
    const sig = signDetached(payload, [readText(keys[name].private)]);
    assert.is(sig.length, 1216);
    const blk = decodeSignatureBlock(sig, 0, nodeHashes);
    assert.ok(blk.crcValid);
    const pub = createPublicKey(readText(keys[name].public));
    const alg = name === 'ecdsa384-a' ? 'sha384' : 'sha256';
    assert.is(Buffer.from(blk.imageDigest).toString('hex'), createHash(alg).update(payload).digest('hex'), name);
    if (blk.key!.kind === 'rsa') {
      assert.ok(cryptoVerify('sha256', payload, { key: pub, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, blk.signature!), name);
    } else {
      assert.ok(cryptoVerify(alg, payload, { key: pub, dsaEncoding: 'ieee-p1363' }, Buffer.concat([blk.r!, blk.s!])), name);
    }
  }
});

test('ours verify (node:crypto and portable), multi-key signatures report every block', () => {
  const sig = signDetached(payload, [readText(keys['ecdsa256-a'].private), readText(keys['rsa3072-a'].private)]);
  assert.is(sig.length, 2432);
  for (const verifier of [node, portable]) {
    const onlyRsa = verifyDetachedSignature(payload, sig, { trust: trustOf('rsa3072-a'), verifier });
    assert.ok(onlyRsa.valid, onlyRsa.reason);
    assert.is(onlyRsa.verifiedBlock, 1);
    assert.is(onlyRsa.blocks[0].status, 'untrusted-key');
    const onlyEc = verifyDetachedSignature(payload, sig, { trust: trustOf('ecdsa256-a'), verifier });
    assert.is(onlyEc.verifiedBlock, 0);
    assert.is(onlyEc.blocks[1].status, 'not-checked');
  }
  // Default verifier: the portable one.
  assert.ok(verifyDetachedSignature(payload, sig, { trust: trustOf('rsa3072-a') }).valid);
});

test('refused with per-block reasons: tampered payload, tampered signature, untrusted key, revoked key', () => {
  const sig = signDetached(payload, [readText(keys['rsa3072-a'].private), readText(keys['ecdsa256-a'].private)]);
  const both = { keyDigests: [fromHex(keys['rsa3072-a'].digest!), fromHex(keys['ecdsa256-a'].digest!)] };
  const bad = payload.slice();
  bad[4321] ^= 1;
  let v = verifyDetachedSignature(bad, sig, { trust: both, verifier: node });
  assert.not.ok(v.valid);
  assert.equal(v.blocks.map((b) => b.status), ['bad-signature', 'bad-signature']);
  assert.equal(v.blocks.map((b) => b.storedDigestMatches), [false, false]);
  assert.is(v.reason, 'block 0: signature does not verify over the image digest; block 1: signature does not verify over the image digest');

  const flipped = sig.slice();
  flipped[900] ^= 0x40; // inside block 0's RSA signature: its CRC no longer matches
  v = verifyDetachedSignature(payload, flipped, { trust: { keyDigests: [both.keyDigests[0]] }, verifier: node });
  assert.not.ok(v.valid);
  assert.is(v.blocks[0].status, 'bad-frame');
  assert.is(v.blocks[1].status, 'untrusted-key');

  v = verifyDetachedSignature(payload, sig, { trust: trustOf('rsa3072-b'), verifier: portable });
  assert.not.ok(v.valid);
  assert.equal(v.blocks.map((b) => b.status), ['untrusted-key', 'untrusted-key']);

  v = verifyDetachedSignature(payload, sig, { trust: { keyDigests: both.keyDigests, revokedDigests: [both.keyDigests[0]] }, verifier: node });
  assert.ok(v.valid);
  assert.is(v.verifiedBlock, 1);
  assert.is(v.blocks[0].status, 'untrusted-key');
  v = verifyDetachedSignature(payload, sig, { trust: { keyDigests: both.keyDigests, revokedDigests: both.keyDigests }, verifier: node });
  assert.not.ok(v.valid);

  v = verifyDetachedSignature(payload, sig, { trust: {}, verifier: node });
  assert.not.ok(v.valid);
});

test('streaming form: chunks hashed by the caller, digest-only message (portable verifier; P-384 with a sha384)', () => {
  for (const name of ['rsa3072-a', 'ecdsa256-a', 'ecdsa384-a']) {
    const sig = signDetached(payload, [readText(keys[name].private)]);
    const m = streamedMessage(portableHashes, sha384);
    for (let i = 0; i < payload.length; i += 777) m.update(payload.subarray(i, i + 777));
    assert.is(m.length, payload.length);
    const v = verifyDetachedSignatureDigest(m, sig, { trust: trustOf(name), verifier: portable, payloadLength: m.length });
    assert.ok(v.valid, `${name}: ${v.reason}`);
    assert.is(v.signedLength, payload.length);
    const t = streamedMessage(portableHashes, sha384);
    t.update(payload.subarray(1));
    assert.not.ok(verifyDetachedSignatureDigest(t, sig, { trust: trustOf(name), verifier: portable }).valid, name);
  }
  // P-384 without a SHA-384: reported unsupported, never valid.
  const sig = signDetached(payload, [readText(keys['ecdsa384-a'].private)]);
  const m = streamedMessage(portableHashes);
  m.update(payload);
  const v = verifyDetachedSignatureDigest(m, sig, { trust: trustOf('ecdsa384-a'), verifier: portable });
  assert.not.ok(v.valid);
  assert.is(v.blocks[0].status, 'unsupported');
});

test('trustFromKeys: public key PEMs and hex digests give the espsecure digests', () => {
  const t = trustFromKeys({ pubkeys: [readText(keys['rsa3072-a'].public)], keyDigestsHex: [keys['ecdsa256-a'].digest!] });
  assert.equal(t.keyDigests!.map((d) => Buffer.from(d).toString('hex')), [keys['rsa3072-a'].digest, keys['ecdsa256-a'].digest]);
  assert.is(codeOf(() => trustFromKeys({ keyDigestsHex: ['abc'] })), 'SIGNATURE_BAD_ARGUMENT');
});

test('bad input: typed errors', () => {
  const trust = trustOf('rsa3072-a');
  assert.is(codeOf(() => verifyDetachedSignature(payload, new Uint8Array(1000), { trust })), 'SIGNATURE_BAD_LENGTH');
  assert.is(codeOf(() => verifyDetachedSignature(payload, new Uint8Array(0), { trust })), 'SIGNATURE_BAD_LENGTH');
  assert.is(codeOf(() => verifyDetachedSignature(payload, new Uint8Array(4 * 1216), { trust })), 'SIGNATURE_BAD_LENGTH');
  assert.is(codeOf(() => verifyDetachedSignature(payload, new Uint8Array(4096).fill(0xff), { trust })), 'SIGNATURE_EMPTY');
  assert.is(codeOf(() => verifyDetachedSignature(payload, 'abc' as unknown as Uint8Array, { trust })), 'SIGNATURE_BAD_ARGUMENT');
  assert.is(codeOf(() => verifyDetachedSignature([1, 2] as unknown as Uint8Array, new Uint8Array(1216), { trust })), 'SIGNATURE_BAD_ARGUMENT');
  assert.is(codeOf(() => verifyDetachedSignature(payload, new Uint8Array(1216), null as never)), 'SIGNATURE_BAD_ARGUMENT');
  assert.is(codeOf(() => verifyDetachedSignature(payload, new Uint8Array(1216), {} as never)), 'SIGNATURE_BAD_ARGUMENT');
  assert.is(codeOf(() => signDetached(payload, [])), 'SIGN_NO_KEY');
  const k = readText(keys['rsa3072-a'].private);
  assert.is(codeOf(() => signDetached(payload, [k, k, k, k])), 'SIGN_TOO_MANY_BLOCKS');
  assert.is(codeOf(() => signDetached(payload, ['not a key'])), 'KEY_BAD_FORMAT');
  // A garbage block of the right size: reported, not thrown.
  const v = verifyDetachedSignature(payload, new Uint8Array(1216), { trust });
  assert.not.ok(v.valid);
  assert.is(v.blocks[0].status, 'bad-frame');
});

test('signature text: base64 equal to Node\'s for every length, round trip, canonical only', () => {
  for (let len = 0; len < 70; len++) {
    const b = new Uint8Array(len).map((_, i) => (i * 97 + len * 13) & 255);
    const text = encodeSignatureText(b);
    assert.is(text, Buffer.from(b).toString('base64'), `length ${len}`);
    assert.equal(Array.from(decodeSignatureText(text)), Array.from(b));
  }
  const sig = signDetached(payload, [readText(keys['ecdsa256-a'].private)]);
  assert.is(encodeSignatureText(sig), Buffer.from(sig).toString('base64'));
  assert.equal(decodeSignatureText(Buffer.from(sig).toString('base64')), sig);
  for (const bad of ['abc', 'ab!d', 'a===', '=abc', 'ab=c', 'QR==', 'QUI=x', 'ab c', 'é123']) assert.is(codeOf(() => decodeSignatureText(bad)), 'SIGNATURE_BAD_TEXT', bad);
  assert.is(codeOf(() => decodeSignatureText(42 as unknown as string)), 'SIGNATURE_BAD_TEXT');
  assert.is(codeOf(() => encodeSignatureText('x' as unknown as Uint8Array)), 'SIGNATURE_BAD_ARGUMENT');
});

test.run();

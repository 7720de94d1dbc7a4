// `otaflash image sign | image verify | key digest | key generate`, on the espsecure 5.3.1 vectors.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runInProcess, tempFiles } from './harness';
import { espsecureVerdict } from '../../src/formats/secure-boot-espsecure';
import { createNodeSignatureVerifier } from '../../src/node/signature-verifier';
import { secureBootPublicKey } from '../../src/node/secure-boot-keys';
import { nodeHashes } from '../../src/node/hash';
import { createHash } from 'node:crypto';

const dir = path.resolve(new URL('../fixtures/signed-images/', import.meta.url).pathname);
const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
const fx = (p: string) => path.join(dir, p);
const tmp = tempFiles('otaflash-sig-');
const keys = manifest.keys as Record<string, { digest?: string; type: string; curve?: string; public: string }>;
const v2Keys = Object.keys(keys).filter((k) => keys[k].digest);

test('key digest prints what espsecure digest-sbv2-public-key wrote, for every V2 key', () => {
  for (const k of v2Keys) {
    const r = runInProcess('key digest', fx(keys[k].public));
    assert.is(r.code, 0, r.stderr);
    assert.is(r.stdout.trim(), Buffer.from(fs.readFileSync(fx(`keys/${k}.digest.bin`))).toString('hex'), k);
  }
});

test('image verify --chip auto: exit 0 exactly where the ESP-IDF verdict is valid (every V2 file, every key)', () => {
  let n = 0;
  for (const f of manifest.files) {
    if (f.scheme !== 'secure-boot-v2') continue;
    for (const k of v2Keys) {
      const scheme = keys[k].type === 'RSA-3072' ? ['--scheme', 'rsa'] : ['--scheme', 'ecdsa', '--curve', keys[k].curve!];
      const r = runInProcess('image verify', fx(f.file), '--key-digest', keys[k].digest!, '--chip', 'auto', ...scheme);
      assert.is(r.code, f.idf_app_model[k].verdict === 'valid' ? 0 : 1, `${f.file} ${k}: ${r.stdout}${r.stderr}`);
      n++;
    }
  }
  assert.is(n, 43 * 7);
});

test('the espsecure model gives espsecure 5.3.1 its recorded outcome (valid / rejected / crashed) for every V2 file and key', () => {
  const verifier = createNodeSignatureVerifier(nodeHashes);
  const sha384 = () => {
    const h = createHash('sha384');
    const api = { update: (d: Uint8Array) => (h.update(d), api), digest: () => new Uint8Array(h.digest()) };
    return api;
  };
  for (const f of manifest.files) {
    if (f.scheme !== 'secure-boot-v2') continue;
    const bytes = new Uint8Array(fs.readFileSync(fx(f.file)));
    for (const k of v2Keys) {
      const pk = secureBootPublicKey(fs.readFileSync(fx(keys[k].public), 'utf8'));
      const key = pk.kind === 'rsa' ? { kind: 'rsa' as const, n: pk.key.n, e: pk.key.e } : { kind: 'ecdsa' as const, curve: pk.curve, x: pk.x, y: pk.y };
      const got = espsecureVerdict(bytes, key, verifier, nodeHashes, sha384);
      assert.is(got.outcome, f.espsecure_verify[k].outcome, `${f.file} ${k}: ${got.reason}`);
    }
  }
});

test('image verify --pubkey says when espsecure would disagree (stored digest flipped: IDF accepts, espsecure stops)', () => {
  const r = runInProcess('image verify', fx('tampered/esp32c3-ram.rsa3072-a.digest-field-flip-crc-fixed.bin'), '--pubkey', fx('keys/rsa3072-a.pub.pem'));
  assert.is(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /espsecure verify-signature .* would say rejected/);
  const j = JSON.parse(runInProcess('image verify', fx('tampered/esp32c3-ram.rsa3072-a.key-field-flip-crc-fixed.bin'), '--pubkey', fx('keys/rsa3072-a.pub.pem'), '--json').stdout);
  assert.is(j.valid, false);
  assert.is(j.blocks[0].status, 'untrusted-key');
  assert.is(j.espsecure[0].answer.outcome, 'valid');
  assert.is(j.espsecure[0].agrees, false);
});

test('image verify: V1 files with the V1 key give espsecure --version 1 verdicts', () => {
  for (const f of manifest.files) {
    if (f.scheme !== 'secure-boot-v1') continue;
    const r = runInProcess('image verify', fx(f.file), '--pubkey', fx('keys/sbv1-ecdsa256-a.pub.pem'));
    assert.is(r.code, f.espsecure_verify['sbv1-ecdsa256-a'].verdict === 'valid' ? 0 : 1, `${f.file}: ${r.stdout}`);
  }
});

test('image sign: several keys after one --key, then --append; every field but signatures equals espsecure; verifies', () => {
  const src = tmp('src.bin');
  const theirs = new Uint8Array(fs.readFileSync(fx('v2/esp32c3-bootloader.rsa3072-ab.bin')));
  const f = manifest.files.find((x: { file: string }) => x.file === 'v2/esp32c3-bootloader.rsa3072-ab.bin');
  fs.writeFileSync(src, theirs.subarray(0, f.image_len));
  const out = tmp('signed.bin');
  const r = runInProcess('image sign', src, '--key', fx('keys/rsa3072-a.pem'), fx('keys/rsa3072-b.pem'), '--out', out);
  assert.is(r.code, 0, r.stderr);
  const ours = new Uint8Array(fs.readFileSync(out));
  assert.is(ours.length, theirs.length);
  const at = f.sig_sector_offset;
  assert.equal(ours.subarray(0, at), theirs.subarray(0, at));
  for (let b = 0; b < 2; b++) {
    const o = at + b * 1216;
    assert.equal(ours.subarray(o, o + 812), theirs.subarray(o, o + 812), `block ${b} header and key fields`);
    assert.equal(ours.subarray(o + 1200, o + 1216), theirs.subarray(o + 1200, o + 1216));
  }
  assert.equal(ours.subarray(at + 2432), theirs.subarray(at + 2432));
  const out2 = tmp('appended.bin');
  assert.is(runInProcess('image sign', out, '--key', fx('keys/rsa3072-c.pem'), '--out', out2, '--append').code, 0);
  for (const k of ['rsa3072-a', 'rsa3072-b', 'rsa3072-c']) assert.is(runInProcess('image verify', out2, '--pubkey', fx(keys[k].public), '--chip', 'esp32c3').code, 0, k);
  assert.is(runInProcess('image verify', out2, '--pubkey', fx(keys['ecdsa256-a'].public)).code, 1);
});

test('key generate, sign with it, verify with its digest; bad input exits 2 with one line', () => {
  for (const type of ['ecdsa256', 'ecdsa384']) {
    const key = tmp(`${type}.pem`);
    assert.is(runInProcess('key generate', '--type', type, '-o', key).code, 0);
    const out = tmp('s.bin');
    const src = tmp('src.bin');
    fs.writeFileSync(src, fs.readFileSync(fx('v2/esp32c5-ram.ecdsa384-a.bin')).subarray(0, 128));
    assert.is(runInProcess('image sign', src, '--key', key, '--out', out).code, 0);
    const digest = runInProcess('key digest', key).stdout.trim();
    assert.is(runInProcess('image verify', out, '--key-digest', digest).code, 0, type);
  }
  const bad = runInProcess('image verify', fx('v2/esp32c3-ram.rsa3072-a.bin'), '--key-digest', 'abc');
  assert.is(bad.code, 2);
  assert.is(runInProcess('image sign', fx('v2/esp32c3-ram.rsa3072-a.bin'), '--key', fx('keys/extra-rsa2048.pem'), '--out', tmp('x.bin')).code, 2);
  assert.is(runInProcess('image verify', fx('v2/esp32c3-ram.rsa3072-a.bin')).code, 2);
});

test.run();

// `otaflash image sign` with deterministic V1 (byte for byte espsecure's), external signers
// (--sign-cmd, --pkcs11-*) and the V1 espsecure note of `image verify`.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runInProcess, tempFiles } from './harness';
import { findSoftHsmModule } from '../../src/node/signer';

const dir = path.resolve(new URL('../fixtures/signed-images/', import.meta.url).pathname);
const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
const fx = (p: string) => path.join(dir, p);
const tmp = tempFiles('otaflash-sigsign-');
const haveOpenssl = spawnSync('openssl', ['version']).status === 0;
const c3 = manifest.files.find((f: { file: string }) => f.file === 'v2/esp32c3-ram.rsa3072-a.bin');

function unsignedC3(): string {
  const src = tmp('c3.bin');
  fs.writeFileSync(src, fs.readFileSync(fx(c3.file)).subarray(0, c3.image_len));
  return src;
}

test('image sign --version 1 writes exactly the file espsecure sign-data --version 1 wrote (RFC 6979)', () => {
  const v1 = manifest.files.filter((f: { kind: string; scheme: string }) => f.kind === 'signed' && f.scheme === 'secure-boot-v1');
  assert.is(v1.length, 2);
  for (const f of v1) {
    const src = tmp('v1src.bin');
    const theirs = fs.readFileSync(fx(f.file));
    fs.writeFileSync(src, theirs.subarray(0, f.image_len));
    const out = tmp('v1.bin');
    const r = runInProcess('image sign', src, '--version', '1', '--key', fx('keys/sbv1-ecdsa256-a.pem'), '--out', out);
    assert.is(r.code, 0, r.stderr);
    assert.ok(Buffer.compare(fs.readFileSync(out), theirs) === 0, `${f.file} differs from espsecure's`);
  }
});

const ossl = (key: string, rsa: boolean) =>
  `openssl pkeyutl -sign -inkey '${fx(`keys/${key}.pem`)}'${rsa ? ' -pkeyopt rsa_padding_mode:pss -pkeyopt rsa_pss_saltlen:32 -pkeyopt digest:sha256 -pkeyopt rsa_mgf1_md:sha256' : ''}`;

test('image sign --sign-cmd --pubkey: blocks from an external signer, with --key files first; verify accepts each', () => {
  if (!haveOpenssl) {
    console.log('  skipped: openssl is not installed');
    return;
  }
  const out = tmp('ext.bin');
  const r = runInProcess('image sign', unsignedC3(), '--key', fx('keys/rsa3072-b.pem'), '--sign-cmd', ossl('rsa3072-a', true), '--pubkey', fx('keys/rsa3072-a.pub.pem'), '--sign-cmd', ossl('rsa3072-c', true), '--pubkey', fx('keys/rsa3072-c.pub.pem'), '--out', out);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /with 3 key\(s\)/);
  for (const k of ['rsa3072-a', 'rsa3072-b', 'rsa3072-c']) assert.is(runInProcess('image verify', out, '--pubkey', fx(`keys/${k}.pub.pem`), '--chip', 'esp32c3').code, 0, k);
  const j = JSON.parse(runInProcess('image verify', out, '--pubkey', fx('keys/rsa3072-c.pub.pem'), '--json').stdout);
  assert.is(j.verifiedBlock, 2, 'order: --key, then the --sign-cmd signers in order');
  const ec = tmp('ec.bin');
  assert.is(runInProcess('image sign', unsignedC3(), '--sign-cmd', ossl('ecdsa256-a', false), '--pubkey', fx('keys/ecdsa256-a.pub.pem'), '--out', ec).code, 0);
  assert.is(runInProcess('image verify', ec, '--pubkey', fx('keys/ecdsa256-a.pub.pem')).code, 0);
});

test('image sign: a signer that answers wrongly or fails exits 2 and writes nothing; --pubkey must pair with signers', () => {
  const cases: [string[], RegExp][] = [
    [['--sign-cmd', 'head -c 384 /dev/urandom', '--pubkey', fx('keys/rsa3072-a.pub.pem')], /does not verify with its public key/],
    [['--sign-cmd', 'echo no token >&2; exit 1', '--pubkey', fx('keys/ecdsa256-a.pub.pem')], /exited with status 1: no token/],
    [['--sign-cmd', 'true'], /one --pubkey per external signer/],
    [['--key', fx('keys/ecdsa256-a.pem'), '--pubkey', fx('keys/ecdsa256-a.pub.pem')], /--pubkey is only for/],
    [['--pkcs11-module', '/nonexistent.so', '--pubkey', fx('keys/ecdsa256-a.pub.pem')], /--pkcs11-id/],
  ];
  if (haveOpenssl) cases.push([['--sign-cmd', ossl('ecdsa256-b', false), '--pubkey', fx('keys/ecdsa256-a.pub.pem')], /does not verify with its public key/]);
  for (const [args, msg] of cases) {
    const out = tmp('bad.bin');
    const r = runInProcess('image sign', unsignedC3(), ...args, '--out', out);
    assert.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, msg);
    assert.not.ok(fs.existsSync(out), `${args.join(' ')}: wrote ${out}`);
  }
});

test('image sign --pkcs11-module (SoftHSM2 + pkcs11-tool): ECDSA and RSA blocks that verify (skips when absent)', () => {
  const module = findSoftHsmModule();
  if (!module || spawnSync('pkcs11-tool', ['--version']).error || spawnSync('softhsm2-util', ['--version']).status !== 0 || !haveOpenssl) {
    console.log('  skipped: SoftHSM2 and OpenSC pkcs11-tool are not installed (apt-get install softhsm2 opensc)');
    return;
  }
  const hsm = tmp('hsm');
  fs.mkdirSync(path.join(hsm, 'tokens'), { recursive: true });
  fs.writeFileSync(path.join(hsm, 'softhsm2.conf'), `directories.tokendir = ${hsm}/tokens\nobjectstore.backend = file\nlog.level = ERROR\n`);
  const saved = { conf: process.env.SOFTHSM2_CONF, pin: process.env.OTAFLASH_PKCS11_PIN };
  process.env.SOFTHSM2_CONF = path.join(hsm, 'softhsm2.conf');
  process.env.OTAFLASH_PKCS11_PIN = '1234';
  try {
    const sh = (cmd: string, args: string[]) => assert.is(spawnSync(cmd, args).status, 0, `${cmd} ${args.join(' ')}`);
    sh('softhsm2-util', ['--init-token', '--free', '--label', 'cli-test', '--pin', '1234', '--so-pin', '5678']);
    for (const [k, id] of [['ecdsa256-a', '0a'], ['rsa3072-a', '0b']]) {
      const p8 = path.join(hsm, `${k}.p8`);
      sh('openssl', ['pkcs8', '-topk8', '-nocrypt', '-in', fx(`keys/${k}.pem`), '-out', p8]);
      sh('softhsm2-util', ['--import', p8, '--token', 'cli-test', '--label', k, '--id', id, '--pin', '1234']);
      const out = tmp(`p11-${k}.bin`);
      const r = runInProcess('image sign', unsignedC3(), '--pkcs11-module', module, '--pkcs11-id', id, '--pkcs11-token', 'cli-test', '--pubkey', fx(`keys/${k}.pub.pem`), '--out', out);
      assert.is(r.code, 0, r.stderr);
      assert.is(runInProcess('image verify', out, '--pubkey', fx(`keys/${k}.pub.pem`)).code, 0, k);
    }
  } finally {
    for (const [name, v] of [['SOFTHSM2_CONF', saved.conf], ['OTAFLASH_PKCS11_PIN', saved.pin]] as const) {
      if (v === undefined) delete process.env[name];
      else process.env[name] = v;
    }
  }
});

test('image verify of a V1 file with bytes after the signature: valid for ESP-IDF, and a note that espsecure would reject', () => {
  const f = manifest.files.find((x: { file: string }) => x.file === 'v1/esp32-zephyr.sbv1-ecdsa256-a.bin');
  const padded = tmp('v1-trailing.bin');
  fs.writeFileSync(padded, Buffer.concat([fs.readFileSync(fx(f.file)), Buffer.alloc(16, 0xff)]));
  const r = runInProcess('image verify', padded, '--pubkey', fx('keys/sbv1-ecdsa256-a.pub.pem'));
  assert.is(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /note: espsecure verify-signature with .* would say rejected: signature block has version/);
  // The unmodified file: both agree, no note.
  const ok = runInProcess('image verify', fx(f.file), '--pubkey', fx('keys/sbv1-ecdsa256-a.pub.pem'), '--json');
  const j = JSON.parse(ok.stdout);
  assert.is(j.valid, true);
  assert.is(j.espsecure[0].agrees, true);
  assert.is(j.espsecure[0].answer.outcome, 'valid');
});

test.run();

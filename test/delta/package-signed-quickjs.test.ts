// Signed delta packages and detached signatures inside a bare QuickJS context with the device
// bundle (no BigInt, no atob, no Node): the same verdicts as in Node.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { encodeDeltaPackage, decodeDeltaPackageIndex } from '../../src/delta/package';
import { crc32 } from '../../src/hash/portable';
import { signDetached } from '../../src/node/detached-sign';
import { bundleContext, unwrap } from '../device/qjs';

const KEYS = path.resolve(new URL('../fixtures/signed-images/keys/', import.meta.url).pathname);
const key = (name: string) => fs.readFileSync(path.join(KEYS, name), 'utf8');
const digest = (name: string) => fs.readFileSync(path.join(KEYS, name)).toString('hex');
const sha = (b: Uint8Array) => new Uint8Array(createHash('sha256').update(b).digest());

const image = new Uint8Array(3000).map((_, i) => (i * 13) & 255);
const pkgSignedWith = (k: string) => encodeDeltaPackage({ targetVersion: '2', targetSha256: sha(image), targetSize: image.length, patches: [], fullImage: image, sign: (index) => signDetached(index, [key(k)]) });

test('QuickJS: package signatures (RSA-3072, ECDSA P-256) verify; untrusted, tampered and unsigned as in Node; base64 text decodes', async () => {
  const { rt, ctx } = await bundleContext();
  let fn: ReturnType<typeof unwrap> | null = null;
  try {
    fn = unwrap(ctx, ctx.evalCode(`(function (buf, digestHex, text) {
      var d = new Uint8Array(32);
      for (var i = 0; i < 32; i++) d[i] = parseInt(digestHex.substr(i * 2, 2), 16);
      var pkg = new Uint8Array(buf);
      var idx = OtaFlash.decodeDeltaPackageIndex(pkg, pkg.length);
      var v = OtaFlash.checkDeltaPackageSignature(pkg, idx, { trust: { keyDigests: [d] } });
      var out = { signed: v !== null, valid: v ? v.valid : false, reason: v ? v.reason : null, viaText: null };
      if (text && idx.signature) {
        var sig = OtaFlash.decodeSignatureText(text);
        var w = OtaFlash.verifyDetachedSignature(pkg.subarray(0, idx.indexLength), sig, { trust: { keyDigests: [d] } });
        out.viaText = w.valid && OtaFlash.encodeSignatureText(sig) === text;
      }
      return JSON.stringify(out);
    })`), 'defining the check');
    const check = (pkg: Uint8Array, digestHex: string) => {
      const idx = decodeDeltaPackageIndex(pkg, pkg.length);
      const buf = ctx.newArrayBuffer(pkg.buffer.slice(pkg.byteOffset, pkg.byteOffset + pkg.byteLength));
      const hexs = ctx.newString(digestHex);
      const text = ctx.newString(idx.signature ? Buffer.from(idx.signature).toString('base64') : '');
      const r = ctx.callFunction(fn!, ctx.undefined, buf, hexs, text);
      buf.dispose();
      hexs.dispose();
      text.dispose();
      const s = unwrap(ctx, r, 'check');
      const out = JSON.parse(ctx.getString(s));
      s.dispose();
      return out;
    };
    const rsa = pkgSignedWith('rsa3072-a.pem');
    let r = check(rsa, digest('rsa3072-a.digest.bin'));
    assert.equal([r.signed, r.valid, r.viaText], [true, true, true], r.reason);
    r = check(pkgSignedWith('ecdsa256-a.pem'), digest('ecdsa256-a.digest.bin'));
    assert.equal([r.valid, r.viaText], [true, true], r.reason);
    r = check(rsa, digest('rsa3072-b.digest.bin'));
    assert.equal([r.valid, r.reason], [false, 'block 0: key digest not trusted']);
    // The target SHA-256 changed and the index CRC fixed: only the signature catches it.
    const t = rsa.slice();
    t[20] ^= 1;
    const h = decodeDeltaPackageIndex(rsa, rsa.length).indexLength;
    const c = crc32(t.subarray(0, h - 4));
    t.set([c & 255, (c >>> 8) & 255, (c >>> 16) & 255, c >>> 24], h - 4);
    r = check(t, digest('rsa3072-a.digest.bin'));
    assert.equal([r.valid, r.reason], [false, 'block 0: signature does not verify over the image digest']);
    r = check(encodeDeltaPackage({ targetVersion: '2', targetSha256: sha(image), targetSize: image.length, patches: [], fullImage: image }), digest('rsa3072-a.digest.bin'));
    assert.is(r.signed, false);
  } finally {
    if (fn) fn.dispose();
    ctx.dispose();
    rt.dispose();
  }
});

test.run();

// The portable verifier in the device bundle, inside a bare QuickJS context (no BigInt use, no Node):
// espsecure-signed RSA-3072 files give ESP-IDF's verdicts there too.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { getQuickJS } from 'quickjs-emscripten';
import { deviceBundlePath, ensureBuilt } from '../device/bundle';

const dir = path.resolve(new URL('../fixtures/signed-images/', import.meta.url).pathname);
const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));

const CASES: [string, string][] = [
  ['v2/esp32c3-ram.rsa3072-a.bin', 'rsa3072-a'],
  ['v2/esp32c3-ram.rsa3072-a.bin', 'rsa3072-b'],
  ['tampered/esp32c3-ram.rsa3072-a.image-byte-flip.bin', 'rsa3072-a'],
  ['tampered/esp32c3-ram.rsa3072-a.sig-byte-flip-crc-fixed.bin', 'rsa3072-a'],
  ['tampered/esp32c3-ram.rsa3072-a.digest-field-flip-crc-fixed.bin', 'rsa3072-a'],
  ['tampered/esp32c3-bootloader.rsa3072-ab.block0-crc-wrong.bin', 'rsa3072-b'],
  ['v2/esp32c2-ram.ecdsa256-a.bin', 'ecdsa256-a'],
  ['v2/esp32c6-ram.ecdsa256-ab.bin', 'ecdsa256-b'],
  ['tampered/esp32c2-ram.ecdsa256-a.sig-byte-flip-crc-fixed.bin', 'ecdsa256-a'],
  ['v2/esp32c2-ram.ecdsa192-a.bin', 'ecdsa192-a'],
];
const CHIPS: Record<string, number> = { esp32c3: 5, esp32c2: 12, esp32c6: 13 };

test('QuickJS: portable RSA-PSS and ECDSA verification of espsecure files matches ESP-IDF verdicts and reasons', async () => {
  ensureBuilt();
  const bundle = fs.readFileSync(deviceBundlePath, 'utf8');
  const qjs = await getQuickJS();
  const rt = qjs.newRuntime();
  const ctx = rt.newContext();
  try {
    const load = ctx.evalCode(bundle, 'otaflash.device.js', { type: 'global' });
    if (load.error) throw new Error(JSON.stringify(ctx.dump(load.error)));
    load.value.dispose();
    const fnRes = ctx.evalCode(`(function (buf, digestHex, chip, scheme, curve) {
      var d = new Uint8Array(32);
      for (var i = 0; i < 32; i++) d[i] = parseInt(digestHex.substr(i * 2, 2), 16);
      var v = OtaFlash.verifyImageSignature(new Uint8Array(buf), { trust: { keyDigests: [d] }, verifier: OtaFlash.createPortableSignatureVerifier(), chip: chip, scheme: scheme, curve: curve || undefined });
      return JSON.stringify({ valid: v.valid, reason: v.reason });
    })`);
    if (fnRes.error) throw new Error(JSON.stringify(ctx.dump(fnRes.error)));
    const fn = fnRes.value;
    for (const [file, key] of CASES) {
      const f = manifest.files.find((x: { file: string }) => x.file === file);
      const bytes = fs.readFileSync(path.join(dir, file));
      const buf = ctx.newArrayBuffer(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
      const hexs = ctx.newString(manifest.keys[key].digest);
      const chip = ctx.newNumber(CHIPS[f.chip]);
      const k = manifest.keys[key];
      const scheme = ctx.newString(k.type === 'RSA-3072' ? 'rsa' : 'ecdsa');
      const curve = ctx.newString(k.curve ?? '');
      const r = ctx.callFunction(fn, ctx.undefined, buf, hexs, chip, scheme, curve);
      scheme.dispose();
      curve.dispose();
      buf.dispose();
      hexs.dispose();
      chip.dispose();
      if (r.error) throw new Error(`${file}: ${JSON.stringify(ctx.dump(r.error))}`);
      const got = JSON.parse(ctx.getString(r.value));
      r.value.dispose();
      const want = f.idf_app_model[key];
      assert.is(got.valid ? 'valid' : 'invalid', want.verdict, `${file} ${key}: ${got.reason}`);
      assert.is(got.reason, want.reason, `${file} ${key}`);
    }
    fn.dispose();
  } finally {
    ctx.dispose();
    rt.dispose();
  }
});

test.run();

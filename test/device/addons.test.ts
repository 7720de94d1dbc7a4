// The add-on modules of the slim device build (dist/device/otaflash-<addon>.js, built against the core by
// scripts/build-device.mjs): loaded after the core they extend the one global `OtaFlash`; with every
// add-on the global offers what the whole bundle offers except the host-side pieces the slim build
// leaves out; errors thrown by add-on code are the core's OtaflashError (one class, not a copy); a
// detools patch made by the reference tool applies byte for byte through the delta add-on; an add-on
// loaded before what it builds on says so. In QuickJS as an ES2015 engine and as an ES5 one.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { getQuickJS, type QuickJSContext } from 'quickjs-emscripten';
import { deviceDir, ensureBuilt, repoRoot } from './bundle';
import { ES2015_APIS_POLYFILLED, LATER_THAN_ES2015, deleteApisScript } from './es-checks';
import { unwrap } from './qjs';
import * as csvModule from '../../src/formats/partition-csv';
import * as verifyModule from '../../src/formats/partition-verify';
import * as utf8Module from '../../src/formats/utf8';

ensureBuilt();

/** Load order: each after the add-ons it builds on (scripts/build-device.mjs ADDONS). */
const ADDONS = ['signature', 'delta', 'store', 'scratchpad', 'agent'];
/** In the whole bundle, deliberately not in core + add-ons: CSV parsing and table checks, image inspection, UTF-8 helpers. */
const WHOLE_ONLY = new Set([
  ...Object.keys(csvModule), ...Object.keys(verifyModule), ...Object.keys(utf8Module), 'verifyImage', 'inspectImage', 'parseAppImage',
]);
const PAIR = path.join(repoRoot, 'test/fixtures/firmware-pairs/esp32-bootloader');
const read = (f: string) => fs.readFileSync(path.join(deviceDir, f), 'utf8');

let quickjs: Awaited<ReturnType<typeof getQuickJS>> | null = null;

async function withContext<T>(scripts: Array<[string, string]>, body: (ctx: QuickJSContext) => T): Promise<T> {
  quickjs ??= await getQuickJS();
  const ctx = quickjs.newContext();
  try {
    for (const [name, code] of scripts) unwrap(ctx, ctx.evalCode(code, name, { type: 'global' }), name).dispose();
    return body(ctx);
  } finally {
    ctx.dispose();
  }
}

function evalString(ctx: QuickJSContext, expr: string): string {
  const v = unwrap(ctx, ctx.evalCode(expr, 'expr.js', { type: 'global' }), expr);
  const s = ctx.getString(v);
  v.dispose();
  return s;
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

const FLAVOURS: Array<{ name: string; prelude: Array<[string, string]>; file: (base: string) => string }> = [
  { name: 'ES2015', prelude: [['later-apis-deleted.js', deleteApisScript(LATER_THAN_ES2015)]], file: (b) => `${b}.min.js` },
  {
    name: 'ES5',
    prelude: [['as-es5.js', deleteApisScript([...ES2015_APIS_POLYFILLED, ...LATER_THAN_ES2015])], ['polyfills.es5.js', read('polyfills.es5.js')]],
    file: (b) => `${b}.es5.min.js`,
  },
];

for (const fl of FLAVOURS) {
  const all: Array<[string, string]> = [...fl.prelude, [fl.file('otaflash-core'), read(fl.file('otaflash-core'))]];
  for (const a of ADDONS) all.push([fl.file(`otaflash-${a}`), read(fl.file(`otaflash-${a}`))]);

  test(`${fl.name}: core + add-ons offer what the whole bundle offers (but the host-side pieces)`, async () => {
    const whole = await withContext([...fl.prelude, [fl.file('otaflash'), read(fl.file('otaflash'))]], (ctx) => evalString(ctx, 'Object.keys(OtaFlash).sort().join()'));
    const split = await withContext(all, (ctx) => evalString(ctx, 'Object.keys(OtaFlash).sort().join()'));
    const have = new Set(split.split(','));
    const missing = whole.split(',').filter((k) => !have.has(k) && !WHOLE_ONLY.has(k));
    assert.equal(missing, [], 'in the whole bundle, in no add-on');
    for (const k of ['DeltaUpdate', 'DeltaPackageUpdate', 'ImageStore', 'UpdateAgent', 'createPortableSignatureVerifier', 'parseScratchpad', 'OtaEngine']) assert.ok(have.has(k), k);
  });

  test(`${fl.name}: add-on code throws the core's OtaflashError`, async () => {
    const r = await withContext(all, (ctx) =>
      evalString(ctx, `(function () {
        var out = [];
        try { OtaFlash.decodeDeltaPackageIndex(new Uint8Array(4)); out.push('no error'); } catch (e) { out.push(e instanceof OtaFlash.OtaflashError, e.code); }
        try { OtaFlash.parseScratchpad(new Uint8Array(8)); out.push('no error'); } catch (e) { out.push(e instanceof OtaFlash.OtaflashError, e.code); }
        return out.join();
      })()`),
    );
    assert.match(r, /^true,[A-Z_]+,true,[A-Z_]+$/);
  });

  test(`${fl.name}: a detools patch (reference tool) applies byte for byte through the delta add-on`, async () => {
    const old = new Uint8Array(fs.readFileSync(path.join(PAIR, 'old.bin')));
    const want = new Uint8Array(fs.readFileSync(path.join(PAIR, 'new.bin')));
    for (const p of ['sequential-heatshrink.patch', 'sequential-lzma.patch']) {
      const patch = new Uint8Array(fs.readFileSync(path.join(PAIR, 'detools', p)));
      const got = await withContext(all, (ctx) =>
        evalString(ctx, `(function () {
          function fromHex(h) { var b = new Uint8Array(h.length / 2); for (var i = 0; i < b.length; i++) b[i] = parseInt(h.substr(i * 2, 2), 16); return b; }
          var out = OtaFlash.applyPatchToBytes(fromHex('${hex(old)}'), fromHex('${hex(patch)}'));
          var s = ''; for (var i = 0; i < out.length; i++) s += (out[i] < 16 ? '0' : '') + out[i].toString(16);
          return s;
        })()`),
      );
      assert.ok(got === hex(want), `${p}: output differs from new.bin`);
    }
  });

  test(`${fl.name}: an add-on loaded before what it builds on says what to load first`, async () => {
    const r = await withContext([...fl.prelude, [fl.file('otaflash-core'), read(fl.file('otaflash-core'))]], (ctx) => {
      const res = ctx.evalCode(read(fl.file('otaflash-agent')), 'agent.js', { type: 'global' });
      if (!res.error) {
        res.value.dispose();
        return 'loaded';
      }
      const e = ctx.dump(res.error) as { message?: string };
      res.error.dispose();
      return String(e.message);
    });
    assert.match(r, /otaflash-agent: load otaflash-signature first/);
    const none = await withContext(fl.prelude, (ctx) => {
      const res = ctx.evalCode(read(fl.file('otaflash-store')), 'store.js', { type: 'global' });
      const msg = res.error ? String((ctx.dump(res.error) as { message?: string }).message) : 'loaded';
      (res.error ?? res.value).dispose();
      return msg;
    });
    assert.match(none, /load the otaflash core first/);
  });
}

test.run();

// The ES5 device builds (Duktape, Espruino): each output parses as an ES5 script, declares its functions
// before any other statement of their scope (Espruino does not hoist), names no variable Espruino takes
// as a keyword, keeps OtaflashError's instanceof and code after lowering and minifying, and runs the
// engine scenario in QuickJS made to look like an ES5 engine (the ES2015+ APIs the polyfills cover and
// everything later deleted first, then polyfills.es5.js). Plus the polyfills against the native
// functions, and the two Espruino findings in the library (typed-array slice, string literals above
// 0xFF) as regressions; in Espruino itself when ENGINES names built engines.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { getQuickJS } from 'quickjs-emscripten';
import * as lib from '../../src/index';
import { deviceDir, ensureBuilt, repoRoot } from './bundle';
import { ES2015_APIS_POLYFILLED, LATER_THAN_ES2015, deleteApisScript, laterApiUses, syntaxError } from './es-checks';
import { runScenarioInQuickJs } from './es2015.test';
import { unwrap } from './qjs';
// @ts-expect-error: a plain .mjs build script without type declarations
import { lateFunctionDeclarations, lowerToEs5, renameEspruinoReserved } from '../../scripts/build-device.mjs';

ensureBuilt();

const ES5_OUTPUTS = fs.readdirSync(deviceDir).filter((f) => /\.es5(\.min)?\.js$/.test(f)).sort();
const POLYFILLS = fs.readFileSync(path.join(deviceDir, 'polyfills.es5.js'), 'utf8');
const read = (f: string) => fs.readFileSync(path.join(deviceDir, f), 'utf8');
/** QuickJS as an ES5 engine: what the polyfills provide and everything after ES2015 deleted. */
const AS_ES5_ENGINE = deleteApisScript([...ES2015_APIS_POLYFILLED, ...LATER_THAN_ES2015]);

test('the ES5 outputs are all there', () => {
  for (const f of ['otaflash-core.es5.js', 'otaflash-core.es5.min.js', 'otaflash.es5.js', 'otaflash.es5.min.js', 'polyfills.es5.js']) {
    assert.ok(ES5_OUTPUTS.includes(f), f);
  }
});

for (const f of ES5_OUTPUTS) {
  test(`${f}: ES5, functions declared first, no Espruino keyword as a name, no later API`, () => {
    const code = read(f);
    assert.is(syntaxError(code, 5), null, `${f} does not parse as ES5`);
    assert.equal(lateFunctionDeclarations(code), [], `${f}: function declarations after other statements`);
    assert.is(renameEspruinoReserved(code), code, `${f} names a variable with a word Espruino reserves`);
    assert.equal(laterApiUses(code, 5), []);
  });
}

test('the ES5 checks are not vacuous', () => {
  assert.ok(syntaxError('let a = 1;', 5));
  assert.ok(syntaxError('var f = () => 1;', 5));
  assert.equal(lateFunctionDeclarations('var a = f(); function f() { return 1; }'), ['f']);
  assert.equal(lateFunctionDeclarations('"use strict"; function f() {} var a = f();'), []);
  // a class lowered by TypeScript calls __extends(Sub, _super) before `function Sub` unless reordered
  const lowered = lowerToEs5('class A {} class B extends A { constructor() { super(); this.x = 1; } }', 'x.js');
  assert.equal(lateFunctionDeclarations(lowered), []);
  assert.is(syntaxError(lowered, 5), null);
  assert.is(renameEspruinoReserved('function f(of) { var o = { of: of }; return o.of + of; }'), 'function f(of$0) { var o = { of: of$0 }; return o.of + of$0; }');
  assert.is(renameEspruinoReserved('var of$0 = 1; function g(of) { return of; }'), 'var of$0 = 1; function g(of$1) { return of$1; }');
});

let quickjs: Awaited<ReturnType<typeof getQuickJS>> | null = null;

async function evalInEs5QuickJs(scripts: Array<[string, string]>, expr: string): Promise<string> {
  quickjs ??= await getQuickJS();
  const ctx = quickjs.newContext();
  try {
    unwrap(ctx, ctx.evalCode(AS_ES5_ENGINE, 'as-es5.js', { type: 'global' }), 'deleting APIs').dispose();
    for (const [name, code] of scripts) unwrap(ctx, ctx.evalCode(code, name, { type: 'global' }), name).dispose();
    const v = unwrap(ctx, ctx.evalCode(expr, 'expr.js', { type: 'global' }), expr);
    const s = ctx.getString(v);
    v.dispose();
    return s;
  } finally {
    ctx.dispose();
  }
}

test('QuickJS made an ES5 engine really lacks the polyfilled APIs until polyfills.es5.js runs', async () => {
  const probe = '[typeof Array.from, typeof Uint8Array.from, typeof new Uint8Array(1).fill, typeof new Uint8Array(1).slice, typeof Object.assign, typeof Number.isSafeInteger, typeof [].find].join()';
  assert.is(await evalInEs5QuickJs([], probe), 'undefined,undefined,undefined,undefined,undefined,undefined,undefined');
  assert.is(await evalInEs5QuickJs([['polyfills.es5.js', POLYFILLS]], probe), 'function,function,function,function,function,function,function');
});

test('polyfills behave as the native functions (Node as the reference)', async () => {
  const cases = [
    'Array.prototype.slice.call(Uint8Array.from([1, 2, 300]))',
    'Array.prototype.slice.call(Uint32Array.from({ length: 3 }, function (_, i) { return i * 7; }))',
    'Array.from({ length: 3 }, function (_, i) { return i * 2; })',
    'Array.prototype.slice.call(new Uint8Array(5).fill(9, 1, -1))',
    '[1, 2, 3, 4].fill(0, -2)',
    '(function () { var a = Uint8Array.from([1, 2, 3, 4, 5]); var b = a.slice(1, -1); b[0] = 99; return [b instanceof Uint8Array, Array.prototype.slice.call(b), a[1]]; })()',
    'Array.prototype.slice.call(new Uint8Array(0).slice(3))',
    'Array.prototype.slice.call(Uint8Array.from([1, 2, 3, 4, 5, 6]).copyWithin(2, 0, 4))',
    'Array.prototype.slice.call(Uint8Array.from([1, 2, 3, 4, 5, 6]).copyWithin(0, 2))',
    '[[1, 2, 3].find(function (x) { return x > 1; }), [1, 2, 3].findIndex(function (x) { return x > 5; })]',
    'Object.assign({ a: 1 }, null, { b: 2 }, { a: 3 })',
    '[Number.isSafeInteger(9007199254740991), Number.isSafeInteger(9007199254740992), Number.isInteger(1.5), Number.MAX_SAFE_INTEGER]',
    '[Math.imul(0xffffffff, 5), Math.imul(0x7fffffff, 0x7fffffff), Math.imul(-3, 4)]',
  ];
  for (const c of cases) {
    const expected = JSON.stringify(new Function(`return ${c};`)());
    // the natives that stay (Array.prototype.slice) are ES3; the ones tested are the polyfills'
    const got = await evalInEs5QuickJs([['polyfills.es5.js', POLYFILLS]], `JSON.stringify(${c})`);
    assert.is(got, expected, c);
  }
});

/** The names the engine scenario (and device code written for the first bundle) uses: in every build. */
const KEPT_NAMES = ['OtaEngine', 'readPartitionTable', 'encodePartitionTable', 'portableHashes', 'crc32', 'simulateReboot', 'otaStateName', 'OtaflashError', 'MemoryFlash', 'buildAppImage', 'CHIP_IDS'];

for (const f of ['otaflash.js', 'otaflash.min.js', 'otaflash-core.js', 'otaflash-core.min.js', 'otaflash-core.es5.js', 'otaflash-core.es5.min.js', 'otaflash.es5.js', 'otaflash.es5.min.js']) {
  test(`${f}: defines the names device code relies on`, async () => {
    const r = await evalInEs5QuickJs([['polyfills.es5.js', POLYFILLS], [f, read(f)]], `${JSON.stringify(KEPT_NAMES)}.filter(function (k) { return OtaFlash[k] === undefined; }).join()`);
    assert.is(r, '', `${f} lacks these`);
  });
}

for (const f of ['otaflash-core.es5.js', 'otaflash-core.es5.min.js', 'otaflash.es5.min.js']) {
  test(`${f}: OtaflashError keeps instanceof, code and name after lowering`, async () => {
    const r = await evalInEs5QuickJs([['polyfills.es5.js', POLYFILLS], [f, read(f)]], `(function () {
      try { OtaFlash.decodeOtaEntry(new Uint8Array(3)); return 'no error'; }
      catch (e) { return [e instanceof OtaFlash.OtaflashError, e instanceof Error, e.name, e.code, typeof e.message].join(); }
    })()`);
    assert.is(r, 'true,true,OtaflashError,OTADATA_BAD_SIZE,string');
    // a subclass of the subclass keeps both
    const p = await evalInEs5QuickJs([['polyfills.es5.js', POLYFILLS], [f, read(f)]], `(function () {
      var e = new OtaFlash.PowerLossError('cut');
      return [e instanceof OtaFlash.PowerLossError, e instanceof OtaFlash.OtaflashError, e instanceof Error, e.name, e.code, OtaFlash.isOtaflashError(e, 'POWER_LOSS')].join();
    })()`);
    assert.is(p, 'true,true,true,PowerLossError,POWER_LOSS,true');
  });

  test(`${f}: the engine scenario passes in QuickJS as an ES5 engine with the polyfills`, async () => {
    const r = await runScenarioInQuickJs(AS_ES5_ENGINE + '\n' + POLYFILLS, read(f), f);
    assert.ok(r.ok === true, `scenario failed: ${JSON.stringify({ step: r.step, error: r.error, stack: r.stack })}`);
    assert.is(r.finalBootState, 'VALID');
  });
}

// ------------------------------------------------------------------- Espruino's findings, as regressions

/** A Uint8Array whose slice() returns a plain Array, as Espruino 2v29's typed arrays do. */
class EspruinoLikeBytes extends Uint8Array {
  override slice(start?: number, end?: number): Uint8Array<ArrayBuffer> {
    return Array.prototype.slice.call(this, start, end) as unknown as Uint8Array<ArrayBuffer>;
  }
}

test('otadata: an entry decoded from bytes whose slice() gives an Array encodes again (Espruino)', () => {
  const entry = lib.makeOtaEntry(7, lib.OTA_STATE.VALID);
  const raw = lib.encodeOtaEntry(entry);
  const espruinoLike = new EspruinoLikeBytes(raw.length);
  espruinoLike.set(raw);
  const decoded = lib.decodeOtaEntry(espruinoLike);
  assert.ok(decoded.seqLabel instanceof Uint8Array);
  assert.equal(lib.encodeOtaEntry(decoded), raw);
  const label = new EspruinoLikeBytes(20);
  label.fill(0x41);
  assert.equal(lib.encodeOtaEntry(lib.makeOtaEntry(3, lib.OTA_STATE.NEW, label)).subarray(4, 24), new Uint8Array(20).fill(0x41));
  assert.equal(lib.encodeOtaEntry(lib.withOtaState(decoded, lib.OTA_STATE.PENDING_VERIFY)).subarray(4, 24), raw.subarray(4, 24));
});

test('the ES5 builds hold no lookup string with characters above 0xFF in the CSV parser (Espruino indexes such literals as UTF-8)', () => {
  // pythonStrip and pythonSplitLines compare code units as numbers now; a literal like '\u1680\u2000...'
  // used with indexOf would show up here as a string literal with those characters
  const src = fs.readFileSync(path.join(repoRoot, 'src/formats/partition-python.ts'), 'utf8');
  assert.not.match(src, /'[^'\n]*\\u(1680|2000|2028|3000)[^'\n]*'/);
  assert.not.match(src, /\[[^\]\n]*\\u2028[^\]\n]*\]/);
  assert.equal(lib.parsePartitionCsv('# c\n nvs, data, nvs, 0x9000, 0x4000\u3000\n\u2028factory, app, factory, 0x10000, 1M,\r\n').partitions.map((p) => p.label), ['nvs', 'factory']);
});

const ENGINES = process.env.ENGINES;
const espruino = ENGINES ? path.join(ENGINES, 'espruino', 'espruino') : '';
if (espruino && fs.existsSync(espruino)) {
  test('in Espruino: CSV with comments and padding parses, otadata entries round-trip (whole ES5 build)', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'otaflash-es5-'));
    try {
      const probe = `
var t = OtaFlash.parsePartitionCsv('# Name, Type, SubType, Offset, Size, Flags\\n' + 'nvs,      data, nvs,     0x9000,  0x4000,\\n' + 'factory,  app,  factory, 0x10000,  1M,\\n');
var e = OtaFlash.decodeOtaEntry(OtaFlash.encodeOtaEntry(OtaFlash.makeOtaEntry(5, OtaFlash.OTA_STATE.VALID)));
console.log('PROBE ' + JSON.stringify({ labels: t.partitions.map(function (p) { return p.label; }), size: t.partitions[1].size, again: OtaFlash.encodeOtaEntry(e).length, seq: e.seq }));`;
      fs.writeFileSync(path.join(dir, 'probe.js'), POLYFILLS + '\n' + read('otaflash.es5.min.js') + '\n' + probe);
      const r = spawnSync(espruino, [path.join(dir, 'probe.js')], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
      const line = (r.stdout ?? '').split('\n').find((l) => l.startsWith('PROBE '));
      assert.ok(line, `no result from Espruino: ${(r.stdout ?? '').slice(-800)}`);
      assert.equal(JSON.parse(line!.slice(6)), { labels: ['nvs', 'factory'], size: 0x100000, again: 32, seq: 5 });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
} else {
  console.log('es5.test.ts: the Espruino regression run skipped (set ENGINES to a folder built by test/engines/build.sh)');
  test.skip('in Espruino: CSV and otadata round-trip (skipped: no ENGINES)', () => {});
}

test.run();

// The ES2015 device builds are ES2015 in truth: each parses as an ES2015 script, names no API of a
// later edition (static check), and runs the engine scenario (test/engines/scenario.js: an A/B update,
// two simulated reboots, read-back) in QuickJS after the later APIs were deleted from its globals and
// prototypes, so a call that slipped past the static check (Array.prototype.includes, .at) fails here.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { getQuickJS } from 'quickjs-emscripten';
import { deviceDir, ensureBuilt, repoRoot } from './bundle';
import { LATER_THAN_ES2015, deleteApisScript, laterApiUses, syntaxError } from './es-checks';
import { unwrap } from './qjs';

ensureBuilt();

const ES2015_BUILDS = fs.readdirSync(deviceDir).filter((f) => /^otaflash(-[a-z]+)?(\.min)?\.js$/.test(f)).sort();
const SCENARIO = fs.readFileSync(path.join(repoRoot, 'test/engines/scenario.js'), 'utf8');
/** A smaller image than the engines' 256 KiB: the same code paths, a quarter of QuickJS's hashing time. */
const SCENARIO_OPTS = { imageSize: 64 * 1024, flash: 'sparse', library: true };

test('the ES2015 device builds are all there', () => {
  for (const f of ['otaflash.js', 'otaflash.min.js', 'otaflash-core.js', 'otaflash-core.min.js']) assert.ok(ES2015_BUILDS.includes(f), f);
});

test('the checks see what they look for (not vacuous)', () => {
  assert.ok(syntaxError('var o = { ...a };', 2015), 'object spread is ES2018');
  assert.ok(syntaxError('x ** 2;', 2015), '** is ES2016');
  assert.is(syntaxError('class A { m() { return `${1}`; } }', 2015), null);
  const uses = laterApiUses('Object.hasOwn(a, "b"); Object.getOwnPropertyDescriptors(a); Object["values"](a); s.padStart(2); globalThis.x; var y = { globalThis: 1, values: 2 }; a.values; z.entries();');
  assert.equal(uses.map((u) => u.replace(/ \(line \d+\)$/, '')), ['Object.hasOwn', 'Object.getOwnPropertyDescriptors', 'Object["values"]', '.padStart()', 'globalThis']);
});

for (const f of ES2015_BUILDS) {
  test(`${f}: an ES2015 script that calls no later API`, () => {
    const code = fs.readFileSync(path.join(deviceDir, f), 'utf8');
    assert.is(syntaxError(code, 2015), null, `${f} does not parse as ES2015`);
    assert.equal(laterApiUses(code), [], `${f} uses APIs later than ES2015`);
  });
}

let quickjs: Awaited<ReturnType<typeof getQuickJS>> | null = null;

/** Runs scenario.js after `prelude` and `bundle` in a fresh QuickJS context; returns its result object. */
export async function runScenarioInQuickJs(prelude: string, bundle: string, name: string): Promise<Record<string, unknown>> {
  quickjs ??= await getQuickJS();
  const rt = quickjs.newRuntime();
  const ctx = rt.newContext();
  try {
    const opts = JSON.stringify({ ...SCENARIO_OPTS, engine: 'quickjs', bundle: name });
    unwrap(ctx, ctx.evalCode(`var print = function () {}; var __T0 = Date.now(); var SCENARIO_OPTS = ${opts};`, 'opts.js', { type: 'global' }), 'options').dispose();
    unwrap(ctx, ctx.evalCode(prelude, 'prelude.js', { type: 'global' }), 'the prelude').dispose();
    unwrap(ctx, ctx.evalCode(bundle, name, { type: 'global' }), `loading ${name}`).dispose();
    // SCENARIO_OPTS.library: scenario.js only defines its functions; the run is the call below
    unwrap(ctx, ctx.evalCode(SCENARIO, 'scenario.js', { type: 'global' }), 'the scenario').dispose();
    const again = unwrap(ctx, ctx.evalCode('JSON.stringify(runScenario())', 'result.js', { type: 'global' }), 'the scenario result');
    const out = JSON.parse(ctx.getString(again)) as Record<string, unknown>;
    again.dispose();
    return out;
  } finally {
    ctx.dispose();
    rt.dispose();
  }
}

for (const f of ES2015_BUILDS.filter((b) => /^otaflash(-core)?(\.min)?\.js$/.test(b))) {
  test(`${f}: the engine scenario passes in QuickJS without the APIs later than ES2015`, async () => {
    const bundle = fs.readFileSync(path.join(deviceDir, f), 'utf8');
    const r = await runScenarioInQuickJs(deleteApisScript(LATER_THAN_ES2015), bundle, f);
    assert.ok(r.ok === true, `scenario failed: ${JSON.stringify({ step: r.step, error: r.error, stack: r.stack })}`);
    assert.is(r.hashValid, true);
    assert.is(r.finalBootState, 'VALID');
  });
}

test('OtaFlash holds plain values, not getters (fewer closures on a small heap)', async () => {
  quickjs ??= await getQuickJS();
  for (const f of ['otaflash.min.js', 'otaflash-core.min.js']) {
    const ctx = quickjs.newContext();
    try {
      unwrap(ctx, ctx.evalCode(fs.readFileSync(path.join(deviceDir, f), 'utf8'), f, { type: 'global' }), f).dispose();
      const v = unwrap(ctx, ctx.evalCode(`(function () { var n = 0, getters = 0; for (var k in OtaFlash) { n++; if (Object.getOwnPropertyDescriptor(OtaFlash, k).get) getters++; } return n + ',' + getters + ',' + (typeof OtaFlash.OtaEngine); })()`), 'probe');
      const [n, getters, engine] = ctx.getString(v).split(',');
      v.dispose();
      assert.ok(Number(n) > 100, `${f}: ${n} exports`);
      assert.is(getters, '0', `${f}: exports as getters`);
      assert.is(engine, 'function');
    } finally {
      ctx.dispose();
    }
  }
});

test('QuickJS really lost the later APIs (the deletion is not a no-op)', async () => {
  quickjs ??= await getQuickJS();
  const ctx = quickjs.newContext();
  try {
    unwrap(ctx, ctx.evalCode(deleteApisScript(LATER_THAN_ES2015), 'del.js', { type: 'global' }), 'deleting').dispose();
    const v = unwrap(ctx, ctx.evalCode('[typeof Object.hasOwn, typeof [].includes, typeof new Uint8Array(1).at, typeof "".padStart, typeof globalThis, typeof BigInt, typeof Object.getOwnPropertyDescriptors].join()'), 'probe');
    assert.is(ctx.getString(v), 'undefined,undefined,undefined,undefined,undefined,undefined,undefined');
    v.dispose();
  } finally {
    ctx.dispose();
  }
});

test.run();

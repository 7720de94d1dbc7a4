// The device bundle, proven in a small engine: dist/device/otaflash.js is loaded into a bare QuickJS
// context (no console, timers, TextEncoder or Node APIs) and runs a whole OTA update there. The flash
// bytes it ends with must equal those of the same flow run in Node, and the heap must stay within a
// fixed budget beyond the flash backing store and one input chunk (streaming, not buffering).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { getQuickJS } from 'quickjs-emscripten';
import * as lib from '../../src/index';
import { deviceBundlePath, deviceMinBundlePath, ensureBuilt, repoRoot } from './bundle';
import { FLOW_CHUNK, FLOW_FLASH_SIZE, UPDATE_FLOW_SOURCE, type FlowResult } from './update-flow';
import { unwrap, usedBytes } from './qjs';

const VECTORS = path.resolve(repoRoot, 'test/fixtures');
const REAL_APP = path.join(VECTORS, 'app-images/esp-serial-flasher/hello_world-esp32c3.bin');
/** The budget: heap growth during a 256 KiB update beyond the flash bytes and one chunk. */
const HEAP_BUDGET = 48 * 1024;
const BIG_IMAGE_SIZE = 256 * 1024;

if (!fs.existsSync(REAL_APP)) throw new Error(`fixture missing: ${REAL_APP}`);

/**
 * A valid app image of exactly `size` bytes: the segments, header and app description of a real
 * ESP-IDF app, plus one padding segment (load address 0, which the bootloader does not load) to reach
 * the size.
 */
function paddedImage(size: number): Uint8Array {
  const real = lib.parseAppImage(new Uint8Array(fs.readFileSync(REAL_APP)));
  const segments = real.segments.map((s) => ({ loadAddress: s.loadAddress, data: s.data }));
  const header = real.header;
  const appDesc = real.appDesc ?? undefined;
  let end = 24;
  for (const s of segments) end += 8 + s.data.length;
  // Total = roundup(end + 8 + pad + 1, 16) + 32: choose pad so the checksum block ends at size - 32.
  const pad = size - 32 - 16 - (end + 8);
  const filler = new Uint8Array(pad);
  for (let i = 0; i < pad; i++) filler[i] = (i * 131 + 7) & 0xff;
  const image = lib.buildAppImage({ segments: segments.concat([{ loadAddress: 0, data: filler }]), header, appDesc, hashAppended: true });
  assert.is(image.length, size, 'padded image size');
  lib.verifyImage(image); // a broken fixture would make every later assertion meaningless
  return image;
}

function runInNode(image: Uint8Array): { bytes: Uint8Array; result: FlowResult } {
  const flow = new Function(`${UPDATE_FLOW_SOURCE}; return otaflashUpdateFlow;`)() as (
    l: unknown, size: number, read: (at: number) => Uint8Array, sample: () => void,
  ) => { dev: lib.MemoryFlash; result: FlowResult };
  const out = flow(lib, image.length, (at) => image.slice(at, Math.min(at + FLOW_CHUNK, image.length)), () => undefined);
  return { bytes: out.dev.bytes, result: out.result };
}

interface QuickJsRun {
  bytes: Uint8Array;
  result: FlowResult;
  baseline: number;
  peak: number;
  afterFlash: number;
  emptyContext: number;
  afterBundle: number;
}

let quickjs: Awaited<ReturnType<typeof getQuickJS>> | null = null;



async function runInQuickJs(image: Uint8Array, bundle: string, keepChunks = false): Promise<QuickJsRun> {
  quickjs ??= await getQuickJS();
  const rt = quickjs.newRuntime();
  const ctx = rt.newContext();
  try {
    const emptyContext = usedBytes(rt, ctx);
    unwrap(ctx, ctx.evalCode(bundle, 'otaflash.device.js', { type: 'global' }), 'loading the bundle').dispose();
    const afterBundle = usedBytes(rt, ctx);
    unwrap(ctx, ctx.evalCode(`${UPDATE_FLOW_SOURCE}; 0`, 'flow.js', { type: 'global' }), 'loading the flow').dispose();
    // A bare context: prove it (the bundle must not have needed any of these).
    const globals = unwrap(ctx, ctx.evalCode("[typeof console, typeof setTimeout, typeof TextEncoder, typeof process, typeof require, typeof OtaFlash].join(',')"), 'probe');
    assert.is(ctx.getString(globals), 'undefined,undefined,undefined,undefined,undefined,object');
    globals.dispose();

    let baseline = usedBytes(rt, ctx);
    let peak = 0;
    let samples = 0;
    let afterFlash = 0;
    const sample = ctx.newFunction('sample', () => {
      const used = usedBytes(rt, ctx);
      if (samples === 0) afterFlash = used;
      samples++;
      if (used > peak) peak = used;
    });
    // The host hands over one chunk per call as a fresh ArrayBuffer; a tiny in-engine wrapper makes
    // it a Uint8Array. Once the flow drops it, QuickJS's reference counting frees it at once.
    const wrapFactory = unwrap(
      ctx,
      ctx.evalCode('(function (raw) { return function (at) { return new Uint8Array(raw(at)); }; })'),
      'wrapper',
    );
    const rawChunk = ctx.newFunction('rawChunk', (atHandle) => {
      const at = ctx.getNumber(atHandle);
      const piece = image.slice(at, Math.min(at + FLOW_CHUNK, image.length));
      return ctx.newArrayBuffer(piece.buffer);
    });
    const reader = unwrap(ctx, ctx.callFunction(wrapFactory, ctx.undefined, rawChunk), 'making the reader');
    wrapFactory.dispose();
    rawChunk.dispose();

    const flow = ctx.getProp(ctx.global, 'otaflashUpdateFlow');
    const libHandle = ctx.getProp(ctx.global, 'OtaFlash');
    const size = ctx.newNumber(image.length);
    const keep = keepChunks ? ctx.true : ctx.false;
    baseline = usedBytes(rt, ctx);
    const outHandle = unwrap(ctx, ctx.callFunction(flow, ctx.undefined, libHandle, size, reader, sample, keep), 'the update flow');
    [flow, libHandle, size, reader, sample].forEach((h) => h.dispose());

    const resultHandle = ctx.getProp(outHandle, 'result');
    const result = ctx.dump(resultHandle) as FlowResult;
    resultHandle.dispose();
    const bufHandle = unwrap(ctx, ctx.evalCode('(function (o) { return o.dev.bytes.buffer; })'), 'accessor');
    const ab = unwrap(ctx, ctx.callFunction(bufHandle, ctx.undefined, outHandle), 'reading the flash');
    const bytes = new Uint8Array(ctx.getArrayBuffer(ab).value.slice(0)); // copy before dispose
    [bufHandle, ab, outHandle].forEach((h) => h.dispose());
    return { bytes, result, baseline, peak, afterFlash, emptyContext, afterBundle };
  } finally {
    ctx.dispose();
    rt.dispose();
  }
}

function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;

/** Heap a bare QuickJS context needs to hold the loaded bundle (QuickJS keeps function source text). */
async function loadCost(bundle: string): Promise<{ cost: number; exports: string[] }> {
  quickjs ??= await getQuickJS();
  const rt = quickjs.newRuntime();
  const ctx = rt.newContext();
  try {
    const before = usedBytes(rt, ctx);
    unwrap(ctx, ctx.evalCode(bundle, 'bundle.js', { type: 'global' }), 'loading the bundle').dispose();
    const cost = usedBytes(rt, ctx) - before;
    const n = unwrap(ctx, ctx.evalCode('Object.keys(OtaFlash).sort().join(",")'), 'listing exports');
    const exports = ctx.getString(n).split(',');
    n.dispose();
    return { cost, exports };
  } finally {
    ctx.dispose();
    rt.dispose();
  }
}

test('device bundle: minified and gzipped sizes, and the heap it takes once loaded in QuickJS', async () => {
  ensureBuilt();
  const full = fs.readFileSync(deviceBundlePath);
  const min = fs.readFileSync(deviceMinBundlePath);
  const gz = zlib.gzipSync(min, { level: 9 });
  const fullLoad = await loadCost(full.toString('utf8'));
  const minLoad = await loadCost(min.toString('utf8'));
  console.log(
    `  device bundle: otaflash.js ${full.length} B, otaflash.min.js ${min.length} B, min+gzip ${gz.length} B; ` +
      `QuickJS heap once loaded: ${kib(fullLoad.cost)} (otaflash.js), ${kib(minLoad.cost)} (min)`,
  );
  assert.ok(min.length < full.length, 'the minified bundle is smaller');
  assert.equal(minLoad.exports, fullLoad.exports, 'both bundles export the same names');
  // The list: devices, tables, otadata, image verification, the engine, the bootloader model.
  for (const name of ['MemoryFlash', 'RegionFlash', 'readPartitionTable', 'parsePartitionCsv', 'readOtadata', 'createImageVerifier', 'OtaEngine', 'decideBoot', 'simulateReboot', 'portableHashes']) {
    assert.ok(fullLoad.exports.indexOf(name) >= 0, `the device bundle exports ${name}`);
  }
});

for (const which of ['real', 'padded']) {
  test(`QuickJS runs a whole update (${which === 'real' ? 'real hello_world-esp32c3 image' : '256 KiB image'}) to the same flash bytes as Node`, async () => {
    ensureBuilt();
    const image = which === 'real' ? new Uint8Array(fs.readFileSync(REAL_APP)) : paddedImage(BIG_IMAGE_SIZE);
    const node = runInNode(image);
    const qjs = await runInQuickJs(image, fs.readFileSync(deviceBundlePath, 'utf8'));

    // The flow did what an update does, on both sides.
    for (const r of [node.result, qjs.result]) {
      assert.is(r.target, 'ota_1');
      assert.is(r.bytesWritten, image.length);
      assert.is(r.verdictSize, image.length);
      assert.is(r.hashValid, true);
      assert.is(r.firstBoot, 'ota_1');
      assert.is(r.firstBootState, 'PENDING_VERIFY');
      assert.is(r.stateAfterConfirm, 'VALID');
      assert.is(r.finalBoot, 'ota_1');
      assert.is(r.finalBootState, 'VALID');
    }
    assert.equal(qjs.result, node.result);
    assert.is(qjs.bytes.length, FLOW_FLASH_SIZE);
    const diff = firstDifference(qjs.bytes, node.bytes);
    assert.is(diff, -1, `QuickJS flash differs from Node's at 0x${diff.toString(16)}`);
    // And the image really is in ota_1, byte for byte.
    assert.is(firstDifference(qjs.bytes.subarray(0x60000, 0x60000 + image.length), image), -1, 'image bytes in ota_1');

    const growth = qjs.peak - qjs.baseline;
    const beyond = growth - FLOW_FLASH_SIZE - FLOW_CHUNK;
    console.log(
      `  QuickJS heap (${which}, ${image.length} B image): empty context ${kib(qjs.emptyContext)}, bundle loaded ${kib(qjs.afterBundle)}, ` +
        `before the update ${kib(qjs.baseline)}, peak ${kib(qjs.peak)}: +${kib(growth)} = flash ${kib(FLOW_FLASH_SIZE)} ` +
        `+ chunk ${kib(FLOW_CHUNK)} + ${kib(beyond)} (budget ${kib(HEAP_BUDGET)})`,
    );
    assert.ok(qjs.afterFlash - qjs.baseline >= FLOW_FLASH_SIZE, 'the flash backing store is inside the measured heap');
    if (which === 'padded') {
      assert.ok(beyond <= HEAP_BUDGET, `a ${image.length}-byte update used ${beyond} bytes beyond the flash and one chunk (budget ${HEAP_BUDGET})`);
    }
  });
}

test('the heap measurement would catch an update that buffers the image', async () => {
  ensureBuilt();
  const image = paddedImage(BIG_IMAGE_SIZE);
  const run = await runInQuickJs(image, fs.readFileSync(deviceBundlePath, 'utf8'), true);
  const beyond = run.peak - run.baseline - FLOW_FLASH_SIZE - FLOW_CHUNK;
  console.log(`  QuickJS heap with every chunk kept: ${kib(beyond)} beyond flash and one chunk`);
  assert.ok(beyond > HEAP_BUDGET + image.length / 2, `holding ${image.length} bytes showed only ${beyond} extra bytes`);
});

test.run();

// A Wirepas scratchpad processed inside a bare QuickJS context by the device bundle
// (dist/device/otaflash.js): the SDK's two-item vector must land in two flash areas with the
// recorded SHA-256s, a tampered one must be refused with nothing written, and the heap growth while
// processing must stay bounded (streaming: window, buffers and tables, not the content).
import * as fs from 'node:fs';
import * as crypto from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type QuickJSContext, type QuickJSRuntime } from 'quickjs-emscripten';
import { bundleContext } from '../device/qjs';

const DIR = fileURLToPath(new URL('../fixtures/wirepas-scratchpads/', import.meta.url));
if (!fs.existsSync(DIR)) throw new Error(`conformance vectors missing: ${DIR}`);
const manifest = JSON.parse(fs.readFileSync(DIR + 'manifest.json', 'utf8'));
const byName = (n: string) => manifest.vectors.find((v: { name: string }) => v.name === n);
/** Heap growth allowed while processing, beyond the flash and the scratchpad bytes themselves. */
const HEAP_BUDGET = 160 * 1024;

function used(rt: QuickJSRuntime, ctx: QuickJSContext): number {
  const h = rt.computeMemoryUsage();
  const v = ctx.dump(h) as { memory_used_size: number };
  h.dispose();
  return v.memory_used_size;
}

// Runs in QuickJS: two 512 KiB areas on one MemoryFlash, the scratchpad processed into them.
const FLOW = `(function (lib, raw, keyHex, counter, sample) {
  var bytes = new Uint8Array(raw);
  var dev = new lib.MemoryFlash({ size: 1024 * 1024, eraseSize: 4096, writeSize: 4 });
  var areas = {};
  areas[0x106] = new lib.RegionFlash(dev, 0, 512 * 1024, 'stack');
  areas[0x83744c06] = new lib.RegionFlash(dev, 512 * 1024, 512 * 1024, 'app');
  var src = lib.scratchpadBytes(bytes);
  var tracked = { size: src.size, read: function (o, into) { src.read(o, into); sample(); } };
  var result = { code: '', lengths: [] };
  sample();
  try {
    var done = lib.processScratchpad(tracked, lib.parseScratchpadKeys(keyHex), areas, { counter: counter });
    for (var i = 0; i < done.length; i++) result.lengths.push(done[i].contentLength);
  } catch (e) { result.code = e.code || String(e); }
  result.seq = lib.parseScratchpad(src).header.seq;
  result.newer = lib.isNewerScratchpadSeq(1, 254);
  return { result: result, flash: dev.bytes.buffer };
})`;

async function runInQuickJs(name: string) {
  const v = byName(name);
  const { rt, ctx } = await bundleContext();
  try {
    // A bare engine: the bundle must not have needed these.
    assert.is(ctx.dump(ctx.unwrapResult(ctx.evalCode('typeof TextDecoder + typeof console + typeof process'))), 'undefinedundefinedundefined');
    const bytes = new Uint8Array(fs.readFileSync(DIR + v.file));
    let peak = 0;
    let first = 0;
    const sample = ctx.newFunction('sample', () => {
      const u = used(rt, ctx);
      if (first === 0) first = u;
      if (u > peak) peak = u;
    });
    const flow = ctx.unwrapResult(ctx.evalCode(FLOW, 'flow.js', { type: 'global' }));
    const lib = ctx.getProp(ctx.global, 'OtaFlash');
    const raw = ctx.newArrayBuffer(bytes.slice().buffer);
    const key = ctx.newString(v.key.auth + v.key.encrypt);
    const counter = ctx.newString(v.aes_counter);
    const t0 = Date.now();
    const out = ctx.unwrapResult(ctx.callFunction(flow, ctx.undefined, lib, raw, key, counter, sample));
    const ms = Date.now() - t0;
    [flow, lib, raw, key, counter, sample].forEach((h) => h.dispose());
    const resultH = ctx.getProp(out, 'result');
    const result = ctx.dump(resultH) as { code: string; lengths: number[]; seq: number; newer: boolean };
    resultH.dispose();
    const flashH = ctx.getProp(out, 'flash');
    const flash = new Uint8Array(ctx.getArrayBuffer(flashH).value.slice(0));
    flashH.dispose();
    out.dispose();
    return { v, result, flash, growth: peak - first, ms };
  } finally {
    ctx.dispose();
    rt.dispose();
  }
}

const sha = (b: Uint8Array) => crypto.createHash('sha256').update(b).digest('hex');

test('QuickJS: the two-item SDK scratchpad (stack + app, 273 KiB) processes into its areas as recorded, in bounded heap', async () => {
  const { v, result, flash, growth, ms } = await runInQuickJs('g08-stack-and-app-seq100');
  assert.is(result.code, '', 'no error');
  assert.equal(result.lengths, v.items.map((i: { content_length: number }) => i.content_length));
  assert.is(sha(flash.subarray(0, v.items[0].content_length)), v.items[0].content_sha256, 'stack area');
  assert.is(sha(flash.subarray(512 * 1024, 512 * 1024 + v.items[1].content_length)), v.items[1].content_sha256, 'app area');
  assert.is(result.seq, 100);
  assert.ok(result.newer, 'seq 1 is newer than 254 (wrap)');
  console.log(`  QuickJS: processed ${v.file_length} B scratchpad into ${v.items[0].content_length + v.items[1].content_length} B of content in ${ms} ms, heap growth ${(growth / 1024).toFixed(1)} KiB`);
  assert.ok(growth < HEAP_BUDGET, `heap grew ${growth} B while processing (budget ${HEAP_BUDGET})`);
});

test('QuickJS: a scratchpad with the wrong encryption key is refused (SCRATCHPAD_BAD_DEFLATE) and the flash stays erased', async () => {
  const { result, flash } = await runInQuickJs('t15-wrong-encryption-key');
  assert.is(result.code, 'SCRATCHPAD_BAD_DEFLATE');
  assert.ok(flash.every((b) => b === 0xff), 'nothing written');
});

test.run();

// The delta apply inside QuickJS, through the device bundle (dist/device/otaflash.js): detools lzma
// and heatshrink patches of real pairs applied from ota_0 into ota_1 of a MemoryFlash in a bare
// context, the patch handed over one 4 KiB chunk at a time. The flash must hold new.bin byte for
// byte; the heap beyond the flash backing store is measured and reported (the decoder state and
// the lzma window, which grows only as far as the stream needs).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import { getQuickJS } from 'quickjs-emscripten';
import { deviceBundlePath, ensureBuilt } from '../device/bundle';
import { createDeltaPatch } from '../../src/delta/generate';
import { pairFile, patchFile } from './fixtures';
import { unwrap, usedBytes } from '../device/qjs';

const CHUNK = 4096;
const FLASH_SIZE = 0x200000;
const SLOT = 0x100000;

// Plain ES2015, run against the bundle's global OtaFlash.
const FLOW = `
function deltaFlow(lib, oldImage, patchSize, readChunk, sample, maxDictionary) {
  var hashes = lib.portableHashes;
  var dev = new lib.MemoryFlash({ size: ${FLASH_SIZE} });
  function part(label, type, subtype, offset, size) {
    return { label: label, type: type, subtype: subtype, offset: offset, size: size, flags: 0 };
  }
  var table = { partitions: [part('otadata', 1, 0, 0xd000, 0x2000), part('ota_0', 0, 0x10, 0x10000, ${SLOT - 0x10000}), part('ota_1', 0, 0x11, ${SLOT}, ${SLOT})], md5: null };
  dev.write(0x8000, lib.encodePartitionTable(table, { md5: true, hashes: hashes }));
  dev.write(0x10000, oldImage);
  oldImage = null;
  var engine = lib.OtaEngine.open(dev, { rollback: true, hashes: hashes });
  sample();
  var u = new lib.DeltaUpdate(engine, { maxDictionary: maxDictionary });
  var at = 0;
  while (at < patchSize) {
    var chunk = readChunk(at);
    u.push(chunk);
    at += chunk.length;
    chunk = null;
    sample();
  }
  var v = u.finish();
  sample();
  engine.setBootPartition(u.partition);
  return { dev: dev, result: { size: v.size, hashValid: v.hashValid, label: u.partition.label } };
}`;



async function applyInQuickJs(oldImage: Uint8Array, patch: Uint8Array, maxDictionary?: number) {
  ensureBuilt();
  const bundle = fs.readFileSync(deviceBundlePath, 'utf8');
  const quickjs = await getQuickJS();
  const rt = quickjs.newRuntime();
  const ctx = rt.newContext();
  try {
    unwrap(ctx, ctx.evalCode(bundle, 'otaflash.device.js', { type: 'global' }), 'loading the bundle').dispose();
    unwrap(ctx, ctx.evalCode(`${FLOW}; 0`, 'flow.js', { type: 'global' }), 'loading the flow').dispose();
    let first = 0;
    let peak = 0;
    const sample = ctx.newFunction('sample', () => {
      const used = usedBytes(rt, ctx);
      if (first === 0) first = used;
      if (used > peak) peak = used;
    });
    const wrap = unwrap(ctx, ctx.evalCode('(function (raw) { return function (at) { return new Uint8Array(raw(at)); }; })'), 'wrapper');
    const raw = ctx.newFunction('raw', (h) => {
      const at = ctx.getNumber(h);
      return ctx.newArrayBuffer(patch.slice(at, Math.min(at + CHUNK, patch.length)).buffer);
    });
    const reader = unwrap(ctx, ctx.callFunction(wrap, ctx.undefined, raw), 'reader');
    const oldAb = ctx.newArrayBuffer(oldImage.slice().buffer);
    const u8 = unwrap(ctx, ctx.evalCode('(function (b) { return new Uint8Array(b); })'), 'u8');
    const oldArr = unwrap(ctx, ctx.callFunction(u8, ctx.undefined, oldAb), 'old');
    u8.dispose();
    const flow = ctx.getProp(ctx.global, 'deltaFlow');
    const libH = ctx.getProp(ctx.global, 'OtaFlash');
    const size = ctx.newNumber(patch.length);
    const maxD = maxDictionary === undefined ? ctx.undefined : ctx.newNumber(maxDictionary);
    const t0 = performance.now();
    const out = ctx.callFunction(flow, ctx.undefined, libH, oldArr, size, reader, sample, maxD);
    const ms = performance.now() - t0;
    [wrap, raw, reader, oldAb, oldArr, flow, libH, size, sample, maxD].forEach((h) => h.dispose());
    if (out.error) {
      const err = ctx.dump(out.error) as { name?: string; message?: string; code?: string };
      out.error.dispose();
      return { error: err, bytes: null, result: null, extraHeap: 0, ms };
    }
    const o = out.value;
    const rh = ctx.getProp(o, 'result');
    const result = ctx.dump(rh) as { size: number; hashValid: boolean; label: string };
    rh.dispose();
    const acc = unwrap(ctx, ctx.evalCode('(function (o) { return o.dev.bytes.buffer; })'), 'accessor');
    const ab = unwrap(ctx, ctx.callFunction(acc, ctx.undefined, o), 'flash');
    const bytes = new Uint8Array(ctx.getArrayBuffer(ab).value.slice(0));
    [acc, ab, o].forEach((h) => h.dispose());
    return { error: null, bytes, result, extraHeap: peak - first, ms };
  } finally {
    ctx.dispose();
    rt.dispose();
  }
}

const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;

for (const [pair, file] of [
  ['esp32s3-hello-world-app', 'sequential-lzma.patch'],
  ['esp32s3-hello-world-app', 'sequential-heatshrink.patch'],
  ['esp32-nina-w102-app', 'sequential-heatshrink.patch'],
] as const) {
  test(`QuickJS (device bundle): ${pair}/${file} applies from ota_0 into ota_1 byte for byte`, async () => {
    const oldImage = pairFile(pair, 'old.bin');
    const expected = pairFile(pair, 'new.bin');
    const r = await applyInQuickJs(oldImage, patchFile(pair, file));
    assert.is(r.error, null, JSON.stringify(r.error));
    assert.is(r.result!.label, 'ota_1');
    assert.is(r.result!.size, expected.length);
    assert.is(r.result!.hashValid, true);
    const got = r.bytes!.subarray(SLOT, SLOT + expected.length);
    let diff = -1;
    for (let i = 0; i < expected.length; i++) if (got[i] !== expected[i]) { diff = i; break; }
    assert.is(diff, -1, 'first differing byte in ota_1');
    console.log(`  QuickJS ${pair}/${file}: ${expected.length} B new image in ${r.ms.toFixed(0)} ms (${(r.ms / (expected.length / 1048576)).toFixed(0)} ms/MiB), heap beyond the flash store ${kib(r.extraHeap)}`);
  });
}

test('QuickJS: a patch from our generator (lzma, 64 KiB dictionary) applies under maxDictionary 64 KiB, within 128 KiB of heap beyond the flash store', async () => {
  const pair = 'esp32s3-hello-world-app';
  const oldImage = pairFile(pair, 'old.bin');
  const expected = pairFile(pair, 'new.bin');
  const patch = createDeltaPatch(oldImage, expected, { compression: 'lzma', trials: 1 });
  const r = await applyInQuickJs(oldImage, patch, 65536);
  assert.is(r.error, null, JSON.stringify(r.error));
  const got = r.bytes!.subarray(SLOT, SLOT + expected.length);
  let diff = -1;
  for (let i = 0; i < expected.length; i++) if (got[i] !== expected[i]) { diff = i; break; }
  assert.is(diff, -1, 'first differing byte in ota_1');
  console.log(`  QuickJS ${pair}, our lzma patch (${patch.length} B, 64 KiB dictionary): ${(r.ms / (expected.length / 1048576)).toFixed(0)} ms/MiB, heap beyond the flash store ${kib(r.extraHeap)}`);
  assert.ok(r.extraHeap <= 128 * 1024, `heap beyond the flash store ${r.extraHeap} B (goal 128 KiB)`);
});

test('QuickJS: maxDictionary refuses detools\'s 8 MiB lzma dictionary with a typed error', async () => {
  const r = await applyInQuickJs(pairFile('esp32s3-hello-world-app', 'old.bin'), patchFile('esp32s3-hello-world-app', 'sequential-lzma.patch'), 65536);
  assert.ok(r.error, 'refused');
  assert.is(r.error!.code, 'DELTA_DICTIONARY_TOO_LARGE', JSON.stringify(r.error));
});

test.run();

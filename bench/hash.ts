// Hash speeds: the project's own SHA-256, MD5 and SHA-1 (src/hash) beside @noble/hashes (what the
// portable provider used before) and node:crypto, in V8 and in QuickJS (quickjs-emscripten, the
// interpreter the device tests use: its figures are the ones that matter on a device). Every row is a
// ratio against a baseline measured in the same run, interleaved, because the machines are shared.
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as zlib from 'node:zlib';
import { buildSync } from 'esbuild';
import { sha256 as nobleSha256, sha384 as nobleSha384 } from '@noble/hashes/sha2.js';
import { md5 as nobleMd5, sha1 as nobleSha1 } from '@noble/hashes/legacy.js';
import { sha256 } from '../src/hash/sha256';
import { md5 } from '../src/hash/md5';
import { sha1 } from '../src/hash/sha1';
import { sha384 } from '../src/hash/sha512';
import { crc32 } from '../src/hash/crc32';
import CRC32 from 'crc-32';
import { type BenchRow, compare, mbps } from './lib';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const SIZE = 1 << 20;
const CHUNK = 4096;

type Streaming = { update(d: Uint8Array): unknown; digest(): unknown };

function streamed(data: Uint8Array, make: () => Streaming): () => void {
  return () => {
    const h = make();
    for (let at = 0; at < data.length; at += CHUNK) h.update(data.subarray(at, at + CHUNK));
    h.digest();
  };
}

function v8Rows(data: Uint8Array): BenchRow[] {
  const rows: BenchRow[] = [];
  const row = (name: string, subject: () => void, baselineName: string, baseline: () => void, target?: number) => {
    const { subjectMs, baselineMs } = compare(subject, baseline, { rounds: 9, minMs: 40 });
    const value = mbps(data.length, subjectMs);
    const baselineValue = mbps(data.length, baselineMs);
    const ratio = value / baselineValue;
    const r: BenchRow = { suite: 'hash', name, value, unit: 'MB/s', baselineName, baselineValue, ratio };
    if (target !== undefined) {
      r.target = `>= ${target}x`;
      r.pass = ratio >= target;
    }
    rows.push(r);
  };
  const node = (alg: string) => streamed(data, () => createHash(alg));
  row('V8: own SHA-256, 4 KiB updates', streamed(data, sha256), '@noble/hashes sha256', streamed(data, () => nobleSha256.create()));
  row('V8: own SHA-256, 4 KiB updates', streamed(data, sha256), 'node:crypto sha256', node('sha256'));
  row('V8: own MD5, 4 KiB updates', streamed(data, md5), '@noble/hashes md5', streamed(data, () => nobleMd5.create()));
  row('V8: own MD5, 4 KiB updates', streamed(data, md5), 'node:crypto md5', node('md5'));
  row('V8: own SHA-1, 4 KiB updates', streamed(data, sha1), '@noble/hashes sha1', streamed(data, () => nobleSha1.create()));
  row('V8: own SHA-1, 4 KiB updates', streamed(data, sha1), 'node:crypto sha1', node('sha1'));
  row('V8: own SHA-384, 4 KiB updates', streamed(data, sha384), '@noble/hashes sha384', streamed(data, () => nobleSha384.create()));
  row('V8: own SHA-384, 4 KiB updates', streamed(data, sha384), 'node:crypto sha384', node('sha384'));
  const zcrc = (zlib as unknown as { crc32?: (d: Uint8Array, v?: number) => number }).crc32;
  const own = () => {
    let c = 0;
    for (let at = 0; at < data.length; at += CHUNK) c = crc32(data.subarray(at, at + CHUNK), c);
  };
  // The package the portable provider used before: slice-by-16, 17 KiB of tables built at load.
  row('V8: own CRC-32 (1 KiB table), 4 KiB updates', own, 'crc-32 package (17 KiB of tables)', () => {
    let c = 0;
    for (let at = 0; at < data.length; at += CHUNK) c = CRC32.buf(data.subarray(at, at + CHUNK), c);
  });
  if (zcrc) {
    row('V8: own CRC-32 (1 KiB table), 4 KiB updates', own, 'zlib.crc32', () => {
      let c = 0;
      for (let at = 0; at < data.length; at += CHUNK) c = zcrc(data.subarray(at, at + CHUNK), c);
    });
  }
  return rows;
}

// Runs inside QuickJS: each hash over 64 KiB in 4 KiB updates, interleaved, best rate of several
// rounds (an interpreter has no warm-up, so the best round is the one least disturbed by the machine).
const QJS_SCRIPT = `
var N = 65536, data = new Uint8Array(N);
for (var i = 0; i < N; i++) data[i] = (i * 31 + 7) & 255;
function rate(make) {
  var t0 = Date.now(), reps = 0, ms;
  do {
    var h = make();
    for (var o = 0; o < N; o += 4096) h.update(data.subarray(o, o + 4096));
    h.digest(); reps++; ms = Date.now() - t0;
  } while (ms < 400);
  return N * reps / 1e6 / (ms / 1000);
}
var makers = {
  sha256: HB.sha256, nobleSha256: function () { return HB.nobleSha256.create(); },
  md5: HB.md5, nobleMd5: function () { return HB.nobleMd5.create(); },
  sha1: HB.sha1, nobleSha1: function () { return HB.nobleSha1.create(); },
  sha384: HB.sha384, nobleSha384: function () { return HB.nobleSha384.create(); },
  crc32: function () { var c = 0; return { update: function (d) { c = HB.crc32(d, c); }, digest: function () { return c; } }; },
  crc32Package: function () { var c = 0; return { update: function (d) { c = HB.CRC32.buf(d, c); }, digest: function () { return c; } }; }
};
var best = {};
for (var round = 0; round < 4; round++) for (var k in makers) { var r = rate(makers[k]); if (!(best[k] >= r)) best[k] = r; }
print('QJS_RATES ' + JSON.stringify(best));
`;

const QJS_RUNNER = `
import fs from 'node:fs';
import { createRequire } from 'node:module';
const require = createRequire(process.argv[3]);
const { getQuickJS } = require('quickjs-emscripten');
const QJS = await getQuickJS();
const rt = QJS.newRuntime();
const ctx = rt.newContext();
const pr = ctx.newFunction('print', (...a) => { console.log(a.map((x) => ctx.dump(x)).join(' ')); });
ctx.setProp(ctx.global, 'print', pr); pr.dispose();
const r = ctx.evalCode(fs.readFileSync(process.argv[2], 'utf8'), 'hash-bench.js', { type: 'global' });
if (r.error) { console.log('QJS_ERROR', JSON.stringify(ctx.dump(r.error))); r.error.dispose(); } else r.value.dispose();
ctx.dispose(); rt.dispose();
`;

function quickjsRows(): BenchRow[] {
  // The hashes bundled as the device build bundles them (esbuild, ES2015, IIFE).
  const bundle = buildSync({
    stdin: {
      contents: [
        "export { sha256 } from './src/hash/sha256';",
        "export { md5 } from './src/hash/md5';",
        "export { sha1 } from './src/hash/sha1';",
        "export { sha384 } from './src/hash/sha512';",
        "export { sha384 as nobleSha384 } from '@noble/hashes/sha2.js';",
        "export { crc32 } from './src/hash/crc32';",
        "export { default as CRC32 } from 'crc-32';",
        "export { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';",
        "export { md5 as nobleMd5, sha1 as nobleSha1 } from '@noble/hashes/legacy.js';",
      ].join('\n'),
      resolveDir: ROOT,
      loader: 'ts',
    },
    bundle: true,
    format: 'iife',
    globalName: 'HB',
    target: 'es2015',
    write: false,
    logLevel: 'silent',
  }).outputFiles[0].text;
  const dir = mkdtempSync(join(tmpdir(), 'otaflash-hash-bench-'));
  try {
    const script = join(dir, 'script.js');
    const runner = join(dir, 'run.mjs');
    writeFileSync(script, bundle + '\n' + QJS_SCRIPT);
    writeFileSync(runner, QJS_RUNNER);
    const p = spawnSync(process.execPath, [runner, script, join(ROOT, 'package.json')], { encoding: 'utf8', timeout: 300_000 });
    const line = (p.stdout ?? '').split('\n').find((l) => l.startsWith('QJS_RATES '));
    if (!line) throw new Error(`QuickJS hash bench failed: ${p.stdout}${p.stderr}`);
    const r = JSON.parse(line.slice('QJS_RATES '.length)) as Record<string, number>;
    const row = (name: string, key: string, baselineName: string, baseKey: string, target?: number): BenchRow => {
      const ratio = r[key] / r[baseKey];
      const out: BenchRow = { suite: 'hash', name, value: r[key], unit: 'MB/s', baselineName, baselineValue: r[baseKey], ratio };
      if (target !== undefined) {
        out.target = `>= ${target}x`;
        out.pass = ratio >= target;
      }
      return out;
    };
    return [
      // The device goal: no slower than the dependency it replaces.
      row('QuickJS: own SHA-256, 4 KiB updates', 'sha256', 'QuickJS: @noble/hashes sha256', 'nobleSha256', 1),
      row('QuickJS: own MD5, 4 KiB updates', 'md5', 'QuickJS: @noble/hashes md5', 'nobleMd5', 1),
      row('QuickJS: own SHA-1, 4 KiB updates', 'sha1', 'QuickJS: @noble/hashes sha1', 'nobleSha1', 1),
      row('QuickJS: own SHA-384, 4 KiB updates', 'sha384', 'QuickJS: @noble/hashes sha384', 'nobleSha384', 1),
      row('QuickJS: own CRC-32 (1 KiB table), 4 KiB updates', 'crc32', 'QuickJS: crc-32 package (17 KiB of tables)', 'crc32Package'),
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function hashSuite(): BenchRow[] {
  const data = new Uint8Array(SIZE);
  let x = 0x12345678;
  for (let i = 0; i < SIZE; i++) {
    x = (Math.imul(x, 1103515245) + 12345) | 0;
    data[i] = x >>> 24;
  }
  return [...v8Rows(data), ...quickjsRows()];
}

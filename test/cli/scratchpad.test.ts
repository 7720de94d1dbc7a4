// `otaflash scratchpad info|process|create` on the SDK's vectors (test/fixtures/wirepas-scratchpads):
// info --json must report the fields the SDK info tool read, process must write the recorded
// contents (files, or partitions of a flash image), every tampered file must be refused with a
// non-zero exit and nothing written, and create must make files that process back to their input.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as crypto from 'node:crypto';
import { expectExit, expectOneErrorLine, runInProcess, tempFiles, type Run } from './harness';
import { repoRoot } from '../device/bundle';

const DIR = path.join(repoRoot, 'test/fixtures/wirepas-scratchpads');
const TABLE_CSV = path.join(repoRoot, 'test/fixtures/partition-tables/partitions_two_ota.csv');
if (!fs.existsSync(DIR)) throw new Error(`fixtures missing: ${DIR}`);
const manifest = JSON.parse(fs.readFileSync(path.join(DIR, 'manifest.json'), 'utf8'));
const good = manifest.vectors.filter((v: { kind: string }) => v.kind === 'good');
const tampered = manifest.vectors.filter((v: { kind: string }) => v.kind === 'tampered');
const tmp = tempFiles('otaflash-scratchpad-');

const cli = (...args: string[]): Run => runInProcess(...args);
const ok = (...args: string[]): Run => expectExit(cli(...args), 0, args);
const keyOf = (v: { key: { auth: string; encrypt: string } }) => v.key.auth + v.key.encrypt;
const sha = (b: Uint8Array) => crypto.createHash('sha256').update(b).digest('hex');
const fileOf = (v: { file: string }) => path.join(DIR, v.file);

test('info --json: every good file reports the fields the SDK read, without a key and with one', () => {
  for (const v of good) {
    const j = JSON.parse(ok('scratchpad info', fileOf(v), '--json').stdout);
    assert.ok(j.valid);
    assert.is(j.tag, '534352319a933082d9eb0afc3121e337');
    for (const k of Object.keys(v.info)) assert.equal(j[k], v.info[k], `${v.name} ${k}`);
    const withKey = JSON.parse(ok('scratchpad info', fileOf(v), '--json', '--key', keyOf(v), '--counter', v.aes_counter).stdout);
    assert.is(withKey.authenticated, true);
    assert.equal(withKey.items.map((i: { content_length: number }) => i.content_length), v.items.map((i: { content_length: number }) => i.content_length));
  }
});

test('info (text): the fields a person looks for', () => {
  const v = good.find((x: { name: string }) => x.name === 'g09-three-items');
  const out = ok('scratchpad info', fileOf(v)).stdout;
  for (const needle of ['crc        0x' + v.info.crc.toString(16), 'seq        255', 'area 0x8ae573ba', 'version 5.1.2.0', `icb        ${v.info.icb}`, 'not checked: no --key']) {
    assert.ok(out.includes(needle), `'${needle}' in:\n${out}`);
  }
});

test('info: damaged files exit 1 without a key (tag, length, CRC, item overrun, too short), one error line naming the check', () => {
  for (const v of tampered) {
    if (!v.expected.structural) continue;
    const r = cli('scratchpad info', fileOf(v));
    assert.is(r.code, 1, `${v.name}: ${r.stderr}`);
    expectOneErrorLine(r, /SCRATCHPAD_(BAD_TAG|BAD_LENGTH|BAD_CRC|ITEM_OVERRUN|TRUNCATED)/);
  }
  // With the key, the CMAC and inflate failures show too.
  for (const v of tampered.filter((t: { expected: { structural: boolean } }) => !t.expected.structural)) {
    assert.is(cli('scratchpad info', fileOf(v)).code, 0, `${v.name} passes the key-less checks`);
    const r = cli('scratchpad info', fileOf(v), '--key', keyOf(v));
    assert.is(r.code, 1, v.name);
    expectOneErrorLine(r, /SCRATCHPAD_(BAD_CMAC|BAD_DEFLATE)/);
  }
});

test('process --out DIR: each item\'s content, named by index and area id, hashes as recorded', () => {
  for (const v of good) {
    const out = tmp(`${v.name}-out`);
    ok('scratchpad process', fileOf(v), '--key', keyOf(v), '--counter', v.aes_counter, '--out', out);
    const files = fs.readdirSync(out).sort();
    assert.is(files.length, v.items.length, v.name);
    v.items.forEach((it: { index: number; area_id: number; content_sha256: string }) => {
      const name = `item${it.index}-0x${it.area_id.toString(16)}.bin`;
      assert.is(sha(fs.readFileSync(path.join(out, name))), it.content_sha256, `${v.name} ${name}`);
    });
  }
});

test('process: every tampered file is refused with exit 1 and no output folder or file', () => {
  for (const v of tampered) {
    const out = tmp(`${v.name}-out`);
    const r = cli('scratchpad process', fileOf(v), '--key', keyOf(v), '--counter', v.aes_counter, '--out', out);
    assert.is(r.code, 1, `${v.name}: ${r.stderr}`);
    assert.not.ok(fs.existsSync(out), `${v.name}: nothing created`);
  }
});

test('process --flash --area: the items land in the partitions, and a refusal leaves the image byte for byte as it was', () => {
  const flash = tmp('flash.bin');
  ok('flash create', flash, '--size', '4MB', '--table', TABLE_CSV);
  const v = good.find((x: { name: string }) => x.name === 'g08-stack-and-app-seq100');
  ok('scratchpad process', fileOf(v), '--key', keyOf(v), '--flash', flash, '--area', '0x106=ota_0', '--area', `${0x83744c06}=ota_1`);
  const img = fs.readFileSync(flash);
  // ota_0 at 0x110000, ota_1 at 0x210000 in partitions_two_ota.
  assert.is(sha(img.subarray(0x110000, 0x110000 + v.items[0].content_length)), v.items[0].content_sha256);
  assert.is(sha(img.subarray(0x210000, 0x210000 + v.items[1].content_length)), v.items[1].content_sha256);
  const before = sha(fs.readFileSync(flash));
  // An item without an --area, a tampered file and a wrong key: exit non-zero, image unchanged.
  const missing = cli('scratchpad process', fileOf(v), '--key', keyOf(v), '--flash', flash, '--area', '0x106=ota_0');
  assert.is(missing.code, 1);
  expectOneErrorLine(missing, 'SCRATCHPAD_UNKNOWN_AREA');
  const t = tampered.find((x: { name: string }) => x.name === 't15-wrong-encryption-key');
  assert.is(cli('scratchpad process', fileOf(t), '--key', keyOf(t), '--flash', flash, '--area', '0x83744c06=ota_0').code, 1);
  const bad = cli('scratchpad process', fileOf(v), '--key', keyOf(v), '--flash', flash, '--area', '0x106=nope', '--area', '0x83744c06=ota_1');
  assert.is(bad.code, 2);
  expectOneErrorLine(bad, "no partition labelled 'nope'");
  assert.is(sha(fs.readFileSync(flash)), before);
});

test('create: .bin and Intel HEX items, fixed ICB: reproducible, info reads it back, process returns the inputs', () => {
  const a = fs.readFileSync(path.join(repoRoot, 'test/fixtures/firmware-pairs/stm32f070-pybricks-movehub/new.bin')).subarray(0, 20000);
  const binFile = tmp('a.bin');
  fs.writeFileSync(binFile, a);
  // Intel HEX with two ranges 1 KiB apart: the content is the span, the gap zero-filled.
  const rec = (type: number, addr: number, data: number[]) => {
    const b = [data.length, (addr >> 8) & 0xff, addr & 0xff, type, ...data];
    return ':' + [...b, (0x100 - (b.reduce((s, x) => s + x, 0) & 0xff)) & 0xff].map((x) => x.toString(16).padStart(2, '0')).join('');
  };
  const hexFile = tmp('b.hex');
  fs.writeFileSync(hexFile, [rec(4, 0, [0, 4]), rec(0, 0, [1, 2, 3]), rec(0, 1027, [9, 9]), rec(1, 0, [])].join('\n') + '\n');
  const key = '11'.repeat(16) + '22'.repeat(16);
  const icb = 'ff'.repeat(15) + 'fe';
  const out1 = tmp('one.otap');
  const out2 = tmp('two.otap');
  for (const out of [out1, out2]) ok('scratchpad create', '--out', out, '--seq', '9', '--key', key, '--icb', icb, '--counter', 'big', `0x83744c06:1.2.3.4:${binFile}`, `262:5.0.0.1:${hexFile}`);
  assert.ok(fs.readFileSync(out1).equals(fs.readFileSync(out2)), 'same inputs and ICB, same file');
  const j = JSON.parse(ok('scratchpad info', out1, '--json').stdout);
  assert.is(j.seq, 9);
  assert.is(j.icb, icb);
  assert.equal(j.items.map((i: { area_id: number; version: string }) => [i.area_id, i.version]), [[0x83744c06, '1.2.3.4'], [262, '5.0.0.1']]);
  const dir = tmp('created-out');
  ok('scratchpad process', out1, '--key', key, '--counter', 'big', '--out', dir);
  assert.ok(fs.readFileSync(path.join(dir, 'item0-0x83744c06.bin')).equals(a));
  const gap = fs.readFileSync(path.join(dir, 'item1-0x106.bin'));
  assert.equal(Array.from(gap), [1, 2, 3, ...new Array(1024).fill(0), 9, 9]);
  // The little-endian reading of a big-endian file fails to inflate.
  assert.is(cli('scratchpad process', out1, '--key', key, '--out', tmp('x')).code, 1);
  // A random ICB differs from run to run.
  const r1 = tmp('r1.otap');
  const r2 = tmp('r2.otap');
  ok('scratchpad create', '--out', r1, '--seq', '1', '--key', key, `1:0.0.0.1:${binFile}`);
  ok('scratchpad create', '--out', r2, '--seq', '1', '--key', key, `1:0.0.0.1:${binFile}`);
  assert.not.ok(fs.readFileSync(r1).equals(fs.readFileSync(r2)));
});

test('usage errors exit 2 with one line: bad key, counter, seq, item spec, area, missing output', () => {
  const v = good[0];
  const cases: [string[], string | RegExp][] = [
    [['scratchpad process', fileOf(v), '--key', 'abcd', '--out', tmp('u')], '64 hex digits'],
    [['scratchpad process', fileOf(v), '--key', keyOf(v), '--counter', 'middle', '--out', tmp('u')], '--counter must be little or big'],
    [['scratchpad process', fileOf(v), '--key', keyOf(v)], 'either --out DIR or --flash'],
    [['scratchpad process', fileOf(v), '--key', keyOf(v), '--flash', tmp('f')], 'at least one --area'],
    [['scratchpad process', fileOf(v), '--key', keyOf(v), '--flash', tmp('f'), '--area', 'zz=ota_0'], 'not an area id'],
    [['scratchpad create', '--out', tmp('c'), '--seq', '256', '--key', keyOf(v), '1:1.0.0.0:x'], '--seq must be 0..255'],
    [['scratchpad create', '--out', tmp('c'), '--seq', '1', '--key', keyOf(v), '1:1.0.0:x'], 'four numbers'],
    [['scratchpad create', '--out', tmp('c'), '--seq', '1', '--key', keyOf(v), '--icb', '00', '1:1.0.0.0:x'], '--icb must be 32 hex digits'],
    [['scratchpad create', '--seq', '1', '--key', keyOf(v), '1:1.0.0.0:x'], '--out FILE is required'],
    [['scratchpad info', fileOf(v), '--counter', 'big'], '--counter needs --key'],
    [['scratchpad info', tmp('missing.otap')], /missing\.otap/],
  ];
  for (const [args, needle] of cases) {
    const r = cli(...args);
    assert.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    expectOneErrorLine(r, needle);
  }
});

test.run();

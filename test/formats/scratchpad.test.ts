// Scratchpad parse/verify/process/create beyond the SDK vectors: round trips through our own
// creator with zlib's deflate (the SDK decodes any valid deflate stream), the refusals the vectors
// do not cover (unknown, duplicate and too-small areas, bad padding, bad keys), Intel HEX input.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as zlib from 'node:zlib';
import {
  SCRATCHPAD_TAG, extractScratchpad, parseScratchpad, parseScratchpadKeys, processScratchpad, readScratchpadHeader, scratchpadBytes,
  verifyScratchpad, computeScratchpadCmac,
} from '../../src/formats/scratchpad';
import { createScratchpad, setScratchpadSeq } from '../../src/formats/scratchpad-create';
import { crc16CcittFalse } from '../../src/formats/scratchpad-crc';
import { intelHexImage, parseIntelHex } from '../../src/formats/scratchpad-ihex';
import { MemoryFlash } from '../../src/flash/memory';
import { RegionFlash } from '../../src/flash/region';
import { seededRandom } from '../../src/flash/rng';
import { errorCode } from '../helpers';

const KEYS = parseScratchpadKeys('00112233445566778899aabbccddeeff' + 'ffeeddccbbaa99887766554433221100');
const ICB = new Uint8Array(16).fill(0xfe);
const zdeflate = (c: Uint8Array) => new Uint8Array(zlib.deflateRawSync(c, { level: 9 }));

function content(seed: number, n: number): Uint8Array {
  const rng = seededRandom(seed);
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = rng() < 0.7 ? i & 0x3f : Math.floor(rng() * 256);
  return b;
}

function collect(file: Uint8Array, keys = KEYS, counter: 'little' | 'big' = 'little'): Uint8Array[] {
  const out: number[][] = [];
  extractScratchpad(scratchpadBytes(file), keys, (item) => {
    out[item.index] = [];
    return (c) => {
      for (let i = 0; i < c.length; i++) out[item.index].push(c[i]);
    };
  }, { counter });
  return out.map((a) => Uint8Array.from(a));
}

test('CRC-16/CCITT-FALSE check value: "123456789" -> 0x29b1', () => {
  assert.is(crc16CcittFalse(Uint8Array.from('123456789', (c) => c.charCodeAt(0))), 0x29b1);
  assert.is(crc16CcittFalse(new Uint8Array(0)), 0xffff);
});

test('create -> parse/verify/extract round trip: three items, both counter orders, seq, layout fields', () => {
  const items = [
    { areaId: 0x106, version: [5, 2, 0, 17], content: content(1, 70000) },
    { areaId: 0x83744c06, version: [1, 0, 0, 3], content: content(2, 7) },
    { areaId: 0xffffffff, version: [255, 255, 255, 255], content: content(3, 40000) },
  ];
  for (const counter of ['little', 'big'] as const) {
    const file = createScratchpad({ items, keys: KEYS, icb: ICB, counter, seq: 42, deflateRaw: zdeflate });
    const info = parseScratchpad(scratchpadBytes(file));
    assert.is(info.header.seq, 42);
    assert.is(info.header.type, 0);
    assert.is(info.header.status, 0xffffffff);
    assert.is(info.header.length, file.length - 32);
    assert.is(info.items.length, 3);
    assert.equal(info.items.map((i) => i.areaId), [0x106, 0x83744c06, 0xffffffff]);
    assert.equal(info.items[2].version, [255, 255, 255, 255]);
    assert.ok(info.items.every((i) => i.length % 16 === 0));
    const got = collect(file, KEYS, counter);
    items.forEach((it, i) => assert.ok(Buffer.from(got[i]).equals(Buffer.from(it.content)), `${counter} item ${i}`));
    assert.is(errorCode(() => collect(file, KEYS, counter === 'little' ? 'big' : 'little')), 'SCRATCHPAD_BAD_DEFLATE');
  }
});

test('seq is outside the CRC and CMAC: a sink may rewrite it and the file still verifies', () => {
  const file = createScratchpad({ items: [{ areaId: 1, version: [1, 0, 0, 0], content: content(4, 1000) }], keys: KEYS, icb: ICB, deflateRaw: zdeflate });
  assert.is(file[22], 255, 'genscratchpad default');
  setScratchpadSeq(file, 7);
  assert.is(verifyScratchpad(scratchpadBytes(file), KEYS).info.header.seq, 7);
  assert.is(errorCode(() => setScratchpadSeq(file, 256)), 'SCRATCHPAD_BAD_ARGUMENT');
});

test('process: unknown area, duplicate area and an area too small are refused before anything is written', () => {
  const file = createScratchpad({
    items: [
      { areaId: 1, version: [1, 0, 0, 0], content: content(5, 5000) },
      { areaId: 2, version: [1, 0, 0, 0], content: content(6, 9000) },
    ],
    keys: KEYS,
    icb: ICB,
    deflateRaw: zdeflate,
  });
  const flash = new MemoryFlash({ size: 64 * 1024, eraseSize: 4096, writeSize: 1 });
  flash.bytes.fill(0x33);
  const a1 = new RegionFlash(flash, 0, 16384);
  const a2 = new RegionFlash(flash, 16384, 16384);
  const small = new RegionFlash(flash, 32768, 8192);
  const untouched = () => flash.bytes.every((b) => b === 0x33);
  assert.is(errorCode(() => processScratchpad(scratchpadBytes(file), KEYS, { 1: a1 })), 'SCRATCHPAD_UNKNOWN_AREA');
  assert.ok(untouched());
  assert.is(errorCode(() => processScratchpad(scratchpadBytes(file), KEYS, { 1: a1, 2: small })), 'SCRATCHPAD_ITEM_TOO_LARGE');
  assert.ok(untouched(), 'item 1 fitted, but item 2 did not: area 1 is left alone too');
  const dup = createScratchpad({ items: [{ areaId: 1, version: [1, 0, 0, 0], content: content(5, 10) }, { areaId: 1, version: [1, 0, 0, 0], content: content(5, 10) }], keys: KEYS, icb: ICB, deflateRaw: zdeflate });
  assert.is(errorCode(() => processScratchpad(scratchpadBytes(dup), KEYS, { 1: a1 })), 'SCRATCHPAD_DUPLICATE_AREA');
  assert.ok(untouched());
  // And a function map works as well as an object.
  const done = processScratchpad(scratchpadBytes(file), KEYS, (id) => (id === 1 ? a1 : id === 2 ? a2 : undefined));
  assert.equal(done.map((d) => d.contentLength), [5000, 9000]);
  const back = new Uint8Array(9000);
  a2.read(0, back);
  assert.ok(Buffer.from(back).equals(Buffer.from(content(6, 9000))));
});

test('padding: a non-zero byte after the stream, or 16 bytes or more of it, is refused', () => {
  const withTail = (tail: number[]) =>
    createScratchpad({ items: [{ areaId: 1, version: [1, 0, 0, 0], content: content(7, 3000) }], keys: KEYS, icb: ICB, deflateRaw: (c) => Uint8Array.from([...zdeflate(c), ...tail]) });
  assert.is(errorCode(() => verifyScratchpad(scratchpadBytes(withTail([1])), KEYS)), 'SCRATCHPAD_BAD_PADDING');
  assert.is(errorCode(() => verifyScratchpad(scratchpadBytes(withTail(new Array(16).fill(0))), KEYS)), 'SCRATCHPAD_BAD_PADDING');
  assert.is(errorCode(() => verifyScratchpad(scratchpadBytes(withTail([0, 0, 0])), KEYS)), 'no error');
});

test('structure: too large, no items, header running past the end, a CMAC computed over bytes 48..end', () => {
  const file = createScratchpad({ items: [{ areaId: 9, version: [0, 0, 0, 1], content: Uint8Array.of(42) }], keys: KEYS, icb: ICB, deflateRaw: zdeflate });
  assert.is(errorCode(() => parseScratchpad({ size: 16 * 1024 * 1024 + 1, read: () => undefined })), 'SCRATCHPAD_TOO_LARGE');
  const fix = (b: Uint8Array) => {
    const v = new DataView(b.buffer);
    v.setUint32(16, b.length - 32, true);
    v.setUint16(20, crc16CcittFalse(b, 0xffff, 32, b.length), true);
    return b;
  };
  // 64 bytes: tag, header, CMAC, ICB and no item.
  assert.is(errorCode(() => parseScratchpad(scratchpadBytes(fix(file.slice(0, 64))))), 'SCRATCHPAD_TRUNCATED');
  // Room for part of an item header only: too short, as the SDK says.
  assert.is(errorCode(() => parseScratchpad(scratchpadBytes(fix(file.slice(0, 72))))), 'SCRATCHPAD_TRUNCATED');
  // A second item header cut in half after a whole first item.
  const longer = new Uint8Array(file.length + 8);
  longer.set(file);
  assert.is(errorCode(() => parseScratchpad(scratchpadBytes(fix(longer)))), 'SCRATCHPAD_ITEM_OVERRUN');
  const cmac = computeScratchpadCmac(scratchpadBytes(file), KEYS.auth);
  assert.equal(Array.from(cmac), Array.from(file.subarray(32, 48)));
  const head = readScratchpadHeader(file);
  assert.ok(head.tagValid);
  assert.equal(Array.from(file.subarray(0, 16)), SCRATCHPAD_TAG.slice());
});

test('keys: 64 hex digits (separators allowed), anything else refused', () => {
  const k = parseScratchpadKeys('01 02 03 04 05 06 07 08 01 02 03 04 05 06 07 08:a0a1a2a3a4a5a6a7a8a9aaabacadaeaf');
  assert.is(k.auth[0], 1);
  assert.is(k.encrypt[15], 0xaf);
  assert.is(errorCode(() => parseScratchpadKeys('0011')), 'SCRATCHPAD_BAD_KEY');
  assert.is(errorCode(() => parseScratchpadKeys('zz'.repeat(32))), 'SCRATCHPAD_BAD_KEY');
  assert.is(errorCode(() => verifyScratchpad(scratchpadBytes(new Uint8Array(100)), { auth: new Uint8Array(16) } as never)), 'SCRATCHPAD_BAD_KEY');
  assert.is(errorCode(() => parseScratchpad('nope' as never)), 'SCRATCHPAD_BAD_ARGUMENT');
});

test('create refuses what genscratchpad refuses: empty content, versions or seq out of range, bad area id, no items', () => {
  const base = { keys: KEYS, icb: ICB, deflateRaw: zdeflate };
  const item = { areaId: 1, version: [1, 0, 0, 0], content: Uint8Array.of(1) };
  assert.is(errorCode(() => createScratchpad({ ...base, items: [] })), 'SCRATCHPAD_BAD_ARGUMENT');
  assert.is(errorCode(() => createScratchpad({ ...base, items: [{ ...item, content: new Uint8Array(0) }] })), 'SCRATCHPAD_BAD_ARGUMENT');
  assert.is(errorCode(() => createScratchpad({ ...base, items: [{ ...item, version: [256, 0, 0, 0] }] })), 'SCRATCHPAD_BAD_ARGUMENT');
  assert.is(errorCode(() => createScratchpad({ ...base, items: [{ ...item, version: [1, 0, 0] }] })), 'SCRATCHPAD_BAD_ARGUMENT');
  assert.is(errorCode(() => createScratchpad({ ...base, items: [{ ...item, areaId: 2 ** 32 }] })), 'SCRATCHPAD_BAD_ARGUMENT');
  assert.is(errorCode(() => createScratchpad({ ...base, items: [item], seq: -1 })), 'SCRATCHPAD_BAD_ARGUMENT');
  assert.is(errorCode(() => createScratchpad({ ...base, items: [item], icb: new Uint8Array(8) })), 'SCRATCHPAD_BAD_ARGUMENT');
  assert.is(errorCode(() => createScratchpad({ ...base, items: [{ ...item, content: new Uint8Array(8 * 1024 * 1024 + 1) }] })), 'SCRATCHPAD_TOO_LARGE');
});

test('Intel HEX: records, extended addresses, gaps filled with zeros, checksums and overlaps checked', () => {
  const rec = (type: number, addr: number, data: number[]) => {
    const b = [data.length, (addr >> 8) & 0xff, addr & 0xff, type, ...data];
    const sum = (0x100 - (b.reduce((a, x) => a + x, 0) & 0xff)) & 0xff;
    return ':' + [...b, sum].map((x) => x.toString(16).padStart(2, '0')).join('').toUpperCase();
  };
  const text = [rec(4, 0, [0x00, 0x04]), rec(0, 0x0000, [1, 2, 3]), rec(0, 0x0003, [4]), rec(0, 0x0010, [9]), rec(5, 0, [0, 0, 0, 0]), rec(1, 0, [])].join('\r\n') + '\n';
  const ranges = parseIntelHex(text);
  assert.equal(ranges.map((r) => [r.address, Array.from(r.data)]), [[0x40000, [1, 2, 3, 4]], [0x40010, [9]]]);
  const img = intelHexImage(ranges);
  assert.is(img.address, 0x40000);
  assert.equal(Array.from(img.data), [1, 2, 3, 4, ...new Array(12).fill(0), 9]);
  const code = (t: string) => errorCode(() => parseIntelHex(t));
  assert.is(code(rec(0, 0, [1]).slice(0, -2) + '00'), 'SCRATCHPAD_BAD_HEX');
  assert.is(code('hello'), 'SCRATCHPAD_BAD_HEX');
  assert.is(code([rec(0, 0, [1, 2]), rec(0, 1, [3])].join('\n')), 'SCRATCHPAD_BAD_HEX');
  assert.is(code([rec(1, 0, []), rec(0, 0, [1])].join('\n')), 'SCRATCHPAD_BAD_HEX');
  assert.is(errorCode(() => intelHexImage([])), 'SCRATCHPAD_BAD_HEX');
  assert.is(errorCode(() => intelHexImage([{ address: 0, data: Uint8Array.of(1) }, { address: 9 * 1024 * 1024, data: Uint8Array.of(1) }])), 'SCRATCHPAD_BAD_HEX');
});

test('fuzz: damaged deflate streams under a valid CMAC, and damaged files with a fixed CRC, give typed errors only', () => {
  const allowed = ['no error', 'SCRATCHPAD_BAD_DEFLATE', 'SCRATCHPAD_BAD_PADDING', 'SCRATCHPAD_ITEM_TOO_LARGE'];
  const rng = seededRandom(0x5c7a);
  const base = content(9, 6000);
  const stream = zdeflate(base);
  for (let t = 0; t < 200; t++) {
    const bad = stream.slice(0, t % 5 === 0 ? Math.floor(rng() * stream.length) : stream.length);
    for (let k = 0; k < 1 + (t % 3); k++) if (bad.length > 0) bad[Math.floor(rng() * bad.length)] ^= 1 << Math.floor(rng() * 8);
    if (bad.length === 0) continue;
    const file = createScratchpad({ items: [{ areaId: 1, version: [1, 0, 0, 0], content: base }], keys: KEYS, icb: ICB, deflateRaw: () => bad });
    const code = errorCode(() => verifyScratchpad(scratchpadBytes(file), KEYS, { maxContent: 1 << 20 }));
    assert.ok(allowed.indexOf(code) >= 0, `seed 0x5c7a case ${t}: ${code}`);
  }
  const good = createScratchpad({ items: [{ areaId: 1, version: [1, 0, 0, 0], content: base }, { areaId: 2, version: [1, 0, 0, 0], content: content(10, 300) }], keys: KEYS, icb: ICB, deflateRaw: zdeflate });
  const structural = ['SCRATCHPAD_BAD_TAG', 'SCRATCHPAD_BAD_LENGTH', 'SCRATCHPAD_BAD_CRC', 'SCRATCHPAD_ITEM_OVERRUN', 'SCRATCHPAD_TRUNCATED', 'SCRATCHPAD_BAD_CMAC'];
  for (let t = 0; t < 300; t++) {
    const f = good.slice(0, t % 4 === 0 ? 48 + Math.floor(rng() * (good.length - 48)) : good.length);
    f[Math.floor(rng() * f.length)] ^= 1 << Math.floor(rng() * 8);
    if (t % 2 === 0 && f.length >= 32) {
      // Make the CRC and length agree, so the damage reaches the item walk and the CMAC.
      const v = new DataView(f.buffer);
      v.setUint32(16, f.length - 32, true);
      v.setUint16(20, crc16CcittFalse(f, 0xffff, 32, f.length), true);
    }
    const code = errorCode(() => verifyScratchpad(scratchpadBytes(f), KEYS));
    assert.ok(structural.indexOf(code) >= 0 || code === 'no error', `seed 0x5c7a file case ${t}: ${code}`);
  }
});

test.run();

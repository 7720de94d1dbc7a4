import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { OtaflashError } from '../../src/errors';
import { checkBlockDeviceContract, formatContractReport } from '../../src/flash/contract';
import { EspruinoFlash, type EspruinoFlashModule, type EspruinoFlashPage } from '../../src/flash/espruino-flash';

/**
 * A stand-in for Espruino's require("Flash") as its Linux build behaves (seen in Espruino 2v29):
 * flash mapped at 0x10000000, read(len, addr) returns a new Uint8Array, write ANDs bytes into
 * the flash (NOR), erasePage erases the page holding addr. `pages` lists page sizes from the start
 * (the last repeats), so boards with mixed sectors can be modelled. Every address it is handed is
 * recorded, so a test can prove the adapter stays inside its region.
 */
class FakeFlashModule implements EspruinoFlashModule {
  readonly start = 0x10000000;
  readonly bytes: Uint8Array;
  readonly touched: { op: string; from: number; to: number }[] = [];
  private readonly pageStarts: number[] = [];

  constructor(size: number, pages: number[], readonly wordAligned = false) {
    this.bytes = new Uint8Array(size).fill(0xff);
    let at = 0;
    for (let i = 0; at < size; i++) {
      this.pageStarts.push(at);
      at += pages[Math.min(i, pages.length - 1)];
    }
    this.pageStarts.push(at);
  }

  getPage(addr: number): EspruinoFlashPage | undefined {
    const a = addr - this.start;
    if (a < 0 || a >= this.bytes.length) return undefined;
    let i = 0;
    while (this.pageStarts[i + 1] <= a) i++;
    return { addr: this.start + this.pageStarts[i], length: this.pageStarts[i + 1] - this.pageStarts[i] };
  }

  read(length: number, addr: number): Uint8Array {
    this.touched.push({ op: 'read', from: addr, to: addr + length });
    const a = addr - this.start;
    return this.bytes.slice(a, a + length);
  }

  write(data: Uint8Array, addr: number): void {
    this.touched.push({ op: 'write', from: addr, to: addr + data.length });
    if (this.wordAligned && (addr % 4 !== 0 || data.length % 4 !== 0)) throw new Error('Flash write must be word aligned');
    const a = addr - this.start;
    for (let i = 0; i < data.length; i++) this.bytes[a + i] &= data[i];
  }

  erasePage(addr: number): void {
    const p = this.getPage(addr);
    if (!p) throw new Error('no page');
    this.touched.push({ op: 'erase', from: p.addr, to: p.addr + p.length });
    this.bytes.fill(0xff, p.addr - this.start, p.addr - this.start + p.length);
  }
}

test('contract: Espruino Linux geometry (1 KiB pages, 4 KiB erase units)', () => {
  const F = new FakeFlashModule(512 * 1024, [1024], true);
  const r = checkBlockDeviceContract(() => new EspruinoFlash(F, { base: F.start + 64 * 1024, size: 256 * 1024 }), { program: 'nor' });
  assert.ok(r.passed, formatContractReport(r));
  assert.ok(r.rules.length >= 14);
});

test('contract: ESP32 geometry (4 KiB pages)', () => {
  const F = new FakeFlashModule(512 * 1024, [4096], true);
  const dev = new EspruinoFlash(F, { base: F.start + 0x10000, size: 0x40000 });
  assert.is(dev.pageSize, 4096);
  assert.is(dev.eraseSize, 4096);
  const r = checkBlockDeviceContract(() => new EspruinoFlash(F, { base: F.start + 0x10000, size: 0x40000 }), { program: 'nor' });
  assert.ok(r.passed, formatContractReport(r));
});

test('contract: erase size equal to a 1 KiB page, byte writes, small chunks', () => {
  const F = new FakeFlashModule(128 * 1024, [1024]);
  const r = checkBlockDeviceContract(() => new EspruinoFlash(F, { base: F.start, size: 64 * 1024, eraseSize: 1024, writeSize: 1, chunk: 64 }), { program: 'nor' });
  assert.ok(r.passed, formatContractReport(r));
});

test('nothing outside the region is read, written or erased, even by rejected calls', () => {
  const F = new FakeFlashModule(512 * 1024, [1024], true);
  F.bytes.fill(0x5a);
  const base = F.start + 128 * 1024;
  const size = 128 * 1024;
  const r = checkBlockDeviceContract(() => new EspruinoFlash(F, { base, size }), { program: 'nor' });
  assert.ok(r.passed, formatContractReport(r));
  assert.ok(F.touched.length > 100);
  const outside = F.touched.filter((t) => t.from < base || t.to > base + size);
  assert.equal(outside, []);
  // The bytes around the region are as they were.
  assert.ok(F.bytes.subarray(0, 128 * 1024).every((b) => b === 0x5a));
  assert.ok(F.bytes.subarray(256 * 1024).every((b) => b === 0x5a));
});

test('reads and writes reach the module in pieces of at most `chunk` bytes', () => {
  const F = new FakeFlashModule(64 * 1024, [1024]);
  const dev = new EspruinoFlash(F, { base: F.start, size: 64 * 1024, chunk: 512 });
  const data = new Uint8Array(5000).map((_, i) => (i * 7) & 0xff);
  dev.write(1000, data);
  const back = new Uint8Array(5000);
  dev.read(1000, back);
  assert.equal(back, data);
  assert.ok(F.touched.filter((t) => t.op !== 'erase').every((t) => t.to - t.from <= 512));
  assert.is(F.touched.filter((t) => t.op === 'write').length, 10);
});

test('a module that is a function object (as the built-in modules of Espruino are) is accepted', () => {
  const F = new FakeFlashModule(16 * 1024, [4096]);
  const M = Object.assign(function Flash() {}, {
    getPage: (a: number) => F.getPage(a),
    write: (d: Uint8Array, a: number) => F.write(d, a),
    erasePage: (a: number) => F.erasePage(a),
    read: (n: number, a: number) => F.read(n, a),
  });
  const dev = new EspruinoFlash(M, { base: F.start, size: 16 * 1024 });
  dev.erase(0, 4096);
  dev.write(0, new Uint8Array([1, 2, 3, 4]));
  const into = new Uint8Array(4);
  dev.read(0, into);
  assert.equal(Array.from(into), [1, 2, 3, 4]);
});

test('a module whose read returns a string (older firmware) is read byte by byte', () => {
  const F = new FakeFlashModule(16 * 1024, [4096]);
  F.bytes.set([1, 2, 3, 250], 8);
  const M: EspruinoFlashModule = {
    getPage: (a) => F.getPage(a),
    write: (d, a) => F.write(d, a),
    erasePage: (a) => F.erasePage(a),
    read: (n, a) => String.fromCharCode(...F.read(n, a)),
  };
  const dev = new EspruinoFlash(M, { base: F.start, size: 16 * 1024 });
  const into = new Uint8Array(4);
  dev.read(8, into);
  assert.equal(Array.from(into), [1, 2, 3, 250]);
});

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.instance(e, OtaflashError);
    return (e as OtaflashError).code;
  }
  return 'no error';
}

test('bad construction gets typed errors', () => {
  const F = new FakeFlashModule(64 * 1024, [1024]);
  assert.is(code(() => new EspruinoFlash({} as unknown as EspruinoFlashModule, { base: F.start, size: 4096 })), 'FLASH_BAD_ARGUMENT');
  assert.is(code(() => new EspruinoFlash(null as unknown as EspruinoFlashModule, { base: F.start, size: 4096 })), 'FLASH_BAD_ARGUMENT');
  assert.is(code(() => new EspruinoFlash(F, null as unknown as { base: number; size: number })), 'FLASH_BAD_ARGUMENT');
  assert.is(code(() => new EspruinoFlash(F, { base: F.start + 512, size: 4096 })), 'FLASH_BAD_GEOMETRY'); // not a page start
  assert.is(code(() => new EspruinoFlash(F, { base: 0, size: 4096 })), 'FLASH_BAD_GEOMETRY'); // no flash there
  assert.is(code(() => new EspruinoFlash(F, { base: F.start, size: 6144 })), 'FLASH_BAD_GEOMETRY'); // not a multiple of 4 KiB
  assert.is(code(() => new EspruinoFlash(F, { base: F.start, size: 128 * 1024 })), 'FLASH_BAD_GEOMETRY'); // past the flash end
  assert.is(code(() => new EspruinoFlash(F, { base: F.start, size: 4096, eraseSize: 512 })), 'FLASH_BAD_GEOMETRY'); // below a page
  assert.is(code(() => new EspruinoFlash(F, { base: F.start, size: 4096, writeSize: 3 })), 'FLASH_BAD_GEOMETRY');
  assert.is(code(() => new EspruinoFlash(F, { base: '0' as unknown as number, size: 4096 })), 'FLASH_BAD_GEOMETRY');
  assert.is(code(() => new EspruinoFlash(F, { base: F.start, size: 4096 })), 'no error');
});

test('a page that changes size inside the region stops the erase before it touches a neighbour', () => {
  // 4 KiB pages, then one 16 KiB page from 0x8000: a 4 KiB erase unit cannot erase part of it.
  const F = new FakeFlashModule(0x10000, [4096, 4096, 4096, 4096, 4096, 4096, 4096, 4096, 16384]);
  const dev = new EspruinoFlash(F, { base: F.start, size: 0xc000 });
  F.bytes.fill(0);
  dev.erase(0x7000, 0x1000);
  assert.is(F.bytes[0x7000], 0xff);
  assert.is(code(() => dev.erase(0x8000, 0x1000)), 'FLASH_BAD_GEOMETRY');
  assert.ok(F.bytes.subarray(0x8000, 0xc000).every((b) => b === 0));
});

test('a short read from the module is an error, not silent garbage', () => {
  const F = new FakeFlashModule(16 * 1024, [4096]);
  const M: EspruinoFlashModule = { getPage: (a) => F.getPage(a), write: (d, a) => F.write(d, a), erasePage: (a) => F.erasePage(a), read: (n, a) => F.read(n - 1, a) };
  const dev = new EspruinoFlash(M, { base: F.start, size: 16 * 1024 });
  assert.is(code(() => dev.read(0, new Uint8Array(16))), 'FLASH_IO');
});

test.run();

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MemoryFlash } from '../../src/flash/memory';
import { RegionFlash } from '../../src/flash/region';
import { TimedFlash, W25Q32JV, eraseTimeMs, planErase, programTimeMs, readTimeMs } from '../../src/flash/timing';

// Expected figures below are worked out by hand from the W25Q32JV datasheet values in the profile.

test('erase plan: greedy aligned 64K, then 32K, then sectors', () => {
  const steps = planErase(W25Q32JV, 0x1000, 0x1f000 + 0x8000);
  // 0x1000..0x8000 sectors (7), 0x8000 32K, 0x10000 64K, 0x20000 32K
  assert.equal(steps.map((s) => s.size), [4096, 4096, 4096, 4096, 4096, 4096, 4096, 32768, 65536, 32768]);
  assert.is(eraseTimeMs(W25Q32JV, 0x1000, 0x1f000 + 0x8000), 7 * 45 + 120 + 150 + 120);
  assert.is(eraseTimeMs(W25Q32JV, 0x1000, 0x1f000 + 0x8000, 'max'), 7 * 400 + 1600 + 2000 + 1600);
  assert.is(eraseTimeMs(W25Q32JV, 0, 0x10000, 'typ', []), 16 * 45);
});

test('program time: per page touched, byte formula capped at the page time', () => {
  assert.is(programTimeMs(W25Q32JV, 0, 256), 0.4);
  assert.ok(Math.abs(programTimeMs(W25Q32JV, 0, 4096) - 6.4) < 1e-9);
  // 1 byte: tBP1; 11 bytes: tBP1 + 10 tBP2 = 0.055 ms
  assert.ok(Math.abs(programTimeMs(W25Q32JV, 5, 1) - 0.03) < 1e-12);
  assert.ok(Math.abs(programTimeMs(W25Q32JV, 5, 11) - 0.055) < 1e-12);
  // 256 bytes straddling a page boundary = two partial pages, each capped at 0.4
  assert.ok(Math.abs(programTimeMs(W25Q32JV, 128, 256) - 2 * Math.min(0.4, 0.03 + 127 * 0.0025)) < 1e-12);
  assert.is(programTimeMs(W25Q32JV, 0, 256, 'max'), 3);
});

test('read time: 6.25 MB/s plus command overhead', () => {
  assert.ok(Math.abs(readTimeMs(W25Q32JV, 6250) - (1 + 32 / 50e3)) < 1e-12);
});

test('TimedFlash accumulates chip time and counts erase commands; strategy shows in ms', () => {
  const whole = new TimedFlash(new MemoryFlash({ size: 1 << 20 }), W25Q32JV);
  whole.erase(0x10000, 0x20000);
  assert.is(whole.eraseMs, 300);
  assert.equal(whole.eraseCommands, { 65536: 2 });
  const ahead = new TimedFlash(new MemoryFlash({ size: 1 << 20 }), W25Q32JV);
  for (let o = 0x10000; o < 0x30000; o += 4096) ahead.erase(o, 4096);
  assert.is(ahead.eraseMs, 32 * 45);
  ahead.write(0x10000, new Uint8Array(1024));
  ahead.read(0, new Uint8Array(6250));
  assert.ok(Math.abs(ahead.elapsedMs - (32 * 45 + 1.6 + 1 + 32 / 50e3)) < 1e-9);
  ahead.resetTime();
  assert.is(ahead.elapsedMs, 0);
  assert.equal(ahead.eraseCommands, {});
});

test('TimedFlash over a region uses block erase only where the region keeps alignment', () => {
  const dev = new MemoryFlash({ size: 1 << 20 });
  const odd = new TimedFlash(new RegionFlash(dev, 0x9000, 0x20000, 'odd'), W25Q32JV);
  odd.erase(0, 0x10000);
  assert.is(odd.eraseMs, 16 * 45);
  const even = new TimedFlash(new RegionFlash(dev, 0x10000, 0x20000, 'even'), W25Q32JV);
  even.erase(0, 0x10000);
  assert.is(even.eraseMs, 150);
});

test('a profile whose sector size differs from the device is refused', () => {
  let code = '';
  try {
    new TimedFlash(new MemoryFlash({ size: 65536, eraseSize: 1024 }), W25Q32JV);
  } catch (e) {
    code = (e as { code: string }).code;
  }
  assert.is(code, 'FLASH_BAD_GEOMETRY');
});

test.run();

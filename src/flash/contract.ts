import { OtaflashError } from '../errors';
import { randomBelow, seededRandom } from './rng';
import type { BlockDevice } from './types';

/**
 * The block-device contract as an executable check. Run it on any driver:
 *
 *   const report = checkBlockDeviceContract(() => new MyFlash(...), { program: 'strict' });
 *   if (!report.passed) throw new Error(formatContractReport(report));
 *
 * The factory is called once per rule and must return a device whose contents may be destroyed.
 * Rules: geometry, erase-value, read-after-write, write-is-local, caller-owns-buffers,
 * unaligned-views, program-clears-bits, zero-to-one, erase-is-local, block-erase, bounds,
 * alignment, zero-length, sync (and durability across reopen when `reopen` is given).
 * The program rules assume NOR polarity (eraseValue 0xFF, programs clear bits); for other
 * erase values they are skipped and listed in `skipped`.
 */
export interface ContractOptions {
  /**
   * How the device must treat a program that needs a 0->1 bit change: 'strict' throws
   * FLASH_WRITE_NOT_ERASED and changes nothing, 'nor' stores old AND new, 'either' (default) accepts both.
   */
  program?: 'strict' | 'nor' | 'either';
  seed?: number;
  /** Opens the same storage again after sync(), to check that synced data is durable (file drivers). */
  reopen?: (device: BlockDevice) => BlockDevice;
  /** Releases a device from the factory or `reopen` after its rule (closes files). */
  dispose?: (device: BlockDevice) => void;
}

export interface ContractFailure {
  rule: string;
  message: string;
}

export interface ContractReport {
  passed: boolean;
  failures: ContractFailure[];
  /** Rules that ran. */
  rules: string[];
  /** Rules that did not apply to this device, with the reason. */
  skipped: string[];
}

class Violation extends Error {}

function fail(message: string): never {
  throw new Violation(message);
}

interface Ctx {
  rand: () => number;
  opts: ContractOptions;
  skip(why: string): void;
  open(dev: BlockDevice): BlockDevice;
}

function randomBytes(rand: () => number, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = randomBelow(rand, 256);
  return b;
}

function readBack(dev: BlockDevice, offset: number, length: number): Uint8Array {
  const b = new Uint8Array(length);
  dev.read(offset, b);
  return b;
}

function firstDiff(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

function expectBytes(dev: BlockDevice, offset: number, expected: Uint8Array, what: string): void {
  const got = readBack(dev, offset, expected.length);
  const d = firstDiff(got, expected);
  if (d >= 0) fail(`${what}: byte at 0x${(offset + d).toString(16)} reads 0x${got[d].toString(16)}, expected 0x${expected[d].toString(16)}`);
}

function expectFill(dev: BlockDevice, offset: number, length: number, value: number, what: string): void {
  const e = new Uint8Array(length);
  e.fill(value);
  expectBytes(dev, offset, e, what);
}

function expectError(what: string, codes: string[], fn: () => void): void {
  try {
    fn();
  } catch (e) {
    if (e instanceof OtaflashError && codes.indexOf(e.code) >= 0) return;
    const got = e instanceof OtaflashError ? `OtaflashError ${e.code}` : e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    fail(`${what}: expected OtaflashError ${codes.join(' or ')}, got ${got}`);
  }
  fail(`${what}: expected OtaflashError ${codes.join(' or ')}, but the call succeeded`);
}

function expectOk(what: string, fn: () => void): void {
  try {
    fn();
  } catch (e) {
    fail(`${what}: expected to succeed, threw ${e instanceof OtaflashError ? e.code + ' ' : ''}${e instanceof Error ? e.message : String(e)}`);
  }
}

/** A write length near `n` that is a multiple of the write size. */
function wlen(dev: BlockDevice, n: number): number {
  return Math.max(dev.writeSize, n - (n % dev.writeSize));
}

/** The first two sectors (or the only one) and the last, erased, with their offsets. */
function eraseSome(dev: BlockDevice): void {
  dev.erase(0, Math.min(dev.size, 2 * dev.eraseSize));
  dev.erase(dev.size - dev.eraseSize, dev.eraseSize);
}

function isPow2(n: number): boolean {
  return typeof n === 'number' && n > 0 && n === Math.floor(n) && (n & (n - 1)) === 0;
}

const RULES: { name: string; run: (dev: BlockDevice, ctx: Ctx) => void }[] = [
  {
    name: 'geometry',
    run(dev) {
      if (!isPow2(dev.eraseSize)) fail(`eraseSize ${dev.eraseSize} is not a power of two`);
      if (!isPow2(dev.writeSize) || dev.writeSize > dev.eraseSize) fail(`writeSize ${dev.writeSize} is not a power of two dividing eraseSize`);
      if (!(dev.size > 0 && dev.size % dev.eraseSize === 0)) fail(`size ${dev.size} is not a positive multiple of eraseSize`);
      if (!(dev.eraseValue >= 0 && dev.eraseValue <= 255 && dev.eraseValue === Math.floor(dev.eraseValue))) fail(`eraseValue ${dev.eraseValue} is not a byte`);
      for (const b of dev.blockEraseSizes ?? []) if (!isPow2(b) || b % dev.eraseSize !== 0) fail(`block erase size ${b} is not a power-of-two multiple of eraseSize`);
      for (const m of ['read', 'write', 'erase', 'sync'] as const) if (typeof dev[m] !== 'function') fail(`${m} is not a method`);
    },
  },
  {
    name: 'erase-value',
    run(dev) {
      const s = dev.eraseSize;
      const first = readBack(dev, 0, Math.min(dev.size, 2 * s));
      // Dirty the sectors so that the erase has something to do.
      if (dev.eraseValue === 0xff) {
        const z = new Uint8Array(wlen(dev, Math.min(64, s)));
        for (let o = 0; o < first.length; o += s) dev.write(o + s - z.length, z);
        dev.write(dev.size - z.length, z);
      }
      eraseSome(dev);
      expectFill(dev, 0, first.length, dev.eraseValue, 'after erase(0, 2 sectors)');
      expectFill(dev, dev.size - s, s, dev.eraseValue, 'after erasing the last sector');
    },
  },
  {
    name: 'read-after-write',
    run(dev, ctx) {
      eraseSome(dev);
      const s = dev.eraseSize;
      // One write across the sector boundary (when there are two sectors), one ending at the device end.
      const n = wlen(dev, Math.min(s, 300));
      const at = dev.size >= 2 * s ? s - wlen(dev, Math.floor(n / 2)) : 0;
      const a = randomBytes(ctx.rand, n);
      dev.write(at, a);
      expectBytes(dev, at, a, 'read of a write');
      const b = randomBytes(ctx.rand, n);
      dev.write(dev.size - n, b);
      expectBytes(dev, dev.size - n, b, 'read of a write at the device end');
      // Reads of odd sizes and offsets see the same bytes as one big read.
      for (let k = 0; k < 8; k++) {
        const o = randomBelow(ctx.rand, n);
        const len = 1 + randomBelow(ctx.rand, n - o);
        const part = readBack(dev, at + o, len);
        const d = firstDiff(part, a.subarray(o, o + len));
        if (d >= 0) fail(`read of ${len} bytes at 0x${(at + o).toString(16)} differs at byte ${d}`);
      }
    },
  },
  {
    name: 'write-is-local',
    run(dev, ctx) {
      eraseSome(dev);
      const w = dev.writeSize;
      const n = wlen(dev, 40);
      const at = 4 * w;
      dev.write(at, randomBytes(ctx.rand, n));
      expectFill(dev, 0, at, dev.eraseValue, 'bytes before a write');
      expectFill(dev, at + n, Math.min(dev.eraseSize, dev.size) - at - n, dev.eraseValue, 'bytes after a write');
    },
  },
  {
    name: 'caller-owns-buffers',
    run(dev, ctx) {
      eraseSome(dev);
      const n = wlen(dev, 64);
      const data = randomBytes(ctx.rand, n);
      const copy = data.slice();
      dev.write(0, data);
      data.fill(0);
      expectBytes(dev, 0, copy, 'after the caller reused its write buffer');
      const into = new Uint8Array(n + 8);
      into.fill(0x5a);
      dev.read(0, into.subarray(4, 4 + n));
      for (const i of [0, 1, 2, 3, n + 4, n + 5, n + 6, n + 7]) if (into[i] !== 0x5a) fail(`read into a subarray wrote outside it at index ${i}`);
      const d = firstDiff(into.subarray(4, 4 + n), copy);
      if (d >= 0) fail(`read into a subarray differs at byte ${d}`);
      into.fill(0);
      expectBytes(dev, 0, copy, 'after the caller reused its read buffer');
    },
  },
  {
    name: 'unaligned-views',
    run(dev, ctx) {
      eraseSome(dev);
      const n = wlen(dev, 100);
      for (let shift = 1; shift < 4; shift++) {
        const backing = randomBytes(ctx.rand, n + 8);
        const view = backing.subarray(shift, shift + n);
        const at = (shift - 1) * wlen(dev, 128);
        dev.write(at, view);
        const into = new Uint8Array(n + 4).subarray(shift, shift + n);
        dev.read(at, into);
        const d = firstDiff(into, view);
        if (d >= 0) fail(`write from / read into a view at byteOffset ${shift} differs at byte ${d}`);
      }
    },
  },
  {
    name: 'program-clears-bits',
    run(dev, ctx) {
      if (dev.eraseValue !== 0xff) return ctx.skip('eraseValue is not 0xFF');
      eraseSome(dev);
      const n = wlen(dev, 64);
      const a = randomBytes(ctx.rand, n);
      const b = randomBytes(ctx.rand, n);
      for (let i = 0; i < n; i++) b[i] &= a[i];
      dev.write(0, a);
      expectOk('a second program that only clears bits', () => dev.write(0, b));
      expectBytes(dev, 0, b, 'after a second program that only clears bits');
    },
  },
  {
    name: 'zero-to-one',
    run(dev, ctx) {
      if (dev.eraseValue !== 0xff) return ctx.skip('eraseValue is not 0xFF');
      eraseSome(dev);
      const n = wlen(dev, 64);
      const a = randomBytes(ctx.rand, n);
      a[n - 1] = 0x0f; // at least one bit must rise: the last byte, so a check that stops early is caught too
      const b = randomBytes(ctx.rand, n);
      b[n - 1] = 0xf0;
      dev.write(0, a);
      const mode = ctx.opts.program ?? 'either';
      let threw: unknown = null;
      try {
        dev.write(0, b);
      } catch (e) {
        threw = e;
      }
      const and = new Uint8Array(n);
      for (let i = 0; i < n; i++) and[i] = a[i] & b[i];
      if (threw !== null) {
        if (!(threw instanceof OtaflashError && threw.code === 'FLASH_WRITE_NOT_ERASED')) {
          fail(`a 0->1 program threw ${threw instanceof OtaflashError ? threw.code : String(threw)}, expected FLASH_WRITE_NOT_ERASED`);
        }
        if (mode === 'nor') fail('a 0->1 program threw, but this device should store old AND new');
        expectBytes(dev, 0, a, 'after a rejected 0->1 program (nothing may change)');
      } else {
        if (mode === 'strict') fail('a 0->1 program was accepted, expected FLASH_WRITE_NOT_ERASED');
        expectBytes(dev, 0, and, 'after a 0->1 program (a NOR chip stores old AND new)');
      }
    },
  },
  {
    name: 'erase-is-local',
    run(dev, ctx) {
      const s = dev.eraseSize;
      if (dev.size < 3 * s) return ctx.skip('fewer than 3 sectors');
      dev.erase(0, 3 * s);
      const data = randomBytes(ctx.rand, 3 * s - (3 * s) % dev.writeSize);
      dev.write(0, data);
      dev.erase(s, s);
      expectBytes(dev, 0, data.subarray(0, s), 'the sector before an erased one');
      expectFill(dev, s, s, dev.eraseValue, 'the erased sector');
      expectBytes(dev, 2 * s, data.subarray(2 * s), 'the sector after an erased one');
    },
  },
  {
    name: 'block-erase',
    run(dev, ctx) {
      const blocks = (dev.blockEraseSizes ?? []).filter((b) => b <= dev.size);
      if (blocks.length === 0) return ctx.skip('no block erase sizes');
      for (const b of blocks) {
        dev.erase(0, b);
        const data = randomBytes(ctx.rand, wlen(dev, 256));
        dev.write(0, data);
        dev.write(b - data.length, data);
        dev.erase(0, b);
        expectFill(dev, 0, b, dev.eraseValue, `after erase(0, ${b})`);
      }
    },
  },
  {
    name: 'bounds',
    run(dev) {
      eraseSome(dev);
      const w = dev.writeSize;
      const size = dev.size;
      expectError('read of 2 bytes at size - 1', ['FLASH_OUT_OF_RANGE'], () => dev.read(size - 1, new Uint8Array(2)));
      expectError('read at size + 4096', ['FLASH_OUT_OF_RANGE'], () => dev.read(size + 4096, new Uint8Array(1)));
      expectError('write straddling the end', ['FLASH_OUT_OF_RANGE'], () => dev.write(size - w, new Uint8Array(2 * w)));
      expectFill(dev, size - w, w, dev.eraseValue, 'the last bytes after a rejected write straddling the end');
      expectError('erase of one sector at size', ['FLASH_OUT_OF_RANGE'], () => dev.erase(size, dev.eraseSize));
      expectError('erase of size + one sector', ['FLASH_OUT_OF_RANGE'], () => dev.erase(0, size + dev.eraseSize));
      const bad = ['FLASH_BAD_ARGUMENT', 'FLASH_OUT_OF_RANGE'];
      expectError('read at offset -1', bad, () => dev.read(-1, new Uint8Array(1)));
      expectError('write at offset -writeSize', bad, () => dev.write(-w, new Uint8Array(w)));
      expectError('erase at a negative offset', bad, () => dev.erase(-dev.eraseSize, dev.eraseSize));
      expectError('erase with a negative length', bad.concat('FLASH_MISALIGNED'), () => dev.erase(0, -dev.eraseSize));
      expectError('read at offset NaN', bad, () => dev.read(NaN, new Uint8Array(1)));
      expectError('read at offset 0.5', bad.concat('FLASH_MISALIGNED'), () => dev.read(0.5, new Uint8Array(1)));
      expectError('erase at offset Infinity', bad.concat('FLASH_MISALIGNED'), () => dev.erase(Infinity, dev.eraseSize));
      expectFill(dev, 0, Math.min(size, 2 * dev.eraseSize), dev.eraseValue, 'first sectors after rejected calls');
    },
  },
  {
    name: 'alignment',
    run(dev, ctx) {
      eraseSome(dev);
      const s = dev.eraseSize;
      if (s > 1) {
        expectError('erase at offset eraseSize / 2', ['FLASH_MISALIGNED'], () => dev.erase(s / 2, s));
        expectError('erase of eraseSize / 2 bytes', ['FLASH_MISALIGNED'], () => dev.erase(0, s / 2));
        expectError('erase at offset 1', ['FLASH_MISALIGNED'], () => dev.erase(1, s));
      } else ctx.skip('eraseSize 1: every erase is aligned');
      const w = dev.writeSize;
      if (w > 1) {
        expectError('write at offset 1', ['FLASH_MISALIGNED'], () => dev.write(1, new Uint8Array(w)));
        expectError('write of writeSize + 1 bytes', ['FLASH_MISALIGNED'], () => dev.write(0, new Uint8Array(w + 1)));
      }
      expectFill(dev, 0, s, dev.eraseValue, 'first sector after rejected misaligned calls');
    },
  },
  {
    name: 'zero-length',
    run(dev) {
      eraseSome(dev);
      const size = dev.size;
      const empty = new Uint8Array(0);
      expectOk('read of 0 bytes at 0', () => dev.read(0, empty));
      expectOk('read of 0 bytes at size', () => dev.read(size, empty));
      expectOk('write of 0 bytes at 0', () => dev.write(0, empty));
      expectOk('write of 0 bytes at size', () => dev.write(size, empty));
      expectOk('erase of 0 bytes at 0', () => dev.erase(0, 0));
      expectOk('erase of 0 bytes at size', () => dev.erase(size, 0));
      expectError('read of 0 bytes past the end', ['FLASH_OUT_OF_RANGE'], () => dev.read(size + dev.eraseSize, empty));
      expectError('erase of 0 bytes past the end', ['FLASH_OUT_OF_RANGE'], () => dev.erase(size + dev.eraseSize, 0));
      expectFill(dev, 0, Math.min(size, 2 * dev.eraseSize), dev.eraseValue, 'first sectors after zero-length calls');
    },
  },
  {
    name: 'sync',
    run(dev, ctx) {
      eraseSome(dev);
      const data = randomBytes(ctx.rand, wlen(dev, 200));
      dev.write(0, data);
      expectOk('sync()', () => dev.sync());
      expectOk('a second sync()', () => dev.sync());
      expectBytes(dev, 0, data, 'after sync()');
      if (ctx.opts.reopen) {
        const again = ctx.open(ctx.opts.reopen(dev));
        expectBytes(again, 0, data, 'after sync() and reopen');
        expectFill(again, dev.size - dev.eraseSize, dev.eraseSize, dev.eraseValue, 'erased last sector after sync() and reopen');
        if (again.size !== dev.size) fail(`reopened size ${again.size} differs from ${dev.size}`);
      } else ctx.skip('durability: no reopen given');
    },
  },
];

export const CONTRACT_RULES: readonly string[] = RULES.map((r) => r.name);

/** Checks a device driver against every rule of the contract; never throws for a failing device. */
export function checkBlockDeviceContract(factory: () => BlockDevice, opts: ContractOptions = {}): ContractReport {
  const report: ContractReport = { passed: true, failures: [], rules: [], skipped: [] };
  const seed = opts.seed ?? 0x5eed;
  for (let i = 0; i < RULES.length; i++) {
    const rule = RULES[i];
    const opened: BlockDevice[] = [];
    const ctx: Ctx = {
      rand: seededRandom((seed + i * 7919) >>> 0),
      opts,
      skip: (why) => report.skipped.push(`${rule.name}: ${why}`),
      open: (d) => {
        opened.push(d);
        return d;
      },
    };
    report.rules.push(rule.name);
    try {
      rule.run(ctx.open(factory()), ctx);
    } catch (e) {
      const message = e instanceof Violation ? e.message : `unexpected ${e instanceof OtaflashError ? e.code + ' ' : ''}${e instanceof Error ? e.message : String(e)}`;
      report.failures.push({ rule: rule.name, message });
    } finally {
      if (opts.dispose) for (const d of opened) {
        try {
          opts.dispose(d);
        } catch (e) {
          report.failures.push({ rule: rule.name, message: `dispose threw ${e instanceof Error ? e.message : String(e)}` });
        }
      }
    }
  }
  report.passed = report.failures.length === 0;
  return report;
}

export function formatContractReport(r: ContractReport): string {
  if (r.passed) return `block-device contract: ${r.rules.length} rules passed` + (r.skipped.length ? ` (skipped: ${r.skipped.join('; ')})` : '');
  return `block-device contract: ${r.failures.length} of ${r.rules.length} rules failed\n` + r.failures.map((f) => `  ${f.rule}: ${f.message}`).join('\n');
}

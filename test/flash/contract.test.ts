import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { OtaflashError } from '../../src/errors';
import { checkBlockDeviceContract, formatContractReport, type ContractOptions } from '../../src/flash/contract';
import { FaultyFlash } from '../../src/flash/faults';
import { MemoryFlash } from '../../src/flash/memory';
import { RegionFlash } from '../../src/flash/region';
import { StatsFlash } from '../../src/flash/stats';
import { TimedFlash, W25Q32JV } from '../../src/flash/timing';
import type { BlockDevice } from '../../src/flash/types';

function passes(name: string, factory: () => BlockDevice, opts: ContractOptions = {}): void {
  test(`contract: ${name}`, () => {
    const r = checkBlockDeviceContract(factory, opts);
    assert.ok(r.passed, formatContractReport(r));
    assert.ok(r.rules.length >= 14);
  });
}

passes('MemoryFlash strict', () => new MemoryFlash({ size: 1 << 20 }), { program: 'strict' });
passes('MemoryFlash nor', () => new MemoryFlash({ size: 1 << 20, mode: 'nor' }), { program: 'nor' });
passes('MemoryFlash strict, writeSize 16 (internal flash)', () => new MemoryFlash({ size: 256 * 1024, writeSize: 16 }), { program: 'strict' });
passes('MemoryFlash nor, writeSize 4, 1 KiB sectors', () => new MemoryFlash({ size: 64 * 1024, writeSize: 4, eraseSize: 1024, blockEraseSizes: [], mode: 'nor' }), { program: 'nor' });
passes('MemoryFlash with initial contents', () => new MemoryFlash({ size: 1 << 20, contents: new Uint8Array(5000) }), { program: 'strict' });
passes('RegionFlash over MemoryFlash', () => new RegionFlash(new MemoryFlash({ size: 1 << 20 }), 0x10000, 0x40000, 'ota_0'), { program: 'strict' });
passes('RegionFlash at an odd sector', () => new RegionFlash(new MemoryFlash({ size: 1 << 20, mode: 'nor' }), 0x9000, 0x6000, 'nvs'), { program: 'nor' });
passes('FaultyFlash without a cut', () => new FaultyFlash(new MemoryFlash({ size: 1 << 20 })), { program: 'strict' });
passes('StatsFlash', () => new StatsFlash(new MemoryFlash({ size: 1 << 20 })), { program: 'strict' });
passes('TimedFlash', () => new TimedFlash(new MemoryFlash({ size: 1 << 20 }), W25Q32JV), { program: 'strict' });

// The suite must be able to fail: each broken driver below breaks one rule and must be caught there.
class Broken extends MemoryFlash {
  constructor(readonly flaw: string) {
    super({ size: 256 * 1024, mode: flaw === 'no-and' ? 'nor' : 'strict' });
  }
  override read(offset: number, into: Uint8Array): void {
    if (this.flaw === 'no-bounds') {
      into.set(this.bytes.subarray(offset, offset + into.length));
      return;
    }
    super.read(offset, into);
    // A driver that caches the caller's write buffers serves reads from them.
    for (const [o, d] of this.kept) if (o === offset && d.length === into.length) into.set(d);
  }
  override write(offset: number, data: Uint8Array): void {
    if (this.flaw === 'no-and') {
      this.poke(offset, data); // stores new bytes instead of old AND new
      return;
    }
    if (this.flaw === 'keeps-reference' && data.length > 0) {
      super.write(offset, data);
      this.kept.push([offset, data]);
      return;
    }
    if (this.flaw === 'write-past-end' && offset + data.length > this.size) {
      this.poke(offset, data.subarray(0, this.size - offset));
      throw new OtaflashError('FLASH_OUT_OF_RANGE', 'too late');
    }
    super.write(offset, data);
  }
  kept: [number, Uint8Array][] = [];
  override erase(offset: number, length: number): void {
    if (this.flaw === 'erase-misaligned-ok' && offset % this.eraseSize !== 0) return;
    if (this.flaw === 'erase-one-short' && length > this.eraseSize) length -= this.eraseSize;
    super.erase(offset, length);
    this.kept = [];
  }
}

for (const [flaw, rule, program] of [
  ['no-bounds', 'bounds', 'strict'],
  ['no-and', 'zero-to-one', 'nor'],
  ['keeps-reference', 'caller-owns-buffers', 'strict'],
  ['write-past-end', 'bounds', 'strict'],
  ['erase-misaligned-ok', 'alignment', 'strict'],
  ['erase-one-short', 'erase-value', 'strict'],
] as const) {
  test(`contract catches a driver with flaw '${flaw}' in rule ${rule}`, () => {
    const r = checkBlockDeviceContract(() => new Broken(flaw), { program });
    assert.not.ok(r.passed);
    assert.ok(
      r.failures.some((f) => f.rule === rule),
      `expected a failure in ${rule}, got: ${formatContractReport(r)}`,
    );
  });
}

test('contract: strict expectation fails a nor device and vice versa', () => {
  const a = checkBlockDeviceContract(() => new MemoryFlash({ size: 1 << 16, mode: 'nor' }), { program: 'strict' });
  assert.equal(a.failures.map((f) => f.rule), ['zero-to-one']);
  const b = checkBlockDeviceContract(() => new MemoryFlash({ size: 1 << 16 }), { program: 'nor' });
  assert.equal(b.failures.map((f) => f.rule), ['zero-to-one']);
});

test('contract: a factory that throws is reported, not thrown', () => {
  const r = checkBlockDeviceContract(() => {
    throw new Error('no device');
  });
  assert.not.ok(r.passed);
  assert.is(r.failures.length, r.rules.length);
  assert.match(r.failures[0].message, 'no device');
});

test.run();

import { OtaflashError, PowerLossError, hex } from '../errors';
import { checkErase, checkRange, checkWrite } from './checks';
import { MemoryFlash } from './memory';
import { randomBelow, seededRandom } from './rng';
import type { BlockDevice } from './types';

/**
 * How the operation at the cut behaves:
 * - 'before': not applied at all.
 * - 'after': fully applied, then the power goes.
 * - 'torn-prefix': a program applies only a prefix of its bytes (an erase is cut like 'interrupted-erase').
 * - 'torn-bits': a program applies a random subset of its 1->0 bit changes (an erase: 'interrupted-erase').
 * - 'interrupted-erase': an erase leaves earlier sectors erased, one sector mixed (partly erased,
 *   partly old, partly random), later sectors old; a program cut in this mode acts as 'torn-bits'.
 */
export type FaultMode = 'before' | 'after' | 'torn-prefix' | 'torn-bits' | 'interrupted-erase';

export const FAULT_MODES: readonly FaultMode[] = ['before', 'after', 'torn-prefix', 'torn-bits', 'interrupted-erase'];

export interface FaultOptions {
  /** 0-based index, among write and erase calls, of the operation the power is cut at. Omit for a clean run. */
  cutAt?: number;
  mode?: FaultMode;
  /** Seeds the random parts of torn operations; the same seed, cut and call sequence give the same bytes. */
  seed?: number;
}

/** What the cut did, for reports and replay ids. */
export interface FaultRecord {
  operation: number;
  kind: 'write' | 'erase';
  mode: FaultMode;
  offset: number;
  length: number;
  /** Bytes of a torn program's prefix that were applied (torn-prefix). */
  appliedBytes?: number;
  /** The sector left in a mixed state by an interrupted erase. */
  mixedSector?: number;
}

/**
 * Cuts the power of a MemoryFlash at one write or erase call. Valid calls are counted (calls the
 * contract rejects, such as out-of-range ones, throw their own error and do not count). From the
 * cut on every call throws PowerLossError (code POWER_LOSS) until `reboot()` hands back the
 * surviving contents as a fresh MemoryFlash. Reads and syncs are passed through and not counted.
 *
 * A program that would raise bits on a strict device throws FLASH_WRITE_NOT_ERASED as usual
 * (counted, but the power stays on): a caller bug outranks a power cut.
 */
export class FaultyFlash implements BlockDevice {
  readonly size: number;
  readonly eraseSize: number;
  readonly writeSize: number;
  readonly eraseValue: number;
  readonly blockEraseSizes?: readonly number[];
  /** -1 for a clean run. */
  readonly cutAt: number;
  readonly mode: FaultMode;
  readonly seed: number;
  /** Write and erase calls seen so far (including the cut one). */
  operations = 0;
  tripped = false;
  fault: FaultRecord | null = null;

  constructor(
    readonly inner: MemoryFlash,
    opts: FaultOptions = {},
  ) {
    // The torn-write models need MemoryFlash's program mode and bit inspection; no other device has them.
    if (!(inner instanceof MemoryFlash)) throw new OtaflashError('FAULT_BAD_OPTION', `FaultyFlash wraps a MemoryFlash, got ${inner === null ? 'null' : typeof inner}`);
    if (opts === null || typeof opts !== 'object') throw new OtaflashError('FAULT_BAD_OPTION', `FaultyFlash options must be an object, got ${opts === null ? 'null' : typeof opts}`);
    this.size = inner.size;
    this.eraseSize = inner.eraseSize;
    this.writeSize = inner.writeSize;
    this.eraseValue = inner.eraseValue;
    if (inner.blockEraseSizes) this.blockEraseSizes = inner.blockEraseSizes;
    this.cutAt = opts.cutAt === undefined ? -1 : opts.cutAt;
    this.mode = opts.mode ?? 'before';
    this.seed = (opts.seed ?? 1) >>> 0;
    const c = opts.cutAt;
    if (c !== undefined && !(typeof c === 'number' && c >= 0 && c === Math.floor(c))) {
      throw new OtaflashError('FAULT_BAD_OPTION', `cutAt ${String(opts.cutAt)} must be a non-negative integer`);
    }
    if (FAULT_MODES.indexOf(this.mode) < 0) throw new OtaflashError('FAULT_BAD_OPTION', `unknown fault mode ${String(opts.mode)}`);
  }

  read(offset: number, into: Uint8Array): void {
    this.checkPower('read', offset);
    this.inner.read(offset, into);
  }

  write(offset: number, data: Uint8Array): void {
    this.checkPower('write', offset);
    checkWrite(this, offset, data.length);
    const op = this.operations++;
    if (op !== this.cutAt) {
      this.inner.write(offset, data);
      return;
    }
    if (this.inner.mode === 'strict' && this.inner.findRaisedBit(offset, data) >= 0) {
      this.inner.write(offset, data); // throws FLASH_WRITE_NOT_ERASED
    }
    const rec: FaultRecord = { operation: op, kind: 'write', mode: this.mode, offset, length: data.length };
    const rand = this.randomFor(op);
    switch (this.mode) {
      case 'before':
        break;
      case 'after':
        this.inner.write(offset, data);
        break;
      case 'torn-prefix': {
        const n = data.length === 0 ? 0 : randomBelow(rand, data.length);
        rec.appliedBytes = n;
        this.clearBits(offset, data.subarray(0, n), null);
        break;
      }
      default:
        this.clearBits(offset, data, rand);
    }
    this.trip(rec);
  }

  erase(offset: number, length: number): void {
    this.checkPower('erase', offset);
    checkErase(this, offset, length);
    const op = this.operations++;
    if (op !== this.cutAt) {
      this.inner.erase(offset, length);
      return;
    }
    const rec: FaultRecord = { operation: op, kind: 'erase', mode: this.mode, offset, length };
    if (this.mode === 'after') this.inner.erase(offset, length);
    else if (this.mode !== 'before' && length > 0) rec.mixedSector = this.interruptErase(offset, length, this.randomFor(op));
    this.trip(rec);
  }

  sync(): void {
    this.checkPower('sync', 0);
    this.inner.sync();
  }

  /** The contents that survived, as a fresh device (same geometry and mode); this wrapper stays dead. */
  reboot(): MemoryFlash {
    return this.inner.clone();
  }

  private checkPower(op: string, offset: number): void {
    if (this.tripped) {
      const f = this.fault!;
      throw new PowerLossError(`${op} at ${hex(offset)} refused: power was cut at operation ${f.operation} (${f.kind} at ${hex(f.offset)}, ${f.mode}); reboot() first`, {
        operation: f.operation,
      });
    }
  }

  private trip(rec: FaultRecord): never {
    this.tripped = true;
    this.fault = rec;
    throw new PowerLossError(`power cut at operation ${rec.operation}: ${rec.kind} of ${rec.length} bytes at ${hex(rec.offset)} (${rec.mode})`, {
      operation: rec.operation,
      mode: rec.mode,
    });
  }

  /** Per-cut generator: the torn bytes depend on seed and cut index only, not on earlier calls. */
  private randomFor(op: number): () => number {
    return seededRandom((this.seed ^ Math.imul(op + 1, 0x9e3779b1)) >>> 0);
  }

  /** Applies the 1->0 changes of programming `data` at `offset`: all of them, or a random subset when `rand` is given. */
  private clearBits(offset: number, data: Uint8Array, rand: (() => number) | null): void {
    if (data.length === 0) return;
    const old = this.inner.bytes;
    const out = new Uint8Array(data.length);
    for (let i = 0; i < data.length; i++) {
      const cleared = old[offset + i] & ~data[i];
      const keep = rand === null ? cleared : cleared & randomBelow(rand, 256);
      out[i] = old[offset + i] & ~keep;
    }
    this.inner.poke(offset, out);
  }

  /** Sectors before the cut erased, the cut one mixed in 16-byte runs, later ones untouched. Returns the mixed sector's index. */
  private interruptErase(offset: number, length: number, rand: () => number): number {
    const es = this.eraseSize;
    const count = length / es;
    const k = randomBelow(rand, count);
    if (k > 0) this.inner.erase(offset, k * es);
    const start = offset + k * es;
    const mixed = this.inner.bytes.slice(start, start + es);
    const run = Math.min(16, es);
    for (let p = 0; p < es; p += run) {
      const r = randomBelow(rand, 3);
      if (r === 0) for (let i = p; i < p + run; i++) mixed[i] = this.eraseValue;
      else if (r === 1) for (let i = p; i < p + run; i++) mixed[i] = randomBelow(rand, 256);
      // r === 2: the run keeps its old bytes.
    }
    this.inner.poke(start, mixed);
    return start / es;
  }
}

/** Runs `scenario` on a clean FaultyFlash over `device` and returns how many write/erase operations it made: the cut points to sweep. */
export function countFlashOperations(device: MemoryFlash, scenario: (dev: FaultyFlash) => void): number {
  const dev = new FaultyFlash(device);
  scenario(dev);
  return dev.operations;
}

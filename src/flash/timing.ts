import { OtaflashError } from '../errors';
import { checkErase, checkRange, checkWrite } from './checks';
import type { BlockDevice } from './types';

/** A duration from a datasheet: typical and worst case, in milliseconds. */
export interface TypMax {
  typ: number;
  max: number;
}

/**
 * Timing of a NOR chip. Programs are charged per page touched: the byte-program formula
 * first + (n - 1) * next, capped at the full page time (datasheets give both).
 */
export interface ChipProfile {
  name: string;
  /** Where the figures come from. */
  source: string;
  size: number;
  sectorSize: number;
  sectorErase: TypMax;
  /** Larger erase commands, by size in bytes. */
  blockErase: readonly { size: number; time: TypMax }[];
  chipErase?: TypMax;
  pageSize: number;
  pageProgram: TypMax;
  firstByteProgram: TypMax;
  nextByteProgram: TypMax;
  /** Sustained read throughput in bytes per millisecond for the bus setup assumed. */
  readBytesPerMs: number;
  /** Per read command: opcode + address clocks. */
  readCommandMs: number;
}

/**
 * Winbond W25Q32JV (4 MiB SPI NOR), datasheet rev. F (2017-05-11), AC electrical characteristics:
 * tSE 45/400 ms, tBE1 (32 KiB) 120/1600 ms, tBE2 (64 KiB) 150/2000 ms, tCE 10/50 s, tPP 0.4/3 ms,
 * tBP1 30/50 us, tBP2 2.5/12 us. Read: Read Data (03h) at 50 MHz on one data line = 6.25 MB/s,
 * 32 clocks of opcode and address per command.
 * Checked 2026-11-30 against a transcription of rev. G's section 9.6: tSE, tBE1, tBE2, tCE, tPP
 * and fR agree (the 2014 preliminary rev. A1 had tPP 0.7 ms). tBP1/tBP2 were not found for the
 * JV part (they are older W25X figures): they only shape programs shorter than a page.
 */
export const W25Q32JV: ChipProfile = {
  name: 'W25Q32JV',
  source: 'Winbond W25Q32JV datasheet rev. F, 2017-05-11, section 9.6 AC Electrical Characteristics',
  size: 4 * 1024 * 1024,
  sectorSize: 4096,
  sectorErase: { typ: 45, max: 400 },
  blockErase: [
    { size: 32768, time: { typ: 120, max: 1600 } },
    { size: 65536, time: { typ: 150, max: 2000 } },
  ],
  chipErase: { typ: 10000, max: 50000 },
  pageSize: 256,
  pageProgram: { typ: 0.4, max: 3 },
  firstByteProgram: { typ: 0.03, max: 0.05 },
  nextByteProgram: { typ: 0.0025, max: 0.012 },
  readBytesPerMs: 6250,
  readCommandMs: 32 / 50e3,
};

export type TimingCorner = 'typ' | 'max';

export interface EraseStep {
  offset: number;
  size: number;
  ms: number;
}

/**
 * How a chip would carry out erase(offset, length): greedily the largest block erase that is
 * aligned and fits, else a sector erase. `allowedBlocks` limits the block sizes (the device's own).
 */
export function planErase(profile: ChipProfile, offset: number, length: number, corner: TimingCorner = 'typ', allowedBlocks?: readonly number[]): EraseStep[] {
  const blocks = profile.blockErase.filter((b) => !allowedBlocks || allowedBlocks.indexOf(b.size) >= 0).sort((a, b) => b.size - a.size);
  const steps: EraseStep[] = [];
  let p = offset;
  const end = offset + length;
  while (p < end) {
    let step: EraseStep | null = null;
    for (const b of blocks) {
      if (p % b.size === 0 && p + b.size <= end) {
        step = { offset: p, size: b.size, ms: b.time[corner] };
        break;
      }
    }
    if (!step) step = { offset: p, size: profile.sectorSize, ms: profile.sectorErase[corner] };
    steps.push(step);
    p += step.size;
  }
  return steps;
}

export function eraseTimeMs(profile: ChipProfile, offset: number, length: number, corner: TimingCorner = 'typ', allowedBlocks?: readonly number[]): number {
  let ms = 0;
  for (const s of planErase(profile, offset, length, corner, allowedBlocks)) ms += s.ms;
  return ms;
}

/** Chip time to program `length` bytes at `offset`, page by page. */
export function programTimeMs(profile: ChipProfile, offset: number, length: number, corner: TimingCorner = 'typ'): number {
  const page = profile.pageSize;
  const full = profile.pageProgram[corner];
  const first = profile.firstByteProgram[corner];
  const next = profile.nextByteProgram[corner];
  let ms = 0;
  let p = offset;
  const end = offset + length;
  while (p < end) {
    const n = Math.min(end, (Math.floor(p / page) + 1) * page) - p;
    ms += Math.min(full, first + (n - 1) * next);
    p += n;
  }
  return ms;
}

export function readTimeMs(profile: ChipProfile, length: number): number {
  return profile.readCommandMs + length / profile.readBytesPerMs;
}

export interface TimedFlashOptions {
  /** 'typ' (default) or 'max' datasheet figures. */
  corner?: TimingCorner;
  /** Let erases use the chip's block erase commands (default true); false charges every sector separately. */
  blockErase?: boolean;
}

/**
 * Wraps any device and adds up the time a real chip (per `profile`) would spend on each call,
 * so an erase or write strategy can be compared in chip milliseconds.
 */
export class TimedFlash implements BlockDevice {
  readonly size: number;
  readonly eraseSize: number;
  readonly writeSize: number;
  readonly eraseValue: number;
  readonly blockEraseSizes?: readonly number[];
  readonly corner: TimingCorner;
  eraseMs = 0;
  programMs = 0;
  readMs = 0;
  /** Erase commands issued, by size in bytes. */
  readonly eraseCommands: Record<number, number> = {};
  private readonly allowedBlocks: readonly number[];

  constructor(
    readonly inner: BlockDevice,
    readonly profile: ChipProfile,
    opts: TimedFlashOptions = {},
  ) {
    if (inner.eraseSize !== profile.sectorSize) {
      throw new OtaflashError('FLASH_BAD_GEOMETRY', `${profile.name} has ${profile.sectorSize}-byte sectors but the device erases ${inner.eraseSize} bytes`);
    }
    this.size = inner.size;
    this.eraseSize = inner.eraseSize;
    this.writeSize = inner.writeSize;
    this.eraseValue = inner.eraseValue;
    if (inner.blockEraseSizes) this.blockEraseSizes = inner.blockEraseSizes;
    this.corner = opts.corner ?? 'typ';
    // A device without blockEraseSizes offers none (a region off block alignment, for one).
    this.allowedBlocks = opts.blockErase === false ? [] : inner.blockEraseSizes ?? [];
  }

  /** Total simulated chip time so far. */
  get elapsedMs(): number {
    return this.eraseMs + this.programMs + this.readMs;
  }

  resetTime(): void {
    this.eraseMs = this.programMs = this.readMs = 0;
    for (const k of Object.keys(this.eraseCommands)) delete this.eraseCommands[Number(k)];
  }

  read(offset: number, into: Uint8Array): void {
    checkRange(this, 'read', offset, into.length);
    this.inner.read(offset, into);
    if (into.length > 0) this.readMs += readTimeMs(this.profile, into.length);
  }

  write(offset: number, data: Uint8Array): void {
    checkWrite(this, offset, data.length);
    this.inner.write(offset, data);
    this.programMs += programTimeMs(this.profile, offset, data.length, this.corner);
  }

  erase(offset: number, length: number): void {
    checkErase(this, offset, length);
    this.inner.erase(offset, length);
    for (const s of planErase(this.profile, offset, length, this.corner, this.allowedBlocks)) {
      this.eraseMs += s.ms;
      this.eraseCommands[s.size] = (this.eraseCommands[s.size] ?? 0) + 1;
    }
  }

  sync(): void {
    this.inner.sync();
  }
}

// What `detools patch_info --no-human` reports about a patch, computed by walking the body with
// the same decoders and machine as the apply (no old image needed). Figures follow detools's own
// arithmetic: ratios are round(100 * a / b, 1) (half to even, as Python's round), averages and
// medians are truncated to whole bytes.
import { OtaflashError } from '../errors';
import { type DetoolsCompression, type DetoolsPatchHeader, decodeHeatshrinkParams, readDetoolsHeader } from '../formats/detools-patch';
import { createBodyDecoder } from './body';
import { type SequentialStats, SequentialPatchMachine } from './sequential';

export type Ratio = number | 'inf';

export interface DiffExtraInfo {
  diffExtraRatio: Ratio;
  sizeDataRatio: Ratio;
  dataFormatSize: number;
  numberOfDiffs: number;
  totalDiffSize: number;
  /** null when there are no diffs (detools prints '-'). */
  averageDiffSize: number | null;
  medianDiffSize: number | null;
  numberOfExtras: number;
  totalExtraSize: number;
  averageExtraSize: number | null;
  medianExtraSize: number | null;
}

export interface SequentialPatchInfo extends DiffExtraInfo {
  type: 'sequential';
  patchSize: number;
  toSize: number;
  patchToRatio: Ratio;
  compression: DetoolsCompression;
  heatshrinkWindowSz2?: number;
  heatshrinkLookaheadSz2?: number;
}

export interface InPlaceSegmentInfo extends DiffExtraInfo {
  segment: number;
  fromRange: [number, number];
  toRange: [number, number];
}

export interface InPlacePatchInfo {
  type: 'in-place';
  patchSize: number;
  memorySize: number;
  segmentSize: number;
  fromShiftSize: number;
  fromSize: number;
  toSize: number;
  patchToRatio: Ratio;
  numberOfSegments: number;
  compression: DetoolsCompression;
  heatshrinkWindowSz2?: number;
  heatshrinkLookaheadSz2?: number;
  segments: InPlaceSegmentInfo[];
}

export type DetoolsPatchInfo = SequentialPatchInfo | InPlacePatchInfo;

/** Python's round(x, 1): the exact binary value rounded, ties (only x = k/4 can tie) to even. */
export function pythonRound1(x: number): number {
  if (Number.isInteger(x * 4) && !Number.isInteger(x * 2)) {
    const t = Math.floor(x * 10);
    return (t % 2 === 0 ? t : t + 1) / 10;
  }
  return Number(x.toFixed(1));
}

function ratio(a: number, b: number): Ratio {
  return b > 0 ? pythonRound1((100 * a) / b) : 'inf';
}

function sum(v: number[]): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i];
  return s;
}

function mean(v: number[]): number | null {
  return v.length === 0 ? null : Math.floor(sum(v) / v.length);
}

function median(v: number[]): number | null {
  if (v.length === 0) return null;
  const s = v.slice().sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : Math.floor((s[m - 1] + s[m]) / 2);
}

function diffExtra(s: SequentialStats): DiffExtraInfo {
  const diff = sum(s.diffSizes);
  const extra = sum(s.extraSizes);
  return {
    diffExtraRatio: ratio(diff, extra),
    sizeDataRatio: ratio(s.sizeBytes, diff + extra),
    dataFormatSize: s.dfpatchSize,
    numberOfDiffs: s.diffSizes.length,
    totalDiffSize: diff,
    averageDiffSize: mean(s.diffSizes),
    medianDiffSize: median(s.diffSizes),
    numberOfExtras: s.extraSizes.length,
    totalExtraSize: extra,
    averageExtraSize: mean(s.extraSizes),
    medianExtraSize: median(s.extraSizes),
  };
}

function newStats(): SequentialStats {
  return { dfpatchSize: 0, diffSizes: [], extraSizes: [], adjustments: [], sizeBytes: 0 };
}

function heatshrinkFields(h: DetoolsPatchHeader, patch: Uint8Array): { heatshrinkWindowSz2?: number; heatshrinkLookaheadSz2?: number } {
  if (h.compression !== 'heatshrink' || patch.length <= h.length) return {};
  const p = decodeHeatshrinkParams(patch[h.length]);
  return { heatshrinkWindowSz2: p.windowSz2, heatshrinkLookaheadSz2: p.lookaheadSz2 };
}

/**
 * Walks the segments of an in-place body: each is a sequential body of its own (dfpatch size,
 * then diff/extra/adjustment until the segment's share of the new image is produced).
 */
class SegmentWalker {
  readonly stats: SequentialStats[] = [];
  private machine: SequentialPatchMachine | null = null;
  private next = 0;
  constructor(
    private readonly toSize: number,
    private readonly segmentSize: number,
  ) {}
  get complete(): boolean {
    return this.next >= this.toSize && (!this.machine || this.machine.done);
  }
  feed(b: Uint8Array, s: number, e: number): void {
    let i = s;
    while (i < e) {
      if (!this.machine || this.machine.done) {
        if (this.next >= this.toSize) throw new OtaflashError('DELTA_PATCH_TOO_LONG', `the in-place patch body goes on after its last segment`);
        const st = newStats();
        this.stats.push(st);
        this.machine = new SequentialPatchMachine(Math.min(this.segmentSize, this.toSize - this.next), null, null, st);
        this.next += this.segmentSize;
      }
      i = this.machine.feedSome(b, i, e);
    }
  }
}

/** patch_info for a whole patch in memory (sequential or in-place, any applicable compression). */
export function detoolsPatchInfo(patch: Uint8Array): DetoolsPatchInfo {
  const h = readDetoolsHeader(patch);
  if (h.type !== 'sequential' && h.type !== 'in-place') {
    throw new OtaflashError('DELTA_BAD_PATCH_TYPE', `patch type ${h.typeNumber} (${h.type}) is not one detools's patch_info reads`, { patchType: h.typeNumber });
  }
  const body = patch.subarray(h.length);
  if (h.type === 'sequential') {
    const stats = newStats();
    if (h.toSize > 0) {
      const machine = new SequentialPatchMachine(h.toSize, null, null, stats);
      const dec = createBodyDecoder(h, (b, s, e) => machine.feed(b, s, e));
      dec.push(body);
      dec.finish();
      machine.finish();
    }
    return {
      type: 'sequential',
      patchSize: patch.length,
      toSize: h.toSize,
      patchToRatio: ratio(patch.length, h.toSize),
      compression: h.compression,
      ...heatshrinkFields(h, patch),
      ...diffExtra(stats),
    };
  }
  const segmentSize = h.segmentSize!;
  if (h.toSize > 0 && segmentSize <= 0) throw new OtaflashError('DELTA_CORRUPT_PATCH', 'in-place patch with segment size 0');
  const walker = new SegmentWalker(h.toSize, segmentSize);
  if (h.toSize > 0) {
    const dec = createBodyDecoder(h, (b, s, e) => walker.feed(b, s, e));
    dec.push(body);
    dec.finish();
    if (!walker.complete) throw new OtaflashError('DELTA_TRUNCATED', 'the in-place patch ends before its last segment is complete');
  }
  const memorySize = h.memorySize!;
  const shift = h.shiftSize!;
  const fromSize = h.fromSize!;
  const segments = walker.stats.map((st, i): InPlaceSegmentInfo => {
    const toBegin = segmentSize * i;
    return {
      segment: i + 1,
      // detools's own formulas (the "from" range is the same end for every segment).
      fromRange: [Math.max(segmentSize * (i + 1) - shift, 0), Math.min(fromSize, memorySize - shift)],
      toRange: [toBegin, Math.min(toBegin + segmentSize, h.toSize)],
      ...diffExtra(st),
    };
  });
  return {
    type: 'in-place',
    patchSize: patch.length,
    memorySize,
    segmentSize,
    fromShiftSize: shift,
    fromSize,
    toSize: h.toSize,
    patchToRatio: ratio(patch.length, h.toSize),
    numberOfSegments: segments.length,
    compression: h.compression,
    ...heatshrinkFields(h, patch),
    segments,
  };
}

// Patch generator (host side): detools sequential patches that detools' C code, ESP-IDF's delta
// OTA and this library's own apply all read. Holds both images in memory (they are passed in).
import { OtaflashError, kindOf } from '../errors';
import { ByteSink } from './encode-range';
import { encodeLzmaAlone, LZMA_DEFAULT_DICTIONARY, type LzmaEncodeOptions } from './encode-lzma';
import { encodeHeatshrink, checkHeatshrinkParams, HEATSHRINK_DEFAULT_LOOKAHEAD, HEATSHRINK_DEFAULT_WINDOW } from './encode-heatshrink';
import { COMPRESSION_NUMBERS, packSize, serializeRecords } from './generate-format';
import { matchRecords, MATCHER_TRIALS, type DeltaRecord, type MatcherOptions } from './generate-matcher';
import { suffixArray } from './suffix-array';

export type DeltaCreateCompression = 'lzma' | 'heatshrink' | 'none';

export interface DeltaCreateOptions {
  /** Default 'lzma'. */
  compression?: DeltaCreateCompression;
  /** LZMA dictionary in bytes, 4 KiB..64 MiB; default 64 KiB so a small device can apply the patch. */
  dictionarySize?: number;
  /** heatshrink window, log2 bytes (default 8, as detools). */
  heatshrinkWindow?: number;
  /** heatshrink lookahead, log2 bytes (default 7, as detools). */
  heatshrinkLookahead?: number;
  /** Fine-tuning of the LZMA encoder (lc, lp, pb, match search); dictionarySize above wins. */
  lzma?: Omit<LzmaEncodeOptions, 'dictionarySize'>;
  /** Fine-tuning of the record matcher. */
  matcher?: MatcherOptions;
  /**
   * How many matcher settings to try (the smallest patch wins), 1..5. Default: by image size,
   * 5 up to 256 KiB, 2 up to 768 KiB, else 1 (each try costs one more match and compress pass).
   */
  trials?: number;
  /** Called between the stages of a long run. */
  onProgress?: (stage: 'match' | 'compress' | 'done', trial: number, trials: number) => void;
}

export interface DeltaCreateResult {
  patch: Uint8Array;
  records: number;
  /** Bytes taken from the old image (diff) and from the patch (extra). */
  diffBytes: number;
  extraBytes: number;
  /** Size of the stream before compression. */
  streamSize: number;
}

const MAX_IMAGE = 0x7fffffff;

/** A detools sequential patch turning `old` into `nu`. */
export function createDeltaPatch(old: Uint8Array, nu: Uint8Array, options: DeltaCreateOptions = {}): Uint8Array {
  return createDeltaPatchDetailed(old, nu, options).patch;
}

export function createDeltaPatchDetailed(old: Uint8Array, nu: Uint8Array, options: DeltaCreateOptions = {}): DeltaCreateResult {
  if (!(old instanceof Uint8Array)) throw new OtaflashError('DELTA_BAD_INPUT', `old image must be a Uint8Array, got ${kindOf(old)}`);
  if (!(nu instanceof Uint8Array)) throw new OtaflashError('DELTA_BAD_INPUT', `new image must be a Uint8Array, got ${kindOf(nu)}`);
  if (options === null || typeof options !== 'object') throw new OtaflashError('DELTA_BAD_OPTION', `options must be an object, got ${kindOf(options)}`);
  // detools' C apply keeps sizes in an int.
  if (old.length > MAX_IMAGE || nu.length > MAX_IMAGE) {
    throw new OtaflashError('DELTA_TOO_LARGE', `images must be under 2 GiB (detools sizes are 32-bit signed), got ${old.length} and ${nu.length} bytes`);
  }
  const compression = options.compression ?? 'lzma';
  if (!Object.prototype.hasOwnProperty.call(COMPRESSION_NUMBERS, compression)) {
    throw new OtaflashError('DELTA_BAD_OPTION', `compression must be lzma, heatshrink or none, got ${String(compression)}`, { compression });
  }
  const window = options.heatshrinkWindow ?? HEATSHRINK_DEFAULT_WINDOW;
  const lookahead = options.heatshrinkLookahead ?? HEATSHRINK_DEFAULT_LOOKAHEAD;
  if (compression === 'heatshrink') checkHeatshrinkParams(window, lookahead);
  const progress = options.onProgress ?? (() => undefined);

  const head = new ByteSink();
  head.push((0 << 4) | COMPRESSION_NUMBERS[compression]);
  packSize(head, nu.length);
  if (nu.length === 0) {
    progress('done', 0, 0);
    return { patch: head.bytes(), records: 0, diffBytes: 0, extraBytes: 0, streamSize: 0 };
  }
  const compress = (stream: Uint8Array, pb = 0): Uint8Array => {
    if (compression === 'lzma') {
      return encodeLzmaAlone(stream, { pb, ...options.lzma, dictionarySize: options.dictionarySize ?? LZMA_DEFAULT_DICTIONARY });
    }
    if (compression === 'heatshrink') {
      const body = encodeHeatshrink(stream, { window, lookahead });
      const withParams = new Uint8Array(body.length + 1);
      withParams[0] = ((window - 4) << 4) | (lookahead - 3);
      withParams.set(body, 1);
      return withParams;
    }
    return stream;
  };
  const settings = options.matcher ? [options.matcher] : MATCHER_TRIALS.slice(0, trialsFor(nu.length, options.trials));
  progress('match', 1, settings.length);
  const sa = suffixArray(old);
  let best: { body: Uint8Array; records: DeltaRecord[]; streamSize: number; stream: Uint8Array } | undefined;
  for (let i = 0; i < settings.length; i++) {
    if (i > 0) progress('match', i + 1, settings.length);
    const records = matchRecords(old, nu, settings[i], sa);
    checkRecords(old, nu, records);
    const stream = serializeRecords(old, nu, records);
    progress('compress', i + 1, settings.length);
    const body = compress(stream);
    if (!best || body.length < best.body.length) best = { body, records, streamSize: stream.length, stream };
  }
  const chosen = best as { body: Uint8Array; records: DeltaRecord[]; streamSize: number; stream: Uint8Array };
  // Thumb and Xtensa code often code smaller with 2-byte position contexts (pb 1) or 4-byte (pb 2).
  if (compression === 'lzma' && settings.length > 1 && options.lzma?.pb === undefined) {
    for (const pb of [1, 2]) {
      progress('compress', settings.length, settings.length);
      const body = compress(chosen.stream, pb);
      if (body.length < chosen.body.length) chosen.body = body;
    }
  }
  const out = new ByteSink();
  out.pushAll(head.bytes());
  out.pushAll(chosen.body);
  const records = chosen.records;
  const stream = { length: chosen.streamSize };
  progress('done', settings.length, settings.length);
  let diffBytes = 0;
  let extraBytes = 0;
  for (const r of records) {
    diffBytes += r.diffLength;
    extraBytes += r.extraLength;
  }
  return { patch: out.bytes(), records: records.length, diffBytes, extraBytes, streamSize: stream.length };
}

function trialsFor(size: number, asked: number | undefined): number {
  if (asked !== undefined) {
    if (!Number.isInteger(asked) || asked < 1 || asked > MATCHER_TRIALS.length) {
      throw new OtaflashError('DELTA_BAD_OPTION', `trials must be an integer in 1..${MATCHER_TRIALS.length}, got ${String(asked)}`);
    }
    return asked;
  }
  return size <= 256 * 1024 ? MATCHER_TRIALS.length : size <= 768 * 1024 ? 2 : 1;
}

/** The matcher's output must describe the new image exactly and read only inside the old one. */
function checkRecords(old: Uint8Array, nu: Uint8Array, records: readonly DeltaRecord[]): void {
  let oldPos = 0;
  let newPos = 0;
  for (let i = 0; i < records.length; i++) {
    const r = records[i];
    const bad = r.diffLength < 0 || r.extraLength < 0 || oldPos < 0 || (r.diffLength > 0 && oldPos + r.diffLength > old.length);
    newPos += r.diffLength + r.extraLength;
    oldPos += r.diffLength + r.adjustment;
    if (bad || newPos > nu.length) {
      throw new OtaflashError('DELTA_INTERNAL', `patch generator produced an impossible record ${i} (diff ${r.diffLength}, extra ${r.extraLength}, adjustment ${r.adjustment})`);
    }
  }
  if (newPos !== nu.length) throw new OtaflashError('DELTA_INTERNAL', `patch generator covered ${newPos} of ${nu.length} new bytes`);
}

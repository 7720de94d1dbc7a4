// Streaming apply of a detools sequential patch: the patch arrives in chunks of any size; the header
// picks the body decoder (none, lzma, crle, heatshrink); decoded bytes drive the sequential machine,
// which reads old bytes through `OldImage` and hands new bytes, in order, to a sink. Nothing here
// holds the patch, the old image or the new image.
import { OtaflashError } from '../errors';
import { type DetoolsPatchHeader, checkApplicable, decodeDetoolsHeader, decodeHeatshrinkParams } from '../formats/detools-patch';
import { checkHeatshrinkParams } from './heatshrink-decoder';
import { decodeLzmaAloneHeader } from './lzma-decoder';
import { createBodyDecoder } from './body';
import { type OldImage, type SequentialStats, SequentialPatchMachine } from './sequential';
import type { ByteSink, StreamDecoder } from './stream';

export interface PatchApplyOptions {
  /** Refuse lzma patches declaring a larger dictionary (bytes), before any output. Default: no limit. */
  maxDictionary?: number;
  /** Called once the header is known, before any output: may throw to refuse the patch. */
  onHeader?: (h: DetoolsPatchHeader) => void;
}

// The longest header (in-place: 5 sizes of at most 4 bytes... and one more byte that refuses the
// size) plus the longest body preamble (the 13-byte lzma header).
const LZMA_HEADER = 13;
const PREFIX = 1 + 5 * 5 + LZMA_HEADER;

/**
 * Applies one detools sequential patch. `old` null walks the patch without applying it (stats only).
 * Errors are OtaflashError with DELTA_* codes (and whatever `old` and `out` throw).
 */
export class PatchApplier {
  private readonly old: OldImage | null;
  private readonly out: ByteSink | null;
  private readonly opts: PatchApplyOptions;
  private readonly stats: SequentialStats | null;
  private readonly prefix = new Uint8Array(PREFIX);
  private prefixLen = 0;
  private lzmaDictionary: number | null = null;
  private hdr: DetoolsPatchHeader | null = null;
  private machine: SequentialPatchMachine | null = null;
  private decoder: StreamDecoder | null = null;
  private patchBytes = 0;
  private state: 'open' | 'finished' | 'failed' = 'open';
  private failure: unknown = null;

  constructor(old: OldImage | null, out: ByteSink | null, opts: PatchApplyOptions = {}, stats: SequentialStats | null = null) {
    this.old = old;
    this.out = out;
    this.opts = opts;
    this.stats = stats;
  }

  /** The patch header, once its bytes have arrived. */
  get header(): DetoolsPatchHeader | null {
    return this.hdr;
  }

  /** New-image bytes produced so far. */
  get produced(): number {
    return this.machine ? this.machine.produced : 0;
  }

  /** Patch bytes received so far. */
  get received(): number {
    return this.patchBytes;
  }

  push(chunk: Uint8Array): void {
    this.guard();
    if (!(chunk instanceof Uint8Array)) throw new OtaflashError('DELTA_BAD_ARGUMENT', 'push() takes a Uint8Array');
    try {
      this.patchBytes += chunk.length;
      let rest = chunk;
      if (!this.decoder) {
        // Header and body preamble are collected first, so that every refusal comes before the
        // first byte of output (and before onHeader lets the caller erase anything).
        const n = Math.min(PREFIX - this.prefixLen, chunk.length);
        this.prefix.set(chunk.subarray(0, n), this.prefixLen);
        this.prefixLen += n;
        rest = chunk.subarray(n);
        if (!this.tryStart(false)) return;
      }
      if (rest.length > 0) this.decoder!.push(rest);
    } catch (e) {
      this.fail(e);
    }
  }

  /**
   * Starts decoding once the header and the body's preamble are in: the preamble is the lzma
   * header (13 bytes: its dictionary size is checked here) or the heatshrink parameter byte.
   */
  private tryStart(final: boolean): boolean {
    if (!this.hdr) {
      const h = decodeDetoolsHeader(this.prefix.subarray(0, this.prefixLen));
      if (!h) {
        if (final) throw new OtaflashError(this.prefixLen === 0 ? 'DELTA_EMPTY_PATCH' : 'DELTA_TRUNCATED', this.prefixLen === 0 ? 'the patch is empty' : `the patch (${this.prefixLen} bytes) ends inside its header`);
        return false;
      }
      checkApplicable(h);
      this.hdr = h;
    }
    const h = this.hdr;
    const preamble = h.compression === 'lzma' ? LZMA_HEADER : h.compression === 'heatshrink' ? 1 : 0;
    const have = this.prefixLen - h.length;
    if (have < preamble) {
      if (!final) return false;
      if (h.toSize === 0 && have === 0) return false;
      throw new OtaflashError('DELTA_TRUNCATED', `the patch (${this.prefixLen} bytes) ends inside the ${preamble}-byte ${h.compression} header of its body`);
    }
    if (h.compression === 'lzma') {
      const lz = decodeLzmaAloneHeader(this.prefix, h.length);
      const max = this.opts.maxDictionary;
      if (max !== undefined && lz.dictionarySize > max) {
        throw new OtaflashError('DELTA_DICTIONARY_TOO_LARGE', `the patch's lzma stream declares a ${lz.dictionarySize}-byte dictionary, more than the ${max} bytes allowed (maxDictionary); create the patch with a smaller dictionary`, { dictionarySize: lz.dictionarySize, maxDictionary: max });
      }
      this.lzmaDictionary = lz.dictionarySize;
    } else if (h.compression === 'heatshrink') {
      checkHeatshrinkParams(decodeHeatshrinkParams(this.prefix[h.length]));
    }
    if (this.opts.onHeader) this.opts.onHeader(h);
    const machine = new SequentialPatchMachine(h.toSize, this.old, this.out, this.stats);
    this.machine = machine;
    this.decoder = createBodyDecoder(h, (b, s, e) => machine.feed(b, s, e), this.opts);
    if (have > 0) this.decoder.push(this.prefix.subarray(h.length, this.prefixLen));
    return true;
  }

  /** Dictionary size an lzma patch declares (null before its header, or for other compressions). */
  get dictionarySize(): number | null {
    return this.lzmaDictionary;
  }

  /**
   * The patch is complete: flushes the decoder and checks that the body ended exactly with the new
   * image. Returns the new image's size.
   */
  finish(): number {
    this.guard();
    try {
      if (!this.decoder && !this.tryStart(true)) {
        // Only a patch of an empty image with no body gets here (detools reads nothing after the
        // header of such a patch either).
        this.state = 'finished';
        return 0;
      }
      this.decoder!.finish();
      this.machine!.finish();
      this.state = 'finished';
      return this.hdr!.toSize;
    } catch (e) {
      this.fail(e);
    }
  }

  private guard(): void {
    if (this.state === 'finished') throw new OtaflashError('DELTA_ALREADY_DONE', 'the patch has already been applied');
    if (this.state === 'failed') {
      const why = this.failure instanceof Error ? this.failure.message : String(this.failure);
      throw new OtaflashError('DELTA_ALREADY_FAILED', `an earlier step of this patch failed (${why})`);
    }
  }

  private fail(e: unknown): never {
    this.state = 'failed';
    this.failure = e;
    throw e;
  }
}

/** Old image bytes from memory. */
export function oldImageFromBytes(old: Uint8Array): OldImage {
  return {
    size: old.length,
    read(offset: number, into: Uint8Array): void {
      into.set(old.subarray(offset, offset + into.length));
    },
  };
}

/**
 * Applies a whole patch held in memory to an old image held in memory (toolchains, tests): the new
 * image, checked to be exactly the size the header declares.
 */
export function applyPatchToBytes(old: Uint8Array, patch: Uint8Array, opts: PatchApplyOptions = {}): Uint8Array {
  let out: Uint8Array | null = null;
  let at = 0;
  const applier = new PatchApplier(oldImageFromBytes(old), (b, s, e) => {
    out!.set(b.subarray(s, e), at);
    at += e - s;
  }, {
    ...opts,
    onHeader: (h) => {
      if (opts.onHeader) opts.onHeader(h);
      out = new Uint8Array(h.toSize);
    },
  });
  applier.push(patch);
  applier.finish();
  return out ?? new Uint8Array(0);
}

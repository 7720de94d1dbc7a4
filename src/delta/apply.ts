// Streaming apply of a detools sequential patch: the patch arrives in chunks of any size; the header
// picks the body decoder (none, lzma, crle, heatshrink); decoded bytes drive the sequential machine,
// which reads old bytes through `OldImage` and hands new bytes, in order, to a sink. Nothing here
// holds the patch, the old image or the new image.
import { OtaflashError } from '../errors';
import { type DetoolsPatchHeader, checkApplicable, decodeDetoolsHeader } from '../formats/detools-patch';
import { createBodyDecoder } from './body';
import { type OldImage, type SequentialStats, SequentialPatchMachine } from './sequential';
import type { ByteSink, StreamDecoder } from './stream';

export interface PatchApplyOptions {
  /** Refuse lzma patches declaring a larger dictionary (bytes), before any output. Default: no limit. */
  maxDictionary?: number;
  /** Called once the header is known, before any output: may throw to refuse the patch. */
  onHeader?: (h: DetoolsPatchHeader) => void;
}

const MAX_HEADER = 1 + 5 * 4;

/**
 * Applies one detools sequential patch. `old` null walks the patch without applying it (stats only).
 * Errors are OtaflashError with DELTA_* codes (and whatever `old` and `out` throw).
 */
export class PatchApplier {
  private readonly old: OldImage | null;
  private readonly out: ByteSink | null;
  private readonly opts: PatchApplyOptions;
  private readonly stats: SequentialStats | null;
  private headerBuf = new Uint8Array(MAX_HEADER);
  private headerLen = 0;
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
      if (!this.hdr) {
        const n = Math.min(MAX_HEADER - this.headerLen, chunk.length);
        this.headerBuf.set(chunk.subarray(0, n), this.headerLen);
        this.headerLen += n;
        const h = decodeDetoolsHeader(this.headerBuf.subarray(0, this.headerLen));
        if (!h) {
          // The header may still be incomplete; MAX_HEADER bytes always complete (or refuse) it.
          return;
        }
        this.start(h);
        // The header was incomplete before this chunk, so the buffered bytes past it came from
        // this chunk: the body starts inside it.
        rest = chunk.subarray(n - (this.headerLen - h.length));
      }
      if (rest.length > 0) this.decoder!.push(rest);
    } catch (e) {
      this.fail(e);
    }
  }

  /**
   * The patch is complete: flushes the decoder and checks that the body ended exactly with the new
   * image. Returns the new image's size.
   */
  finish(): number {
    this.guard();
    try {
      if (!this.hdr) {
        throw new OtaflashError(this.headerLen === 0 ? 'DELTA_EMPTY_PATCH' : 'DELTA_TRUNCATED', this.headerLen === 0 ? 'the patch is empty' : `the patch (${this.headerLen} bytes) ends inside its header`);
      }
      if (this.hdr.toSize === 0 && this.decoder!.consumed === 0) {
        this.state = 'finished';
        return 0;
      }
      this.decoder!.finish();
      this.machine!.finish();
      this.state = 'finished';
      return this.hdr.toSize;
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

  private start(h: DetoolsPatchHeader): void {
    checkApplicable(h);
    if (this.opts.onHeader) this.opts.onHeader(h);
    this.hdr = h;
    const machine = new SequentialPatchMachine(h.toSize, this.old, this.out, this.stats);
    this.machine = machine;
    this.decoder = createBodyDecoder(h, (b, s, e) => machine.feed(b, s, e), this.opts);
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

// The decoder of a patch body by the compression its header names.
import { OtaflashError } from '../errors';
import { type DetoolsPatchHeader, decodeHeatshrinkParams } from '../formats/detools-patch';
import { CrleDecoder } from './crle-decoder';
import { HeatshrinkDecoder } from './heatshrink-decoder';
import { LzmaDecoder } from './lzma-decoder';
import type { ByteSink, StreamDecoder } from './stream';

/** The "none" compression: the body is the decompressed stream itself. */
export class PlainBody implements StreamDecoder {
  consumed = 0;
  constructor(private readonly sink: ByteSink) {}
  push(chunk: Uint8Array): void {
    this.consumed += chunk.length;
    if (chunk.length > 0) this.sink(chunk, 0, chunk.length);
  }
  finish(): void {}
}

/** Heatshrink bodies start with the parameter byte; the decoder is built when it arrives. */
export class HeatshrinkFront implements StreamDecoder {
  private inner: HeatshrinkDecoder | null = null;
  private sawParams = false;
  constructor(private readonly sink: ByteSink) {}
  get consumed(): number {
    return (this.sawParams ? 1 : 0) + (this.inner ? this.inner.consumed : 0);
  }
  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    if (!this.inner) {
      this.inner = new HeatshrinkDecoder(this.sink, decodeHeatshrinkParams(chunk[0]));
      this.sawParams = true;
      chunk = chunk.subarray(1);
    }
    this.inner.push(chunk);
  }
  finish(): void {
    if (!this.inner) throw new OtaflashError('DELTA_TRUNCATED', 'the heatshrink patch ends before its parameter byte');
    this.inner.finish();
  }
}

/** A decoder for the body of a patch with header `h` (whose compression must be applicable). */
export function createBodyDecoder(h: DetoolsPatchHeader, sink: ByteSink, opts: { maxDictionary?: number } = {}): StreamDecoder {
  switch (h.compression) {
    case 'none':
      return new PlainBody(sink);
    case 'lzma':
      return new LzmaDecoder(sink, { maxDictionary: opts.maxDictionary });
    case 'crle':
      return new CrleDecoder(sink);
    case 'heatshrink':
      return new HeatshrinkFront(sink);
    default:
      throw new OtaflashError('DELTA_UNSUPPORTED_COMPRESSION', `no decoder for compression ${h.compression} (number ${h.compressionNumber})`, { compression: h.compression });
  }
}

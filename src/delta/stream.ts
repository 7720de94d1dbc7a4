// The shape every patch-body decoder here shares: bytes in by push(), decoded bytes out through a
// sink, so that no stage ever needs the whole patch or the whole output.

/**
 * Receives decoded bytes `bytes[start, end)`. The array is the decoder's own buffer, valid only
 * during the call: a sink that keeps bytes copies them.
 */
export type ByteSink = (bytes: Uint8Array, start: number, end: number) => void;

export interface StreamDecoder {
  /** Decodes as much of `chunk` (any size, also empty) as it can, passing output to the sink. */
  push(chunk: Uint8Array): void;
  /**
   * The input is complete: decodes what is buffered and checks the stream ended properly
   * (DELTA_TRUNCATED when it stops early, DELTA_PATCH_TOO_LONG when bytes follow its end).
   */
  finish(): void;
  /** Compressed bytes consumed so far (for messages). */
  readonly consumed: number;
}

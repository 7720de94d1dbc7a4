// Raw DEFLATE without compression, for scratchpads made where no compressor is at hand.

/**
 * Raw DEFLATE (RFC 1951) made of stored blocks: valid input for any inflater, no compression. The
 * portable core has no compressor; callers with one (the CLI: node:zlib) pass theirs instead.
 */
export function deflateStored(content: Uint8Array): Uint8Array {
  const blocks = Math.max(1, Math.ceil(content.length / 65535));
  const out = new Uint8Array(content.length + 5 * blocks);
  let at = 0;
  for (let b = 0; b < blocks; b++) {
    const start = b * 65535;
    const len = Math.min(65535, content.length - start);
    out[at++] = b === blocks - 1 ? 1 : 0; // BFINAL, BTYPE 00; the rest of the byte is skipped
    out[at++] = len & 0xff;
    out[at++] = len >>> 8;
    out[at++] = ~len & 0xff;
    out[at++] = (~len >>> 8) & 0xff;
    out.set(content.subarray(start, start + len), at);
    at += len;
  }
  return out;
}

// UTF-8 by hand: the portable core cannot count on TextEncoder/TextDecoder (QuickJS, Espruino lack them).

/** Encodes a string as UTF-8. A lone surrogate becomes U+FFFD, as TextEncoder does. */
export function utf8Encode(text: string): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < text.length; i++) {
    let c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
      }
    }
    if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd;
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 0x3f));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f));
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 0x3f), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f));
  }
  return new Uint8Array(out);
}

/**
 * Strict UTF-8 decode (like Python's `bytes.decode('utf-8')`): returns null on any malformed,
 * overlong, surrogate or truncated sequence, so callers can report where the bad bytes were.
 */
export function utf8Decode(bytes: Uint8Array): string | null {
  let s = '';
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i];
    let cp: number;
    let need: number;
    let min: number;
    if (b < 0x80) {
      s += String.fromCharCode(b);
      i++;
      continue;
    } else if (b >= 0xc2 && b <= 0xdf) {
      cp = b & 0x1f;
      need = 1;
      min = 0x80;
    } else if (b >= 0xe0 && b <= 0xef) {
      cp = b & 0x0f;
      need = 2;
      min = 0x800;
    } else if (b >= 0xf0 && b <= 0xf4) {
      cp = b & 0x07;
      need = 3;
      min = 0x10000;
    } else {
      return null;
    }
    for (let k = 1; k <= need; k++) {
      const n = bytes[i + k];
      if (n === undefined || (n & 0xc0) !== 0x80) return null;
      cp = (cp << 6) | (n & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return null;
    if (cp >= 0x10000) {
      const v = cp - 0x10000;
      s += String.fromCharCode(0xd800 + (v >> 10), 0xdc00 + (v & 0x3ff));
    } else {
      s += String.fromCharCode(cp);
    }
    i += need + 1;
  }
  return s;
}

/** Decode that never fails: each bad byte becomes U+FFFD (for descriptive strings such as versions). */
export function utf8DecodeLossy(bytes: Uint8Array): string {
  const strict = utf8Decode(bytes);
  if (strict !== null) return strict;
  let s = '';
  // Slow path: decode the longest valid runs, replacing one byte at a time where decoding fails.
  let i = 0;
  while (i < bytes.length) {
    let ok = false;
    for (let len = 4; len >= 1; len--) {
      if (i + len > bytes.length) continue;
      const piece = utf8Decode(bytes.subarray(i, i + len));
      if (piece !== null && piece.length > 0 && (len === 1 || bytes[i] >= 0x80)) {
        s += piece;
        i += len;
        ok = true;
        break;
      }
    }
    if (!ok) {
      s += '\ufffd';
      i++;
    }
  }
  return s;
}

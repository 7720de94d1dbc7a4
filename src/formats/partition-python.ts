// Python's str and int behaviours that gen_esp32part.py's parsing and messages rely on, where JS
// differs: str.strip(), str.splitlines(), '0x%x' % n and int(text, base) with Unicode digits.

/**
 * The zero of every run of ten Unicode decimal digits (Nd), from Python 3.11's unicodedata (Unicode
 * 14.0.0, the version the reference vectors ran with). Each run is zero..zero+9 with values 0..9;
 * the zeros do not follow one pattern (the mathematical digits start at 0x1D7CE, 0x1D7D8 ...).
 * Newer Pythons know a few more scripts (e.g. Kawi at U+11F50 in Unicode 15).
 */
const DECIMAL_ZEROS = [
  0x660, 0x6f0, 0x7c0, 0x966, 0x9e6, 0xa66, 0xae6, 0xb66, 0xbe6, 0xc66, 0xce6, 0xd66, 0xde6, 0xe50, 0xed0, 0xf20, 0x1040, 0x1090, 0x17e0, 0x1810, 0x1946, 0x19d0,
  0x1a80, 0x1a90, 0x1b50, 0x1bb0, 0x1c40, 0x1c50, 0xa620, 0xa8d0, 0xa900, 0xa9d0, 0xa9f0, 0xaa50, 0xabf0, 0xff10, 0x104a0, 0x10d30, 0x11066, 0x110f0, 0x11136,
  0x111d0, 0x112f0, 0x11450, 0x114d0, 0x11650, 0x116c0, 0x11730, 0x118e0, 0x11950, 0x11c50, 0x11d50, 0x11da0, 0x16a60, 0x16ac0, 0x16b50, 0x1d7ce, 0x1d7d8, 0x1d7e2,
  0x1d7ec, 0x1d7f6, 0x1e140, 0x1e2f0, 0x1e950, 0x1fbf0,
];

/**
 * Python's str.isspace() for one UTF-16 code unit, which strip() uses: unlike JS trim(), no BOM, but
 * \x1c-\x1f and \x85. Compared as numbers, not looked up in a string literal: Espruino (with its
 * Unicode support on) keeps a literal holding characters above 0xFF as UTF-8 and indexes its bytes,
 * so such a lookup string matched '(' ')' '/' '_' there.
 */
function isPySpace(c: number): boolean {
  return (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20) || c === 0x85 || c === 0xa0 || c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000;
}

/** Python's '0x%x' % n: the sign lands after the literal 0x ('0x-64'), and nothing wraps to 32 bits. */
export function pythonHex(n: number): string {
  return n < 0 ? '0x-' + (-n).toString(16) : '0x' + n.toString(16);
}

/** Python's str.strip() with no argument. */
export function pythonStrip(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && isPySpace(s.charCodeAt(a))) a++;
  while (b > a && isPySpace(s.charCodeAt(b - 1))) b--;
  return s.slice(a, b);
}

/**
 * Python's str.splitlines(): \n, \r\n, \r and the other Unicode line breaks. By code unit, not with
 * a regular expression: Espruino's regex class holding \u2028 split lines at other characters.
 */
export function pythonSplitLines(text: string): string[] {
  const lines: string[] = [];
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c >= 0x0a && c <= 0x0d) || (c >= 0x1c && c <= 0x1e) || c === 0x85 || c === 0x2028 || c === 0x2029) {
      lines.push(text.slice(start, i));
      if (c === 0x0d && text.charCodeAt(i + 1) === 0x0a) i++;
      start = i + 1;
    }
  }
  if (start < text.length) lines.push(text.slice(start));
  return lines;
}

/** Value 0..9 of a Unicode decimal digit, or -1. Binary search over the run zeros. */
export function unicodeDecimalValue(cp: number): number {
  let lo = 0;
  let hi = DECIMAL_ZEROS.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const zero = DECIMAL_ZEROS[mid];
    if (cp < zero) hi = mid - 1;
    else if (cp > zero + 9) lo = mid + 1;
    else return cp - zero;
  }
  return cp >= 0x30 && cp <= 0x39 ? cp - 0x30 : -1;
}

/** CPython's rewrite of int()'s argument to ASCII; null when a character makes it invalid. */
function toAsciiDigits(text: string): string | null {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    let cp = text.charCodeAt(i);
    if (cp < 127) {
      out += text.charAt(i);
      continue;
    }
    if (cp >= 0xd800 && cp <= 0xdbff && i + 1 < text.length) {
      const low = text.charCodeAt(i + 1);
      if (low >= 0xdc00 && low <= 0xdfff) {
        cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
        i++;
      }
    }
    if (cp <= 0xffff && isPySpace(cp)) out += ' '; // cp >= 127 here: the non-ASCII spaces
    else {
      const d = unicodeDecimalValue(cp);
      if (d < 0) return null;
      out += String.fromCharCode(0x30 + d);
    }
  }
  return out;
}

/** ASCII whitespace as PyLong_FromString skips it (not \x1c-\x1f, which str.strip() does remove). */
function isIntSpace(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d);
}

/** Value of an ASCII digit or letter as a digit (0-9, a-z = 10-35), or 99. */
function digitValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const l = c | 0x20;
  return l >= 0x61 && l <= 0x7a ? l - 0x61 + 10 : 99;
}

/**
 * int(text, base) for str, as the tool's number fields reach it. CPython first rewrites the text to
 * ASCII (_PyUnicode_TransformDecimalAndSpaceToASCII): a non-ASCII Unicode decimal digit (category
 * Nd) becomes its ASCII digit, other non-ASCII whitespace becomes a space, anything else non-ASCII
 * makes the text invalid. Then the ASCII rules apply (PyLong_FromString): ASCII whitespace around,
 * a sign, a base prefix, single `_` between digits. So `٤٠٩٦` is 4096 and `0x١٠` is 16, while hex
 * letters must stay ASCII.
 *
 * Python's int(text, 0) (base from the prefix; a decimal may not start with 0 unless it is all
 * zeros) or int(text, 16) (an optional 0x prefix). Returns null where Python raises ValueError.
 * Values beyond 2^53 lose precision; callers refuse them.
 */
export function pythonInt(text: string, base: 0 | 16): number | null {
  const ascii = toAsciiDigits(text);
  if (ascii === null) return null;
  // Scanned by hand, not with a regular expression: Espruino's regex engine has no (?:) groups.
  let a = 0;
  let b = ascii.length;
  while (a < b && isIntSpace(ascii.charCodeAt(a))) a++;
  while (b > a && isIntSpace(ascii.charCodeAt(b - 1))) b--;
  let negative = false;
  if (a < b && (ascii.charAt(a) === '+' || ascii.charAt(a) === '-')) {
    negative = ascii.charAt(a) === '-';
    a++;
  }
  let radix = base === 0 ? 10 : 16;
  const prefix = ascii.slice(a, a + 2).toLowerCase();
  // In base 16, "0b..." is a hex number, not a prefix.
  const prefixRadix = prefix === '0x' ? 16 : base === 0 && prefix === '0o' ? 8 : base === 0 && prefix === '0b' ? 2 : 0;
  if (prefixRadix !== 0) {
    radix = prefixRadix;
    a += 2;
    if (ascii.charAt(a) === '_') a++; // one `_` may follow the prefix
  }
  // digits, single `_` between two digits
  let digits = '';
  for (let i = a; i < b; i++) {
    const c = ascii.charCodeAt(i);
    if (c === 0x5f && i > a && i + 1 < b && ascii.charCodeAt(i + 1) !== 0x5f) continue;
    if (digitValue(c) >= radix) return null;
    digits += ascii.charAt(i);
  }
  if (digits.length === 0) return null;
  // an unprefixed decimal may not start with 0 unless it is all zeros (int('010', 0) raises)
  if (prefixRadix === 0 && radix === 10 && digits.charAt(0) === '0') {
    for (let i = 1; i < digits.length; i++) if (digits.charAt(i) !== '0') return null;
  }
  const v = parseInt(digits, radix);
  return negative ? 0 - v : v; // 0 - v: never -0
}

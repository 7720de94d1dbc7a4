// Version ordering exactly as Python's distutils.version.LooseVersion, because Pycom's server orders
// its version folders and firmware files with it and a device moved between servers must see the
// same "newest". Semver disagrees on the cases that matter here: '1.0.1b' > '1.0.1' (a longer list
// wins), '1.10' > '1.9' (numbers compare numerically), '1.0' < '1.0.0' (a prefix is older).
import { OtaflashError } from '../errors';

/** One parsed component: a number (a run of digits) or a string (a run of a-z, or anything else). */
export type LooseComponent = number | string;

/**
 * Characters a version may hold anywhere in otaflash (folder names, `current_ver`, a manifest's
 * `version`): digits, letters, '.', '-', '+', '_', starting with a letter or digit. Nothing else, so a
 * version can never be a path ('..', '/'), a query, or Python source once written to OTA_VERSION.py.
 */
const PLAIN_VERSION = /^[0-9A-Za-z][0-9A-Za-z._+-]*$/;

/** Longer than any real version; keeps a hostile query string from becoming a large allocation. */
export const MAX_VERSION_LENGTH = 64;

export function isPlainVersion(text: unknown): text is string {
  return typeof text === 'string' && text.length <= MAX_VERSION_LENGTH && PLAIN_VERSION.test(text);
}

/** Refuses anything but a plain version string with VERSION_INVALID, naming `what` in the message. */
export function checkPlainVersion(text: unknown, what: string): string {
  if (!isPlainVersion(text)) {
    const shown = typeof text === 'string' ? JSON.stringify(text.length > 80 ? text.slice(0, 80) + '...' : text) : String(text);
    throw new OtaflashError(
      'VERSION_INVALID',
      `${what} ${shown} is not a plain version (letters, digits, '.', '-', '+', '_', starting with a letter or digit, at most ${MAX_VERSION_LENGTH} characters)`,
      { version: typeof text === 'string' ? text : undefined },
    );
  }
  return text;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function isLower(c: number): boolean {
  return c >= 0x61 && c <= 0x7a;
}

/**
 * LooseVersion.parse: the string split by the pattern `(\d+|[a-z]+|\.)`, keeping the matches and
 * the text between them, dropping empty pieces and '.', and turning digit runs into numbers. Text
 * between matches (capitals, '-', '+', '_') stays one string component, as in Python: '1.0-RC1'
 * is [1, 0, '-RC', 1] and '1.0+build_2' is [1, 0, '+', 'build', '_', 2].
 *
 * Python's `\d` also matches non-ASCII decimal digits; versions here are ASCII (see
 * isPlainVersion), so only ASCII digits can occur.
 */
export function parseLooseVersion(text: string): LooseComponent[] {
  const out: LooseComponent[] = [];
  let i = 0;
  let other = '';
  const flushOther = () => {
    if (other.length > 0) out.push(other);
    other = '';
  };
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (isDigit(c)) {
      flushOther();
      let j = i + 1;
      while (j < text.length && isDigit(text.charCodeAt(j))) j++;
      // Python's int() of a digit run: exact for any length; beyond 2^53 a JS number is not, and
      // no real version has a 16-digit component, so refuse it instead of ordering it wrongly.
      const digits = text.slice(i, j);
      const n = parseInt(digits, 10);
      if (!Number.isSafeInteger(n)) {
        throw new OtaflashError('VERSION_INVALID', `version '${text}': the number ${digits} is too large to compare exactly`, { version: text });
      }
      out.push(n);
      i = j;
    } else if (isLower(c)) {
      flushOther();
      let j = i + 1;
      while (j < text.length && isLower(text.charCodeAt(j))) j++;
      out.push(text.slice(i, j));
      i = j;
    } else if (c === 0x2e) {
      flushOther();
      i++;
    } else {
      other += text.charAt(i);
      i++;
    }
  }
  flushOther();
  return out;
}

/**
 * Python 3's list comparison of two parsed versions: the first index where the components differ
 * decides; a number against a string there is the TypeError Python raises, here VERSION_INCOMPARABLE;
 * if one list is a prefix of the other, the shorter is older. Returns -1, 0 or 1.
 */
export function compareLooseVersions(a: string, b: string): -1 | 0 | 1 {
  const pa = parseLooseVersion(a);
  const pb = parseLooseVersion(b);
  const n = Math.min(pa.length, pb.length);
  for (let i = 0; i < n; i++) {
    const x = pa[i];
    const y = pb[i];
    if (x === y) continue;
    if (typeof x !== typeof y) {
      throw new OtaflashError(
        'VERSION_INCOMPARABLE',
        `versions '${a}' and '${b}' cannot be compared: component ${i + 1} is ${typeof x === 'number' ? 'a number' : 'text'} (${String(x)}) in one and ${typeof y === 'number' ? 'a number' : 'text'} (${String(y)}) in the other (Python's LooseVersion raises TypeError here)`,
        { a, b, index: i },
      );
    }
    // Strings compare by UTF-16 code unit, which for ASCII is Python's code point order.
    return x < y ? -1 : 1;
  }
  return pa.length === pb.length ? 0 : pa.length < pb.length ? -1 : 1;
}

/** The highest of `versions` (first of equals), or null for an empty list. */
export function highestVersion(versions: readonly string[]): string | null {
  let best: string | null = null;
  for (const v of versions) if (best === null || compareLooseVersions(best, v) < 0) best = v;
  return best;
}

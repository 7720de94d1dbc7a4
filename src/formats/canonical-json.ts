// Canonical JSON: one byte sequence per value, so a signature over it can be checked by anyone who
// rebuilds the value (a device from the plan it was sent, a server from the plan it stores) without
// keeping the signer's exact text. The rules are RFC 8785 (JCS) for the values otaflash signs:
// objects with members sorted by key (UTF-16 code units, as JS compares strings), no whitespace,
// integers only (decimal, no exponent, no -0), strings with the minimal JSON escapes, UTF-8 out.
// Fractions, NaN, Infinity and lone surrogates have no canonical form here and are refused: a value
// that cannot be signed exactly is not signed at all.
import { OtaflashError, kindOf } from '../errors';
import { utf8Encode } from './utf8';

const MAX_DEPTH = 32;

function refuse(where: string, why: string): never {
  throw new OtaflashError('CANONICAL_JSON_VALUE', `${where || 'value'}: ${why}`, { where });
}

function hex4(c: number): string {
  const h = c.toString(16);
  return '\\u' + '0000'.slice(h.length) + h;
}

function quote(s: string, where: string): string {
  let out = '"';
  let run = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let esc: string | null = null;
    if (c === 0x22) esc = '\\"';
    else if (c === 0x5c) esc = '\\\\';
    else if (c < 0x20) esc = c === 8 ? '\\b' : c === 9 ? '\\t' : c === 10 ? '\\n' : c === 12 ? '\\f' : c === 13 ? '\\r' : hex4(c);
    else if (c >= 0xd800 && c <= 0xdbff) {
      const d = i + 1 < s.length ? s.charCodeAt(i + 1) : 0;
      if (d < 0xdc00 || d > 0xdfff) refuse(where, `lone surrogate at character ${i}`);
      i++;
      continue;
    } else if (c >= 0xdc00 && c <= 0xdfff) refuse(where, `lone surrogate at character ${i}`);
    if (esc !== null) {
      out += s.slice(run, i) + esc;
      run = i + 1;
    }
  }
  return out + s.slice(run) + '"';
}

function write(v: unknown, where: string, depth: number, parts: string[]): void {
  if (depth > MAX_DEPTH) refuse(where, `nested deeper than ${MAX_DEPTH}`);
  if (v === null) parts.push('null');
  else if (v === true) parts.push('true');
  else if (v === false) parts.push('false');
  else if (typeof v === 'number') {
    if (!(v === Math.floor(v)) || v > 9007199254740991 || v < -9007199254740991) refuse(where, `${String(v)} is not a safe integer (only integers have a canonical form here)`);
    parts.push(v === 0 ? '0' : String(v));
  } else if (typeof v === 'string') parts.push(quote(v, where));
  else if (Array.isArray(v)) {
    parts.push('[');
    for (let i = 0; i < v.length; i++) {
      if (i > 0) parts.push(',');
      if (v[i] === undefined) refuse(`${where}[${i}]`, 'undefined in an array');
      write(v[i], `${where}[${i}]`, depth + 1, parts);
    }
    parts.push(']');
  } else if (typeof v === 'object' && Object.prototype.toString.call(v) === '[object Object]') {
    const o = v as Record<string, unknown>;
    // Members whose value is undefined are absent, as JSON.stringify leaves them out.
    const keys = Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort();
    parts.push('{');
    for (let i = 0; i < keys.length; i++) {
      if (i > 0) parts.push(',');
      parts.push(quote(keys[i], where), ':');
      write(o[keys[i]], where === '' ? keys[i] : `${where}.${keys[i]}`, depth + 1, parts);
    }
    parts.push('}');
  } else refuse(where, `${typeof v === 'object' ? Object.prototype.toString.call(v) : kindOf(v)} has no JSON form`);
}

/** The canonical text of a JSON value (strings, safe integers, booleans, null, arrays, objects). */
export function canonicalJson(value: unknown): string {
  const parts: string[] = [];
  write(value, '', 0, parts);
  return parts.join('');
}

/** The canonical text as UTF-8 bytes: what a signature covers. */
export function canonicalJsonBytes(value: unknown): Uint8Array {
  return utf8Encode(canonicalJson(value));
}

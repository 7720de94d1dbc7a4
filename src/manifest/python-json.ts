// JSON text exactly as Python's `json.dumps(value, sort_keys=True, indent=4, separators=(',', ': '))`
// writes it, which is how Pycom's server sends manifests. JSON.stringify differs in three ways that
// matter for byte-for-byte equality: key order, non-ASCII (Python escapes it, ensure_ascii=True) and
// the indentation of empty containers.
import { OtaflashError } from '../errors';

/** The values a manifest holds. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

function hex4(c: number): string {
  const h = c.toString(16);
  return '\\u' + '0000'.slice(h.length) + h;
}

/** Python's ensure_ascii string encoder: short escapes for the usual five, \u00XX for other controls, \uXXXX (lower-case) above 0x7e. */
export function pythonJsonString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += '\\\\';
    else if (c === 0x0a) out += '\\n';
    else if (c === 0x0d) out += '\\r';
    else if (c === 0x09) out += '\\t';
    else if (c === 0x08) out += '\\b';
    else if (c === 0x0c) out += '\\f';
    // Python escapes everything outside ' '..'~' (DEL included), by UTF-16 unit: a character above
    // U+FFFF becomes its surrogate pair, so a per-unit loop gives the same text.
    else if (c < 0x20 || c > 0x7e) out += hex4(c);
    else out += s.charAt(i);
  }
  return out + '"';
}

function encode(value: JsonValue, indent: string, where: string): string {
  if (value === null) return 'null';
  if (value === true) return 'true';
  if (value === false) return 'false';
  if (typeof value === 'number') {
    // Manifests only hold sizes; Python prints floats differently ('1.0', '1e+16'), so refuse them.
    if (!Number.isSafeInteger(value)) throw new OtaflashError('MANIFEST_INVALID', `${where}: ${value} is not an integer (manifests hold integers only)`);
    return String(value);
  }
  if (typeof value === 'string') return pythonJsonString(value);
  const inner = indent + '    ';
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    return '[\n' + value.map((v, i) => inner + encode(v, inner, `${where}[${i}]`)).join(',\n') + '\n' + indent + ']';
  }
  if (typeof value === 'object') {
    // sort_keys sorts by code point; for the BMP that is UTF-16 order, which is what sort() uses.
    const keys = Object.keys(value).filter((k) => value[k] !== undefined).sort();
    if (keys.length === 0) return '{}';
    return '{\n' + keys.map((k) => inner + pythonJsonString(k) + ': ' + encode(value[k], inner, `${where}.${k}`)).join(',\n') + '\n' + indent + '}';
  }
  throw new OtaflashError('MANIFEST_INVALID', `${where}: a ${typeof value} cannot be written as JSON`);
}

/** `value` as Pycom's server writes it (no trailing newline). Undefined object fields are left out. */
export function pythonJsonDumps(value: JsonValue): string {
  return encode(value, '', 'manifest');
}

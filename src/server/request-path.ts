// The request target, taken apart so nothing in it can lead outside the served directory. Pure:
// the server resolves the segments against its root afterwards (and checks symlinks there).
import { OtaflashError } from '../errors';

export interface RequestTarget {
  /** Decoded path segments, each a plain file name (no '', '.', '..', '/', '\', NUL, controls). */
  segments: string[];
  /** Query parameters, first value of each (as Python's parse_qs(...)[name][0] reads them). */
  query: Map<string, string>;
}

function bad(message: string, target: string): OtaflashError {
  return new OtaflashError('HTTP_BAD_PATH', `${message}: ${JSON.stringify(target.length > 200 ? target.slice(0, 200) + '...' : target)}`, { target });
}

function hasControl(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

/** Like Python's parse_qs: '+' is a space, %XX decoded, blank values dropped, first value kept. */
function parseQuery(q: string, target: string): Map<string, string> {
  const out = new Map<string, string>();
  if (q === '') return out;
  for (const part of q.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const rawName = eq < 0 ? part : part.slice(0, eq);
    const rawValue = eq < 0 ? '' : part.slice(eq + 1);
    let name: string;
    let value: string;
    try {
      name = decodeURIComponent(rawName.replace(/\+/g, ' '));
      value = decodeURIComponent(rawValue.replace(/\+/g, ' '));
    } catch {
      throw bad('malformed percent-encoding in the query', target);
    }
    if (value === '' || out.has(name)) continue;
    out.set(name, value);
  }
  return out;
}

/**
 * Splits and decodes an origin-form request target (`/1.0.1/flash/main.py?x=1`). Refuses, with
 * HTTP_BAD_PATH (a 400), anything that could name a file outside the served tree or that a file
 * system would read differently from us: other target forms, backslashes (raw or %5c), encoded
 * slashes (%2f), NUL and other control bytes (raw or encoded), empty, '.' and '..' segments after
 * decoding (so %2e%2e is caught too), malformed %-escapes.
 */
export function parseRequestTarget(target: string): RequestTarget {
  if (target.length === 0 || target.charAt(0) !== '/') throw bad('the request target is not a path starting with /', target);
  if (target.length > 4096) throw bad('the request target is longer than 4096 characters', target);
  const q = target.indexOf('?');
  const rawPath = q < 0 ? target : target.slice(0, q);
  const query = parseQuery(q < 0 ? '' : target.slice(q + 1), target);
  if (rawPath.indexOf('\\') >= 0 || /%5c/i.test(rawPath)) throw bad('backslashes are not allowed in paths', target);
  if (/%2f/i.test(rawPath)) throw bad('encoded slashes are not allowed in paths', target);
  if (rawPath.indexOf('#') >= 0) throw bad('a fragment is not part of a request path', target);
  if (rawPath === '/') return { segments: [], query };
  const segments: string[] = [];
  for (const raw of rawPath.slice(1).split('/')) {
    let seg: string;
    try {
      seg = decodeURIComponent(raw);
    } catch {
      throw bad('malformed percent-encoding in the path', target);
    }
    if (seg === '') throw bad('empty path segments (//) are not allowed', target);
    if (seg === '.' || seg === '..') throw bad("'.' and '..' are not allowed in paths", target);
    if (hasControl(seg)) throw bad('NUL and control characters are not allowed in paths', target);
    if (seg.indexOf('/') >= 0 || seg.indexOf('\\') >= 0) throw bad('slashes inside a segment are not allowed', target);
    segments.push(seg);
  }
  return { segments, query };
}

const HOST_NAME = /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?$/;

/**
 * The Host header, checked before it goes into every URL of a manifest (a value with '/', '@',
 * spaces or quotes would let one client's header rewrite the URLs it is sent).
 */
export function checkHostHeader(host: string): string {
  if (!HOST_NAME.test(host)) throw new OtaflashError('HTTP_BAD_HOST', `the Host header ${JSON.stringify(host.slice(0, 200))} is not a host name or address with an optional port`);
  return host;
}

// A manifest as a client receives it: untrusted. Everything is checked here, before anything is
// written: destinations stay inside the device's file set, URLs stay on the server, hashes are hex,
// the version cannot become code in OTA_VERSION.py.
import { OtaflashError, kindOf } from '../errors';
import { utf8Decode } from '../formats/utf8';
import { checkPlainVersion } from './loose-version';

export interface ManifestDownload {
  /** Where it goes in the store: 'flash/lib/a.py' (dst_path without its leading '/'). */
  path: string;
  /** The URL's path (what Pycom's client requests from its server): '/1.0.1/flash/lib/a.py'. */
  urlPath: string;
  sha1: string;
  sha256?: string;
  size?: number;
}

export interface ManifestFirmwareDownload {
  urlPath: string;
  sha1: string;
  sha256?: string;
  size?: number;
}

export interface ParsedManifest {
  version: string;
  /** `new` and `update` together: which of them a file is, the device decides by what it holds. */
  files: ManifestDownload[];
  /** Store paths to move aside as PATH.bak_del. */
  deletes: string[];
  firmware: ManifestFirmwareDownload | null;
}

/** Where Pycom's client keeps the device's version (`VERSION = '1.0.1'`). */
export const VERSION_FILE = 'flash/OTA_VERSION.py';
/** The version a device without a version file has, as in Pycom's client. */
export const DEFAULT_DEVICE_VERSION = '1.0.0';

/** Suffixes the update itself uses beside a file; a manifest naming one could clobber a backup. */
const RESERVED_SUFFIXES = ['.new', '.bak', '.bak_del'];

function invalid(message: string, info?: Record<string, unknown>): OtaflashError {
  return new OtaflashError('MANIFEST_INVALID', message, info);
}

function hasBadChar(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    // Controls, and what FAT (Pycom's /flash and /sd) or Windows cannot hold in a name.
    if (c < 0x20 || c === 0x7f || '\\:*?"<>|'.indexOf(s.charAt(i)) >= 0) return true;
  }
  return false;
}

/**
 * A destination path made a store path: one leading '/' optional (Pycom's server writes it, its
 * documentation shows both), then plain names. '..', '.', empty names, backslashes, drive letters
 * and control characters are refused, as are names ending in .new/.bak/.bak_del.
 */
export function storePathOf(dst: unknown, where: string): string {
  if (typeof dst !== 'string') throw invalid(`${where}: dst_path is ${kindOf(dst)}, not a string`);
  const p = dst.charAt(0) === '/' ? dst.slice(1) : dst;
  if (p === '') throw invalid(`${where}: dst_path ${JSON.stringify(dst)} names no file`);
  if (p.length > 1024) throw invalid(`${where}: dst_path is longer than 1024 characters`);
  const parts = p.split('/');
  for (const seg of parts) {
    if (seg === '' || seg === '.' || seg === '..' || seg.length > 255 || hasBadChar(seg)) {
      throw invalid(`${where}: dst_path ${JSON.stringify(dst)} leads outside the device's files or holds a name no file system takes (segment ${JSON.stringify(seg)})`, { dst_path: dst });
    }
  }
  for (const s of RESERVED_SUFFIXES) {
    if (p.length > s.length && p.slice(-s.length) === s) throw invalid(`${where}: dst_path ${JSON.stringify(dst)} ends in '${s}', which the update keeps for its own files`, { dst_path: dst });
  }
  return p;
}

/**
 * The path part of a manifest URL, checked as the server checks a request: no '..' or '.' (raw or
 * %-encoded), no encoded or back slashes, no NUL. The host part is not used: like Pycom's client,
 * files are fetched from the server the manifest came from.
 */
export function urlPathOf(url: unknown, where: string): string {
  if (typeof url !== 'string') throw invalid(`${where}: URL is ${kindOf(url)}, not a string`);
  const m = /^https?:\/\/[^/?#\s]+(\/[^#\s]*)$/i.exec(url);
  if (m === null) throw invalid(`${where}: URL ${JSON.stringify(url.slice(0, 200))} is not http://host/path`);
  const full = m[1];
  const q = full.indexOf('?');
  const path = q < 0 ? full : full.slice(0, q);
  if (path.indexOf('\\') >= 0 || /%(2f|5c|00)/i.test(path) || hasControlChar(path)) {
    throw invalid(`${where}: URL ${JSON.stringify(url.slice(0, 200))} holds an encoded slash, a backslash or NUL`, { URL: url });
  }
  for (const raw of path.slice(1).split('/')) {
    let seg: string;
    try {
      seg = decodeURIComponent(raw);
    } catch {
      throw invalid(`${where}: URL ${JSON.stringify(url.slice(0, 200))} has a malformed %-escape`, { URL: url });
    }
    if (seg === '' || seg === '.' || seg === '..') throw invalid(`${where}: URL ${JSON.stringify(url.slice(0, 200))} leads outside the server's files`, { URL: url });
  }
  return full;
}

function hasControlChar(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) < 0x20 || s.charCodeAt(i) === 0x7f) return true;
  return false;
}

function hexField(v: unknown, len: number, name: string, where: string): string {
  if (typeof v !== 'string' || v.length !== len || !/^[0-9a-fA-F]+$/.test(v)) {
    throw invalid(`${where}: ${name} ${JSON.stringify(v)} is not ${len} hex digits`);
  }
  return v.toLowerCase();
}

function sizeField(v: unknown, where: string): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw invalid(`${where}: size ${JSON.stringify(v)} is not a byte count`);
  return v;
}

function listField(m: Record<string, unknown>, key: string): unknown[] {
  const v = m[key];
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw invalid(`manifest: '${key}' is ${kindOf(v)}, not a list`);
  return v;
}

/** Checks a decoded manifest; null stays null ("already on the latest version"). */
export function parseManifest(value: unknown): ParsedManifest | null {
  if (value === null) return null;
  if (typeof value !== 'object' || Array.isArray(value)) throw invalid(`manifest: expected an object or null, got ${kindOf(value)}`);
  const m = value as Record<string, unknown>;
  let version: string;
  try {
    version = checkPlainVersion(m.version, "manifest 'version'");
  } catch (e) {
    // Pycom's client writes this string into Python source it then imports.
    throw invalid((e as Error).message + '; it is written into flash/OTA_VERSION.py, so nothing else is accepted');
  }
  const seen = new Map<string, string>();
  const claim = (p: string, where: string) => {
    const before = seen.get(p);
    if (before !== undefined) throw invalid(`${where}: '${p}' is also named by ${before}`);
    seen.set(p, where);
  };
  const files: ManifestDownload[] = [];
  for (const key of ['new', 'update']) {
    listField(m, key).forEach((e, i) => {
      const where = `manifest ${key}[${i}]`;
      if (typeof e !== 'object' || e === null || Array.isArray(e)) throw invalid(`${where}: expected an object, got ${kindOf(e)}`);
      const entry = e as Record<string, unknown>;
      const path = storePathOf(entry.dst_path, where);
      claim(path, where);
      const d: ManifestDownload = { path, urlPath: urlPathOf(entry.URL, where), sha1: hexField(entry.hash, 40, 'hash', where) };
      if (entry.sha256 !== undefined) d.sha256 = hexField(entry.sha256, 64, 'sha256', where);
      const size = sizeField(entry.size, where);
      if (size !== undefined) d.size = size;
      // The version file is the update's to write (from `version`), whatever a folder held.
      if (path !== VERSION_FILE) files.push(d);
    });
  }
  const deletes: string[] = [];
  listField(m, 'delete').forEach((p, i) => {
    const where = `manifest delete[${i}]`;
    const path = storePathOf(p, where);
    claim(path, where);
    if (path !== VERSION_FILE) deletes.push(path);
  });
  // A file inside another file's path ('flash/a' and 'flash/a/b') can never both exist.
  const all = Array.from(seen.keys()).sort();
  for (let i = 1; i < all.length; i++) {
    if (all[i].indexOf(all[i - 1] + '/') === 0) throw invalid(`manifest: '${all[i - 1]}' is a file and also a directory of '${all[i]}'`);
  }
  let firmware: ManifestFirmwareDownload | null = null;
  if (m.firmware !== undefined && m.firmware !== null) {
    const where = 'manifest firmware';
    if (typeof m.firmware !== 'object' || Array.isArray(m.firmware)) throw invalid(`${where}: expected an object, got ${kindOf(m.firmware)}`);
    const f = m.firmware as Record<string, unknown>;
    firmware = { urlPath: urlPathOf(f.URL, where), sha1: hexField(f.hash, 40, 'hash', where) };
    if (f.sha256 !== undefined) firmware.sha256 = hexField(f.sha256, 64, 'sha256', where);
    const size = sizeField(f.size, where);
    if (size !== undefined) firmware.size = size;
  }
  return { version, files, deletes, firmware };
}

/** The body of a manifest response (UTF-8 JSON), checked. */
export function parseManifestBytes(body: Uint8Array): ParsedManifest | null {
  const text = utf8Decode(body);
  if (text === null) throw invalid('manifest: the body is not UTF-8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw invalid(`manifest: the body is not JSON (${(e as Error).message})`);
  }
  return parseManifest(value);
}

/** `VERSION = '<v>'`, exactly as Pycom's client writes it (no newline). */
export function versionFileText(version: string): string {
  return `VERSION = '${checkPlainVersion(version, 'version')}'`;
}

/**
 * The version in a version file's text: `VERSION = '1.0.1'` (either quote, spaces, a trailing
 * newline as an editor leaves it). Anything else is VERSION_FILE_INVALID: Pycom's client would fail
 * importing it too, and guessing could skip or repeat an update.
 */
export function parseVersionFileText(text: string): string {
  const m = /^\s*VERSION\s*=\s*(['"])([^'"\r\n]*)\1\s*$/.exec(text);
  if (m === null) throw new OtaflashError('VERSION_FILE_INVALID', `${VERSION_FILE} does not hold VERSION = '<version>': ${JSON.stringify(text.slice(0, 100))}`);
  return checkPlainVersion(m[2], VERSION_FILE);
}

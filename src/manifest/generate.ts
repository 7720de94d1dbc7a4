// Manifest generation as pure functions: which update a client on `current_ver` gets (from folder
// and firmware names alone), then the manifest itself from the two file trees. The server does the
// I/O (walking folders, hashing) in between; tests and the CLI call the same functions.
import { OtaflashError, isOtaflashError } from '../errors';
import { compareLooseVersions, highestVersion, isPlainVersion, checkPlainVersion } from './loose-version';
import type { FileTree, FirmwareFile, Manifest, ManifestFileEntry, TreeFile } from './types';

/** Files Pycom's server leaves out of every manifest (editor and Pymakr litter). */
export const IGNORED_FILE_NAMES: readonly string[] = ['.DS_Store', 'pymakr.conf'];

/**
 * A name that can be a version folder or a firmware version: a plain version that starts with a
 * digit. Anything else in the server directory ('static', '.git', 'abc') is not a version and is
 * skipped, where Pycom's server crashed comparing it.
 */
export function isVersionName(name: string): boolean {
  return isPlainVersion(name) && name.charCodeAt(0) >= 0x30 && name.charCodeAt(0) <= 0x39;
}

const FIRMWARE_NAME = /^firmware_(.+)\.bin$/;

/**
 * The firmware version in a top-level file name, or null when the name is not exactly
 * `firmware_<version>.bin` (so `firmware_1.0.1.bin.sha1` is not firmware, unlike in Pycom's server).
 */
export function firmwareVersionOf(fileName: string): string | null {
  const m = FIRMWARE_NAME.exec(fileName);
  return m !== null && isVersionName(m[1]) ? m[1] : null;
}

export interface UpdateSelection {
  /** The manifest's `version`: the newest folder, or the firmware's version when that is newer. */
  version: string;
  /** The folder whose files the device gets, or null when its files are already the newest. */
  target: string | null;
  /** The folder the device's files are diffed against (its current version), or null for a full install. */
  from: string | null;
  /** The firmware to offer (highest version above the client's), or null. */
  firmware: string | null;
}

export interface SelectInput {
  /** Version folder names (others are ignored, see isVersionName). */
  folders: readonly string[];
  /** Firmware versions available (from firmwareVersionOf). */
  firmware: readonly string[];
  /** The client's `current_ver`; null when it sent none (a full install of the newest). */
  currentVersion: string | null;
}

function highestOf(names: readonly string[], what: string): string | null {
  try {
    return highestVersion(names);
  } catch (e) {
    if (!isOtaflashError(e, 'VERSION_INCOMPARABLE')) throw e;
    // Two names on the server that LooseVersion cannot order: the server's problem, not the client's.
    throw new OtaflashError('MANIFEST_SERVER_VERSIONS', `the server's ${what} cannot be ordered: ${e.message}`, e.info as Record<string, unknown>);
  }
}

/**
 * Which update a client on `currentVersion` gets, or null when there is nothing newer for it (a
 * client on the newest version or on one newer than everything gets null: never a downgrade).
 * A `currentVersion` that is not a plain version is VERSION_INVALID; one LooseVersion cannot
 * compare with the server's versions ('abc' against '1.0.1') is VERSION_INCOMPARABLE.
 */
export function selectUpdate(input: SelectInput): UpdateSelection | null {
  const current = input.currentVersion === null ? null : checkPlainVersion(input.currentVersion, 'current_ver');
  const folders = input.folders.filter(isVersionName);
  const latest = highestOf(folders, 'version folders');
  const firmwareVersions = input.firmware.filter(isVersionName);
  // Order the firmware among itself first, so a server-side problem is reported as one.
  highestOf(firmwareVersions, 'firmware versions');
  const newer = (v: string) => current === null || compareLooseVersions(current, v) < 0;
  const target = latest !== null && newer(latest) ? latest : null;
  const firmware = highestOf(firmwareVersions.filter(newer), 'firmware versions');
  if (target === null && firmware === null) return null;
  let version = target ?? firmware!;
  if (target !== null && firmware !== null && compareLooseVersions(firmware, target) > 0) version = firmware;
  // Diff against the folder named exactly as the client's version (what it was given by a manifest
  // before); any other older version gets a full install, as from Pycom's server.
  const from = target !== null && current !== null && folders.indexOf(current) >= 0 ? current : null;
  return { version, target, from, firmware };
}

/** Percent-encodes each segment, so names with spaces or '#' survive a raw HTTP request line. */
export function encodeUrlPath(path: string): string {
  try {
    return path.split('/').map(encodeURIComponent).join('/');
  } catch {
    throw new OtaflashError('MANIFEST_INVALID', `path ${JSON.stringify(path)} holds a lone UTF-16 surrogate and has no URL`);
  }
}

export interface BuildInput {
  selection: UpdateSelection;
  /** The files of `selection.from` (ignored when it is null). */
  fromTree: FileTree | null;
  /** The files of `selection.target` (ignored when it is null). */
  targetTree: FileTree | null;
  /** The firmware file for `selection.firmware` (needed when it is not null). */
  firmware: FirmwareFile | null;
  /** `http://<Host header>`, no trailing slash. */
  baseUrl: string;
  /** The client's `current_ver`, for `previous_version`. */
  currentVersion?: string | null;
  /**
   * Add `sha256`, `size` and `previous_version` (default true). Pycom's client ignores them; false
   * gives exactly the fields Pycom's server sends.
   */
  extras?: boolean;
}

function byPath(a: { path: string }, b: { path: string }): number {
  return a.path < b.path ? -1 : a.path > b.path ? 1 : 0;
}

function sameContent(a: TreeFile, b: TreeFile): boolean {
  if (a.size !== b.size || a.sha1 !== b.sha1) return false;
  return a.sha256 === undefined || b.sha256 === undefined || a.sha256 === b.sha256;
}

function visible(tree: FileTree | null): TreeFile[] {
  if (tree === null) return [];
  return tree
    .filter((f) => {
      const base = f.path.slice(f.path.lastIndexOf('/') + 1);
      return IGNORED_FILE_NAMES.indexOf(base) < 0;
    })
    .sort(byPath);
}

/**
 * The manifest for `selection`, in Pycom's shape. Lists are sorted by path (Pycom's come in set
 * order, which no client relies on).
 */
export function buildManifest(input: BuildInput): Manifest {
  const { selection, baseUrl } = input;
  const extras = input.extras !== false;
  const entry = (f: TreeFile): ManifestFileEntry => {
    const e: ManifestFileEntry = {
      URL: `${baseUrl}/${encodeUrlPath(selection.target!)}/${encodeUrlPath(f.path)}`,
      dst_path: '/' + f.path,
      hash: f.sha1,
    };
    if (extras) {
      if (f.sha256 !== undefined) e.sha256 = f.sha256;
      e.size = f.size;
    }
    return e;
  };
  const manifest: Manifest = { delete: [], new: [], update: [], version: selection.version };
  if (selection.target !== null) {
    const target = visible(input.targetTree);
    const from = selection.from !== null ? visible(input.fromTree) : [];
    const old = new Map<string, TreeFile>();
    for (const f of from) old.set(f.path, f);
    const kept = new Set<string>();
    for (const f of target) {
      const before = old.get(f.path);
      kept.add(f.path);
      if (before === undefined) manifest.new.push(entry(f));
      else if (!sameContent(before, f)) manifest.update.push(entry(f));
    }
    for (const f of from) if (!kept.has(f.path)) manifest.delete.push(f.path);
  }
  if (selection.firmware !== null) {
    const fw = input.firmware;
    if (fw === null || fw.version !== selection.firmware) {
      throw new OtaflashError('MANIFEST_INVALID', `firmware ${selection.firmware} was selected but its file was not given`);
    }
    manifest.firmware = { URL: `${baseUrl}/${encodeUrlPath(fw.name)}`, hash: fw.sha1 };
    if (extras) {
      if (fw.sha256 !== undefined) manifest.firmware.sha256 = fw.sha256;
      manifest.firmware.size = fw.size;
    }
  }
  if (extras && input.currentVersion != null) manifest.previous_version = input.currentVersion;
  return manifest;
}

export interface GenerateInput {
  /** Every version folder's files, by folder name (non-version names are ignored). */
  trees: Readonly<Record<string, FileTree>>;
  firmware: readonly FirmwareFile[];
  currentVersion: string | null;
  baseUrl: string;
  extras?: boolean;
}

/** selectUpdate then buildManifest over trees already in memory; null when there is nothing to do. */
export function generateManifest(input: GenerateInput): Manifest | null {
  const selection = selectUpdate({
    folders: Object.keys(input.trees),
    firmware: input.firmware.map((f) => f.version),
    currentVersion: input.currentVersion,
  });
  if (selection === null) return null;
  const firmware = selection.firmware === null ? null : input.firmware.filter((f) => f.version === selection.firmware)[0];
  return buildManifest({
    selection,
    fromTree: selection.from !== null ? input.trees[selection.from] : null,
    targetTree: selection.target !== null ? input.trees[selection.target] : null,
    firmware,
    baseUrl: input.baseUrl,
    currentVersion: input.currentVersion,
    extras: input.extras,
  });
}

// Applying a manifest to a file store, sans-I/O: the update asks for byte ranges (next()), is given
// the bytes (start/data/complete), and switches the file set over under a journal. The same object
// runs with a blocking transport on a device (applyManifest below) and with node:http in the CLI.
//
// File names are Pycom's, so a device moved between Pycom's client and this one sees the same
// files: downloads go to PATH.new; at the switch a replaced file becomes PATH.bak and a deleted one
// PATH.bak_del. Order of a switch, each step durable before the next:
//   journal 'downloading' -> dirs, PATH.new files written and synced, firmware written and verified
//   journal 'switching'   -> firmware committed, PATH -> PATH.bak, PATH.new -> PATH, PATH -> PATH.bak_del
//   journal 'done'        (kept for rollback(); it lives beside the files, not among them)
// A power cut before 'switching' is undone by recover() (the .new files go; the old set stays); after
// it, recover() finishes the switch (every .new file is complete), so the set is whole old or whole new.
import { OtaflashError, isOtaflashError } from '../errors';
import { utf8Decode, utf8Encode } from '../formats/utf8';
import { defaultHashes } from '../hash/portable';
import { sha1 as portableSha1 } from '../hash/sha1';
import type { IncrementalHash } from '../hash/types';
import { parentOf, type FileStore, type JournalStore } from './file-store';
import { loadJournal, saveJournal, type JournalRecord } from './journal';
import { DEFAULT_DEVICE_VERSION, VERSION_FILE, parseManifest, parseVersionFileText, versionFileText, type ParsedManifest } from './parse';
import { toHex } from '../formats/bytes';
import type { SignatureTrust, SignatureVerifier } from '../formats/secure-boot-verify';
import { requireManifestSignature } from './signature';

/** Where the firmware of an update goes (an OTA slot through the engine, a file, a device API). */
export interface FirmwareTarget {
  /** Stored in the journal; recover() hands it back to finish a commit a power cut interrupted. */
  readonly description: string;
  /** A download starts (again from byte 0 after a failed resume): drop what was written. */
  begin(size: number | undefined): void;
  write(chunk: Uint8Array): void;
  /** All bytes in and their hashes match: verify (an app image check) or throw. */
  finish(): void;
  /** Make it the firmware that runs next; called in the switch, before any file moves. */
  commit(): void;
  abort(): void;
}

export interface ApplyOptions {
  journal: JournalStore;
  firmware?: FirmwareTarget;
  /** Download attempts per file before the update is abandoned (default 5, as Pycom's client). */
  attempts?: number;
  /** SHA-1 factory (default the portable one in hash/sha1.ts; Node passes node:crypto). */
  sha1?: () => IncrementalHash;
  sha256?: () => IncrementalHash;
  /** Bytes received so far (resumed bytes counted once), and the total when the manifest gives sizes. */
  onProgress?: (done: number, total: number | null) => void;
  /**
   * Keys the device trusts (eFuse-style digests): the manifest must carry a "signature" from one of
   * them (src/manifest/signature.ts), checked before anything is written or downloaded. Unset: a
   * signature is neither required nor checked.
   */
  trust?: SignatureTrust;
  /** Public-key operations for the signature (default: the portable verifier). */
  verifier?: SignatureVerifier;
  /** SHA-384 for P-384 signatures. */
  sha384?: () => IncrementalHash;
}

export interface ApplyResult {
  version: string;
  previous: string | null;
  replaced: string[];
  added: string[];
  deleted: string[];
  firmware: boolean;
}

/** One fetch the update wants: `urlPath` from byte `offset` (a resume when > 0). */
export interface FetchRequest {
  urlPath: string;
  offset: number;
  /** The store path it is for, or null for the firmware. */
  path: string | null;
  size: number | undefined;
}

/** Reads the device's version from flash/OTA_VERSION.py, or DEFAULT_DEVICE_VERSION without one. */
export function readDeviceVersion(store: FileStore): string {
  return readVersionFile(store) ?? DEFAULT_DEVICE_VERSION;
}

function readVersionFile(store: FileStore): string | null {
  const st = store.stat(VERSION_FILE);
  if (st === null) return null;
  if (st.kind !== 'file' || st.size > 4096) throw new OtaflashError('VERSION_FILE_INVALID', `${VERSION_FILE} is not a small file`);
  const buf = new Uint8Array(st.size);
  let n = 0;
  while (n < buf.length) {
    const k = store.read(VERSION_FILE, n, buf.subarray(n));
    if (k === 0) break;
    n += k;
  }
  const text = utf8Decode(buf.subarray(0, n));
  if (text === null) throw new OtaflashError('VERSION_FILE_INVALID', `${VERSION_FILE} is not UTF-8 text`);
  return parseVersionFileText(text);
}

interface Item {
  path: string | null;
  urlPath: string;
  sha1: string;
  sha256?: string;
  size?: number;
  received: number;
  attempts: number;
  done: boolean;
  h1: IncrementalHash | null;
  h256: IncrementalHash | null;
}

function writeAll(store: FileStore, path: string, data: Uint8Array): void {
  store.create(path);
  if (data.length > 0) store.write(path, 0, data);
  store.sync(path);
}

/** Parent directories of `paths`, each once, deepest first (the order to sync or remove them). */
function parentDirs(paths: readonly string[]): string[] {
  const set: Record<string, true> = {};
  for (const p of paths) set[parentOf(p)] = true;
  return Object.keys(set).sort((a, b) => b.length - a.length);
}

/** A file-set update in progress. Make one with FileSetUpdate.begin(). */
export class FileSetUpdate {
  private readonly items: Item[];
  private current: Item | null = null;
  private readonly total: number | null;
  private progressBytes = 0;
  private closed = false;

  private constructor(
    private readonly store: FileStore,
    private readonly opts: ApplyOptions,
    private readonly record: JournalRecord,
    private readonly manifest: ParsedManifest,
  ) {
    const items: Item[] = manifest.files.map((f) => ({ ...f, received: 0, attempts: 0, done: false, h1: null, h256: null }));
    if (manifest.firmware !== null) items.push({ ...manifest.firmware, path: null, received: 0, attempts: 0, done: false, h1: null, h256: null });
    this.items = items;
    let total: number | null = 0;
    for (const it of items) total = total === null || it.size === undefined ? null : total + it.size;
    this.total = total;
  }

  /**
   * Checks the manifest against the store and starts the update: nothing is written unless every
   * destination is acceptable. Returns null for a null manifest (nothing to do). A journal left
   * unfinished by a power cut must be recovered first (FILESET_RECOVER_FIRST).
   */
  static begin(manifest: unknown, store: FileStore, opts: ApplyOptions): FileSetUpdate | null {
    if (typeof opts !== 'object' || opts === null || typeof opts.journal !== 'object' || opts.journal === null) {
      throw new OtaflashError('FILESET_BAD_ARGUMENT', 'applying a manifest needs { journal } (where the update records its progress)');
    }
    // The signature first: nothing of an unsigned or forged manifest is looked at further.
    if (opts.trust) requireManifestSignature(manifest, { trust: opts.trust, verifier: opts.verifier, sha384: opts.sha384 });
    const parsed = parseManifest(manifest);
    if (parsed === null) return null;
    if (parsed.firmware !== null && opts.firmware === undefined) {
      throw new OtaflashError('FILESET_NO_FIRMWARE_TARGET', 'the manifest carries a firmware but no firmware target was given (nothing was written)');
    }
    const prior = loadJournal(opts.journal);
    if (prior !== null && prior.state !== 'done' && prior.state !== 'rolled-back') {
      throw new OtaflashError('FILESET_RECOVER_FIRST', `the last update stopped while ${prior.state}; run recover() before starting another`);
    }
    const previous = readVersionFile(store);
    const record: JournalRecord = { state: 'downloading', version: parsed.version, previous, replace: [], add: [], delete: [], dirs: [], firmware: opts.firmware?.description ?? null, prior: null };
    if (prior !== null) record.prior = { ...prior, prior: null };
    const needDir: Record<string, true> = {};
    const placeFile = (path: string) => {
      // Every parent must be a directory or absent (then created); the file itself a file or absent.
      const parts = path.split('/');
      for (let i = 1; i < parts.length; i++) {
        const dir = parts.slice(0, i).join('/');
        if (needDir[dir]) continue;
        const st = store.stat(dir);
        if (st === null) {
          needDir[dir] = true;
          record.dirs.push(dir);
        } else if (st.kind !== 'dir') {
          throw new OtaflashError('FILESET_PATH_CONFLICT', `'${path}' cannot be written: '${dir}' is a file on the device (nothing was written)`, { path });
        }
      }
      const st = needDir[parentOf(path)] ? null : store.stat(path);
      if (st !== null && st.kind !== 'file') throw new OtaflashError('FILESET_PATH_CONFLICT', `'${path}' is a directory on the device (nothing was written)`, { path });
      // What is there decides, not the manifest's list: a 'new' file the device has is backed up.
      (st === null ? record.add : record.replace).push(path);
    };
    for (const f of parsed.files) placeFile(f.path);
    placeFile(VERSION_FILE);
    for (const p of parsed.deletes) {
      const st = store.stat(p);
      // Already gone: nothing to move aside (Pycom's client stopped half-way here).
      if (st === null) continue;
      if (st.kind !== 'file') throw new OtaflashError('FILESET_PATH_CONFLICT', `'${p}' is to be deleted but is a directory (nothing was written)`, { path: p });
      record.delete.push(p);
    }
    saveJournal(opts.journal, record);
    const update = new FileSetUpdate(store, opts, record, parsed);
    update.guard(() => {
      for (const d of record.dirs) store.mkdir(d);
      writeAll(store, VERSION_FILE + '.new', utf8Encode(versionFileText(parsed.version)));
    });
    return update;
  }

  /** The version this update brings. */
  get version(): string {
    return this.record.version;
  }

  get totalBytes(): number | null {
    return this.total;
  }

  /** The next fetch, or null when every file (and the firmware) is in: then commit(). */
  next(): FetchRequest | null {
    this.checkOpen('next');
    for (const it of this.items) {
      if (it.done) continue;
      this.current = it;
      return { urlPath: it.urlPath, offset: it.received, path: it.path, size: it.size };
    }
    this.current = null;
    return null;
  }

  private item(op: string): Item {
    this.checkOpen(op);
    if (this.current === null) throw new OtaflashError('FILESET_BAD_STATE', `${op}: no fetch in progress (call next() first)`);
    return this.current;
  }

  /**
   * The answer to the fetch begins at byte `offset`: the one asked for (a resumed download), or 0
   * when the server sent the whole file again (then the file starts over).
   */
  start(offset: number): void {
    const it = this.item('start');
    this.guard(() => {
      if (offset !== 0 && offset !== it.received) throw new OtaflashError('FILESET_BAD_STATE', `start: the data begins at ${offset}, but ${it.received} bytes are in`);
      if (offset === 0 || it.h1 === null) {
        this.progressBytes -= it.received;
        it.received = 0;
        it.h1 = (this.opts.sha1 ?? portableSha1)();
        it.h256 = it.sha256 !== undefined ? (this.opts.sha256 ?? defaultHashes().sha256)() : null;
        if (it.path === null) this.opts.firmware!.begin(it.size);
        else this.store.create(it.path + '.new');
      }
    });
  }

  /** Bytes of the current fetch, in order. */
  data(chunk: Uint8Array): void {
    const it = this.item('data');
    if (it.h1 === null) throw new OtaflashError('FILESET_BAD_STATE', 'data: start() was not called for this fetch');
    this.guard(() => {
      if (it.size !== undefined && it.received + chunk.length > it.size) {
        throw new OtaflashError('FILESET_SIZE_MISMATCH', `${it.urlPath}: more than the ${it.size} bytes the manifest gives`, { url: it.urlPath });
      }
      if (it.path === null) this.opts.firmware!.write(chunk);
      else this.store.write(it.path + '.new', it.received, chunk);
      it.h1!.update(chunk);
      if (it.h256 !== null) it.h256.update(chunk);
      it.received += chunk.length;
      this.progressBytes += chunk.length;
      if (this.opts.onProgress) this.opts.onProgress(this.progressBytes, this.total);
    });
  }

  /**
   * The fetch broke off (connection lost, server error). Returns true when it will be retried
   * (next() asks for the rest); false when attempts are used up: the update is then abandoned.
   */
  interrupted(): boolean {
    const it = this.item('interrupted');
    it.attempts++;
    if (it.attempts < (this.opts.attempts ?? 5)) return true;
    this.abort();
    return false;
  }

  /** The current fetch ended normally: checks size and hashes, syncs. A mismatch abandons the update. */
  complete(): void {
    const it = this.item('complete');
    if (it.h1 === null) throw new OtaflashError('FILESET_BAD_STATE', 'complete: start() was not called for this fetch');
    this.guard(() => {
      const what = it.path ?? 'the firmware';
      if (it.size !== undefined && it.received !== it.size) {
        throw new OtaflashError('FILESET_SIZE_MISMATCH', `${what}: ${it.received} bytes received, the manifest gives ${it.size}`, { url: it.urlPath });
      }
      const sha1 = toHex(it.h1!.digest());
      if (sha1 !== it.sha1) throw new OtaflashError('FILESET_HASH_MISMATCH', `${what}: SHA-1 ${sha1}, the manifest gives ${it.sha1} (nothing was switched)`, { url: it.urlPath });
      if (it.h256 !== null) {
        const sha256 = toHex(it.h256.digest());
        if (sha256 !== it.sha256) throw new OtaflashError('FILESET_HASH_MISMATCH', `${what}: SHA-256 ${sha256}, the manifest gives ${it.sha256} (nothing was switched)`, { url: it.urlPath });
      }
      if (it.path === null) this.opts.firmware!.finish();
      else this.store.sync(it.path + '.new');
      it.done = true;
      this.current = null;
    });
  }

  /** Switches the file set over (and commits the firmware); the update is then done. */
  commit(): ApplyResult {
    this.checkOpen('commit');
    if (this.items.some((it) => !it.done)) throw new OtaflashError('FILESET_BAD_STATE', 'commit: not every file has been downloaded');
    // The directories of the .new files must hold their entries before the journal says 'switching'.
    for (const d of parentDirs(this.record.replace.concat(this.record.add))) this.store.sync(d);
    this.record.state = 'switching';
    this.record.prior = null;
    saveJournal(this.opts.journal, this.record);
    this.closed = true;
    if (this.opts.firmware) this.opts.firmware.commit();
    finishSwitch(this.store, this.opts.journal, this.record);
    return resultOf(this.record);
  }

  /** Abandons the update: the .new files and created directories go, the previous journal comes back. */
  abort(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.opts.firmware && this.manifest.firmware !== null) {
      try {
        this.opts.firmware.abort();
      } catch {
        // The update is abandoned either way; its cause is the error the caller sees.
      }
    }
    undoDownloads(this.store, this.opts.journal, this.record);
  }

  private checkOpen(op: string): void {
    if (this.closed) throw new OtaflashError('FILESET_BAD_STATE', `${op}: the update is finished or abandoned`);
  }

  /** Runs a step; an error other than a power cut abandons the update before it is rethrown. */
  private guard(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      // After a power cut nothing can be written: recover() cleans up on the next start.
      if (!isOtaflashError(e, 'POWER_LOSS')) {
        try {
          this.abort();
        } catch {
          // Cleaning up failed too; recover() will finish it. The first error is the one to report.
        }
      }
      throw e;
    }
  }
}

function resultOf(r: JournalRecord): ApplyResult {
  return { version: r.version, previous: r.previous, replaced: r.replace.slice(), added: r.add.slice(), deleted: r.delete.slice(), firmware: r.firmware !== null };
}

function exists(store: FileStore, p: string): boolean {
  return store.stat(p) !== null;
}

/** The switch, idempotent: run again after a cut, it finishes what is left. */
function finishSwitch(store: FileStore, journal: JournalStore, r: JournalRecord): void {
  for (const p of r.replace) {
    if (!exists(store, p + '.new')) continue;
    if (exists(store, p)) {
      store.remove(p + '.bak');
      store.rename(p, p + '.bak');
    }
    store.rename(p + '.new', p);
  }
  for (const p of r.add) if (exists(store, p + '.new')) store.rename(p + '.new', p);
  for (const p of r.delete) {
    if (!exists(store, p)) continue;
    store.remove(p + '.bak_del');
    store.rename(p, p + '.bak_del');
  }
  for (const d of parentDirs(r.replace.concat(r.add, r.delete))) store.sync(d);
  r.state = 'done';
  saveJournal(journal, r);
}

function removeCreatedDirs(store: FileStore, dirs: readonly string[]): void {
  for (let i = dirs.length - 1; i >= 0; i--) {
    const st = store.stat(dirs[i]);
    if (st !== null && st.kind === 'dir' && store.list(dirs[i]).length === 0) store.remove(dirs[i]);
  }
}

function undoDownloads(store: FileStore, journal: JournalStore, r: JournalRecord): void {
  for (const p of r.replace.concat(r.add)) store.remove(p + '.new');
  removeCreatedDirs(store, r.dirs);
  for (const d of parentDirs(r.replace.concat(r.add))) if (exists(store, d)) store.sync(d);
  if (r.prior !== null) saveJournal(journal, r.prior);
  else journal.clear();
}

function finishRollback(store: FileStore, journal: JournalStore, r: JournalRecord): void {
  for (const p of r.replace) if (exists(store, p + '.bak')) store.rename(p + '.bak', p);
  for (const p of r.add) store.remove(p);
  for (const p of r.delete) if (exists(store, p + '.bak_del')) store.rename(p + '.bak_del', p);
  removeCreatedDirs(store, r.dirs);
  for (const d of parentDirs(r.replace.concat(r.add, r.delete))) if (exists(store, d)) store.sync(d);
  r.state = 'rolled-back';
  saveJournal(journal, r);
}

export interface RecoverOptions {
  /** Finishes a firmware commit a cut interrupted (given the target's description from the journal). */
  commitFirmware?: (description: string) => void;
}

export interface RecoverResult {
  /** What recover() did: nothing, undid unfinished downloads, finished a switch, finished a rollback. */
  action: 'none' | 'abandoned' | 'completed' | 'rolled-back';
  /** The version the file set is at afterwards, per the journal (null: no journal). */
  version: string | null;
  /** A switch was finished whose firmware commit could not be redone here (no commitFirmware given). */
  firmwarePending: boolean;
}

/**
 * Brings the file set to a whole state after a power cut: call it on every start, before anything
 * reads the files. Idempotent; a cut during recover() is recovered by the next one.
 */
export function recover(store: FileStore, journal: JournalStore, opts: RecoverOptions = {}): RecoverResult {
  const r = loadJournal(journal);
  if (r === null) return { action: 'none', version: null, firmwarePending: false };
  switch (r.state) {
    case 'downloading': {
      const back = r.prior;
      undoDownloads(store, journal, r);
      return { action: 'abandoned', version: back === null ? null : back.state === 'rolled-back' ? back.previous : back.version, firmwarePending: false };
    }
    case 'switching': {
      let pending = false;
      if (r.firmware !== null) {
        if (opts.commitFirmware) opts.commitFirmware(r.firmware);
        else pending = true;
      }
      finishSwitch(store, journal, r);
      return { action: 'completed', version: r.version, firmwarePending: pending };
    }
    case 'rolling-back':
      finishRollback(store, journal, r);
      return { action: 'rolled-back', version: r.previous, firmwarePending: false };
    default:
      return { action: 'none', version: r.state === 'done' ? r.version : r.previous, firmwarePending: false };
  }
}

/**
 * Puts back the file set from before the last update: PATH.bak files return, added files go,
 * PATH.bak_del files return, the version file with them. Refused (nothing changed) when there is no
 * finished update to undo or a backup it needs is missing. The firmware is not touched: roll it
 * back through the OTA engine (or let the bootloader do it) and call this for the files.
 */
export function rollback(store: FileStore, journal: JournalStore): ApplyResult {
  const r = loadJournal(journal);
  if (r === null || r.state !== 'done') {
    throw new OtaflashError('ROLLBACK_IMPOSSIBLE', r === null ? 'no update is recorded, so there is nothing to roll back' : `the last update is ${r.state}, not done; ${r.state === 'rolled-back' ? 'it was rolled back already' : 'run recover() first'}`);
  }
  for (const p of r.replace) {
    if (!exists(store, p + '.bak')) throw new OtaflashError('ROLLBACK_IMPOSSIBLE', `the backup '${p}.bak' is missing, so '${p}' cannot be put back (nothing was changed)`, { path: p });
  }
  for (const p of r.delete) {
    if (!exists(store, p + '.bak_del')) throw new OtaflashError('ROLLBACK_IMPOSSIBLE', `the backup '${p}.bak_del' is missing, so '${p}' cannot be put back (nothing was changed)`, { path: p });
  }
  r.state = 'rolling-back';
  saveJournal(journal, r);
  finishRollback(store, journal, r);
  return resultOf(r);
}

/**
 * Keeps the files with their firmware after a reboot: when the last update committed a firmware and
 * `isSelected(description)` says it is no longer the one selected for boot (the bootloader rolled it
 * back, or the app was marked invalid), the files roll back too. Returns the rollback's result, or
 * null when nothing had to change.
 */
export function followFirmware(store: FileStore, journal: JournalStore, isSelected: (description: string) => boolean): ApplyResult | null {
  const r = loadJournal(journal);
  if (r === null || r.state !== 'done' || r.firmware === null || isSelected(r.firmware)) return null;
  return rollback(store, journal);
}

/** A transport that blocks until it has the bytes (a device's socket, a test's memory server). */
export interface SyncTransport {
  /**
   * Fetches `urlPath` from byte `offset`, calling `sink.start(firstByte)` once (the offset asked
   * for, or 0 if the server sends everything) and then `sink.data` per chunk. Throws on failure.
   */
  get(urlPath: string, offset: number, sink: { start(offset: number): void; data(chunk: Uint8Array): void }): void;
}

/**
 * The whole update with a blocking transport: recover, begin, fetch everything (resuming broken
 * downloads, up to `attempts` per file), commit. Returns null when the manifest is null.
 */
export function applyManifest(manifest: unknown, store: FileStore, transport: SyncTransport, opts: ApplyOptions): ApplyResult | null {
  const update = FileSetUpdate.begin(manifest, store, opts);
  if (update === null) return null;
  for (let req = update.next(); req !== null; req = update.next()) {
    try {
      transport.get(req.urlPath, req.offset, update);
    } catch (e) {
      if (isOtaflashError(e) && (e.code === 'POWER_LOSS' || e.code.indexOf('FILESET_') === 0)) throw e;
      if (update.interrupted()) continue;
      throw new OtaflashError('FILESET_DOWNLOAD_FAILED', `${req.urlPath}: ${e instanceof Error ? e.message : String(e)} (gave up after ${opts.attempts ?? 5} attempts; nothing was switched)`, { url: req.urlPath });
    }
    update.complete();
  }
  return update.commit();
}

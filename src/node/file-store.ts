// The file store and journal on a real directory: synchronous node:fs (the core is synchronous,
// and sync positional I/O is the fast path here), fsync at each durability point the update asks for.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { OtaflashError } from '../errors';
import type { FileStat, FileStore, JournalStore } from '../manifest/file-store';

function fsError(op: string, p: string, e: unknown): OtaflashError {
  const code = (e as NodeJS.ErrnoException).code ?? 'EIO';
  const mapped = code === 'ENOENT' ? 'FILE_NOT_FOUND' : code === 'EISDIR' ? 'FILE_IS_DIRECTORY' : code === 'ENOTEMPTY' ? 'DIRECTORY_NOT_EMPTY' : code === 'EEXIST' ? 'FILE_EXISTS' : 'FILE_IO';
  return new OtaflashError(mapped, `${op} '${p}' failed: ${code}`, { path: p, errno: code });
}

/** A device's file system as a directory (`root` is the device's '/', holding flash/). */
export class NodeFileStore implements FileStore {
  readonly root: string;

  constructor(root: string) {
    this.root = path.resolve(root);
  }

  /** The host path of a store path; store paths come checked from the manifest parser, this re-checks. */
  private abs(p: string): string {
    if (p === '') return this.root;
    if (p.charAt(0) === '/' || p.split('/').some((s) => s === '' || s === '.' || s === '..') || p.indexOf('\\') >= 0 || p.indexOf('\0') >= 0) {
      throw new OtaflashError('FILE_BAD_PATH', `'${p}' is not a path inside the store`, { path: p });
    }
    return path.join(this.root, ...p.split('/'));
  }

  stat(p: string): FileStat | null {
    let st: fs.Stats;
    try {
      st = fs.lstatSync(this.abs(p));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return null;
      throw fsError('stat', p, e);
    }
    // A symlink is neither: the update never writes through one (it could point anywhere).
    if (st.isSymbolicLink()) throw new OtaflashError('FILE_IS_SYMLINK', `'${p}' is a symbolic link; the update does not follow links`, { path: p });
    return { kind: st.isDirectory() ? 'dir' : 'file', size: st.size };
  }

  read(p: string, offset: number, into: Uint8Array): number {
    let fd = -1;
    try {
      fd = fs.openSync(this.abs(p), fs.constants.O_RDONLY | (fs.constants.O_NOFOLLOW ?? 0));
      return fs.readSync(fd, into, 0, into.length, offset);
    } catch (e) {
      throw e instanceof OtaflashError ? e : fsError('read', p, e);
    } finally {
      if (fd >= 0) fs.closeSync(fd);
    }
  }

  create(p: string): void {
    try {
      fs.closeSync(fs.openSync(this.abs(p), fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC | (fs.constants.O_NOFOLLOW ?? 0), 0o644));
    } catch (e) {
      throw e instanceof OtaflashError ? e : fsError('create', p, e);
    }
  }

  write(p: string, offset: number, data: Uint8Array): void {
    let fd = -1;
    try {
      fd = fs.openSync(this.abs(p), fs.constants.O_WRONLY | (fs.constants.O_NOFOLLOW ?? 0));
      let done = 0;
      while (done < data.length) done += fs.writeSync(fd, data, done, data.length - done, offset + done);
    } catch (e) {
      throw e instanceof OtaflashError ? e : fsError('write', p, e);
    } finally {
      if (fd >= 0) fs.closeSync(fd);
    }
  }

  rename(from: string, to: string): void {
    try {
      fs.renameSync(this.abs(from), this.abs(to));
    } catch (e) {
      throw e instanceof OtaflashError ? e : fsError('rename', `${from} -> ${to}`, e);
    }
  }

  remove(p: string): void {
    const st = this.stat(p);
    if (st === null) return;
    try {
      if (st.kind === 'dir') fs.rmdirSync(this.abs(p));
      else fs.unlinkSync(this.abs(p));
    } catch (e) {
      throw fsError('remove', p, e);
    }
  }

  list(dir: string): string[] {
    try {
      return fs.readdirSync(this.abs(dir));
    } catch (e) {
      throw e instanceof OtaflashError ? e : fsError('list', dir, e);
    }
  }

  mkdir(p: string): void {
    const st = this.stat(p);
    if (st !== null && st.kind === 'dir') return;
    try {
      fs.mkdirSync(this.abs(p));
    } catch (e) {
      throw fsError('mkdir', p, e);
    }
  }

  sync(p: string): void {
    let fd = -1;
    try {
      fd = fs.openSync(this.abs(p), fs.constants.O_RDONLY);
      fs.fsyncSync(fd);
    } catch (e) {
      throw e instanceof OtaflashError ? e : fsError('sync', p, e);
    } finally {
      if (fd >= 0) fs.closeSync(fd);
    }
  }
}

/** Syncs a directory's entries (after a rename or unlink in it). */
function syncDir(dir: string): void {
  const fd = fs.openSync(dir, fs.constants.O_RDONLY);
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** The journal as one file, replaced atomically (write beside it, fsync, rename, fsync the directory). */
export class NodeJournal implements JournalStore {
  constructor(readonly file: string) {}

  load(): Uint8Array | null {
    try {
      return fs.readFileSync(this.file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw fsError('read journal', this.file, e);
    }
  }

  save(data: Uint8Array): void {
    const tmp = this.file + '.tmp';
    try {
      const fd = fs.openSync(tmp, 'w', 0o644);
      try {
        fs.writeSync(fd, data);
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      fs.renameSync(tmp, this.file);
      syncDir(path.dirname(this.file));
    } catch (e) {
      throw fsError('write journal', this.file, e);
    }
  }

  clear(): void {
    try {
      fs.rmSync(this.file, { force: true });
      syncDir(path.dirname(this.file));
    } catch (e) {
      throw fsError('remove journal', this.file, e);
    }
  }
}

/**
 * The journal of a device directory: beside it, not in it (`/x/device` -> `/x/.device.otaflash-journal`),
 * so the device's own files hold nothing of otaflash's once an update is done.
 */
export function journalBeside(deviceDir: string): NodeJournal {
  const abs = path.resolve(deviceDir);
  return new NodeJournal(path.join(path.dirname(abs), `.${path.basename(abs)}.otaflash-journal`));
}

const FILE_PREFIX = 'file:';

/**
 * A firmware target that is a plain file (any firmware, not only ESP app images): written to
 * FILE.part while it downloads, fsynced once its hashes match, renamed to FILE in the switch.
 */
export function fileFirmwareTarget(file: string): import('../manifest/apply').FirmwareTarget {
  const abs = path.resolve(file);
  const part = abs + '.part';
  let fd = -1;
  let at = 0;
  const closeFd = () => {
    if (fd >= 0) fs.closeSync(fd);
    fd = -1;
  };
  return {
    description: FILE_PREFIX + abs,
    begin() {
      closeFd();
      fd = fs.openSync(part, 'w', 0o644);
      at = 0;
    },
    write(chunk) {
      let done = 0;
      while (done < chunk.length) done += fs.writeSync(fd, chunk, done, chunk.length - done, at + done);
      at += chunk.length;
    },
    finish() {
      fs.fsyncSync(fd);
      closeFd();
    },
    commit() {
      commitFileFirmware(FILE_PREFIX + abs);
    },
    abort() {
      closeFd();
      fs.rmSync(part, { force: true });
    },
  };
}

/** recover()'s commitFirmware for file targets: FILE.part becomes FILE (once; later calls find it done). */
export function commitFileFirmware(description: string): void {
  if (description.indexOf(FILE_PREFIX) !== 0) throw new OtaflashError('JOURNAL_INVALID', `the journal's firmware target '${description}' is not a file`);
  const abs = description.slice(FILE_PREFIX.length);
  if (fs.existsSync(abs + '.part')) {
    fs.renameSync(abs + '.part', abs);
    syncDir(path.dirname(abs));
  }
}

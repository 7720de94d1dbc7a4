// A file store in memory that can lose power: every changing operation counts, and a cut makes the
// operation it lands on fail and the store revert to what was durable. The model is the strict one
// of a real file system: operations on names (create, rename, remove, mkdir) persist in order, but a
// file's bytes persist only once the file is synced; a file written and renamed without a sync comes
// back with its last synced content (empty if never synced), as ext4 or FAT may leave it.
import { OtaflashError, PowerLossError } from '../errors';
import { parentOf, type FileStat, type FileStore, type JournalStore } from './file-store';

interface MemFile {
  data: Uint8Array;
  size: number;
  /** Content as of the last sync. */
  durable: Uint8Array;
}

export interface MemoryFileStoreOptions {
  /** Cut the power when this many changing operations have completed (the next one fails). */
  cutAfter?: number;
}

export class MemoryFileStore implements FileStore {
  private readonly files = new Map<string, MemFile>();
  private readonly dirs = new Set<string>(['']);
  private journalData: Uint8Array | null = null;
  /** Changing operations performed (create, write, rename, remove, mkdir, sync, journal save/clear). */
  operations = 0;
  private cutAfter: number;
  private dead = false;

  constructor(opts: MemoryFileStoreOptions = {}) {
    this.cutAfter = opts.cutAfter ?? Infinity;
  }

  /** Arms (or, with Infinity, disarms) a power cut after `n` more changing operations from now. */
  cutPowerAfter(n: number): void {
    this.cutAfter = this.operations + n;
  }

  get powerLost(): boolean {
    return this.dead;
  }

  /** The state after the cut: unsynced bytes lost, the store working again (and disarmed). */
  reboot(): void {
    for (const f of this.files.values()) {
      f.data = f.durable.slice();
      f.size = f.data.length;
    }
    this.dead = false;
    this.cutAfter = Infinity;
  }

  private alive(op: string, path: string): void {
    if (this.dead) throw new PowerLossError(`${op} '${path}': the power is off`);
  }

  private change(op: string, path: string): void {
    this.alive(op, path);
    if (this.operations >= this.cutAfter) {
      this.dead = true;
      throw new PowerLossError(`power cut at ${op} '${path}' (operation ${this.operations + 1})`, { operation: this.operations + 1 });
    }
    this.operations++;
  }

  private missing(op: string, path: string): OtaflashError {
    return new OtaflashError('FILE_NOT_FOUND', `${op}: '${path}' does not exist`, { path });
  }

  private needDir(op: string, path: string): void {
    const dir = parentOf(path);
    if (!this.dirs.has(dir)) throw new OtaflashError('FILE_NOT_FOUND', `${op} '${path}': the directory '${dir}' does not exist`, { path });
  }

  stat(path: string): FileStat | null {
    this.alive('stat', path);
    const f = this.files.get(path);
    if (f !== undefined) return { kind: 'file', size: f.size };
    return this.dirs.has(path) ? { kind: 'dir', size: 0 } : null;
  }

  read(path: string, offset: number, into: Uint8Array): number {
    this.alive('read', path);
    const f = this.files.get(path);
    if (f === undefined) throw this.missing('read', path);
    const n = Math.max(0, Math.min(into.length, f.size - offset));
    into.set(f.data.subarray(offset, offset + n));
    return n;
  }

  create(path: string): void {
    this.change('create', path);
    this.needDir('create', path);
    if (this.dirs.has(path)) throw new OtaflashError('FILE_IS_DIRECTORY', `create: '${path}' is a directory`, { path });
    this.files.set(path, { data: new Uint8Array(0), size: 0, durable: new Uint8Array(0) });
  }

  write(path: string, offset: number, data: Uint8Array): void {
    this.change('write', path);
    const f = this.files.get(path);
    if (f === undefined) throw this.missing('write', path);
    const end = offset + data.length;
    if (end > f.data.length) {
      const grown = new Uint8Array(Math.max(end, f.data.length * 2));
      grown.set(f.data.subarray(0, f.size));
      f.data = grown;
    }
    f.data.set(data, offset);
    f.size = Math.max(f.size, end);
  }

  rename(from: string, to: string): void {
    this.change('rename', `${from} -> ${to}`);
    const f = this.files.get(from);
    if (f === undefined) throw this.missing('rename', from);
    this.needDir('rename', to);
    if (this.dirs.has(to)) throw new OtaflashError('FILE_IS_DIRECTORY', `rename: '${to}' is a directory`, { path: to });
    this.files.delete(from);
    this.files.set(to, f);
  }

  remove(path: string): void {
    this.change('remove', path);
    if (this.files.delete(path)) return;
    if (!this.dirs.has(path) || path === '') return;
    if (this.list(path).length > 0) throw new OtaflashError('DIRECTORY_NOT_EMPTY', `remove: the directory '${path}' is not empty`, { path });
    this.dirs.delete(path);
  }

  list(dir: string): string[] {
    this.alive('list', dir);
    if (!this.dirs.has(dir)) throw this.missing('list', dir);
    const prefix = dir === '' ? '' : dir + '/';
    const out: string[] = [];
    const take = (p: string) => {
      if (p.startsWith(prefix) && p !== dir && p.indexOf('/', prefix.length) < 0) out.push(p.slice(prefix.length));
    };
    this.files.forEach((_f, p) => take(p));
    this.dirs.forEach((p) => take(p));
    return out;
  }

  mkdir(path: string): void {
    this.change('mkdir', path);
    if (this.dirs.has(path)) return;
    if (this.files.has(path)) throw new OtaflashError('FILE_EXISTS', `mkdir: '${path}' is a file`, { path });
    this.needDir('mkdir', path);
    this.dirs.add(path);
  }

  sync(path: string): void {
    this.change('sync', path);
    const f = this.files.get(path);
    if (f !== undefined) f.durable = f.data.slice(0, f.size);
  }

  /** A journal kept beside the files (not listed among them), cut by the same power. */
  journal(): JournalStore {
    return {
      load: () => {
        this.alive('journal load', '');
        return this.journalData === null ? null : this.journalData.slice();
      },
      save: (data) => {
        this.change('journal save', '');
        this.journalData = data.slice();
      },
      clear: () => {
        this.change('journal clear', '');
        this.journalData = null;
      },
    };
  }

  /** Test helper: writes a whole file (creating directories), durable at once; not counted. */
  put(path: string, data: Uint8Array | string): void {
    const bytes = typeof data === 'string' ? asciiBytes(data) : data;
    let dir = parentOf(path);
    const need: string[] = [];
    while (!this.dirs.has(dir)) {
      need.push(dir);
      dir = parentOf(dir);
    }
    for (let i = need.length - 1; i >= 0; i--) this.dirs.add(need[i]);
    this.files.set(path, { data: bytes.slice(), size: bytes.length, durable: bytes.slice() });
  }

  /** Test helper: every file with its content, by path. */
  snapshot(): Map<string, Uint8Array> {
    const out = new Map<string, Uint8Array>();
    this.files.forEach((f, p) => out.set(p, f.data.slice(0, f.size)));
    return out;
  }

  /** Test helper: every directory path ('' excluded). */
  directories(): string[] {
    return Array.from(this.dirs).filter((d) => d !== '');
  }
}

function asciiBytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i) & 0xff;
  return out;
}

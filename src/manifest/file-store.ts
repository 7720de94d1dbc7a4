// The file system a file-set update is applied to, as small as an update needs: Pycom devices have
// a FAT or littlefs /flash, Node has a directory, tests have memory. Paths are relative to the
// store's root, '/'-separated, without a leading slash ('flash/lib/a.py'; '' is the root).

export interface FileStat {
  kind: 'file' | 'dir';
  size: number;
}

export interface FileStore {
  /** null when nothing is at `path`. */
  stat(path: string): FileStat | null;
  /** Reads up to `into.length` bytes at `offset`; returns how many were read (0 at the end). */
  read(path: string, offset: number, into: Uint8Array): number;
  /** Creates an empty file, truncating one that is there. */
  create(path: string): void;
  /** Writes `data` at `offset` of an existing file (chunk by chunk as a download arrives). */
  write(path: string, offset: number, data: Uint8Array): void;
  /** Renames a file, replacing a file at `to` in one step (POSIX rename). */
  rename(from: string, to: string): void;
  /** Removes a file or an empty directory; nothing happens when `path` is absent. */
  remove(path: string): void;
  /** Names in a directory ('' for the root), in any order. */
  list(dir: string): string[];
  /** Creates one directory level; nothing happens when it is there already. */
  mkdir(path: string): void;
  /**
   * Durability point: a file's data, or a directory's entries (renames, creations, removals in
   * it), survive a power cut once this returns.
   */
  sync(path: string): void;
}

/**
 * Where the update's journal lives: beside the file set, not in it, so that nothing but Pycom's own
 * `.bak`/`.bak_del` files stays among the device's files after an update.
 */
export interface JournalStore {
  load(): Uint8Array | null;
  /** Replaces the journal in one durable step (a power cut leaves the old one or the new one). */
  save(data: Uint8Array): void;
  clear(): void;
}

/** The parent directory of a store path ('' for top-level names). */
export function parentOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? '' : path.slice(0, i);
}

// File hashes (and, for small files, the bytes) cached per path and checked against the file's
// stat on every use: a file replaced or edited while the server runs is hashed again, never served
// under its old hash.
import * as fs from 'node:fs';
import { createHash } from 'node:crypto';

export interface FileInfo {
  size: number;
  sha1: string;
  sha256: string;
  /** Strong ETag: the SHA-256, quoted. */
  etag: string;
  mtime: Date;
  /** The content, kept for files up to `keepBytesUpTo` (served from memory with the hash it matches). */
  bytes: Buffer | null;
}

interface Entry {
  key: string;
  info: FileInfo;
}

export interface FileInfoCacheOptions {
  /** Keep the bytes of files up to this size (default 256 KiB). */
  keepBytesUpTo?: number;
  /** Total bytes of kept content before the oldest entries are dropped (default 64 MiB). */
  maxKeptBytes?: number;
}

/** What decides that a file is unchanged: size, modification and change times, inode. */
function statKey(st: fs.Stats): string {
  return `${st.size}:${st.mtimeMs}:${st.ctimeMs}:${st.ino}:${st.dev}`;
}

export class FileInfoCache {
  private readonly entries = new Map<string, Entry>();
  private readonly pending = new Map<string, Promise<FileInfo>>();
  private keptBytes = 0;
  private readonly keepBytesUpTo: number;
  private readonly maxKeptBytes: number;
  /** How many times a file was read to hash it (tests check that a change is noticed, and only then). */
  hashedCount = 0;

  constructor(opts: FileInfoCacheOptions = {}) {
    this.keepBytesUpTo = opts.keepBytesUpTo ?? 256 * 1024;
    this.maxKeptBytes = opts.maxKeptBytes ?? 64 * 1024 * 1024;
  }

  /** The file's hashes for the state `st` describes (stat it just before). */
  get(path: string, st: fs.Stats): Promise<FileInfo> {
    const key = statKey(st);
    const hit = this.entries.get(path);
    if (hit !== undefined && hit.key === key) return Promise.resolve(hit.info);
    // Many clients asking at once for a file not yet hashed share one read.
    const wait = this.pending.get(path + '\0' + key);
    if (wait !== undefined) return wait;
    const p = this.compute(path, key).finally(() => this.pending.delete(path + '\0' + key));
    this.pending.set(path + '\0' + key, p);
    return p;
  }

  private async compute(path: string, key: string): Promise<FileInfo> {
    this.hashedCount++;
    const sha1 = createHash('sha1');
    const sha256 = createHash('sha256');
    const chunks: Buffer[] = [];
    let size = 0;
    const handle = await fs.promises.open(path, 'r');
    let after: fs.Stats;
    try {
      const buf = Buffer.allocUnsafe(64 * 1024);
      for (;;) {
        const { bytesRead } = await handle.read(buf, 0, buf.length, size);
        if (bytesRead === 0) break;
        const part = buf.subarray(0, bytesRead);
        sha1.update(part);
        sha256.update(part);
        if (size + bytesRead <= this.keepBytesUpTo) chunks.push(Buffer.from(part));
        size += bytesRead;
      }
      after = await handle.stat();
    } finally {
      await handle.close();
    }
    const sha256Hex = sha256.digest('hex');
    const info: FileInfo = {
      size,
      sha1: sha1.digest('hex'),
      sha256: sha256Hex,
      etag: `"${sha256Hex}"`,
      mtime: after.mtime,
      bytes: size <= this.keepBytesUpTo ? Buffer.concat(chunks, size) : null,
    };
    // Changed while being read: answer this caller, but do not remember a hash of a moving target.
    if (statKey(after) === key && size === after.size) this.remember(path, { key, info });
    return info;
  }

  private remember(path: string, entry: Entry): void {
    const old = this.entries.get(path);
    if (old !== undefined) {
      this.keptBytes -= old.info.bytes?.length ?? 0;
      this.entries.delete(path);
    }
    this.entries.set(path, entry);
    this.keptBytes += entry.info.bytes?.length ?? 0;
    // Map order is insertion order: drop the oldest kept contents first (their hashes stay).
    for (const [p, e] of this.entries) {
      if (this.keptBytes <= this.maxKeptBytes) break;
      if (e.info.bytes !== null && p !== path) {
        this.keptBytes -= e.info.bytes.length;
        e.info = { ...e.info, bytes: null };
      }
    }
  }
}

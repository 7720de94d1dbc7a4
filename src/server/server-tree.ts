// The served directory as the manifest functions see it: version folders, firmware files, and the
// files of one folder with their hashes. Symlinks are followed only while they stay inside the root.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { firmwareVersionOf, isVersionName } from '../manifest/generate';
import type { FirmwareFile, TreeFile } from '../manifest/types';
import type { FileInfoCache } from './file-info';

/** True when `real` (a resolved path) is `root` or inside it. */
export function isInside(root: string, real: string): boolean {
  return real === root || real.startsWith(root.endsWith(path.sep) ? root : root + path.sep);
}

/** The resolved path and stat of `abs` when it resolves inside `root`, else null (missing, or a link out). */
export async function resolveInside(root: string, abs: string): Promise<{ real: string; st: fs.Stats } | null> {
  let real: string;
  try {
    real = await fs.promises.realpath(abs);
  } catch {
    return null;
  }
  if (!isInside(root, real)) return null;
  try {
    return { real, st: await fs.promises.stat(real) };
  } catch {
    return null;
  }
}

/**
 * resolveInside for serving a file, in one system call: the file is stat'ed (following links) and
 * its resolved path is remembered with the inode it had. Any change that could make the same name
 * lead elsewhere (a link replaced, a directory swapped) shows as another inode and is resolved
 * again. The stat goes through the thread pool: on a loaded machine a synchronous one stalls every
 * connection of the event loop (measured: most of the server's main-thread time).
 */
export class ResolveCache {
  private readonly known = new Map<string, { real: string; ino: number; dev: number }>();

  constructor(private readonly root: string) {}

  async resolve(abs: string): Promise<{ real: string; st: fs.Stats } | null> {
    let st: fs.Stats;
    try {
      st = await fs.promises.stat(abs);
    } catch {
      return null;
    }
    const hit = this.known.get(abs);
    if (hit !== undefined && hit.ino === st.ino && hit.dev === st.dev) return { real: hit.real, st };
    let real: string;
    try {
      real = await fs.promises.realpath(abs);
    } catch {
      return null;
    }
    if (!isInside(this.root, real)) return null;
    // Bounded: a client asking for many names cannot grow it without limit.
    if (this.known.size >= 10000) this.known.clear();
    this.known.set(abs, { real, ino: st.ino, dev: st.dev });
    return { real, st };
  }
}

export interface RootListing {
  folders: string[];
  firmware: { name: string; version: string; real: string; st: fs.Stats }[];
}

/** Version folders and firmware files at the top of `root` (a resolved path); everything else is ignored. */
export async function listRoot(root: string): Promise<RootListing> {
  const out: RootListing = { folders: [], firmware: [] };
  for (const d of await fs.promises.readdir(root, { withFileTypes: true })) {
    const name = d.name;
    const fwVersion = firmwareVersionOf(name);
    if (!isVersionName(name) && fwVersion === null) continue;
    const r = await resolveInside(root, path.join(root, name));
    if (r === null) continue;
    if (fwVersion !== null && r.st.isFile()) out.firmware.push({ name, version: fwVersion, real: r.real, st: r.st });
    else if (isVersionName(name) && r.st.isDirectory()) out.folders.push(name);
  }
  return out;
}

/** Every regular file under `root/folder`, with hashes; links leading out of the root are skipped. */
export async function walkFolder(root: string, folder: string, cache: FileInfoCache): Promise<TreeFile[]> {
  const out: TreeFile[] = [];
  const seen = new Set<string>();
  const visit = async (dir: string, prefix: string): Promise<void> => {
    const real = await resolveInside(root, dir);
    // A directory link back up would loop; each real directory is walked once.
    if (real === null || !real.st.isDirectory() || seen.has(real.real)) return;
    seen.add(real.real);
    const entries = await fs.promises.readdir(real.real, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const d of entries) {
      const rel = prefix + d.name;
      const abs = path.join(real.real, d.name);
      if (d.isDirectory() || d.isSymbolicLink()) {
        const r = await resolveInside(root, abs);
        if (r === null) continue;
        if (r.st.isDirectory()) {
          await visit(abs, rel + '/');
          continue;
        }
        if (!r.st.isFile()) continue;
        const info = await cache.get(r.real, r.st);
        out.push({ path: rel, size: info.size, sha1: info.sha1, sha256: info.sha256 });
      } else if (d.isFile()) {
        const st = await fs.promises.stat(abs);
        const info = await cache.get(abs, st);
        out.push({ path: rel, size: info.size, sha1: info.sha1, sha256: info.sha256 });
      }
    }
  };
  await visit(path.join(root, folder), '');
  return out;
}

export async function firmwareFile(entry: RootListing['firmware'][number], cache: FileInfoCache): Promise<FirmwareFile> {
  const info = await cache.get(entry.real, entry.st);
  return { name: entry.name, version: entry.version, size: info.size, sha1: info.sha1, sha256: info.sha256 };
}

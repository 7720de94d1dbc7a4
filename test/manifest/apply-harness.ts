// Shared by the apply tests: an old and a new file set, the manifest between them (made by the
// generator from the two trees; hashes by node:crypto), and a transport serving the new files.
import { createHash } from 'node:crypto';
import { generateManifest } from '../../src/manifest/generate';
import type { Manifest, TreeFile } from '../../src/manifest/types';
import type { SyncTransport } from '../../src/manifest/apply';
import { MemoryFileStore } from '../../src/manifest/memory-file-store';

export const enc = (s: string) => new Uint8Array(Buffer.from(s, 'utf8'));

export const OLD: Record<string, string> = {
  'flash/main.py': 'print("old main")\n',
  'flash/lib/OTA.py': 'class OTA: pass\n',
  'flash/old.py': 'def old(): pass\n',
  'flash/config.py': 'SSID = "lab"\r\n\r\nKEY = 1\r\n',
  'flash/OTA_VERSION.py': "VERSION = '1.0.0'",
};

export const NEW_FILES: Record<string, string> = {
  'flash/main.py': 'print("new main, longer than before")\n',
  'flash/lib/OTA.py': 'class OTA: pass\n',
  'flash/lib/new_lib.py': 'def new_lib(): return 2\n',
  'flash/config.py': 'SSID = "lab"\r\n\r\nKEY = 1\r\n',
  'sd/assets/asset.txt': 'x'.repeat(5000),
};

/** The device's files after the update: the new folder plus the version file. */
export const NEW: Record<string, string> = { ...NEW_FILES, 'flash/OTA_VERSION.py': "VERSION = '1.0.1'" };

function tree(files: Record<string, string>): TreeFile[] {
  return Object.entries(files).map(([p, c]) => {
    const b = enc(c);
    return { path: p, size: b.length, sha1: createHash('sha1').update(b).digest('hex'), sha256: createHash('sha256').update(b).digest('hex') };
  });
}

export function makeManifest(extras = true): Manifest {
  const oldFolder = { ...OLD };
  delete oldFolder['flash/OTA_VERSION.py'];
  return generateManifest({ trees: { '1.0.0': tree(oldFolder), '1.0.1': tree(NEW_FILES) }, firmware: [], currentVersion: '1.0.0', baseUrl: 'http://10.0.0.2:8000', extras })!;
}

export function oldStore(opts: { cutAfter?: number } = {}): MemoryFileStore {
  const s = new MemoryFileStore(opts);
  for (const [p, c] of Object.entries(OLD)) s.put(p, c);
  return s;
}

/** Serves the new folder by URL path, in `chunk`-byte pieces; `failAt` makes fetches break off. */
export class MemoryTransport implements SyncTransport {
  requests: { urlPath: string; offset: number }[] = [];
  constructor(
    private readonly files: Record<string, Uint8Array>,
    private readonly opts: { chunk?: number; ignoreRange?: boolean; breakAfter?: (urlPath: string, attempt: number) => number | null } = {},
  ) {}

  static forNewSet(opts?: MemoryTransport['opts']): MemoryTransport {
    const files: Record<string, Uint8Array> = {};
    for (const [p, c] of Object.entries(NEW_FILES)) files['/1.0.1/' + p] = enc(c);
    return new MemoryTransport(files, opts);
  }

  get(urlPath: string, offset: number, sink: { start(o: number): void; data(c: Uint8Array): void }): void {
    const attempt = this.requests.filter((r) => r.urlPath === urlPath).length;
    this.requests.push({ urlPath, offset });
    const body = this.files[urlPath];
    if (body === undefined) throw new Error(`404 ${urlPath}`);
    const from = this.opts.ignoreRange ? 0 : offset;
    sink.start(from);
    const stopAt = this.opts.breakAfter?.(urlPath, attempt) ?? null;
    const chunk = this.opts.chunk ?? 1024;
    for (let at = from; at < body.length; at += chunk) {
      const end = Math.min(at + chunk, body.length);
      if (stopAt !== null && end > stopAt) {
        if (stopAt > at) sink.data(body.subarray(at, stopAt));
        throw new Error('connection reset');
      }
      sink.data(body.subarray(at, end));
    }
  }
}

const dec = (b: Uint8Array) => Buffer.from(b).toString('utf8');

/** The device's files as the user sees them: Pycom's backups left out. */
export function visibleFiles(store: MemoryFileStore): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [p, b] of store.snapshot()) if (!p.endsWith('.bak') && !p.endsWith('.bak_del')) out[p] = dec(b);
  return out;
}

export function allFiles(store: MemoryFileStore): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [p, b] of store.snapshot()) out[p] = dec(b);
  return out;
}

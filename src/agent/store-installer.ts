/**
 * The agent's installer for 'mcu' components: the package (an external MCU's firmware, full or
 * delta) is kept in an image store (src/store) on a block device of its own or a data partition,
 * chunk by chunk, and checked against its SHA-256 by the store. The application then hands it to
 * the MCU over its own link; `onActivate` is where it does that (and `onConfirm` after the MCU runs
 * it). After a reset the store's chunk bitmap says what is on flash: the download continues at the
 * first missing chunk.
 */
import { OtaflashError, kindOf } from '../errors';
import type { ImageStore } from '../store/store';
import type { StoredImage } from '../store/types';
import type { ComponentInstaller, PlanComponent } from './types';
import { fromHex, sameBytes } from '../formats/bytes';

export interface StoreInstallerOptions {
  store: ImageStore;
  /** Chunk size of the stored images (a multiple of the store device's write size). Default 4096. */
  chunkSize?: number;
  /** Make the stored image take effect (send it to the MCU). Called once per switch. */
  onActivate?: (image: StoredImage, c: PlanComponent) => void;
  /** The MCU runs the new firmware (after its self-test). */
  onConfirm?: (image: StoredImage, c: PlanComponent) => void;
  /** The MCU went back to its old firmware. */
  onRollback?: (image: StoredImage, c: PlanComponent) => void;
}

export function storeInstaller(opts: StoreInstallerOptions): ComponentInstaller {
  if (!opts || typeof opts !== 'object' || !opts.store) throw new OtaflashError('AGENT_BAD_ARGUMENT', `storeInstaller needs { store }, got ${kindOf(opts)}`);
  const store = opts.store;
  const chunkSize = opts.chunkSize ?? 4096;
  let image: StoredImage | null = null;
  let buf: Uint8Array | null = null;
  let fill = 0;
  let next = 0;

  /** The stored image of this package, if any (same component, version and SHA-256). */
  const find = (c: PlanComponent): StoredImage | null => {
    const want = fromHex(c.package.sha256);
    const all = store.list();
    for (let i = 0; i < all.length; i++) {
      const im = all[i];
      if (im.component === c.id && im.version === c.target && im.size === c.package.size && sameBytes(im.sha256, want) && im.state !== 'failed') return im;
    }
    return null;
  };
  const firstMissing = (im: StoredImage): number => {
    const m = store.missingChunks(im.id, 1);
    return m.length === 0 ? im.chunks : m[0];
  };

  return {
    resumeOffset(c) {
      const im = find(c);
      return im ? Math.min(c.package.size, firstMissing(im) * im.chunkSize) : 0;
    },
    begin(c, from) {
      image = find(c);
      if (!image) {
        image = store.create({ kind: c.package.kind === 'delta' ? 'delta' : 'opaque', component: c.id, version: c.target, size: c.package.size, sha256: fromHex(c.package.sha256), chunkSize, seq: 0 });
      }
      if (from % image.chunkSize !== 0) throw new OtaflashError('AGENT_RESUME_MISMATCH', `component ${c.id}: resume at ${from} is not on a chunk boundary`);
      buf = new Uint8Array(image.chunkSize);
      fill = 0;
      next = from / image.chunkSize;
    },
    write(c, bytes) {
      if (!image || !buf) throw new OtaflashError('AGENT_INSTALLER_STATE', `component ${c.id}: write before begin`);
      let i = 0;
      while (i < bytes.length) {
        const n = Math.min(buf.length - fill, bytes.length - i);
        buf.set(bytes.subarray(i, i + n), fill);
        fill += n;
        i += n;
        if (fill === buf.length) {
          store.writeChunk(image.id, next++, buf);
          fill = 0;
        }
      }
    },
    finish(c) {
      if (!image || !buf) throw new OtaflashError('AGENT_INSTALLER_STATE', `component ${c.id}: finish before begin`);
      if (fill > 0) store.writeChunk(image.id, next++, buf.subarray(0, fill));
      fill = 0;
      store.flush();
      // Reads the stored bytes back and checks the SHA-256; a mismatch marks the image failed.
      image = store.complete(image.id);
    },
    activate(c) {
      const im = image ?? find(c);
      if (!im) throw new OtaflashError('AGENT_INSTALLER_STATE', `component ${c.id}: nothing stored to activate`);
      if (im.state !== 'installing' && im.state !== 'installed') store.mark(im.id, 'installing');
      if (opts.onActivate) opts.onActivate(im, c);
    },
    confirm(c) {
      const im = image ?? find(c);
      if (!im) return;
      store.mark(im.id, 'installed');
      if (opts.onConfirm) opts.onConfirm(im, c);
    },
    rollback(c) {
      const im = image ?? find(c);
      if (!im) return;
      store.mark(im.id, 'failed');
      if (opts.onRollback) opts.onRollback(im, c);
    },
    abort(c) {
      const im = image ?? find(c);
      image = null;
      buf = null;
      if (im && im.state !== 'installed') store.mark(im.id, 'failed');
    },
  };
}

// Plain values of the image store: what an image is, the states it goes through, what create() takes.

/** What a stored image is, and so what install() can do with it. */
export type ImageKind = 'app' | 'delta' | 'scratchpad' | 'file-set' | 'opaque';

/** Kind codes on flash (header byte +5). */
export const IMAGE_KIND_CODES: Readonly<Record<ImageKind, number>> = { app: 1, delta: 2, scratchpad: 3, 'file-set': 4, opaque: 5 };

export function kindOfCode(code: number): ImageKind | null {
  for (const k in IMAGE_KIND_CODES) if (IMAGE_KIND_CODES[k as ImageKind] === code) return k as ImageKind;
  return null;
}

/**
 * receiving: created, chunks arriving; complete: every chunk stored, not yet hashed; verified: the
 * SHA-256 over the stored bytes matches; installing: install() started (it resumes from here);
 * installed: install() finished; failed: the hash did not match, or install refused the image.
 */
export type ImageState = 'receiving' | 'complete' | 'verified' | 'installing' | 'installed' | 'failed';

/** What create() takes. */
export interface CreateImageOptions {
  /** Unique in the store (u32); default: one above the highest id held. */
  id?: number;
  kind: ImageKind;
  /** Which firmware or file set this is an image of (UTF-8, at most 32 bytes). */
  component: string;
  /** Version string (UTF-8, at most 32 bytes, like esp_app_desc_t.version). */
  version: string;
  /** Image size in bytes (>= 1). */
  size: number;
  /** SHA-256 of the whole image (32 bytes); complete() checks the stored bytes against it. */
  sha256: Uint8Array;
  /** Bytes per chunk: a multiple of the device's write size; the last chunk may be shorter. */
  chunkSize: number;
  /** Sequence number (u32) of this image, as the sender numbers its releases (newer is higher). */
  seq: number;
}

/** One image as list() reports it. */
export interface StoredImage {
  readonly id: number;
  readonly kind: ImageKind;
  readonly component: string;
  readonly version: string;
  readonly size: number;
  readonly sha256: Uint8Array;
  readonly chunkSize: number;
  readonly seq: number;
  readonly state: ImageState;
  readonly chunks: number;
  readonly storedChunks: number;
  /** Device offset of the image's header sector, and the sectors it spans (header + data). */
  readonly offset: number;
  readonly sectors: number;
}

// Shared set-up of the image store tests: deterministic images and their SHA-256 from node:crypto
// (an implementation independent of the portable one the store uses by default).
import { createHash } from 'node:crypto';
import { MemoryFlash } from '../../src/flash/memory';
import { seededRandom } from '../../src/flash/rng';
import type { CreateImageOptions, ImageKind } from '../../src/store/types';

export function bytesOf(n: number, seed: number): Uint8Array {
  const r = seededRandom(seed);
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (r() * 256) & 0xff;
  return b;
}

export function sha256(b: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(b).digest());
}

export function spec(data: Uint8Array, chunkSize: number, extra: Partial<CreateImageOptions> = {}): CreateImageOptions {
  return { kind: 'opaque' as ImageKind, component: 'main', version: 'v1.0.0', size: data.length, sha256: sha256(data), chunkSize, seq: 1, ...extra };
}

export function chunkOf(data: Uint8Array, chunkSize: number, i: number): Uint8Array {
  return data.subarray(i * chunkSize, Math.min(data.length, (i + 1) * chunkSize));
}

export function flash(opts: { size?: number; eraseSize?: number; writeSize?: number; mode?: 'strict' | 'nor' } = {}): MemoryFlash {
  return new MemoryFlash({ size: opts.size ?? 64 * 1024, eraseSize: opts.eraseSize ?? 4096, writeSize: opts.writeSize ?? 1, mode: opts.mode ?? 'strict' });
}

export function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

// The firmware pairs and detools 0.53.0 patches in test/fixtures/firmware-pairs (see its README).
import * as fs from 'node:fs';
import { fileURLToPath } from 'node:url';

export const PAIRS_DIR = fileURLToPath(new URL('../fixtures/firmware-pairs/', import.meta.url));
if (!fs.existsSync(PAIRS_DIR)) throw new Error(`delta fixtures missing: ${PAIRS_DIR} (the repository's test/fixtures folder)`);

export interface ManifestPatch {
  file: string;
  type: 'sequential' | 'in-place';
  compression: string;
  algorithm: string;
  size: number;
  sha256: string;
  old_sha256: string;
  new_sha256: string;
  header: Record<string, unknown>;
  patch_info: Record<string, unknown>;
}

export interface BrokenPatch {
  file: string;
  c_apply: { exit_code: number; output: string; out_size: number };
}

export interface PairManifest {
  pair: string;
  old: { size: number; sha256: string };
  new: { size: number; sha256: string };
  patches: ManifestPatch[];
  broken_patches?: BrokenPatch[];
}

export function pairNames(): string[] {
  return fs.readdirSync(PAIRS_DIR).filter((n) => fs.existsSync(`${PAIRS_DIR}${n}/detools/manifest.json`)).sort();
}

export function manifest(pair: string): PairManifest {
  return JSON.parse(fs.readFileSync(`${PAIRS_DIR}${pair}/detools/manifest.json`, 'utf8')) as PairManifest;
}

export function pairFile(pair: string, name: string): Uint8Array {
  return new Uint8Array(fs.readFileSync(`${PAIRS_DIR}${pair}/${name}`));
}

export function patchFile(pair: string, name: string): Uint8Array {
  return pairFile(pair, `detools/${name}`);
}

/** The patches of a manifest whose file is in the repository (large `none` patches are not). */
export function presentPatches(pair: string): ManifestPatch[] {
  return manifest(pair).patches.filter((p) => fs.existsSync(`${PAIRS_DIR}${pair}/detools/${p.file}`));
}

/** A detools patch_info key (snake_case) as the camelCase key our info uses. */
export function camelKey(k: string): string {
  return k.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

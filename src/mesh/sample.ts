/**
 * The built-in firmware of the simulation: two small ESP32 app images (the version every device
 * ships with and the update), and the Wirepas scratchpad carrying the update. Deterministic: the
 * same version and size give the same bytes.
 */
import { OtaflashError } from '../errors';
import { sampleAppImage } from '../formats/sample-app';
import { createScratchpad } from '../formats/scratchpad-create';
import type { ScratchpadKeys } from '../formats/scratchpad';
import type { HashProvider } from '../hash/types';
import { defaultHashes } from '../hash/portable';

/** Wirepas's memory area id of an application (what the scratchpad item is bound for). */
export const MESH_APP_AREA = 0x83744c06;

/** Fixed keys of the simulated network (authentication key, encryption key). */
export const MESH_KEYS: ScratchpadKeys = {
  auth: new Uint8Array([0x6d, 0x65, 0x73, 0x68, 0x2d, 0x61, 0x75, 0x74, 0x68, 0x2d, 0x6b, 0x65, 0x79, 0x2d, 0x30, 0x31]),
  encrypt: new Uint8Array([0x6d, 0x65, 0x73, 0x68, 0x2d, 0x65, 0x6e, 0x63, 0x72, 0x2d, 0x6b, 0x65, 0x79, 0x2d, 0x30, 0x31]),
};

/** The simulation's app image: `sampleAppImage` named 'mesh-sample'. */
export function meshSampleImage(version: string, size = 8 * 1024, hashes: HashProvider = defaultHashes()): Uint8Array {
  return sampleAppImage(version, size, hashes, 'mesh-sample');
}

export { deflateStored } from '../formats/deflate-stored';
import { deflateStored } from '../formats/deflate-stored';

/** Item version bytes from an app version string: its first three numbers ("v2.1.3-dirty" -> 2.1.3.0). */
export function itemVersionOf(version: string): number[] {
  const m = /(\d+)(?:\.(\d+))?(?:\.(\d+))?/.exec(version);
  if (!m) return [0, 0, 0, 0];
  return [Number(m[1] || 0) & 0xff, Number(m[2] || 0) & 0xff, Number(m[3] || 0) & 0xff, 0];
}

/** The scratchpad a sink is given: one item, the app image for MESH_APP_AREA, seq 255 (the sink sets the real one). */
export function meshScratchpad(app: Uint8Array, version: string, deflateRaw: (b: Uint8Array) => Uint8Array = deflateStored): Uint8Array {
  if (!(app instanceof Uint8Array) || app.length === 0) throw new OtaflashError('MESH_BAD_ARGUMENT', 'the update image must be a non-empty Uint8Array');
  const icb = new Uint8Array(16);
  for (let i = 0; i < 16; i++) icb[i] = (i * 37 + app.length) & 0xff;
  return createScratchpad({
    items: [{ areaId: MESH_APP_AREA, version: itemVersionOf(version), content: app }],
    keys: MESH_KEYS,
    icb,
    deflateRaw,
  });
}

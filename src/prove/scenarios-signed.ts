/**
 * Signed updates under power loss (layouts with Secure Boot trust: the engine refuses to select,
 * and the bootloader model refuses to boot, an image whose signature does not verify with the
 * trusted keys). The signature sector is the last thing written, so a cut anywhere in the download,
 * the signature sector included, leaves an image that is never selected; an image signed by an
 * untrusted key is never selected either, however the cuts fall.
 */
import { OtaflashError } from '../errors';
import { OTA_STATE } from '../formats/otadata';
import { baseDevice, converge, install, scenario, writableOf, type ProveLayout } from './ota-flows';
import type { ProveScenario, ProveWorld } from './world';
import { signedDeltaScenarios } from './scenarios-delta';

/** Installs `name`, expecting the engine to refuse to select it; any other failure is real. */
function installRefused(w: ProveWorld, layout: ProveLayout, name: string, resume: boolean): void {
  try {
    install(w, layout, name, 'all', resume);
  } catch (e) {
    if (e instanceof OtaflashError && e.code === 'OTA_SIGNATURE_INVALID') return;
    throw e;
  }
  throw new OtaflashError('PROVE_BAD_SCENARIO', `${name} was selected although its signature is not trusted`);
}

export function signedScenarios(layout: ProveLayout): ProveScenario[] {
  if (!layout.trust || !layout.images.third) return [];
  const plain = () => {
    const b = baseDevice(layout, true, true);
    return { device: b.dev, table: layout.table, images: b.images, slots: b.slots, writable: writableOf(layout, [1]) };
  };
  return [
    scenario(
      layout, 'signed-update', 'Secure Boot trust on: a signed update (signature sector last), select, reboot, confirm; goal: new VALID',
      true, { image: 'new', state: OTA_STATE.VALID }, plain,
      (w) => converge(w, layout, 'new', 'all', true),
      (w) => converge(w, layout, 'new', 'all', true),
    ),
    scenario(
      layout, 'untrusted-update', 'Secure Boot trust on: an update signed by an untrusted key is written but never selected; goal: old VALID',
      true, { image: 'old', state: OTA_STATE.VALID }, plain,
      (w) => installRefused(w, layout, 'third', false),
      // After a cut the firmware finishes the interrupted download (so no update stays recorded as
      // unfinished) and is refused again at the selection.
      (w) => {
        const pending = w.engine().pendingUpdate();
        if (pending) installRefused(w, layout, 'third', true);
      },
    ),
    // Signed delta packages: a good one installs, one changed after signing is never selected.
  ].concat(signedDeltaScenarios(layout));
}

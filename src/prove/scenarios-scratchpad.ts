/**
 * Wirepas scratchpad processing under power loss: the device holds a scratchpad whose one item is
 * the new app image for the update slot's area; processing verifies it (CRC, CMAC, every item
 * decrypted and inflated), erases the area and writes the item, then the app selects the slot.
 * After a cut the firmware processes the same scratchpad again (the scratchpad stays until it has
 * succeeded, as Wirepas keeps it) and selects; the goal is the new app confirmed.
 */
import { OTA_STATE } from '../formats/otadata';
import { partitionRegion } from '../formats/partition-lookup';
import { createScratchpad } from '../formats/scratchpad-create';
import { deflateStored } from '../formats/deflate-stored';
import { processScratchpad, type ScratchpadKeys } from '../formats/scratchpad';
import { MAX_ROUNDS, baseDevice, confirm, scenario, slotsOf, writableOf, type ProveLayout } from './ota-flows';
import { ProveViolation, type ProveScenario, type ProveWorld } from './world';

/** The area id the update slot answers to on these devices. */
const APP_AREA = 0x0a000001;

function key(seed: number): Uint8Array {
  const k = new Uint8Array(16);
  for (let i = 0; i < 16; i++) k[i] = (seed + i * 29) & 0xff;
  return k;
}

export function scratchpadScenarios(layout: ProveLayout): ProveScenario[] {
  const slots = slotsOf(layout);
  const target = slots[1];
  const keys: ScratchpadKeys = { auth: key(3), encrypt: key(101) };
  const file = createScratchpad({
    items: [{ areaId: APP_AREA, version: [2, 0, 0, 0], content: layout.images.new }],
    keys,
    icb: key(211),
    deflateRaw: deflateStored,
    seq: 7,
  });
  const source = { size: file.length, read: (at: number, into: Uint8Array) => into.set(file.subarray(at, at + into.length)) };

  const processAndSelect = (w: ProveWorld) => {
    w.mark('write-start', 'new', target.label);
    processScratchpad(source, keys, { [APP_AREA]: partitionRegion(w.device, target) });
    w.mark('select-start', 'new');
    // verify: the engine did not write this slot, so it checks the image before selecting it.
    w.engine().setBootPartition(target, { verify: true });
    w.mark('select-done', 'new');
  };

  return [
    scenario(
      layout,
      'scratchpad-process',
      'Wirepas scratchpad: verify, process its item into the update slot, select, reboot, confirm (rollback on); goal: new VALID',
      true,
      { image: 'new', state: OTA_STATE.VALID },
      () => {
        const b = baseDevice(layout, true, true);
        return { device: b.dev, table: layout.table, images: b.images, slots: b.slots, writable: writableOf(layout, [1]) };
      },
      (w) => {
        processAndSelect(w);
        w.reboot();
        confirm(w);
      },
      (w) => {
        for (let round = 0; round < MAX_ROUNDS; round++) {
          if (w.running === 'new') {
            if (w.runningState === OTA_STATE.PENDING_VERIFY) confirm(w);
            return;
          }
          processAndSelect(w);
          w.reboot();
        }
        throw new ProveViolation('no-progress', `the scratchpad's app did not boot in ${MAX_ROUNDS} rounds (running ${w.running})`);
      },
    ),
  ];
}

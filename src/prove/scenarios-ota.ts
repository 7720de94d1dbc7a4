/**
 * The OTA engine's power-loss scenarios: full updates, rollbacks, resumes, two updates in a row,
 * factory rollback, each on any layout (ota-flows.ts).
 */
import { OTA_STATE } from '../formats/otadata';
import type { ProveScenario, ProveSetup } from './world';
import { ProveViolation } from './world';
import { MAX_ROUNDS, baseDevice, chunkOf, confirm, converge, install, installNew, prepared, rollBack, rollBackUntilOld, scenario, slotsOf, writableOf, writeFrom, type ProveLayout } from './ota-flows';
import { factoryPartition } from '../formats/partition-lookup';
import type { PartitionTable } from '../formats/partition-types';
import { applyBootWrites, decideBoot } from '../ota/bootloader';
import { OtaEngine } from '../ota/engine';
/** Every scenario of the proof on one layout. `third` scenarios need images.third. */
export function otaScenarios(layout: ProveLayout): ProveScenario[] {
  slotsOf(layout);
  chunkOf(layout);
  const list: ProveScenario[] = [];
  const plain = (rollback: boolean, writable: readonly number[]): ProveSetup => {
    const b = baseDevice(layout, rollback, true);
    return { device: b.dev, table: layout.table, images: b.images, slots: b.slots, writable: writableOf(layout, writable) };
  };

  list.push(
    scenario(
      layout, 'full-update', 'old app runs; begin, write, end, set boot (rollback off); goal: new boots',
      false, { image: 'new' }, () => plain(false, [1]),
      (w) => install(w, layout, 'new', 'all', true),
      (w) => converge(w, layout, 'new', 'all', true),
    ),
  );

  list.push(
    scenario(
      layout, 'first-boot-confirm', 'new selected (NEW); reboot (bootloader: PENDING_VERIFY), markValid; goal: new VALID',
      true, { image: 'new', state: OTA_STATE.VALID },
      () => prepared(layout, true, [1], (_d, engine) => installNew(layout, engine)),
      (w) => {
        w.reboot();
        confirm(w);
      },
      (w) => converge(w, layout, 'new', 'all', true),
    ),
  );

  list.push(
    scenario(
      layout, 'no-confirm-rollback', 'new selected; reboot into it, no markValid, reboot (bootloader aborts it); goal: old VALID',
      true, { image: 'old', state: OTA_STATE.VALID },
      () => prepared(layout, true, [], (_d, engine) => installNew(layout, engine)),
      (w) => {
        w.reboot();
        w.reboot();
      },
      (w) => {
        // The new app never confirms itself: each reset is the bootloader's chance to drop it.
        for (let i = 0; i < MAX_ROUNDS && w.running !== 'old'; i++) w.reboot();
        if (w.running !== 'old') throw new ProveViolation('no-progress', `the unconfirmed ${w.running} still boots after ${MAX_ROUNDS} resets`);
      },
    ),
  );

  list.push(
    scenario(
      layout, 'explicit-rollback', 'new confirmed and running; markInvalidAndRollback, reboot; goal: old VALID, new never again',
      true, { image: 'old', state: OTA_STATE.VALID },
      () =>
        prepared(layout, true, [], (_d, engine, reboot) => {
          installNew(layout, engine);
          reboot();
          engine().markValid();
        }),
      (w) => {
        rollBack(w);
        w.reboot();
      },
      rollBackUntilOld,
    ),
  );

  list.push(
    scenario(
      layout, 'self-test-rollback', 'new selected; reboot into it (PENDING_VERIFY), its self-test fails: markInvalidAndRollback, reboot; goal: old VALID',
      true, { image: 'old', state: OTA_STATE.VALID },
      () => prepared(layout, true, [], (_d, engine) => installNew(layout, engine)),
      (w) => {
        w.reboot();
        rollBack(w);
        w.reboot();
      },
      // The new app fails its self-test on every boot, so it asks for the rollback again.
      rollBackUntilOld,
    ),
  );

  list.push(
    scenario(
      layout, 'resume', 'download half of new, reset, resume() and finish, set boot (rollback off); goal: new boots',
      false, { image: 'new' }, () => plain(false, [1]),
      (w) => {
        const bytes = w.image('new');
        const e = w.engine();
        const target = e.nextUpdatePartition();
        w.mark('write-start', 'new', target.label);
        const wr = e.begin(target, { size: bytes.length, erase: 'sequential' });
        writeFrom(wr, bytes, chunkOf(layout), Math.floor(bytes.length / 2));
        // A reset in the middle of the download, then the firmware picks it up again.
        w.reboot();
        const e2 = w.engine();
        if (!e2.pendingUpdate()) throw new ProveViolation('resume', 'after a reset in the middle of a download, the engine finds nothing to resume');
        const wr2 = e2.resume();
        if (wr2.offset === 0) throw new ProveViolation('resume', 'resume() restarts from byte 0 after half the image was written');
        writeFrom(wr2, bytes, chunkOf(layout));
        wr2.end();
        w.mark('select-start', 'new');
        e2.setBootPartition(wr2.partition);
        w.mark('select-done', 'new');
      },
      (w) => converge(w, layout, 'new', 'sequential', true),
    ),
  );

  if (layout.images.third) {
    list.push(
      scenario(
        layout, 'two-updates', 'old -> new (confirm) -> third (confirm, sequential erase); goal: third VALID',
        true, { image: 'third', state: OTA_STATE.VALID }, () => plain(true, [1, 2 % slotsOf(layout).length]),
        (w) => {
          install(w, layout, 'new', 'all', true);
          w.reboot();
          confirm(w);
          install(w, layout, 'third', 'sequential', true);
          w.reboot();
          confirm(w);
        },
        (w) => converge(w, layout, 'third', 'sequential', true),
      ),
    );
  }

  list.push(
    scenario(
      layout, 'blank-otadata', 'otadata blank, no factory app: first boot (bootloader writes seq 1), update, reboot, confirm; goal: new VALID',
      true, { image: 'new', state: OTA_STATE.VALID },
      () => {
        const noFactory: PartitionTable = { partitions: layout.table.partitions.filter((p) => p !== factoryPartition(layout.table)), md5: layout.table.md5 };
        const b = baseDevice({ ...layout, table: noFactory }, true, false);
        return { device: b.dev, table: noFactory, images: b.images, slots: b.slots, writable: writableOf(layout, [1]) };
      },
      (w) => {
        w.reboot();
        install(w, layout, 'new', 'all', false);
        w.reboot();
        confirm(w);
      },
      (w) => converge(w, layout, 'new', 'all', false),
    ),
  );

  if (factoryPartition(layout.table)) {
    list.push(
      scenario(
        layout, 'from-factory', 'fresh device: factory app runs from blank otadata; update into ota_0, reboot, confirm; goal: new VALID',
        true, { image: 'new', state: OTA_STATE.VALID },
        () => {
          const b = baseDevice(layout, true, false, false);
          return { device: b.dev, table: layout.table, images: b.images, slots: b.slots, writable: writableOf(layout, [0]) };
        },
        (w) => {
          install(w, layout, 'new', 'all', true);
          w.reboot();
          confirm(w);
        },
        (w) => converge(w, layout, 'new', 'all', true),
      ),
    );
    list.push(
      scenario(
        layout, 'factory-rollback', 'update from factory without rollback (UNDEFINED), new runs; markValid, then markInvalidAndRollback, reboot; goal: factory (old), new never again',
        false, { image: 'old' },
        () => {
          const b = baseDevice(layout, false, false, false);
          const dev = b.dev;
          const bootOpts = { rollback: false, hashes: layout.hashes, chip: layout.chip };
          const engine = OtaEngine.open(dev, { table: layout.table, running: decideBoot(dev, layout.table, bootOpts).boot ?? undefined, rollback: false, chip: layout.chip, hashes: layout.hashes });
          const target = engine.nextUpdatePartition();
          const bytes = layout.images.new;
          const wr = engine.begin(target, { size: bytes.length });
          writeFrom(wr, bytes, chunkOf(layout));
          wr.end();
          engine.setBootPartition(target);
          applyBootWrites(dev, layout.table, decideBoot(dev, layout.table, bootOpts));
          return { device: dev, table: layout.table, images: b.images, slots: { ...b.slots, [target.label]: 'new' }, writable: writableOf(layout, []) };
        },
        (w) => {
          confirm(w);
          rollBack(w);
          w.reboot();
        },
        rollBackUntilOld,
      ),
    );
  }
  return list;
}

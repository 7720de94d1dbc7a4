// The firmware of a file-set update through the OTA engine: written to the next OTA slot while it
// downloads, checked as an app image when complete (after the manifest's hash matched), selected
// for boot in the switch, together with the files.
import { OtaflashError } from '../errors';
import type { Partition } from '../formats/partition-types';
import { findPartition } from '../formats/partition-lookup';
import type { OtaEngine } from '../ota/engine';
import type { OtaWriter } from '../ota/writer';
import type { FirmwareTarget } from './apply';

const PREFIX = 'ota:';

/** A FirmwareTarget writing into `slot` (default: the engine's next update slot). */
export function otaFirmwareTarget(engine: OtaEngine, slot?: Partition): FirmwareTarget {
  const target = slot ?? engine.nextUpdatePartition();
  let writer: OtaWriter | null = null;
  const drop = () => {
    if (writer !== null && writer.isOpen) writer.abort();
    writer = null;
  };
  return {
    description: PREFIX + target.label,
    begin(size) {
      drop();
      writer = engine.begin(target, size !== undefined && size > 0 ? { size } : {});
    },
    write(chunk) {
      if (writer === null) throw new OtaflashError('FILESET_BAD_STATE', 'firmware write before begin');
      writer.write(chunk);
    },
    finish() {
      if (writer === null) throw new OtaflashError('FILESET_BAD_STATE', 'firmware finish before begin');
      const w = writer;
      writer = null;
      // end() verifies the image (and closes the writer on every path, like esp_ota_end).
      w.end();
    },
    commit() {
      engine.setBootPartition(target);
    },
    abort: drop,
  };
}

/**
 * recover()'s commitFirmware for OTA targets: selects the slot the journal names (the switch was cut
 * after 'switching', maybe before the selection reached otadata; selecting again is harmless).
 */
export function commitOtaFirmware(engine: OtaEngine, description: string): void {
  if (description.indexOf(PREFIX) !== 0) throw new OtaflashError('JOURNAL_INVALID', `the journal's firmware target '${description}' is not an OTA slot`);
  const label = description.slice(PREFIX.length);
  const p = findPartition(engine.table, label);
  if (p === undefined) throw new OtaflashError('JOURNAL_INVALID', `the journal names OTA slot '${label}', which is not in the partition table`);
  engine.setBootPartition(p, { verify: true });
}

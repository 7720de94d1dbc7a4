// One OTA update, written once as plain ES2015 source so the very same text runs in Node (over the
// TypeScript sources) and inside QuickJS (over the IIFE bundle's global `OtaFlash`). It touches the
// library only through `lib`, and the image only through `readChunk`, so the image never has to
// sit whole in the small engine's heap: chunks arrive one at a time, as from a radio or a UART.

/** Flash layout of the flow: table at 0x8000, otadata, two 320 KiB OTA slots, no factory app. */
export const FLOW_FLASH_SIZE = 0xb0000;
export const FLOW_CHUNK = 4096;

export interface FlowResult {
  target: string;
  bytesWritten: number;
  verdictSize: number;
  hashValid: boolean | null;
  firstBoot: string | null;
  firstBootState: string | null;
  stateAfterConfirm: string | null;
  finalBoot: string | null;
  finalBootState: string | null;
}

/**
 * Source of `function otaflashUpdateFlow(lib, imageSize, readChunk, sample, keepChunks)`. It returns the
 * MemoryFlash so the caller can compare its bytes, and a summary of what happened.
 * `sample()` is called after every chunk (the QuickJS side measures heap use there).
 */
export const UPDATE_FLOW_SOURCE = `
function otaflashUpdateFlow(lib, imageSize, readChunk, sample, keepChunks) {
  var kept = [];
  // The portable hashes explicitly, so Node runs the very code the device runs (not node:crypto).
  var hashes = lib.portableHashes;
  var opts = { rollback: true, hashes: hashes };
  var dev = new lib.MemoryFlash({ size: ${FLOW_FLASH_SIZE} });
  function part(label, type, subtype, offset, size) {
    return { label: label, type: type, subtype: subtype, offset: offset, size: size, flags: 0 };
  }
  var table = {
    partitions: [
      part('otadata', 1, 0x00, 0xd000, 0x2000),
      part('ota_0', 0, 0x10, 0x10000, 0x50000),
      part('ota_1', 0, 0x11, 0x60000, 0x50000)
    ],
    md5: null
  };
  dev.write(0x8000, lib.encodePartitionTable(table, { md5: true, hashes: hashes }));
  table = lib.readPartitionTable(dev, 0x8000, { hashes: hashes });
  sample();

  // Blank otadata and no factory app: ota_0 runs, so the update goes to ota_1.
  var engine = lib.OtaEngine.open(dev, opts);
  var target = engine.nextUpdatePartition();
  var writer = engine.begin(target, { size: imageSize, erase: 'sequential' });
  sample();
  var written = 0;
  while (written < imageSize) {
    var chunk = readChunk(written);
    writer.write(chunk);
    written += chunk.length;
    if (keepChunks) kept.push(chunk); // only to prove the heap measurement would catch buffering
    chunk = null;
    sample();
  }
  var verdict = writer.end();
  sample();
  engine.setBootPartition(target);
  sample();

  var first = lib.simulateReboot(dev, table, opts);
  sample();
  var afterBoot = lib.OtaEngine.open(dev, opts);
  afterBoot.markValid();
  sample();
  var confirmedState = afterBoot.slotState(target);
  var last = lib.simulateReboot(dev, table, opts);
  sample();
  return {
    dev: dev,
    result: {
      target: target.label,
      bytesWritten: written,
      verdictSize: verdict.size,
      hashValid: verdict.hashValid,
      firstBoot: first.label,
      firstBootState: first.activeStateAfterBoot === null ? null : lib.otaStateName(first.activeStateAfterBoot),
      stateAfterConfirm: confirmedState === null ? null : lib.otaStateName(confirmedState),
      finalBoot: last.label,
      finalBootState: last.activeStateAfterBoot === null ? null : lib.otaStateName(last.activeStateAfterBoot)
    }
  };
}
`;

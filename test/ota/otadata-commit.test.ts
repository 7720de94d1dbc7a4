// The order of otadata writes under torn programs: a CRC that checks out must prove the whole entry
// (state included) landed, whatever the device's program unit.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FaultyFlash, countFlashOperations } from '../../src/flash/faults';
import { MemoryFlash } from '../../src/flash/memory';
import { OTA_STATE, decodeOtaEntry, isOtaEntryCrcOk, makeOtaEntry } from '../../src/formats/otadata';
import { nodeHashes } from '../../src/node/hash';
import { commitOtaEntry } from '../../src/ota/otadata-commit';

for (const writeSize of [1, 4, 8, 16, 32]) {
  test(`program unit ${writeSize} B: a torn commit never leaves a good CRC over a state that was not written`, () => {
    const base = new MemoryFlash({ size: 0x2000, eraseSize: 0x1000, writeSize });
    // The sector held an ABORTED entry: a resurrected or half-written state must not become bootable.
    commitOtaEntry(base, 0, makeOtaEntry(3, OTA_STATE.ABORTED, undefined, nodeHashes), nodeHashes);
    const entry = makeOtaEntry(5, OTA_STATE.NEW, undefined, nodeHashes);
    const ops = countFlashOperations(base.clone(), (dev) => commitOtaEntry(dev, 0, entry, nodeHashes));
    let trusted = 0;
    for (let cut = 0; cut < ops; cut++) {
      for (const mode of ['torn-bits', 'torn-prefix', 'interrupted-erase', 'after'] as const) {
        // torn-bits lands a random subset of the bits: many seeds, so that the whole CRC lands in some.
        const seeds = mode === 'torn-bits' ? 400 : 10;
        for (let seed = 1; seed <= seeds; seed++) {
          const dev = new FaultyFlash(base.clone(), { cutAt: cut, mode, seed });
          try {
            commitOtaEntry(dev, 0, entry, nodeHashes);
          } catch {
            // the cut
          }
          const b = new Uint8Array(32);
          const after = dev.reboot();
          after.read(0, b);
          const e = decodeOtaEntry(b);
          if (e.seq !== 0xffffffff && isOtaEntryCrcOk(e, nodeHashes)) {
            trusted++;
            const ok = (e.seq === 5 && e.state === OTA_STATE.NEW) || (e.seq === 3 && e.state === OTA_STATE.ABORTED);
            assert.ok(ok, `cut ${cut}/${ops} ${mode} seed ${seed}: seq ${e.seq} state 0x${(e.state >>> 0).toString(16)} has a good CRC`);
          }
        }
      }
    }
    assert.ok(trusted > 0, 'some cuts leave a complete entry (the test sees trusted entries at all)');
  });
}

/** Passes calls through until program number `cutAt`, which lands only the bytes at sector offset 0x1C.. (the CRC word) of its data, then fails. */
function crcFirstTear(inner: MemoryFlash, cutAt: number) {
  let programs = 0;
  let dead = false;
  const dev = {
    size: inner.size, eraseSize: inner.eraseSize, writeSize: inner.writeSize, eraseValue: inner.eraseValue,
    read: (o: number, into: Uint8Array) => inner.read(o, into),
    erase: (o: number, n: number) => {
      if (dead) throw new Error('power is off');
      inner.erase(o, n);
    },
    sync: () => undefined,
    write: (o: number, data: Uint8Array) => {
      if (dead) throw new Error('power is off');
      if (programs++ !== cutAt) return inner.write(o, data);
      dead = true;
      // The worst tear for a unit holding state and CRC: the CRC bits land, the state bits do not.
      const cur = new Uint8Array(data.length);
      inner.read(o, cur);
      for (let i = 0; i < data.length; i++) if ((o + i) % 0x1000 >= 0x1c && (o + i) % 0x1000 < 0x20) cur[i] &= data[i];
      inner.poke(o, cur);
      throw new Error('power cut');
    },
  };
  return dev;
}

test('a program that lands the CRC before the state (any unit size) cannot leave a trusted entry with a state that was not written', () => {
  for (const writeSize of [4, 8, 16, 32]) {
    const base = new MemoryFlash({ size: 0x2000, eraseSize: 0x1000, writeSize });
    const entry = makeOtaEntry(2, OTA_STATE.NEW, undefined, nodeHashes);
    for (let cut = 0; cut < 8; cut++) {
      const flash = base.clone();
      try {
        commitOtaEntry(crcFirstTear(flash, cut), 0, entry, nodeHashes);
      } catch {
        // the cut
      }
      const b = new Uint8Array(32);
      flash.read(0, b);
      const e = decodeOtaEntry(b);
      if (isOtaEntryCrcOk(e, nodeHashes) && e.seq !== 0xffffffff) {
        assert.is(e.state, OTA_STATE.NEW, `unit ${writeSize}, cut at program ${cut}: trusted entry with state 0x${(e.state >>> 0).toString(16)}`);
      }
    }
  }
});

test.run();

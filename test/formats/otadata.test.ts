import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  OTA_STATE, activeOtaSector, decodeOtaEntry, decodeOtadata, encodeOtaEntry, encodeOtadata, isOtaEntryCrcOk,
  isOtaEntryInvalid, isOtaEntryValid, makeOtaEntry, nextBootEntry, nextBootSeqWrite, otaSeqCrc, otaStateName,
  readOtadata, slotOfSeq, withOtaState, writeOtaEntry, otaStateOfSlot, lastInvalidOtaSector,
} from '../../src/formats/otadata';
import { MemoryFlash } from '../../src/flash/memory';
import { RegionFlash } from '../../src/flash/region';
import { portableHashes } from '../../src/hash/portable';
import { nodeHashes } from '../../src/node/hash';
import { OtaflashError } from '../../src/errors';

const DIR = fileURLToPath(new URL('../fixtures/otadata/', import.meta.url));
if (!fs.existsSync(DIR)) throw new Error(`conformance vectors missing: ${DIR} (the repository's test/fixtures folder)`);
const cases = JSON.parse(fs.readFileSync(DIR + 'cases.json', 'utf8'));

function throwsCode(fn: () => unknown, code: string): void {
  try {
    fn();
  } catch (e) {
    assert.instance(e, OtaflashError);
    assert.is((e as OtaflashError).code, code, (e as Error).message);
    return;
  }
  assert.unreachable(`expected ${code}`);
}

test('the vector set is the one this test was written for', () => {
  assert.is(cases.cases.length, 14);
  assert.equal(cases.states, { NEW: OTA_STATE.NEW, PENDING_VERIFY: OTA_STATE.PENDING_VERIFY, VALID: OTA_STATE.VALID, INVALID: OTA_STATE.INVALID, ABORTED: OTA_STATE.ABORTED, UNDEFINED: OTA_STATE.UNDEFINED });
});

test('CRC: worked values of docs/formats.md §4.2, seed 0xFFFFFFFF in zlib terms, both hash providers', () => {
  const table: [number, number][] = [[0, 0xffffffff], [1, 0x4743989a], [2, 0x55f63774], [3, 0xed4a5011], [4, 0x709d68a8], [5, 0xc8210fcd], [0xffffffff, 0x2144df1c]];
  for (const [seq, crc] of table) {
    assert.is(otaSeqCrc(seq), crc, `seq ${seq}`);
    assert.is(otaSeqCrc(seq, portableHashes), crc, `portable seq ${seq}`);
    assert.is(otaSeqCrc(seq, nodeHashes), crc, `node seq ${seq}`);
  }
});

for (const c of cases.cases) {
  test(`vector ${c.file}: entries, crc_ok, valid, active sector, round trip`, () => {
    const bytes = new Uint8Array(fs.readFileSync(DIR + c.file));
    const entries = decodeOtadata(bytes);
    for (let i = 0; i < 2; i++) {
      const want = c.entries[i];
      const got = entries[i];
      assert.is(got.seq, want.ota_seq, `sector ${i} seq`);
      assert.is(got.state, want.ota_state_raw, `sector ${i} state`);
      assert.is(otaStateName(got.state), want.ota_state, `sector ${i} state name`);
      assert.is(got.crc, parseInt(want.crc, 16), `sector ${i} crc`);
      assert.is(Buffer.from(got.seqLabel).toString('hex'), want.seq_label_hex, `sector ${i} label`);
      assert.is(isOtaEntryCrcOk(got), want.crc_ok, `sector ${i} crc_ok`);
      assert.is(isOtaEntryValid(got), want.valid, `sector ${i} valid`);
    }
    const active = activeOtaSector(entries);
    assert.is(active === -1 ? null : active, c.active_sector);
    if (active !== -1) {
      assert.is(entries[active].seq, c.active_ota_seq);
      assert.is(otaStateName(entries[active].state), c.active_state);
    }
    // Every byte outside the two entries is erased in these files, so re-encoding is byte exact.
    assert.ok(Buffer.from(encodeOtadata(entries)).equals(Buffer.from(bytes)), 'encode(decode(x)) == x');
    // The same through a device region.
    const flash = new MemoryFlash({ size: 0x10000, contents: (() => { const b = new Uint8Array(0x10000).fill(0xff); b.set(bytes, 0xd000); return b; })() });
    const viaDevice = readOtadata(new RegionFlash(flash, 0xd000, 0x2000, 'otadata'));
    assert.equal(viaDevice, entries);
  });

  test(`vector ${c.file}: set_boot_partition sector and seq, idf_v6 and idf_v5`, () => {
    const entries = decodeOtadata(new Uint8Array(fs.readFileSync(DIR + c.file)));
    assert.ok(c.set_boot_partition.length > 0);
    for (const row of c.set_boot_partition) {
      for (const variant of ['idf_v6', 'idf_v5'] as const) {
        const got = nextBootSeqWrite(entries, row.target_slot, row.ota_app_count, variant);
        assert.equal(got, { sector: row[variant].sector, seq: row[variant].ota_seq }, `${variant} N=${row.ota_app_count} target=${row.target_slot}`);
      }
    }
  });
}

test('nextBootEntry keeps the target sector label, sets NEW or UNDEFINED, fresh crc', () => {
  const label = new Uint8Array(20).map((_, i) => i);
  const e0 = { ...makeOtaEntry(1, OTA_STATE.VALID), seqLabel: new Uint8Array(20).fill(0xff) };
  const e1 = { seq: 0xffffffff, seqLabel: label, state: OTA_STATE.UNDEFINED, crc: 0x12345678 };
  const r = nextBootEntry([e0, e1], 1, 2, { variant: 'idf_v6', rollback: true });
  assert.is(r.sector, 1);
  assert.is(r.entry.seq, 2);
  assert.is(r.entry.state, OTA_STATE.NEW);
  assert.is(r.entry.crc, 0x55f63774);
  assert.equal(Array.from(r.entry.seqLabel), Array.from(label));
  assert.is(nextBootEntry([e0, e1], 1, 2, { variant: 'idf_v5', rollback: false }).entry.state, OTA_STATE.UNDEFINED);
});

test('nextBootSeqWrite: worked example of docs/formats.md §4.9 step by step from blank (N = 2), and bad arguments', () => {
  let entries: [ReturnType<typeof makeOtaEntry>, ReturnType<typeof makeOtaEntry>] = decodeOtadata(new Uint8Array(0x2000).fill(0xff));
  const want = [[0, 0, 1], [1, 1, 2], [0, 0, 3], [1, 1, 4]];
  for (const [slot, sector, seq] of want) {
    const w = nextBootSeqWrite(entries, slot, 2, 'idf_v6');
    assert.equal(w, { sector, seq });
    entries[w.sector as 0 | 1] = makeOtaEntry(w.seq, OTA_STATE.UNDEFINED);
  }
  throwsCode(() => nextBootSeqWrite(entries, 2, 2, 'idf_v6'), 'OTADATA_BAD_SLOT');
  throwsCode(() => nextBootSeqWrite(entries, 0, 0, 'idf_v6'), 'OTADATA_BAD_SLOT_COUNT');
  throwsCode(() => nextBootSeqWrite(entries, 0, 2, 'v7' as 'idf_v6'), 'OTADATA_BAD_VALUE');
  const huge: typeof entries = [makeOtaEntry(0xfffffffe, OTA_STATE.VALID), makeOtaEntry(1, OTA_STATE.VALID)];
  throwsCode(() => nextBootSeqWrite(huge, 0, 2, 'idf_v6'), 'OTADATA_SEQ_OVERFLOW');
});

test('validity: invalid ignores the CRC, valid needs it; seq 0 has crc 0xFFFFFFFF', () => {
  const good = makeOtaEntry(7, OTA_STATE.VALID);
  assert.ok(isOtaEntryValid(good));
  const badCrc = { ...good, crc: good.crc ^ 1 };
  assert.not.ok(isOtaEntryInvalid(badCrc));
  assert.not.ok(isOtaEntryValid(badCrc));
  for (const s of [OTA_STATE.INVALID, OTA_STATE.ABORTED]) {
    assert.ok(isOtaEntryInvalid(withOtaState(good, s)));
    assert.not.ok(isOtaEntryValid(withOtaState(good, s)));
  }
  for (const s of [OTA_STATE.NEW, OTA_STATE.PENDING_VERIFY, OTA_STATE.UNDEFINED, 5, 0x7fffffff]) assert.ok(isOtaEntryValid(withOtaState(good, s)), `state ${s}`);
  // A sector whose first word was zeroed and all else erased: a valid seq-0 entry (docs/formats.md §4.2).
  const zeroed = new Uint8Array(32).fill(0xff);
  zeroed.fill(0, 0, 4);
  const e = decodeOtaEntry(zeroed);
  assert.is(e.seq, 0);
  assert.ok(isOtaEntryValid(e));
  // Equal seqs: sector 0 wins; with one valid, that one.
  assert.is(activeOtaSector([makeOtaEntry(3, 2), makeOtaEntry(3, 2)]), 0);
  assert.is(activeOtaSector([makeOtaEntry(3, 2), makeOtaEntry(4, 2)]), 1);
  assert.is(activeOtaSector([badCrc, makeOtaEntry(1, 2)]), 1);
  assert.is(activeOtaSector([badCrc, badCrc]), -1);
});

test('slotOfSeq is uint32 arithmetic: seq 0 maps to 0xFFFFFFFF mod N', () => {
  assert.is(slotOfSeq(1, 2), 0);
  assert.is(slotOfSeq(6, 4), 1);
  assert.is(slotOfSeq(0, 2), 1);
  assert.is(slotOfSeq(0, 3), 0);
  assert.is(slotOfSeq(0, 4), 3);
  assert.is(slotOfSeq(0, 5), 0);
  assert.is(slotOfSeq(0xffffffff, 16), 14);
  throwsCode(() => slotOfSeq(1, 0), 'OTADATA_BAD_SLOT_COUNT');
  throwsCode(() => slotOfSeq(-1, 2), 'OTADATA_BAD_VALUE');
});

test('encode/decode entry: layout and errors', () => {
  const label = new Uint8Array(20).map((_, i) => 0x40 + i);
  const bytes = encodeOtaEntry({ seq: 0x01020304, seqLabel: label, state: 0x0a0b0c0d, crc: 0xdeadbeef });
  assert.equal(Array.from(bytes.subarray(0, 4)), [4, 3, 2, 1]);
  assert.equal(Array.from(bytes.subarray(4, 24)), Array.from(label));
  assert.equal(Array.from(bytes.subarray(24, 28)), [0x0d, 0x0c, 0x0b, 0x0a]);
  assert.equal(Array.from(bytes.subarray(28, 32)), [0xef, 0xbe, 0xad, 0xde]);
  throwsCode(() => decodeOtaEntry(new Uint8Array(31)), 'OTADATA_BAD_SIZE');
  throwsCode(() => decodeOtadata(new Uint8Array(0x1000)), 'OTADATA_BAD_SIZE');
  throwsCode(() => encodeOtaEntry({ seq: 2 ** 32, seqLabel: label, state: 0, crc: 0 }), 'OTADATA_BAD_VALUE');
  throwsCode(() => encodeOtaEntry({ seq: 1, seqLabel: new Uint8Array(3), state: 0, crc: 0 }), 'OTADATA_BAD_VALUE');
  throwsCode(() => makeOtaEntry(1.5, 0), 'OTADATA_BAD_VALUE');
});

test('writeOtaEntry erases only its sector, writes, verifies; bad geometry and sizes refused', () => {
  const flash = new MemoryFlash({ size: 0x4000 });
  const region = new RegionFlash(flash, 0x1000, 0x2000, 'otadata');
  writeOtaEntry(region, 0, makeOtaEntry(1, OTA_STATE.VALID));
  writeOtaEntry(region, 1, makeOtaEntry(2, OTA_STATE.NEW));
  writeOtaEntry(region, 1, makeOtaEntry(4, OTA_STATE.PENDING_VERIFY));
  const [a, b] = readOtadata(region);
  assert.is(a.seq, 1);
  assert.is(b.seq, 4);
  assert.is(b.state, OTA_STATE.PENDING_VERIFY);
  assert.ok(flash.bytes.subarray(0, 0x1000).every((x) => x === 0xff), 'outside the region untouched');
  assert.ok(flash.bytes.subarray(0x1020, 0x2000).every((x) => x === 0xff), 'rest of sector erased');
  throwsCode(() => writeOtaEntry(region, 2 as 0, makeOtaEntry(1, 2)), 'OTADATA_BAD_SECTOR');
  throwsCode(() => readOtadata(new RegionFlash(flash, 0, 0x1000)), 'OTADATA_BAD_SIZE');
  const big = new MemoryFlash({ size: 0x10000, eraseSize: 0x2000 });
  throwsCode(() => writeOtaEntry(big, 0, makeOtaEntry(1, 2)), 'OTADATA_BAD_GEOMETRY');
  // Internal flash with a 64-byte program unit: the entry is padded with 0xFF.
  const wide = new MemoryFlash({ size: 0x2000, writeSize: 64 });
  writeOtaEntry(wide, 1, makeOtaEntry(3, 2));
  assert.is(readOtadata(wide)[1].seq, 3);
});

test('writeOtaEntry detects a device that does not keep what it was given', () => {
  const flash = new MemoryFlash({ size: 0x2000, mode: 'nor' });
  // A stuck-at-0 bit: writes go through, but a byte keeps a cleared bit after erase.
  const lying = {
    size: flash.size, eraseSize: flash.eraseSize, writeSize: flash.writeSize, eraseValue: flash.eraseValue,
    read: (o: number, into: Uint8Array) => flash.read(o, into),
    write: (o: number, d: Uint8Array) => flash.write(o, d),
    erase: (o: number, l: number) => { flash.erase(o, l); flash.poke(o + 0x19, new Uint8Array([0xfe])); },
    sync: () => flash.sync(),
  };
  throwsCode(() => writeOtaEntry(lying, 0, makeOtaEntry(1, OTA_STATE.UNDEFINED)), 'OTADATA_VERIFY_FAILED');
});

test('otaStateOfSlot (esp_ota_get_state_partition): first matching entry with a good CRC, sector 0 first', () => {
  const v = (n: string) => decodeOtadata(new Uint8Array(fs.readFileSync(DIR + n)));
  assert.is(otaStateOfSlot(v('state_pending_verify.bin'), 1, 2), OTA_STATE.PENDING_VERIFY);
  assert.is(otaStateOfSlot(v('state_pending_verify.bin'), 0, 2), OTA_STATE.VALID);
  assert.is(otaStateOfSlot(v('state_aborted.bin'), 1, 2), OTA_STATE.ABORTED, 'validity ignored');
  assert.is(otaStateOfSlot(v('blank.bin'), 0, 2), null);
  assert.is(otaStateOfSlot(v('crc_corrupt_sector1.bin'), 1, 2), null, 'bad CRC skipped');
  // Both entries map to slot 0 with N = 2: sector 0 wins even with the smaller seq.
  assert.is(otaStateOfSlot([makeOtaEntry(1, OTA_STATE.INVALID), makeOtaEntry(3, OTA_STATE.VALID)], 0, 2), OTA_STATE.INVALID);
});

test('lastInvalidOtaSector (esp_ota_get_last_invalid_partition): smaller seq among good-CRC INVALID/ABORTED', () => {
  const v = (n: string) => decodeOtadata(new Uint8Array(fs.readFileSync(DIR + n)));
  assert.is(lastInvalidOtaSector(v('both_invalid_states.bin')), 0);
  assert.is(lastInvalidOtaSector(v('state_invalid.bin')), 1);
  assert.is(lastInvalidOtaSector(v('state_valid.bin')), -1);
  assert.is(lastInvalidOtaSector([makeOtaEntry(5, OTA_STATE.ABORTED), makeOtaEntry(4, OTA_STATE.INVALID)]), 1);
  assert.is(lastInvalidOtaSector([makeOtaEntry(4, OTA_STATE.ABORTED), makeOtaEntry(4, OTA_STATE.INVALID)]), 0);
  assert.is(lastInvalidOtaSector([{ ...makeOtaEntry(4, OTA_STATE.ABORTED), crc: 0 }, EMPTY_ABORTED()]), -1);
});

function EMPTY_ABORTED() {
  return { ...decodeOtadata(new Uint8Array(0x2000).fill(0xff))[0], state: OTA_STATE.ABORTED };
}

test.run();

// Seeded fuzzing of every public decoder and entry point of the portable core, starting from the
// reference vectors and mutating them (bit flips, truncation, splices, random lengths). The
// contract: each call returns or throws an OtaflashError (a TypeError, RangeError or stack overflow
// is a bug), every loop is bounded, and nothing is written outside the region it was given.
// OTAFLASH_SEED=<n> replays a run; a failure prints the seed and the case.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  OtaflashError,
  MemoryFlash,
  RegionFlash,
  decodePartitionTable,
  encodePartitionTable,
  parsePartitionCsv,
  readPartitionTable,
  decodeOtaEntry,
  decodeOtadata,
  readOtadata,
  parseAppImage,
  createImageVerifier,
  verifyImageOnDevice,
  inspectImage,
  readResumeLog,
  RESUME_MAGIC,
  RESUME_LOG_OFFSET,
  decideBoot,
  OtaEngine,
  portableHashes,
  type BlockDevice,
  type PartitionTable,
} from '../../src/index';
import { seededRandom, randomBelow } from '../../src/flash/rng';

const VECTORS = path.resolve(new URL('../../', import.meta.url).pathname, 'test/fixtures');
const SEED = process.env.OTAFLASH_SEED ? Number(process.env.OTAFLASH_SEED) : 20261122;

function readVectors(dir: string, ext: string): Uint8Array[] {
  const full = path.join(VECTORS, dir);
  return fs
    .readdirSync(full)
    .filter((f) => f.endsWith(ext))
    .sort()
    .map((f) => new Uint8Array(fs.readFileSync(path.join(full, f))));
}

const tableBins = readVectors('partition-tables', '.bin');
const tableCsvs = readVectors('partition-tables', '.csv');
const otadataBins = readVectors('otadata', '.bin');
const appImages = readVectors('app-images/esp-serial-flasher', '.bin').concat(
  readVectors('app-images/esptool', '.bin').slice(0, 4),
  readVectors('app-images/corrupt', '.bin').slice(0, 4),
);

/** A mutated copy: bit flips, truncation, extension, splices of another vector or byte runs. */
function mutate(rand: () => number, src: Uint8Array, donors: Uint8Array[]): Uint8Array {
  let b = src.slice();
  const ops = 1 + randomBelow(rand, 4);
  for (let k = 0; k < ops; k++) {
    const op = randomBelow(rand, 7);
    if (op === 0 || b.length === 0) {
      const out = new Uint8Array(b.length + 1 + randomBelow(rand, 64));
      out.set(b);
      for (let i = b.length; i < out.length; i++) out[i] = randomBelow(rand, 256);
      b = out;
    } else if (op === 1) {
      b = b.slice(0, randomBelow(rand, b.length + 1));
    } else if (op === 2 || op === 3) {
      const flips = 1 + randomBelow(rand, 8);
      for (let i = 0; i < flips; i++) b[randomBelow(rand, b.length)] ^= 1 << randomBelow(rand, 8);
    } else if (op === 4) {
      const d = donors[randomBelow(rand, donors.length)];
      const at = randomBelow(rand, b.length);
      const from = randomBelow(rand, d.length + 1);
      const n = Math.min(b.length - at, d.length - from, 1 + randomBelow(rand, 256));
      if (n > 0) b.set(d.subarray(from, from + n), at);
    } else if (op === 5) {
      const at = randomBelow(rand, b.length);
      const n = Math.min(b.length - at, 1 + randomBelow(rand, 32));
      b.fill([0, 0xff, randomBelow(rand, 256)][randomBelow(rand, 3)], at, at + n);
    } else {
      // 32-bit little-endian field set to an edge value (lengths, offsets, counts)
      const at = randomBelow(rand, Math.max(1, b.length - 3));
      const v = [0, 1, 0xffffffff, 0x7fffffff, 0x80000000, b.length, randomBelow(rand, 0x100000)][randomBelow(rand, 7)];
      for (let i = 0; i < 4 && at + i < b.length; i++) b[at + i] = (v >>> (8 * i)) & 0xff;
    }
  }
  return b;
}

let caseName = '';
/** Outcomes per entry point, so a test can insist that both paths (return, refusal) were taken. */
const returned: Record<string, number> = {};
const refused: Record<string, number> = {};
const bump = (m: Record<string, number>, what: string) => {
  const k = what.replace(/ #\d+$/, '');
  m[k] = (m[k] ?? 0) + 1;
};
/** Runs fn; returns its value, or undefined when it threw an OtaflashError; anything else fails. */
function expectClean<T>(seed: number, what: string, fn: () => T): T | undefined {
  caseName = what;
  try {
    const v = fn();
    bump(returned, what);
    return v;
  } catch (e) {
    if (e instanceof OtaflashError) {
      bump(refused, what);
      assert.ok(e.code.length > 0 && /^[A-Z0-9_]+$/.test(e.code), `seed ${seed} ${what}: code ${e.code}`);
      return undefined;
    }
    const msg = e instanceof Error ? `${e.name}: ${e.message}\n${e.stack}` : String(e);
    assert.unreachable(`seed ${seed} ${what}: threw a non-OtaflashError: ${msg}`);
  }
  return undefined;
}

/** A device wrapper that refuses (fails the test on) any write or erase outside [lo, hi). */
function fenced(dev: BlockDevice, lo: number, hi: number, seed: number): BlockDevice {
  const check = (op: string, off: number, len: number) => {
    if (!(off >= lo && off + len <= hi)) assert.unreachable(`seed ${seed} ${caseName}: ${op} at ${off}+${len} outside [${lo}, ${hi})`);
  };
  // A loop that never ends almost always keeps touching the device: a budget of calls turns a
  // hang into a failure with the seed. The budget allows two byte-at-a-time passes over the device
  // (verifyImageOnDevice with chunkSize 1 re-reads a signed image) and no more.
  let calls = 0;
  const budget = 4 * dev.size + 100000;
  const tick = () => {
    if (++calls > budget) assert.unreachable(`seed ${seed} ${caseName}: over ${budget} device calls, probably an unbounded loop`);
  };
  return {
    size: dev.size,
    eraseSize: dev.eraseSize,
    writeSize: dev.writeSize,
    eraseValue: dev.eraseValue,
    blockEraseSizes: dev.blockEraseSizes,
    read: (o, into) => {
      tick();
      dev.read(o, into);
    },
    write: (o, d) => {
      tick();
      check('write', o, d.length);
      dev.write(o, d);
    },
    erase: (o, n) => {
      tick();
      check('erase', o, n);
      dev.erase(o, n);
    },
    sync: () => dev.sync(),
  };
}

/** A device on which any write or erase fails the test (for read-only entry points). */
const readOnly = (dev: BlockDevice, seed: number) => fenced(dev, 0, 0, seed);

const N = 150;

test('decodePartitionTable and readPartitionTable on mutated tables', () => {
  const rand = seededRandom(SEED);
  for (let i = 0; i < N * 2; i++) {
    const b = mutate(rand, tableBins[randomBelow(rand, tableBins.length)], tableBins);
    expectClean(SEED, `decodePartitionTable #${i}`, () => decodePartitionTable(b));
    const dev = new MemoryFlash({ size: 0x10000, contents: (() => { const c = new Uint8Array(0x10000).fill(0xff); c.set(b.subarray(0, 0x8000), 0x8000); return c; })() });
    expectClean(SEED, `readPartitionTable #${i}`, () => readPartitionTable(readOnly(dev, SEED)));
    expectClean(SEED, `readPartitionTable offset #${i}`, () => readPartitionTable(readOnly(dev, SEED), [0xf000, 0x10000, 0xfff0, -1, 0.5, NaN][randomBelow(rand, 6)]));
  }
});

test('parsePartitionCsv on mutated CSV text and bytes', () => {
  const rand = seededRandom(SEED + 1);
  for (let i = 0; i < N * 2; i++) {
    const b = mutate(rand, tableCsvs[randomBelow(rand, tableCsvs.length)], tableCsvs);
    expectClean(SEED + 1, `parsePartitionCsv(bytes) #${i}`, () => parsePartitionCsv(b));
    let s = '';
    for (let j = 0; j < b.length; j++) s += String.fromCharCode(b[j] < 0x80 ? b[j] : 0x80 + randomBelow(rand, 0x2000));
    expectClean(SEED + 1, `parsePartitionCsv(string) #${i}`, () => parsePartitionCsv(s));
  }
});

test('decodeOtaEntry, decodeOtadata, readOtadata on mutated otadata', () => {
  const rand = seededRandom(SEED + 2);
  for (let i = 0; i < N * 2; i++) {
    const b = mutate(rand, otadataBins[randomBelow(rand, otadataBins.length)], otadataBins);
    expectClean(SEED + 2, `decodeOtaEntry #${i}`, () => decodeOtaEntry(b.subarray(0, randomBelow(rand, 40))));
    expectClean(SEED + 2, `decodeOtadata #${i}`, () => decodeOtadata(b));
    const size = [0x1000, 0x2000, 0x3000][randomBelow(rand, 3)];
    const dev = new MemoryFlash({ size, contents: b });
    expectClean(SEED + 2, `readOtadata #${i}`, () => readOtadata(readOnly(dev, SEED + 2)));
  }
});

test('parseAppImage, inspectImage, createImageVerifier (random chunking), verifyImageOnDevice', () => {
  const rand = seededRandom(SEED + 3);
  for (let i = 0; i < 60; i++) {
    const src = appImages[randomBelow(rand, appImages.length)];
    // Light mutations often enough that the verifiers also get past the header and succeed.
    const b = rand() < 0.25 ? src : mutate(rand, src, appImages);
    const whole = expectClean(SEED + 3, `inspectImage #${i}`, () => inspectImage(b, { hashes: portableHashes }));
    expectClean(SEED + 3, `parseAppImage #${i}`, () => parseAppImage(b));
    const limit = rand() < 0.2 ? randomBelow(rand, b.length + 1) : undefined;
    const verdict = expectClean(SEED + 3, `createImageVerifier #${i}`, () => {
      const v = createImageVerifier({ maxSize: limit, hashes: portableHashes });
      let at = 0;
      while (at < b.length) {
        const n = rand() < 0.1 ? 0 : 1 + randomBelow(rand, rand() < 0.5 ? 64 : 20000);
        v.update(b.subarray(at, at + n));
        at += n;
      }
      return v.finish();
    });
    // Streaming in random chunks and the whole-buffer report must agree on the verdict.
    if (limit === undefined && whole !== undefined) {
      assert.is(verdict !== undefined, whole.error === null, `seed ${SEED + 3} #${i}: streaming and whole-buffer verdicts differ (${whole.error && whole.error.code})`);
      if (verdict && whole.verdict) assert.is(verdict.size, whole.verdict.size, `seed ${SEED + 3} #${i}: image sizes differ`);
    }
    const size = (Math.ceil((b.length + 1) / 4096) + randomBelow(rand, 2)) * 4096;
    const dev = new MemoryFlash({ size, contents: rand() < 0.5 ? b : b.subarray(0, randomBelow(rand, b.length + 1)) });
    expectClean(SEED + 3, `verifyImageOnDevice #${i}`, () => verifyImageOnDevice(readOnly(dev, SEED + 3), { chunkSize: [1, 7, 4096, 65536][randomBelow(rand, 4)] }));
  }
});

// A real layout: the table vector with otadata + 2 OTA slots, in a 1 MiB flash.
const LAYOUT = parsePartitionCsv(`nvs, data, nvs, 0x9000, 0x4000
otadata, data, ota, 0xd000, 0x2000
factory, app, factory, 0x10000, 0x40000
ota_0, app, ota_0, 0x50000, 0x40000
ota_1, app, ota_1, 0x90000, 0x40000
`) as PartitionTable;
const LAYOUT_BIN = encodePartitionTable(LAYOUT);
const OTADATA_AT = 0xd000;

function randomFlash(rand: () => number): MemoryFlash {
  const c = new Uint8Array(0x100000).fill(0xff);
  const tbl = rand() < 0.8 ? LAYOUT_BIN : mutate(rand, LAYOUT_BIN, tableBins);
  c.set(tbl.subarray(0, 0x1000), 0x8000);
  const od = otadataBins[randomBelow(rand, otadataBins.length)];
  c.set((rand() < 0.5 ? od : mutate(rand, od, otadataBins)).subarray(0, 0x2000), OTADATA_AT);
  for (const slot of [0x10000, 0x50000, 0x90000]) {
    const r = rand();
    if (r < 0.3) continue;
    const img = appImages[randomBelow(rand, appImages.length)];
    c.set((r < 0.6 ? img : mutate(rand, img, appImages)).subarray(0, 0x40000), slot);
  }
  return new MemoryFlash({ size: 0x100000, mode: rand() < 0.5 ? 'nor' : 'strict', contents: c });
}

test('readResumeLog and decideBoot over random flash states', () => {
  const rand = seededRandom(SEED + 4);
  for (let i = 0; i < 40; i++) {
    const dev = randomFlash(rand);
    const region = new RegionFlash(dev, OTADATA_AT, 0x2000, 'otadata');
    const sector = randomBelow(rand, 2) as 0 | 1;
    expectClean(SEED + 4, `readResumeLog #${i}`, () => readResumeLog(readOnly(region, SEED + 4), sector, portableHashes));
    const table = expectClean(SEED + 4, `readPartitionTable(random flash) #${i}`, () => readPartitionTable(dev)) ?? LAYOUT;
    expectClean(SEED + 4, `decideBoot #${i}`, () =>
      decideBoot(readOnly(dev, SEED + 4), table, { rollback: rand() < 0.5, antiRollback: rand() < 0.3, efuseSecureVersion: randomBelow(rand, 3) }),
    );
  }
});

test('OtaEngine.open and its calls over random flash states write only inside otadata and the target slot', () => {
  const rand = seededRandom(SEED + 5);
  for (let i = 0; i < 30; i++) {
    const dev = randomFlash(rand);
    const fence = fenced(dev, 0, 0, SEED + 5);
    const engine = expectClean(SEED + 5, `OtaEngine.open #${i}`, () => OtaEngine.open(fence, { hashes: portableHashes }));
    if (!engine) continue;
    expectClean(SEED + 5, `bootPartition #${i}`, () => engine.bootPartition());
    expectClean(SEED + 5, `pendingUpdate #${i}`, () => engine.pendingUpdate());
    expectClean(SEED + 5, `rollbackPossible #${i}`, () => engine.rollbackPossible());
    const target = expectClean(SEED + 5, `nextUpdatePartition #${i}`, () => engine.nextUpdatePartition());
    // Writes allowed: otadata, plus the chosen slot once an update starts.
    const lo = target ? Math.min(OTADATA_AT, target.offset) : OTADATA_AT;
    const hi = target ? Math.max(OTADATA_AT + 0x2000, target.offset + target.size) : OTADATA_AT + 0x2000;
    const allowed = fenced(dev, lo, hi, SEED + 5);
    const inSlotOrOtadata: BlockDevice = {
      ...allowed,
      write: (o, d) => {
        if (!(o >= OTADATA_AT && o + d.length <= OTADATA_AT + 0x2000) && !(target && o >= target.offset && o + d.length <= target.offset + target.size)) {
          assert.unreachable(`seed ${SEED + 5} ${caseName}: write at ${o}+${d.length} outside otadata and target slot`);
        }
        allowed.write(o, d);
      },
      erase: (o, n) => {
        if (!(o >= OTADATA_AT && o + n <= OTADATA_AT + 0x2000) && !(target && o >= target.offset && o + n <= target.offset + target.size)) {
          assert.unreachable(`seed ${SEED + 5} ${caseName}: erase at ${o}+${n} outside otadata and target slot`);
        }
        allowed.erase(o, n);
      },
    };
    const e2 = expectClean(SEED + 5, `OtaEngine.open(fenced) #${i}`, () => OtaEngine.open(inSlotOrOtadata, { hashes: portableHashes }));
    if (!e2) continue;
    const op = randomBelow(rand, 5);
    if (op === 0) expectClean(SEED + 5, `markValid #${i}`, () => e2.markValid());
    else if (op === 1) expectClean(SEED + 5, `markInvalidAndRollback #${i}`, () => e2.markInvalidAndRollback());
    else if (op === 2 && target) expectClean(SEED + 5, `setBootPartition #${i}`, () => e2.setBootPartition(target));
    else {
      expectClean(SEED + 5, `update #${i}`, () => {
        const src = appImages[randomBelow(rand, 3)];
        const img = rand() < 0.5 ? src : mutate(rand, src, appImages);
        const w = e2.begin(undefined, {});
        for (let at = 0; at < img.length; at += 4096) w.write(img.subarray(at, at + 4096));
        w.end();
        return null;
      });
    }
  }
});

/** A table object as a JS caller might pass it: odd sizes, overlaps, parts past the device end, duplicates. */
function randomTable(rand: () => number): PartitionTable {
  const parts = [];
  const n = 1 + randomBelow(rand, 6);
  const pick = <T>(a: T[]) => a[randomBelow(rand, a.length)];
  for (let i = 0; i < n; i++) {
    const kind = randomBelow(rand, 4);
    const type = kind === 0 ? 1 : 0;
    const subtype = kind === 0 ? pick([0, 0, 2, 0x80]) : kind === 1 ? 0 : kind === 2 ? 0x20 : 0x10 + randomBelow(rand, 17);
    parts.push({
      label: kind === 0 ? 'otadata' : `p${i}`,
      type,
      subtype,
      offset: pick([0xd000, 0x10000, 0x50000, 0x90000, 0xff000, 0x100000, 0x8000, 0xd800, randomBelow(rand, 0x120000)]),
      size: pick([0x1000, 0x2000, 0x3000, 0x40000, 0, 0x200000, 0x40, randomBelow(rand, 0x50000)]),
      flags: randomBelow(rand, 4),
    });
  }
  return { partitions: parts, md5: null };
}

test('decideBoot and OtaEngine over hand-made (unverified) table objects', () => {
  const rand = seededRandom(SEED + 6);
  for (let i = 0; i < 60; i++) {
    const dev = randomFlash(rand);
    const table = randomTable(rand);
    expectClean(SEED + 6, `decideBoot(table) #${i}`, () => decideBoot(readOnly(dev, SEED + 6), table, { rollback: rand() < 0.5 }));
    const od = table.partitions.filter((p) => p.type === 1 && p.subtype === 0)[0];
    const fence = od ? fenced(dev, od.offset, od.offset + od.size, SEED + 6) : readOnly(dev, SEED + 6);
    const e = expectClean(SEED + 6, `OtaEngine.open(table) #${i}`, () => OtaEngine.open(fence, { table, hashes: portableHashes }));
    if (!e) continue;
    expectClean(SEED + 6, `engine(table) markValid #${i}`, () => e.markValid());
    expectClean(SEED + 6, `engine(table) rollbackPossible #${i}`, () => e.rollbackPossible());
  }
});

/** A resume header with a valid CRC and random fields, so the reader and the engine get past the CRC gate. */
function forgedResumeSector(rand: () => number, slot: { offset: number; size: number; subtype: number }): Uint8Array {
  const sec = new Uint8Array(0x1000).fill(0xff);
  const h = new Uint8Array(32);
  const put = (o: number, v: number) => { for (let i = 0; i < 4; i++) h[o + i] = (v >>> (8 * i)) & 0xff; };
  const edge = (good: number) => [good, good, good, 0, 0xffffffff, good + 0x1000, good - 1, randomBelow(rand, 0x100000000)][randomBelow(rand, 8)] >>> 0;
  put(0, RESUME_MAGIC);
  h[4] = 2;
  h[5] = randomBelow(rand, 3);
  h[6] = rand() < 0.8 ? slot.subtype : randomBelow(rand, 256);
  put(8, rand() < 0.8 ? slot.offset : edge(slot.offset));
  put(12, rand() < 0.8 ? slot.size : edge(slot.size));
  put(16, [0xffffffff, randomBelow(rand, slot.size), slot.size, slot.size + 1][randomBelow(rand, 4)]);
  put(20, [slot.size, randomBelow(rand, slot.size + 1), 0x1000 * randomBelow(rand, slot.size / 0x1000 + 2), 0xffffffff][randomBelow(rand, 4)]);
  // The granule the reader expects for this slot size (w = 1): the finest whose two bitmaps fit.
  let g = 1;
  const room = 0x1000 - (RESUME_LOG_OFFSET + 32);
  while (2 * Math.ceil(Math.ceil(slot.size / g) / 8) > room) g *= 2;
  put(24, rand() < 0.9 ? g : edge(g));
  put(28, portableHashes.crc32(h.subarray(0, 28)));
  sec.set(h, RESUME_LOG_OFFSET);
  // Bitmaps: a cleared prefix of random length, then noise or erased bytes.
  const start = RESUME_LOG_OFFSET + 32;
  for (let i = start; i < sec.length; i++) {
    const r = rand();
    sec[i] = r < 0.6 ? 0 : r < 0.9 ? 0xff : randomBelow(rand, 256);
  }
  return sec;
}

test('readResumeLog, pendingUpdate and resume over forged logs with valid CRCs: writes stay in otadata and the logged slot', () => {
  const rand = seededRandom(SEED + 7);
  const slots = LAYOUT.partitions.filter((p) => p.type === 0 && p.subtype >= 0x10);
  let trusted = 0;
  for (let i = 0; i < 40; i++) {
    const c = new Uint8Array(0x100000).fill(0xff);
    c.set(LAYOUT_BIN, 0x8000);
    const slot = slots[randomBelow(rand, slots.length)];
    const sector = randomBelow(rand, 2);
    // The other otadata sector: a valid entry or erased.
    const od = otadataBins[randomBelow(rand, otadataBins.length)];
    c.set(od.subarray(0, 0x2000), OTADATA_AT);
    c.set(forgedResumeSector(rand, slot), OTADATA_AT + sector * 0x1000);
    const img = appImages[randomBelow(rand, 3)];
    c.set(img.subarray(0, randomBelow(rand, Math.min(img.length, slot.size) + 1)), slot.offset);
    const dev = new MemoryFlash({ size: 0x100000, contents: c, mode: rand() < 0.5 ? 'nor' : 'strict' });
    const region = new RegionFlash(dev, OTADATA_AT, 0x2000, 'otadata');
    if (expectClean(SEED + 7, `readResumeLog(forged) #${i}`, () => readResumeLog(readOnly(region, SEED + 7), sector as 0 | 1, portableHashes))) trusted++;
    const inOtadataOrSlot = (o: number, n: number) =>
      (o >= OTADATA_AT && o + n <= OTADATA_AT + 0x2000) || (o >= slot.offset && o + n <= slot.offset + slot.size);
    const fence: BlockDevice = {
      size: dev.size, eraseSize: dev.eraseSize, writeSize: dev.writeSize, eraseValue: dev.eraseValue, blockEraseSizes: dev.blockEraseSizes,
      read: (o, into) => dev.read(o, into),
      write: (o, d) => { if (!inOtadataOrSlot(o, d.length)) assert.unreachable(`seed ${SEED + 7} ${caseName}: write at ${o}+${d.length} outside otadata and ${slot.label}`); dev.write(o, d); },
      erase: (o, n) => { if (!inOtadataOrSlot(o, n)) assert.unreachable(`seed ${SEED + 7} ${caseName}: erase at ${o}+${n} outside otadata and ${slot.label}`); dev.erase(o, n); },
      sync: () => dev.sync(),
    };
    const running = LAYOUT.partitions.filter((p) => p.label === 'factory')[0];
    const e = expectClean(SEED + 7, `OtaEngine.open(forged) #${i}`, () => OtaEngine.open(fence, { hashes: portableHashes, running }));
    if (!e) continue;
    expectClean(SEED + 7, `pendingUpdate(forged) #${i}`, () => e.pendingUpdate());
    expectClean(SEED + 7, `resume(forged) #${i}`, () => {
      const w = e.resume();
      let at = w.offset;
      while (at < img.length) {
        const n = 1 + randomBelow(rand, 8192);
        w.write(img.subarray(at, at + n));
        at += n;
      }
      if (rand() < 0.8) w.end();
      else w.abort();
      return null;
    });
  }
  // The forged logs must mostly pass the reader's own checks, or this test fuzzes nothing past them.
  assert.ok(trusted >= 10, `seed ${SEED + 7}: only ${trusted} of 40 forged logs were read as valid`);
});

test('every entry point both returned and refused at least once (the fuzz reached past the first check)', () => {
  const names = Object.keys(returned).concat(Object.keys(refused)).filter((k, i, a) => a.indexOf(k) === i).sort();
  const report = names.map((k) => `${k}: ${returned[k] ?? 0} returned, ${refused[k] ?? 0} refused`).join('\n');
  if (process.env.OTAFLASH_FUZZ_REPORT) process.stdout.write(report + '\n');
  for (const k of ['decodePartitionTable', 'parsePartitionCsv(bytes)', 'decodeOtadata', 'readOtadata', 'readPartitionTable', 'parseAppImage', 'createImageVerifier', 'verifyImageOnDevice', 'update', 'resume(forged)']) {
    assert.ok((returned[k] ?? 0) > 0 && (refused[k] ?? 0) > 0, `seed ${SEED}: ${k} did not take both paths\n${report}`);
  }
});

test.run();

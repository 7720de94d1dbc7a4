import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { OtaflashError } from '../../src/errors';
import { checkBlockDeviceContract, formatContractReport } from '../../src/flash/contract';
import { MemoryFlash } from '../../src/flash/memory';
import { seededRandom } from '../../src/flash/rng';
import type { BlockDevice } from '../../src/flash/types';
import { FileFlash } from '../../src/node/file-flash';
import { errorCode } from '../helpers';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'otaflash-fileflash-'));
let n = 0;
const tmp = () => path.join(dir, `img-${n++}.bin`);

const code = errorCode;

for (const mode of ['strict', 'nor'] as const) {
  test(`contract: FileFlash ${mode}, with durability across reopen`, () => {
    const r = checkBlockDeviceContract(() => FileFlash.create(tmp(), 1 << 20, { mode }), {
      program: mode,
      reopen: (d) => FileFlash.open((d as FileFlash).path, { mode }),
      dispose: (d) => (d as FileFlash).close(),
    });
    assert.ok(r.passed, formatContractReport(r));
    assert.is(r.skipped.length, 0, r.skipped.join('; '));
  });
}

test('contract: FileFlash opened on an existing non-erased image (nothing known erased)', () => {
  const r = checkBlockDeviceContract(
    () => {
      const p = tmp();
      fs.writeFileSync(p, new Uint8Array(1 << 18).fill(0x12));
      return FileFlash.open(p);
    },
    { program: 'strict', dispose: (d) => (d as FileFlash).close() },
  );
  assert.ok(r.passed, formatContractReport(r));
});

test('create fills with the erase value; open checks the size; missing file is an error', () => {
  const p = tmp();
  const f = new FileFlash(p, { size: 65536, create: 'if-missing', eraseValue: 0xff });
  f.close();
  const bytes = fs.readFileSync(p);
  assert.is(bytes.length, 65536);
  assert.ok(bytes.every((b) => b === 0xff));
  assert.is(code(() => FileFlash.open(p, { size: 8192 })), 'FLASH_BAD_GEOMETRY');
  assert.is(code(() => FileFlash.open(path.join(dir, 'nope.bin'))), 'FLASH_FILE_MISSING');
  assert.is(code(() => new FileFlash(tmp(), { create: 'always' })), 'FLASH_BAD_GEOMETRY');
  assert.is(code(() => FileFlash.create(tmp(), 5000)), 'FLASH_BAD_GEOMETRY');
  // 'if-missing' keeps an existing file's contents.
  fs.writeFileSync(p, new Uint8Array(65536).fill(0x42));
  const g = FileFlash.openOrCreate(p, 65536);
  const b = new Uint8Array(4);
  g.read(100, b);
  assert.equal(Array.from(b), [0x42, 0x42, 0x42, 0x42]);
  g.close();
});

test('after close every call throws FLASH_CLOSED; close is idempotent', () => {
  const f = FileFlash.create(tmp(), 8192);
  f.close();
  f.close();
  assert.is(code(() => f.read(0, new Uint8Array(1))), 'FLASH_CLOSED');
  assert.is(code(() => f.write(0, new Uint8Array(1))), 'FLASH_CLOSED');
  assert.is(code(() => f.erase(0, 4096)), 'FLASH_CLOSED');
  assert.is(code(() => f.sync()), 'FLASH_CLOSED');
});

// Property: the known-erased shortcut never changes behaviour. Random ops on FileFlash and on
// MemoryFlash (the model) must give the same errors and the same bytes, in both modes.
test('FileFlash matches MemoryFlash on random op sequences (seeded)', () => {
  for (const mode of ['strict', 'nor'] as const) {
    const seed = 4242 + (mode === 'nor' ? 1 : 0);
    const rand = seededRandom(seed);
    const r = (k: number) => Math.floor(rand() * k);
    const size = 8 * 4096;
    const p = tmp();
    fs.writeFileSync(p, new Uint8Array(size).fill(0xff));
    let file = FileFlash.open(p, { mode });
    const model = new MemoryFlash({ size, mode });
    const devs: BlockDevice[] = [file, model];
    let lastEnd = 0;
    for (let step = 0; step < 3000; step++) {
      const ctx = `seed ${seed}, mode ${mode}, step ${step}`;
      const op = r(12);
      if (op === 0) {
        const s = r(8);
        const c = 1 + r(8 - s);
        for (const d of devs) d.erase(s * 4096, c * 4096);
      } else if (op === 1) {
        // Reopen: the driver forgets what it knew was erased.
        file.close();
        file = FileFlash.open(p, { mode });
        devs[0] = file;
      } else {
        // Mostly sequential small writes with occasional random ones, as an OTA writer does.
        // Sequential (at the last write's end), overlapping it by a few bytes, or anywhere.
        const len = r(4) === 0 ? r(9000) : r(300);
        const how = r(3);
        let off = how === 0 ? lastEnd : how === 1 ? lastEnd - 1 - r(4) : r(size);
        if (off < 0 || off + len > size) off = r(size - len + 1);
        lastEnd = off + len;
        const data = new Uint8Array(len);
        for (let i = 0; i < len; i++) data[i] = r(4) === 0 ? 0xff : r(256);
        const codes = devs.map((d) => code(() => d.write(off, data)));
        assert.is(codes[0], codes[1], ctx);
      }
      if (step % 50 === 0 || step === 2999) {
        const got = new Uint8Array(size);
        file.read(0, got);
        assert.equal(got, model.bytes, ctx);
      }
    }
    file.close();
  }
});

test('sequential writes into erased space do not read back; other writes do', () => {
  const f = FileFlash.create(tmp(), 1 << 20);
  const chunk = new Uint8Array(1000).fill(0x11);
  for (let o = 0; o + 1000 <= 1 << 20; o += 1000) f.write(o, chunk);
  assert.is(f.readsBeforeWrite, 0);
  f.write(0, new Uint8Array(10)); // not erased any more: must read
  assert.is(f.readsBeforeWrite, 1);
  f.erase(0, 4096);
  f.write(0, new Uint8Array(10));
  f.write(100, new Uint8Array(10)); // a gap: [10, 100) is erased but only a suffix is tracked
  assert.is(f.readsBeforeWrite, 1);
  f.write(50, new Uint8Array(10)); // behind the tracked suffix: reads
  assert.is(f.readsBeforeWrite, 2);
  f.close();
});

test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

test('bad arguments and file-system failures are OtaflashErrors, not Node errors', () => {
  const p = tmp();
  const f = FileFlash.create(p, 1 << 16);
  assert.is(code(() => f.write(0, '16' as unknown as Uint8Array)), 'FLASH_BAD_ARGUMENT');
  assert.is(code(() => f.write(0, null as unknown as Uint8Array)), 'FLASH_BAD_ARGUMENT');
  assert.is(code(() => f.read(0, null as unknown as Uint8Array)), 'FLASH_BAD_ARGUMENT');
  // The refused text write left the first bytes erased.
  const head = new Uint8Array(2);
  f.read(0, head);
  assert.equal(Array.from(head), [0xff, 0xff]);
  f.close();
  assert.is(code(() => FileFlash.open(dir)), 'FLASH_FILE_NOT_REGULAR');
  assert.is(code(() => FileFlash.create(path.join(dir, 'no-such-dir', 'x.bin'), 4096)), 'FLASH_FILE_IO');
  assert.is(code(() => FileFlash.open('' as string)), 'FLASH_BAD_ARGUMENT');
  assert.is(code(() => new FileFlash(p, { create: 'always', size: 4096, readOnly: true })), 'FLASH_BAD_ARGUMENT');
});

test('readOnly: reads work, write/erase are refused, the file is untouched', () => {
  const p = tmp();
  const bytes = new Uint8Array(1 << 14).map((_, i) => i & 0xff);
  fs.writeFileSync(p, bytes);
  const f = FileFlash.open(p, { readOnly: true });
  assert.is(f.readOnly, true);
  const got = new Uint8Array(16);
  f.read(4096, got);
  assert.equal(Array.from(got), Array.from(bytes.subarray(4096, 4112)));
  assert.is(code(() => f.write(0, new Uint8Array(4))), 'FLASH_READ_ONLY');
  assert.is(code(() => f.erase(0, 4096)), 'FLASH_READ_ONLY');
  f.sync();
  f.close();
  assert.ok(Buffer.from(fs.readFileSync(p)).equals(Buffer.from(bytes)));
});

test.run();

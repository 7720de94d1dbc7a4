// `otaflash partition-table convert` on the inputs where differential fuzzing found it disagreeing
// with ESP-IDF's gen_esp32part.py (issue 12, classes 1-8). Every expectation (exit status, output
// bytes, stderr) is what the tool itself did: test/fixtures/partition-tables/fuzz-classes/cases.json.
import * as fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runInProcess, tempFiles } from './harness';

const DIR = fileURLToPath(new URL('../fixtures/partition-tables/fuzz-classes/', import.meta.url));

interface ToolCase {
  cls: number;
  name: string;
  input: string;
  args: string[];
  note?: string;
  exit_code: number;
  /** Tool's output file (exit 0). */
  output?: string;
  /** Tool's stderr: its error (exit 2) or its warnings (exit 0). */
  stderr?: string;
  /** Last traceback line when the tool crashed (exit 1). */
  crash?: string;
}

const cases = (JSON.parse(fs.readFileSync(DIR + 'cases.json', 'utf8')) as { cases: ToolCase[] }).cases;
const tmp = tempFiles('otaflash-fuzz-classes-');

// Where the tool crashes we refuse with a typed error instead; which one is our choice, not the tool's.
const CRASH_CODE: Record<string, string> = {
  c6_value_too_big_used: 'PARTITION_BAD_VALUE',
  c6_minus_one_used: 'PARTITION_BAD_VALUE',
  c6_bad_type: 'PARTITION_BAD_EXTRA_SUBTYPE',
  c6_duplicate_value: 'PARTITION_BAD_EXTRA_SUBTYPE',
  c8_md5_row_disabled: 'PARTITION_MD5_DISABLED',
};

function firstDiff(a: Uint8Array, b: Uint8Array): string {
  if (a.length !== b.length) return `length ${a.length}, the tool's ${b.length}`;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return `first difference at byte 0x${i.toString(16)}: ${a[i]}, the tool's ${b[i]}`;
  return 'identical';
}

function check(c: ToolCase): void {
  const out = tmp(c.name + '.out');
  const args = ['partition-table convert', DIR + c.input, out, ...c.args];
  const r = runInProcess(...args);
  const what = `${c.name} (${c.note || c.input})`;
  if (c.exit_code === 0) {
    assert.is(r.code, 0, `${what}: the tool accepted it, we exited ${r.code}: ${r.stderr}`);
    const got = fs.readFileSync(out);
    const want = fs.readFileSync(DIR + c.output!);
    if (c.output!.endsWith('.csv')) assert.fixture(got.toString('utf8'), want.toString('utf8'), `${what}: CSV differs from the tool's`);
    else assert.ok(got.equals(want), `${what}: binary differs from the tool's (${firstDiff(got, want)})`);
    assert.is(r.stderr, c.stderr || '', `${what}: warnings`);
    return;
  }
  assert.is(r.code, 2, `${what}: the tool ${c.exit_code === 2 ? 'refused' : 'crashed on'} it, we exited ${r.code}: ${r.stderr}`);
  const lines = r.stderr.split('\n').filter((l) => l.length > 0);
  assert.is(lines.length, 1, `${what}: one error line, got:\n${r.stderr}`);
  if (c.exit_code === 2) {
    // The tool's own message is its last line, unless it added its generic hint after it.
    const key = c.stderr!.trim().split('\n').filter((l) => !l.startsWith('Please check extra_partition_subtypes')).pop()!;
    assert.ok(lines[0].includes(key), `${what}: our error\n  ${lines[0]}\ndoes not contain the tool's\n  ${key}`);
  } else {
    assert.ok(lines[0].includes(`[${CRASH_CODE[c.name]}]`), `${what}: the tool crashed (${c.crash}); we should refuse with ${CRASH_CODE[c.name]}: ${lines[0]}`);
  }
}

const TITLES: Record<number, string> = {
  0: 'further differences a differential run found: Python\'s 0x%x of negatives, the MD5 message\'s b\'...\'',
  1: 'a binary whose length is not a multiple of 32 is read up to its end marker; only a partial record is refused',
  2: '--flash-size is checked even with --no-verify, with the tool\'s rounding of the size',
  3: 'UTF-16/UTF-32 text with a BOM and text with NUL bytes is read as CSV',
  4: 'of two UTF-8 BOMs only the first is removed; the second belongs to the first field',
  5: 'numbers take Unicode decimal digits as Python\'s int() does',
  6: '--extra-partition-subtypes entries the tool takes are taken; using a bad one is refused',
  7: 'an extra subtype that reuses a built-in keyword takes that keyword\'s rules along',
  8: '--disable-md5sum on a table with an MD5 record is refused with a typed error',
};

for (let cls = 0; cls <= 8; cls++) {
  const mine = cases.filter((c) => c.cls === cls);
  test(`class ${cls}: ${TITLES[cls]} (${mine.length} cases)`, () => {
    assert.ok(mine.length > 0);
    for (const c of mine) check(c);
  });
}

test.run();

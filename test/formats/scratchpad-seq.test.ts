// OTAP sequence number comparison (src/formats/scratchpad-seq.ts explains the rules and why).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isNewerScratchpadSeq, isSinkScratchpadSeq, nextScratchpadSeq, scratchpadSeqDistance } from '../../src/formats/scratchpad-seq';

test('a sink gives 1..254; 0 and 255 are node states, not sequence numbers', () => {
  assert.not.ok(isSinkScratchpadSeq(0));
  assert.not.ok(isSinkScratchpadSeq(255));
  assert.ok(isSinkScratchpadSeq(1));
  assert.ok(isSinkScratchpadSeq(254));
  assert.not.ok(isSinkScratchpadSeq(1.5));
  assert.not.ok(isSinkScratchpadSeq(256));
  assert.not.ok(isSinkScratchpadSeq(-1));
});

test('ordinary steps: newer is a few steps ahead, older or equal is not', () => {
  assert.ok(isNewerScratchpadSeq(2, 1));
  assert.ok(isNewerScratchpadSeq(100, 1));
  assert.not.ok(isNewerScratchpadSeq(1, 2));
  assert.not.ok(isNewerScratchpadSeq(5, 5));
});

test('near 254 and 1: the ring wraps, 254 -> 1 is one step forward, 1 -> 254 one step back', () => {
  assert.ok(isNewerScratchpadSeq(1, 254));
  assert.ok(isNewerScratchpadSeq(3, 250));
  assert.not.ok(isNewerScratchpadSeq(254, 1));
  assert.not.ok(isNewerScratchpadSeq(250, 3));
  assert.is(scratchpadSeqDistance(254, 1), 1);
  assert.is(scratchpadSeqDistance(1, 254), 253);
  assert.is(nextScratchpadSeq(254), 1);
  assert.is(nextScratchpadSeq(1), 2);
});

test('the window: up to 126 steps ahead is newer, 127 (half the ring) and beyond is not', () => {
  assert.ok(isNewerScratchpadSeq(127, 1));
  assert.not.ok(isNewerScratchpadSeq(128, 1));
  assert.not.ok(isNewerScratchpadSeq(129, 1));
  // Across the wrap: 200 + 126 steps lands on 72.
  assert.ok(isNewerScratchpadSeq(72, 200));
  assert.not.ok(isNewerScratchpadSeq(73, 200));
});

test('0 and 255: a node at 0 never takes a scratchpad, a node at 255 takes any real one; a candidate of 0 or 255 never replaces', () => {
  for (let s = 1; s <= 254; s++) {
    assert.not.ok(isNewerScratchpadSeq(s, 0), `${s} over 0`);
    assert.ok(isNewerScratchpadSeq(s, 255), `${s} over 255`);
    assert.not.ok(isNewerScratchpadSeq(255, s), `255 over ${s}`);
    assert.not.ok(isNewerScratchpadSeq(0, s), `0 over ${s}`);
  }
  assert.not.ok(isNewerScratchpadSeq(255, 255));
  assert.not.ok(isNewerScratchpadSeq(0, 255));
  assert.is(nextScratchpadSeq(0), 1);
  assert.is(nextScratchpadSeq(255), 1);
});

test('antisymmetric: for real seqs a and b, never both a newer than b and b newer than a; exactly one unless equal or 127 apart', () => {
  for (let a = 1; a <= 254; a++) {
    for (let b = 1; b <= 254; b++) {
      const ab = isNewerScratchpadSeq(a, b);
      const ba = isNewerScratchpadSeq(b, a);
      assert.not.ok(ab && ba, `${a} ${b}`);
      const d = scratchpadSeqDistance(b, a);
      assert.is(ab || ba, !(a === b || d === 127), `${a} ${b}`);
    }
  }
});

test('a chain of next() seqs is always newer than the one before, through any number of wraps', () => {
  let s = 250;
  for (let i = 0; i < 1000; i++) {
    const n = nextScratchpadSeq(s);
    assert.ok(isNewerScratchpadSeq(n, s), `${n} after ${s}`);
    s = n;
  }
});

test.run();

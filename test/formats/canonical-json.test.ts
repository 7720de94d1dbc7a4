// Canonical JSON (RFC 8785 for integers and strings): checked against texts written out by hand
// from the RFC's rules, and against Node's JSON.stringify (whose string escaping is the same
// minimal one since ES2019) of the value with its keys sorted.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { canonicalJson, canonicalJsonBytes } from '../../src/formats/canonical-json';
import { errorCode } from '../helpers';

test('members sorted by UTF-16 code units, no whitespace, undefined members left out', () => {
  assert.is(canonicalJson({ b: 1, a: [true, false, null], c: { z: 'x', y: undefined, '': 0 } }), '{"a":[true,false,null],"b":1,"c":{"":0,"z":"x"}}');
  // RFC 8785 3.2.3: keys compare as UTF-16 code units, so U+20AC < U+1F600 (0xD83D 0xDE00) < U+FB33.
  assert.is(canonicalJson({ '\ufb33': 1, '\ud83d\ude00': 2, '\u20ac': 3, '1': 4, A: 5, a: 6 }), '{"1":4,"A":5,"a":6,"\u20ac":3,"\ud83d\ude00":2,"\ufb33":1}');
  assert.is(canonicalJson([]), '[]');
  assert.is(canonicalJson({}), '{}');
});

test('integers in decimal without exponent; -0 is 0; fractions, NaN, Infinity and unsafe integers refused', () => {
  assert.is(canonicalJson([0, -0, 1, -1, 1e15, 9007199254740991, -9007199254740991]), '[0,0,1,-1,1000000000000000,9007199254740991,-9007199254740991]');
  for (const v of [1.5, NaN, Infinity, -Infinity, 9007199254740992, 1e300]) assert.is(errorCode(() => canonicalJson({ x: v })), 'CANONICAL_JSON_VALUE', String(v));
});

test('strings: only " \\ and control characters escaped (short forms where JSON has them), the rest as UTF-8', () => {
  assert.is(canonicalJson('a"b\\c\u0000\u0008\u0009\u000a\u000c\u000d\u001f\u007f/é€😀'), '"a\\"b\\\\c\\u0000\\b\\t\\n\\f\\r\\u001f\u007f/é€😀"');
  assert.equal([...canonicalJsonBytes('é€😀')], [0x22, 0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98, 0x80, 0x22]);
  assert.is(errorCode(() => canonicalJson('\ud800')), 'CANONICAL_JSON_VALUE');
  assert.is(errorCode(() => canonicalJson('a\udc00b')), 'CANONICAL_JSON_VALUE');
  assert.is(errorCode(() => canonicalJson({ k: '\ud83dx' })), 'CANONICAL_JSON_VALUE');
});

test('equals JSON.stringify with sorted keys on random plan-like values', () => {
  let seed = 7;
  const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff), seed % n);
  const str = () => {
    let s = '';
    const len = rnd(8);
    for (let i = 0; i < len; i++) s += String.fromCharCode([rnd(0x20), 0x20 + rnd(0x60), 0xa0 + rnd(0x700), 0x4e00 + rnd(100)][rnd(4)]);
    return s;
  };
  const value = (depth: number): unknown => {
    const k = depth > 3 ? rnd(4) : rnd(6);
    if (k === 0) return rnd(2000000) - 1000000;
    if (k === 1) return str();
    if (k === 2) return [true, false, null][rnd(3)];
    if (k === 3) return str();
    if (k === 4) return Array.from({ length: rnd(4) }, () => value(depth + 1));
    const o: Record<string, unknown> = {};
    for (let i = rnd(5); i > 0; i--) o[str()] = value(depth + 1);
    return o;
  };
  const sorted = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sorted);
    if (v && typeof v === 'object') {
      const o: Record<string, unknown> = {};
      for (const k of Object.keys(v).sort()) o[k] = sorted((v as Record<string, unknown>)[k]);
      return o;
    }
    return v;
  };
  let checked = 0;
  for (let i = 0; i < 500; i++) {
    const v = { x: value(0) };
    // Integer-like keys ("12") are ordered first by JS objects: build the expected text by hand for those.
    if (JSON.stringify(Object.keys(sorted(v) as object)) !== JSON.stringify(Object.keys(v).sort())) continue;
    const expected = JSON.stringify(sorted(v));
    if (/"\d+":/.test(expected)) continue;
    assert.is(canonicalJson(v), expected);
    assert.equal([...canonicalJsonBytes(v)], [...Buffer.from(expected, 'utf8')]);
    checked++;
  }
  assert.ok(checked > 300, `${checked} values compared`);
});

test('what has no JSON form is refused: functions, typed arrays, dates, undefined in arrays, deep nesting', () => {
  for (const v of [() => 1, new Uint8Array(2), new Date(0), [undefined], Symbol('s')]) assert.is(errorCode(() => canonicalJson({ v })), 'CANONICAL_JSON_VALUE');
  let deep: unknown = 1;
  for (let i = 0; i < 40; i++) deep = [deep];
  assert.is(errorCode(() => canonicalJson(deep)), 'CANONICAL_JSON_VALUE');
});

test.run();

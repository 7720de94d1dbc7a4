import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { compareLooseVersions, parseLooseVersion, highestVersion, isPlainVersion, checkPlainVersion } from '../../src/manifest/loose-version';
import { errorCode } from '../helpers';

// Made by Python 3.11.7's distutils.version.LooseVersion (see test/fixtures/manifest/README.md).
const vectors = JSON.parse(fs.readFileSync(path.join(__dirname, '../fixtures/manifest/loose-version.json'), 'utf8')) as {
  parsed: Record<string, (number | string)[]>;
  compare: [string, string, -1 | 0 | 1 | 'TypeError'][];
};

test('parse: every version splits into the components Python finds', () => {
  for (const [v, components] of Object.entries(vectors.parsed)) assert.equal(parseLooseVersion(v), components, v);
});

test('compare: every pair orders as in Python, and raises where Python raises TypeError', () => {
  assert.ok(vectors.compare.length > 1000);
  for (const [a, b, want] of vectors.compare) {
    if (want === 'TypeError') assert.is(errorCode(() => compareLooseVersions(a, b)), 'VERSION_INCOMPARABLE', `${a} vs ${b}`);
    else assert.is(compareLooseVersions(a, b), want, `${a} vs ${b}`);
  }
});

test('the cases where LooseVersion and semver disagree', () => {
  assert.is(compareLooseVersions('1.0.1b', '1.0.1'), 1); // semver: a pre-release, older
  assert.is(compareLooseVersions('1.10', '1.9'), 1);
  assert.is(compareLooseVersions('1.0', '1.0.0'), -1); // semver: equal
  assert.is(compareLooseVersions('1.00', '1.0'), 0);
});

test('the incomparable error says which versions and which component', () => {
  try {
    compareLooseVersions('abc', '1.0.1');
    assert.unreachable();
  } catch (e) {
    const err = e as { code: string; message: string };
    assert.is(err.code, 'VERSION_INCOMPARABLE');
    assert.match(err.message, /'abc' and '1.0.1'/);
    assert.match(err.message, /component 1/);
  }
});

test('highestVersion picks by LooseVersion, not by string', () => {
  assert.is(highestVersion(['1.9', '1.10', '1.0.1b', '1.0.1']), '1.10');
  assert.is(highestVersion([]), null);
});

test('plain versions: letters, digits, . - + _, starting with a letter or digit', () => {
  for (const ok of ['1.0.0', '1.0.1b', 'abc', '2.0-rc1', '1.0+build_2']) assert.ok(isPlainVersion(ok), ok);
  for (const bad of ['', '..', '../..', '.1', '-1', "1.0'", '1.0\n', '1 0', '1/0', '1\\0', '1.0\0', '1.0é', 'x'.repeat(65), 1 as unknown as string]) {
    assert.not.ok(isPlainVersion(bad), JSON.stringify(bad));
  }
  assert.is(errorCode(() => checkPlainVersion("1'; import os", 'version')), 'VERSION_INVALID');
});

test('a digit run too long for exact comparison is refused, not misordered', () => {
  assert.is(errorCode(() => compareLooseVersions('1.99999999999999999', '1.2')), 'VERSION_INVALID');
});

test.run();

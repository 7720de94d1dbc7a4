import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pythonJsonDumps, type JsonValue } from '../../src/manifest/python-json';
import { errorCode } from '../helpers';

// Python 3.11.7's json.dumps(value, sort_keys=True, indent=4, separators=(',', ': ')).
const vectors = JSON.parse(fs.readFileSync(path.join(__dirname, '../fixtures/manifest/python-json.json'), 'utf8')) as { value: JsonValue; python: string }[];

test('byte for byte what Python writes', () => {
  assert.ok(vectors.length >= 8);
  for (const v of vectors) assert.is(pythonJsonDumps(v.value), v.python);
});

test('floats are refused rather than printed differently from Python', () => {
  assert.is(errorCode(() => pythonJsonDumps({ size: 1.5 })), 'MANIFEST_INVALID');
});

test.run();

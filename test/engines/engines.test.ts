// The engine runs (JerryScript, Duktape, Espruino, QuickJS) take minutes and need the engine sources, which
// stay outside the repository: `npm run test:engines` runs them (and .ci/run does). Here, inside `npm test`,
// only what can be checked without them: the files the runs need are in place. Without the sources the
// engine runs are reported as skipped (uvu's skip), with how to run them; never as passed.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..', '..');

function engineSources(): string | null {
  for (const d of [process.env.OTAFLASH_ENGINES_SRC, resolve(root, '..', 'shared', 'engines')]) {
    if (!d || !existsSync(d)) continue;
    const names = readdirSync(d);
    if (names.some((n) => /^jerryscript-.*\.tar\.gz$/.test(n)) && names.some((n) => /^espruino-.*\.tar\.gz$/.test(n))) return d;
  }
  return null;
}

const FILES = ['build.sh', 'run.sh', 'scenario.js', 'device-tests.js', 'contract-entry.ts', 'jerry-host.c', 'duk-host.c', 'host-sha256.h', 'qjs-run.mjs', 'espruino-board-LINUX_OTA.py'];

test('engine harness files are in the repository and named in its README', () => {
  const readme = readFileSync(join(here, 'README.md'), 'utf8');
  for (const f of FILES) {
    assert.ok(existsSync(join(here, f)), `test/engines/${f} is missing`);
    assert.ok(readme.includes('`' + f + '`'), `test/engines/README.md does not describe ${f}`);
  }
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  assert.match(pkg.scripts['test:engines'] ?? '', /scripts\/test-engines\.mjs/);
});

const src = engineSources();
if (src) {
  console.log(`engine sources found in ${src}: the engine runs are \`npm run test:engines\` (not part of npm test)`);
} else {
  console.log(
    'engine runs skipped: no engine sources at ../shared/engines or OTAFLASH_ENGINES_SRC. ' +
      'To run them: npm run test:engines -- --engines-src DIR (see test/engines/README.md)',
  );
  test.skip('engine runs (JerryScript, Duktape, Espruino, QuickJS): skipped, no engine sources', () => {});
}

test.run();

// Shared by the tests that need dist/ (device bundle in QuickJS, CLI processes): builds once with
// tsup when an output is missing or older than the newest source file, so a test never runs stale code.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';

export const repoRoot = path.resolve(new URL('../../', import.meta.url).pathname);
export const distDir = path.join(repoRoot, 'dist');
export const deviceBundlePath = path.join(distDir, 'device', 'otaflash.js');
export const deviceMinBundlePath = path.join(distDir, 'device', 'otaflash.min.js');
export const cliMainPath = path.join(distDir, 'cli', 'main.js');
/** Every device output scripts/build-device.mjs writes. */
export const deviceDir = path.join(distDir, 'device');
export const deviceAddOns = ['signature', 'delta', 'store', 'scratchpad', 'agent'];
export const deviceOutputs = ['otaflash', 'otaflash-core', ...deviceAddOns.map((a) => `otaflash-${a}`)]
  .flatMap((b) => [`${b}.js`, `${b}.min.js`, `${b}.es5.js`, `${b}.es5.min.js`])
  .concat(['polyfills.es5.js', 'polyfills.es5.min.js'])
  .map((f) => path.join(deviceDir, f));

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestMtime(p));
    else newest = Math.max(newest, fs.statSync(p).mtimeMs);
  }
  return newest;
}

function isFresh(outputs: string[]): boolean {
  const sources = Math.max(
    newestMtime(path.join(repoRoot, 'src')),
    fs.statSync(path.join(repoRoot, 'tsup.config.ts')).mtimeMs,
    fs.statSync(path.join(repoRoot, 'scripts', 'build-device.mjs')).mtimeMs,
    fs.statSync(path.join(repoRoot, 'scripts', 'device-polyfills.es5.js')).mtimeMs,
  );
  return outputs.every((o) => fs.existsSync(o) && fs.statSync(o).mtimeMs >= sources);
}

let built = false;

/**
 * Runs `npx tsup` (which also builds the device bundles, tsup.config.ts onSuccess) unless dist/ is
 * already newer than src/ and the build scripts. Throws with tsup's output on failure.
 */
export function ensureBuilt(): void {
  const outputs = [...deviceOutputs, cliMainPath];
  if (built || isFresh(outputs)) return;
  try {
    execFileSync('npx', ['tsup'], { cwd: repoRoot, stdio: 'pipe', encoding: 'utf8' });
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string };
    // tsup builds every config even when the .d.ts step fails; accept the JS outputs if they exist.
    if (!outputs.every((o) => fs.existsSync(o))) {
      throw new Error(`npx tsup failed:\n${err.stdout ?? ''}\n${err.stderr ?? ''}`);
    }
  }
  built = true;
}

// Suite `server`: the load run is asynchronous (sockets), the suites are not, so it runs in a child
// process (bench/server-load.ts) and its rows come back as JSON.
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchRow } from './lib';

export function serverSuite(): BenchRow[] {
  const here = dirname(fileURLToPath(import.meta.url));
  const out = execFileSync(process.execPath, ['--import', 'tsx', join(here, 'server-load.ts')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 20 });
  return JSON.parse(out) as BenchRow[];
}

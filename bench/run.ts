// npm run bench [suite ...]: runs the benchmark suites, prints one table, writes bench/results/bench.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BenchRow, formatTable } from './lib';
import { suites } from './suites';

const only = process.argv.slice(2);
const rows: BenchRow[] = [];
for (const [name, suite] of Object.entries(suites)) {
  if (only.length > 0 && !only.includes(name)) continue;
  process.stderr.write(`running ${name}...\n`);
  rows.push(...suite());
}
console.log(formatTable(rows));
const out = join(dirname(fileURLToPath(import.meta.url)), 'results', 'bench.json');
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), node: process.version, rows }, null, 2) + '\n');
console.log(`\nwrote ${out}`);

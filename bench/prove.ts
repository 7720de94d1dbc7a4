// `npm run prove`: the full power-loss proof. Every scenario on the realistic layout (ESP-IDF's
// two-OTA table, 4 MiB chip, real images), on ESP-IDF's sixteen-slot table and on a small layout: a
// cut at every flash operation in every fault mode; depth two exhaustive on the small layout and
// seeded samples on the others (and on the small layout with 16-byte program units).
// Prints a table per layout and writes bench/results/prove.json.
//
//   npx tsx bench/prove.ts [--layout esp32-4MB|sixteen-ota|small|small-w16|signed] [--scenario NAME] [--depth2 N] [--chains N] [--seed N]
//   npx tsx bench/prove.ts --replay <id>        re-run one failing case and narrate it
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FAULT_MODES } from '../src/flash/faults';
import { nodeHashes } from '../src/node/hash';
import { parseReplayId, proveScenario, replayCase, type ProveReport, type ProveScenario } from '../src/prove';
import { PROVE_FEATURES, proveScenarios } from '../src/prove';
import { realisticLayout, signedLayout, sixteenSlotLayout, smallLayout, wideWriteLayout } from './prove-layouts';

const HERE = path.dirname(fileURLToPath(import.meta.url));

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return undefined;
  const v = process.argv[i + 1];
  if (v === undefined || v.startsWith('--')) throw new Error(`--${name} needs a value`);
  return v;
}

/** The signed layout runs only the signed scenarios (the others already run on the small layout). */
const SIGNED_ONLY = (l: ReturnType<typeof signedLayout>) => proveScenarios(l, PROVE_FEATURES.filter((f) => f.name === 'signed'));

function allScenarios(): ProveScenario[] {
  return [realisticLayout(), sixteenSlotLayout(), smallLayout(), wideWriteLayout()].reduce((all: ProveScenario[], l) => all.concat(proveScenarios(l)), SIGNED_ONLY(signedLayout()));
}

export function replayCommand(id: string): string {
  return `npx tsx bench/prove.ts --replay ${id}`;
}

function replay(idText: string): number {
  const id = parseReplayId(idText);
  const s = allScenarios().find((x) => x.key === id.key);
  if (!s) {
    process.stderr.write(`no scenario '${id.key}'; known: ${allScenarios().map((x) => x.key).join(', ')}\n`);
    return 2;
  }
  const t = replayCase(s, id, { hashes: nodeHashes });
  process.stdout.write(t.lines.join('\n') + '\n');
  return t.failure ? 1 : 0;
}

function pad(s: string | number, n: number, right = false): string {
  const t = String(s);
  if (t.length >= n) return t;
  const fill = ' '.repeat(n - t.length);
  return right ? fill + t : t + fill;
}

function table(rows: ProveReport[]): string {
  const head = ['scenario', 'operations', 'cut points', 'modes', 'depth-2 cuts', 'chains (cuts)', 'reboots', 'failures', 'time'];
  const widths = [22, 10, 10, 5, 12, 13, 8, 8, 8];
  const line = (cells: (string | number)[]) => cells.map((c, i) => pad(c, widths[i], i > 0)).join('  ');
  const out = [line(head), widths.map((w) => '-'.repeat(w)).join('  ')];
  for (const r of rows) out.push(line([r.name, r.operations, r.cutPoints, r.faultModes, r.depth2Cuts, `${r.chains} (${r.chainCuts})`, r.reboots, r.failures, `${(r.ms / 1000).toFixed(1)} s`]));
  return out.join('\n');
}

function main(): number {
  const replayId = arg('replay');
  if (replayId) return replay(replayId);
  const onlyLayout = arg('layout');
  const onlyScenario = arg('scenario');
  const seed = Number(arg('seed') ?? 1);
  const samples = Number(arg('depth2') ?? 300);
  const chains = Number(arg('chains') ?? 200);
  const out = arg('json') ?? path.join(HERE, 'results', 'prove.json');

  const layouts = [
    { layout: realisticLayout(), depth2: samples as number | 'all', untouchedEvery: 8 },
    { layout: sixteenSlotLayout(), depth2: samples as number | 'all', untouchedEvery: 8 },
    { layout: smallLayout(), depth2: 'all' as const, untouchedEvery: 1 },
    { layout: wideWriteLayout(), depth2: samples as number | 'all', untouchedEvery: 1 },
    { layout: signedLayout(), depth2: 'all' as const, untouchedEvery: 1 },
  ].filter((l) => !onlyLayout || l.layout.name === onlyLayout);
  const reports: ProveReport[] = [];
  const t0 = performance.now();
  for (const l of layouts) {
    const rows: ProveReport[] = [];
    process.stdout.write(`\n## ${l.layout.name}: depth two ${l.depth2 === 'all' ? 'exhaustive' : `${l.depth2} seeded samples per scenario`}, ${chains} chains of up to 5 cuts, seed ${seed}\n`);
    for (const s of l.layout.name === 'signed' ? SIGNED_ONLY(l.layout) : proveScenarios(l.layout)) {
      if (onlyScenario && s.name !== onlyScenario) continue;
      const r = proveScenario(s, { hashes: nodeHashes, seed, depth2: l.depth2, chains, now: () => performance.now(), untouchedEvery: l.untouchedEvery });
      rows.push(r);
      reports.push(r);
      process.stdout.write(`${s.key}: ${r.failures === 0 ? 'ok' : `${r.failures} FAILURES`} (${r.cutPoints} cuts, ${r.depth2Cuts} depth-2 cuts, ${r.chainCuts} chain cuts, ${(r.ms / 1000).toFixed(1)} s)\n`);
    }
    process.stdout.write('\n' + table(rows) + '\n');
  }
  const failures = reports.reduce((a, r) => a + r.failures, 0);
  const shown = reports.filter((r) => r.failures > 0);
  if (shown.length > 0) {
    process.stdout.write('\nfailures (first few per scenario; replay one with the command shown):\n');
    for (const r of shown) {
      process.stdout.write(`${r.scenario}: ${Object.keys(r.rules).map((k) => `${k} x${r.rules[k]}`).join(', ')}\n`);
      for (const f of r.kept.slice(0, 3)) process.stdout.write(`  ${f.rule}: ${f.message}\n    ${replayCommand(f.id)}\n`);
    }
  }
  const totals = {
    scenarios: reports.length,
    cutPoints: reports.reduce((a, r) => a + r.cutPoints, 0),
    depth2Cuts: reports.reduce((a, r) => a + r.depth2Cuts, 0),
    chains: reports.reduce((a, r) => a + r.chains, 0),
    chainCuts: reports.reduce((a, r) => a + r.chainCuts, 0),
    reboots: reports.reduce((a, r) => a + r.reboots, 0),
    failures,
    seconds: Math.round((performance.now() - t0) / 100) / 10,
  };
  process.stdout.write(`\n${totals.scenarios} scenarios, ${totals.cutPoints} single cuts, ${totals.depth2Cuts} depth-2 cuts, ${totals.chains} chains with ${totals.chainCuts} cuts, ${totals.reboots} simulated boots, ${failures} failures, ${totals.seconds} s\n`);
  const json = {
    generated: new Date().toISOString(),
    node: process.version,
    seed,
    faultModes: FAULT_MODES,
    totals,
    scenarios: reports.map((r) => ({
      scenario: r.scenario,
      layout: r.layout,
      summary: r.summary,
      rollback: r.rollback,
      operations: r.operations,
      cutPoints: r.cutPoints,
      faultModes: r.faultModes,
      depth2Cuts: r.depth2Cuts,
      chains: r.chains,
      chainCuts: r.chainCuts,
      reboots: r.reboots,
      failures: r.failures,
      rules: r.rules,
      seconds: Math.round(r.ms) / 1000,
      failureSamples: r.kept.slice(0, 10).map((f) => ({ id: f.id, rule: f.rule, message: f.message, replay: replayCommand(f.id) })),
    })),
  };
  if (!onlyLayout && !onlyScenario) {
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, JSON.stringify(json, null, 1) + '\n');
    process.stdout.write(`wrote ${path.relative(process.cwd(), out)}\n`);
  }
  return failures === 0 ? 0 : 1;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) process.exitCode = main();

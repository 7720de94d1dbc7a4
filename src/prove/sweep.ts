/**
 * The power-loss proof harness: runs an update flow on a MemoryFlash, then cuts the power at every
 * write/erase operation of it in every fault mode (whole-operation cuts before and after, torn
 * programs, interrupted erases), reboots through the bootloader model and checks invariants at every
 * boot, lets the engine recover, and checks the state it reaches. Depth two cuts again during that
 * recovery. MCUboot's simulator (cuts before whole operations) and littlefs's runner (cuts after
 * whole operations, copy-on-write snapshots for exhaustive depth) are the models; torn operations
 * are what both of them miss.
 *
 * Portable core: no Node APIs, synchronous; the clock is injected (`now`) for reports only.
 *
 * Why snapshots: a flow is deterministic, so the flash before operation k of a cut run equals the
 * flash before operation k of the clean run. The clean run snapshots the device before every
 * operation (copy-on-write, one sector per program) and records the operation itself; a cut at k is
 * then "restore snapshot k, replay operation k through FaultyFlash with the cut". Nothing in RAM
 * survives a power cut, so not re-running the flow's code up to k loses nothing.
 */
import { OtaflashError, PowerLossError, hex } from '../errors';
import { FAULT_MODES, FaultyFlash, type FaultMode } from '../flash/faults';
import type { MemoryFlash, FlashSnapshot } from '../flash/memory';
import { randomBelow, seededRandom } from '../flash/rng';
import type { BlockDevice } from '../flash/types';
import type { HashProvider } from '../hash/types';
import { isOtaEntryValid, otaStateName, readOtadata } from '../formats/otadata';
import { findPartition, otadataPartition, partitionRegion } from '../formats/partition-lookup';
import { decideBoot, type BootDecision } from '../ota/bootloader';
import { ProveDevice, ProveViolation, ProveWorld, equalBytes, type ProveContext, type ProveEvent, type ProveScenario, type RecordedOp } from './world';

export { ProveViolation, ProveWorld, type ProveContext, type ProveEvent, type ProveGoal, type ProveImage, type ProveScenario, type ProveSetup } from './world';

// ---------------------------------------------------------------------------------------------
// Sweeps

export interface ProveOptions {
  hashes?: HashProvider;
  /** Fault modes to try at each cut point (default all five). */
  modes?: readonly FaultMode[];
  /** Seeds torn programs and interrupted erases. Default 1. */
  seed?: number;
  /** Depth two: 'none' (default), 'all' (every cut of every recovery), or a total number of seeded (k, mode, k2, mode2) samples. */
  depth2?: 'none' | 'all' | number;
  /**
   * Random cut chains (MCUboot's perm_with_random_fails): a cut in the flow, then up to
   * `chainDepth - 1` more cuts, each at a random operation of the recovery that follows the last,
   * then a clean recovery. Default 0.
   */
  chains?: number;
  /** Cuts per chain, at most (default 5). */
  chainDepth?: number;
  /** Keep at most this many failures in the report (all are counted). Default 50. */
  keepFailures?: number;
  /** Clock for the report's time (ms); default none (time 0). */
  now?: () => number;
  /** Cut only at the operations k (of n) this returns true for (default all): CI's bounded sweep. */
  pick?: (k: number, n: number) => boolean;
  /**
   * Compare the whole device against the setup after every n-th recovery (default 1: all). Every
   * operation is fenced to the writable partitions anyway, so this is the belt to that brace; on a
   * 4 MiB device a full compare costs more than the recovery.
   */
  untouchedEvery?: number;
}

export interface ProveFailure {
  /** Replay id: `scenario@layout:k:mode:seed[:k2:mode2[:k3:mode3...]]`. */
  readonly id: string;
  readonly scenario: string;
  readonly k: number;
  readonly mode: FaultMode | 'none';
  readonly seed: number;
  readonly k2?: number;
  readonly mode2?: FaultMode;
  /** Cuts three and on (chains), each counted from the start of its recovery. */
  readonly later?: readonly (readonly [number, FaultMode])[];
  readonly rule: string;
  readonly message: string;
}

export interface ProveReport {
  readonly scenario: string;
  readonly name: string;
  readonly layout: string;
  readonly summary: string;
  readonly rollback: boolean;
  /** Flash operations (writes + erases) of the clean flow. */
  operations: number;
  /** Single cuts tried: operations x modes. */
  cutPoints: number;
  faultModes: number;
  /** Second cuts tried during recoveries. */
  depth2Cuts: number;
  /** Random cut chains run, and the cuts they made in all. */
  chains: number;
  chainCuts: number;
  /** Simulated boots, all branches together. */
  reboots: number;
  failures: number;
  /** Failures by rule. */
  rules: { [rule: string]: number };
  kept: ProveFailure[];
  ms: number;
}

export function formatReplayId(key: string, k: number, mode: FaultMode | 'none', seed: number, k2?: number, mode2?: FaultMode, later?: readonly (readonly [number, FaultMode])[]): string {
  let id = `${key}:${k}:${mode}:${seed}`;
  if (k2 !== undefined && mode2 !== undefined) {
    id += `:${k2}:${mode2}`;
    if (later) for (let i = 0; i < later.length; i++) id += `:${later[i][0]}:${later[i][1]}`;
  }
  return id;
}

export interface ReplayId {
  key: string;
  k: number;
  mode: FaultMode | 'none';
  seed: number;
  k2?: number;
  mode2?: FaultMode;
  later?: [number, FaultMode][];
}

export function parseReplayId(id: string): ReplayId {
  const parts = id.split(':');
  const bad = (why: string) => new OtaflashError('PROVE_BAD_REPLAY_ID', `replay id '${id}': ${why} (expected scenario@layout:k:mode:seed[:k2:mode2[:k3:mode3...]])`);
  if (parts.length < 4 || parts.length % 2 !== 0) throw bad(`${parts.length} fields`);
  const num = (s: string, what: string) => {
    if (!/^[0-9]+$/.test(s)) throw bad(`${what} '${s}' is not a number`);
    return parseInt(s, 10);
  };
  const mode = (s: string): FaultMode => {
    if (FAULT_MODES.indexOf(s as FaultMode) < 0) throw bad(`unknown fault mode '${s}'`);
    return s as FaultMode;
  };
  const r: ReplayId = { key: parts[0], k: num(parts[1], 'k'), mode: parts[2] === 'none' ? 'none' : mode(parts[2]), seed: num(parts[3], 'seed') };
  if (parts.length >= 6) {
    r.k2 = num(parts[4], 'k2');
    r.mode2 = mode(parts[5]);
  }
  for (let i = 6; i < parts.length; i += 2) {
    if (!r.later) r.later = [];
    r.later.push([num(parts[i], `k${i / 2 - 1}`), mode(parts[i + 1])]);
  }
  return r;
}

/** Everything one scenario run shares. */
class Runner {
  readonly ctx: ProveContext;
  readonly mem: MemoryFlash;
  readonly start: FlashSnapshot;
  readonly initialBytes: Uint8Array;
  readonly fence: [number, number, string][];
  readonly initialBoot: BootDecision;

  constructor(
    readonly scenario: ProveScenario,
    readonly opts: ProveOptions,
  ) {
    const s = scenario.setup();
    this.mem = s.device;
    this.start = this.mem.snapshot();
    this.initialBytes = this.mem.bytes.slice();
    this.fence = [];
    for (let i = 0; i < s.writable.length; i++) {
      const p = findPartition(s.table, s.writable[i]);
      if (!p) throw new OtaflashError('PROVE_BAD_SCENARIO', `${scenario.key}: writable partition '${s.writable[i]}' is not in the table`);
      this.fence.push([p.offset, p.offset + p.size, p.label]);
    }
    const hashes = opts.hashes;
    const od = otadataPartition(s.table);
    let hadValid = false;
    if (od) {
      const e = readOtadata(partitionRegion(this.mem, od));
      hadValid = isOtaEntryValid(e[0], hashes) || isOtaEntryValid(e[1], hashes);
    }
    this.ctx = { scenario, table: s.table, images: s.images, initialSlots: s.slots, hashes, setupHadValidEntry: hadValid, reboots: 0 };
    // The app that runs when the flow starts: the setup is a device that has booted already.
    this.initialBoot = decideBoot(this.mem, s.table, { rollback: scenario.rollback, hashes, chip: scenario.chip, trust: scenario.trust });
  }

  device(target: BlockDevice, base: number): ProveDevice {
    return new ProveDevice(this.mem, target, this.fence, base);
  }

  /** Restores the setup and runs the flow (optionally through a fault); returns the events and the device. */
  runFlow(target: BlockDevice | null, record: boolean): { world: ProveWorld; dev: ProveDevice; error: unknown } {
    this.mem.restore(this.start);
    const dev = this.device(target ?? this.mem, 0);
    if (record) dev.recording = { ops: [], snaps: [] };
    const world = new ProveWorld(this.ctx, dev, [], this.initialBoot);
    let error: unknown = null;
    try {
      this.scenario.run(world);
    } catch (e) {
      error = e;
    }
    return { world, dev, error };
  }

  /** Reboot after a cut, recover, check the goal. Throws ProveViolation (or PowerLossError when `target` cuts). */
  recover(target: BlockDevice, base: number, history: readonly ProveEvent[], dev?: ProveDevice): ProveWorld {
    const d = dev ?? this.device(target, base);
    const world = new ProveWorld(this.ctx, d, history, null);
    world.reboot();
    try {
      this.scenario.recover(world);
    } catch (e) {
      if (e instanceof ProveViolation || e instanceof PowerLossError) throw e;
      throw new ProveViolation('recovery-failed', `the engine could not finish after the cut: ${errorText(e)}`);
    }
    return world;
  }

  /** The intended final state, read without writing. */
  checkGoal(world: ProveWorld, compareAll = true): void {
    const goal = this.scenario.goal;
    const d = decideBoot(this.mem, this.ctx.table, world.bootOptions());
    const img = d.boot ? world.identify(d.boot, world.events) : null;
    if (img !== goal.image) throw new ProveViolation('goal', `after recovery the next boot runs ${img ?? 'nothing'} (${d.label ?? '-'}), not ${goal.image}: ${d.reason}`);
    if (goal.state !== undefined && d.activeStateAfterBoot !== goal.state) {
      throw new ProveViolation('goal', `after recovery ${goal.image} boots with state ${d.activeStateAfterBoot === null ? 'none' : otaStateName(d.activeStateAfterBoot)}, not ${otaStateName(goal.state)}`);
    }
    const pending = world.engine().pendingUpdate();
    if (pending) throw new ProveViolation('goal', `after recovery an update of ${pending.partition.label} is still recorded as unfinished`);
    if (this.scenario.check) this.scenario.check(world);
    if (compareAll) this.checkUntouched();
  }

  /** Nothing outside the writable partitions changed since the setup. */
  checkUntouched(): void {
    const a = this.mem.bytes;
    const b = this.initialBytes;
    const f = this.fence.slice().sort((x, y) => x[0] - y[0]);
    let at = 0;
    for (let i = 0; i <= f.length; i++) {
      const end = i < f.length ? f[i][0] : a.length;
      if (end > at && !equalBytes(a, at, b, at, end - at)) {
        let j = at;
        while (a[j] === b[j]) j++;
        throw new ProveViolation('outside-changed', `byte ${hex(j)}, outside every writable partition, changed from ${hex(b[j])} to ${hex(a[j])}`);
      }
      if (i < f.length) at = Math.max(at, f[i][1]);
    }
  }
}

function errorText(e: unknown): string {
  if (e instanceof OtaflashError) return `${e.code}: ${e.message}`;
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

function cutOp(mem: MemoryFlash, op: RecordedOp, k: number, mode: FaultMode, seed: number): void {
  const f = new FaultyFlash(mem, { cutAt: k, mode, seed });
  // Number this call k, so the torn bytes are those a live run cut at k would produce.
  f.operations = k;
  try {
    if (op.kind === 'write') f.write(op.offset, op.data as Uint8Array);
    else f.erase(op.offset, op.length);
  } catch (e) {
    if (!(e instanceof PowerLossError)) throw e;
    return;
  }
  throw new OtaflashError('PROVE_INTERNAL', `operation ${k} did not cut`);
}

/** Runs the whole proof of one scenario: clean run, every single cut, and depth two as asked. */
export function proveScenario(scenario: ProveScenario, opts: ProveOptions = {}): ProveReport {
  const now = opts.now ?? (() => 0);
  const t0 = now();
  const modes = opts.modes ?? FAULT_MODES;
  const seed = (opts.seed ?? 1) >>> 0;
  const keep = opts.keepFailures ?? 50;
  const every = Math.max(1, opts.untouchedEvery ?? 1);
  const r = new Runner(scenario, opts);
  const report: ProveReport = {
    scenario: scenario.key, name: scenario.name, layout: scenario.layout, summary: scenario.summary, rollback: scenario.rollback,
    operations: 0, cutPoints: 0, faultModes: modes.length, depth2Cuts: 0, chains: 0, chainCuts: 0, reboots: 0, failures: 0, rules: {}, kept: [], ms: 0,
  };
  const fail = (k: number, mode: FaultMode | 'none', e: unknown, k2?: number, mode2?: FaultMode, later?: [number, FaultMode][]) => {
    const rule = e instanceof ProveViolation ? e.rule : 'crash';
    report.failures++;
    report.rules[rule] = (report.rules[rule] ?? 0) + 1;
    if (report.kept.length < keep) {
      const f: ProveFailure = { id: formatReplayId(scenario.key, k, mode, seed, k2, mode2, later), scenario: scenario.key, k, mode, seed, rule, message: e instanceof ProveViolation ? e.detail : errorText(e) };
      if (k2 !== undefined) {
        (f as { k2?: number }).k2 = k2;
        (f as { mode2?: FaultMode }).mode2 = mode2;
      }
      if (later && later.length > 0) (f as { later?: [number, FaultMode][] }).later = later;
      report.kept.push(f);
    }
  };
  const finish = () => {
    report.reboots = r.ctx.reboots;
    report.ms = now() - t0;
    return report;
  };

  // 1. The clean run, recorded.
  const clean = r.runFlow(null, true);
  const rec = clean.dev.recording!;
  report.operations = clean.dev.ops;
  try {
    if (clean.error) throw clean.error instanceof ProveViolation ? clean.error : new ProveViolation('clean-run', `the flow fails without any cut: ${errorText(clean.error)}`);
    r.checkGoal(clean.world);
  } catch (e) {
    fail(0, 'none', e);
    return finish();
  }
  const flowEvents = clean.world.events;

  // Depth two samples are drawn up front so the choice depends on the seed only.
  const n = rec.ops.length;
  const sampled: { [key: string]: number } = {};
  const sampleAll = opts.depth2 === 'all';
  if (typeof opts.depth2 === 'number' && opts.depth2 > 0 && n > 0) {
    const rand = seededRandom(seed ^ 0x5eed2);
    for (let i = 0; i < opts.depth2; i++) {
      const key = `${randomBelow(rand, n)}:${modes[randomBelow(rand, modes.length)]}`;
      sampled[key] = (sampled[key] ?? 0) + 1;
    }
  }

  // 2. Every single cut.
  const pick = opts.pick ?? null;
  for (let k = 0; k < n; k++) {
    if (pick && !pick(k, n)) continue;
    const history = flowEvents.filter((e) => e.at <= k);
    for (let m = 0; m < modes.length; m++) {
      const mode = modes[m];
      report.cutPoints++;
      r.mem.restore(rec.snaps[k]);
      cutOp(r.mem, rec.ops[k], k, mode, seed);
      const depth2 = sampleAll ? -1 : sampled[`${k}:${mode}`] ?? 0;
      const dev = r.device(r.mem, k + 1);
      if (depth2 !== 0) dev.recording = { ops: [], snaps: [] };
      let world: ProveWorld;
      try {
        world = r.recover(r.mem, k + 1, history, dev);
        r.checkGoal(world, report.cutPoints % every === 0);
      } catch (e) {
        fail(k, mode, e);
        continue;
      }
      if (depth2 === 0) continue;
      // 3. Depth two: cut again during this recovery.
      const rrec = dev.recording!;
      const events2 = world.events;
      const n2 = rrec.ops.length;
      const picks: [number, FaultMode][] = [];
      if (depth2 < 0) {
        for (let k2 = 0; k2 < n2; k2++) for (let m2 = 0; m2 < modes.length; m2++) picks.push([k2, modes[m2]]);
      } else if (n2 > 0) {
        const rand = seededRandom((seed ^ Math.imul(k + 1, 0x9e3779b1) ^ m) >>> 0);
        for (let i = 0; i < depth2; i++) picks.push([randomBelow(rand, n2), modes[randomBelow(rand, modes.length)]]);
      }
      for (let i = 0; i < picks.length; i++) {
        const k2 = picks[i][0];
        const mode2 = picks[i][1];
        report.depth2Cuts++;
        const base = k + 1;
        r.mem.restore(rrec.snaps[k2]);
        // Numbered within the recovery, as a live replay's second FaultyFlash counts them.
        cutOp(r.mem, rrec.ops[k2], k2, mode2, seed);
        const h2 = events2.filter((e) => e.at <= base + k2);
        try {
          const w2 = r.recover(r.mem, base + k2 + 1, h2);
          r.checkGoal(w2, report.depth2Cuts % every === 0);
        } catch (e) {
          fail(k, mode, e, k2, mode2);
        }
      }
    }
  }
  // 4. Random chains of cuts.
  const chains = opts.chains ?? 0;
  const depth = Math.max(2, opts.chainDepth ?? 5);
  for (let c = 0; c < chains && n > 0; c++) {
    const rand = seededRandom((seed ^ 0xc4a1 ^ Math.imul(c + 1, 0x85ebca6b)) >>> 0);
    const k = randomBelow(rand, n);
    const mode = modes[randomBelow(rand, modes.length)];
    report.chains++;
    report.chainCuts++;
    r.mem.restore(rec.snaps[k]);
    cutOp(r.mem, rec.ops[k], k, mode, seed);
    let history: ProveEvent[] = flowEvents.filter((e) => e.at <= k);
    let base = k + 1;
    const cutsSoFar: [number, FaultMode][] = [];
    let done = false;
    try {
      for (let d = 1; d < depth && !done; d++) {
        // A random point early in the recovery (MCUboot draws from the first half of what remains).
        const k2 = randomBelow(rand, Math.max(1, Math.ceil(n / 2)));
        const mode2 = modes[randomBelow(rand, modes.length)];
        const f = new FaultyFlash(r.mem, { cutAt: k2, mode: mode2, seed });
        const dev = r.device(f, base);
        const w = new ProveWorld(r.ctx, dev, history, null);
        let err: unknown = null;
        try {
          w.reboot();
          scenario.recover(w);
        } catch (e) {
          err = e;
        }
        if (err instanceof PowerLossError) {
          cutsSoFar.push([k2, mode2]);
          report.chainCuts++;
          history = w.events;
          base = dev.ops + 1;
          continue;
        }
        if (err) {
          cutsSoFar.push([k2, mode2]);
          throw err instanceof ProveViolation ? err : new ProveViolation('recovery-failed', `the engine could not finish after the cut: ${errorText(err)}`);
        }
        // The recovery finished before the drawn cut: the chain ends here, checked like any other.
        r.checkGoal(w, report.chains % every === 0);
        done = true;
      }
      if (!done) r.checkGoal(r.recover(r.mem, base, history), report.chains % every === 0);
    } catch (e) {
      const first = cutsSoFar.length > 0 ? cutsSoFar[0] : null;
      fail(k, mode, e, first ? first[0] : undefined, first ? first[1] : undefined, cutsSoFar.slice(1));
    }
  }
  return finish();
}

export interface ReplayTrace {
  readonly id: string;
  /** Flash operations of the clean flow. */
  readonly operations: number;
  readonly lines: string[];
  /** null when every invariant held. */
  readonly failure: ProveFailure | null;
}

/**
 * Re-runs one case live (the flow itself runs into the cut, no snapshots) and narrates it: the
 * fault, every boot with the bootloader's reasoning, the outcome. What a failing id is for.
 */
export function replayCase(scenario: ProveScenario, id: ReplayId, opts: { hashes?: HashProvider } = {}): ReplayTrace {
  const r = new Runner(scenario, { hashes: opts.hashes });
  const full = formatReplayId(scenario.key, id.k, id.mode, id.seed, id.k2, id.mode2, id.later);
  const lines: string[] = [];
  const clean = r.runFlow(null, false);
  const operations = clean.dev.ops;
  lines.push(`${scenario.key}: ${scenario.summary}`);
  lines.push(`clean flow: ${operations} flash operations${clean.error ? `, FAILS: ${errorText(clean.error)}` : ''}`);
  const describe = (w: ProveWorld, from: number) => {
    for (let i = from; i < w.events.length; i++) {
      const e = w.events[i];
      if (e.kind === 'boot') lines.push(`  op ${e.at}: boot ${e.slot} = ${e.image}${e.state === null || e.state === undefined ? '' : ` (${otaStateName(e.state)})`}${e.initialWrite ? ', bootloader wrote initial otadata' : ''}`);
      else lines.push(`  op ${e.at}: ${e.kind} ${e.image}${e.slot ? ` into ${e.slot}` : ''}`);
    }
  };
  let failure: ProveFailure | null = null;
  const fail = (e: unknown) => {
    failure = { id: full, scenario: scenario.key, k: id.k, mode: id.mode, seed: id.seed, k2: id.k2, mode2: id.mode2, later: id.later, rule: e instanceof ProveViolation ? e.rule : 'crash', message: e instanceof ProveViolation ? e.detail : errorText(e) };
    lines.push(`FAIL ${failure.rule}: ${failure.message}`);
  };
  if (id.mode === 'none') {
    try {
      if (clean.error) throw clean.error;
      r.checkGoal(clean.world);
      lines.push('clean run reaches the goal');
    } catch (e) {
      fail(e);
    }
    return { id: full, operations, lines, failure };
  }
  const f1 = new FaultyFlash(r.mem, { cutAt: id.k, mode: id.mode, seed: id.seed });
  const run = r.runFlow(f1, false);
  describe(run.world, 0);
  if (!(run.error instanceof PowerLossError)) {
    fail(run.error ?? new ProveViolation('replay', `the flow has no operation ${id.k} (it made ${run.dev.ops})`));
    return { id: full, operations, lines, failure };
  }
  lines.push(`  CUT ${run.error.message}`);
  const history = run.world.events;
  let base = run.dev.ops + 1;
  try {
    const recoveryCuts: [number, FaultMode][] = [];
    if (id.k2 !== undefined && id.mode2 !== undefined) recoveryCuts.push([id.k2, id.mode2]);
    if (id.later) for (let i = 0; i < id.later.length; i++) recoveryCuts.push(id.later[i]);
    let events: readonly ProveEvent[] = history;
    for (let c = 0; c < recoveryCuts.length; c++) {
      const f2 = new FaultyFlash(r.mem, { cutAt: recoveryCuts[c][0], mode: recoveryCuts[c][1], seed: id.seed });
      const dev2 = r.device(f2, base);
      const w2 = new ProveWorld(r.ctx, dev2, events, null);
      lines.push(`recovery (to be cut at its operation ${recoveryCuts[c][0]}):`);
      let err: unknown = null;
      try {
        w2.reboot();
        scenario.recover(w2);
      } catch (e) {
        err = e;
      }
      describe(w2, events.length);
      if (!(err instanceof PowerLossError)) {
        if (err) throw err instanceof ProveViolation ? err : new ProveViolation('recovery-failed', errorText(err));
        throw new ProveViolation('replay', `the recovery has no operation ${recoveryCuts[c][0]}`);
      }
      lines.push(`  CUT ${err.message}`);
      base = dev2.ops + 1;
      events = w2.events;
    }
    const w3 = r.recover(r.mem, base, events);
    lines.push('recovery:');
    describe(w3, events.length);
    r.checkGoal(w3);
    lines.push(`goal reached: ${scenario.goal.image}${scenario.goal.state !== undefined ? ` ${otaStateName(scenario.goal.state)}` : ''}; nothing outside ${r.fence.map((x) => x[2]).join(', ')} changed`);
  } catch (e) {
    fail(e);
  }
  return { id: full, operations, lines, failure };
}

/**
 * The device bytes right after a cut at operation k, reached either by running the flow into a
 * live FaultyFlash or by the sweep's shortcut (restore the snapshot before k, replay operation k
 * cut). The two must agree byte for byte: that is what makes the shortcut sound.
 */
export function deviceAfterCut(scenario: ProveScenario, k: number, mode: FaultMode, seed: number, how: 'live' | 'snapshot', opts: { hashes?: HashProvider } = {}): Uint8Array {
  const r = new Runner(scenario, { hashes: opts.hashes });
  if (how === 'live') {
    const run = r.runFlow(new FaultyFlash(r.mem, { cutAt: k, mode, seed }), false);
    if (!(run.error instanceof PowerLossError)) throw new OtaflashError('PROVE_BAD_CUT', `the flow of ${scenario.key} has no operation ${k}`);
  } else {
    const rec = r.runFlow(null, true).dev.recording!;
    if (k >= rec.ops.length) throw new OtaflashError('PROVE_BAD_CUT', `the flow of ${scenario.key} has no operation ${k}`);
    r.mem.restore(rec.snaps[k]);
    cutOp(r.mem, rec.ops[k], k, mode, seed);
  }
  return r.mem.bytes.slice();
}

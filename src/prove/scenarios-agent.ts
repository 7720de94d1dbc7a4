/**
 * The update agent's power-loss scenario: the agent takes a one-component plan from a service (an
 * in-process function here), downloads through the OTA engine, switches, reboots, confirms after
 * its self-test and reports. Its own record (in the nvs partition) and the engine's writes are cut
 * at every operation like every other flow; after each cut the device boots, a new agent starts
 * from its record, and the goal is the new app confirmed with the agent idle again.
 */
import { OTA_STATE } from '../formats/otadata';
import { partitionRegion } from '../formats/partition-lookup';
import { PARTITION_TYPE_DATA, type Partition } from '../formats/partition-types';
import { UpdateAgent } from '../agent/agent';
import { otaModuleInstaller } from '../agent/ota-installer';
import { readAgentRecord } from '../agent/record';
import type { AgentEvent, AgentMessage, ComponentInstaller, Plan, ServiceMessage } from '../agent/types';
import { MAX_ROUNDS, baseDevice, chunkOf, scenario, slotsOf, writableOf, type ProveLayout } from './ota-flows';
import { ProveViolation, type ProveScenario, type ProveWorld } from './world';
import { toHex } from '../formats/bytes';

const VERSION: { [image: string]: string } = { old: '1.0', new: '2.0', third: '3.0' };
const NVS_SUBTYPE = 2;

/** The installer the agent uses, with the marks the boot invariants rely on around each engine step. */
function markedInstaller(w: ProveWorld): ComponentInstaller {
  const inner = otaModuleInstaller({ engine: () => w.engine(), hashes: w.ctx.hashes });
  return {
    resumeOffset: (c) => inner.resumeOffset(c),
    begin(c, from) {
      if (from === 0) w.mark('write-start', 'new', w.engine().nextUpdatePartition().label);
      inner.begin(c, from);
    },
    write: (c, b) => inner.write(c, b),
    finish: (c) => inner.finish(c),
    activate(c) {
      w.mark('select-start', 'new');
      inner.activate(c);
      w.mark('select-done', 'new');
    },
    confirm(c) {
      const name = w.running as string;
      w.mark('confirm-start', name);
      inner.confirm(c);
      w.mark('confirm-done', name);
    },
    rollback: (c) => inner.rollback(c),
    abort: (c) => inner.abort(c),
  };
}

/**
 * Runs the agent on the world until it has nothing left to do: answers its messages as the service
 * would, delivers downloads in the layout's chunk size, and carries out its reboots (a new agent
 * starts from the record after each, as firmware does).
 */
function drive(w: ProveWorld, layout: ProveLayout, nvs: Partition, plan: Plan, first: AgentEvent[]): UpdateAgent {
  const pkg = layout.images.new;
  const chunk = chunkOf(layout);
  const make = () =>
    new UpdateAgent({ deviceId: 'prove', installers: { module: markedInstaller(w) }, recordRegion: partitionRegion(w.device, nvs), progressPercent: 50 });
  const serve = (m: AgentMessage): ServiceMessage => {
    if (m.type === 'check') return m.versions.app === '1.0' ? { type: 'plan', plan } : { type: 'none' };
    if (m.type === 'confirm' && m.accept) return { type: 'urls', urls: { app: 'pkg' } };
    return { type: 'ack' };
  };
  let agent = make();
  const now = 0;
  const start: AgentEvent = { type: 'start', now, versions: { app: VERSION[w.running as string] }, selfTestPassed: true };
  let queue: AgentEvent[] = [start];
  for (let i = 0; i < first.length; i++) queue.push(first[i]);
  for (let steps = 0; queue.length > 0; steps++) {
    if (steps > 100000) throw new ProveViolation('no-progress', 'the agent did not settle');
    const ev = queue.shift() as AgentEvent;
    const acts = agent.handle(ev);
    for (let i = 0; i < acts.length; i++) {
      const a = acts[i];
      if (a.type === 'send') queue.push({ type: 'response', now, id: a.id, message: serve(a.message) });
      else if (a.type === 'fetch') {
        for (let at = a.from; at < pkg.length; at += chunk) queue.push({ type: 'data', now, id: a.id, bytes: pkg.subarray(at, Math.min(at + chunk, pkg.length)) });
        queue.push({ type: 'fetch-done', now, id: a.id });
      } else if (a.type === 'reboot') {
        w.reboot();
        agent = make();
        queue = [{ type: 'start', now, versions: { app: VERSION[w.running as string] }, selfTestPassed: true }];
        break;
      }
    }
  }
  return agent;
}

export function agentScenarios(layout: ProveLayout): ProveScenario[] {
  const slots = slotsOf(layout);
  const nvs = layout.table.partitions.filter((p) => p.type === PARTITION_TYPE_DATA && p.subtype === NVS_SUBTYPE)[0];
  const eraseSize = layout.eraseSize ?? 4096;
  // The agent record needs two erase sectors of its own; layouts without a spare nvs do not host it.
  if (!nvs || nvs.size < 2 * eraseSize || slots.length < 2) return [];
  const h = layout.hashes;
  const sha = h ? toHex(h.sha256().update(layout.images.new).digest()) : '';
  if (!h) return [];
  const plan: Plan = {
    id: 'prove-plan',
    components: [{ id: 'app', kind: 'module', source: '1.0', target: '2.0', package: { kind: 'full', size: layout.images.new.length, sha256: sha } }],
    strategy: { mode: 'silent' },
  };
  const recordIdle = (w: ProveWorld) => {
    const r = readAgentRecord(partitionRegion(w.device, nvs));
    if (!r) throw new ProveViolation('agent-record', 'no readable agent record');
    const phase = (r.payload as { phase: string }).phase;
    if (phase !== 'idle') throw new ProveViolation('agent-record', `the agent record says ${phase}, not idle, once the update is done`);
  };
  const s = scenario(
    layout,
    'agent-plan',
    'update agent: check, confirm, download through the engine, switch, reboot, self-test, confirm, report (rollback on); goal: new VALID, agent idle',
    true,
    { image: 'new', state: OTA_STATE.VALID },
    () => {
      const b = baseDevice(layout, true, true);
      return { device: b.dev, table: layout.table, images: b.images, slots: b.slots, writable: writableOf(layout, [1]).concat([nvs.label]) };
    },
    (w) => {
      drive(w, layout, nvs, plan, [{ type: 'check-now', now: 0 }]);
    },
    (w) => {
      // After the reset: the agent continues from its record; once idle on the old app, the next
      // periodic check finds the plan again.
      const done = (phase: string) => w.running === 'new' && phase === 'idle' && w.engine().slotState(w.boot.boot as Partition) === OTA_STATE.VALID;
      for (let round = 0; round < MAX_ROUNDS; round++) {
        let agent = drive(w, layout, nvs, plan, []);
        if (done(agent.phase)) return;
        if (agent.phase === 'idle') agent = drive(w, layout, nvs, plan, [{ type: 'check-now', now: 0 }]);
        if (done(agent.phase)) return;
      }
      throw new ProveViolation('no-progress', `the agent did not reach the new app in ${MAX_ROUNDS} rounds (running ${w.running})`);
    },
  );
  return [{ ...s, check: recordIdle }];
}

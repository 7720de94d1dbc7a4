/**
 * Mesh propagation of a Wirepas scratchpad, as a deterministic discrete-event simulation (no
 * timers: a queue of timed events; the same options and seed give the same run). docs/mesh.md
 * describes the protocol and the invariants; in short:
 *
 * - Radio: every transmission is a broadcast heard by each neighbour independently (loss,
 *   duplication, reordering per reception); a node sends one message at a time at the link's bit
 *   rate and hears any number at once (channel access is abstracted away: no collisions).
 * - Data: a node that stores a chunk new to it rebroadcasts it once (push, pipelined chunk by
 *   chunk), unless every neighbour has already been heard sending it. A node with chunks missing
 *   asks a neighbour that holds the scratchpad for them (pull repair) when a gap opens or nothing
 *   new arrived for a while, with backoff.
 * - Control: ANNOUNCE (seq, size, chunk size, SHA-256) floods once per node; a chunk of an unknown
 *   newer seq draws a META-REQ; STORED reports and UPDATE commands go hop by hop with link-layer
 *   retries; after a power cut a node says HELLO and its neighbours answer with what it lacks.
 */
import { OtaflashError } from '../errors';
import { seededRandom } from '../flash/rng';
import { setScratchpadSeq } from '../formats/scratchpad-create';
import { isNewerScratchpadSeq, SCRATCHPAD_SEQ_ACCEPT_ANY } from '../formats/scratchpad-seq';
import { defaultHashes } from '../hash/portable';
import type { HashProvider } from '../hash/types';
import type { StoredImage } from '../store/types';
import { MeshDevice, meshFlashPlan, type MeshFlashPlan } from './device';
import { EventQueue } from './event-queue';
import { InvariantChecker, sameBytes, type InvariantReport } from './invariants';
import { meshSampleImage, meshScratchpad, deflateStored } from './sample';
import { buildTopology, type Topology, type TopologyKind } from './topology';

export interface MeshUpload {
  /** The app image the scratchpad carries. */
  readonly image: Uint8Array;
  /** Its version string (the scratchpad item's version is derived from it). */
  readonly version: string;
  readonly seq: number;
  /** Simulated second the upload to the sinks starts. */
  readonly atSeconds: number;
}

export interface MeshSimOptions {
  nodes: number;
  topology?: TopologyKind;
  /** Sink count (default 1); the update is uploaded to each in the seed's order. */
  sinks?: number;
  /** The sinks by node index (default: the grid's centre / spread evenly / drawn by the seed). */
  sinkNodes?: readonly number[];
  seed?: number;
  /** Per reception, 0..0.9. */
  loss?: number;
  duplication?: number;
  reordering?: number;
  /** Link bit rate (default 100 kbit/s). */
  bitRate?: number;
  /** Scratchpad bytes per chunk (default 256). */
  chunkSize?: number;
  /** Probability of a power cut at each flash write or erase of a device (sinks are mains powered). */
  powerCutRate?: number;
  /** The new app image (default: the built-in 8 KiB sample, version 2.0.0). */
  image?: Uint8Array;
  /** Version of `image` (default: read by the caller; '2.0.0' for the sample). */
  imageVersion?: string;
  /** What the devices run before (default: the built-in sample, version 1.0.0). */
  factoryImage?: Uint8Array;
  /** Raw deflate for the scratchpad (default stored blocks; the CLI passes zlib's). */
  deflateRaw?: (b: Uint8Array) => Uint8Array;
  /** The seq the sinks give the scratchpad (1..254, default 7). */
  seq?: number;
  /** Share of the nodes whose STORED reports the sink waits for before the command (default 1). */
  share?: number;
  /** Seconds after the first upload when the command goes out anyway (default 120). */
  commandTimeoutSeconds?: number;
  /** Simulated seconds after which the run stops (default 3600). */
  maxSimSeconds?: number;
  hashes?: HashProvider;
  /** Seconds a sink's stack is stopped for its upload (default 0.1). */
  sinkUploadSeconds?: number;
  /** Seconds from a power cut to the device running again (default 0.05). */
  rebootSeconds?: number;
  /** Seconds a device is off the network processing the scratchpad and rebooting (default 0.5). */
  processSeconds?: number;
  /** Random topology: mean neighbour count (default 8). */
  meanDegree?: number;
  /** Called now and then with the devices that stored the scratchpad so far. */
  onProgress?: (stored: number, reachable: number, simSeconds: number) => void;
  // --- fault injection, for the tests that show each invariant can fail ---
  /** A node that flips a byte in every chunk it sends. */
  corruptSource?: number;
  /** Further uploads (for example a lower seq later on). */
  extraUploads?: readonly MeshUpload[];
  /** Devices trust the chunk bitmap and skip every verification (tests only). */
  unsafeSkipVerify?: boolean;
  /** Devices take any seq other than their own (tests only). */
  unsafeAcceptAnySeq?: boolean;
}

export interface MeshSummary {
  nodes: number;
  updated: number;
  invariantViolations: number;
  simulatedSeconds: number;
  lowerBoundSeconds: number;
  messages: number;
  flashWrites: number;
  flashErases: number;
  powerCuts: number;
  /** From construction (every device's flash built and booted) to the end of the run. */
  wallSeconds: number;
  /** Devices a sink reaches through the graph. */
  reachable: number;
  /** Devices that held the whole verified scratchpad at some point. */
  stored: number;
  /** First sink broadcasting to the last reachable device storing the scratchpad (null if some never did). */
  propagationSeconds: number | null;
  /** When the update command went out (null: never). */
  commandSeconds: number | null;
  maxDepth: number;
  scratchpadBytes: number;
  chunkTimeSeconds: number;
  events: number;
  invariants: InvariantReport;
}

// --- messages ---------------------------------------------------------------------------------

const HEADER_BYTES = 8;

type Msg =
  | { t: 'ann'; seq: number; size: number; chunkSize: number; sha256: Uint8Array }
  | { t: 'chunk'; seq: number; index: number; bytes: Uint8Array }
  | { t: 'req'; seq: number; indices: number[] }
  | { t: 'metareq'; seq: number }
  | { t: 'hello'; seq: number; complete: boolean; command: number }
  | { t: 'stored'; seq: number; origin: number }
  | { t: 'update'; seq: number };

/** A message in a transmit queue: broadcast (to = -1) or to one neighbour; reliable ones retry. */
interface Outgoing {
  msg: Msg;
  to: number;
  reliable: boolean;
  attempt: number;
}

function msgBytes(m: Msg): number {
  switch (m.t) {
    case 'ann':
      return HEADER_BYTES + 44;
    case 'chunk':
      return HEADER_BYTES + 2 + m.bytes.length;
    case 'req':
      return HEADER_BYTES + 2 + 2 * m.indices.length;
    case 'stored':
      return HEADER_BYTES + 5;
    case 'hello':
      return HEADER_BYTES + 3;
    default:
      return HEADER_BYTES + 2;
  }
}

const MAX_REQ_INDICES = 32;
/** All devices' flash together, in bytes. */
const MAX_TOTAL_FLASH = 768 * 1024 * 1024;
const MAX_RELIABLE_ATTEMPTS = 12;

interface ImageMeta {
  seq: number;
  size: number;
  chunkSize: number;
  sha256: Uint8Array;
}

// --- a node -----------------------------------------------------------------------------------

class MeshNode {
  /** The stack runs: powered, not stopped for an upload, not processing. */
  up = true;
  /** Bumped whenever the node goes down: events scheduled before are stale. */
  epoch = 0;
  seq = SCRATCHPAD_SEQ_ACCEPT_ANY;
  img: StoredImage | null = null;
  meta: ImageMeta | null = null;
  chunks = 0;
  have: Uint8Array = new Uint8Array(0);
  haveCount = 0;
  highestIndex = -1;
  /** Lowest chunk index not stored yet. */
  firstMissing = 0;
  /** Chunks queued for sending (so none is queued twice). */
  queued: Uint8Array = new Uint8Array(0);
  /** How often each chunk was heard from neighbours (suppresses a rebroadcast all of them made). */
  heard: Uint8Array = new Uint8Array(0);
  holders: number[] = [];
  /** New chunks received from each holder (same order as `holders`): the best source is asked first. */
  holderChunks: number[] = [];
  /** Requests since the last new chunk: the second and later go to the other holders in turn. */
  reqAttempt = 0;
  complete = false;
  ctrlQ: Outgoing[] = [];
  repairQ: number[] = [];
  dataQ: number[] = [];
  dataHead = 0;
  txBusy = false;
  lastProgress = 0;
  lastReq = -Infinity;
  lastMetaReq = -Infinity;
  repairArmed = false;
  backoff = 1;
  commandSeq = -1;
  pendingProcess = false;
  reportArmed = false;
  reportBackoff = 1;
  annQueued = false;
  running: 'old' | 'new' | null = 'old';

  constructor(
    readonly id: number,
    readonly dev: MeshDevice,
    readonly sink: boolean,
    readonly neighbours: readonly number[],
  ) {}

  /** RAM lost: everything but the flash. */
  resetRam(): void {
    this.seq = SCRATCHPAD_SEQ_ACCEPT_ANY;
    this.img = null;
    this.meta = null;
    this.chunks = 0;
    this.have = new Uint8Array(0);
    this.haveCount = 0;
    this.highestIndex = -1;
    this.firstMissing = 0;
    this.queued = new Uint8Array(0);
    this.heard = new Uint8Array(0);
    this.holders = [];
    this.holderChunks = [];
    this.reqAttempt = 0;
    this.complete = false;
    this.ctrlQ = [];
    this.repairQ = [];
    this.dataQ = [];
    this.dataHead = 0;
    this.txBusy = false;
    this.repairArmed = false;
    this.backoff = 1;
    this.commandSeq = -1;
    this.pendingProcess = false;
    this.reportArmed = false;
    this.reportBackoff = 1;
    this.annQueued = false;
  }
}

// --- the simulation ---------------------------------------------------------------------------

export class MeshSimulation {
  readonly topo: Topology;
  readonly plan: MeshFlashPlan;
  readonly nodes: MeshNode[] = [];
  readonly q = new EventQueue();
  readonly checker: InvariantChecker;
  private readonly rand: () => number;
  private readonly o: MeshSimOptions;
  private readonly hashes: HashProvider;
  private readonly loss: number;
  private readonly dup: number;
  private readonly reorder: number;
  private readonly bitRate: number;
  private readonly chunkSize: number;
  private readonly chunkTime: number;
  private readonly repairIdle: number;
  private readonly truth = new Map<number, Uint8Array>();
  readonly newImage: Uint8Array;
  readonly oldImage: Uint8Array;
  readonly scratchpad: Uint8Array;
  private readonly seq: number;
  private messages = 0;
  private reported: Uint8Array;
  private reportedCount = 0;
  private storedAt: number[];
  private storedCount = 0;
  private firstBroadcast = -1;
  private commandAt = -1;
  private updatedCount = 0;
  private readonly reachable: number;

  /** Wall clock at construction: building 1,000 devices' flash is part of a run's cost. */
  private readonly createdAt = Date.now();

  constructor(opts: MeshSimOptions) {
    if (opts === null || typeof opts !== 'object') throw new OtaflashError('MESH_BAD_ARGUMENT', 'options must be an object');
    this.o = opts;
    const seed = opts.seed ?? 1;
    this.rand = seededRandom(seed);
    this.hashes = opts.hashes ?? defaultHashes();
    this.loss = rate(opts.loss, 'loss', 0.9);
    this.dup = rate(opts.duplication, 'duplication', 0.9);
    this.reorder = rate(opts.reordering, 'reordering', 0.9);
    const cutRate = rate(opts.powerCutRate, 'powerCutRate', 0.1);
    this.bitRate = opts.bitRate ?? 100000;
    if (!(this.bitRate > 0)) throw new OtaflashError('MESH_BAD_ARGUMENT', `bitRate must be positive, got ${String(opts.bitRate)}`);
    this.chunkSize = opts.chunkSize ?? 256;
    if (!(this.chunkSize >= 16 && this.chunkSize <= 4096 && this.chunkSize % 1 === 0)) throw new OtaflashError('MESH_BAD_ARGUMENT', `chunkSize must be 16..4096, got ${String(opts.chunkSize)}`);
    this.chunkTime = (this.chunkSize * 8) / this.bitRate;
    this.repairIdle = 6 * ((HEADER_BYTES + 2 + this.chunkSize) * 8) / this.bitRate;
    this.seq = opts.seq ?? 7;
    if (!(this.seq >= 1 && this.seq <= 254 && this.seq % 1 === 0)) throw new OtaflashError('MESH_BAD_ARGUMENT', `seq must be 1..254, got ${String(opts.seq)}`);
    const sinkCount = opts.sinkNodes !== undefined && Array.isArray(opts.sinkNodes) ? opts.sinkNodes.length : (opts.sinks ?? 1);
    this.topo = buildTopology({ kind: opts.topology ?? 'grid', nodes: opts.nodes, sinks: sinkCount, rand: this.rand, meanDegree: opts.meanDegree, sinkNodes: opts.sinkNodes });
    this.reachable = this.topo.reachable;
    this.oldImage = opts.factoryImage ?? meshSampleImage('1.0.0', 8 * 1024, this.hashes);
    this.newImage = opts.image ?? meshSampleImage('2.0.0', 8 * 1024, this.hashes);
    const deflate = opts.deflateRaw ?? deflateStored;
    this.scratchpad = meshScratchpad(this.newImage, opts.imageVersion ?? (opts.image ? '0.0.0' : '2.0.0'), deflate);
    let appMax = Math.max(this.oldImage.length, this.newImage.length);
    let spMax = this.scratchpad.length;
    const extra: { sp: Uint8Array; up: MeshUpload }[] = [];
    for (const up of opts.extraUploads ?? []) {
      const sp = meshScratchpad(up.image, up.version, deflate);
      extra.push({ sp, up });
      appMax = Math.max(appMax, up.image.length);
      spMax = Math.max(spMax, sp.length);
    }
    this.plan = meshFlashPlan(appMax, spMax, this.chunkSize);
    // Every device holds its whole flash in memory: refuse a run that cannot fit rather than crash.
    if (this.plan.flashSize * opts.nodes > MAX_TOTAL_FLASH) {
      throw new OtaflashError('MESH_TOO_LARGE', `${opts.nodes} devices of ${this.plan.flashSize} bytes of flash each (two slots for a ${appMax}-byte app, a store for two ${spMax}-byte scratchpads) need more than the ${MAX_TOTAL_FLASH >> 20} MiB the simulation allows; use fewer devices or a smaller image`, { nodes: opts.nodes, flashSize: this.plan.flashSize });
    }
    this.checker = new InvariantChecker(opts.nodes, (s) => this.truth.get(s) ?? null);
    const sinkSet = new Set(this.topo.sinks);
    for (let i = 0; i < opts.nodes; i++) {
      const dev = new MeshDevice(i, {
        plan: this.plan,
        factoryImage: this.oldImage,
        hashes: this.hashes,
        powerCutRate: sinkSet.has(i) ? 0 : cutRate,
        seed,
        unsafeSkipVerify: opts.unsafeSkipVerify,
      });
      if (!dev.boot()) throw new OtaflashError('MESH_INTERNAL', `device ${i} did not boot its factory image`);
      this.nodes.push(new MeshNode(i, dev, sinkSet.has(i), this.topo.neighbours[i]));
    }
    this.reported = new Uint8Array(opts.nodes);
    this.storedAt = new Array(opts.nodes).fill(-1);
    this.scheduleUpload(this.scratchpad, this.seq, 0);
    for (const e of extra) this.scheduleUpload(e.sp, e.up.seq, e.up.atSeconds);
    const timeout = opts.commandTimeoutSeconds ?? 120;
    this.q.at(timeout, () => this.issueCommand());
  }

  // --- the backend and the sinks ------------------------------------------------------------

  /** The network update: to each sink in the seed's order, stop the stack, upload, start again. */
  private scheduleUpload(file: Uint8Array, seq: number, at: number): void {
    const bytes = file.slice();
    setScratchpadSeq(bytes, seq);
    if (!this.truth.has(seq)) this.truth.set(seq, bytes);
    const order = this.topo.sinks.slice();
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(this.rand() * (i + 1));
      const t = order[i];
      order[i] = order[j];
      order[j] = t;
    }
    const d = this.o.sinkUploadSeconds ?? 0.1;
    order.forEach((s, k) => {
      this.q.at(at + k * d, () => this.stopStack(this.nodes[s]));
      this.q.at(at + (k + 1) * d, () => this.uploadToSink(this.nodes[s], bytes, seq));
    });
  }

  private stopStack(n: MeshNode): void {
    this.goDown(n);
  }

  private uploadToSink(n: MeshNode, bytes: Uint8Array, seq: number): void {
    // The stack starts again only once the upload is stored and announced (no chunk before its ANNOUNCE).
    const sha = this.hashes.sha256().update(bytes).digest();
    const meta: ImageMeta = { seq, size: bytes.length, chunkSize: this.chunkSize, sha256: sha };
    // The sink's own node decides like any other: a seq that is not newer is refused.
    if (n.img && n.seq === seq && sameBytes(n.meta!.sha256, sha)) {
      // Already received from the mesh (or uploaded before): fill what is missing.
    } else if (!this.accepts(n, seq)) {
      n.up = true;
      this.startTx(n);
      return;
    } else if (!this.acceptImage(n, meta)) return;
    for (let i = 0; i < n.chunks; i++) {
      if (n.have[i]) continue;
      const c = bytes.subarray(i * this.chunkSize, Math.min(bytes.length, (i + 1) * this.chunkSize));
      if (!this.storeChunk(n, i, c)) return;
    }
    if (this.firstBroadcast < 0) this.firstBroadcast = this.q.now;
    n.up = true;
    this.queueAnnounce(n);
    this.startTx(n);
  }

  private onReport(origin: number, seq: number): void {
    if (seq !== this.seq || this.reported[origin]) return;
    this.reported[origin] = 1;
    this.reportedCount++;
    const share = this.o.share ?? 1;
    if (this.reportedCount >= Math.ceil(share * this.nodes.length)) this.issueCommand();
  }

  /** The backend tells every sink to send the update command. */
  private issueCommand(): void {
    if (this.commandAt >= 0) return;
    this.commandAt = this.q.now;
    for (const s of this.topo.sinks) this.onUpdate(this.nodes[s], this.seq, -1);
  }

  // --- radio ----------------------------------------------------------------------------------

  private send(n: MeshNode, msg: Msg, to = -1, reliable = false): void {
    n.ctrlQ.push({ msg, to, reliable, attempt: 0 });
    this.startTx(n);
  }

  private startTx(n: MeshNode): void {
    if (n.txBusy || !n.up) return;
    let out: Outgoing | null = null;
    if (n.ctrlQ.length > 0) out = n.ctrlQ.shift()!;
    else {
      const idx = this.nextChunkToSend(n);
      if (idx >= 0) {
        const len = Math.min(this.chunkSize, n.meta!.size - idx * this.chunkSize);
        const buf = new Uint8Array(len);
        const store = n.dev.store!;
        store.readChunk(n.img!.id, idx, buf);
        if (n.id === this.o.corruptSource) buf[idx % len] ^= 0x5a;
        out = { msg: { t: 'chunk', seq: n.seq, index: idx, bytes: buf }, to: -1, reliable: false, attempt: 0 };
      }
    }
    if (!out) {
      if (n.pendingProcess) this.q.after(0, () => this.tryProcess(n));
      return;
    }
    if (out.msg.t === 'ann') n.annQueued = false;
    n.txBusy = true;
    this.messages++;
    const epoch = n.epoch;
    const o = out;
    this.q.after((msgBytes(out.msg) * 8) / this.bitRate, () => {
      if (n.epoch !== epoch) return;
      n.txBusy = false;
      this.deliver(n, o);
      this.startTx(n);
    });
  }

  /** Repairs first, then the pipeline; a chunk every neighbour was heard sending is skipped. */
  private nextChunkToSend(n: MeshNode): number {
    if (!n.img) return -1;
    while (n.repairQ.length > 0) {
      const i = n.repairQ.shift()!;
      if (n.have[i]) return i;
    }
    while (n.dataHead < n.dataQ.length) {
      const i = n.dataQ[n.dataHead++];
      if (n.dataHead > 256 && n.dataHead * 2 > n.dataQ.length) {
        n.dataQ = n.dataQ.slice(n.dataHead);
        n.dataHead = 0;
      }
      if (n.heard[i] >= n.neighbours.length) continue;
      return i;
    }
    return -1;
  }

  private deliver(from: MeshNode, out: Outgoing): void {
    if (out.to < 0) {
      for (const nb of from.neighbours) this.transmit(from, nb, out.msg);
      return;
    }
    const ok = this.transmit(from, out.to, out.msg);
    if (!ok && out.reliable && out.attempt + 1 < MAX_RELIABLE_ATTEMPTS) {
      // No link-layer ack: try again after a short random backoff.
      const epoch = from.epoch;
      const wait = this.chunkTime * (1 + this.rand() * 2) * Math.min(8, out.attempt + 1);
      this.q.after(wait, () => {
        if (from.epoch !== epoch) return;
        from.ctrlQ.push({ msg: out.msg, to: out.to, reliable: true, attempt: out.attempt + 1 });
        this.startTx(from);
      });
    }
  }

  /** One reception: lost, or delivered now, later (reordered), and maybe twice. */
  private transmit(from: MeshNode, to: number, msg: Msg): boolean {
    if (this.loss > 0 && this.rand() < this.loss) return false;
    const rx = this.nodes[to];
    if (!rx.up) return false;
    if (this.reorder > 0 && this.rand() < this.reorder) {
      this.q.after(this.rand() * 4 * this.chunkTime, () => this.receive(rx, from.id, msg));
    } else this.receive(rx, from.id, msg);
    if (this.dup > 0 && this.rand() < this.dup) this.q.after(this.rand() * 2 * this.chunkTime, () => this.receive(rx, from.id, msg));
    return true;
  }

  private receive(n: MeshNode, from: number, msg: Msg): void {
    if (!n.up) return;
    switch (msg.t) {
      case 'ann':
        return this.onAnnounce(n, from, msg);
      case 'chunk':
        return this.onChunk(n, from, msg);
      case 'req':
        if (n.img && n.seq === msg.seq) {
          for (const i of msg.indices) {
            if (n.have[i] && n.repairQ.indexOf(i) < 0) n.repairQ.push(i);
          }
          this.startTx(n);
        }
        return;
      case 'metareq':
        if (n.img && n.seq === msg.seq) this.queueAnnounce(n);
        return;
      case 'hello':
        if (n.img && (msg.seq === SCRATCHPAD_SEQ_ACCEPT_ANY || msg.seq === n.seq || isNewerScratchpadSeq(n.seq, msg.seq))) this.queueAnnounce(n);
        if (msg.complete && n.commandSeq >= 0 && msg.seq === n.commandSeq) this.send(n, { t: 'update', seq: n.commandSeq }, from, true);
        // The sender knew the command before its reboot (its store says installing or installed):
        // the UPDATE it passed on may have died with its RAM, so a neighbour that missed it takes it here.
        if (msg.command >= 0 && n.commandSeq !== msg.command) this.onUpdate(n, msg.command, from);
        return;
      case 'stored':
        if (n.commandSeq >= 0 && msg.seq === n.commandSeq && from === msg.origin) this.send(n, { t: 'update', seq: n.commandSeq }, from, true);
        if (n.sink) this.onReport(msg.origin, msg.seq);
        // Once the command is out the sink no longer needs reports: a relay that knows it keeps them.
        else if (this.topo.parent[n.id] >= 0 && n.commandSeq !== msg.seq) this.send(n, msg, this.topo.parent[n.id], true);
        return;
      case 'update':
        return this.onUpdate(n, msg.seq, from);
    }
  }

  // --- data path ------------------------------------------------------------------------------

  private accepts(n: MeshNode, seq: number): boolean {
    if (this.o.unsafeAcceptAnySeq) return seq !== n.seq;
    return isNewerScratchpadSeq(seq, n.seq);
  }

  private noteHolder(n: MeshNode, from: number): void {
    if (n.holders.indexOf(from) < 0) {
      n.holders.push(from);
      n.holderChunks.push(0);
    }
  }

  private queueAnnounce(n: MeshNode): void {
    if (n.annQueued || !n.meta) return;
    n.annQueued = true;
    const m = n.meta;
    this.send(n, { t: 'ann', seq: m.seq, size: m.size, chunkSize: m.chunkSize, sha256: m.sha256 });
  }

  private onAnnounce(n: MeshNode, from: number, msg: Extract<Msg, { t: 'ann' }>): void {
    if (n.img && msg.seq === n.seq) {
      this.noteHolder(n, from);
      return;
    }
    if (!this.accepts(n, msg.seq)) return;
    if (msg.chunkSize !== this.chunkSize) return;
    if (this.acceptImage(n, { seq: msg.seq, size: msg.size, chunkSize: msg.chunkSize, sha256: msg.sha256 })) {
      this.noteHolder(n, from);
      this.queueAnnounce(n);
    }
  }

  /** Replaces whatever scratchpad the node holds with a new, empty one. False after a power cut. */
  private acceptImage(n: MeshNode, meta: ImageMeta): boolean {
    this.checker.onAccept(n.id, meta.seq);
    const img = this.flash(n, () => {
      const store = n.dev.store!;
      for (const old of store.list()) store.remove(old.id);
      return store.create({ kind: 'scratchpad', component: 'wirepas-scratchpad', version: `seq ${meta.seq}`, size: meta.size, sha256: meta.sha256, chunkSize: meta.chunkSize, seq: meta.seq });
    });
    if (!img) return false;
    this.adopt(n, img, meta);
    this.armRepair(n);
    return true;
  }

  /** Sets the node's RAM view of a store image. */
  private adopt(n: MeshNode, img: StoredImage, meta: ImageMeta): void {
    n.img = img;
    n.meta = meta;
    n.seq = meta.seq;
    n.chunks = img.chunks;
    n.have = new Uint8Array(img.chunks);
    n.queued = new Uint8Array(img.chunks);
    n.heard = new Uint8Array(img.chunks);
    n.haveCount = 0;
    n.highestIndex = -1;
    n.firstMissing = 0;
    n.holders = [];
    n.holderChunks = [];
    n.reqAttempt = 0;
    n.complete = false;
    n.repairQ = [];
    n.dataQ = [];
    n.dataHead = 0;
    n.lastProgress = this.q.now;
    n.backoff = 1;
  }

  private onChunk(n: MeshNode, from: number, msg: Extract<Msg, { t: 'chunk' }>): void {
    if (n.img && msg.seq === n.seq) {
      this.noteHolder(n, from);
      const i = msg.index;
      if (i < 0 || i >= n.chunks) return;
      if (n.heard[i] < 255) n.heard[i]++;
      if (n.have[i] || n.complete) return;
      if (!this.storeChunk(n, i, msg.bytes)) return;
      n.holderChunks[n.holders.indexOf(from)]++;
      if (n.haveCount < n.chunks) this.maybeRequestGap(n);
      return;
    }
    if (this.accepts(n, msg.seq) && this.q.now - n.lastMetaReq >= this.repairIdle) {
      n.lastMetaReq = this.q.now;
      this.send(n, { t: 'metareq', seq: msg.seq }, from);
    }
  }

  /** Stores a chunk new to the node, queues it for rebroadcast, finishes the image when it was the last. */
  private storeChunk(n: MeshNode, i: number, bytes: Uint8Array): boolean {
    const id = n.img!.id;
    let conflict = false;
    const ok = this.flash(n, () => {
      try {
        n.dev.store!.writeChunk(id, i, bytes);
        return true;
      } catch (e) {
        if (e instanceof OtaflashError && (e.code === 'STORE_CHUNK_CONFLICT' || e.code === 'STORE_CHUNK_MISMATCH')) {
          conflict = true;
          return false;
        }
        throw e;
      }
    });
    if (ok === null) return false;
    if (conflict) {
      // Torn bytes of other content under this chunk: only a fresh extent can take it.
      this.restartImage(n);
      return false;
    }
    n.have[i] = 1;
    n.haveCount++;
    if (i > n.highestIndex) n.highestIndex = i;
    while (n.firstMissing < n.chunks && n.have[n.firstMissing]) n.firstMissing++;
    n.lastProgress = this.q.now;
    n.backoff = 1;
    n.reqAttempt = 0;
    if (!n.queued[i]) {
      n.queued[i] = 1;
      n.dataQ.push(i);
      this.startTx(n);
    }
    if (n.haveCount === n.chunks) this.finishImage(n);
    return true;
  }

  /** The store checks the SHA-256; a mismatch (a corrupt chunk got in) starts the download over. */
  private finishImage(n: MeshNode): void {
    const img = n.dev.completeImage(n.img!.id);
    if (!img) return this.crashed(n);
    if (img.state !== 'verified') return this.restartImage(n);
    n.img = img;
    n.complete = true;
    this.noteStored(n);
    this.report(n);
    if (n.commandSeq === n.seq) this.requestProcess(n);
  }

  /** The simulation's record of when each device first held the whole verified update. */
  private noteStored(n: MeshNode): void {
    if (this.storedAt[n.id] >= 0 || n.seq !== this.seq) return;
    this.storedAt[n.id] = this.q.now;
    this.storedCount++;
    if (this.o.onProgress && (this.storedCount % 50 === 0 || this.storedCount === this.reachable)) this.o.onProgress(this.storedCount, this.reachable, this.q.now);
  }

  private restartImage(n: MeshNode): void {
    const meta = n.meta!;
    const img = this.flash(n, () => {
      const store = n.dev.store!;
      for (const old of store.list()) store.remove(old.id);
      return store.create({ kind: 'scratchpad', component: 'wirepas-scratchpad', version: `seq ${meta.seq}`, size: meta.size, sha256: meta.sha256, chunkSize: meta.chunkSize, seq: meta.seq });
    });
    if (!img) return;
    const holders = n.holders;
    const counts = n.holderChunks;
    this.adopt(n, img, meta);
    n.holders = holders;
    n.holderChunks = counts;
    this.armRepair(n);
  }

  // --- repair ---------------------------------------------------------------------------------

  /** A gap well behind the newest chunk is a loss, not a chunk still on its way: ask at once. */
  private maybeRequestGap(n: MeshNode): void {
    if (this.q.now - n.lastReq < this.repairIdle) return;
    const limit = n.highestIndex - 4;
    if (n.firstMissing < limit) this.sendRequest(n, limit);
  }

  private sendRequest(n: MeshNode, below: number): boolean {
    if (n.holders.length === 0) return false;
    const indices: number[] = [];
    for (let i = n.firstMissing; i < below && indices.length < MAX_REQ_INDICES; i++) if (!n.have[i]) indices.push(i);
    if (indices.length === 0) return false;
    // The neighbour that sent the most is most likely upstream and complete; if it stays silent, the others in turn.
    let best = 0;
    for (let h = 1; h < n.holders.length; h++) if (n.holderChunks[h] > n.holderChunks[best]) best = h;
    const to = n.holders[(best + n.reqAttempt++) % n.holders.length];
    n.lastReq = this.q.now;
    this.send(n, { t: 'req', seq: n.seq, indices }, to);
    return true;
  }

  private armRepair(n: MeshNode): void {
    if (n.repairArmed) return;
    n.repairArmed = true;
    const epoch = n.epoch;
    this.q.after(this.repairIdle * n.backoff, () => {
      if (n.epoch !== epoch) return;
      n.repairArmed = false;
      if (!n.img || n.complete || !n.up) return;
      if (this.q.now - n.lastProgress >= this.repairIdle && this.q.now - n.lastReq >= this.repairIdle) {
        // Requests are small: back off gently (a lost request or answer is the common case, not congestion).
        const asked = this.sendRequest(n, n.chunks);
        n.backoff = Math.min(4, n.backoff + 1);
        if (!asked || n.reqAttempt > n.holders.length) {
          // No holder known, or every one asked in vain: a neighbour that has the chunks may be
          // unknown to us (its answer to our HELLO was lost). Ask who holds what again.
          n.lastReq = this.q.now;
          this.helloNeighbours(n);
        }
      }
      this.armRepair(n);
    });
  }

  // --- reports and the command ----------------------------------------------------------------

  private report(n: MeshNode): void {
    if (n.sink) this.onReport(n.id, n.seq);
    else if (this.topo.parent[n.id] >= 0) this.send(n, { t: 'stored', seq: n.seq, origin: n.id }, this.topo.parent[n.id], true);
    // Until the command arrives, the report is repeated now and then (a relay may have lost it in a power cut).
    if (n.reportArmed) return;
    n.reportArmed = true;
    const epoch = n.epoch;
    this.q.after(2 * n.reportBackoff, () => {
      if (n.epoch !== epoch) return;
      n.reportArmed = false;
      n.reportBackoff = Math.min(16, n.reportBackoff * 2);
      if (n.complete && n.commandSeq !== n.seq && n.up) this.report(n);
    });
  }

  private onUpdate(n: MeshNode, seq: number, from: number): void {
    if (n.commandSeq === seq) return;
    n.commandSeq = seq;
    for (const nb of n.neighbours) if (nb !== from) this.send(n, { t: 'update', seq }, nb, true);
    if (n.complete && n.seq === seq) this.requestProcess(n);
  }

  private requestProcess(n: MeshNode): void {
    n.pendingProcess = true;
    this.startTx(n);
    if (!n.txBusy) this.q.after(0, () => this.tryProcess(n));
  }

  /** Once the command has been passed on, the device processes the scratchpad and reboots. */
  private tryProcess(n: MeshNode): void {
    if (!n.pendingProcess || !n.up || n.txBusy || n.ctrlQ.length > 0 || !n.img) return;
    n.pendingProcess = false;
    const img = n.img;
    const store = n.dev.store!;
    const missing = store.missingChunks(img.id, 1).length;
    const bytes = new Uint8Array(img.size);
    store.readImage(img.id, 0, bytes);
    this.checker.onProcess(n.id, img.seq, missing === 0, bytes);
    this.goDown(n);
    const outcome = n.dev.process(img);
    if (outcome === 'cut') return this.scheduleRecover(n);
    const wait = this.o.processSeconds ?? 0.5;
    if (outcome === 'installed') {
      n.dev.shutdown();
      this.q.after(wait, () => this.recover(n));
    } else {
      // Refused (kept the old app) or already running it: back on the network.
      this.q.after(wait, () => this.comeUp(n));
    }
  }

  // --- power --------------------------------------------------------------------------------

  /** Runs a device flash step; a power cut takes the node down and schedules its recovery. */
  private flash<T>(n: MeshNode, step: () => T): T | null {
    const r = n.dev.guard(step);
    if (!n.dev.powered) {
      this.crashed(n);
      return null;
    }
    return r;
  }

  private crashed(n: MeshNode): void {
    this.goDown(n);
    this.scheduleRecover(n);
  }

  private goDown(n: MeshNode): void {
    n.up = false;
    n.epoch++;
    n.txBusy = false;
    n.ctrlQ = [];
    n.repairQ = [];
  }

  private scheduleRecover(n: MeshNode): void {
    const epoch = n.epoch;
    this.q.after(this.o.rebootSeconds ?? 0.05, () => {
      if (n.epoch === epoch) this.recover(n);
    });
  }

  /** Boot (through the bootloader model), check what runs, rebuild RAM from the store. */
  private recover(n: MeshNode): void {
    if (!n.dev.boot()) {
      this.scheduleRecover(n);
      return;
    }
    const running = this.classifyRunning(n);
    this.checker.onBoot(n.id, running);
    if (running === 'new' && n.running !== 'new') this.updatedCount++;
    if (running !== 'new' && n.running === 'new') this.updatedCount--;
    n.running = running;
    if (!n.dev.booted) {
      // The bootloader found nothing: the device stays off (a real one would reset forever).
      n.dev.shutdown();
      return;
    }
    n.resetRam();
    this.comeUp(n);
  }

  private comeUp(n: MeshNode): void {
    n.up = true;
    n.epoch++;
    const store = n.dev.store;
    if (!store) return this.scheduleRecover(n);
    this.syncFromStore(n);
    if (!n.up) return;
    this.helloNeighbours(n);
    if (this.commandAt >= 0 && this.updatedCount === this.reachable) this.done = true;
  }

  private helloNeighbours(n: MeshNode): void {
    this.send(n, { t: 'hello', seq: n.seq, complete: n.complete, command: n.commandSeq });
  }

  /** The node's view after a boot: the newest scratchpad in the store decides. */
  private syncFromStore(n: MeshNode): void {
    const store = n.dev.store!;
    const list = store.list().filter((x) => x.kind === 'scratchpad');
    if (list.length === 0) return;
    let best = list[0];
    for (const x of list) if (isNewerScratchpadSeq(x.seq, best.seq)) best = x;
    const meta: ImageMeta = { seq: best.seq, size: best.size, chunkSize: best.chunkSize, sha256: best.sha256 };
    const removed = this.flash(n, () => {
      for (const x of list) if (x.id !== best.id) store.remove(x.id);
      return true;
    });
    if (!removed) return;
    if (best.state === 'failed') {
      n.meta = meta;
      n.seq = meta.seq;
      n.img = best;
      this.restartImage(n);
      return;
    }
    this.adopt(n, best, meta);
    const missing = store.missingChunks(best.id);
    const miss = new Uint8Array(best.chunks);
    for (const i of missing) miss[i] = 1;
    for (let i = 0; i < best.chunks; i++) {
      if (!miss[i]) {
        n.have[i] = 1;
        n.queued[i] = 1; // sent before the cut, or not: neighbours ask for what they lack
        n.haveCount++;
        n.highestIndex = i;
      }
    }
    while (n.firstMissing < n.chunks && n.have[n.firstMissing]) n.firstMissing++;
    if (best.state === 'receiving') {
      if (n.haveCount === n.chunks) this.finishImage(n);
      else this.armRepair(n);
      return;
    }
    if (best.state === 'complete') {
      this.finishImage(n);
      return;
    }
    n.complete = true;
    this.noteStored(n);
    if (best.state === 'verified') {
      this.report(n);
    } else if (best.state === 'installing') {
      // The command was taken before the cut (the mark is durable): carry on processing.
      n.commandSeq = best.seq;
      this.requestProcess(n);
    } else if (best.state === 'installed') {
      n.commandSeq = best.seq;
      if (!n.dev.runsItemOf(best)) this.requestProcess(n);
    }
  }

  private classifyRunning(n: MeshNode): 'old' | 'new' | null {
    const a = n.dev.readRunning(this.newImage.length);
    if (a && sameBytes(a, this.newImage)) return 'new';
    const b = n.dev.readRunning(this.oldImage.length);
    if (b && sameBytes(b, this.oldImage)) return 'old';
    return null;
  }

  // --- running ------------------------------------------------------------------------------

  private done = false;

  run(): MeshSummary {
    const maxT = this.o.maxSimSeconds ?? 3600;
    let tick = 0;
    while (!this.done) {
      if (this.q.peekTime() > maxT) break;
      if (!this.q.step()) break;
      if (this.commandAt >= 0 && this.updatedCount === this.reachable) break;
      if (this.o.onProgress && ++tick % 20000 === 0) this.o.onProgress(this.storedCount, this.reachable, this.q.now);
    }
    const wallSeconds = (Date.now() - this.createdAt) / 1000;
    if (this.commandAt >= 0) {
      for (const n of this.nodes) if (this.topo.depth[n.id] >= 0 && n.running !== 'new') this.checker.onNotUpdated(n.id);
    }
    let writes = 0;
    let erases = 0;
    let cuts = 0;
    let updated = 0;
    for (const n of this.nodes) {
      const c = n.dev.flashCounts();
      writes += c.writes;
      erases += c.erases;
      cuts += n.dev.powerCuts;
      if (n.running === 'new') updated++;
    }
    let lastStored = -1;
    let allStored = true;
    for (let i = 0; i < this.nodes.length; i++) {
      if (this.topo.depth[i] < 0) continue;
      if (this.storedAt[i] < 0) allStored = false;
      else if (this.storedAt[i] > lastStored) lastStored = this.storedAt[i];
    }
    const inv = this.checker.report();
    return {
      nodes: this.nodes.length,
      updated,
      invariantViolations: inv.total,
      simulatedSeconds: round(this.q.now, 4),
      lowerBoundSeconds: round(this.lowerBound(), 4),
      messages: this.messages,
      flashWrites: writes,
      flashErases: erases,
      powerCuts: cuts,
      wallSeconds: round(wallSeconds, 3),
      reachable: this.reachable,
      stored: this.storedCount,
      propagationSeconds: allStored && this.firstBroadcast >= 0 ? round(lastStored - this.firstBroadcast, 4) : null,
      commandSeconds: this.commandAt >= 0 ? round(this.commandAt, 4) : null,
      maxDepth: this.topo.maxDepth,
      scratchpadBytes: this.scratchpad.length,
      chunkTimeSeconds: round(this.chunkTime, 6),
      events: this.q.processed,
      invariants: inv,
    };
  }

  /** The whole scratchpad through one link, plus one chunk time per hop from the nearest sink to the deepest node. */
  lowerBound(): number {
    return (this.scratchpad.length * 8) / this.bitRate + this.topo.maxDepth * this.chunkTime;
  }
}

function rate(v: number | undefined, name: string, max: number): number {
  if (v === undefined) return 0;
  if (!(typeof v === 'number' && v >= 0 && v <= max)) throw new OtaflashError('MESH_BAD_ARGUMENT', `${name} must be a number 0..${max}, got ${String(v)}`);
  return v;
}

function round(v: number, digits: number): number {
  const f = Math.pow(10, digits);
  return Math.round(v * f) / f;
}

/** Runs one simulation. */
export function runMeshSimulation(opts: MeshSimOptions): MeshSummary {
  return new MeshSimulation(opts).run();
}

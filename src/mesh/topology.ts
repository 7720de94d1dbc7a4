/**
 * The graph the devices form: who hears whom. Grids and lines are the regular cases (depth and
 * ratio easy to reason about); a random geometric graph (nodes uniform in a unit square, linked
 * within a radio range) is the irregular one and may leave nodes unreachable.
 */
import { OtaflashError } from '../errors';
import { randomBelow } from '../flash/rng';

export type TopologyKind = 'grid' | 'line' | 'random';

export interface Topology {
  readonly kind: TopologyKind;
  readonly nodes: number;
  /** neighbours[i]: the nodes i hears (links are symmetric), in ascending order. */
  readonly neighbours: readonly (readonly number[])[];
  /** The sink nodes. */
  readonly sinks: readonly number[];
  /** Hops from the nearest sink; -1 when no sink reaches the node. */
  readonly depth: readonly number[];
  /** Next hop towards the nearest sink (-1 for sinks and unreachable nodes). */
  readonly parent: readonly number[];
  /** Greatest depth of a reachable node. */
  readonly maxDepth: number;
  readonly reachable: number;
}

export interface TopologyOptions {
  kind: TopologyKind;
  nodes: number;
  sinks: number;
  rand: () => number;
  /** Random graphs: mean neighbour count the radio range is chosen for (default 8). */
  meanDegree?: number;
  /** The sink nodes by index, instead of the default placement (`sinks` is then their count). */
  sinkNodes?: readonly number[];
}

function fail(message: string): OtaflashError {
  return new OtaflashError('MESH_BAD_ARGUMENT', message);
}

/** Builds the graph and places the sinks: a lone sink at the centre, several spread evenly (grid, line) or drawn by the seed (random). */
export function buildTopology(o: TopologyOptions): Topology {
  const n = o.nodes;
  if (!(n >= 1 && n === Math.floor(n) && n <= 100000)) throw fail(`nodes must be a whole number 1..100000, got ${String(n)}`);
  if (!(o.sinks >= 1 && o.sinks === Math.floor(o.sinks) && o.sinks <= n)) throw fail(`sinks must be a whole number 1..${n}, got ${String(o.sinks)}`);
  const adj: number[][] = [];
  for (let i = 0; i < n; i++) adj.push([]);
  const link = (a: number, b: number) => {
    adj[a].push(b);
    adj[b].push(a);
  };
  let sinks: number[];
  if (o.kind === 'line') {
    for (let i = 1; i < n; i++) link(i - 1, i);
    sinks = spread(n, o.sinks, (k) => Math.floor(((2 * k + 1) * n) / (2 * o.sinks)));
  } else if (o.kind === 'grid') {
    const w = Math.ceil(Math.sqrt(n));
    for (let i = 0; i < n; i++) {
      if (i % w !== 0) link(i - 1, i);
      if (i >= w) link(i - w, i);
    }
    const rows = Math.ceil(n / w);
    // One sink: the centre. More: the centres of a k-column strip layout, so each serves a share.
    sinks = spread(n, o.sinks, (k) => {
      const col = Math.floor(((2 * k + 1) * w) / (2 * o.sinks));
      const row = Math.floor(rows / 2);
      return Math.min(n - 1, row * w + col);
    });
  } else if (o.kind === 'random') {
    const xs: number[] = [];
    const ys: number[] = [];
    for (let i = 0; i < n; i++) {
      xs.push(o.rand());
      ys.push(o.rand());
    }
    const degree = o.meanDegree ?? 8;
    // Expected neighbours ~ n * pi * r^2 (edge effects aside).
    const r = Math.sqrt(degree / (Math.PI * Math.max(1, n - 1)));
    // Bucket grid of cell r: only the 3x3 cells around a node can hold its neighbours.
    const cells = Math.max(1, Math.floor(1 / r));
    const bucket: number[][] = [];
    for (let i = 0; i < cells * cells; i++) bucket.push([]);
    const cellOf = (v: number) => Math.min(cells - 1, Math.floor(v * cells));
    for (let i = 0; i < n; i++) bucket[cellOf(ys[i]) * cells + cellOf(xs[i])].push(i);
    for (let i = 0; i < n; i++) {
      const cx = cellOf(xs[i]);
      const cy = cellOf(ys[i]);
      for (let dy = -1; dy <= 1; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          const x = cx + dx;
          const y = cy + dy;
          if (x < 0 || y < 0 || x >= cells || y >= cells) continue;
          for (const j of bucket[y * cells + x]) {
            if (j <= i) continue;
            const ddx = xs[i] - xs[j];
            const ddy = ys[i] - ys[j];
            if (ddx * ddx + ddy * ddy <= r * r) link(i, j);
          }
        }
      }
    }
    const chosen: number[] = [];
    while (chosen.length < o.sinks) {
      const c = randomBelow(o.rand, n);
      if (chosen.indexOf(c) < 0) chosen.push(c);
    }
    sinks = chosen;
  } else {
    throw fail(`topology must be grid, line or random, got ${String(o.kind)}`);
  }
  if (o.sinkNodes !== undefined) {
    const chosen = o.sinkNodes;
    if (!Array.isArray(chosen) || chosen.length === 0) throw fail('sinkNodes must be a non-empty array of node indices');
    for (let k = 0; k < chosen.length; k++) {
      const v = chosen[k];
      if (!(typeof v === 'number' && v % 1 === 0 && v >= 0 && v < n)) throw fail(`sinkNodes[${k}] must be a node index 0..${n - 1}, got ${String(v)}`);
      if (chosen.indexOf(v) !== k) throw fail(`sinkNodes names node ${v} twice`);
    }
    sinks = chosen.slice();
  }
  for (const a of adj) a.sort((x, y) => x - y);
  // Breadth-first from all sinks at once: depth and next hop towards the nearest one.
  const depth: number[] = new Array(n).fill(-1);
  const parent: number[] = new Array(n).fill(-1);
  const queue: number[] = [];
  for (const s of sinks) {
    depth[s] = 0;
    queue.push(s);
  }
  for (let q = 0; q < queue.length; q++) {
    const u = queue[q];
    for (const v of adj[u]) {
      if (depth[v] < 0) {
        depth[v] = depth[u] + 1;
        parent[v] = u;
        queue.push(v);
      }
    }
  }
  let maxDepth = 0;
  for (const d of depth) if (d > maxDepth) maxDepth = d;
  return { kind: o.kind, nodes: n, neighbours: adj, sinks, depth, parent, maxDepth, reachable: queue.length };
}

/** k distinct node indices from `pick`, nudged forward on a collision. */
function spread(n: number, k: number, pick: (i: number) => number): number[] {
  const out: number[] = [];
  for (let i = 0; i < k; i++) {
    let v = pick(i) % n;
    while (out.indexOf(v) >= 0) v = (v + 1) % n;
    out.push(v);
  }
  return out;
}

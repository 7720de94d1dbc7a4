/**
 * The simulation's clock: a binary min-heap of timed events. Ties are broken by insertion order,
 * so a run depends only on its seed, never on heap internals.
 */
export interface TimedEvent {
  /** Simulated seconds. */
  readonly time: number;
  /** Insertion counter: equal times run in the order they were scheduled. */
  readonly order: number;
  readonly run: () => void;
}

export class EventQueue {
  private heap: TimedEvent[] = [];
  private counter = 0;
  /** The time of the event running now (or the last one run). */
  now = 0;
  /** Events run so far. */
  processed = 0;

  get size(): number {
    return this.heap.length;
  }

  /** Runs `run` `delay` seconds from now (never in the past). */
  after(delay: number, run: () => void): void {
    this.at(this.now + (delay > 0 ? delay : 0), run);
  }

  at(time: number, run: () => void): void {
    const ev: TimedEvent = { time: time < this.now ? this.now : time, order: this.counter++, run };
    const h = this.heap;
    let i = h.length;
    h.push(ev);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!earlier(ev, h[p])) break;
      h[i] = h[p];
      i = p;
    }
    h[i] = ev;
  }

  /** Runs the earliest event; false when none is left. */
  step(): boolean {
    const h = this.heap;
    if (h.length === 0) return false;
    const top = h[0];
    const last = h.pop()!;
    if (h.length > 0) {
      let i = 0;
      const n = h.length;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && earlier(h[r], h[l]) ? r : l;
        if (!earlier(h[c], last)) break;
        h[i] = h[c];
        i = c;
      }
      h[i] = last;
    }
    this.now = top.time;
    this.processed++;
    top.run();
    return true;
  }

  /** Time of the next event, or Infinity. */
  peekTime(): number {
    return this.heap.length > 0 ? this.heap[0].time : Infinity;
  }
}

function earlier(a: TimedEvent, b: TimedEvent): boolean {
  return a.time < b.time || (a.time === b.time && a.order < b.order);
}

/**
 * The simulation's own judge. It knows the truth (which bytes each seq's scratchpad has, which
 * images are legitimate) and watches every device at the moments that matter; the devices never
 * consult it. Each broken rule is counted under its name and the first few are described.
 */
import { isNewerScratchpadSeq } from '../formats/scratchpad-seq';

export type InvariantRule =
  /** A device started processing a scratchpad that was incomplete or whose bytes differ from what the sink was given. */
  | 'processed-incomplete-or-corrupt'
  /** A device took a scratchpad whose seq is not newer than the one it held. */
  | 'lower-seq-replaced-higher'
  /** A device booted something other than its old or the new image (or nothing). */
  | 'bad-boot'
  /** After the command, a device a sink can reach does not run the new image at the end. */
  | 'reachable-not-updated';

export interface InvariantReport {
  readonly total: number;
  readonly byRule: Readonly<Record<InvariantRule, number>>;
  /** The first few violations, described. */
  readonly examples: readonly string[];
}

export class InvariantChecker {
  private readonly counts: Record<InvariantRule, number> = {
    'processed-incomplete-or-corrupt': 0,
    'lower-seq-replaced-higher': 0,
    'bad-boot': 0,
    'reachable-not-updated': 0,
  };
  private readonly examples: string[] = [];
  /** Highest seq each device has ever held (255 = none yet: accepts any). */
  private readonly highest: number[];

  constructor(
    nodes: number,
    /** The true bytes of each seq's scratchpad, as the sinks were given them. */
    private readonly truth: (seq: number) => Uint8Array | null,
  ) {
    this.highest = new Array(nodes).fill(255);
  }

  private violate(rule: InvariantRule, text: string): void {
    this.counts[rule]++;
    if (this.examples.length < 10) this.examples.push(`${rule}: ${text}`);
  }

  /** A device takes a scratchpad with `seq` in place of what it holds. */
  onAccept(node: number, seq: number): void {
    const h = this.highest[node];
    if (seq === h) return;
    if (!isNewerScratchpadSeq(seq, h)) {
      this.violate('lower-seq-replaced-higher', `device ${node} took seq ${seq} while holding ${h}`);
      return;
    }
    this.highest[node] = seq;
  }

  /** A device starts processing: `complete` is what its bitmap says, `bytes` what it holds. */
  onProcess(node: number, seq: number, complete: boolean, bytes: Uint8Array): void {
    const t = this.truth(seq);
    if (!complete || !t || !sameBytes(t, bytes)) {
      this.violate('processed-incomplete-or-corrupt', `device ${node} processed seq ${seq} (${complete ? 'complete' : 'incomplete'}${t && complete ? ', bytes differ' : ''})`);
    }
  }

  /** A device booted: which legitimate image it runs, or null for anything else. */
  onBoot(node: number, image: 'old' | 'new' | null): void {
    if (image === null) this.violate('bad-boot', `device ${node} booted neither its old nor the new image`);
  }

  /** End of run: a reachable device after the command that does not run the new image. */
  onNotUpdated(node: number): void {
    this.violate('reachable-not-updated', `device ${node} is reachable but does not run the new image`);
  }

  report(): InvariantReport {
    let total = 0;
    for (const k in this.counts) total += this.counts[k as InvariantRule];
    return { total, byRule: { ...this.counts }, examples: this.examples.slice() };
  }
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

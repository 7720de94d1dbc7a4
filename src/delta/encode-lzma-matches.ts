// Match finder for the LZMA encoder: hash chains over the whole input (the generator holds the
// patch stream in memory anyway), distances limited to the dictionary so the decoder's window suffices.
//
// Delta streams are mostly runs of zeros. In plain hash chains every position of every run lands
// in one chain and buries the useful candidates. Here a position starting a run of 3 or more equal
// bytes goes instead into a chain keyed by (byte, run length left, capped at the longest match):
// the candidates that can match past the end of a run are exactly those whose run ends as far
// ahead, and that chain holds nothing else.

const HASH_BITS = 17;
/** Run lengths 0..274 as keys; every run of 274 or more shares the last key. */
const RUN_KEYS = 275;

export class HashChainMatchFinder {
  /** Lengths (increasing) and distances (1-based) of the matches found by the last find(). */
  readonly lens = new Int32Array(274);
  readonly dists = new Int32Array(274);
  private readonly head2 = new Int32Array(1 << 16).fill(-1);
  private readonly head3 = new Int32Array(1 << HASH_BITS).fill(-1);
  private readonly headRun = new Int32Array(256 * RUN_KEYS).fill(-1);
  private readonly prev: Int32Array;
  /** Equal bytes from each position on (1 when the next byte differs), capped at 65535. */
  private readonly run: Uint16Array;
  private next = 0;

  constructor(
    private readonly data: Uint8Array,
    private readonly window: number,
    private readonly niceLength: number,
    private readonly depth: number,
  ) {
    this.prev = new Int32Array(data.length);
    this.run = new Uint16Array(data.length);
    for (let i = data.length - 1; i >= 0; i--) {
      this.run[i] = i + 1 < data.length && data[i] === data[i + 1] && this.run[i + 1] < 65535 ? this.run[i + 1] + 1 : 1;
    }
  }

  /** Position the next find()/skip() must be called for. */
  get position(): number {
    return this.next;
  }

  /** Matches at the next position, then inserts it. Returns how many (len, dist) pairs were found. */
  find(maxLen: number): number {
    const d = this.data;
    const p = this.next;
    let count = 0;
    if (maxLen < 2 || p + 2 > d.length) {
      this.insert(p);
      return 0;
    }
    let best = 1;
    const k2 = (d[p] << 8) | d[p + 1];
    const c2 = this.head2[k2];
    if (c2 >= 0 && p - c2 <= this.window) {
      let len = 2;
      while (len < maxLen && d[c2 + len] === d[p + len]) len++;
      best = len;
      this.lens[count] = len;
      this.dists[count] = p - c2;
      count++;
    }
    const run = this.run[p];
    if (best < maxLen && run >= 3) {
      // Candidates whose run of this byte ends exactly as far ahead; all match `run` bytes at least.
      let c = this.headRun[d[p] * RUN_KEYS + (run < RUN_KEYS - 1 ? run : RUN_KEYS - 1)];
      let steps = this.depth;
      while (c >= 0 && p - c <= this.window && steps-- > 0) {
        let len = run < maxLen ? run : maxLen;
        while (len < maxLen && d[c + len] === d[p + len]) len++;
        if (len > best) {
          best = len;
          this.lens[count] = len;
          this.dists[count] = p - c;
          count++;
          if (len >= this.niceLength || len >= maxLen) break;
        }
        c = this.prev[c];
      }
    } else if (best < maxLen && p + 3 <= d.length) {
      let c = this.head3[hash3(d, p)];
      let steps = this.depth;
      while (c >= 0 && p - c <= this.window && steps-- > 0) {
        if (d[c + best] === d[p + best] && d[c] === d[p]) {
          let len = 0;
          while (len < maxLen && d[c + len] === d[p + len]) len++;
          if (len > best) {
            best = len;
            this.lens[count] = len;
            this.dists[count] = p - c;
            count++;
            if (len >= this.niceLength || len >= maxLen) break;
          }
        }
        c = this.prev[c];
      }
    }
    this.insert(p);
    return count;
  }

  skip(): void {
    this.insert(this.next);
  }

  private insert(p: number): void {
    const d = this.data;
    this.next = p + 1;
    if (p + 2 > d.length) return;
    this.head2[(d[p] << 8) | d[p + 1]] = p;
    if (p + 3 > d.length) return;
    const run = this.run[p];
    if (run >= 3) {
      const k = d[p] * RUN_KEYS + (run < RUN_KEYS - 1 ? run : RUN_KEYS - 1);
      this.prev[p] = this.headRun[k];
      this.headRun[k] = p;
      return;
    }
    const h = hash3(d, p);
    this.prev[p] = this.head3[h];
    this.head3[h] = p;
  }
}

function hash3(d: Uint8Array, p: number): number {
  return (Math.imul((d[p] << 16) | (d[p + 1] << 8) | d[p + 2], 0x9e3779b1) >>> (32 - HASH_BITS));
}

// Splits the new image into bsdiff records against the old one: (diff: bytes taken from the old
// image at a moving offset plus a byte-wise difference; extra: bytes copied from the patch; a seek
// of the old offset). Matches are approximate, as in bsdiff: a diff region keeps going through
// mismatching bytes as long as at least half of its bytes match, because in firmware the
// mismatches are mostly shifted pointers that repeat and compress well after subtraction.
import { suffixArray } from './suffix-array';

export interface DeltaRecord {
  diffLength: number;
  extraLength: number;
  /** Old offset move after the diff bytes (relative, may be negative). */
  adjustment: number;
}

export interface MatcherOptions {
  /** A new exact match replaces the current offset only when this many bytes longer than what the current offset matches (bsdiff: 8). */
  switchMargin?: number;
  /** A diff region is extended while matches * extendMatchWeight - length keeps growing (bsdiff: 2, i.e. half the bytes match). */
  extendMatchWeight?: number;
}

/** Settings tried in turn on small images (the smallest patch wins); the first is the default. */
export const MATCHER_TRIALS: readonly Required<MatcherOptions>[] = [
  { switchMargin: 8, extendMatchWeight: 2.5 },
  { switchMargin: 6, extendMatchWeight: 2.5 },
  { switchMargin: 12, extendMatchWeight: 2.5 },
  { switchMargin: 8, extendMatchWeight: 3 },
  { switchMargin: 8, extendMatchWeight: 2 },
];

/** Longest-prefix search of new[np..] among the old image's suffixes. */
class SuffixSearcher {
  constructor(
    private readonly old: Uint8Array,
    private readonly sa: Int32Array,
  ) {}

  matchPos = 0;

  /** Length of the longest prefix of nu[np..] found in old; its old offset is left in matchPos. */
  search(nu: Uint8Array, np: number): number {
    const old = this.old;
    const sa = this.sa;
    const oldLen = old.length;
    const newLen = nu.length;
    if (sa.length === 0) { this.matchPos = 0; return 0; }
    const lcpAt = (a: number, from: number): number => {
      let k = from;
      while (a + k < oldLen && np + k < newLen && old[a + k] === nu[np + k]) k++;
      return k;
    };
    let lo = 0;
    let hi = sa.length - 1;
    let lcpLo = lcpAt(sa[lo], 0);
    let lcpHi = lcpAt(sa[hi], 0);
    // Is the new suffix above sa[lo] and below sa[hi]? If not, the extreme holds the best match.
    while (hi - lo > 1) {
      const mid = (lo + hi) >>> 1;
      const a = sa[mid];
      const k = lcpAt(a, lcpLo < lcpHi ? lcpLo : lcpHi);
      // old suffix < new suffix when the old one ended first or its next byte is smaller.
      const oldLess = np + k < newLen && (a + k === oldLen || old[a + k] < nu[np + k]);
      if (oldLess) { lo = mid; lcpLo = k; } else { hi = mid; lcpHi = k; }
    }
    if (lcpLo >= lcpHi) { this.matchPos = sa[lo]; return lcpLo; }
    this.matchPos = sa[hi];
    return lcpHi;
  }
}

/** `sa` is suffixArray(old), passed in when several matcher settings are tried on one image. */
export function matchRecords(old: Uint8Array, nu: Uint8Array, options: MatcherOptions = {}, sa: Int32Array = suffixArray(old)): DeltaRecord[] {
  const margin = options.switchMargin ?? 8;
  const weight = options.extendMatchWeight ?? 2.5;
  const searcher = new SuffixSearcher(old, sa);
  const oldSize = old.length;
  const newSize = nu.length;
  const records: DeltaRecord[] = [];
  let scan = 0;
  let len = 0;
  let pos = 0;
  let lastScan = 0;
  let lastPos = 0;
  let lastOffset = 0;
  while (scan < newSize) {
    let oldScore = 0;
    let scsc = (scan += len);
    for (; scan < newSize; scan++) {
      len = searcher.search(nu, scan);
      pos = searcher.matchPos;
      for (; scsc < scan + len; scsc++) {
        if (scsc + lastOffset < oldSize && old[scsc + lastOffset] === nu[scsc]) oldScore++;
      }
      if ((len === oldScore && len !== 0) || len > oldScore + margin) break;
      if (scan + lastOffset < oldSize && old[scan + lastOffset] === nu[scan]) oldScore--;
    }
    if (len !== oldScore || scan === newSize) {
      // Extend the previous match forwards and this one backwards, as far as at least half matches.
      let s = 0;
      let best = 0;
      let lenF = 0;
      for (let i = 0; lastScan + i < scan && lastPos + i < oldSize;) {
        if (old[lastPos + i] === nu[lastScan + i]) s++;
        i++;
        if (s * weight - i > best * weight - lenF) { best = s; lenF = i; }
      }
      let lenB = 0;
      if (scan < newSize) {
        s = 0;
        best = 0;
        for (let i = 1; scan >= lastScan + i && pos >= i; i++) {
          if (old[pos - i] === nu[scan - i]) s++;
          if (s * weight - i > best * weight - lenB) { best = s; lenB = i; }
        }
      }
      if (lastScan + lenF > scan - lenB) {
        const overlap = lastScan + lenF - (scan - lenB);
        s = 0;
        let bestS = 0;
        let lenS = 0;
        for (let i = 0; i < overlap; i++) {
          if (nu[lastScan + lenF - overlap + i] === old[lastPos + lenF - overlap + i]) s++;
          if (nu[scan - lenB + i] === old[pos - lenB + i]) s--;
          if (s > bestS) { bestS = s; lenS = i + 1; }
        }
        lenF += lenS - overlap;
        lenB -= lenS;
      }
      const extra = scan - lenB - (lastScan + lenF);
      const nextOld = scan < newSize ? pos - lenB : lastPos + lenF;
      records.push({ diffLength: lenF, extraLength: extra, adjustment: nextOld - (lastPos + lenF) });
      lastScan = scan - lenB;
      lastPos = pos - lenB;
      lastOffset = pos - scan;
    }
  }
  return records;
}

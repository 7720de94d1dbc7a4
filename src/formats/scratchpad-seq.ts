// OTAP sequence numbers of Wirepas scratchpads: 8 bits, written by the sink when a scratchpad is
// uploaded to it (genscratchpad always leaves 255 there), and compared node to node to decide
// whether a neighbour's scratchpad replaces the one a node holds.
//
// What Wirepas says, and what we implement (docs/scratchpad.md has the reasoning):
// - 0 and 255 are not sequence numbers but states of the node that holds them. The SDK's
//   app_lib_otap_seq_t documents 0 as "node does not participate in OTAP" and 255 as "node
//   accepts any scratchpad from the network as newer". A sink is given 1..254: Wirepas's MQTT
//   OTAP helper draws a random seq from 1..254 when the caller gives none.
// - Between 1 and 254 the numbers wrap (Wirepas's own OTAPv2 announcement calls legacy OTAP's the
//   "8-bit circling sequence number"): after 254 comes 1. A plain greater-than would be stuck at
//   254 forever, so the comparison is serial-number arithmetic (the idea of RFC 1982) on the ring
//   of the 254 values 1..254: a is newer than b when a is 1..126 steps ahead of b. Exactly 127
//   steps (half the ring) is ambiguous and counts as not newer: the node keeps what it has, which
//   is the safe answer (an update never happens by accident; the sink can pick another seq).
// The window size is ours: no public Wirepas source states it. Anything that must interoperate
// with real nodes should keep successive seqs well inside it (the usual +1 per update does).

/** A node holding this takes no part in OTAP: nothing replaces its scratchpad. */
export const SCRATCHPAD_SEQ_NO_OTAP = 0;
/** A node holding this takes any scratchpad from the network as newer (genscratchpad's default). */
export const SCRATCHPAD_SEQ_ACCEPT_ANY = 255;
/** Number of real sequence numbers (1..254) on the ring. */
const RING = 254;
/** A candidate at most this many steps ahead is newer. */
const WINDOW = 126;

/** True for 1..254, the values a sink may give an uploaded scratchpad. */
export function isSinkScratchpadSeq(seq: number): boolean {
  return typeof seq === 'number' && seq % 1 === 0 && seq >= 1 && seq <= 254;
}

/** Steps from `from` forward to `to` on the ring 1..254 (0..253); both must be 1..254. */
export function scratchpadSeqDistance(from: number, to: number): number {
  return (((to - from) % RING) + RING) % RING;
}

/**
 * Does a scratchpad with sequence number `candidate` replace one with `current`? `current` may be
 * 0 (never) or 255 (always, for any real candidate). A candidate of 0 or 255, or anything outside
 * 0..255, never replaces anything: such a scratchpad has not been given a seq by a sink.
 */
export function isNewerScratchpadSeq(candidate: number, current: number): boolean {
  if (!isSinkScratchpadSeq(candidate)) return false;
  if (current === SCRATCHPAD_SEQ_NO_OTAP) return false;
  if (current === SCRATCHPAD_SEQ_ACCEPT_ANY) return true;
  if (!isSinkScratchpadSeq(current)) return false;
  const d = scratchpadSeqDistance(current, candidate);
  return d >= 1 && d <= WINDOW;
}

/** The seq a sink should give the next scratchpad after `seq`: one step on the ring (254 -> 1; 0 and 255 -> 1). */
export function nextScratchpadSeq(seq: number): number {
  return isSinkScratchpadSeq(seq) ? (seq % RING) + 1 : 1;
}

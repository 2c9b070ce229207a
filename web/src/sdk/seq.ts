// Per-stream sequence tracking: drops replayed events and notices gaps, so that a stream
// resumed after a reconnect has no duplicate and no hole.

export type SeqVerdict =
  /** New and contiguous: apply it. */
  | 'apply'
  /** Already seen (seq <= last): drop it. */
  | 'duplicate'
  /** Starts after a hole (first seq > last + 1): do not apply; resume from the last seq. */
  | 'gap'
  /** A merged chunk that straddles the last seen seq: its text partly repeats what we
   *  have and cannot be split; do not apply; resume from the last seq. */
  | 'overlap';

export class SeqTracker {
  private last: number;

  constructor(lastSeq = 0) {
    this.last = lastSeq;
  }

  /** The highest seq applied so far (0 before any). */
  get lastSeq(): number {
    return this.last;
  }

  /**
   * Classifies an event carrying `seq` (and `firstSeq` for a merged chunk); only an
   * `apply` verdict advances the last seen seq.
   */
  accept(seq: number, firstSeq?: number): SeqVerdict {
    const first = firstSeq ?? seq;
    if (seq <= this.last) return 'duplicate';
    if (first <= this.last) return 'overlap';
    if (first > this.last + 1) return 'gap';
    this.last = seq;
    return 'apply';
  }
}

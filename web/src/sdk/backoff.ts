// Exponential backoff with jitter for reconnect delays.

export interface BackoffOptions {
  /** Delay before the first retry, ms. */
  initialMs: number;
  /** Upper bound of any delay, ms. */
  maxMs: number;
  /** Growth per failed attempt. */
  factor: number;
  /**
   * Share of the delay that is randomised, 0..1. With 0.5 a nominal 4 s delay lands
   * uniformly in [2 s, 4 s], so clients that lost the same server do not return in step.
   */
  jitter: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 300, maxMs: 10_000, factor: 2, jitter: 0.5 };

/** The delay before retry number `attempt` (0-based), given a random number in [0, 1). */
export function backoffDelay(attempt: number, opts: BackoffOptions = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const a = Math.max(0, Math.floor(attempt));
  const nominal = Math.min(opts.maxMs, opts.initialMs * Math.pow(opts.factor, Math.min(a, 60)));
  const j = Math.min(1, Math.max(0, opts.jitter));
  const r = Math.min(1, Math.max(0, random()));
  return Math.round(nominal * (1 - j) + nominal * j * r);
}

// Waiting between attempts: an abortable sleep and an exponential backoff, shared by every loop that
// reconnects or polls (the dCache channel hub, the file ledger's followers).

/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  /** growth per attempt (2) */
  factor?: number;
}

/** Delays that grow by `factor` from initialMs up to maxMs, until reset (after a success). */
export class Backoff {
  private delay: number;

  constructor(private readonly o: BackoffOptions) {
    this.delay = o.initialMs;
  }

  /** The delay before the next attempt; each call grows the one after it. */
  next(): number {
    const d = this.delay;
    this.delay = Math.min(this.o.maxMs, this.delay * (this.o.factor ?? 2));
    return d;
  }

  reset(): void {
    this.delay = this.o.initialMs;
  }
}

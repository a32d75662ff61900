// Namespace throttles of a stock OpenWhisk deployment: invocations per minute, trigger fires per
// minute and concurrent invocations, each answering 429 with OpenWhisk's message past its limit.
import { ApiError, Messages } from "./errors.ts";
import type { Limits } from "./config.ts";

class MinuteWindow {
  // One bucket per second over the last minute: cheap to count and to slide.
  private buckets = new Map<string, { second: number; counts: number[] }>();

  countAndAdd(ns: string, allowed: number): void {
    const now = Math.floor(Date.now() / 1000);
    let b = this.buckets.get(ns);
    if (!b) {
      b = { second: now, counts: new Array(60).fill(0) };
      this.buckets.set(ns, b);
    }
    for (let s = b.second + 1; s <= now && s <= b.second + 60; s++) b.counts[s % 60] = 0;
    b.second = Math.max(b.second, now);
    const count = b.counts.reduce((x, y) => x + y, 0);
    if (count >= allowed) throw new ApiError(429, Messages.tooManyRequests(count + 1, allowed));
    b.counts[now % 60]!++;
  }
}

export class Throttles {
  private invokes = new MinuteWindow();
  private fires = new MinuteWindow();
  private inFlight = new Map<string, number>();

  constructor(readonly limits: Limits) {}

  /** Counts one invocation of namespace `ns`; returns the function that marks it finished. */
  startInvocation(ns: string): () => void {
    const running = this.inFlight.get(ns) ?? 0;
    if (running >= this.limits.concurrentInvocations) {
      throw new ApiError(429, Messages.tooManyConcurrent(running + 1, this.limits.concurrentInvocations));
    }
    this.invokes.countAndAdd(ns, this.limits.invocationsPerMinute);
    this.inFlight.set(ns, running + 1);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.inFlight.set(ns, (this.inFlight.get(ns) ?? 1) - 1);
    };
  }

  /**
   * Counts an invocation that was already admitted (a fire's promised rule invocation run again
   * after a restart): it occupies a slot but is never refused.
   */
  resumeInvocation(ns: string): () => void {
    this.inFlight.set(ns, (this.inFlight.get(ns) ?? 0) + 1);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.inFlight.set(ns, (this.inFlight.get(ns) ?? 1) - 1);
    };
  }

  countFire(ns: string): void {
    this.fires.countAndAdd(ns, this.limits.firesPerMinute);
  }
}

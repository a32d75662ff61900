// Delivery for one registration: keeps the in-memory mirror of its durable outbox, fires batches one
// at a time in outbox order, removes outbox rows only after OpenWhisk acknowledged the fire, retries
// with backoff, dead-letters what outlived maxAgeSeconds, and disables the registration when
// OpenWhisk says the trigger or key is gone. PAUSE stops firing; arrivals keep landing in the outbox
// (up to maxPending, then the intake holds the source back); UNPAUSE drains in order. With arrivals,
// an arrival of a file whose earlier arrival is still queued (not fired, not in flight) takes that
// one's place: the file is processed once, as it is now.
import type { BatchParams, DeliveryParams } from "../../common/feed-params.ts";
import type { Logger } from "../log.ts";
import type { ProviderMetrics } from "../metrics.ts";
import type { Ledger } from "../ledger/ledger.ts";
import type { DeliveryStats, OutboxEntry, StatusReason, Store } from "../store/types.ts";
import { arrivalKeys, PendingArrivals } from "./arrival.ts";
import { backoffDelay, type BackoffPolicy } from "./backoff.ts";
import { batchDueAt, cutBatch } from "./batcher.ts";
import type { FireOutcome, FireTarget } from "./firer.ts";

export interface DeliveryOptions {
  regId: string;
  /** label value for metrics: "/ns/trigger" */
  label: string;
  store: Store;
  target: FireTarget;
  batch: BatchParams;
  delivery: DeliveryParams;
  /** set when the registration passes arrivals: coalesce queued arrivals of a path, settle each */
  arrivals?: { settleMs: number };
  stats: DeliveryStats;
  backoff: BackoffPolicy;
  /** outbox entries at which the intake stops accepting (backpressure on the source) */
  maxPending: number;
  fireTimeoutMs: number;
  fire: (target: FireTarget, body: string, timeoutMs: number) => Promise<FireOutcome>;
  onDisable: (reason: StatusReason) => void;
  log: Logger;
  metrics: ProviderMetrics;
  /** the registration's file ledger: fired and dead-lettered files are recorded with the outbox change */
  ledger?: () => Ledger | undefined;
}

export class Delivery {
  private queue: OutboxEntry[] = [];
  private queuedBytes = 0;
  /** monotonic arrival time per entry (receivedAt is wall clock and survives restarts) */
  private readonly arrived = new WeakMap<OutboxEntry, number>();
  /** monotonic time each entry joined this queue (for the outbox-wait metric) */
  private readonly queuedAt = new WeakMap<OutboxEntry, number>();
  private paused = false;
  private stopped = false;
  private inFlight: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private attempt = 0;
  private notBefore = 0;
  private roomWaiters: (() => void)[] = [];
  private flushing = false;
  private readonly pendingArrivals = new PendingArrivals<OutboxEntry>();
  /** the batch being fired: not pending any more, so a new arrival of its files is a new arrival */
  private flying: OutboxEntry[] = [];
  private readonly removed = new WeakSet<OutboxEntry>();

  constructor(private opts: DeliveryOptions) {
    if (opts.arrivals) this.indexArrivals();
  }

  get pending(): number {
    return this.queue.length;
  }
  get stats(): DeliveryStats {
    return this.opts.stats;
  }
  get isPaused(): boolean {
    return this.paused;
  }

  /** New batch/delivery settings after UPDATE; takes effect at the next fire. */
  reconfigure(batch: BatchParams, delivery: DeliveryParams, target: FireTarget, arrivals?: { settleMs: number }): void {
    const wasOn = !!this.opts.arrivals;
    this.opts = { ...this.opts, batch, delivery, target, arrivals };
    if (!arrivals) this.pendingArrivals.clear();
    else if (!wasOn) this.indexArrivals();
    this.schedule();
  }

  private indexArrivals(): void {
    const flying = new Set(this.flying);
    for (const e of this.queue) {
      const k = flying.has(e) ? undefined : arrivalKeys(e.body);
      if (k) this.pendingArrivals.add(k.path, e);
    }
  }

  /** Entries already durable in the outbox (loaded at start, appended by the intake, or replayed). */
  enqueue(entries: OutboxEntry[]): void {
    const now = performance.now();
    const replaced: OutboxEntry[] = [];
    for (const e of entries) {
      this.queuedAt.set(e, now);
      // an entry from before a restart counts as waiting since its wall-clock arrival
      const at = now - Math.max(0, Date.now() - e.receivedAt);
      if (this.opts.arrivals && this.coalesce(e, at, replaced)) continue;
      this.queue.push(e);
      this.queuedBytes += e.bytes;
      this.arrived.set(e, at);
    }
    if (replaced.length > 0) this.dropReplaced(replaced, entries);
    this.schedule();
  }

  /**
   * Puts a new arrival in the place of the queued arrivals it makes obsolete (same path, or its old
   * name when renamed): the earliest keeps its place and arrival time, so the settle window runs
   * from the file's first arrival and a file closed over and over still fires. False: not queued yet.
   */
  private coalesce(e: OutboxEntry, at: number, replaced: OutboxEntry[]): boolean {
    const keys = arrivalKeys(e.body);
    if (!keys) return false;
    const olds = this.pendingArrivals.replaced(keys.replaces);
    for (const o of olds) this.pendingArrivals.remove(o);
    this.pendingArrivals.add(keys.path, e);
    const idx = olds
      .map((o) => this.queue.indexOf(o))
      .filter((i) => i >= 0)
      .sort((a, b) => a - b);
    if (idx.length === 0) return false;
    const first = this.queue[idx[0]!]!;
    for (const i of idx.slice(1).reverse()) {
      this.queuedBytes -= this.queue[i]!.bytes;
      this.removed.add(this.queue[i]!);
      this.queue.splice(i, 1);
    }
    this.queuedBytes += e.bytes - first.bytes;
    this.removed.add(first);
    this.queue[idx[0]!] = e;
    this.arrived.set(e, Math.min(at, ...olds.map((o) => this.arrived.get(o) ?? at)));
    replaced.push(...olds);
    return true;
  }

  private dropReplaced(old: OutboxEntry[], by: OutboxEntry[]): void {
    const { store, regId, label, metrics, log } = this.opts;
    // a file renamed before it fired: the ledger closes the old name's entry
    const now = new Set(by.flatMap((e) => arrivalKeys(e.body)?.path ?? []));
    const gone = old.flatMap((e) => arrivalKeys(e.body)?.path ?? []).filter((p) => !now.has(p));
    if (gone.length)
      this.opts
        .ledger?.()
        ?.renamed(gone)
        .catch((err) => log.warn("cannot record renamed files in the ledger", { err: err as Error }));
    metrics.coalesced.inc({ trigger: label }, old.length);
    log.debug("arrivals of files still queued replaced by their newer arrival", {
      events: old.length,
      example: arrivalKeys(old[0]!.body)?.path,
    });
    // the replacing rows are durable already: a crash before this removal fires the old ones as well, never neither
    store
      .removeOutbox(
        regId,
        old.map((e) => e.seq),
      )
      .catch((err) => log.warn("cannot remove replaced arrivals from the outbox; they fire again after a restart", { err: err as Error }));
    this.releaseRoom();
  }

  /** Whether an entry's settle window has passed (always, without arrivals or when flushing at shutdown). */
  private ready(e: OutboxEntry): boolean {
    const settle = this.opts.arrivals?.settleMs ?? 0;
    return settle === 0 || this.flushing || (this.arrived.get(e) ?? 0) + settle <= performance.now();
  }

  hasRoom(): boolean {
    return this.queue.length < this.opts.maxPending || this.stopped;
  }

  /** Resolves when the outbox has room for more events (always at once while below maxPending). */
  room(): Promise<void> {
    if (this.queue.length < this.opts.maxPending || this.stopped) return Promise.resolve();
    return new Promise((res) => this.roomWaiters.push(res));
  }

  pause(): void {
    this.paused = true;
    this.clearTimer();
  }

  resume(): void {
    this.paused = false;
    this.attempt = 0;
    this.notBefore = 0;
    this.schedule();
  }

  /** Stops firing; an in-flight fire finishes first. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.clearTimer();
    this.releaseRoom(true);
    await this.inFlight;
  }

  /**
   * Graceful shutdown: fires what is queued now, without waiting for maxWaitMs, until the queue is
   * empty, a fire fails, or the deadline passes. Anything left stays in the outbox for the next start.
   */
  async flush(deadline: number): Promise<void> {
    this.flushing = true;
    try {
      while (!this.paused && !this.stopped && this.queue.length > 0 && performance.now() < deadline) {
        await this.inFlight;
        this.clearTimer();
        const before = this.queue.length;
        await this.fireHead();
        if (this.queue.length >= before || this.attempt > 0) break;
      }
    } finally {
      this.flushing = false;
    }
    await this.stop();
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private releaseRoom(all = false): void {
    while (this.roomWaiters.length > 0 && (all || this.queue.length < this.opts.maxPending)) this.roomWaiters.shift()!();
  }

  private schedule(): void {
    if (this.paused || this.stopped || this.inFlight || this.flushing) return;
    const due = Math.max(
      this.notBefore,
      batchDueAt(this.queue, this.queuedBytes, this.opts.batch, (e) => this.arrived.get(e) ?? 0, this.opts.arrivals?.settleMs ?? 0),
    );
    if (due === Infinity) return;
    const wait = due - performance.now();
    this.clearTimer();
    if (wait <= 0) this.start();
    // a timer can fire early by how long the event-loop turn that set it had already run (its clock
    // is the turn's start): check again rather than cut a batch before its newest events settled
    else this.timer = setTimeout(() => this.schedule(), Math.ceil(wait));
  }

  private start(): void {
    this.timer = undefined;
    if (this.inFlight || this.paused || this.stopped) return;
    this.inFlight = this.fireHead()
      .catch((e) => {
        // a store error: keep everything queued, try again later
        this.opts.log.error("delivery step failed; will retry", { err: e as Error });
        this.notBefore = performance.now() + backoffDelay(++this.attempt, this.opts.backoff);
      })
      .finally(() => {
        this.inFlight = undefined;
        this.schedule();
      });
  }

  private removeHead(entries: OutboxEntry[]): void {
    // entries are always the head of the queue, in order
    this.queue.splice(0, entries.length);
    for (const e of entries) {
      this.queuedBytes -= e.bytes;
      this.removed.add(e);
      this.pendingArrivals.remove(e);
    }
    this.releaseRoom();
  }

  private async fireHead(): Promise<void> {
    const cut = cutBatch(this.queue, this.opts.batch, (e) => this.ready(e));
    if (cut.kind !== "batch") return this.fireCut(cut);
    this.flying = cut.entries;
    for (const e of cut.entries) this.pendingArrivals.remove(e);
    try {
      await this.fireCut(cut);
    } finally {
      this.land();
    }
  }

  /** After a fire that did not take its batch out of the queue: its arrivals are pending again. */
  private land(): void {
    const flying = this.flying;
    this.flying = [];
    if (!this.opts.arrivals) return;
    for (const e of flying) {
      if (this.removed.has(e)) continue;
      const path = this.pendingArrivals.pathOfEntry(e);
      if (path !== undefined && this.pendingArrivals.free(path)) this.pendingArrivals.add(path, e);
    }
  }

  private async fireCut(cut: ReturnType<typeof cutBatch>): Promise<void> {
    const { store, regId, label, metrics, log } = this.opts;
    if (cut.kind === "empty") return;
    if (cut.kind === "too-large") {
      // maxBytes was lowered after this event arrived: it can never be fired
      await this.deadLetter([cut.entry], `event of ${cut.entry.bytes} bytes exceeds maxBytes ${this.opts.batch.maxBytes}`, null);
      return;
    }
    const t0 = performance.now();
    const outcome = await this.opts.fire(this.opts.target, cut.body, this.opts.fireTimeoutMs);
    metrics.fireSeconds.observe((performance.now() - t0) / 1000);
    metrics.fires.inc({ trigger: label, code: String(outcome.status) });
    const stats = this.opts.stats;
    stats.lastFireStatus = outcome.status;
    if (outcome.kind === "acknowledged") {
      const seqs = cut.entries.map((e) => e.seq);
      const ledger = this.opts.ledger?.();
      if (ledger) await ledger.fired(cut.entries, outcome.status, outcome.activationId, (files) => store.removeOutbox(regId, seqs, files));
      else await store.removeOutbox(regId, seqs);
      this.removeHead(cut.entries);
      this.attempt = 0;
      this.notBefore = 0;
      stats.fires++;
      stats.firedEvents += cut.entries.length;
      stats.lastFire = Date.now();
      metrics.fired.inc({ trigger: label }, cut.entries.length);
      metrics.outboxSeconds.inc(
        { trigger: label },
        cut.entries.reduce((a, e) => a + Math.max(0, t0 - (this.queuedAt.get(e) ?? t0)), 0) / 1000,
      );
      await store.setStats(regId, stats);
      return;
    }
    if (outcome.kind === "disable") {
      log.warn("OpenWhisk refused the fire; registration disabled", { status: outcome.status, reason: outcome.message });
      this.paused = true;
      this.opts.onDisable({ kind: "AUTO", statusCode: outcome.status, message: outcome.message });
      await store.setStats(regId, stats);
      return;
    }
    if (outcome.kind === "reject") {
      log.warn("OpenWhisk rejected the batch; dead-lettering it", {
        status: outcome.status,
        reason: outcome.message,
        events: cut.entries.length,
      });
      await this.deadLetter(cut.entries, `OpenWhisk rejected the fire: ${outcome.message}`, outcome.status);
      return;
    }
    // throttled or transient: retry later; events past maxAgeSeconds leave the queue first
    this.attempt++;
    stats.retries++;
    metrics.retried.inc({ trigger: label });
    const delay = backoffDelay(this.attempt, this.opts.backoff, outcome.retryAfterMs);
    this.notBefore = performance.now() + delay;
    log.info(outcome.kind === "throttled" ? "fire throttled; coalescing until retry" : "fire failed; will retry", {
      status: outcome.status,
      reason: outcome.message,
      attempt: this.attempt,
      retryInMs: Math.round(delay),
      pending: this.queue.length,
    });
    const cutoff = Date.now() - this.opts.delivery.maxAgeSeconds * 1000;
    const expired: OutboxEntry[] = [];
    for (const e of this.queue) {
      if (e.receivedAt > cutoff) break;
      expired.push(e);
    }
    if (expired.length > 0)
      await this.deadLetter(
        expired,
        `not delivered within maxAgeSeconds=${this.opts.delivery.maxAgeSeconds}: ${outcome.message}`,
        outcome.status || null,
      );
    await store.setStats(regId, stats);
  }

  private async deadLetter(entries: OutboxEntry[], reason: string, status: number | null): Promise<void> {
    const { store, regId, label, metrics, log } = this.opts;
    const stats = this.opts.stats;
    const ledger = this.opts.ledger?.();
    if (this.opts.delivery.deadLetter) {
      if (ledger) await ledger.deadLettered(entries, reason, (files) => store.moveToDeadLetters(regId, entries, reason, status, files));
      else await store.moveToDeadLetters(regId, entries, reason, status);
      stats.deadLettered += entries.length;
      metrics.deadLettered.inc({ trigger: label }, entries.length);
      log.warn("events dead-lettered", { events: entries.length, reason });
    } else {
      const seqs = entries.map((e) => e.seq);
      if (ledger) await ledger.deadLettered(entries, reason, (files) => store.removeOutbox(regId, seqs, files));
      else await store.removeOutbox(regId, seqs);
      stats.dropped += entries.length;
      metrics.dropped.inc({ trigger: label }, entries.length);
      log.warn("events dropped (dead-lettering is off)", { events: entries.length, reason });
    }
    this.removeHead(entries);
    await store.setStats(regId, stats);
  }
}

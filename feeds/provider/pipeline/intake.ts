// The sink sources deliver into: parse → normalise to CloudEvents → arrival → filter → size check → one store
// transaction (outbox rows, dead letters, cursor) → hand the new outbox entries to delivery.
import { normaliseStorageEvent, type Normalised } from "../../../lib/events/normalise.ts";
import { truncate, type Logger } from "../log.ts";
import type { ProviderMetrics } from "../metrics.ts";
import type { SourceMessage, SourceSink, SourceState } from "../sources/types.ts";
import type { Ledger } from "../ledger/ledger.ts";
import type { FileEntry } from "../ledger/types.ts";
import type { NewEvent, OutboxEntry, Store } from "../store/types.ts";
import type { ArrivalStage } from "./arrival.ts";
import type { Delivery } from "./delivery.ts";
import type { EventFilter } from "./filter.ts";

/** most deliveries committed in one transaction */
const GROUP_MAX = 2000;

export interface IntakeOptions {
  regId: string;
  label: string;
  store: Store;
  delivery: () => Delivery;
  arrival: () => ArrivalStage;
  filter: () => EventFilter;
  maxEventBytes: () => number;
  metrics: ProviderMetrics;
  log: Logger;
  onState: (s: SourceState, detail?: string) => void;
  onDisable?: (reason: string) => void;
  /** the registration's file ledger, unless the feed turned it off (`delivery.ledger: false`) */
  ledger?: () => Ledger | undefined;
}

export class Intake implements SourceSink {
  constructor(private readonly o: IntakeOptions) {}

  state(state: SourceState, detail?: string): void {
    this.o.onState(state, detail);
  }

  disable(reason: string): void {
    this.o.onDisable?.(reason);
  }

  private parse(m: Extract<SourceMessage, { payload: unknown }>): unknown {
    if (!Buffer.isBuffer(m.payload)) return m.payload;
    try {
      return JSON.parse(m.payload.toString("utf8"));
    } catch {
      return undefined;
    }
  }

  /**
   * Messages delivered within one event-loop turn are committed together (group commit): one store
   * transaction per turn instead of one per message. Each delivery's promise resolves once its
   * group is durable, in delivery order.
   */
  deliver(messages: SourceMessage[], cursor?: string): Promise<void> {
    const delivery = this.o.delivery();
    if (!delivery.hasRoom()) return delivery.room().then(() => this.deliver(messages, cursor));
    return new Promise((resolve, reject) => {
      this.group.push({ messages, cursor, resolve, reject });
      if (this.group.length >= GROUP_MAX) this.flush();
      else if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private group: { messages: SourceMessage[]; cursor?: string; resolve: () => void; reject: (e: Error) => void }[] = [];
  private flushScheduled = false;
  /** serialises group commits so that groups become durable (and resolve) in order */
  private chain: Promise<void> = Promise.resolve();

  private flush(): void {
    this.flushScheduled = false;
    const group = this.group;
    if (group.length === 0) return;
    this.group = [];
    this.chain = this.chain.then(async () => {
      try {
        const intake = this.prepare(group.flatMap((g) => g.messages));
        let cursor: string | undefined;
        for (const g of group) if (g.cursor !== undefined) cursor = g.cursor;
        if (intake.events.length > 0 || intake.dead.length > 0 || cursor !== undefined) {
          const store = this.o.store;
          const commit = async (events: NewEvent[], files?: FileEntry[]) => {
            const all = { ...intake, events, cursor, ...(files?.length ? { files } : {}) };
            return store.appendIntakeSync ? store.appendIntakeSync(this.o.regId, all) : await store.appendIntake(this.o.regId, all);
          };
          const ledger = this.o.ledger?.();
          const entries = ledger && intake.events.length > 0 ? await ledger.admitAll(intake.events, commit) : await commit(intake.events);
          this.stored(entries, intake.dead.length);
        }
        for (const g of group) g.resolve();
      } catch (e) {
        for (const g of group) g.reject(e as Error);
      }
    });
  }

  private normalise(
    m: Extract<SourceMessage, { payload: unknown }>,
  ): Extract<Normalised, { ok: true }> | { ok: false; error: string; sample: string } {
    const parsed = this.parse(m);
    const n =
      parsed === undefined
        ? { ok: false as const, error: "the message is not JSON" }
        : normaliseStorageEvent(parsed, { receivedAt: m.receivedAt, fallbackSource: m.origin });
    if (n.ok) return n;
    return { ...n, sample: Buffer.isBuffer(m.payload) ? m.payload.toString("utf8") : (JSON.stringify(m.payload) ?? String(m.payload)) };
  }

  private prepare(messages: SourceMessage[]): { events: NewEvent[]; dead: { event: NewEvent; reason: string }[] } {
    const { label, metrics, log } = this.o;
    const arrival = this.o.arrival();
    const filter = this.o.filter();
    const limit = this.o.maxEventBytes();
    const events: NewEvent[] = [];
    const dead: { event: NewEvent; reason: string }[] = [];
    for (const m of messages) {
      metrics.received.inc({ trigger: label });
      const n = "event" in m ? { ok: true as const, event: m.event } : this.normalise(m);
      if (!n.ok) {
        metrics.malformed.inc({ trigger: label });
        log.warn("malformed message ignored", { error: truncate(n.error, 300), sample: truncate(n.sample, 200) });
        continue;
      }
      const verdict = arrival.classify(n.event);
      if (verdict !== "arrival" && verdict !== "raw") {
        metrics.filtered.inc({ trigger: label });
        metrics.notArrivals.inc({ trigger: label, reason: verdict });
        if (verdict === "temporary") log.debug("a temporary name is not an arrival", { path: n.event.subject, type: n.event.type });
        continue;
      }
      if (!filter(n.event)) {
        metrics.filtered.inc({ trigger: label });
        continue;
      }
      const body = JSON.stringify(n.event);
      const ev: NewEvent = { eventId: n.event.id, body, bytes: Buffer.byteLength(body), receivedAt: m.receivedAt.getTime() };
      if (ev.bytes > limit) dead.push({ event: ev, reason: `event of ${ev.bytes} bytes exceeds maxBytes (${limit} bytes for one event)` });
      else events.push(ev);
    }
    return { events, dead };
  }

  /** Events the ledger fires again (a file that changed while in flight, a retry with no rule): into the outbox. */
  async refire(events: NewEvent[], files: FileEntry[]): Promise<void> {
    const intake = { events, dead: [], files };
    const store = this.o.store;
    const entries = store.appendIntakeSync ? store.appendIntakeSync(this.o.regId, intake) : await store.appendIntake(this.o.regId, intake);
    this.o.delivery().enqueue(entries);
  }

  private stored(entries: OutboxEntry[], dead: number): void {
    const { label, metrics, log } = this.o;
    const delivery = this.o.delivery();
    if (dead > 0) {
      delivery.stats.deadLettered += dead;
      metrics.deadLettered.inc({ trigger: label }, dead);
      log.warn("over-large events dead-lettered", { events: dead, maxEventBytes: this.o.maxEventBytes() });
    }
    if (entries.length > 0) {
      const now = Date.now();
      metrics.stored.inc({ trigger: label }, entries.length);
      metrics.intakeSeconds.inc({ trigger: label }, entries.reduce((a, e) => a + Math.max(0, now - e.receivedAt), 0) / 1000);
    }
    delivery.enqueue(entries);
  }
}

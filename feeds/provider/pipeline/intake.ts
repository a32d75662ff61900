// The sink sources deliver into: parse → normalise to CloudEvents → filter → size check → one store
// transaction (outbox rows, dead letters, cursor) → hand the new outbox entries to delivery.
import { normaliseStorageEvent } from "../../../lib/events/normalise.ts";
import { truncate, type Logger } from "../log.ts";
import type { ProviderMetrics } from "../metrics.ts";
import type { SourceMessage, SourceSink, SourceState } from "../sources/types.ts";
import type { NewEvent, OutboxEntry, Store } from "../store/types.ts";
import type { Delivery } from "./delivery.ts";
import type { EventFilter } from "./filter.ts";

export interface IntakeOptions {
  regId: string;
  label: string;
  store: Store;
  delivery: () => Delivery;
  filter: () => EventFilter;
  maxEventBytes: () => number;
  metrics: ProviderMetrics;
  log: Logger;
  onState: (s: SourceState, detail?: string) => void;
  onDisable?: (reason: string) => void;
}

export class Intake implements SourceSink {
  constructor(private readonly o: IntakeOptions) {}

  state(state: SourceState, detail?: string): void {
    this.o.onState(state, detail);
  }

  disable(reason: string): void {
    this.o.onDisable?.(reason);
  }

  private parse(m: SourceMessage): unknown {
    if (!Buffer.isBuffer(m.payload)) return m.payload;
    try {
      return JSON.parse(m.payload.toString("utf8"));
    } catch {
      return undefined;
    }
  }

  deliver(messages: SourceMessage[], cursor?: string): Promise<void> | void {
    const delivery = this.o.delivery();
    if (!delivery.hasRoom()) return delivery.room().then(() => this.deliver(messages, cursor));
    const intake = this.prepare(messages);
    if (intake.events.length === 0 && intake.dead.length === 0 && cursor === undefined) return;
    const store = this.o.store;
    if (store.appendIntakeSync) return this.stored(store.appendIntakeSync(this.o.regId, { ...intake, cursor }), intake.dead.length);
    return store.appendIntake(this.o.regId, { ...intake, cursor }).then((entries) => this.stored(entries, intake.dead.length));
  }

  private prepare(messages: SourceMessage[]): { events: NewEvent[]; dead: { event: NewEvent; reason: string }[] } {
    const { label, metrics, log } = this.o;
    const filter = this.o.filter();
    const limit = this.o.maxEventBytes();
    const events: NewEvent[] = [];
    const dead: { event: NewEvent; reason: string }[] = [];
    for (const m of messages) {
      metrics.received.inc({ trigger: label });
      const parsed = this.parse(m);
      const n = parsed === undefined
        ? { ok: false as const, error: "the message is not JSON" }
        : normaliseStorageEvent(parsed, { receivedAt: m.receivedAt, fallbackSource: m.origin });
      if (!n.ok) {
        metrics.malformed.inc({ trigger: label });
        const sample = Buffer.isBuffer(m.payload) ? m.payload.toString("utf8") : JSON.stringify(m.payload) ?? String(m.payload);
        log.warn("malformed message ignored", { error: truncate(n.error, 300), sample: truncate(sample, 200) });
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

  private stored(entries: OutboxEntry[], dead: number): void {
    const { label, metrics, log } = this.o;
    const delivery = this.o.delivery();
    if (dead > 0) {
      delivery.stats.deadLettered += dead;
      metrics.deadLettered.inc({ trigger: label }, dead);
      log.warn("over-large events dead-lettered", { events: dead, maxEventBytes: this.o.maxEventBytes() });
    }
    delivery.enqueue(entries);
  }
}

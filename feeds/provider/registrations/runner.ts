// The registrations this replica runs: for each, its source, filter, arrival stage, intake, delivery
// loop over the durable outbox and file ledger, started from the store (adopt) and stopped (drop) as
// the owner (ha/coordinator.ts or ha/single.ts) decides.
import { secretsOf } from "../../common/feed-params.ts";
import { Ledger } from "../ledger/ledger.ts";
import type { Logger } from "../log.ts";
import type { ProviderMetrics } from "../metrics.ts";
import { compileArrival, type ArrivalStage } from "../pipeline/arrival.ts";
import type { BackoffPolicy } from "../pipeline/backoff.ts";
import { maxEventBytes } from "../pipeline/batcher.ts";
import { Delivery } from "../pipeline/delivery.ts";
import { compileFilter, type EventFilter, pathsPassed, typesPassed } from "../pipeline/filter.ts";
import { fireTrigger, type FireOutcome, type FireTarget } from "../pipeline/firer.ts";
import { GlobError } from "../pipeline/glob.ts";
import { Intake } from "../pipeline/intake.ts";
import type { RunningSource, Source, SourceState } from "../sources/types.ts";
import type { RegistrationRecord, StatusReason, Store } from "../store/types.ts";
import type { Access } from "./access.ts";
import { applyChange } from "./state.ts";
import { ApiError, type Sealed } from "./types.ts";

export interface RunnerOptions {
  store: Store;
  access: Access;
  sources: Map<string, Source>;
  metrics: ProviderMetrics;
  log: Logger;
  /** the identity sources resume upstream sessions under: the same on every replica sharing a store */
  sourceIdentity: string;
  backoff: BackoffPolicy;
  maxPending: number;
  fireTimeoutMs: number;
  fire?: (target: FireTarget, body: string, timeoutMs: number) => Promise<FireOutcome>;
}

export interface Runtime {
  rec: RegistrationRecord;
  sealed: Sealed;
  filter: EventFilter;
  arrival: ArrivalStage;
  delivery: Delivery;
  intake: Intake;
  /** the file ledger, unless the feed turned it off */
  ledger?: Ledger;
  source?: RunningSource;
  sourceState: SourceState;
  sourceDetail?: string;
  log: Logger;
}

/** Compiles a feed's filter and arrival stage; a bad glob is the caller's error. */
export function compileStages(config: Sealed["config"]): { filter: EventFilter; arrival: ArrivalStage } {
  try {
    return { arrival: compileArrival(config.filter), filter: compileFilter(config.filter) };
  } catch (e) {
    if (e instanceof GlobError) throw new ApiError(400, `invalid feed parameters: parameter \`filter\` has a bad glob: ${e.message}`);
    throw e;
  }
}

function arrivalsOf(a: ArrivalStage): { settleMs: number } | undefined {
  return a.enabled ? { settleMs: a.settleMs } : undefined;
}

export class Runner {
  private readonly runtimes = new Map<string, Runtime>();
  /** serialises starting and stopping per registration */
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(private readonly o: RunnerOptions) {
    o.metrics.gauge("feed_outbox_depth", "Events waiting in the outbox", () =>
      [...this.runtimes.values()].map((r) => [{ trigger: `/${r.rec.id}` }, r.delivery.pending]),
    );
    o.metrics.gauge("feed_registrations", "Registrations by state", () => {
      const n = { active: 0, paused: 0, disabled: 0 };
      for (const r of this.runtimes.values()) n[r.rec.state]++;
      return Object.entries(n).map(([state, v]) => [{ state }, v]);
    });
    o.metrics.gauge("feed_source_connected", "1 when the registration's source is connected", () =>
      [...this.runtimes.values()].map((r) => [{ trigger: `/${r.rec.id}` }, r.sourceState === "connected" ? 1 : 0]),
    );
  }

  private async locked<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(id) ?? Promise.resolve();
    const next = prev.catch(() => {}).then(fn);
    this.locks.set(id, next);
    try {
      return await next;
    } finally {
      if (this.locks.get(id) === next) this.locks.delete(id);
    }
  }

  get size(): number {
    return this.runtimes.size;
  }

  /** The runtime of a registration (of this incarnation: same createdAt) when it runs here. */
  get(rec: Pick<RegistrationRecord, "id" | "createdAt">): Runtime | undefined {
    const rt = this.runtimes.get(rec.id);
    return rt && rt.rec.createdAt === rec.createdAt ? rt : undefined;
  }

  list(): Runtime[] {
    return [...this.runtimes.values()];
  }

  sourceStates(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const r of this.runtimes.values()) out[r.sourceState] = (out[r.sourceState] ?? 0) + 1;
    return out;
  }

  /** What runs here, to compare with the store: a differing sealed/state/createdAt means "reload". */
  running(): Map<string, Pick<RegistrationRecord, "sealed" | "state" | "createdAt">> {
    return new Map([...this.runtimes].map(([id, rt]) => [id, { sealed: rt.rec.sealed, state: rt.rec.state, createdAt: rt.rec.createdAt }]));
  }

  /** Starts a registration this replica now owns: outbox from the store, source from the cursor. */
  async adopt(id: string): Promise<void> {
    await this.locked(id, async () => {
      if (this.runtimes.has(id)) return;
      const rec = await this.o.store.getRegistration(id);
      if (!rec) return;
      try {
        await this.activate(rec, this.o.access.unseal(rec));
      } catch (e) {
        this.o.log.error("cannot start a stored registration", { registration: id, err: e as Error });
      }
    });
  }

  /**
   * Stops a registration here. "release": handing it to another replica — stop the source, fire what
   * is queued until the grace deadline; "lost": the lease is gone — stop at once (the new owner fires
   * the outbox); "reload"/"deleted": stop now, keeping or dropping upstream state.
   */
  async drop(id: string, how: "release" | "lost" | "reload" | "deleted", graceMs = 0): Promise<void> {
    await this.locked(id, async () => {
      const rt = this.runtimes.get(id);
      if (!rt) return;
      this.runtimes.delete(id);
      const src = rt.source;
      rt.source = undefined;
      if (how === "lost") {
        // not awaited: an in-flight fire may take long, and its fenced commit fails anyway
        void Promise.all([src?.stop().catch(() => {}), rt.delivery.stop()]);
      } else {
        await src?.stop({ forget: how === "deleted" }).catch(() => {});
        if (how === "release" && rt.rec.state === "active") await rt.delivery.flush(performance.now() + graceMs);
        else await rt.delivery.stop();
      }
      // after the last fire: the flush above still records into it
      rt.ledger?.stop();
      this.forgetMetrics(rt);
      rt.log.info("registration stopped on this replica", { why: how });
    });
  }

  /** Graceful shutdown: stop sources, then flush queued batches until the deadline. */
  async shutdown(graceMs: number): Promise<void> {
    const rts = [...this.runtimes.values()];
    await Promise.all(rts.map((rt) => rt.source?.stop().catch(() => {})));
    const deadline = performance.now() + graceMs;
    await Promise.all(rts.map((rt) => (rt.rec.state === "active" ? rt.delivery.flush(deadline) : rt.delivery.stop())));
    for (const rt of rts) rt.ledger?.stop();
    this.runtimes.clear();
  }

  private target(rt: Runtime): FireTarget {
    return { apihost: rt.sealed.apihost, namespace: rt.rec.namespace, trigger: rt.rec.trigger, authKey: rt.sealed.authKey };
  }

  /** OpenWhisk or the source refused: nothing runs until the owner fixes the feed; the broker keeps the session's messages. */
  private disable(rt: Runtime, reason: StatusReason): void {
    applyChange(rt.rec, { kind: "disable", reason });
    rt.delivery.pause();
    this.o.store
      .setState(rt.rec.id, rt.rec.state, rt.rec.reason, rt.rec.dateChanged)
      .catch((e) => rt.log.error("cannot store the disabled state", { err: e as Error }));
    const src = rt.source;
    rt.source = undefined;
    src?.stop().catch(() => {});
  }

  private async activate(rec: RegistrationRecord, sealed: Sealed): Promise<Runtime> {
    this.o.log.secretRegistry.add(sealed.authKey, ...secretsOf(sealed.config));
    const log = this.o.log.child({ trigger: `/${rec.id}` });
    const label = `/${rec.id}`;
    const rt = { rec, sealed, ...compileStages(sealed.config), sourceState: "stopped" as SourceState, log } as Runtime;
    rt.delivery = new Delivery({
      regId: rec.id,
      label,
      store: this.o.store,
      target: this.target(rt),
      batch: sealed.config.batch,
      delivery: sealed.config.delivery,
      arrivals: arrivalsOf(rt.arrival),
      stats: rec.stats,
      backoff: this.o.backoff,
      maxPending: this.o.maxPending,
      fireTimeoutMs: this.o.fireTimeoutMs,
      fire: this.o.fire ?? fireTrigger,
      log,
      metrics: this.o.metrics,
      ledger: () => rt.ledger,
      onDisable: (reason) => this.disable(rt, reason),
    });
    rt.intake = new Intake({
      regId: rec.id,
      label,
      store: this.o.store,
      delivery: () => rt.delivery,
      arrival: () => rt.arrival,
      filter: () => rt.filter,
      maxEventBytes: () => maxEventBytes(rt.sealed.config.batch),
      metrics: this.o.metrics,
      log,
      ledger: () => rt.ledger,
      onState: (s, detail) => {
        rt.sourceState = s;
        rt.sourceDetail = detail;
      },
      onDisable: (message) => {
        this.disable(rt, { kind: "AUTO", message });
        log.warn("registration disabled by its source", { reason: message });
      },
    });
    if (sealed.config.delivery.ledger !== false) rt.ledger = this.newLedger(rt);
    this.runtimes.set(rec.id, rt);
    if (rec.state !== "active") rt.delivery.pause();
    rt.delivery.enqueue(await this.o.store.loadOutbox(rec.id));
    await rt.ledger?.start();
    if (rec.state !== "disabled") await this.startSource(rt);
    return rt;
  }

  private newLedger(rt: Runtime): Ledger {
    return new Ledger({
      regId: rt.rec.id,
      label: `/${rt.rec.id}`,
      store: this.o.store,
      target: () => this.target(rt),
      maxAgeSeconds: () => rt.sealed.config.delivery.maxAgeSeconds,
      backoff: this.o.backoff,
      metrics: this.o.metrics,
      log: rt.log,
      refire: (events, files) => rt.intake.refire(events, files),
      listTree: () => rt.source?.reconcile?.(),
      reconcileSeconds: () => rt.sealed.config.delivery.reconcileSeconds ?? 86400,
      finallyAction: () => rt.sealed.config.delivery.finally,
    });
  }

  private async startSource(rt: Runtime): Promise<void> {
    const src = this.o.sources.get(rt.sealed.config.source.kind);
    if (!src) {
      rt.sourceState = "failed";
      rt.sourceDetail = `no source implementation for kind "${rt.sealed.config.source.kind}"`;
      return;
    }
    rt.source = await src.start(
      {
        id: rt.rec.id,
        key: `${rt.rec.id}@${rt.rec.createdAt}`,
        config: rt.sealed.config.source,
        types: typesPassed(rt.sealed.config.filter),
        passes: pathsPassed(rt.sealed.config.filter),
        cursor: rt.rec.cursor,
        replicaId: this.o.sourceIdentity,
        log: rt.log,
      },
      rt.intake,
    );
  }

  private forgetMetrics(rt: Runtime): void {
    const label = `trigger="/${rt.rec.id}"`;
    const m = this.o.metrics;
    for (const c of [
      m.received,
      m.malformed,
      m.filtered,
      m.notArrivals,
      m.coalesced,
      m.fired,
      m.fires,
      m.retried,
      m.deadLettered,
      m.dropped,
      m.filesSucceeded,
      m.filesFailed,
      m.filesSkipped,
      m.filesRetried,
      m.filesDuplicate,
    ])
      c.forget((k) => k.includes(label));
  }
}

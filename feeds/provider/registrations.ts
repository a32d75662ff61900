// The feed lifecycle on the provider side: each registration couples a trigger (and its owner's key)
// with a source, a filter, and a delivery loop over its durable outbox.
import { createHash, timingSafeEqual } from "node:crypto";
import {
  checkFeedConfig,
  redactConfig,
  secretsOf,
  updateConfig,
  type FeedConfig,
} from "../common/feed-params.ts";
import type { Logger } from "./log.ts";
import type { ProviderMetrics } from "./metrics.ts";
import { OwnershipError, parseTriggerName, verifyTriggerOwner, type TriggerRef } from "./ownership.ts";
import type { BackoffPolicy } from "./pipeline/backoff.ts";
import { maxEventBytes } from "./pipeline/batcher.ts";
import { Delivery } from "./pipeline/delivery.ts";
import { compileFilter, type EventFilter } from "./pipeline/filter.ts";
import { fireTrigger, type FireOutcome, type FireTarget } from "./pipeline/firer.ts";
import { GlobError } from "./pipeline/glob.ts";
import { Intake } from "./pipeline/intake.ts";
import type { SecretBox } from "./secrets.ts";
import type { RunningSource, Source, SourceState } from "./sources/types.ts";
import { emptyStats, type DeadLetter, type RegistrationRecord, type StatusReason, type Store } from "./store/types.ts";

export class ApiError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

export interface RegistrationsOptions {
  store: Store;
  box: SecretBox;
  sources: Map<string, Source>;
  metrics: ProviderMetrics;
  log: Logger;
  /** OpenWhisk API host the provider is configured with; when unset, the one the feed action reports */
  apihost?: string;
  replicaId: string;
  backoff: BackoffPolicy;
  maxPending: number;
  fireTimeoutMs: number;
  fire?: (target: FireTarget, body: string, timeoutMs: number) => Promise<FireOutcome>;
}

interface Sealed {
  authKey: string;
  apihost: string;
  config: FeedConfig;
}

interface Runtime {
  rec: RegistrationRecord;
  sealed: Sealed;
  filter: EventFilter;
  delivery: Delivery;
  intake: Intake;
  source?: RunningSource;
  sourceState: SourceState;
  sourceDetail?: string;
  log: Logger;
}

export interface ReadView {
  config: FeedConfig;
  status: { active: boolean; dateChanged: number; dateChangedISO: string; reason: StatusReason | null };
  delivery: {
    pending: number;
    fires: number;
    firedEvents: number;
    retries: number;
    deadLettered: number;
    dropped: number;
    lastFire: number | null;
    lastFireISO: string | null;
    lastFireStatus: number | null;
  };
  source: { kind: string; state: SourceState; detail?: string };
}

function sameKey(a: string, b: string): boolean {
  const ha = createHash("sha256").update(a).digest();
  const hb = createHash("sha256").update(b).digest();
  return timingSafeEqual(ha, hb);
}

function compile(config: FeedConfig): EventFilter {
  try {
    return compileFilter(config.filter);
  } catch (e) {
    if (e instanceof GlobError) throw new ApiError(400, `invalid feed parameters: parameter \`filter\` has a bad glob: ${e.message}`);
    throw e;
  }
}

export class Registrations {
  private readonly runtimes = new Map<string, Runtime>();
  /** serialises lifecycle calls per registration */
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(private readonly o: RegistrationsOptions) {
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

  /** Loads every stored registration and starts it (at provider start). */
  async startAll(): Promise<void> {
    for (const rec of await this.o.store.listRegistrations()) {
      try {
        const sealed = JSON.parse(this.o.box.open(rec.sealed, rec.id)) as Sealed;
        await this.activate(rec, sealed);
      } catch (e) {
        this.o.log.error("cannot start a stored registration", { registration: rec.id, err: e as Error });
      }
    }
  }

  get size(): number {
    return this.runtimes.size;
  }

  sourceStates(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const r of this.runtimes.values()) out[r.sourceState] = (out[r.sourceState] ?? 0) + 1;
    return out;
  }

  private apihostFor(given: string | undefined): string {
    const h = this.o.apihost ?? given;
    if (!h) throw new ApiError(500, "the provider has no OpenWhisk API host configured (OPENWHISK_APIHOST) and the feed action sent none");
    return /^https?:\/\//.test(h) ? h : `https://${h}`;
  }

  private parseRef(triggerName: unknown): TriggerRef {
    const ref = typeof triggerName === "string" ? parseTriggerName(triggerName) : undefined;
    if (!ref) throw new ApiError(400, "parameter `triggerName` must look like /namespace/trigger");
    return ref;
  }

  private checkConfig(input: unknown): FeedConfig {
    const c = checkFeedConfig(input);
    if (!c.ok) throw new ApiError(400, c.error);
    if (!this.o.sources.has(c.value.source.kind))
      throw new ApiError(400, `invalid feed parameters: parameter \`source.kind\` "${c.value.source.kind}" is not served by this provider (available: ${[...this.o.sources.keys()].join(", ")})`);
    return c.value;
  }

  private async verify(apihost: string, ref: TriggerRef, authKey: string): Promise<TriggerRef> {
    try {
      return await verifyTriggerOwner(apihost, ref, authKey);
    } catch (e) {
      if (e instanceof OwnershipError) throw new ApiError(e.status, e.message);
      throw e;
    }
  }

  /** The registration a lifecycle call names, after checking the caller's key. */
  private async find(triggerName: string, ownerKey: string | undefined): Promise<Runtime> {
    const ref = this.parseRef(triggerName);
    if (!ownerKey) throw new ApiError(401, "the trigger owner's key is missing (header X-Owner-Key)");
    const candidates =
      ref.namespace === "_"
        ? [...this.runtimes.values()].filter((r) => r.rec.trigger === ref.name && sameKey(r.sealed.authKey, ownerKey))
        : [this.runtimes.get(`${ref.namespace}/${ref.name}`)].filter((r): r is Runtime => !!r);
    const rt = candidates[0];
    if (!rt) throw new ApiError(404, `no feed registration for trigger ${triggerName}; create the trigger with the feed first`);
    if (!sameKey(rt.sealed.authKey, ownerKey)) {
      // the owner may have a new key: OpenWhisk decides
      await this.verify(rt.sealed.apihost, { namespace: rt.rec.namespace, name: rt.rec.trigger }, ownerKey);
    }
    return rt;
  }

  async create(input: { triggerName: unknown; authKey: unknown; config: unknown; apihost?: string }): Promise<ReadView> {
    const ref = this.parseRef(input.triggerName);
    if (typeof input.authKey !== "string" || !/^[^:\s]+:[^\s]+$/.test(input.authKey))
      throw new ApiError(400, "parameter `authKey` must be the trigger owner's OpenWhisk key (uuid:key)");
    const authKey = input.authKey;
    const config = this.checkConfig(input.config);
    compile(config);
    const apihost = this.apihostFor(input.apihost);
    const owned = await this.verify(apihost, ref, authKey);
    const id = `${owned.namespace}/${owned.name}`;
    return this.locked(id, async () => {
      const old = this.runtimes.get(id);
      if (old) {
        // the trigger was re-created: the old registration is stale
        await this.deactivate(old, { forget: true });
        await this.o.store.deleteRegistration(id);
      }
      const now = Date.now();
      const sealed: Sealed = { authKey, apihost, config };
      const rec: RegistrationRecord = {
        id,
        namespace: owned.namespace,
        trigger: owned.name,
        publicConfig: redactConfig(config),
        sealed: this.o.box.seal(JSON.stringify(sealed), id),
        state: "active",
        reason: null,
        dateChanged: now,
        cursor: null,
        stats: emptyStats(),
        createdAt: now,
      };
      await this.o.store.putRegistration(rec);
      const rt = await this.activate(rec, sealed);
      rt.log.info("registration created", { source: config.source.kind });
      return this.view(rt);
    });
  }

  async read(triggerName: string, ownerKey: string | undefined): Promise<ReadView> {
    return this.view(await this.find(triggerName, ownerKey));
  }

  async update(triggerName: string, ownerKey: string | undefined, patch: unknown, apihost?: string): Promise<ReadView> {
    const found = await this.find(triggerName, ownerKey);
    return this.locked(found.rec.id, async () => {
      const rt = this.runtimes.get(found.rec.id);
      if (!rt) throw new ApiError(404, `no feed registration for trigger ${triggerName}`);
      if (!patch || typeof patch !== "object" || Array.isArray(patch)) throw new ApiError(400, "the update must be an object of feed parameters");
      const config = this.checkConfig(updateConfig(rt.sealed.config, patch as Record<string, unknown>));
      const filter = compile(config);
      const host = this.apihostFor(apihost ?? rt.sealed.apihost);
      await this.verify(host, { namespace: rt.rec.namespace, name: rt.rec.trigger }, ownerKey!);
      const sourceChanged = JSON.stringify(config.source) !== JSON.stringify(rt.sealed.config.source);
      const sealed: Sealed = { authKey: ownerKey!, apihost: host, config };
      rt.sealed = sealed;
      rt.filter = filter;
      rt.rec.publicConfig = redactConfig(config);
      rt.rec.sealed = this.o.box.seal(JSON.stringify(sealed), rt.rec.id);
      this.o.log.secretRegistry.add(ownerKey, ...secretsOf(config));
      // an update is the owner's fix for whatever disabled the registration
      if (rt.rec.state === "disabled") this.setState(rt, "active", null);
      if (sourceChanged) {
        await rt.source?.stop({ forget: true });
        rt.source = undefined;
        rt.rec.cursor = null;
      }
      await this.o.store.putRegistration(rt.rec);
      rt.delivery.reconfigure(config.batch, config.delivery, this.target(rt));
      if (rt.rec.state !== "disabled") {
        if (rt.rec.state === "active") rt.delivery.resume();
        await this.startSource(rt);
      }
      rt.log.info("registration updated", { sourceChanged });
      return this.view(rt);
    });
  }

  async remove(triggerName: string, ownerKey: string | undefined): Promise<void> {
    const rt = await this.find(triggerName, ownerKey);
    await this.locked(rt.rec.id, async () => {
      await this.deactivate(rt, { forget: true });
      await this.o.store.deleteRegistration(rt.rec.id);
      rt.log.info("registration deleted", { pending: rt.delivery.pending });
    });
  }

  async pause(triggerName: string, ownerKey: string | undefined): Promise<ReadView> {
    const rt = await this.find(triggerName, ownerKey);
    return this.locked(rt.rec.id, async () => {
      if (rt.rec.state === "active") {
        rt.delivery.pause();
        this.setState(rt, "paused", { kind: "USER", message: "paused by the owner (PAUSE); events are buffered until UNPAUSE" });
        await this.o.store.setState(rt.rec.id, rt.rec.state, rt.rec.reason, rt.rec.dateChanged);
        rt.log.info("registration paused");
      }
      return this.view(rt);
    });
  }

  async unpause(triggerName: string, ownerKey: string | undefined): Promise<ReadView> {
    const rt = await this.find(triggerName, ownerKey);
    return this.locked(rt.rec.id, async () => {
      if (rt.rec.state === "disabled") {
        // re-enabling after OpenWhisk refused fires: the trigger and key must work again
        await this.verify(rt.sealed.apihost, { namespace: rt.rec.namespace, name: rt.rec.trigger }, rt.sealed.authKey);
      }
      if (rt.rec.state !== "active") {
        this.setState(rt, "active", null);
        await this.o.store.setState(rt.rec.id, rt.rec.state, rt.rec.reason, rt.rec.dateChanged);
        await this.startSource(rt);
        rt.delivery.resume();
        rt.log.info("registration resumed", { pending: rt.delivery.pending });
      }
      return this.view(rt);
    });
  }

  async deadLetters(triggerName: string, ownerKey: string | undefined, opts: { limit: number; after?: number }): Promise<DeadLetter[]> {
    const rt = await this.findAdmin(triggerName, ownerKey);
    return this.o.store.listDeadLetters(rt.rec.id, opts);
  }

  async replay(triggerName: string, ownerKey: string | undefined, seqs?: number[]): Promise<number> {
    const rt = await this.findAdmin(triggerName, ownerKey);
    return this.locked(rt.rec.id, async () => {
      const entries = await this.o.store.replayDeadLetters(rt.rec.id, seqs);
      rt.delivery.enqueue(entries);
      rt.log.info("dead letters replayed", { events: entries.length });
      return entries.length;
    });
  }

  /** Dead-letter routes are also for operators, who hold the provider's credentials but not the owner's key. */
  private async findAdmin(triggerName: string, ownerKey: string | undefined): Promise<Runtime> {
    if (ownerKey) return this.find(triggerName, ownerKey);
    const ref = this.parseRef(triggerName);
    const rt = this.runtimes.get(`${ref.namespace}/${ref.name}`);
    if (!rt) throw new ApiError(404, `no feed registration for trigger ${triggerName}`);
    return rt;
  }

  list(): { trigger: string; state: string; pending: number }[] {
    return [...this.runtimes.values()].map((r) => ({ trigger: `/${r.rec.id}`, state: r.rec.state, pending: r.delivery.pending }));
  }

  /** Graceful shutdown: stop sources, then flush queued batches until the deadline. */
  async shutdown(graceMs: number): Promise<void> {
    const rts = [...this.runtimes.values()];
    await Promise.all(rts.map((rt) => rt.source?.stop().catch(() => {})));
    const deadline = performance.now() + graceMs;
    await Promise.all(rts.map((rt) => (rt.rec.state === "active" ? rt.delivery.flush(deadline) : rt.delivery.stop())));
    this.runtimes.clear();
  }

  private setState(rt: Runtime, state: RegistrationRecord["state"], reason: StatusReason | null): void {
    rt.rec.state = state;
    rt.rec.reason = reason;
    rt.rec.dateChanged = Date.now();
  }

  private target(rt: Runtime): FireTarget {
    return { apihost: rt.sealed.apihost, namespace: rt.rec.namespace, trigger: rt.rec.trigger, authKey: rt.sealed.authKey };
  }

  private async activate(rec: RegistrationRecord, sealed: Sealed): Promise<Runtime> {
    this.o.log.secretRegistry.add(sealed.authKey, ...secretsOf(sealed.config));
    const log = this.o.log.child({ trigger: `/${rec.id}` });
    const label = `/${rec.id}`;
    const rt = { rec, sealed, filter: compile(sealed.config), sourceState: "stopped" as SourceState, log } as Runtime;
    rt.delivery = new Delivery({
      regId: rec.id,
      label,
      store: this.o.store,
      target: this.target(rt),
      batch: sealed.config.batch,
      delivery: sealed.config.delivery,
      stats: rec.stats,
      backoff: this.o.backoff,
      maxPending: this.o.maxPending,
      fireTimeoutMs: this.o.fireTimeoutMs,
      fire: this.o.fire ?? fireTrigger,
      log,
      metrics: this.o.metrics,
      onDisable: (reason) => {
        this.setState(rt, "disabled", reason);
        this.o.store.setState(rec.id, "disabled", reason, rt.rec.dateChanged).catch((e) => log.error("cannot store the disabled state", { err: e as Error }));
        // the broker keeps the session's messages while the source is stopped
        const src = rt.source;
        rt.source = undefined;
        src?.stop().catch(() => {});
      },
    });
    rt.intake = new Intake({
      regId: rec.id,
      label,
      store: this.o.store,
      delivery: () => rt.delivery,
      filter: () => rt.filter,
      maxEventBytes: () => maxEventBytes(rt.sealed.config.batch),
      metrics: this.o.metrics,
      log,
      onState: (s, detail) => {
        rt.sourceState = s;
        rt.sourceDetail = detail;
      },
      onDisable: (message) => {
        // the source cannot work until the owner fixes the feed (UPDATE re-enables it)
        const reason: StatusReason = { kind: "AUTO", message };
        this.setState(rt, "disabled", reason);
        rt.delivery.pause();
        this.o.store.setState(rec.id, "disabled", reason, rt.rec.dateChanged).catch((e) => log.error("cannot store the disabled state", { err: e as Error }));
        const src = rt.source;
        rt.source = undefined;
        src?.stop().catch(() => {});
        log.warn("registration disabled by its source", { reason: message });
      },
    });
    this.runtimes.set(rec.id, rt);
    if (rec.state !== "active") rt.delivery.pause();
    rt.delivery.enqueue(await this.o.store.loadOutbox(rec.id));
    if (rec.state !== "disabled") await this.startSource(rt);
    return rt;
  }

  private async startSource(rt: Runtime): Promise<void> {
    if (rt.source) return;
    const src = this.o.sources.get(rt.sealed.config.source.kind);
    if (!src) {
      rt.sourceState = "failed";
      rt.sourceDetail = `no source implementation for kind "${rt.sealed.config.source.kind}"`;
      return;
    }
    rt.source = await src.start(
      { id: rt.rec.id, key: `${rt.rec.id}@${rt.rec.createdAt}`, config: rt.sealed.config.source, cursor: rt.rec.cursor, replicaId: this.o.replicaId, log: rt.log },
      rt.intake,
    );
  }

  private async deactivate(rt: Runtime, opts: { forget: boolean }): Promise<void> {
    this.runtimes.delete(rt.rec.id);
    await rt.source?.stop({ forget: opts.forget }).catch(() => {});
    rt.source = undefined;
    await rt.delivery.stop();
    const label = `trigger="/${rt.rec.id}"`;
    for (const c of [this.o.metrics.received, this.o.metrics.malformed, this.o.metrics.filtered, this.o.metrics.fired, this.o.metrics.fires, this.o.metrics.retried, this.o.metrics.deadLettered, this.o.metrics.dropped])
      c.forget((k) => k.includes(label));
  }

  private async view(rt: Runtime): Promise<ReadView> {
    const s = rt.delivery.stats;
    return {
      config: rt.rec.publicConfig as FeedConfig,
      status: {
        active: rt.rec.state === "active",
        dateChanged: rt.rec.dateChanged,
        dateChangedISO: new Date(rt.rec.dateChanged).toISOString(),
        reason: rt.rec.reason,
      },
      delivery: {
        pending: rt.delivery.pending,
        fires: s.fires,
        firedEvents: s.firedEvents,
        retries: s.retries,
        deadLettered: await this.o.store.countDeadLetters(rt.rec.id),
        dropped: s.dropped,
        lastFire: s.lastFire,
        lastFireISO: s.lastFire === null ? null : new Date(s.lastFire).toISOString(),
        lastFireStatus: s.lastFireStatus,
      },
      source: { kind: rt.sealed.config.source.kind, state: rt.sourceState, ...(rt.sourceDetail ? { detail: rt.sourceDetail } : {}) },
    };
  }
}

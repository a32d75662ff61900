// The feed lifecycle on the provider side: each registration couples a trigger (and its owner's key)
// with a source, a filter, and a delivery loop over its durable outbox.
import { createHash, timingSafeEqual } from "node:crypto";
import {
  arrivalWarnings,
  checkFeedConfig,
  redactConfig,
  secretsOf,
  updateConfig,
  type FeedConfig,
} from "../common/feed-params.ts";
import type { Logger } from "./log.ts";
import type { ProviderMetrics } from "./metrics.ts";
import { OwnershipError, parseTriggerName, verifyTriggerOwner, type TriggerRef } from "./ownership.ts";
import { failedFiles, Ledger, reconcileEntry, retryEntry, unrunFiles, type RetrySelector } from "./ledger/ledger.ts";
import type { FileEntry, FileQuery, FileState } from "./ledger/types.ts";
import type { BackoffPolicy } from "./pipeline/backoff.ts";
import { compileArrival, type ArrivalStage } from "./pipeline/arrival.ts";
import { maxEventBytes } from "./pipeline/batcher.ts";
import { Delivery } from "./pipeline/delivery.ts";
import { compileFilter, type EventFilter } from "./pipeline/filter.ts";
import { fireTrigger, type FireOutcome, type FireTarget } from "./pipeline/firer.ts";
import { GlobError } from "./pipeline/glob.ts";
import { Intake } from "./pipeline/intake.ts";
import type { SecretBox } from "./secrets.ts";
import { channelKey } from "./sources/dcache/credentials.ts";
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
  /**
   * Set when several replicas share the store: the API then changes registrations in the store only
   * and calls `changed` (reload: the owner must also reload the outbox); the replica holding the
   * registration's lease runs it (see ha/coordinator.ts), and sources use `sourceIdentity` instead of
   * the replica id, so that whichever replica takes a unit over resumes the same upstream session.
   */
  shared?: { changed(id: string, reload: boolean): Promise<void>; sourceIdentity: string };
}

/** What a replica needs to know about a registration it does not run. */
interface Stored {
  rec: RegistrationRecord;
  sealed: Sealed;
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
  /** files by state in the ledger (all zero when the feed's `delivery.ledger` is off) */
  files: Record<FileState, number>;
}

function sameKey(a: string, b: string): boolean {
  const ha = createHash("sha256").update(a).digest();
  const hb = createHash("sha256").update(b).digest();
  return timingSafeEqual(ha, hb);
}

function compile(config: FeedConfig): EventFilter {
  try {
    compileArrival(config.filter);
    return compileFilter(config.filter);
  } catch (e) {
    if (e instanceof GlobError) throw new ApiError(400, `invalid feed parameters: parameter \`filter\` has a bad glob: ${e.message}`);
    throw e;
  }
}

function arrivalsOf(a: ArrivalStage): { settleMs: number } | undefined {
  return a.enabled ? { settleMs: a.settleMs } : undefined;
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
    if (this.o.shared) return; // the coordinator adopts what this replica holds
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

  /** The registration as stored (shared mode), after checking the caller's key. */
  private async findStored(triggerName: string, ownerKey: string | undefined): Promise<Stored> {
    const ref = this.parseRef(triggerName);
    if (!ownerKey) throw new ApiError(401, "the trigger owner's key is missing (header X-Owner-Key)");
    const recs =
      ref.namespace === "_"
        ? (await this.o.store.listRegistrations()).filter((r) => r.trigger === ref.name)
        : [await this.o.store.getRegistration(`${ref.namespace}/${ref.name}`)].filter((r): r is RegistrationRecord => !!r);
    const all = recs.map((rec) => ({ rec, sealed: this.unseal(rec) }));
    const st = ref.namespace === "_" ? all.find((x) => sameKey(x.sealed.authKey, ownerKey)) : all[0];
    if (!st) throw new ApiError(404, `no feed registration for trigger ${triggerName}; create the trigger with the feed first`);
    if (!sameKey(st.sealed.authKey, ownerKey)) await this.verify(st.sealed.apihost, { namespace: st.rec.namespace, name: st.rec.trigger }, ownerKey);
    return st;
  }

  private unseal(rec: RegistrationRecord): Sealed {
    return JSON.parse(this.o.box.open(rec.sealed, rec.id)) as Sealed;
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
    if (this.o.shared) {
      const rec = this.newRecord(id, owned, { authKey, apihost, config });
      // a re-created trigger: the old registration is stale (its owner notices the new createdAt)
      if (await this.o.store.getRegistration(id)) await this.o.store.deleteRegistration(id);
      await this.o.store.putRegistration(rec);
      await this.o.shared.changed(id, true);
      this.o.log.child({ trigger: `/${id}` }).info("registration created", { source: config.source.kind });
      for (const w of arrivalWarnings(config)) this.o.log.child({ trigger: `/${id}` }).warn("the feed passes only some arrivals", { why: w });
      return this.storedView({ rec, sealed: { authKey, apihost, config } });
    }
    return this.locked(id, async () => {
      const old = this.runtimes.get(id);
      if (old) {
        // the trigger was re-created: the old registration is stale
        await this.deactivate(old, { forget: true });
        await this.o.store.deleteRegistration(id);
      }
      const sealed: Sealed = { authKey, apihost, config };
      const rec = this.newRecord(id, owned, sealed);
      await this.o.store.putRegistration(rec);
      const rt = await this.activate(rec, sealed);
      rt.log.info("registration created", { source: config.source.kind });
      for (const w of arrivalWarnings(config)) rt.log.warn("the feed passes only some arrivals", { why: w });
      return this.view(rt);
    });
  }

  private newRecord(id: string, owned: TriggerRef, sealed: Sealed): RegistrationRecord {
    const now = Date.now();
    return {
      id,
      namespace: owned.namespace,
      trigger: owned.name,
      publicConfig: redactConfig(sealed.config),
      sealed: this.o.box.seal(JSON.stringify(sealed), id),
      state: "active",
      reason: null,
      dateChanged: now,
      cursor: null,
      stats: emptyStats(),
      createdAt: now,
    };
  }

  async read(triggerName: string, ownerKey: string | undefined): Promise<ReadView> {
    if (this.o.shared) {
      const st = await this.findStored(triggerName, ownerKey);
      const rt = this.runtimes.get(st.rec.id);
      return rt && rt.rec.createdAt === st.rec.createdAt ? this.view(rt) : this.storedView(st);
    }
    return this.view(await this.find(triggerName, ownerKey));
  }

  /** READ on a replica that does not run the registration: what the store knows. */
  private async storedView(st: Stored): Promise<ReadView> {
    const s = st.rec.stats;
    return {
      config: st.rec.publicConfig as FeedConfig,
      status: {
        active: st.rec.state === "active",
        dateChanged: st.rec.dateChanged,
        dateChangedISO: new Date(st.rec.dateChanged).toISOString(),
        reason: st.rec.reason,
      },
      delivery: {
        pending: (await this.o.store.loadOutbox(st.rec.id)).length,
        fires: s.fires,
        firedEvents: s.firedEvents,
        retries: s.retries,
        deadLettered: await this.o.store.countDeadLetters(st.rec.id),
        dropped: s.dropped,
        lastFire: s.lastFire,
        lastFireISO: s.lastFire === null ? null : new Date(s.lastFire).toISOString(),
        lastFireStatus: s.lastFireStatus,
      },
      source: { kind: st.sealed.config.source.kind, state: "remote", detail: "run by the replica holding its lease" },
      files: await this.o.store.countFiles(st.rec.id),
    };
  }

  /** UPDATE, DELETE, PAUSE, UNPAUSE in shared mode: change the stored registration, tell the owner. */
  private async updateStored(triggerName: string, ownerKey: string | undefined, patch: unknown, apihost?: string): Promise<ReadView> {
    const st = await this.findStored(triggerName, ownerKey);
    if (!patch || typeof patch !== "object" || Array.isArray(patch)) throw new ApiError(400, "the update must be an object of feed parameters");
    const config = this.checkConfig(updateConfig(st.sealed.config, patch as Record<string, unknown>));
    compile(config);
    const host = this.apihostFor(apihost ?? st.sealed.apihost);
    await this.verify(host, { namespace: st.rec.namespace, name: st.rec.trigger }, ownerKey!);
    const sourceChanged = JSON.stringify(config.source) !== JSON.stringify(st.sealed.config.source);
    const sealed: Sealed = { authKey: ownerKey!, apihost: host, config };
    const rec = { ...st.rec, publicConfig: redactConfig(config), sealed: this.o.box.seal(JSON.stringify(sealed), st.rec.id) };
    if (rec.state === "disabled") Object.assign(rec, { state: "active", reason: null, dateChanged: Date.now() });
    if (sourceChanged) rec.cursor = null;
    await this.o.store.putRegistration(rec);
    await this.o.shared!.changed(rec.id, false);
    this.o.log.child({ trigger: `/${rec.id}` }).info("registration updated", { sourceChanged });
    for (const w of arrivalWarnings(config)) this.o.log.child({ trigger: `/${rec.id}` }).warn("the feed passes only some arrivals", { why: w });
    return this.storedView({ rec, sealed });
  }

  private async setStoredState(triggerName: string, ownerKey: string | undefined, to: "paused" | "active"): Promise<ReadView> {
    const st = await this.findStored(triggerName, ownerKey);
    const rec = st.rec;
    if (to === "active" && rec.state === "disabled")
      await this.verify(st.sealed.apihost, { namespace: rec.namespace, name: rec.trigger }, st.sealed.authKey);
    const change = to === "paused" ? rec.state === "active" : rec.state !== "active";
    if (change) {
      rec.state = to;
      rec.reason = to === "paused" ? { kind: "USER", message: "paused by the owner (PAUSE); events are buffered until UNPAUSE" } : null;
      rec.dateChanged = Date.now();
      await this.o.store.setState(rec.id, rec.state, rec.reason, rec.dateChanged);
      await this.o.shared!.changed(rec.id, false);
      this.o.log.child({ trigger: `/${rec.id}` }).info(to === "paused" ? "registration paused" : "registration resumed");
    }
    return this.storedView(st);
  }

  async update(triggerName: string, ownerKey: string | undefined, patch: unknown, apihost?: string): Promise<ReadView> {
    if (this.o.shared) return this.updateStored(triggerName, ownerKey, patch, apihost);
    const found = await this.find(triggerName, ownerKey);
    return this.locked(found.rec.id, async () => {
      const rt = this.runtimes.get(found.rec.id);
      if (!rt) throw new ApiError(404, `no feed registration for trigger ${triggerName}`);
      if (!patch || typeof patch !== "object" || Array.isArray(patch)) throw new ApiError(400, "the update must be an object of feed parameters");
      const config = this.checkConfig(updateConfig(rt.sealed.config, patch as Record<string, unknown>));
      const filter = compile(config);
      const arrival = compileArrival(config.filter);
      const host = this.apihostFor(apihost ?? rt.sealed.apihost);
      await this.verify(host, { namespace: rt.rec.namespace, name: rt.rec.trigger }, ownerKey!);
      const sourceChanged = JSON.stringify(config.source) !== JSON.stringify(rt.sealed.config.source);
      const sealed: Sealed = { authKey: ownerKey!, apihost: host, config };
      rt.sealed = sealed;
      rt.filter = filter;
      rt.arrival = arrival;
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
      rt.delivery.reconfigure(config.batch, config.delivery, this.target(rt), arrivalsOf(arrival));
      for (const w of arrivalWarnings(config)) rt.log.warn("the feed passes only some arrivals", { why: w });
      if (this.setLedger(rt)) await rt.ledger!.start();
      if (rt.rec.state !== "disabled") {
        if (rt.rec.state === "active") rt.delivery.resume();
        await this.startSource(rt);
      }
      rt.log.info("registration updated", { sourceChanged });
      return this.view(rt);
    });
  }

  async remove(triggerName: string, ownerKey: string | undefined): Promise<void> {
    if (this.o.shared) {
      const st = await this.findStored(triggerName, ownerKey);
      await this.o.store.deleteRegistration(st.rec.id);
      await this.o.shared.changed(st.rec.id, false);
      this.o.log.child({ trigger: `/${st.rec.id}` }).info("registration deleted");
      return;
    }
    const rt = await this.find(triggerName, ownerKey);
    await this.locked(rt.rec.id, async () => {
      await this.deactivate(rt, { forget: true });
      await this.o.store.deleteRegistration(rt.rec.id);
      rt.log.info("registration deleted", { pending: rt.delivery.pending });
    });
  }

  async pause(triggerName: string, ownerKey: string | undefined): Promise<ReadView> {
    if (this.o.shared) return this.setStoredState(triggerName, ownerKey, "paused");
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
    if (this.o.shared) return this.setStoredState(triggerName, ownerKey, "active");
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
    if (this.o.shared) return this.o.store.listDeadLetters((await this.findAdminStored(triggerName, ownerKey)).id, opts);
    const rt = await this.findAdmin(triggerName, ownerKey);
    return this.o.store.listDeadLetters(rt.rec.id, opts);
  }

  async replay(triggerName: string, ownerKey: string | undefined, seqs?: number[]): Promise<number> {
    if (this.o.shared) {
      const rec = await this.findAdminStored(triggerName, ownerKey);
      const entries = await this.o.store.replayDeadLetters(rec.id, seqs);
      // the owner reloads the outbox, replayed rows included
      await this.o.shared.changed(rec.id, true);
      this.o.log.child({ trigger: `/${rec.id}` }).info("dead letters replayed", { events: entries.length });
      return entries.length;
    }
    const rt = await this.findAdmin(triggerName, ownerKey);
    return this.locked(rt.rec.id, async () => {
      const entries = await this.o.store.replayDeadLetters(rt.rec.id, seqs);
      await rt.ledger?.replayed(entries);
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

  private async findAdminStored(triggerName: string, ownerKey: string | undefined): Promise<RegistrationRecord> {
    if (ownerKey) return (await this.findStored(triggerName, ownerKey)).rec;
    const ref = this.parseRef(triggerName);
    const rec = await this.o.store.getRegistration(`${ref.namespace}/${ref.name}`);
    if (!rec) throw new ApiError(404, `no feed registration for trigger ${triggerName}`);
    return rec;
  }

  async list(): Promise<{ trigger: string; state: string; pending: number | null }[]> {
    if (this.o.shared) {
      // every replica answers for all: pending is known only where the registration runs
      return (await this.o.store.listRegistrations()).map((r) => ({ trigger: `/${r.id}`, state: r.state, pending: this.runtimes.get(r.id)?.delivery.pending ?? null }));
    }
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

  /** The unit of work a registration belongs to: registrations sharing a dCache channel go together. */
  unitOf(rec: RegistrationRecord): string {
    let u = this.units.get(rec.sealed);
    if (u === undefined) {
      const source = this.unseal(rec).config.source;
      u = source.kind === "dcache" ? `dcache:${channelKey(source).slice(0, 32)}` : `reg:${rec.id}`;
      if (this.units.size > 10_000) this.units.clear();
      this.units.set(rec.sealed, u);
    }
    return u;
  }
  private readonly units = new Map<string, string>();

  /** What runs here, to compare with the store: a differing sealed/state/createdAt means "reload". */
  running(): Map<string, Pick<RegistrationRecord, "sealed" | "state" | "createdAt">> {
    return new Map([...this.runtimes].map(([id, rt]) => [id, { sealed: rt.rec.sealed, state: rt.rec.state, createdAt: rt.rec.createdAt }]));
  }

  /** Starts a registration this replica now holds the lease for: outbox from the store, source from the cursor. */
  async adopt(id: string): Promise<void> {
    await this.locked(id, async () => {
      if (this.runtimes.has(id)) return;
      const rec = await this.o.store.getRegistration(id);
      if (!rec) return;
      await this.activate(rec, this.unseal(rec));
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
      if (how === "release") {
        this.runtimes.delete(id);
        await rt.source?.stop().catch(() => {});
        rt.source = undefined;
        if (rt.rec.state === "active") await rt.delivery.flush(performance.now() + graceMs);
        else await rt.delivery.stop();
        this.forgetMetrics(rt);
      } else if (how === "lost") {
        this.runtimes.delete(id);
        // not awaited: an in-flight fire may take long, and its fenced commit fails anyway
        const src = rt.source;
        rt.source = undefined;
        void Promise.all([src?.stop().catch(() => {}), rt.delivery.stop()]);
        this.forgetMetrics(rt);
      } else await this.deactivate(rt, { forget: how === "deleted" });
      rt.log.info("registration stopped on this replica", { why: how });
    });
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
    const rt = { rec, sealed, filter: compile(sealed.config), arrival: compileArrival(sealed.config.filter), sourceState: "stopped" as SourceState, log } as Runtime;
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
    this.setLedger(rt);
    this.runtimes.set(rec.id, rt);
    if (rec.state !== "active") rt.delivery.pause();
    rt.delivery.enqueue(await this.o.store.loadOutbox(rec.id));
    await rt.ledger?.start();
    if (rec.state !== "disabled") await this.startSource(rt);
    return rt;
  }

  /** Starts or stops the runtime's file ledger as its config says (on unless `delivery.ledger: false`). */
  private setLedger(rt: Runtime): boolean {
    const on = rt.sealed.config.delivery.ledger !== false;
    if (on === !!rt.ledger) return false;
    if (!on) {
      rt.ledger!.stop();
      rt.ledger = undefined;
      return false;
    }
    rt.ledger = new Ledger({
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
    return true;
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
      {
        id: rt.rec.id,
        key: `${rt.rec.id}@${rt.rec.createdAt}`,
        config: rt.sealed.config.source,
        cursor: rt.rec.cursor,
        replicaId: this.o.shared?.sourceIdentity ?? this.o.replicaId,
        log: rt.log,
      },
      rt.intake,
    );
  }

  private async deactivate(rt: Runtime, opts: { forget: boolean }): Promise<void> {
    this.runtimes.delete(rt.rec.id);
    rt.ledger?.stop();
    await rt.source?.stop({ forget: opts.forget }).catch(() => {});
    rt.source = undefined;
    await rt.delivery.stop();
    this.forgetMetrics(rt);
  }

  private forgetMetrics(rt: Runtime): void {
    const label = `trigger="/${rt.rec.id}"`;
    for (const c of [this.o.metrics.received, this.o.metrics.malformed, this.o.metrics.filtered, this.o.metrics.notArrivals, this.o.metrics.coalesced, this.o.metrics.fired, this.o.metrics.fires, this.o.metrics.retried, this.o.metrics.deadLettered, this.o.metrics.dropped,
      this.o.metrics.filesSucceeded, this.o.metrics.filesFailed, this.o.metrics.filesSkipped, this.o.metrics.filesRetried, this.o.metrics.filesDuplicate])
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
      files: await this.o.store.countFiles(rt.rec.id),
    };
  }

  // ---- the file ledger ------------------------------------------------------------------------

  /** Files of a registration, by state and path prefix, a page at a time (owner's key, or operator). */
  async files(triggerName: string, ownerKey: string | undefined, q: FileQuery): Promise<FileEntry[]> {
    const id = this.o.shared ? (await this.findAdminStored(triggerName, ownerKey)).id : (await this.findAdmin(triggerName, ownerKey)).rec.id;
    return this.o.store.listFiles(id, q);
  }

  /**
   * Runs failed files again (given paths, a prefix, or all). Where the registration runs on another
   * replica, the entries are marked due in the store and its owner's retry scan picks them up.
   */
  async retryFiles(triggerName: string, ownerKey: string | undefined, sel: RetrySelector): Promise<number> {
    if (this.o.shared) {
      const rec = await this.findAdminStored(triggerName, ownerKey);
      const rt = this.runtimes.get(rec.id);
      if (rt?.ledger) return rt.ledger.retry(sel);
      const now = Date.now();
      const found = await failedFiles(this.o.store, rec.id, sel);
      const ruled = found.map((e) => retryEntry(e, now)).filter((e) => Object.keys(e.rules).length);
      await this.o.store.putFiles(rec.id, ruled, { fenced: false });
      if (ruled.length < found.length) this.o.log.warn("files that never reached a rule can be retried only where the registration runs", { trigger: triggerName, files: found.length - ruled.length });
      return ruled.length;
    }
    const rt = await this.findAdmin(triggerName, ownerKey);
    if (!rt.ledger) throw new ApiError(409, `the feed of ${triggerName} keeps no file ledger (delivery.ledger is false); update it with delivery.ledger true`);
    return rt.ledger.retry(sel);
  }

  /**
   * Runs the rules that were inactive when files fired, for those files (under a prefix, or all),
   * and (without a prefix) has the source list the watched tree to fire what the ledger lacks.
   */
  async reconcileFiles(triggerName: string, ownerKey: string | undefined, prefix?: string): Promise<{ rules: number; listed: number | null }> {
    if (this.o.shared) {
      const rec = await this.findAdminStored(triggerName, ownerKey);
      const rt = this.runtimes.get(rec.id);
      if (rt?.ledger) return rt.ledger.reconcile(prefix);
      const now = Date.now();
      const found = await unrunFiles(this.o.store, rec.id, prefix);
      await this.o.store.putFiles(rec.id, found.map((e) => reconcileEntry(e, now)), { fenced: false });
      // the tree is listed by the replica running the registration, at its periodic reconcile
      return { rules: found.length, listed: null };
    }
    const rt = await this.findAdmin(triggerName, ownerKey);
    if (!rt.ledger) throw new ApiError(409, `the feed of ${triggerName} keeps no file ledger (delivery.ledger is false); update it with delivery.ledger true`);
    return rt.ledger.reconcile(prefix);
  }
}

// Several provider replicas on one PostgreSQL store share the registrations. The unit of work is a
// registration — or, for dCache, every registration sharing one channel (frontend + credential),
// because dCache lets one client hold a channel's SSE stream. A replica runs a unit only while it
// holds the unit's lease row; it renews its leases every lease/3, and a unit whose lease it could not
// renew in time is stopped at once. Store writes for a registration are fenced by the lease token
// (store/postgres.ts), so a replica that lost a lease cannot commit. Each replica takes at most
// ceil(units / live replicas); one above its share hands units back gracefully (stop source, flush,
// release), one below takes free or expired units. API changes reach the owner through NOTIFY.
import type { Logger } from "../log.ts";
import type { ProviderMetrics } from "../metrics.ts";
import type { Runner } from "../registrations/runner.ts";
import type { ChangeKind, Owner } from "../registrations/types.ts";
import type { PostgresStore } from "../store/postgres.ts";
import type { LeaseTable } from "./leases.ts";
import type { Units } from "./units.ts";

export interface CoordinatorOptions {
  leases: LeaseTable;
  store: PostgresStore;
  runner: Runner;
  units: Units;
  replicaId: string;
  leaseMs: number;
  /** time to flush a unit's queued batches when handing it to another replica */
  handoverGraceMs: number;
  log: Logger;
  metrics?: ProviderMetrics;
}

interface Held {
  token: number;
  /** performance.now() until which the lease is surely ours (renewal sent + lease − margin) */
  validUntil: number;
  /** being handed over: still renewed until the release completes */
  releasing?: boolean;
  /** wall-clock time of the acquisition, for operators (and tests comparing replicas) */
  since: number;
}

export interface HaStatus {
  replica: string;
  leaseMs: number;
  liveReplicas: string[];
  /** wall-clock time of this answer */
  at: number;
  units: { unit: string; token: number; registrations: string[]; releasing: boolean; since: number }[];
}

export class Coordinator implements Owner {
  private readonly held = new Map<string, Held>();
  private unitOfReg = new Map<string, string>();
  private live: string[] = [];
  private renewTimer?: NodeJS.Timeout;
  private reconcileTimer?: NodeJS.Timeout;
  private watchdog?: NodeJS.Timeout;
  private renewing: Promise<void> = Promise.resolve();
  private reconciling: Promise<void> | undefined;
  private again = false;
  /** registrations whose outbox an API call changed (replay, re-create) */
  private readonly reloads = new Set<string>();
  /** registrations whose source an UPDATE changed: their upstream state goes */
  private readonly forgets = new Set<string>();
  private stopped = false;
  /** the first round may take back what this replica id held before a restart, without waiting for expiry */
  private firstRound = true;

  constructor(private readonly o: CoordinatorOptions) {
    o.metrics?.gauge("feed_units_held", "Units of work (leases) this replica holds", () => [
      [{}, [...this.held.values()].filter((h) => this.fenceValid(h)).length],
    ]);
    o.metrics?.gauge("feed_live_replicas", "Provider replicas with a recent heartbeat, as this replica sees them", () => [
      [{}, this.live.length],
    ]);
    o.metrics?.gauge("feed_lease_token", "Lease token of each unit this replica holds (rises with every change of owner)", () =>
      [...this.held].filter(([, h]) => this.fenceValid(h)).map(([unit, h]) => [{ unit }, h.token]),
    );
  }

  private get margin(): number {
    // room for clock-rate differences and the renewal's own round trip
    return Math.max(50, this.o.leaseMs / 10);
  }

  private fenceValid(h: Held | undefined): h is Held {
    return !!h && performance.now() < h.validUntil;
  }

  async start(): Promise<void> {
    this.o.store.setFence((regId) => {
      const unit = this.unitOfReg.get(regId);
      const h = unit === undefined ? undefined : this.held.get(unit);
      return this.fenceValid(h) ? { unit: unit!, owner: this.o.replicaId, token: h.token } : undefined;
    });
    await this.o.leases.listen((payload) => {
      const [kind, id] = [payload.slice(0, payload.indexOf(":")), payload.slice(payload.indexOf(":") + 1)];
      if (kind === "outbox") this.reloads.add(id);
      if (kind === "source") this.forgets.add(id);
      this.kick();
    });
    await this.renew();
    await this.reconcile();
    const every = Math.max(20, Math.floor(this.o.leaseMs / 3));
    this.renewTimer = setInterval(() => void this.renew(), every);
    this.reconcileTimer = setInterval(() => this.kick(), every);
    // stop units the moment their lease may have run out, even if the database does not answer
    this.watchdog = setInterval(() => this.expireLocally(), Math.max(10, Math.floor(this.o.leaseMs / 20)));
  }

  status(): HaStatus {
    const regs = new Map<string, string[]>();
    for (const [reg, unit] of this.unitOfReg) if (this.held.has(unit)) regs.set(unit, [...(regs.get(unit) ?? []), reg]);
    return {
      replica: this.o.replicaId,
      leaseMs: this.o.leaseMs,
      liveReplicas: this.live,
      at: Date.now(),
      // a lease past its local validity is as good as lost (writes are refused), even before the watchdog ran
      units: [...this.held]
        .filter(([, h]) => this.fenceValid(h))
        .map(([unit, h]) => ({
          unit,
          token: h.token,
          registrations: (regs.get(unit) ?? []).sort(),
          releasing: !!h.releasing,
          since: h.since,
        }))
        .sort((a, b) => a.unit.localeCompare(b.unit)),
    };
  }

  /** API changes: tell the owner (NOTIFY reaches every replica, this one included). */
  async changed(id: string, kind: ChangeKind): Promise<void> {
    await this.o.leases
      .notify(`${kind}:${id}`)
      .catch((e) => this.o.log.warn("cannot notify the other replicas; they see the change within a lease/3", { err: e as Error }));
  }

  /** Runs a reconciliation soon (coalescing requests that arrive meanwhile). */
  private kick(): void {
    if (this.stopped) return;
    if (this.reconciling) {
      this.again = true;
      return;
    }
    this.reconciling = this.reconcile()
      .catch((e) => this.o.log.warn("ownership reconciliation failed; retrying", { err: e as Error }))
      .finally(() => {
        this.reconciling = undefined;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  private renew(): Promise<void> {
    this.renewing = this.renewing.then(async () => {
      if (this.stopped) return;
      const sent = performance.now();
      try {
        const mine = [...this.held].map(([unit, h]) => ({ unit, token: h.token }));
        const still = await this.o.leases.renew(this.o.replicaId, mine, this.o.leaseMs);
        for (const { unit } of mine) {
          const h = this.held.get(unit);
          if (!h) continue;
          if (still.has(unit)) h.validUntil = sent + this.o.leaseMs - this.margin;
          else this.lose(unit, "another replica holds its lease now");
        }
        // live: beat within two renewal periods, so a dead replica leaves the count before its leases expire
        this.live = (await this.o.leases.heartbeat(this.o.replicaId, Math.ceil((this.o.leaseMs * 2) / 3))).live;
      } catch (e) {
        this.o.log.warn("cannot renew leases; units stop when their lease runs out", { err: e as Error });
      }
    });
    return this.renewing;
  }

  private expireLocally(): void {
    for (const [unit, h] of this.held) if (!this.fenceValid(h)) this.lose(unit, "its lease could not be renewed in time");
  }

  /** The lease is gone: stop the unit's registrations at once (no flush: the new owner fires the outbox). */
  private lose(unit: string, why: string): void {
    if (!this.held.delete(unit)) return;
    this.o.log.warn("lease lost; stopping its registrations", { unit, why });
    for (const [reg, u] of this.unitOfReg) if (u === unit) void this.o.runner.drop(reg, "lost");
  }

  private async reconcile(): Promise<void> {
    if (this.stopped) return;
    const regs = this.o.runner;
    const recs = await this.o.store.listRegistrations();
    const members = new Map<string, string[]>();
    const unitOfReg = new Map<string, string>();
    for (const rec of recs) {
      let unit: string;
      try {
        unit = this.o.units.of(rec);
      } catch (e) {
        this.o.log.error("cannot open a stored registration (provider key?)", { registration: rec.id, err: e as Error });
        continue;
      }
      unitOfReg.set(rec.id, unit);
      members.set(unit, [...(members.get(unit) ?? []), rec.id]);
    }
    const byId = new Map(recs.map((r) => [r.id, r]));
    // registrations running here that were deleted, moved to a unit not held here, or changed elsewhere
    for (const [id, run] of regs.running()) {
      const rec = byId.get(id);
      if (!rec) {
        await regs.drop(id, "deleted");
        continue;
      }
      const unit = unitOfReg.get(id);
      const h = unit === undefined ? undefined : this.held.get(unit);
      if (h?.releasing) continue;
      // a different createdAt: the trigger's feed was created again, the old upstream state goes
      if (run.createdAt !== rec.createdAt || this.forgets.has(id)) await regs.drop(id, "deleted");
      else if (!h || this.reloads.has(id) || run.sealed !== rec.sealed || run.state !== rec.state) await regs.drop(id, "reload");
    }
    this.reloads.clear();
    this.forgets.clear();
    this.unitOfReg = unitOfReg;

    // units nobody needs any more
    for (const [unit, h] of this.held) {
      if (!members.has(unit) && !h.releasing) {
        this.held.delete(unit);
        await this.o.leases.release(unit, this.o.replicaId, h.token).catch(() => {});
      }
    }

    const live = Math.max(1, this.live.length);
    const share = Math.ceil(members.size / live);
    const mine = [...this.held]
      .filter(([, h]) => !h.releasing)
      .map(([u]) => u)
      .sort();
    if (mine.length > share) {
      // one at a time, so that a flapping replica count does not shuffle everything
      this.handOver(mine[mine.length - 1]!);
    } else if (mine.length < share) {
      const rows = new Map((await this.o.leases.list()).map((r) => [r.unit, r]));
      const { now } = await this.o.leases.heartbeat(this.o.replicaId, Math.ceil((this.o.leaseMs * 2) / 3));
      let want = share - mine.length;
      for (const unit of [...members.keys()].sort()) {
        if (want === 0) break;
        if (this.held.has(unit)) continue;
        const row = rows.get(unit);
        const mineBefore = this.firstRound && row?.owner === this.o.replicaId;
        if (row && row.expiresAt > now && !mineBefore) continue;
        const sent = performance.now();
        // a new token either way: writes of an earlier incarnation are fenced off
        const token = await this.o.leases.acquire(unit, this.o.replicaId, this.o.leaseMs, mineBefore);
        if (token === undefined) continue;
        this.held.set(unit, { token, validUntil: sent + this.o.leaseMs - this.margin, since: Date.now() });
        want--;
        this.o.log.info("lease acquired", { unit, token, previousOwner: row?.owner ?? null, registrations: members.get(unit)!.length });
      }
    }
    this.firstRound = false;
    // start what this replica holds and does not run yet
    const running = regs.running();
    for (const [unit, h] of this.held) {
      if (h.releasing) continue;
      for (const id of members.get(unit) ?? []) if (!running.has(id) && this.fenceValid(h)) await regs.adopt(id);
    }
    await this.o.leases.prune([...members.keys()]).catch(() => {});
  }

  /** Above its share: stop the unit's sources, flush, and only then give the lease back. */
  private handOver(unit: string): void {
    const h = this.held.get(unit);
    if (!h || h.releasing) return;
    h.releasing = true;
    const ids = [...this.unitOfReg].filter(([, u]) => u === unit).map(([id]) => id);
    this.o.log.info("handing a unit over to a replica below its share", { unit, registrations: ids.length });
    void Promise.all(ids.map((id) => this.o.runner.drop(id, "release", this.o.handoverGraceMs)))
      .then(async () => {
        if (this.held.get(unit) !== h) return;
        this.held.delete(unit);
        await this.o.leases.release(unit, this.o.replicaId, h.token);
        // the replicas below their share take it at once
        await this.o.leases.notify("");
      })
      .catch((e) => this.o.log.warn("handing over failed; the lease runs out instead", { unit, err: e as Error }));
  }

  /** Clean shutdown: stop everything, flush, give every lease back and leave the replica table. */
  async stop(graceMs: number): Promise<void> {
    this.stopped = true;
    clearInterval(this.reconcileTimer);
    await this.reconciling;
    const ids = [...this.o.runner.running().keys()];
    const deadline = performance.now() + graceMs;
    await Promise.all(ids.map((id) => this.o.runner.drop(id, "release", Math.max(0, deadline - performance.now()))));
    clearInterval(this.renewTimer);
    clearInterval(this.watchdog);
    await this.renewing;
    for (const [unit, h] of this.held) await this.o.leases.release(unit, this.o.replicaId, h.token).catch(() => {});
    this.held.clear();
    await this.o.leases.leave(this.o.replicaId).catch(() => {});
    await this.o.leases.notify("").catch(() => {});
    await this.o.leases.close();
  }
}

// Several feed provider replicas on one PostgreSQL schema, as real processes, with the tools the HA
// tests and the benchmark share: start/kill/restart replicas, read each replica's held units from
// /health, and watch that no unit is ever run by two replicas at once.
import { rmSync } from "node:fs";
import pg from "pg";
import type { RunningService } from "../../support/service.ts";
import { GUEST_KEY } from "../../feeds/support/openwhisk-standin.ts";
import { ProviderClient, startProvider, tmp } from "../../feeds/support/provider.ts";

export const PG_URL = process.env.FEED_TEST_PG ?? "postgres://postgres@127.0.0.1:5432/test";

export interface HeldUnit {
  unit: string;
  token: number;
  registrations: string[];
  releasing: boolean;
  /** wall-clock time the replica acquired the unit */
  since: number;
}

/** One replica's claim on a unit, as its /health stated it at `at`. */
export interface Claim {
  replica: string;
  unit: string;
  since: number;
  at: number;
}

export interface Replica {
  id: string;
  svc: RunningService;
  client: ProviderClient;
  dataDir: string;
  alive: boolean;
}

export async function checkPostgres(): Promise<void> {
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect().catch((e) => {
    throw new Error(`PostgreSQL is needed at ${PG_URL} (set FEED_TEST_PG): ${(e as Error).message}`);
  });
  await c.end();
}

export class Cluster {
  readonly schema = `feedha_${process.pid}_${Date.now().toString(36)}`;
  readonly replicas: Replica[] = [];
  readonly outputs: string[] = [];
  private next = 0;

  constructor(readonly opts: { apihost: string; leaseMs: number; extra?: string[] }) {}

  get storeUrl(): string {
    return `${PG_URL}?schema=${this.schema}`;
  }

  live(): Replica[] {
    return this.replicas.filter((r) => r.alive);
  }

  async add(): Promise<Replica> {
    const id = `r${this.next++}`;
    const dataDir = tmp(`feed-ha-${id}-`);
    const svc = await startProvider({
      dataDir,
      apihost: this.opts.apihost,
      extra: [
        "--store",
        this.storeUrl,
        "--replica-id",
        id,
        "--lease-ms",
        String(this.opts.leaseMs),
        "--log-level",
        process.env.FEEDS_HA_LOG_LEVEL ?? "info",
        ...(this.opts.extra ?? []),
      ],
    });
    const r: Replica = { id, svc, client: new ProviderClient(svc.urls.provider!, GUEST_KEY), dataDir, alive: true };
    this.replicas.push(r);
    return r;
  }

  async kill(r: Replica): Promise<void> {
    r.alive = false;
    await r.svc.stop("SIGKILL");
    this.outputs.push(r.svc.output());
  }

  async terminate(r: Replica): Promise<void> {
    r.alive = false;
    await r.svc.stop("SIGTERM");
    this.outputs.push(r.svc.output());
  }

  /** The units a replica says it holds (not counting those it is handing over). */
  async held(r: Replica): Promise<HeldUnit[]> {
    return (await this.heldAt(r)).units;
  }

  async heldAt(r: Replica): Promise<{ at: number; units: HeldUnit[] }> {
    const h = await r.client.call("GET", "/health");
    return { at: Number(h.body?.ha?.at ?? Date.now()), units: ((h.body?.ha?.units ?? []) as HeldUnit[]).filter((u) => !u.releasing) };
  }

  /** Every live replica's claims, fetched concurrently, each stamped with the time its replica answered. */
  async claimList(): Promise<Claim[]> {
    const live = this.live();
    const all = await Promise.all(live.map((r) => this.heldAt(r).catch(() => ({ at: 0, units: [] as HeldUnit[] }))));
    return live.flatMap((r, i) => all[i]!.units.map((u) => ({ replica: r.id, unit: u.unit, since: u.since, at: all[i]!.at })));
  }

  /** unit → replica ids claiming it, from /health of every live replica fetched concurrently */
  async claims(): Promise<Map<string, string[]>> {
    const live = this.live();
    const all = await Promise.all(live.map((r) => this.held(r).catch(() => [] as HeldUnit[])));
    const out = new Map<string, string[]>();
    live.forEach((r, i) => {
      for (const u of all[i]!) out.set(u.unit, [...(out.get(u.unit) ?? []), r.id]);
    });
    return out;
  }

  output(): string {
    return [...this.outputs, ...this.live().map((r) => r.svc.output())].join("\n");
  }

  async stop(): Promise<void> {
    for (const r of this.live()) await this.terminate(r).catch(() => {});
    for (const r of this.replicas) rmSync(r.dataDir, { recursive: true, force: true });
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS ${this.schema} CASCADE`);
    await c.end();
  }
}

/**
 * Samples every `everyMs` which replicas claim which unit, and the lease table, until stopped.
 * `overlaps` lists every sample where two live replicas ran one unit.
 */
export class OwnershipWatch {
  readonly overlaps: string[] = [];
  samples = 0;
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;

  constructor(
    private readonly cluster: Cluster,
    private readonly everyMs = 100,
  ) {}

  start(): void {
    const tick = () => {
      this.running = this.cluster
        .claimList()
        .then((claims) => {
          this.samples++;
          // two replicas ran a unit at once if one had acquired it before the moment the other
          // still stated that it ran it (both answers carry the machine's wall-clock time)
          for (const a of claims)
            for (const b of claims)
              if (a.unit === b.unit && a.replica < b.replica && b.since < a.at && a.since < b.at)
                this.overlaps.push(
                  `${a.unit}: ${a.replica} (since ${a.since}, at ${a.at}) and ${b.replica} (since ${b.since}, at ${b.at})`,
                );
        })
        .catch(() => {})
        .finally(() => {
          if (this.timer !== undefined) this.timer = setTimeout(tick, this.everyMs);
        });
    };
    this.timer = setTimeout(tick, this.everyMs);
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }
}

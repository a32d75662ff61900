// The PostgreSQL side of replicas sharing work: a heartbeat row per replica, a lease row per unit of
// work, and a notification channel for changes made through any replica's API. All times come from
// the database clock, so replicas with skewed clocks still agree on who holds what.
import pg from "pg";
import type { PostgresStore } from "../store/postgres.ts";

const NOW = "(extract(epoch from clock_timestamp()) * 1000)::bigint";

export interface LeaseRow {
  unit: string;
  owner: string;
  token: number;
  expiresAt: number;
}

export class LeaseTable {
  private readonly pool: pg.Pool;
  private listener: pg.Client | undefined;

  constructor(private readonly store: PostgresStore) {
    this.pool = store.pool;
  }

  /** Records that this replica is alive; returns the replicas that beat within `liveMs`, sorted. */
  async heartbeat(replicaId: string, liveMs: number): Promise<{ live: string[]; now: number }> {
    const r = await this.pool.query(
      `WITH hb AS (INSERT INTO provider_replicas (id, heartbeat_at, started_at) VALUES ($1, ${NOW}, ${NOW})
         ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at RETURNING heartbeat_at)
       SELECT (SELECT heartbeat_at FROM hb) AS now,
              array(SELECT id FROM provider_replicas WHERE heartbeat_at > ${NOW} - $2 AND id <> $1) AS others`,
      [replicaId, liveMs],
    );
    const others = r.rows[0].others as string[];
    return { live: [replicaId, ...others].sort(), now: Number(r.rows[0].now) };
  }

  /** A replica that stops cleanly says so, so that the others take its share at once. */
  async leave(replicaId: string): Promise<void> {
    await this.pool.query("DELETE FROM provider_replicas WHERE id = $1", [replicaId]);
  }

  async list(): Promise<LeaseRow[]> {
    const rows = (await this.pool.query("SELECT unit, owner, token, expires_at FROM provider_leases ORDER BY unit")).rows;
    return rows.map((r) => ({ unit: r.unit as string, owner: r.owner as string, token: Number(r.token), expiresAt: Number(r.expires_at) }));
  }

  /**
   * Takes the unit when nobody holds it (no row, expired, or released) — or, `fromPreviousRun`, when
   * this replica id held it before a restart (its old process is gone: replica ids are unique). Every acquisition gets a new
   * token, so writes fenced with an older token fail even when the same replica id comes back.
   */
  async acquire(unit: string, owner: string, leaseMs: number, fromPreviousRun = false): Promise<number | undefined> {
    const r = await this.pool.query(
      `INSERT INTO provider_leases (unit, owner, token, expires_at) VALUES ($1, $2, 1, ${NOW} + $3)
       ON CONFLICT (unit) DO UPDATE SET owner = excluded.owner, token = provider_leases.token + 1, expires_at = excluded.expires_at
         WHERE provider_leases.expires_at <= ${NOW} OR ($4::boolean AND provider_leases.owner = excluded.owner)
       RETURNING token`,
      [unit, owner, leaseMs, fromPreviousRun],
    );
    return r.rows[0] ? Number(r.rows[0].token) : undefined;
  }

  /** Extends the leases this replica holds (same token; not once released); returns the units still held. */
  async renew(owner: string, held: { unit: string; token: number }[], leaseMs: number): Promise<Set<string>> {
    if (held.length === 0) return new Set();
    const r = await this.pool.query(
      `UPDATE provider_leases l SET expires_at = ${NOW} + $2
       FROM unnest($3::text[], $4::bigint[]) AS h(unit, token)
       WHERE l.unit = h.unit AND l.token = h.token AND l.owner = $1 AND l.expires_at > 0
       RETURNING l.unit`,
      [owner, leaseMs, held.map((h) => h.unit), held.map((h) => h.token)],
    );
    return new Set(r.rows.map((x) => x.unit as string));
  }

  /** Gives a unit back (after its work was stopped and flushed); the token stays counted. */
  async release(unit: string, owner: string, token: number): Promise<void> {
    await this.pool.query("UPDATE provider_leases SET expires_at = 0 WHERE unit = $1 AND owner = $2 AND token = $3", [unit, owner, token]);
  }

  /** Removes lease rows of units that no registration needs any more. */
  async prune(units: string[]): Promise<void> {
    await this.pool.query(`DELETE FROM provider_leases WHERE NOT (unit = ANY($1::text[])) AND expires_at <= ${NOW}`, [units]);
  }

  private get channel(): string {
    return `feed_provider_${this.store.schema}`;
  }

  /** Tells every replica (this one included) that a registration changed. */
  async notify(payload: string): Promise<void> {
    await this.pool.query("SELECT pg_notify($1, $2)", [this.channel, payload]);
  }

  /** Calls `fn` for every notification; reconnects when the connection drops (then `fn("")`). */
  async listen(fn: (payload: string) => void): Promise<void> {
    const connect = async (): Promise<void> => {
      const c = new pg.Client({ connectionString: this.store.connectionString });
      c.on("notification", (n) => fn(n.payload ?? ""));
      c.on("error", () => {
        if (this.listener !== c) return;
        this.listener = undefined;
        c.end().catch(() => {});
        setTimeout(
          () =>
            void connect()
              .then(() => fn(""))
              .catch(() => {}),
          1000,
        ).unref();
      });
      await c.connect();
      await c.query(`LISTEN ${this.channel}`);
      this.listener = c;
    };
    await connect();
  }

  async close(): Promise<void> {
    const c = this.listener;
    this.listener = undefined;
    await c?.end().catch(() => {});
  }
}

// The shared store for deployments that keep provider state in PostgreSQL. Tables live in one schema
// (default `public`), so several providers or test runs can use one database side by side.
import pg from "pg";
import { postgresMigrations } from "./migrations.ts";
import { FILE_STATES, type FileEntry, type FileQuery, type FileState } from "../ledger/types.ts";
import type {
  DeadLetter,
  DeliveryStats,
  Intake,
  OutboxEntry,
  RegistrationRecord,
  RegistrationState,
  StatusReason,
  Store,
} from "./types.ts";

type Row = Record<string, unknown>;

function toRegistration(r: Row): RegistrationRecord {
  return {
    id: r.id as string,
    namespace: r.namespace as string,
    trigger: r.trigger as string,
    publicConfig: r.public_config,
    sealed: r.sealed as string,
    state: r.state as RegistrationState,
    reason: (r.reason as StatusReason | null) ?? null,
    dateChanged: Number(r.date_changed),
    cursor: (r.cursor as string | null) ?? null,
    stats: r.stats as DeliveryStats,
    createdAt: Number(r.created_at),
  };
}

function toEntry(r: Row): OutboxEntry {
  return {
    seq: Number(r.seq),
    eventId: r.event_id as string,
    body: r.body as string,
    bytes: Number(r.bytes),
    receivedAt: Number(r.received_at),
  };
}

export interface PostgresOptions {
  connectionString: string;
  schema?: string;
}

/** `postgres://host/db?schema=x` → connection string without `schema` plus the schema name. */
export function parsePostgresUrl(url: string): PostgresOptions {
  const u = new URL(url);
  const schema = u.searchParams.get("schema") ?? undefined;
  u.searchParams.delete("schema");
  return { connectionString: u.toString(), schema };
}

/** Who may commit for a registration: its unit's lease as this replica holds it. */
export interface Fence {
  unit: string;
  owner: string;
  token: number;
}

/** A write was refused because this replica no longer holds the registration's lease. */
export class LeaseLostError extends Error {
  constructor(regId: string) {
    super(`this replica no longer holds the lease of registration ${regId}; its new owner carries on`);
  }
}

/** The lease row must still name this replica and token, and the registration must exist; both rows
 *  are share-locked, so a takeover (which updates the lease row) waits until this commit is visible. */
const FENCE_CTE = `fence AS (SELECT 1 FROM provider_leases l, registrations r
   WHERE l.unit = $F1 AND l.owner = $F2 AND l.token = $F3 AND r.id = $F4 FOR SHARE)`;

function fenceSql(sql: string, base: number): string {
  return sql.replace(/\$F(\d)/g, (_, d: string) => `$${base + Number(d)}`);
}

/** $1…$7 of the outbox insert: the registration, the events as columns, the new cursor and whether there is one. */
function outboxInsertArgs(regId: string, intake: Intake): unknown[] {
  const ev = intake.events;
  return [
    regId,
    ev.map((e) => e.eventId),
    ev.map((e) => e.body),
    ev.map((e) => e.bytes),
    ev.map((e) => e.receivedAt),
    intake.cursor ?? null,
    intake.cursor !== undefined,
  ];
}

export class PostgresStore implements Store {
  readonly kind = "postgres";
  readonly pool: pg.Pool;
  readonly schema: string;
  readonly connectionString: string;
  private fenceOf: ((regId: string) => Fence | undefined) | undefined;

  /** From now on every write of outbox rows and cursors must hold the registration's lease. */
  setFence(fn: (regId: string) => Fence | undefined): void {
    this.fenceOf = fn;
  }

  /** the fence parameters for regId, or undefined when writes are not fenced; throws when not held */
  private fence(regId: string): unknown[] | undefined {
    if (!this.fenceOf) return undefined;
    const f = this.fenceOf(regId);
    if (!f) throw new LeaseLostError(regId);
    return [f.unit, f.owner, f.token, regId];
  }

  constructor(opts: PostgresOptions) {
    this.connectionString = opts.connectionString;
    this.schema = opts.schema ?? "public";
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(this.schema))
      throw new Error(`PostgreSQL schema name "${this.schema}" is not a plain lower-case identifier`);
    // A replica frozen (SIGSTOP, a long GC pause) inside a transaction would hold the lease row's
    // share lock and so block the takeover: the server ends such a transaction (rolled back, nothing
    // stale committed) once it sits idle this long.
    this.pool = new pg.Pool({
      connectionString: opts.connectionString,
      max: 8,
      options: `-c search_path=${this.schema} -c idle_in_transaction_session_timeout=5000`,
    });
    // an idle client losing its connection must not crash the provider; the next query reconnects
    this.pool.on("error", () => {});
  }

  private async tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    const c = await this.pool.connect();
    // a connection the server ends mid-transaction (idle_in_transaction_session_timeout) fails the
    // transaction's queries; its 'error' event must not crash the provider, and it is not reused
    let broken: Error | undefined;
    const onError = (e: Error) => (broken = e);
    c.on("error", onError);
    try {
      await c.query("BEGIN");
      const r = await fn(c);
      await c.query("COMMIT");
      return r;
    } catch (e) {
      await c.query("ROLLBACK").catch(() => {});
      throw e;
    } finally {
      c.off("error", onError);
      c.release(broken);
    }
  }

  async migrate(): Promise<number> {
    await this.pool.query(`CREATE SCHEMA IF NOT EXISTS ${this.schema}`);
    await this.tx(async (c) => {
      // one migrator at a time when several providers start together
      await c.query("SELECT pg_advisory_xact_lock(hashtext($1))", [`${this.schema}.migrations`]);
      await c.query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at BIGINT NOT NULL)",
      );
      const applied = new Set((await c.query("SELECT version FROM schema_migrations")).rows.map((r) => Number(r.version)));
      for (const m of postgresMigrations) {
        if (applied.has(m.version)) continue;
        await c.query(m.sql);
        await c.query("INSERT INTO schema_migrations VALUES ($1, $2, $3)", [m.version, m.description, Date.now()]);
      }
    });
    return Math.max(0, ...postgresMigrations.map((m) => m.version));
  }

  async ping(): Promise<void> {
    await this.pool.query("SELECT 1");
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  async listRegistrations(): Promise<RegistrationRecord[]> {
    return (await this.pool.query("SELECT * FROM registrations ORDER BY created_at, id")).rows.map(toRegistration);
  }

  async getRegistration(id: string): Promise<RegistrationRecord | undefined> {
    const r = (await this.pool.query("SELECT * FROM registrations WHERE id = $1", [id])).rows[0];
    return r ? toRegistration(r) : undefined;
  }

  async putRegistration(rec: RegistrationRecord): Promise<void> {
    await this.pool.query(
      `INSERT INTO registrations (id, namespace, trigger, public_config, sealed, state, reason, date_changed, cursor, stats, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
       ON CONFLICT (id) DO UPDATE SET public_config = excluded.public_config, sealed = excluded.sealed, state = excluded.state,
         reason = excluded.reason, date_changed = excluded.date_changed, cursor = excluded.cursor, stats = excluded.stats`,
      [
        rec.id,
        rec.namespace,
        rec.trigger,
        JSON.stringify(rec.publicConfig),
        rec.sealed,
        rec.state,
        rec.reason ? JSON.stringify(rec.reason) : null,
        rec.dateChanged,
        rec.cursor,
        JSON.stringify(rec.stats),
        rec.createdAt,
      ],
    );
  }

  async setState(id: string, state: RegistrationState, reason: StatusReason | null, dateChanged: number): Promise<void> {
    await this.pool.query("UPDATE registrations SET state = $1, reason = $2, date_changed = $3 WHERE id = $4", [
      state,
      reason ? JSON.stringify(reason) : null,
      dateChanged,
      id,
    ]);
  }

  async replaceSealed(id: string, old: string, sealed: string): Promise<boolean> {
    return (
      ((await this.pool.query("UPDATE registrations SET sealed = $1 WHERE id = $2 AND sealed = $3", [sealed, id, old])).rowCount ?? 0) === 1
    );
  }

  async setStats(id: string, stats: DeliveryStats): Promise<void> {
    await this.pool.query("UPDATE registrations SET stats = $1 WHERE id = $2", [JSON.stringify(stats), id]);
  }

  async deleteRegistration(id: string): Promise<void> {
    await this.tx(async (c) => {
      await c.query("DELETE FROM outbox WHERE reg_id = $1", [id]);
      await c.query("DELETE FROM dead_letters WHERE reg_id = $1", [id]);
      await c.query("DELETE FROM registrations WHERE id = $1", [id]);
    });
  }

  /** throws LeaseLostError unless this replica still holds the registration's lease (inside a transaction) */
  private async checkFence(c: pg.PoolClient, regId: string): Promise<void> {
    const fence = this.fence(regId);
    if (fence && (await c.query(fenceSql(`WITH ${FENCE_CTE} SELECT count(*) AS held FROM fence`, 0), fence)).rows[0].held === "0")
      throw new LeaseLostError(regId);
  }

  private async writeFiles(c: pg.PoolClient, regId: string, files: FileEntry[] | undefined): Promise<void> {
    if (!files?.length) return;
    await c.query(
      `INSERT INTO files (reg_id, path, state, next_at, doc) SELECT $1, * FROM unnest($2::text[], $3::text[], $4::bigint[], $5::text[])
       ON CONFLICT (reg_id, path) DO UPDATE SET state = excluded.state, next_at = excluded.next_at, doc = excluded.doc`,
      [regId, files.map((f) => f.path), files.map((f) => f.state), files.map((f) => f.nextAt ?? null), files.map((f) => JSON.stringify(f))],
    );
  }

  async appendIntake(regId: string, intake: Intake): Promise<OutboxEntry[]> {
    const fence = this.fence(regId);
    const files = intake.files?.length ? intake.files : undefined;
    if (fence && !files) {
      // one statement: nothing is written unless the lease is still ours
      const args = outboxInsertArgs(regId, intake);
      const r = await this.pool.query(
        fenceSql(
          `WITH ${FENCE_CTE},
           ins AS (
             INSERT INTO outbox (reg_id, event_id, body, bytes, received_at)
             SELECT $1, u.* FROM unnest($2::text[], $3::text[], $4::int[], $5::bigint[]) u WHERE EXISTS (SELECT 1 FROM fence) RETURNING seq),
           cur AS (UPDATE registrations SET cursor = $6 WHERE id = $1 AND $7::boolean AND EXISTS (SELECT 1 FROM fence) RETURNING 1)
           SELECT (SELECT count(*) FROM fence) AS held, (SELECT coalesce(array_agg(seq ORDER BY seq), '{}') FROM ins) AS seqs`,
          7,
        ),
        [...args, ...fence],
      );
      if (Number(r.rows[0].held) === 0) throw new LeaseLostError(regId);
      const seqs = (r.rows[0].seqs as string[]).map(Number);
      const out = intake.events.map((e, i) => ({ ...e, seq: seqs[i]! }));
      if (intake.dead.length > 0)
        await this.deadOnArrival(
          regId,
          intake.dead.map((d) => ({ ...d.event, reason: d.reason })),
        );
      return out;
    }
    if (intake.dead.length === 0 && !files) {
      // the common case as one statement (atomic on its own): one round trip instead of four
      const r = await this.pool.query(
        `WITH ins AS (
           INSERT INTO outbox (reg_id, event_id, body, bytes, received_at)
           SELECT $1, * FROM unnest($2::text[], $3::text[], $4::int[], $5::bigint[]) RETURNING seq),
         cur AS (UPDATE registrations SET cursor = $6 WHERE id = $1 AND $7::boolean RETURNING 1)
         SELECT seq FROM ins ORDER BY seq`,
        outboxInsertArgs(regId, intake),
      );
      return intake.events.map((e, i) => ({ ...e, seq: Number(r.rows[i].seq) }));
    }
    // with ledger entries (and dead letters): one transaction, under the lease where fenced
    return this.tx(async (c) => {
      await this.checkFence(c, regId);
      let out: OutboxEntry[] = [];
      if (intake.events.length > 0) {
        // one multi-row insert; RETURNING keeps the order of the VALUES list
        const r = await c.query(
          `INSERT INTO outbox (reg_id, event_id, body, bytes, received_at)
           SELECT $1, * FROM unnest($2::text[], $3::text[], $4::int[], $5::bigint[]) RETURNING seq`,
          [
            regId,
            intake.events.map((e) => e.eventId),
            intake.events.map((e) => e.body),
            intake.events.map((e) => e.bytes),
            intake.events.map((e) => e.receivedAt),
          ],
        );
        out = intake.events.map((e, i) => ({ ...e, seq: Number(r.rows[i].seq) }));
      }
      const now = Date.now();
      for (const d of intake.dead)
        await c.query(
          "INSERT INTO dead_letters (reg_id, event_id, body, bytes, received_at, reason, status_code, dead_at) VALUES ($1,$2,$3,$4,$5,$6,NULL,$7)",
          [regId, d.event.eventId, d.event.body, d.event.bytes, d.event.receivedAt, d.reason, now],
        );
      if (intake.cursor !== undefined) await c.query("UPDATE registrations SET cursor = $1 WHERE id = $2", [intake.cursor, regId]);
      await this.writeFiles(c, regId, files);
      return out;
    });
  }

  async loadOutbox(regId: string): Promise<OutboxEntry[]> {
    return (await this.pool.query("SELECT * FROM outbox WHERE reg_id = $1 ORDER BY seq", [regId])).rows.map(toEntry);
  }

  /** dead letters straight from the intake (too large to ever fire): losing them to a race is no loss */
  private async deadOnArrival(regId: string, dead: (OutboxEntry | (Omit<OutboxEntry, "seq"> & { reason: string }))[]): Promise<void> {
    const now = Date.now();
    for (const d of dead as (Omit<OutboxEntry, "seq"> & { reason: string })[])
      await this.pool.query(
        "INSERT INTO dead_letters (reg_id, event_id, body, bytes, received_at, reason, status_code, dead_at) VALUES ($1,$2,$3,$4,$5,$6,NULL,$7)",
        [regId, d.eventId, d.body, d.bytes, d.receivedAt, d.reason, now],
      );
  }

  async removeOutbox(regId: string, seqs: number[], files?: FileEntry[]): Promise<void> {
    if (files?.length) {
      await this.tx(async (c) => {
        await this.checkFence(c, regId);
        await c.query("DELETE FROM outbox WHERE reg_id = $1 AND seq = ANY($2::bigint[])", [regId, seqs]);
        await this.writeFiles(c, regId, files);
      });
      return;
    }
    if (seqs.length === 0) return;
    const fence = this.fence(regId);
    if (fence) {
      const r = await this.pool.query(
        fenceSql(
          `WITH ${FENCE_CTE}, del AS (DELETE FROM outbox WHERE reg_id = $1 AND seq = ANY($2::bigint[]) AND EXISTS (SELECT 1 FROM fence) RETURNING 1)
           SELECT (SELECT count(*) FROM fence) AS held`,
          2,
        ),
        [regId, seqs, ...fence],
      );
      if (Number(r.rows[0].held) === 0) throw new LeaseLostError(regId);
      return;
    }
    await this.pool.query("DELETE FROM outbox WHERE reg_id = $1 AND seq = ANY($2::bigint[])", [regId, seqs]);
  }

  async moveToDeadLetters(
    regId: string,
    entries: OutboxEntry[],
    reason: string,
    statusCode: number | null,
    files?: FileEntry[],
  ): Promise<void> {
    if (entries.length === 0) return;
    await this.tx(async (c) => {
      await this.checkFence(c, regId);
      await this.writeFiles(c, regId, files);
      await c.query(
        `INSERT INTO dead_letters (reg_id, event_id, body, bytes, received_at, reason, status_code, dead_at)
         SELECT reg_id, event_id, body, bytes, received_at, $3, $4, $5 FROM outbox WHERE reg_id = $1 AND seq = ANY($2::bigint[]) ORDER BY seq`,
        [regId, entries.map((e) => e.seq), reason, statusCode, Date.now()],
      );
      await c.query("DELETE FROM outbox WHERE reg_id = $1 AND seq = ANY($2::bigint[])", [regId, entries.map((e) => e.seq)]);
    });
  }

  async listDeadLetters(regId: string, opts: { limit: number; after?: number }): Promise<DeadLetter[]> {
    const rows = (
      await this.pool.query("SELECT * FROM dead_letters WHERE reg_id = $1 AND seq > $2 ORDER BY seq LIMIT $3", [
        regId,
        opts.after ?? 0,
        opts.limit,
      ])
    ).rows;
    return rows.map((r) => ({
      ...toEntry(r),
      reason: r.reason as string,
      statusCode: r.status_code === null ? null : Number(r.status_code),
      deadAt: Number(r.dead_at),
    }));
  }

  async countDeadLetters(regId: string): Promise<number> {
    return Number((await this.pool.query("SELECT count(*) AS n FROM dead_letters WHERE reg_id = $1", [regId])).rows[0].n);
  }

  async replayDeadLetters(regId: string, seqs?: number[]): Promise<OutboxEntry[]> {
    return this.tx(async (c) => {
      const rows = (
        await c.query(
          seqs
            ? "SELECT * FROM dead_letters WHERE reg_id = $1 AND seq = ANY($2::bigint[]) ORDER BY seq FOR UPDATE"
            : "SELECT * FROM dead_letters WHERE reg_id = $1 ORDER BY seq FOR UPDATE",
          seqs ? [regId, seqs] : [regId],
        )
      ).rows;
      const now = Date.now();
      const out: OutboxEntry[] = [];
      for (const r of rows) {
        const e = { ...toEntry(r), receivedAt: now };
        const ins = await c.query("INSERT INTO outbox (reg_id, event_id, body, bytes, received_at) VALUES ($1,$2,$3,$4,$5) RETURNING seq", [
          regId,
          e.eventId,
          e.body,
          e.bytes,
          e.receivedAt,
        ]);
        await c.query("DELETE FROM dead_letters WHERE seq = $1", [r.seq]);
        out.push({ ...e, seq: Number(ins.rows[0].seq) });
      }
      return out;
    });
  }

  async getFiles(regId: string, paths: string[]): Promise<Map<string, FileEntry>> {
    const out = new Map<string, FileEntry>();
    if (paths.length === 0) return out;
    const rows = (
      await this.pool.query("SELECT path, doc FROM files WHERE reg_id = $1 AND path = ANY($2::text[])", [regId, [...new Set(paths)]])
    ).rows;
    for (const r of rows) out.set(r.path as string, JSON.parse(r.doc as string) as FileEntry);
    return out;
  }

  async putFiles(regId: string, entries: FileEntry[], opts: { fenced: boolean } = { fenced: true }): Promise<void> {
    if (entries.length === 0) return;
    await this.tx(async (c) => {
      if (opts.fenced) await this.checkFence(c, regId);
      await this.writeFiles(c, regId, entries);
    });
  }

  async listFiles(regId: string, q: FileQuery): Promise<FileEntry[]> {
    const where = ["reg_id = $1", `path COLLATE "C" > $2`];
    const args: unknown[] = [regId, q.after ?? ""];
    if (q.state) {
      args.push(q.state);
      where.push(`state = $${args.length}`);
    }
    if (q.prefix) {
      // a prefix match that treats % and _ in paths literally
      args.push(q.prefix);
      where.push(`starts_with(path, $${args.length})`);
    }
    args.push(q.limit);
    const rows = (
      await this.pool.query(`SELECT doc FROM files WHERE ${where.join(" AND ")} ORDER BY path COLLATE "C" LIMIT $${args.length}`, args)
    ).rows;
    return rows.map((r) => JSON.parse(r.doc as string) as FileEntry);
  }

  async countFiles(regId: string): Promise<Record<FileState, number>> {
    const out = Object.fromEntries(FILE_STATES.map((s) => [s, 0])) as Record<FileState, number>;
    for (const r of (await this.pool.query("SELECT state, count(*) AS n FROM files WHERE reg_id = $1 GROUP BY state", [regId])).rows)
      out[r.state as FileState] = Number(r.n);
    return out;
  }

  async firedFiles(regId: string, limit: number, after?: string): Promise<FileEntry[]> {
    const rows = (
      await this.pool.query(
        `SELECT doc FROM files WHERE reg_id = $1 AND state = 'fired' AND path COLLATE "C" > $2 ORDER BY path COLLATE "C" LIMIT $3`,
        [regId, after ?? "", limit],
      )
    ).rows;
    return rows.map((r) => JSON.parse(r.doc as string) as FileEntry);
  }

  async dueFiles(regId: string, dueBy: number, limit: number): Promise<FileEntry[]> {
    const rows = (
      await this.pool.query("SELECT doc FROM files WHERE reg_id = $1 AND state = 'retrying' AND next_at <= $2 ORDER BY next_at LIMIT $3", [
        regId,
        dueBy,
        limit,
      ])
    ).rows;
    return rows.map((r) => JSON.parse(r.doc as string) as FileEntry);
  }
}

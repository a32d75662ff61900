// The embedded store: one SQLite file in the data directory. WAL with synchronous=NORMAL keeps every
// committed transaction across a provider crash (SIGKILL); only an OS crash or power loss can lose
// the last few hundred milliseconds of commits.
import Database from "better-sqlite3";
import { sqliteMigrations } from "./migrations.ts";
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
    publicConfig: JSON.parse(r.public_config as string),
    sealed: r.sealed as string,
    state: r.state as RegistrationState,
    reason: r.reason ? JSON.parse(r.reason as string) : null,
    dateChanged: r.date_changed as number,
    cursor: (r.cursor as string | null) ?? null,
    stats: JSON.parse(r.stats as string),
    createdAt: r.created_at as number,
  };
}

function toEntry(r: Row): OutboxEntry {
  return {
    seq: r.seq as number,
    eventId: r.event_id as string,
    body: r.body as string,
    bytes: r.bytes as number,
    receivedAt: r.received_at as number,
  };
}

export class SqliteStore implements Store {
  readonly kind = "sqlite";
  private readonly db: Database.Database;

  constructor(file: string) {
    this.db = SqliteStore.open(file);
  }

  private static open(file: string): Database.Database {
    const db = new Database(file);
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = NORMAL");
    db.pragma("busy_timeout = 5000");
    return db;
  }

  async migrate(): Promise<number> {
    this.db.exec(
      "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at INTEGER NOT NULL)",
    );
    const applied = new Set((this.db.prepare("SELECT version FROM schema_migrations").all() as Row[]).map((r) => r.version as number));
    for (const m of sqliteMigrations) {
      if (applied.has(m.version)) continue;
      this.db.transaction(() => {
        this.db.exec(m.sql);
        this.db.prepare("INSERT INTO schema_migrations VALUES (?, ?, ?)").run(m.version, m.description, Date.now());
      })();
    }
    return Math.max(0, ...sqliteMigrations.map((m) => m.version));
  }

  async ping(): Promise<void> {
    this.db.prepare("SELECT 1").get();
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }

  async listRegistrations(): Promise<RegistrationRecord[]> {
    return (this.db.prepare("SELECT * FROM registrations ORDER BY created_at, id").all() as Row[]).map(toRegistration);
  }

  async getRegistration(id: string): Promise<RegistrationRecord | undefined> {
    const r = this.db.prepare("SELECT * FROM registrations WHERE id = ?").get(id) as Row | undefined;
    return r ? toRegistration(r) : undefined;
  }

  async putRegistration(rec: RegistrationRecord): Promise<void> {
    this.db
      .prepare(
        `INSERT INTO registrations (id, namespace, trigger, public_config, sealed, state, reason, date_changed, cursor, stats, created_at)
         VALUES (@id, @namespace, @trigger, @public_config, @sealed, @state, @reason, @date_changed, @cursor, @stats, @created_at)
         ON CONFLICT (id) DO UPDATE SET public_config = excluded.public_config, sealed = excluded.sealed, state = excluded.state,
           reason = excluded.reason, date_changed = excluded.date_changed, cursor = excluded.cursor, stats = excluded.stats`,
      )
      .run({
        id: rec.id,
        namespace: rec.namespace,
        trigger: rec.trigger,
        public_config: JSON.stringify(rec.publicConfig),
        sealed: rec.sealed,
        state: rec.state,
        reason: rec.reason ? JSON.stringify(rec.reason) : null,
        date_changed: rec.dateChanged,
        cursor: rec.cursor,
        stats: JSON.stringify(rec.stats),
        created_at: rec.createdAt,
      });
  }

  async setState(id: string, state: RegistrationState, reason: StatusReason | null, dateChanged: number): Promise<void> {
    this.db
      .prepare("UPDATE registrations SET state = ?, reason = ?, date_changed = ? WHERE id = ?")
      .run(state, reason ? JSON.stringify(reason) : null, dateChanged, id);
  }

  async replaceSealed(id: string, old: string, sealed: string): Promise<boolean> {
    return this.db.prepare("UPDATE registrations SET sealed = ? WHERE id = ? AND sealed = ?").run(sealed, id, old).changes === 1;
  }

  async setStats(id: string, stats: DeliveryStats): Promise<void> {
    this.db.prepare("UPDATE registrations SET stats = ? WHERE id = ?").run(JSON.stringify(stats), id);
  }

  async deleteRegistration(id: string): Promise<void> {
    this.db.transaction(() => {
      this.db.prepare("DELETE FROM outbox WHERE reg_id = ?").run(id);
      this.db.prepare("DELETE FROM dead_letters WHERE reg_id = ?").run(id);
      this.db.prepare("DELETE FROM registrations WHERE id = ?").run(id);
    })();
  }

  private readonly insertOutbox = () =>
    this.db.prepare("INSERT INTO outbox (reg_id, event_id, body, bytes, received_at) VALUES (?, ?, ?, ?, ?)");
  private readonly insertDead = () =>
    this.db.prepare(
      "INSERT INTO dead_letters (reg_id, event_id, body, bytes, received_at, reason, status_code, dead_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    );
  private stmts?: {
    outbox: Database.Statement;
    dead: Database.Statement;
    cursor: Database.Statement;
    del: Database.Statement;
    file: Database.Statement;
  };
  private get s() {
    return (this.stmts ??= {
      outbox: this.insertOutbox(),
      dead: this.insertDead(),
      cursor: this.db.prepare("UPDATE registrations SET cursor = ? WHERE id = ?"),
      del: this.db.prepare("DELETE FROM outbox WHERE reg_id = ? AND seq = ?"),
      file: this.db.prepare("INSERT OR REPLACE INTO files (reg_id, path, state, next_at, doc) VALUES (?, ?, ?, ?, ?)"),
    });
  }

  private writeFiles(regId: string, files: FileEntry[] | undefined): void {
    for (const f of files ?? []) this.s.file.run(regId, f.path, f.state, f.nextAt ?? null, JSON.stringify(f));
  }

  async appendIntake(regId: string, intake: Intake): Promise<OutboxEntry[]> {
    return this.appendIntakeSync(regId, intake);
  }

  appendIntakeSync(regId: string, intake: Intake): OutboxEntry[] {
    return this.appendTx(regId, intake);
  }

  // better-sqlite3 transaction functions are built once: building one per call costs more than the insert
  private get appendTx() {
    return (this.txs.append ??= this.db.transaction((regId: string, intake: Intake): OutboxEntry[] => {
      const out: OutboxEntry[] = [];
      for (const e of intake.events) {
        const r = this.s.outbox.run(regId, e.eventId, e.body, e.bytes, e.receivedAt);
        out.push({ ...e, seq: Number(r.lastInsertRowid) });
      }
      const now = Date.now();
      for (const d of intake.dead)
        this.s.dead.run(regId, d.event.eventId, d.event.body, d.event.bytes, d.event.receivedAt, d.reason, null, now);
      if (intake.cursor !== undefined) this.s.cursor.run(intake.cursor, regId);
      this.writeFiles(regId, intake.files);
      return out;
    }));
  }

  private get removeTx() {
    return (this.txs.remove ??= this.db.transaction((regId: string, seqs: number[], files?: FileEntry[]) => {
      for (const seq of seqs) this.s.del.run(regId, seq);
      this.writeFiles(regId, files);
    }));
  }

  private readonly txs: {
    append?: Database.Transaction<(regId: string, intake: Intake) => OutboxEntry[]>;
    remove?: Database.Transaction<(regId: string, seqs: number[], files?: FileEntry[]) => void>;
    put?: Database.Transaction<(regId: string, entries: FileEntry[]) => void>;
  } = {};

  async loadOutbox(regId: string): Promise<OutboxEntry[]> {
    return (this.db.prepare("SELECT * FROM outbox WHERE reg_id = ? ORDER BY seq").all(regId) as Row[]).map(toEntry);
  }

  async removeOutbox(regId: string, seqs: number[], files?: FileEntry[]): Promise<void> {
    this.removeTx(regId, seqs, files);
  }

  async moveToDeadLetters(
    regId: string,
    entries: OutboxEntry[],
    reason: string,
    statusCode: number | null,
    files?: FileEntry[],
  ): Promise<void> {
    const now = Date.now();
    this.db.transaction(() => {
      for (const e of entries) {
        this.s.dead.run(regId, e.eventId, e.body, e.bytes, e.receivedAt, reason, statusCode, now);
        this.s.del.run(regId, e.seq);
      }
      this.writeFiles(regId, files);
    })();
  }

  private getFile?: Database.Statement;

  async getFiles(regId: string, paths: string[]): Promise<Map<string, FileEntry>> {
    const out = new Map<string, FileEntry>();
    const get = (this.getFile ??= this.db.prepare("SELECT doc FROM files WHERE reg_id = ? AND path = ?"));
    for (const p of new Set(paths)) {
      const r = get.get(regId, p) as Row | undefined;
      if (r) out.set(p, JSON.parse(r.doc as string) as FileEntry);
    }
    return out;
  }

  async putFiles(regId: string, entries: FileEntry[], _opts?: { fenced: boolean }): Promise<void> {
    if (entries.length) this.putTx(regId, entries);
  }

  private get putTx() {
    return (this.txs.put ??= this.db.transaction((regId: string, entries: FileEntry[]) => this.writeFiles(regId, entries)));
  }

  async listFiles(regId: string, q: FileQuery): Promise<FileEntry[]> {
    const where = ["reg_id = ?", "path > ?"];
    const args: unknown[] = [regId, q.after ?? ""];
    if (q.state) {
      where.push("state = ?");
      args.push(q.state);
    }
    if (q.prefix) {
      // a range instead of LIKE: paths may contain % and _
      where.push("path >= ? AND path < ?");
      args.push(q.prefix, `${q.prefix}\uffff`);
    }
    const rows = this.db.prepare(`SELECT doc FROM files WHERE ${where.join(" AND ")} ORDER BY path LIMIT ?`).all(...args, q.limit) as Row[];
    return rows.map((r) => JSON.parse(r.doc as string) as FileEntry);
  }

  async countFiles(regId: string): Promise<Record<FileState, number>> {
    const out = Object.fromEntries(FILE_STATES.map((s) => [s, 0])) as Record<FileState, number>;
    for (const r of this.db.prepare("SELECT state, count(*) AS n FROM files WHERE reg_id = ? GROUP BY state").all(regId) as Row[])
      out[r.state as FileState] = r.n as number;
    return out;
  }

  async firedFiles(regId: string, limit: number, after?: string): Promise<FileEntry[]> {
    const rows = this.db
      .prepare("SELECT doc FROM files WHERE reg_id = ? AND state = 'fired' AND path > ? ORDER BY path LIMIT ?")
      .all(regId, after ?? "", limit) as Row[];
    return rows.map((r) => JSON.parse(r.doc as string) as FileEntry);
  }

  async dueFiles(regId: string, dueBy: number, limit: number): Promise<FileEntry[]> {
    const rows = this.db
      .prepare("SELECT doc FROM files WHERE reg_id = ? AND state = 'retrying' AND next_at <= ? ORDER BY next_at LIMIT ?")
      .all(regId, dueBy, limit) as Row[];
    return rows.map((r) => JSON.parse(r.doc as string) as FileEntry);
  }

  async listDeadLetters(regId: string, opts: { limit: number; after?: number }): Promise<DeadLetter[]> {
    const rows = this.db
      .prepare("SELECT * FROM dead_letters WHERE reg_id = ? AND seq > ? ORDER BY seq LIMIT ?")
      .all(regId, opts.after ?? 0, opts.limit) as Row[];
    return rows.map((r) => ({
      ...toEntry(r),
      reason: r.reason as string,
      statusCode: (r.status_code as number | null) ?? null,
      deadAt: r.dead_at as number,
    }));
  }

  async countDeadLetters(regId: string): Promise<number> {
    return (this.db.prepare("SELECT count(*) AS n FROM dead_letters WHERE reg_id = ?").get(regId) as Row).n as number;
  }

  async replayDeadLetters(regId: string, seqs?: number[]): Promise<OutboxEntry[]> {
    const now = Date.now();
    return this.db.transaction(() => {
      const rows = (this.db.prepare("SELECT * FROM dead_letters WHERE reg_id = ? ORDER BY seq").all(regId) as Row[]).filter(
        (r) => !seqs || seqs.includes(r.seq as number),
      );
      const out: OutboxEntry[] = [];
      for (const r of rows) {
        // the age clock restarts: a replayed event gets a full maxAgeSeconds again
        const e = { ...toEntry(r), receivedAt: now };
        const ins = this.s.outbox.run(regId, e.eventId, e.body, e.bytes, e.receivedAt);
        this.db.prepare("DELETE FROM dead_letters WHERE seq = ?").run(e.seq);
        out.push({ ...e, seq: Number(ins.lastInsertRowid) });
      }
      return out;
    })();
  }
}

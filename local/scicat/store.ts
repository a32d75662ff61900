// SQLite persistence of the local SciCat: login tokens, datasets, origdatablocks (JSON documents).
import Database from "better-sqlite3";
import { statementCache } from "../../lib/sqlite-statements.ts";

export interface TokenRow {
  id: string;
  userId: string;
  username: string;
  created: string;
  ttl: number;
}

export class ScicatStore {
  private readonly db: Database.Database;
  private readonly sql: (text: string) => Database.Statement;

  constructor(file: string) {
    this.db = new Database(file);
    this.db.pragma("journal_mode = WAL");
    this.sql = statementCache(this.db);
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS tokens (id TEXT PRIMARY KEY, user_id TEXT NOT NULL, username TEXT NOT NULL, created TEXT NOT NULL, ttl INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS datasets (pid TEXT PRIMARY KEY, doc TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS origdatablocks (id TEXT PRIMARY KEY, dataset_id TEXT NOT NULL, doc TEXT NOT NULL);
      CREATE INDEX IF NOT EXISTS origdatablocks_dataset ON origdatablocks (dataset_id);
    `);
  }

  addToken(t: TokenRow): void {
    this.sql("INSERT INTO tokens (id, user_id, username, created, ttl) VALUES (?, ?, ?, ?, ?)").run(
      t.id,
      t.userId,
      t.username,
      t.created,
      t.ttl,
    );
  }

  token(id: string): TokenRow | undefined {
    const r = this.sql("SELECT id, user_id AS userId, username, created, ttl FROM tokens WHERE id = ?").get(id) as TokenRow | undefined;
    return r;
  }

  dataset(pid: string): Record<string, unknown> | undefined {
    const r = this.sql("SELECT doc FROM datasets WHERE pid = ?").get(pid) as { doc: string } | undefined;
    return r ? (JSON.parse(r.doc) as Record<string, unknown>) : undefined;
  }

  /** false when the pid exists already. */
  insertDataset(doc: Record<string, unknown> & { pid: string }): boolean {
    const r = this.sql("INSERT OR IGNORE INTO datasets (pid, doc) VALUES (?, ?)").run(doc.pid, JSON.stringify(doc));
    return r.changes === 1;
  }

  updateDataset(doc: Record<string, unknown> & { pid: string }): void {
    this.sql("UPDATE datasets SET doc = ? WHERE pid = ?").run(JSON.stringify(doc), doc.pid);
  }

  datasets(): Array<Record<string, unknown>> {
    return (this.sql("SELECT doc FROM datasets ORDER BY rowid").all() as Array<{ doc: string }>).map((r) => JSON.parse(r.doc));
  }

  addOrigDatablock(doc: Record<string, unknown> & { id: string; datasetId: string }): void {
    this.sql("INSERT INTO origdatablocks (id, dataset_id, doc) VALUES (?, ?, ?)").run(doc.id, doc.datasetId, JSON.stringify(doc));
  }

  origDatablock(id: string): Record<string, unknown> | undefined {
    const r = this.sql("SELECT doc FROM origdatablocks WHERE id = ?").get(id) as { doc: string } | undefined;
    return r ? JSON.parse(r.doc) : undefined;
  }

  updateOrigDatablock(doc: Record<string, unknown> & { id: string }): void {
    this.sql("UPDATE origdatablocks SET doc = ? WHERE id = ?").run(JSON.stringify(doc), doc.id);
  }

  origDatablocks(datasetId: string): Array<Record<string, unknown>> {
    return (this.sql("SELECT doc FROM origdatablocks WHERE dataset_id = ? ORDER BY rowid").all(datasetId) as Array<{ doc: string }>).map(
      (r) => JSON.parse(r.doc),
    );
  }

  close(): void {
    this.db.close();
  }
}

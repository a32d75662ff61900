// SQLite persistence of the local Rucio: auth tokens, file DIDs, replicas, replication rules.
import Database from "better-sqlite3";

export interface RuleRow {
  id: string;
  scope: string;
  name: string;
  account: string;
  rse_expression: string;
  copies: number;
  state: "REPLICATING" | "OK" | "STUCK";
  expires_at: string | null;
  created_at: string;
  activity: string | null;
  comment: string | null;
  grouping: string;
}

export class RucioStore {
  readonly db: Database.Database;

  constructor(file: string) {
    this.db = new Database(file);
    this.db.pragma("journal_mode = WAL");
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS tokens (token TEXT PRIMARY KEY, account TEXT NOT NULL, expires_at INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS dids (scope TEXT NOT NULL, name TEXT NOT NULL, bytes INTEGER, adler32 TEXT, created_at TEXT NOT NULL, PRIMARY KEY (scope, name));
      CREATE TABLE IF NOT EXISTS replicas (rse TEXT NOT NULL, scope TEXT NOT NULL, name TEXT NOT NULL, pfn TEXT, state TEXT NOT NULL, created_at TEXT NOT NULL, PRIMARY KEY (rse, scope, name));
      CREATE TABLE IF NOT EXISTS rules (id TEXT PRIMARY KEY, scope TEXT NOT NULL, name TEXT NOT NULL, account TEXT NOT NULL, rse_expression TEXT NOT NULL,
        copies INTEGER NOT NULL, state TEXT NOT NULL, expires_at TEXT, created_at TEXT NOT NULL, activity TEXT, comment TEXT, grouping TEXT NOT NULL);
    `);
  }

  addToken(token: string, account: string, expiresAt: number): void {
    this.db.prepare("INSERT INTO tokens VALUES (?, ?, ?)").run(token, account, expiresAt);
  }

  tokenAccount(token: string): string | undefined {
    const r = this.db.prepare("SELECT account, expires_at FROM tokens WHERE token = ?").get(token) as { account: string; expires_at: number } | undefined;
    return r && r.expires_at > Date.now() ? r.account : undefined;
  }

  did(scope: string, name: string): { bytes: number | null; adler32: string | null } | undefined {
    return this.db.prepare("SELECT bytes, adler32 FROM dids WHERE scope = ? AND name = ?").get(scope, name) as { bytes: number | null; adler32: string | null } | undefined;
  }

  addDid(scope: string, name: string, bytes: number, adler32: string | undefined): void {
    this.db.prepare("INSERT OR IGNORE INTO dids VALUES (?, ?, ?, ?, ?)").run(scope, name, bytes, adler32 ?? null, new Date().toISOString());
  }

  /** Rucio's set_metadata for bytes/adler32 of a file DID (replicas share the DID's values here). */
  setDidContent(scope: string, name: string, bytes: number | null, adler32: string | null): void {
    this.db.prepare("UPDATE dids SET bytes = ?, adler32 = ? WHERE scope = ? AND name = ?").run(bytes, adler32, scope, name);
  }

  replica(rse: string, scope: string, name: string): { state: string; pfn: string | null } | undefined {
    return this.db.prepare("SELECT state, pfn FROM replicas WHERE rse = ? AND scope = ? AND name = ?").get(rse, scope, name) as { state: string; pfn: string | null } | undefined;
  }

  replicas(scope: string, name: string): Array<{ rse: string; state: string; pfn: string | null }> {
    return this.db.prepare("SELECT rse, state, pfn FROM replicas WHERE scope = ? AND name = ? ORDER BY rse").all(scope, name) as Array<{ rse: string; state: string; pfn: string | null }>;
  }

  addReplica(rse: string, scope: string, name: string, pfn: string | undefined): void {
    this.db.prepare("INSERT INTO replicas VALUES (?, ?, ?, ?, 'AVAILABLE', ?)").run(rse, scope, name, pfn ?? null, new Date().toISOString());
  }

  deleteReplica(rse: string, scope: string, name: string): void {
    this.db.prepare("DELETE FROM replicas WHERE rse = ? AND scope = ? AND name = ?").run(rse, scope, name);
  }

  addRule(r: RuleRow): void {
    this.db.prepare(
      "INSERT INTO rules (id, scope, name, account, rse_expression, copies, state, expires_at, created_at, activity, comment, grouping) VALUES (@id, @scope, @name, @account, @rse_expression, @copies, @state, @expires_at, @created_at, @activity, @comment, @grouping)",
    ).run(r);
  }

  rule(id: string): RuleRow | undefined {
    return this.db.prepare("SELECT * FROM rules WHERE id = ?").get(id) as RuleRow | undefined;
  }

  rulesOf(scope: string, name: string): RuleRow[] {
    return this.db.prepare("SELECT * FROM rules WHERE scope = ? AND name = ? ORDER BY created_at").all(scope, name) as RuleRow[];
  }

  allRules(): RuleRow[] {
    return this.db.prepare("SELECT * FROM rules").all() as RuleRow[];
  }

  setRuleState(id: string, state: RuleRow["state"]): void {
    this.db.prepare("UPDATE rules SET state = ? WHERE id = ?").run(state, id);
  }

  deleteRule(id: string): void {
    this.db.prepare("DELETE FROM rules WHERE id = ?").run(id);
  }

  close(): void {
    this.db.close();
  }
}

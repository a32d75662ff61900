// SQLite persistence of the local Rucio: auth tokens, file DIDs, replicas (with their state and
// tombstone), replication rules (with their state and, when STUCK, the reason).
import Database from "better-sqlite3";
import { statementCache } from "../../lib/sqlite-statements.ts";

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
  /** why the rule is STUCK (Rucio's rule `error`) */
  error?: string | null;
}

/** AVAILABLE: the bytes are there · COPYING: a transfer is writing them (Rucio's replica states). */
export type ReplicaState = "AVAILABLE" | "COPYING";

export interface ReplicaRow {
  rse: string;
  scope: string;
  name: string;
  state: ReplicaState;
  pfn: string | null;
  /** when set and past, the reaper deletes the replica (Rucio: no rule locks it any more) */
  tombstone: string | null;
}

export class RucioStore {
  readonly db: Database.Database;
  private readonly sql: (text: string) => Database.Statement;

  constructor(file: string) {
    this.db = new Database(file);
    this.db.pragma("journal_mode = WAL");
    this.sql = statementCache(this.db);
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS tokens (token TEXT PRIMARY KEY, account TEXT NOT NULL, expires_at INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS dids (scope TEXT NOT NULL, name TEXT NOT NULL, bytes INTEGER, adler32 TEXT, created_at TEXT NOT NULL, PRIMARY KEY (scope, name));
      CREATE TABLE IF NOT EXISTS replicas (rse TEXT NOT NULL, scope TEXT NOT NULL, name TEXT NOT NULL, pfn TEXT, state TEXT NOT NULL, created_at TEXT NOT NULL, PRIMARY KEY (rse, scope, name));
      CREATE TABLE IF NOT EXISTS rules (id TEXT PRIMARY KEY, scope TEXT NOT NULL, name TEXT NOT NULL, account TEXT NOT NULL, rse_expression TEXT NOT NULL,
        copies INTEGER NOT NULL, state TEXT NOT NULL, expires_at TEXT, created_at TEXT NOT NULL, activity TEXT, comment TEXT, grouping TEXT NOT NULL);
    `);
    // databases made before replicas had tombstones and rules had errors
    const has = (table: string, col: string) =>
      (this.db.prepare(`PRAGMA table_info(${table})`).all() as Array<{ name: string }>).some((c) => c.name === col);
    if (!has("replicas", "tombstone")) this.db.exec("ALTER TABLE replicas ADD COLUMN tombstone TEXT");
    if (!has("rules", "error")) this.db.exec("ALTER TABLE rules ADD COLUMN error TEXT");
    // the conveyor, the reaper and rule expiry look these up every tick: no full scans as tables grow
    this.db.exec(`
      CREATE INDEX IF NOT EXISTS replicas_did ON replicas (scope, name);
      CREATE INDEX IF NOT EXISTS replicas_tombstone ON replicas (tombstone) WHERE tombstone IS NOT NULL;
      CREATE INDEX IF NOT EXISTS rules_did ON rules (scope, name);
      CREATE INDEX IF NOT EXISTS rules_state ON rules (state, created_at);
      CREATE INDEX IF NOT EXISTS rules_expiry ON rules (expires_at) WHERE expires_at IS NOT NULL;
    `);
  }

  addToken(token: string, account: string, expiresAt: number): void {
    this.sql("INSERT INTO tokens VALUES (?, ?, ?)").run(token, account, expiresAt);
  }

  tokenAccount(token: string): string | undefined {
    const r = this.sql("SELECT account, expires_at FROM tokens WHERE token = ?").get(token) as
      | { account: string; expires_at: number }
      | undefined;
    return r && r.expires_at > Date.now() ? r.account : undefined;
  }

  did(scope: string, name: string): { bytes: number | null; adler32: string | null } | undefined {
    return this.sql("SELECT bytes, adler32 FROM dids WHERE scope = ? AND name = ?").get(scope, name) as
      | { bytes: number | null; adler32: string | null }
      | undefined;
  }

  addDid(scope: string, name: string, bytes: number, adler32: string | undefined): void {
    this.sql("INSERT OR IGNORE INTO dids VALUES (?, ?, ?, ?, ?)").run(scope, name, bytes, adler32 ?? null, new Date().toISOString());
  }

  /** Rucio's set_metadata for bytes/adler32 of a file DID (replicas share the DID's values here). */
  setDidContent(scope: string, name: string, bytes: number | null, adler32: string | null): void {
    this.sql("UPDATE dids SET bytes = ?, adler32 = ? WHERE scope = ? AND name = ?").run(bytes, adler32, scope, name);
  }

  replica(rse: string, scope: string, name: string): ReplicaRow | undefined {
    return this.sql("SELECT rse, scope, name, state, pfn, tombstone FROM replicas WHERE rse = ? AND scope = ? AND name = ?").get(
      rse,
      scope,
      name,
    ) as ReplicaRow | undefined;
  }

  replicas(scope: string, name: string): ReplicaRow[] {
    return this.sql("SELECT rse, scope, name, state, pfn, tombstone FROM replicas WHERE scope = ? AND name = ? ORDER BY rse").all(
      scope,
      name,
    ) as ReplicaRow[];
  }

  addReplica(rse: string, scope: string, name: string, pfn: string | undefined, state: ReplicaState = "AVAILABLE"): void {
    this.sql("INSERT INTO replicas (rse, scope, name, pfn, state, created_at, tombstone) VALUES (?, ?, ?, ?, ?, ?, NULL)").run(
      rse,
      scope,
      name,
      pfn ?? null,
      state,
      new Date().toISOString(),
    );
  }

  /** Transfers cut short by a stop leave COPYING replicas: they go, and their rules copy again. */
  dropUnfinishedCopies(): void {
    this.db.exec("DELETE FROM replicas WHERE state = 'COPYING'");
  }

  setReplicaState(rse: string, scope: string, name: string, state: ReplicaState): void {
    this.sql("UPDATE replicas SET state = ? WHERE rse = ? AND scope = ? AND name = ?").run(state, rse, scope, name);
  }

  /** Rucio sets a tombstone when the last lock on a replica goes; a new lock clears it. */
  setTombstone(rse: string, scope: string, name: string, at: string | null): void {
    this.sql("UPDATE replicas SET tombstone = ? WHERE rse = ? AND scope = ? AND name = ?").run(at, rse, scope, name);
  }

  /** replicas whose tombstone has passed: the reaper's work */
  reapable(now: string): ReplicaRow[] {
    return this.sql(
      "SELECT rse, scope, name, state, pfn, tombstone FROM replicas WHERE tombstone IS NOT NULL AND tombstone <= ? AND state = 'AVAILABLE'",
    ).all(now) as ReplicaRow[];
  }

  deleteReplica(rse: string, scope: string, name: string): void {
    this.sql("DELETE FROM replicas WHERE rse = ? AND scope = ? AND name = ?").run(rse, scope, name);
  }

  addRule(r: RuleRow): void {
    this.sql(
      "INSERT INTO rules (id, scope, name, account, rse_expression, copies, state, expires_at, created_at, activity, comment, grouping, error) VALUES (@id, @scope, @name, @account, @rse_expression, @copies, @state, @expires_at, @created_at, @activity, @comment, @grouping, @error)",
    ).run({ error: null, ...r });
  }

  rule(id: string): RuleRow | undefined {
    return this.sql("SELECT * FROM rules WHERE id = ?").get(id) as RuleRow | undefined;
  }

  rulesOf(scope: string, name: string): RuleRow[] {
    return this.sql("SELECT * FROM rules WHERE scope = ? AND name = ? ORDER BY created_at").all(scope, name) as RuleRow[];
  }

  /** rules in `state`, oldest first (the conveyor's work list) */
  rulesIn(state: RuleRow["state"]): RuleRow[] {
    return this.sql("SELECT * FROM rules WHERE state = ? ORDER BY created_at").all(state) as RuleRow[];
  }

  /** rules whose lifetime ended by `now` (ISO 8601 strings compare in time order) */
  expiredRules(now: string): RuleRow[] {
    return this.sql("SELECT * FROM rules WHERE expires_at IS NOT NULL AND expires_at <= ?").all(now) as RuleRow[];
  }

  setRuleState(id: string, state: RuleRow["state"], error: string | null = null): void {
    this.sql("UPDATE rules SET state = ?, error = ? WHERE id = ?").run(state, error, id);
  }

  setRuleExpiry(id: string, expiresAt: string | null): void {
    this.sql("UPDATE rules SET expires_at = ? WHERE id = ?").run(expiresAt, id);
  }

  deleteRule(id: string): void {
    this.sql("DELETE FROM rules WHERE id = ?").run(id);
  }

  close(): void {
    this.db.close();
  }
}

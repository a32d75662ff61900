// Versioned schema migrations, one list per SQL dialect. A migration is never edited once released:
// changes go into a new version. Each store records applied versions in `schema_migrations`.
export interface Migration {
  version: number;
  description: string;
  sql: string;
}

export const sqliteMigrations: Migration[] = [
  {
    version: 1,
    description: "registrations, outbox, dead letters",
    sql: `
      CREATE TABLE registrations (
        id TEXT PRIMARY KEY, namespace TEXT NOT NULL, trigger TEXT NOT NULL,
        public_config TEXT NOT NULL, sealed TEXT NOT NULL,
        state TEXT NOT NULL, reason TEXT, date_changed INTEGER NOT NULL,
        cursor TEXT, stats TEXT NOT NULL, created_at INTEGER NOT NULL
      );
      CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, reg_id TEXT NOT NULL, event_id TEXT NOT NULL,
        body TEXT NOT NULL, bytes INTEGER NOT NULL, received_at INTEGER NOT NULL
      );
      CREATE INDEX outbox_reg ON outbox (reg_id, seq);
      CREATE TABLE dead_letters (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, reg_id TEXT NOT NULL, event_id TEXT NOT NULL,
        body TEXT NOT NULL, bytes INTEGER NOT NULL, received_at INTEGER NOT NULL,
        reason TEXT NOT NULL, status_code INTEGER, dead_at INTEGER NOT NULL
      );
      CREATE INDEX dead_letters_reg ON dead_letters (reg_id, seq);`,
  },
  {
    version: 2,
    description: "file ledger",
    sql: `
      CREATE TABLE files (
        reg_id TEXT NOT NULL, path TEXT NOT NULL, state TEXT NOT NULL, next_at INTEGER, doc TEXT NOT NULL,
        PRIMARY KEY (reg_id, path)
      );
      CREATE INDEX files_state ON files (reg_id, state, next_at);`,
  },
];

export const postgresMigrations: Migration[] = [
  {
    version: 1,
    description: "registrations, outbox, dead letters",
    sql: `
      CREATE TABLE registrations (
        id TEXT PRIMARY KEY, namespace TEXT NOT NULL, trigger TEXT NOT NULL,
        public_config JSONB NOT NULL, sealed TEXT NOT NULL,
        state TEXT NOT NULL, reason JSONB, date_changed BIGINT NOT NULL,
        cursor TEXT, stats JSONB NOT NULL, created_at BIGINT NOT NULL
      );
      CREATE TABLE outbox (
        seq BIGSERIAL PRIMARY KEY, reg_id TEXT NOT NULL, event_id TEXT NOT NULL,
        body TEXT NOT NULL, bytes INTEGER NOT NULL, received_at BIGINT NOT NULL
      );
      CREATE INDEX outbox_reg ON outbox (reg_id, seq);
      CREATE TABLE dead_letters (
        seq BIGSERIAL PRIMARY KEY, reg_id TEXT NOT NULL, event_id TEXT NOT NULL,
        body TEXT NOT NULL, bytes INTEGER NOT NULL, received_at BIGINT NOT NULL,
        reason TEXT NOT NULL, status_code INTEGER, dead_at BIGINT NOT NULL
      );
      CREATE INDEX dead_letters_reg ON dead_letters (reg_id, seq);`,
  },
  {
    version: 2,
    description: "replica heartbeats and work-unit leases (several replicas on one store)",
    sql: `
      CREATE TABLE provider_replicas (id TEXT PRIMARY KEY, heartbeat_at BIGINT NOT NULL, started_at BIGINT NOT NULL);
      CREATE TABLE provider_leases (unit TEXT PRIMARY KEY, owner TEXT NOT NULL, token BIGINT NOT NULL, expires_at BIGINT NOT NULL);`,
  },
  {
    version: 3,
    description: "file ledger",
    sql: `
      CREATE TABLE files (
        reg_id TEXT NOT NULL, path TEXT NOT NULL, state TEXT NOT NULL, next_at BIGINT, doc TEXT NOT NULL,
        PRIMARY KEY (reg_id, path)
      );
      CREATE INDEX files_state ON files (reg_id, state, next_at);`,
  },
];

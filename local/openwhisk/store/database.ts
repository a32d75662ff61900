// Opens the platform's SQLite file and creates its tables. Entities share one name space per
// OpenWhisk namespace (as in OpenWhisk's single entity database), so an action and a trigger cannot
// have the same name; activations live in their own table, newest first by start time.
import Database from "better-sqlite3";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

export type Db = Database.Database;

export function openDatabase(dataDir: string): Db {
  mkdirSync(dataDir, { recursive: true });
  const db = new Database(join(dataDir, "openwhisk.sqlite"));
  db.pragma("journal_mode = WAL");
  // Durable enough for a local platform (a power cut may lose the last transactions, never corrupt).
  db.pragma("synchronous = NORMAL");
  db.exec(`
    CREATE TABLE IF NOT EXISTS entities (
      namespace  TEXT NOT NULL,
      name       TEXT NOT NULL,        -- "a", or "pkg/a" for a packaged action
      collection TEXT NOT NULL,        -- actions | packages | triggers | rules
      updated    INTEGER NOT NULL,
      doc        TEXT NOT NULL,
      PRIMARY KEY (namespace, name)
    );
    CREATE INDEX IF NOT EXISTS entities_by_collection ON entities (namespace, collection, updated DESC);
    CREATE TABLE IF NOT EXISTS activations (
      id        TEXT PRIMARY KEY,
      namespace TEXT NOT NULL,
      path      TEXT NOT NULL,         -- "pkg/a" or "a": what the name filter matches
      start     INTEGER NOT NULL,
      doc       TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS activations_by_start ON activations (namespace, start DESC);
    -- listings by name (the feed provider's ledger lists each followed action's finished runs)
    CREATE INDEX IF NOT EXISTS activations_by_path ON activations (namespace, path, start DESC);
    -- rule invocations a fire promised whose activation record is not written yet (rule-invocations.ts)
    CREATE TABLE IF NOT EXISTS rule_invocations (
      id                 TEXT PRIMARY KEY,   -- the activation id the invocation runs under
      trigger_activation TEXT NOT NULL,
      rule               TEXT NOT NULL,
      action             TEXT NOT NULL,
      payload            TEXT NOT NULL,
      namespace          TEXT NOT NULL,
      uuid               TEXT NOT NULL,
      created            INTEGER NOT NULL
    );
  `);
  return db;
}

// Optional persistence of the checksum store in SQLite (--checksum-db FILE), so that checksums
// survive a restart and files are not hashed again. Lives outside the served directory.
import Database from "better-sqlite3";

export interface StoredChecksum {
  ino: number;
  size: number;
  mtimeMs: number;
  adler32: string;
}

export class ChecksumDb {
  private readonly db: Database.Database;
  private readonly getStmt: Database.Statement<[string], StoredChecksum>;
  private readonly putStmt: Database.Statement<[string, number, number, number, string]>;
  private readonly delStmt: Database.Statement<[string]>;

  constructor(file: string) {
    this.db = new Database(file);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("synchronous = NORMAL");
    this.db.exec(
      "CREATE TABLE IF NOT EXISTS checksums (path TEXT PRIMARY KEY, ino INTEGER NOT NULL, size INTEGER NOT NULL, mtime_ms REAL NOT NULL, adler32 TEXT NOT NULL)",
    );
    this.getStmt = this.db.prepare("SELECT ino, size, mtime_ms AS mtimeMs, adler32 FROM checksums WHERE path = ?");
    this.putStmt = this.db.prepare("INSERT OR REPLACE INTO checksums (path, ino, size, mtime_ms, adler32) VALUES (?, ?, ?, ?, ?)");
    this.delStmt = this.db.prepare("DELETE FROM checksums WHERE path = ?");
  }

  get(path: string): StoredChecksum | undefined {
    return this.getStmt.get(path);
  }

  put(path: string, e: StoredChecksum): void {
    this.putStmt.run(path, e.ino, e.size, e.mtimeMs, e.adler32);
  }

  delete(path: string): void {
    this.delStmt.run(path);
  }

  /** Renames a path and everything below it (a moved directory). */
  rename(from: string, to: string): void {
    const prefix = `${from}/`;
    this.db
      .prepare("UPDATE OR REPLACE checksums SET path = ? || substr(path, ?) WHERE path = ? OR substr(path, 1, ?) = ?")
      .run(to, from.length + 1, from, prefix.length, prefix);
  }

  close(): void {
    this.db.close();
  }
}

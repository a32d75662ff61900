// What a dCache registration has already seen, kept so that a rescan after lost events emits only
// files that are new or changed: per directory, each entry's name, size and mtime (size -1 when only
// an event was seen: then mtime is when it arrived, and a file not modified after it is unchanged),
// plus the set of directories a recursive registration watches. One SQLite file in the provider's
// data directory, so the record survives provider restarts.
import Database from "better-sqlite3";
import { join } from "node:path";

export interface SeenEntry {
  size: number;
  mtime: number;
}

export class SeenStore {
  private readonly db: Database.Database;
  private readonly q: Record<string, Database.Statement>;

  constructor(file: string) {
    this.db = new Database(file);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("synchronous = NORMAL");
    this.db.pragma("busy_timeout = 5000");
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS dcache_seen (reg TEXT NOT NULL, dir TEXT NOT NULL, name TEXT NOT NULL, size INTEGER NOT NULL, mtime INTEGER NOT NULL,
        PRIMARY KEY (reg, dir, name)) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS dcache_dirs (reg TEXT NOT NULL, dir TEXT NOT NULL, PRIMARY KEY (reg, dir)) WITHOUT ROWID;`);
    this.q = {
      dir: this.db.prepare("SELECT name, size, mtime FROM dcache_seen WHERE reg = ? AND dir = ?"),
      get: this.db.prepare("SELECT size, mtime FROM dcache_seen WHERE reg = ? AND dir = ? AND name = ?"),
      put: this.db.prepare(
        "INSERT INTO dcache_seen (reg, dir, name, size, mtime) VALUES (?, ?, ?, ?, ?) ON CONFLICT (reg, dir, name) DO UPDATE SET size = excluded.size, mtime = excluded.mtime",
      ),
      del: this.db.prepare("DELETE FROM dcache_seen WHERE reg = ? AND dir = ? AND name = ?"),
      delTree: this.db.prepare("DELETE FROM dcache_seen WHERE reg = ? AND (dir = ? OR substr(dir, 1, length(?) + 1) = ? || '/')"),
      dirs: this.db.prepare("SELECT dir FROM dcache_dirs WHERE reg = ?"),
      addDir: this.db.prepare("INSERT OR IGNORE INTO dcache_dirs (reg, dir) VALUES (?, ?)"),
      delDirTree: this.db.prepare("DELETE FROM dcache_dirs WHERE reg = ? AND (dir = ? OR substr(dir, 1, length(?) + 1) = ? || '/')"),
      renameSeen: this.db.prepare(
        "UPDATE dcache_seen SET dir = ? || substr(dir, length(?) + 1) WHERE reg = ? AND (dir = ? OR substr(dir, 1, length(?) + 1) = ? || '/')",
      ),
      renameDirs: this.db.prepare(
        "UPDATE OR REPLACE dcache_dirs SET dir = ? || substr(dir, length(?) + 1) WHERE reg = ? AND (dir = ? OR substr(dir, 1, length(?) + 1) = ? || '/')",
      ),
      forget: this.db.prepare("DELETE FROM dcache_seen WHERE reg = ?"),
      forgetDirs: this.db.prepare("DELETE FROM dcache_dirs WHERE reg = ?"),
    };
  }

  static inDataDir(dataDir: string): SeenStore {
    return new SeenStore(join(dataDir, "dcache-seen.sqlite"));
  }

  directory(reg: string, dir: string): Map<string, SeenEntry> {
    const out = new Map<string, SeenEntry>();
    for (const r of this.q.dir!.all(reg, dir) as { name: string; size: number; mtime: number }[])
      out.set(r.name, { size: r.size, mtime: r.mtime });
    return out;
  }

  entry(reg: string, dir: string, name: string): SeenEntry | undefined {
    return this.q.get!.get(reg, dir, name) as SeenEntry | undefined;
  }

  /** Applies many changes in one transaction (a batch of events, or one directory of a rescan). */
  readonly apply = (reg: string, changes: { dir: string; name: string; entry: SeenEntry | null }[]): void => {
    this.tx(reg, changes);
  };

  private readonly tx = (() => {
    let fn: ((reg: string, changes: { dir: string; name: string; entry: SeenEntry | null }[]) => void) | undefined;
    return (reg: string, changes: { dir: string; name: string; entry: SeenEntry | null }[]) => {
      fn ??= this.db.transaction((r: string, cs: typeof changes) => {
        for (const c of cs) {
          if (c.entry) this.q.put!.run(r, c.dir, c.name, c.entry.size, c.entry.mtime);
          else this.q.del!.run(r, c.dir, c.name);
        }
      });
      fn(reg, changes);
    };
  })();

  /** Forgets a directory and everything below it (deleted or moved away). */
  forgetTree(reg: string, dir: string): void {
    this.q.delTree!.run(reg, dir, dir, dir);
    this.q.delDirTree!.run(reg, dir, dir, dir);
  }

  /** A directory moved within the watched tree: its records move along. */
  renameTree(reg: string, from: string, to: string): void {
    this.db.transaction(() => {
      this.forgetTree(reg, to);
      this.q.renameSeen!.run(to, from, reg, from, from, from);
      this.q.renameDirs!.run(to, from, reg, from, from, from);
    })();
  }

  watchedDirs(reg: string): string[] {
    return (this.q.dirs!.all(reg) as { dir: string }[]).map((r) => r.dir);
  }

  addDir(reg: string, dir: string): void {
    this.q.addDir!.run(reg, dir);
  }

  forgetRegistration(reg: string): void {
    this.q.forget!.run(reg);
    this.q.forgetDirs!.run(reg);
  }

  close(): void {
    this.db.close();
  }
}

// Entity documents (actions, packages, triggers, rules) keyed by namespace and name, stored as the
// JSON the API returns. Lists are newest first, like OpenWhisk's views.
import type { Db } from "./database.ts";

export type Collection = "actions" | "packages" | "triggers" | "rules";
export type Doc = Record<string, unknown> & { updated: number };

export interface Stored {
  collection: Collection;
  doc: Doc;
}

export class EntityStore {
  private readonly getStmt;
  private readonly putStmt;
  private readonly delStmt;
  private readonly listStmt;
  private readonly countStmt;
  private readonly prefixStmt;
  // Invokes read the same few actions over and over: keep parsed documents until they change.
  private cache = new Map<string, Stored | null>();

  constructor(private readonly db: Db) {
    this.getStmt = db.prepare("SELECT collection, doc FROM entities WHERE namespace = ? AND name = ?");
    this.putStmt = db.prepare(
      "INSERT INTO entities (namespace, name, collection, updated, doc) VALUES (?, ?, ?, ?, ?) " +
        "ON CONFLICT (namespace, name) DO UPDATE SET collection = excluded.collection, updated = excluded.updated, doc = excluded.doc",
    );
    this.delStmt = db.prepare("DELETE FROM entities WHERE namespace = ? AND name = ?");
    this.listStmt = db.prepare(
      "SELECT doc FROM entities WHERE namespace = ? AND collection = ? ORDER BY updated DESC, name LIMIT ? OFFSET ?",
    );
    this.countStmt = db.prepare("SELECT count(*) AS n FROM entities WHERE namespace = ? AND collection = ?");
    this.prefixStmt = db.prepare(
      "SELECT doc FROM entities WHERE namespace = ? AND collection = ? AND name LIKE ? ESCAPE '\\' ORDER BY updated DESC, name",
    );
  }

  get(namespace: string, name: string): Stored | undefined {
    const k = `${namespace}\u0000${name}`;
    const hit = this.cache.get(k);
    if (hit !== undefined) return hit ?? undefined;
    const row = this.getStmt.get(namespace, name) as { collection: Collection; doc: string } | undefined;
    const value = row ? { collection: row.collection, doc: JSON.parse(row.doc) as Doc } : null;
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(k, value);
    return value ?? undefined;
  }

  put(namespace: string, name: string, collection: Collection, doc: Doc): void {
    this.putStmt.run(namespace, name, collection, doc.updated, JSON.stringify(doc));
    this.cache.delete(`${namespace}\u0000${name}`);
  }

  delete(namespace: string, name: string): void {
    this.delStmt.run(namespace, name);
    this.cache.delete(`${namespace}\u0000${name}`);
  }

  list(namespace: string, collection: Collection, limit: number, skip: number): Doc[] {
    return (this.listStmt.all(namespace, collection, limit, skip) as { doc: string }[]).map((r) => JSON.parse(r.doc));
  }

  count(namespace: string, collection: Collection): number {
    return (this.countStmt.get(namespace, collection) as { n: number }).n;
  }

  /** Actions inside one package (names "pkg/…"). */
  inPackage(namespace: string, pkg: string): Doc[] {
    const like = `${pkg.replace(/[\\%_]/g, (c) => `\\${c}`)}/%`;
    return (this.prefixStmt.all(namespace, "actions", like) as { doc: string }[]).map((r) => JSON.parse(r.doc));
  }

  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }
}

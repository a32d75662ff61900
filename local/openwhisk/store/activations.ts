// Activation records, stored as the JSON the API returns and listed newest first.
import type { Db } from "./database.ts";
import { statementCache } from "../../../lib/sqlite-statements.ts";

export type Activation = Record<string, unknown> & {
  activationId: string;
  namespace: string;
  name: string;
  start: number;
};

export interface ActivationQuery {
  /** "a" or "pkg/a": matched against the record's path annotation without the namespace */
  name?: string;
  since?: number;
  upto?: number;
  limit: number;
  skip: number;
}

const FLUSH_EVERY_MS = 20;
const MAX_BATCH = 500;

export class ActivationStore {
  private readonly putStmt;
  private readonly getStmt;
  private readonly existsStmt;
  /** list and count: one statement per combination of filters, compiled once */
  private readonly sql: ReturnType<typeof statementCache>;
  // Records are written in batches, one transaction every few milliseconds: one commit per invoke
  // would cost more than the rest of a warm invoke. Reads see pending records, lists flush first,
  // and close flushes the rest.
  private pending = new Map<string, { a: Activation; path: string; settle?: () => void }>();
  private flushScheduled = false;
  private closing = false;

  constructor(
    private readonly db: Db,
    private readonly log: (line: string) => void = () => undefined,
  ) {
    this.putStmt = db.prepare("INSERT OR REPLACE INTO activations (id, namespace, path, start, doc) VALUES (?, ?, ?, ?, ?)");
    this.getStmt = db.prepare("SELECT doc FROM activations WHERE namespace = ? AND id = ?");
    this.existsStmt = db.prepare("SELECT 1 FROM activations WHERE id = ?");
    this.sql = statementCache(db);
  }

  /**
   * Queues a record for the next batch. `settle` runs inside the transaction that writes it: what
   * else must become true exactly when the record is stored (a promised rule invocation is done).
   */
  put(a: Activation, path: string, settle?: () => void): void {
    // A promised run that ends while the platform stops was most likely cut short by the stop:
    // leave it unsettled, without a record, so the next start runs it again.
    if (settle && this.closing) return;
    this.pending.set(a.activationId, { a, path, settle });
    if (this.pending.size >= MAX_BATCH) this.flush();
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      setTimeout(() => this.flush(), FLUSH_EVERY_MS);
    }
  }

  /** From now on, records that would settle a promised rule invocation are dropped (see put). */
  beginClose(): void {
    this.closing = true;
  }

  flush(): void {
    this.flushScheduled = false;
    // Activations that end while the platform shuts down have nowhere to go.
    if (this.pending.size === 0 || !this.db.open) return;
    const batch = [...this.pending.values()];
    this.pending.clear();
    try {
      this.db.transaction(() => {
        for (const { a, path, settle } of batch) {
          this.putStmt.run(a.activationId, a.namespace, path, a.start, JSON.stringify(a));
          settle?.();
        }
      })();
    } catch (e) {
      // A full disk must not take the platform down: say what was lost and keep serving.
      this.log(`could not store ${batch.length} activation records: ${(e as Error).message}`);
    }
  }

  /** Writes a record now, bypassing the batch: for callers that need it inside their own transaction. */
  write(a: Activation, path: string): void {
    this.putStmt.run(a.activationId, a.namespace, path, a.start, JSON.stringify(a));
  }

  /** Whether a record exists for `id`, written or still in the batch. */
  has(id: string): boolean {
    return this.pending.has(id) || this.existsStmt.get(id) !== undefined;
  }

  get(namespace: string, id: string): Activation | undefined {
    const p = this.pending.get(id);
    if (p) return p.a.namespace === namespace ? p.a : undefined;
    const row = this.getStmt.get(namespace, id) as { doc: string } | undefined;
    return row ? (JSON.parse(row.doc) as Activation) : undefined;
  }

  private where(namespace: string, q: Omit<ActivationQuery, "limit" | "skip">): { sql: string; args: unknown[] } {
    const parts = ["namespace = ?"];
    const args: unknown[] = [namespace];
    if (q.name !== undefined) {
      parts.push("path = ?");
      args.push(q.name);
    }
    if (q.since !== undefined) {
      parts.push("start >= ?");
      args.push(q.since);
    }
    if (q.upto !== undefined) {
      parts.push("start <= ?");
      args.push(q.upto);
    }
    return { sql: parts.join(" AND "), args };
  }

  /**
   * Newest first. `brief`: without logs and result (what a list without docs=true shows), cut out by
   * SQLite itself: parsing whole records in JavaScript was most of the cost of frequent lists.
   */
  list(namespace: string, q: ActivationQuery, brief = false): Activation[] {
    this.flush();
    const w = this.where(namespace, q);
    const doc = brief ? "json_remove(doc, '$.logs', '$.response.result')" : "doc";
    const rows = this.sql(`SELECT ${doc} AS doc FROM activations WHERE ${w.sql} ORDER BY start DESC, rowid DESC LIMIT ? OFFSET ?`).all(
      ...w.args,
      q.limit,
      q.skip,
    ) as { doc: string }[];
    return rows.map((r) => JSON.parse(r.doc) as Activation);
  }

  count(namespace: string, q: Omit<ActivationQuery, "limit" | "skip">): number {
    this.flush();
    const w = this.where(namespace, q);
    return (this.sql(`SELECT count(*) AS n FROM activations WHERE ${w.sql}`).get(...w.args) as { n: number }).n;
  }
}

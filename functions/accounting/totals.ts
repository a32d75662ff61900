// Running totals from the retained per-file records: what a late subscriber to
// `<prefix>/files/#` (or a scraper built on one) computes. Each file's topic holds only its latest
// record, so folding "topic → latest record" gives exact totals however many activations published
// concurrently, and a replayed file counts once (with its latest outcome).
import { Counters, type AccountingRecord } from "./records.ts";

export interface Totals {
  /** distinct files with a record */
  files: number;
  succeeded: number;
  failed: number;
  skipped: number;
  /** failed files a retry cannot help */
  permanentFailures: number;
  bytes: { succeeded: number; failed: number };
  /** failed files by the step that failed */
  failedByStep: Record<string, number>;
}

export class AccountingTotals {
  private readonly latest = new Map<string, AccountingRecord>();

  /** Takes one message from `<prefix>/files/#`; an empty payload (a cleared retained message) forgets the file. Returns false for a payload that is not a record. */
  apply(topic: string, payload: Buffer | string): boolean {
    if (payload.length === 0) {
      this.latest.delete(topic);
      return true;
    }
    let r: AccountingRecord;
    try {
      r = JSON.parse(payload.toString()) as AccountingRecord;
    } catch {
      return false;
    }
    if (!r || typeof r.path !== "string" || !["ok", "failed", "skipped"].includes(r.outcome)) return false;
    this.latest.set(topic, r);
    return true;
  }

  records(): AccountingRecord[] {
    return [...this.latest.values()];
  }

  totals(): Totals {
    const t: Totals = {
      files: 0,
      succeeded: 0,
      failed: 0,
      skipped: 0,
      permanentFailures: 0,
      bytes: { succeeded: 0, failed: 0 },
      failedByStep: {},
    };
    for (const r of this.latest.values()) {
      t.files++;
      if (r.outcome === "ok") {
        t.succeeded++;
        t.bytes.succeeded += r.bytes ?? 0;
      } else if (r.outcome === "failed") {
        t.failed++;
        t.bytes.failed += r.bytes ?? 0;
        if (r.permanent) t.permanentFailures++;
        const step = r.step ?? "unknown";
        t.failedByStep[step] = (t.failedByStep[step] ?? 0) + 1;
      } else t.skipped++;
    }
    return t;
  }

  /**
   * The totals as Prometheus gauges (text exposition), for a /metrics endpoint. Gauges, not
   * counters: they count files by their latest outcome, so a file retried successfully moves from
   * failed to ok.
   */
  prometheus(): string {
    const c = new Counters();
    for (const r of this.latest.values()) {
      c.add("storage_pipeline_files", { facility: r.facility, outcome: r.outcome, format: r.format }, 1);
      if (r.bytes !== undefined && r.outcome !== "skipped")
        c.add("storage_pipeline_bytes", { facility: r.facility, outcome: r.outcome }, r.bytes);
      if (r.outcome === "failed")
        c.add(
          "storage_pipeline_failed_files",
          { facility: r.facility, step: r.step ?? "unknown", permanent: String(r.permanent === true) },
          1,
        );
    }
    return c.exposition(HELP, "gauge");
  }
}

const HELP: Record<string, string> = {
  storage_pipeline_files: "Files with an accounting record, by latest outcome (ok, failed, skipped) and format.",
  storage_pipeline_bytes: "Bytes of those files (where the size is known), by latest outcome.",
  storage_pipeline_failed_files: "Files whose latest outcome is failed, by the step that failed and whether the failure is permanent.",
};

// One accounting record per file the run saw (succeeded, failed or skipped), the MQTT topic each
// record is retained under, and the Prometheus counters of a run.
import type { FailedFile, FileRecord, StepRecord } from "../_shared/files.ts";

export type { FailedFile };

export interface AccountingRecord {
  recordedAt: string;
  facility?: string;
  path: string;
  outcome: "ok" | "failed" | "skipped";
  /** failed: the step that failed on the file */
  step?: string;
  /** failed or skipped: why */
  reason?: string;
  /** failed: whether a retry can help (false) or not (true) */
  permanent?: boolean;
  bytes?: number;
  adler32?: string;
  format?: string;
  catalogue?: string;
  event?: FileRecord["event"];
  /** Time from the storage event to this record (end-to-end latency of the sequence). */
  latencyMs?: number;
  steps: Array<Pick<StepRecord, "function" | "version" | "durationMs" | "outcome"> & { bytesRead: number }>;
  durationMs: number;
}

export const DEFAULT_PREFIX = "storage-events/accounting";

/**
 * The topic a file's record is retained under: `<prefix>/files<path>`, the path's own levels kept
 * (so `<prefix>/files/beamtime/raw/#` selects a folder). `+`, `#` and NUL may not appear in a topic
 * name, so they (and `%`, to stay reversible) are percent-encoded.
 */
export function fileTopic(prefix: string, path: string): string {
  const levels = path.replace(/[%+#\u0000]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, "0").toUpperCase()}`);
  return `${prefix}/files${levels.startsWith("/") ? "" : "/"}${levels}`;
}

export function recordsFor(
  files: FileRecord[],
  skipped: Array<{ path: string; reason: string }>,
  steps: StepRecord[],
  facility: string | undefined,
  now = Date.now(),
  failed: FailedFile[] = [],
): AccountingRecord[] {
  // Steps handle the whole batch: a file's share of bytes is its own size where known.
  const stepView = steps.map((s) => ({
    function: s.function,
    version: s.version,
    durationMs: s.durationMs,
    outcome: s.outcome,
    bytesRead: s.bytesRead,
  }));
  const durationMs = steps.reduce((a, s) => a + s.durationMs, 0);
  const base = { recordedAt: new Date(now).toISOString(), ...(facility ? { facility } : {}), steps: stepView, durationMs };
  const withEvent = (r: AccountingRecord, event: FileRecord["event"]) => {
    if (!event) return r;
    r.event = event;
    const t = Date.parse(event.time ?? "");
    if (!Number.isNaN(t)) r.latencyMs = now - t;
    return r;
  };
  const out: AccountingRecord[] = files.map((f) => {
    const r: AccountingRecord = { ...base, path: f.path, outcome: "ok" };
    if (f.size !== undefined) r.bytes = f.size;
    if (f.adler32) r.adler32 = f.adler32;
    if (f.metadata?.format) r.format = f.metadata.format;
    if (f.catalogue?.pid) r.catalogue = f.catalogue.pid;
    return withEvent(r, f.event);
  });
  for (const f of failed) {
    const r: AccountingRecord = { ...base, path: f.path, outcome: "failed", step: f.step, reason: f.reason, permanent: f.permanent };
    if (f.size !== undefined) r.bytes = f.size;
    if (f.adler32) r.adler32 = f.adler32;
    out.push(withEvent(r, f.event));
  }
  for (const s of skipped) out.push({ ...base, path: s.path, outcome: "skipped", reason: s.reason });
  return out;
}

function labels(l: Record<string, string | undefined>): string {
  const parts = Object.entries(l)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}="${String(v).replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`);
  return parts.length ? `{${parts.join(",")}}` : "";
}

const FILE_HELP: Record<string, string> = {
  storage_pipeline_files_total: "Files the pipeline finished, by outcome (ok, failed, skipped) and format.",
  storage_pipeline_bytes_total: "Bytes of the files the pipeline finished successfully.",
  storage_pipeline_failed_files_total: "Files the pipeline failed on, by the step that failed and whether the failure is permanent.",
  storage_pipeline_failed_bytes_total: "Bytes of the files the pipeline failed on (where the size was known).",
};

function addFileSeries(
  records: Iterable<AccountingRecord>,
  add: (name: string, l: Record<string, string | undefined>, v: number) => void,
): void {
  for (const r of records) {
    add("storage_pipeline_files_total", { facility: r.facility, outcome: r.outcome, format: r.format }, 1);
    if (r.outcome === "ok" && r.bytes !== undefined) add("storage_pipeline_bytes_total", { facility: r.facility }, r.bytes);
    if (r.outcome === "failed") {
      add("storage_pipeline_failed_files_total", { facility: r.facility, step: r.step, permanent: String(r.permanent === true) }, 1);
      if (r.bytes !== undefined) add("storage_pipeline_failed_bytes_total", { facility: r.facility }, r.bytes);
    }
  }
}

/** Counters keyed as Prometheus series (`name{labels}`) and their text exposition. */
export class Counters {
  readonly counters: Record<string, number> = {};
  add = (name: string, l: Record<string, string | undefined>, v: number): void => {
    const key = name + labels(l);
    this.counters[key] = (this.counters[key] ?? 0) + v;
  };
  exposition(help: Record<string, string>, type: "counter" | "gauge" = "counter"): string {
    const lines: string[] = [];
    for (const [name, text] of Object.entries(help)) {
      const series = Object.entries(this.counters).filter(([k]) => k === name || k.startsWith(`${name}{`));
      if (!series.length) continue;
      lines.push(`# HELP ${name} ${text}`, `# TYPE ${name} ${type}`);
      for (const [k, v] of series) lines.push(`${k} ${v}`);
    }
    return `${lines.join("\n")}\n`;
  }
}

/** Counters of this run, keyed as Prometheus series, and the same in the text exposition format. */
export function metricsFor(
  records: AccountingRecord[],
  steps: StepRecord[],
  facility: string | undefined,
): { counters: Record<string, number>; prometheus: string } {
  const c = new Counters();
  addFileSeries(records, c.add);
  for (const s of steps) {
    c.add("storage_pipeline_step_runs_total", { facility, function: s.function, outcome: s.outcome }, 1);
    c.add("storage_pipeline_step_duration_seconds_sum", { facility, function: s.function }, s.durationMs / 1000);
    c.add("storage_pipeline_step_bytes_read_total", { facility, function: s.function }, s.bytesRead);
  }
  const help: Record<string, string> = {
    ...FILE_HELP,
    storage_pipeline_step_runs_total: "Runs of each pipeline function.",
    storage_pipeline_step_duration_seconds_sum: "Time spent in each pipeline function.",
    storage_pipeline_step_bytes_read_total: "Bytes each pipeline function read from storage.",
  };
  return { counters: c.counters, prometheus: c.exposition(help) };
}

// One accounting record per processed (or skipped) file, and the Prometheus counters of a run.
import type { FileRecord, StepRecord } from "../_shared/files.ts";

export interface AccountingRecord {
  recordedAt: string;
  facility?: string;
  path: string;
  outcome: "ok" | "skipped";
  reason?: string;
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

export function recordsFor(files: FileRecord[], skipped: Array<{ path: string; reason: string }>, steps: StepRecord[], facility: string | undefined, now = Date.now()): AccountingRecord[] {
  // Steps handle the whole batch: a file's share of bytes is its own size where known.
  const stepView = steps.map((s) => ({ function: s.function, version: s.version, durationMs: s.durationMs, outcome: s.outcome, bytesRead: s.bytesRead }));
  const durationMs = steps.reduce((a, s) => a + s.durationMs, 0);
  const base = { recordedAt: new Date(now).toISOString(), ...(facility ? { facility } : {}), steps: stepView, durationMs };
  const out: AccountingRecord[] = files.map((f) => {
    const r: AccountingRecord = { ...base, path: f.path, outcome: "ok" };
    if (f.size !== undefined) r.bytes = f.size;
    if (f.adler32) r.adler32 = f.adler32;
    if (f.metadata?.format) r.format = f.metadata.format;
    if (f.catalogue?.pid) r.catalogue = f.catalogue.pid;
    if (f.event) {
      r.event = f.event;
      const t = Date.parse(f.event.time ?? "");
      if (!Number.isNaN(t)) r.latencyMs = now - t;
    }
    return r;
  });
  for (const s of skipped) out.push({ ...base, path: s.path, outcome: "skipped", reason: s.reason });
  return out;
}

function labels(l: Record<string, string | undefined>): string {
  const parts = Object.entries(l).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}="${String(v).replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`);
  return parts.length ? `{${parts.join(",")}}` : "";
}

/** Counters of this run, keyed as Prometheus series, and the same in the text exposition format. */
export function metricsFor(records: AccountingRecord[], steps: StepRecord[], facility: string | undefined): { counters: Record<string, number>; prometheus: string } {
  const counters: Record<string, number> = {};
  const add = (name: string, l: Record<string, string | undefined>, v: number) => {
    const key = name + labels(l);
    counters[key] = (counters[key] ?? 0) + v;
  };
  for (const r of records) {
    add("storage_pipeline_files_total", { facility, outcome: r.outcome, format: r.format }, 1);
    if (r.bytes !== undefined) add("storage_pipeline_bytes_total", { facility }, r.bytes);
  }
  for (const s of steps) {
    add("storage_pipeline_step_runs_total", { facility, function: s.function, outcome: s.outcome }, 1);
    add("storage_pipeline_step_duration_seconds_sum", { facility, function: s.function }, s.durationMs / 1000);
    add("storage_pipeline_step_bytes_read_total", { facility, function: s.function }, s.bytesRead);
  }
  const help: Record<string, string> = {
    storage_pipeline_files_total: "Files the pipeline finished, by outcome and format.",
    storage_pipeline_bytes_total: "Bytes of the files the pipeline finished.",
    storage_pipeline_step_runs_total: "Runs of each pipeline function.",
    storage_pipeline_step_duration_seconds_sum: "Time spent in each pipeline function.",
    storage_pipeline_step_bytes_read_total: "Bytes each pipeline function read from storage.",
  };
  const lines: string[] = [];
  for (const [name, text] of Object.entries(help)) {
    const series = Object.entries(counters).filter(([k]) => k === name || k.startsWith(name + "{"));
    if (!series.length) continue;
    lines.push(`# HELP ${name} ${text}`, `# TYPE ${name} counter`);
    for (const [k, v] of series) lines.push(`${k} ${v}`);
  }
  return { counters, prometheus: lines.join("\n") + "\n" };
}

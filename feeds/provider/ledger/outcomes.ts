// Reading outcomes from OpenWhisk's records, through the public REST API only. A trigger activation
// lists in its logs one JSON line per rule: `{statusCode, success, activationId, rule, action}`
// when the rule's action was invoked, `success:false` with `error` when it was refused (429,
// inactive rule …). The rule's activation then ends with the functions' per-file result:
// `files` (went through), `skipped`, `failed` (step, reason, permanent), or as a whole
// `{error, step, transient, paths}`.

export interface RuleLine {
  rule: string;
  action: string;
  success: boolean;
  activationId?: string;
  statusCode?: number;
  error?: string;
}

/** The rule lines of a trigger activation's logs (other lines are ignored). */
export function ruleLines(logs: unknown): RuleLine[] {
  if (!Array.isArray(logs)) return [];
  const out: RuleLine[] = [];
  for (const l of logs) {
    if (typeof l !== "string") continue;
    let j: Record<string, unknown>;
    try {
      j = JSON.parse(l) as Record<string, unknown>;
    } catch {
      continue;
    }
    if (typeof j.rule !== "string" || typeof j.action !== "string" || typeof j.success !== "boolean") continue;
    const line: RuleLine = { rule: j.rule, action: j.action, success: j.success };
    if (typeof j.activationId === "string") line.activationId = j.activationId;
    if (typeof j.statusCode === "number") line.statusCode = j.statusCode;
    if (typeof j.error === "string") line.error = j.error;
    out.push(line);
  }
  return out;
}

export function isInactiveRule(line: RuleLine): boolean {
  return !line.success && /is inactive/.test(line.error ?? "");
}

export type FileOutcome =
  | { state: "succeeded"; size?: number; mtime?: number; adler32?: string }
  | { state: "skipped"; reason: string }
  | { state: "failed"; step: string; reason: string; permanent: boolean; size?: number; mtime?: number; adler32?: string };

/** What a result says of a file's content: the identity the ledger compares later arrivals with. */
function identity(f: { size?: unknown; mtime?: unknown; adler32?: unknown }): { size?: number; mtime?: number; adler32?: string } {
  const o: { size?: number; mtime?: number; adler32?: string } = {};
  if (typeof f.size === "number") o.size = f.size;
  if (typeof f.mtime === "string" && !Number.isNaN(Date.parse(f.mtime))) o.mtime = Date.parse(f.mtime);
  if (typeof f.adler32 === "string") o.adler32 = f.adler32;
  return o;
}

export interface ActivationRecord {
  response?: { success?: boolean; status?: string; result?: unknown };
}

type Result = {
  files?: Array<{ path?: unknown; size?: unknown; mtime?: unknown; adler32?: unknown }>;
  skipped?: Array<{ path?: unknown; reason?: unknown }>;
  failed?: Array<{
    path?: unknown;
    step?: unknown;
    reason?: unknown;
    permanent?: unknown;
    size?: unknown;
    mtime?: unknown;
    adler32?: unknown;
  }>;
  error?: unknown;
  step?: unknown;
  transient?: unknown;
  paths?: unknown;
};

/**
 * What the activation says about each of `paths`. A file the result does not mention went through
 * when the activation succeeded (an action that does not speak the files protocol), and shares the
 * activation's failure otherwise; a failure without a `transient: false` (a time-out, a crash) is
 * transient.
 */
export function outcomesOf(record: ActivationRecord, paths: string[]): Map<string, FileOutcome> {
  const out = new Map<string, FileOutcome>();
  const result = (record.response?.result ?? {}) as Result;
  const success = record.response?.success === true;
  for (const f of Array.isArray(result.files) ? result.files : []) {
    if (typeof f?.path === "string") out.set(f.path, { state: "succeeded", ...identity(f) });
  }
  for (const s of Array.isArray(result.skipped) ? result.skipped : []) {
    if (typeof s?.path === "string") out.set(s.path, { state: "skipped", reason: String(s.reason ?? "skipped") });
  }
  for (const f of Array.isArray(result.failed) ? result.failed : []) {
    if (typeof f?.path !== "string") continue;
    out.set(f.path, {
      state: "failed",
      step: String(f.step ?? "?"),
      reason: String(f.reason ?? "failed"),
      permanent: f.permanent === true,
      ...identity(f),
    });
  }
  if (!success || typeof result.error === "string") {
    const named = Array.isArray(result.paths) ? new Set(result.paths.filter((p): p is string => typeof p === "string")) : undefined;
    const reason = typeof result.error === "string" ? result.error : `the activation ended with ${record.response?.status ?? "an error"}`;
    const whole: FileOutcome = {
      state: "failed",
      step: typeof result.step === "string" ? result.step : "action",
      reason,
      permanent: result.transient === false,
    };
    for (const p of paths) if (!out.has(p) && (!named || named.has(p))) out.set(p, whole);
  }
  for (const p of paths)
    if (!out.has(p))
      out.set(
        p,
        success
          ? { state: "succeeded" }
          : { state: "failed", step: "action", reason: "the activation failed without naming the file", permanent: false },
      );
  return out;
}

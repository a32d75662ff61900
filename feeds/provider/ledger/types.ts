// The file ledger: per registration, one entry per file path that arrived — which content it is
// (size, mtime, ADLER32 where known), the events that announced it, and what became of it under
// each rule the trigger fired. The file, not the event, is the unit a user cares about: every entry
// ends succeeded, skipped (gone, nothing to do) or failed with a reason, never silently neither.

/**
 * pending: waiting in the outbox · fired: OpenWhisk accepted the fire, outcomes are being followed ·
 * retrying: a rule failed transiently and runs again at `nextAt` · succeeded: every rule that ran
 * succeeded · skipped: no rule had anything to do (the file was gone, or a directory) · failed: a
 * rule failed permanently, ran out of time (maxAgeSeconds), or no rule was active.
 */
export type FileState = "pending" | "fired" | "retrying" | "succeeded" | "skipped" | "failed";
export const FILE_STATES: readonly FileState[] = ["pending", "fired", "retrying", "succeeded", "skipped", "failed"];

/** What one rule (trigger → action) did with the file. */
export interface RuleOutcome {
  /** the rule's action as the trigger activation names it, e.g. "guest/facility-dev-ingest" */
  action: string;
  /** running: its activation is being followed; inactive: the rule was disabled when the file fired */
  state: "running" | "retrying" | "succeeded" | "skipped" | "failed" | "inactive";
  /** the activation being followed (the rule's, or the provider's own retry invocation) */
  activationId?: string;
  /** invocations of this rule for this file so far (1 = the fire's own) */
  attempt: number;
  nextAt?: number;
  step?: string;
  reason?: string;
  permanent?: boolean;
}

export interface FileIdentity {
  size?: number;
  /** ms since the epoch, as the storage reports it */
  mtime?: number;
  adler32?: string;
}

export interface FileEntry extends FileIdentity {
  regId: string;
  path: string;
  state: FileState;
  /** the newest CloudEvent that announced this content (JSON): what a retry sends again */
  event: string;
  /** ids of the events that announced this content, newest last (bounded) */
  eventIds: string[];
  /** when this content first arrived: maxAgeSeconds counts from here */
  arrivedAt: number;
  updatedAt: number;
  firedAt?: number;
  /** the trigger activation of the fire that carried the file */
  triggerActivationId?: string;
  rules: Record<string, RuleOutcome>;
  /** the first failure, for lists: which step and why */
  step?: string;
  reason?: string;
  permanent?: boolean;
  /**
   * set when the file arrived again while it was in flight: once the run in flight ends, the
   * ledger compares this with the content that was processed and fires the file again if it changed
   */
  again?: { event: string; at: number } & FileIdentity;
  /** earliest `nextAt` of its retrying rules (for the due-retry scan) */
  nextAt?: number;
}

export interface FileQuery {
  state?: FileState;
  /** path prefix */
  prefix?: string;
  limit: number;
  /** paging: paths after this one */
  after?: string;
}

/** The ledger part of the provider's store (SQLite and PostgreSQL alike). */
export interface LedgerStore {
  getFiles(regId: string, paths: string[]): Promise<Map<string, FileEntry>>;
  /**
   * inserts or replaces entries; fenced like the outbox on replicas, unless `fenced: false` (the API
   * of a replica that does not run the registration asks its owner for a retry that way)
   */
  putFiles(regId: string, entries: FileEntry[], opts?: { fenced: boolean }): Promise<void>;
  listFiles(regId: string, q: FileQuery): Promise<FileEntry[]>;
  countFiles(regId: string): Promise<Record<FileState, number>>;
  /** entries whose outcome is being followed (to resume after a restart or takeover), by path */
  firedFiles(regId: string, limit: number, after?: string): Promise<FileEntry[]>;
  /** entries whose retry is due by `dueBy` */
  dueFiles(regId: string, dueBy: number, limit: number): Promise<FileEntry[]>;
}

/** The entry's overall state, from its rules' outcomes (with no rule yet: as it stands). */
export function overallState(e: Pick<FileEntry, "rules" | "state">): FileState {
  const rules = Object.values(e.rules);
  if (rules.length === 0) return e.state;
  // in flight until every rule has its outcome; then one failed rule makes the file failed
  if (rules.some((r) => r.state === "running")) return "fired";
  if (rules.some((r) => r.state === "retrying")) return "retrying";
  if (rules.some((r) => r.state === "failed")) return "failed";
  const ran = rules.filter((r) => r.state !== "inactive");
  if (ran.length > 0 && ran.every((r) => r.state === "skipped")) return "skipped";
  if (ran.length === 0) return "failed";
  return "succeeded";
}

/** Recomputes state, the first failure and the next retry time after rule outcomes changed. */
export function settle(e: FileEntry, now: number): FileEntry {
  e.state = overallState(e);
  // by rule name: which of several failures a list shows must not depend on which outcome came first
  const rules = Object.entries(e.rules).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const failed = rules.find(([, r]) => r.state === "retrying") ?? rules.find(([, r]) => r.state === "failed");
  if (failed) {
    e.step = failed[1].step;
    e.reason = failed[1].reason;
    e.permanent = failed[1].permanent;
  } else if (rules.length > 0 && rules.every(([, r]) => r.state === "inactive")) {
    e.step = "fire";
    e.reason = "every rule of the trigger was inactive when the file fired; enable a rule, then retry or reconcile";
    e.permanent = false;
  } else if (e.state !== "failed") {
    delete e.step;
    delete e.reason;
    delete e.permanent;
  }
  const next = rules.filter(([, r]) => r.state === "retrying" && r.nextAt !== undefined).map(([, r]) => r.nextAt!);
  if (next.length) e.nextAt = Math.min(...next);
  else delete e.nextAt;
  e.updatedAt = now;
  return e;
}

export function isInFlight(s: FileState): boolean {
  return s === "pending" || s === "fired" || s === "retrying";
}

// The step that runs once every rule of a file succeeded (`delivery.finally`, an action name): the
// ledger adds it to the file's entry as one more rule, due at once, and the retry scan invokes it
// like a rule's action — with the trigger's parameters, the file's event and what each rule did
// with the file (`pipelines`). Its outcome is followed, and its transient failures retried with
// backoff, like any rule's; the file is succeeded only when it succeeded too. A file one of whose
// rules failed never gets it; retrying the file (and succeeding) does. The data lifecycle uses it:
// archive a file and free its buffer copy only after all its pipelines went well (docs/lifecycle.md).
import type { FileEntry } from "./types.ts";

const PREFIX = "finally:";

export function isFinallyRule(key: string): boolean {
  return key.startsWith(PREFIX);
}

/** "facility/lifecycle" → "ns/facility/lifecycle", as trigger activations name rule actions. */
export function qualified(action: string, namespace: string): string {
  const a = action.replace(/^\/+/, "");
  return action.startsWith("/") ? a : `${namespace}/${a}`;
}

/**
 * Adds the finally rule to an entry whose rules all came out succeeded (or skipped, with at least
 * one succeeded) and that has none yet; true when it did (the caller settles the entry again).
 */
export function addFinally(e: FileEntry, action: string | undefined, namespace: string, now: number): boolean {
  if (!action || e.state !== "succeeded" || Object.keys(e.rules).some(isFinallyRule)) return false;
  e.rules[PREFIX + action] = { action: qualified(action, namespace), state: "retrying", attempt: 0, nextAt: now };
  return true;
}

/** What the trigger's own rules did with the file: the finally step's `pipelines` for it. */
export function pipelinesOf(e: FileEntry): Array<{ action: string; state: string }> {
  return Object.entries(e.rules)
    .filter(([k]) => !isFinallyRule(k))
    .map(([, r]) => ({ action: r.action, state: r.state }));
}

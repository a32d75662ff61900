// A registration's state, and the only ways it changes. active: events are fired; paused: the owner
// paused it, events are kept in the outbox; disabled: OpenWhisk refused the trigger or key, or the
// source refused its credentials — nothing is fired until the owner fixes the feed (UPDATE) or
// re-enables it (UNPAUSE, after the key is checked again).
import type { RegistrationRecord, RegistrationState, StatusReason } from "../store/types.ts";

export type { RegistrationState };

export type Change =
  /** the owner's PAUSE */
  | { kind: "pause" }
  /** the owner's UNPAUSE */
  | { kind: "unpause" }
  /** the owner's UPDATE: the fix for whatever disabled the registration */
  | { kind: "update" }
  /** OpenWhisk (401/403/404/410) or the source (refused credentials) */
  | { kind: "disable"; reason: StatusReason };

export const PAUSED_BY_OWNER: StatusReason = { kind: "USER", message: "paused by the owner (PAUSE); events are buffered until UNPAUSE" };

/** The state a change leads to, or undefined when it changes nothing. */
export function nextState(state: RegistrationState, change: Change): { state: RegistrationState; reason: StatusReason | null } | undefined {
  switch (change.kind) {
    case "pause":
      return state === "active" ? { state: "paused", reason: PAUSED_BY_OWNER } : undefined;
    case "unpause":
      return state === "active" ? undefined : { state: "active", reason: null };
    case "update":
      return state === "disabled" ? { state: "active", reason: null } : undefined;
    case "disable":
      return { state: "disabled", reason: change.reason };
  }
}

/** Applies a change to a record (with the time of the change); true when the state changed. */
export function applyChange(rec: Pick<RegistrationRecord, "state" | "reason" | "dateChanged">, change: Change, now = Date.now()): boolean {
  const next = nextState(rec.state, change);
  if (!next) return false;
  rec.state = next.state;
  rec.reason = next.reason;
  rec.dateChanged = now;
  return true;
}

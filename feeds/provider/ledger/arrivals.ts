// Whether an arriving event is a file to fire or news the ledger already has. A replayed event (the
// same id), or an event whose size and mtime (or ADLER32) equal the content already processed or in
// flight, fires nothing: that is what keeps restarts, rescans, EVENT_LOSS replays and takeovers from
// running the tree again. An event without that identity (dCache sends none unless the feed's
// `enrich` is on) is a new close, so the file fires again once the run in flight has ended.
import type { FileEntry, FileIdentity } from "./types.ts";
import { isInFlight } from "./types.ts";
import { isArrivalMask } from "../../../lib/events/inotify.ts";

/** ids of the events a content's entry remembers */
const MAX_EVENT_IDS = 20;

export interface Arrival extends FileIdentity {
  path: string;
  eventId: string;
  /** the CloudEvent as fired (JSON) */
  event: string;
  at: number;
}

interface EventLike {
  id?: unknown;
  subject?: unknown;
  type?: unknown;
  data?: { path?: unknown; mask?: unknown; isDir?: unknown; size?: unknown; mtime?: unknown; adler32?: unknown } | null;
}

/** The file an event announces, or undefined for events that announce no file (deletes, directories, other flags). */
export function arrivalOf(body: string, receivedAt: number): Arrival | undefined {
  let ev: EventLike;
  try {
    ev = JSON.parse(body) as EventLike;
  } catch {
    return undefined;
  }
  const mask = Array.isArray(ev.data?.mask) ? (ev.data!.mask as string[]) : [];
  if (ev.data?.isDir === true || !isArrivalMask(mask)) return undefined;
  const path = typeof ev.subject === "string" ? ev.subject : typeof ev.data?.path === "string" ? ev.data.path : undefined;
  if (!path || typeof ev.id !== "string") return undefined;
  const a: Arrival = { path, eventId: ev.id, event: body, at: receivedAt };
  if (typeof ev.data?.size === "number") a.size = ev.data.size;
  if (typeof ev.data?.mtime === "number") a.mtime = ev.data.mtime;
  if (typeof ev.data?.adler32 === "string") a.adler32 = ev.data.adler32.toLowerCase();
  return a;
}

/** Same content, as far as both sides know: size equal, and mtime or ADLER32 equal. */
export function sameContent(a: FileIdentity, b: FileIdentity): boolean | undefined {
  if (a.size === undefined || b.size === undefined) return undefined;
  if (a.size !== b.size) return false;
  if (a.adler32 && b.adler32) return a.adler32 === b.adler32;
  if (a.mtime !== undefined && b.mtime !== undefined) return a.mtime === b.mtime;
  return undefined;
}

function identityOf(a: FileIdentity): FileIdentity {
  const out: FileIdentity = {};
  if (a.size !== undefined) out.size = a.size;
  if (a.mtime !== undefined) out.mtime = a.mtime;
  if (a.adler32 !== undefined) out.adler32 = a.adler32;
  return out;
}

export function newEntry(regId: string, a: Arrival, now: number): FileEntry {
  return {
    regId,
    path: a.path,
    state: "pending",
    event: a.event,
    eventIds: [a.eventId],
    arrivedAt: now,
    updatedAt: now,
    rules: {},
    ...identityOf(a),
  };
}

export type Admission =
  /** fire it: a new file, or new content of a known one (the entry starts over) */
  | { fire: true; entry: FileEntry }
  /** nothing to fire; the entry (if changed) is to be stored */
  | { fire: false; entry: FileEntry; why: "replay" | "same-content" | "in-flight" };

export function admit(regId: string, existing: FileEntry | undefined, a: Arrival, now: number): Admission {
  if (!existing) return { fire: true, entry: newEntry(regId, a, now) };
  if (existing.eventIds.includes(a.eventId)) return { fire: false, entry: existing, why: "replay" };
  const remember = (e: FileEntry): FileEntry => ({ ...e, eventIds: [...e.eventIds, a.eventId].slice(-MAX_EVENT_IDS), updatedAt: now });
  const same = sameContent(existing, a);
  if (same === true) return { fire: false, entry: remember(existing), why: "same-content" };
  // not fired yet: the newer arrival takes the queued one's place in the outbox (delivery coalesces)
  if (existing.state === "pending") return { fire: true, entry: { ...remember(existing), event: a.event, ...identityOf(a) } };
  if (isInFlight(existing.state)) {
    // the run in flight may or may not have read this content: decide when it has ended (see reconsider)
    return { fire: false, entry: { ...remember(existing), again: { event: a.event, at: a.at, ...identityOf(a) } }, why: "in-flight" };
  }
  // new content: a new entry, which still knows the old events (a later replay of them fires nothing)
  return { fire: true, entry: { ...newEntry(regId, a, now), eventIds: remember(existing).eventIds } };
}

/**
 * After an entry's run ended: the arrival it deferred, if its content may differ from what was
 * processed (unknown identity counts as different), else undefined.
 */
export function reconsider(e: FileEntry): Arrival | undefined {
  const again = e.again;
  if (!again) return undefined;
  if (sameContent(e, again) === true) return undefined;
  const ev = JSON.parse(again.event) as { id?: string };
  return { path: e.path, eventId: String(ev.id ?? ""), event: again.event, at: again.at, ...identityOf(again) };
}

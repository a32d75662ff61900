// The arrival stage: the unit the user cares about is the file, not the event. A regular file
// arrives when it is closed after writing (IN_CLOSE_WRITE) or moved into the watched tree
// (IN_MOVED_TO: `mv`, rsync's final rename, an instrument renaming `scan.nxs.part`). Writers'
// temporary names are not arrivals — their rename to the final name is. Directories are not files
// (the dCache source turns a directory moved in into the arrivals of its files).
//
// Deciding whether a second arrival of a path is a repeat needs to know whether the first has fired
// yet, which only the outbox knows; `PendingArrivals` is the index the delivery keeps for that.
import type { StorageCloudEvent } from "../../../lib/events/cloudevent.ts";
import { isArrivalMask, isDirectoryMask } from "../../../lib/events/inotify.ts";
import { DEFAULT_SETTLE_MS, DEFAULT_TEMPORARY, type FilterParams } from "../../common/feed-params.ts";
import { compileGlob } from "./glob.ts";

/** "raw": arrivals are off, every event goes on to the filter */
export type ArrivalVerdict = "arrival" | "temporary" | "directory" | "not-arrival" | "raw";

export interface ArrivalStage {
  readonly enabled: boolean;
  /** repeated arrivals of a path within this many ms of its first are one (see Delivery) */
  readonly settleMs: number;
  classify(event: StorageCloudEvent): ArrivalVerdict;
}

/** Compiles the arrival parameters of a filter; throws GlobError naming a bad `temporary` pattern. */
export function compileArrival(params: FilterParams): ArrivalStage {
  // absent only in registrations stored before arrivals existed: they keep what they were created with
  const enabled = params.arrivals === true;
  const temporary = (params.temporary ?? DEFAULT_TEMPORARY).map(compileGlob);
  const settleMs = enabled ? (params.settleMs ?? DEFAULT_SETTLE_MS) : 0;
  return {
    enabled,
    settleMs,
    classify(event) {
      if (!enabled) return "raw";
      const mask = Array.isArray(event.data?.mask) ? event.data.mask : [];
      if (event.data?.isDir === true || isDirectoryMask(mask)) return "directory";
      if (!isArrivalMask(mask)) return "not-arrival";
      if (temporary.some((re) => re.test(event.subject))) return "temporary";
      return "arrival";
    },
  };
}

/**
 * The path an outbox entry's event is about, and the paths whose pending arrival it makes obsolete:
 * its own, and for a rename the old name (a file renamed before its first arrival fired would only
 * be found missing). Undefined for a body that is not a storage event (never thrown).
 */
export function arrivalKeys(body: string): { path: string; replaces: string[] } | undefined {
  let ev: { subject?: unknown; data?: { oldPath?: unknown } };
  try {
    ev = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (!ev || typeof ev.subject !== "string") return undefined;
  const old = ev.data?.oldPath;
  return { path: ev.subject, replaces: typeof old === "string" && old !== ev.subject ? [ev.subject, old] : [ev.subject] };
}

/** Pending (queued, not in flight) arrivals by path. */
export class PendingArrivals<E extends object> {
  private readonly byPath = new Map<string, E>();
  private readonly pathOf = new WeakMap<E, string>();

  get size(): number {
    return this.byPath.size;
  }

  /** The pending entries a new arrival with these keys replaces (distinct, in no particular order). */
  replaced(replaces: readonly string[]): E[] {
    const out: E[] = [];
    for (const p of replaces) {
      const e = this.byPath.get(p);
      if (e && !out.includes(e)) out.push(e);
    }
    return out;
  }

  /** `e` is now the pending arrival of `path` (an older pending one for it must be removed first). */
  add(path: string, e: E): void {
    this.byPath.set(path, e);
    this.pathOf.set(e, path);
  }

  /** Whether nothing else pending is about `path`. */
  free(path: string): boolean {
    return !this.byPath.has(path);
  }

  pathOfEntry(e: E): string | undefined {
    return this.pathOf.get(e);
  }

  /** `e` is no longer pending: fired, in flight, replaced or dead-lettered. */
  remove(e: E): void {
    const p = this.pathOf.get(e);
    if (p !== undefined && this.byPath.get(p) === e) this.byPath.delete(p);
  }

  clear(): void {
    this.byPath.clear();
  }
}

// The filter stage: declarative path globs and inotify types decide whether an event goes on.
import type { StorageCloudEvent } from "../../../lib/events/cloudevent.ts";
import type { FilterParams } from "../../common/feed-params.ts";
import { compileGlob } from "./glob.ts";

// Composite flags as inotify defines them.
const EXPANSIONS: Record<string, string[]> = {
  IN_CLOSE: ["IN_CLOSE_WRITE", "IN_CLOSE_NOWRITE"],
  IN_MOVE: ["IN_MOVED_FROM", "IN_MOVED_TO"],
};

export type EventFilter = (event: StorageCloudEvent) => boolean;

/** Compiles a filter; throws GlobError naming the bad pattern. */
export function compileFilter(params: FilterParams): EventFilter {
  const include = (params.paths ?? []).map(compileGlob);
  const exclude = (params.exclude ?? []).map(compileGlob);
  const types = new Set((params.types ?? []).flatMap((t) => EXPANSIONS[t] ?? [t]));
  const allTypes = types.size === 0 || types.has("IN_ALL_EVENTS");
  return (event) => {
    const path = event.subject;
    if (include.length > 0 && !include.some((re) => re.test(path))) return false;
    if (exclude.some((re) => re.test(path))) return false;
    if (!allTypes && !event.data.mask.some((f) => types.has(f))) return false;
    return true;
  };
}

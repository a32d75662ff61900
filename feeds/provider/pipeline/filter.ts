// The filter stage: declarative path globs and inotify types decide whether an event goes on.
import type { StorageCloudEvent } from "../../../lib/events/cloudevent.ts";
import type { FilterParams } from "../../common/feed-params.ts";
import { ARRIVAL_TYPES, type EventType, selectedTypes } from "../../../lib/events/inotify.ts";
import { compileGlob } from "./glob.ts";

export type EventFilter = (event: StorageCloudEvent) => boolean;

/** Whether the filter's `paths` and `exclude` globs pass a path; throws GlobError naming a bad pattern. */
export function pathsPassed(params: FilterParams): (path: string) => boolean {
  const include = (params.paths ?? []).map(compileGlob);
  const exclude = (params.exclude ?? []).map(compileGlob);
  return (path) => (include.length === 0 || include.some((re) => re.test(path))) && !exclude.some((re) => re.test(path));
}

/** Compiles a filter; throws GlobError naming the bad pattern. */
export function compileFilter(params: FilterParams): EventFilter {
  const passes = pathsPassed(params);
  const types: Set<string> = selectedTypes(params.types);
  const allTypes = !params.types || params.types.length === 0;
  return (event) => passes(event.subject) && (allTypes || event.data.mask.some((f) => types.has(f)));
}

/**
 * The event types a registration with this filter can pass on, the arrival stage included
 * (undefined: any). The source asks its upstream for no others.
 */
export function typesPassed(params: FilterParams): ReadonlySet<EventType> | undefined {
  const chosen = params.types && params.types.length > 0 ? selectedTypes(params.types) : undefined;
  if (params.arrivals !== true) return chosen;
  return new Set(ARRIVAL_TYPES.filter((t) => !chosen || chosen.has(t)));
}

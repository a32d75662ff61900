// The inotify vocabulary dCache's storage events use (inotify(7), as the dCache frontend's
// storage-events API carries it): event types, combined and modifier flags of a selector, the flags
// of an event's mask, and what they mean for a file. The one definition used by the local storage,
// the dCache client, the feed provider (source, filter, arrivals, parameters) and the functions.

/** Event types: one of these names what happened (first entry of a mask that is not a modifier). */
export const EVENT_TYPES = [
  "IN_ACCESS",
  "IN_ATTRIB",
  "IN_CLOSE_WRITE",
  "IN_CLOSE_NOWRITE",
  "IN_CREATE",
  "IN_DELETE",
  "IN_DELETE_SELF",
  "IN_MODIFY",
  "IN_MOVE_SELF",
  "IN_MOVED_FROM",
  "IN_MOVED_TO",
  "IN_OPEN",
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** Flags that stand for several event types in a selector or a filter. */
export const COMBINED_FLAGS = {
  IN_ALL_EVENTS: [...EVENT_TYPES],
  IN_CLOSE: ["IN_CLOSE_WRITE", "IN_CLOSE_NOWRITE"],
  IN_MOVE: ["IN_MOVED_FROM", "IN_MOVED_TO"],
} as const satisfies Record<string, readonly EventType[]>;
export type CombinedFlag = keyof typeof COMBINED_FLAGS;

/** Flags that change how a watch behaves (inotify_add_watch(2)); they select no event. */
export const WATCH_MODIFIER_FLAGS = ["IN_DONT_FOLLOW", "IN_EXCL_UNLINK", "IN_MASK_ADD", "IN_ONESHOT", "IN_ONLYDIR"] as const;

/** Every flag a selector (a dCache inotify subscription) may name. */
export const SELECTOR_FLAGS = [...EVENT_TYPES, ...(Object.keys(COMBINED_FLAGS) as CombinedFlag[]), ...WATCH_MODIFIER_FLAGS] as const;
export type SelectorFlag = (typeof SELECTOR_FLAGS)[number];

/** Event-type flags and combined flags: what a feed's `filter.types` and `source.flags` accept. */
export const TYPE_FLAGS = [...EVENT_TYPES, ...(Object.keys(COMBINED_FLAGS) as CombinedFlag[])] as const;

/** Flags that qualify an event's mask: a directory, a watch removed, events lost, a file system gone. */
export const MASK_MODIFIER_FLAGS = ["IN_ISDIR", "IN_IGNORED", "IN_Q_OVERFLOW", "IN_UNMOUNT"] as const;

/** A file arrives when it is closed after writing or moved into the watched tree. */
export const ARRIVAL_TYPES = ["IN_CLOSE_WRITE", "IN_MOVED_TO"] as const satisfies readonly EventType[];

/** The entry an event with one of these is about is no longer there (deleted, or moved away). */
export const GONE_TYPES = ["IN_DELETE", "IN_DELETE_SELF", "IN_MOVED_FROM"] as const satisfies readonly EventType[];

/** The event types a list of flags selects, combined flags expanded; no list selects all (as a dCache selector). */
export function selectedTypes(flags: readonly string[] | undefined): Set<EventType> {
  if (flags === undefined) return new Set(EVENT_TYPES);
  const out = new Set<EventType>();
  for (const f of flags) {
    if ((EVENT_TYPES as readonly string[]).includes(f)) out.add(f as EventType);
    for (const e of COMBINED_FLAGS[f as CombinedFlag] ?? []) out.add(e);
  }
  return out;
}

/** The event kind of a mask: its first flag that is not a modifier (IN_MOVED_TO for ["IN_MOVED_TO","IN_ISDIR"]). */
export function eventKind(mask: readonly string[]): string {
  return mask.find((f) => !(MASK_MODIFIER_FLAGS as readonly string[]).includes(f)) ?? mask[0] ?? "UNKNOWN";
}

/** Whether a mask is about a directory. */
export function isDirectoryMask(mask: readonly string[]): boolean {
  return mask.includes("IN_ISDIR");
}

/** Whether a mask says its entry is gone. */
export function isGoneMask(mask: readonly string[]): boolean {
  return mask.some((f) => (GONE_TYPES as readonly string[]).includes(f));
}

/** Whether a mask is a file's arrival (closed after writing, or moved in). */
export function isArrivalMask(mask: readonly string[]): boolean {
  return !isDirectoryMask(mask) && mask.some((f) => (ARRIVAL_TYPES as readonly string[]).includes(f));
}

// The inotify event stream's vocabulary: event types, the selector's flags, and the JSON Schemas
// dCache publishes for the selector and the event.
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

const COMBINED: Record<string, EventType[]> = {
  IN_ALL_EVENTS: [...EVENT_TYPES],
  IN_CLOSE: ["IN_CLOSE_WRITE", "IN_CLOSE_NOWRITE"],
  IN_MOVE: ["IN_MOVED_FROM", "IN_MOVED_TO"],
};
export const MODIFIER_FLAGS = ["IN_DONT_FOLLOW", "IN_EXCL_UNLINK", "IN_MASK_ADD", "IN_ONESHOT", "IN_ONLYDIR"] as const;
export const SELECTOR_FLAGS = [...EVENT_TYPES, ...Object.keys(COMBINED), ...MODIFIER_FLAGS];

/** Event types a list of selector flags selects; no flags at all selects every event. */
export function selectedEvents(flags: string[] | undefined): Set<EventType> {
  if (flags === undefined) return new Set(EVENT_TYPES);
  const out = new Set<EventType>();
  for (const f of flags) {
    if ((EVENT_TYPES as readonly string[]).includes(f)) out.add(f as EventType);
    for (const e of COMBINED[f] ?? []) out.add(e);
  }
  return out;
}

export const INOTIFY_SELECTOR_SCHEMA = {
  $schema: "http://json-schema.org/draft-07/schema#",
  title: "inotify selector",
  description: "Selects events about a file or the entries of a directory, modelled on inotify_add_watch(2). Watches are not recursive.",
  type: "object",
  required: ["path"],
  additionalProperties: false,
  properties: {
    path: { type: "string", pattern: "^/(.*[^/])?$", description: "absolute dCache path of the file or directory to watch" },
    flags: { type: "array", items: { enum: SELECTOR_FLAGS }, uniqueItems: true, description: "events to select; all events when absent" },
  },
} as const;

export const INOTIFY_EVENT_SCHEMA = {
  $schema: "http://json-schema.org/draft-07/schema#",
  title: "inotify event",
  type: "object",
  required: ["mask"],
  additionalProperties: false,
  properties: {
    name: { type: "string", description: "name of the entry, relative to the watched directory; absent for events about the watched target itself" },
    cookie: { type: "string", description: "pairs IN_MOVED_FROM with IN_MOVED_TO" },
    mask: { type: "array", items: { enum: [...EVENT_TYPES, "IN_IGNORED", "IN_ISDIR", "IN_Q_OVERFLOW", "IN_UNMOUNT"] }, minItems: 1 },
  },
} as const;

export const METRONOME_SELECTOR_SCHEMA = {
  $schema: "http://json-schema.org/draft-07/schema#",
  title: "metronome selector",
  description: "A stream of messages at a fixed rate; give either frequency (Hz) or delay (seconds).",
  type: "object",
  additionalProperties: false,
  properties: {
    frequency: { type: "number", exclusiveMinimum: 0, maximum: 1000 },
    delay: { type: "number", minimum: 0.001, maximum: 86400 },
    message: { type: "string", minLength: 1, description: "${username} and ${count} are replaced" },
    count: { type: "integer", minimum: 0, description: "close the subscription after this many messages; 0 = never" },
  },
} as const;

export const METRONOME_EVENT_SCHEMA = {
  $schema: "http://json-schema.org/draft-07/schema#",
  title: "metronome event",
  type: "string",
} as const;

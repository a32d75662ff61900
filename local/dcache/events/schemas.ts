// The JSON Schemas dCache publishes for its event types' selectors and events. The flags themselves
// are lib/events/inotify.ts.
import { EVENT_TYPES, MASK_MODIFIER_FLAGS, SELECTOR_FLAGS } from "../../../lib/events/inotify.ts";

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
    name: {
      type: "string",
      description: "name of the entry, relative to the watched directory; absent for events about the watched target itself",
    },
    cookie: { type: "string", description: "pairs IN_MOVED_FROM with IN_MOVED_TO" },
    mask: { type: "array", items: { enum: [...EVENT_TYPES, ...MASK_MODIFIER_FLAGS] }, minItems: 1 },
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

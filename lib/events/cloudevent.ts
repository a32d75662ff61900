// The storage event as triggers receive it: a CloudEvents 1.0 JSON event whose subject is the file's
// path. Shared by the feed provider (which produces these) and functions (which consume them); the
// inotify flags in its mask are lib/events/inotify.ts, its validation lib/events/check.ts (kept apart
// so that a function using the shape does not bundle ajv's compiler).

/** CloudEvents `type` prefix; the inotify flag follows, e.g. `org.dcache.storage.IN_CLOSE_WRITE`. */
export const STORAGE_EVENT_TYPE_PREFIX = "org.dcache.storage.";

export interface StorageEventData {
  /** absolute path of the file or directory the event is about (same as the CloudEvent subject) */
  path: string;
  /** inotify mask as dCache sent it, e.g. ["IN_MOVED_TO","IN_ISDIR"] */
  mask: string[];
  isDir: boolean;
  /** pairs IN_MOVED_FROM with IN_MOVED_TO */
  cookie?: string;
  /** dCache subscription URL the event arrived through, when it came from dCache's SSE API */
  subscription?: string;
  /** dCache's SSE event id within its channel, when known */
  eventId?: string;
  [extra: string]: unknown;
}

export interface StorageCloudEvent {
  specversion: "1.0";
  id: string;
  source: string;
  type: string;
  time: string;
  subject: string;
  datacontenttype: "application/json";
  data: StorageEventData;
}

/** What a trigger fired by the feed receives as its payload. */
export interface StorageEventBatch {
  events: StorageCloudEvent[];
}

export const storageCloudEventSchema = {
  $id: "https://storage-events.invalid/schemas/storage-cloudevent.json",
  type: "object",
  required: ["specversion", "id", "source", "type", "time", "subject", "data"],
  properties: {
    specversion: { const: "1.0" },
    id: { type: "string", minLength: 1, maxLength: 256 },
    source: { type: "string", minLength: 1, maxLength: 2048 },
    type: { type: "string", minLength: 1, maxLength: 256 },
    time: { type: "string", format: "date-time" },
    subject: { type: "string", pattern: "^/", maxLength: 4096 },
    datacontenttype: { const: "application/json" },
    data: {
      type: "object",
      required: ["path", "mask"],
      properties: {
        path: { type: "string", pattern: "^/" },
        mask: { type: "array", minItems: 1, items: { type: "string", pattern: "^IN_[A-Z_]+$" } },
        isDir: { type: "boolean" },
        cookie: { type: "string" },
        subscription: { type: "string" },
        eventId: { type: "string" },
      },
    },
  },
} as const;

export const storageEventBatchSchema = {
  $id: "https://storage-events.invalid/schemas/storage-event-batch.json",
  type: "object",
  required: ["events"],
  properties: { events: { type: "array", items: { $ref: storageCloudEventSchema.$id } } },
} as const;

/** Size in bytes of the event's JSON, as it will travel inside a fire. */
export function encodedSize(event: StorageCloudEvent): number {
  return Buffer.byteLength(JSON.stringify(event));
}

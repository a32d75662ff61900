// Turns what arrives from a storage event source into a StorageCloudEvent. Two inputs are accepted:
// our own CloudEvent JSON (passed through after validation) and a raw dCache SSE envelope
// `{"event":{name,mask,cookie},"subscription":…}` plus `path` (the watched path), optionally `id`
// (dCache's SSE event id) and `time` — what an SSE→MQTT bridge publishes without translation.
import { createHash } from "node:crypto";
import { STORAGE_EVENT_TYPE_PREFIX, type StorageCloudEvent, type StorageEventData } from "./cloudevent.ts";
import { checkStorageCloudEvent } from "./check.ts";
import { eventKind, isDirectoryMask } from "./inotify.ts";

export type Normalised = { ok: true; event: StorageCloudEvent } | { ok: false; error: string };

export interface NormaliseContext {
  /** when the provider received the message; the event time when the input carries none */
  receivedAt: Date;
  /** CloudEvent `source` when the input does not name one (e.g. `mqtt://broker/topic`) */
  fallbackSource: string;
}

export interface DcacheEnvelope {
  event: { name?: string; mask: string[]; cookie?: string };
  subscription?: string;
}

export interface DcacheEventOrigin {
  /** the path the subscription watches (the selector's path) */
  watchedPath: string;
  /** the SSE `id:` of the event within its channel */
  eventId?: string;
  receivedAt: Date;
  fallbackSource: string;
  time?: string;
}

/** Stable id: the same SSE event (channel + id) or the same message content always gives the same id. */
function stableId(key: string): string {
  return createHash("sha256").update(key).digest("hex").slice(0, 32);
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : 1));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

function joinPath(dir: string, name: string | undefined): string {
  if (!name) return dir;
  return dir.endsWith("/") ? dir + name : `${dir}/${name}`;
}

/** The channel URL of a subscription URL (…/channels/{id}/subscriptions/inotify/{sid} → …/channels/{id}). */
function channelOf(subscription: string): string {
  const i = subscription.indexOf("/subscriptions/");
  return i >= 0 ? subscription.slice(0, i) : subscription;
}

function checkEnvelope(value: unknown): string | undefined {
  if (!value || typeof value !== "object") return "the message is not a JSON object";
  const env = value as Record<string, unknown>;
  const ev = env.event as Record<string, unknown> | undefined;
  if (!ev || typeof ev !== "object") return "a dCache envelope needs an `event` object";
  if (!Array.isArray(ev.mask) || ev.mask.length === 0 || !ev.mask.every((f) => typeof f === "string" && /^IN_[A-Z_]+$/.test(f)))
    return '`event.mask` must be a non-empty array of inotify flags such as "IN_CLOSE_WRITE"';
  if (ev.name !== undefined && (typeof ev.name !== "string" || ev.name.includes("/") || ev.name === ""))
    return "`event.name` must be a file name without '/'";
  if (ev.cookie !== undefined && typeof ev.cookie !== "string") return "`event.cookie` must be a string";
  if (env.subscription !== undefined && typeof env.subscription !== "string") return "`subscription` must be a URL string";
  return undefined;
}

/** A dCache SSE `inotify` event (its data and the path its subscription watches) as a CloudEvent. */
export function fromDcacheEvent(envelope: DcacheEnvelope, origin: DcacheEventOrigin): Normalised {
  const bad = checkEnvelope(envelope);
  if (bad) return { ok: false, error: bad };
  if (typeof origin.watchedPath !== "string" || !/^\/(.*[^/])?$/.test(origin.watchedPath))
    return { ok: false, error: 'the watched `path` must be an absolute path such as "/data/run1"' };
  const { name, mask, cookie } = envelope.event;
  const path = joinPath(origin.watchedPath, name);
  const source = envelope.subscription ? channelOf(envelope.subscription) : origin.fallbackSource;
  const id =
    origin.eventId !== undefined
      ? stableId(`${source}#${origin.eventId}`)
      : stableId(canonicalJson({ path, mask, cookie, subscription: envelope.subscription, time: origin.time }));
  const data: StorageEventData = { path, mask: [...mask], isDir: isDirectoryMask(mask) };
  if (cookie !== undefined) data.cookie = cookie;
  if (envelope.subscription !== undefined) data.subscription = envelope.subscription;
  if (origin.eventId !== undefined) data.eventId = origin.eventId;
  const event: StorageCloudEvent = {
    specversion: "1.0",
    id,
    source,
    type: STORAGE_EVENT_TYPE_PREFIX + eventKind(mask),
    time: origin.time ?? origin.receivedAt.toISOString(),
    subject: path,
    datacontenttype: "application/json",
    data,
  };
  const invalid = checkStorageCloudEvent(event);
  return invalid ? { ok: false, error: invalid } : { ok: true, event };
}

/**
 * Any message a source received: our CloudEvent JSON, or a dCache envelope with `path` (and optionally
 * `id`, `time`). Never throws; a message that is neither comes back as `{ok:false, error}`.
 */
export function normaliseStorageEvent(input: unknown, ctx: NormaliseContext): Normalised {
  if (!input || typeof input !== "object" || Array.isArray(input)) return { ok: false, error: "the message is not a JSON object" };
  const obj = input as Record<string, unknown>;
  if ("specversion" in obj) {
    const invalid = checkStorageCloudEvent(obj);
    if (invalid) return { ok: false, error: invalid };
    const ev = obj as unknown as StorageCloudEvent;
    if (ev.subject !== ev.data.path) return { ok: false, error: "`subject` must equal `data.path` (the file's path)" };
    return {
      ok: true,
      event: { ...ev, datacontenttype: "application/json", data: { ...ev.data, isDir: ev.data.isDir ?? isDirectoryMask(ev.data.mask) } },
    };
  }
  if ("event" in obj) {
    if (typeof obj.path !== "string") return { ok: false, error: "a dCache envelope needs `path`: the path its subscription watches" };
    if (obj.id !== undefined && typeof obj.id !== "string" && typeof obj.id !== "number")
      return { ok: false, error: "`id` must be the SSE event id (string or number)" };
    if (obj.time !== undefined && (typeof obj.time !== "string" || Number.isNaN(Date.parse(obj.time))))
      return { ok: false, error: "`time` must be an RFC 3339 date-time" };
    return fromDcacheEvent(obj as unknown as DcacheEnvelope, {
      watchedPath: obj.path,
      eventId: obj.id === undefined ? undefined : String(obj.id),
      time: obj.time as string | undefined,
      receivedAt: ctx.receivedAt,
      fallbackSource: ctx.fallbackSource,
    });
  }
  return { ok: false, error: "neither a CloudEvent (has `specversion`) nor a dCache envelope (has `event` and `path`)" };
}

// Reads a channel's SSE stream (parsed by eventsource-parser) and keeps it open: after a dropped
// connection it reconnects with backoff, sending Last-Event-ID so the frontend replays what was
// missed (or says EVENT_LOSS). SYSTEM events are passed on, never swallowed: EVENT_LOSS and
// IN_Q_OVERFLOW mean "rescan what you watch"; COMPETING_CLIENT ends the stream (another client took
// the channel, and reconnecting would only take it back); a 404 means the channel is gone (expired or
// the frontend restarted) and the caller must re-create it and its subscriptions.
import { createParser, type EventSourceMessage } from "eventsource-parser";
import { authorise, DcacheError, redact, type DcacheEndpoint } from "./endpoint.ts";

export interface InotifyEvent {
  name?: string;
  cookie?: string;
  /** e.g. ["IN_CLOSE_WRITE"], ["IN_CREATE","IN_ISDIR"], ["IN_Q_OVERFLOW"], ["IN_IGNORED"] */
  mask: string[];
}

export type SystemEventType = "NEW_SUBSCRIPTION" | "SUBSCRIPTION_CLOSED" | "COMPETING_CLIENT" | "EVENT_LOSS" | "SHUTDOWN";

export type ChannelMessage =
  | { kind: "inotify"; id: string; subscription: string; event: InotifyEvent }
  | { kind: "other"; type: string; id: string | undefined; subscription: string | undefined; event: unknown }
  | { kind: "system"; type: SystemEventType | string; subscription?: string };

export interface Backoff {
  initialMs: number;
  maxMs: number;
  factor: number;
}

export interface StreamOptions {
  /** resume after this event id (the last one the caller has fully processed) */
  lastEventId?: string;
  signal?: AbortSignal;
  backoff?: Partial<Backoff>;
  /** called on every (re)connection attempt that the frontend accepted */
  onConnect?(info: { attempt: number; lastEventId: string | undefined }): void;
  /** called when the stream broke and will be reopened after `retryInMs` */
  onDisconnect?(info: { reason: string; retryInMs: number }): void;
}

/** The channel no longer exists (404): re-create it and its subscriptions. */
export class ChannelGoneError extends DcacheError {
  constructor(url: string) {
    super(404, url, `event channel ${url} no longer exists (expired without a client, deleted, or the frontend restarted); create a new channel and subscribe again`);
    this.name = "ChannelGoneError";
  }
}

const DEFAULT_BACKOFF: Backoff = { initialMs: 250, maxMs: 30_000, factor: 2 };

function toMessage(m: EventSourceMessage): ChannelMessage | undefined {
  let data: { type?: string; subscription?: string; event?: unknown };
  try {
    data = JSON.parse(m.data);
  } catch {
    return undefined;
  }
  if (m.event === "SYSTEM") return { kind: "system", type: data.type ?? "UNKNOWN", subscription: data.subscription };
  if (m.event === "inotify" && m.id !== undefined) return { kind: "inotify", id: m.id, subscription: data.subscription ?? "", event: data.event as InotifyEvent };
  return { kind: "other", type: m.event ?? "message", id: m.id, subscription: data.subscription, event: data.event };
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

/**
 * Yields the channel's events until `signal` aborts or another client takes the channel.
 * Throws ChannelGoneError on 404 and DcacheError on 401/403 (retrying cannot help either).
 */
export async function* streamChannel(ep: DcacheEndpoint, channelUrl: string, opts: StreamOptions = {}): AsyncGenerator<ChannelMessage> {
  const backoff = { ...DEFAULT_BACKOFF, ...opts.backoff };
  let lastEventId = opts.lastEventId;
  let delay = backoff.initialMs;
  let attempt = 0;
  const where = redact(channelUrl);

  while (!opts.signal?.aborted) {
    attempt++;
    const url = new URL(channelUrl);
    const headers: Record<string, string> = { Accept: "text/event-stream" };
    if (lastEventId !== undefined) headers["Last-Event-ID"] = lastEventId;
    authorise(url, headers, ep.credentials);
    let reason: string;
    try {
      const res = await fetch(url, { headers, signal: opts.signal });
      if (res.status === 404) {
        await res.body?.cancel();
        throw new ChannelGoneError(where);
      }
      if (res.status === 401 || res.status === 403) {
        await res.body?.cancel();
        throw new DcacheError(res.status, where, `opening the event stream ${where} was refused (HTTP ${res.status}); check the credentials and that the channel belongs to this user`);
      }
      if (res.status !== 200 || !res.body) {
        await res.body?.cancel();
        throw new Error(`HTTP ${res.status}`);
      }
      opts.onConnect?.({ attempt, lastEventId });
      const connectedAt = Date.now();
      let received = 0;
      const pending: ChannelMessage[] = [];
      const parser = createParser({
        onEvent(m) {
          const msg = toMessage(m);
          if (msg) pending.push(msg);
        },
      });
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          parser.feed(value);
          while (pending.length > 0) {
            const msg = pending.shift()!;
            received++;
            if ((msg.kind === "inotify" || msg.kind === "other") && msg.id !== undefined) lastEventId = msg.id;
            yield msg;
            if (msg.kind === "system" && msg.type === "COMPETING_CLIENT") return;
          }
        }
      } finally {
        reader.cancel().catch(() => {});
      }
      reason = "the frontend closed the stream";
      if (received > 0 || Date.now() - connectedAt > 5000) delay = backoff.initialMs;
    } catch (e) {
      if (e instanceof DcacheError) throw e;
      if (opts.signal?.aborted) return;
      reason = (e as Error & { cause?: Error }).cause?.message ?? (e as Error).message;
    }
    if (opts.signal?.aborted) return;
    opts.onDisconnect?.({ reason, retryInMs: delay });
    await sleep(delay, opts.signal);
    delay = Math.min(backoff.maxMs, delay * backoff.factor);
  }
}

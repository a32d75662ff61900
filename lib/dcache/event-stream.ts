// Reads one connection of a channel's SSE stream (parsed by eventsource-parser), from `Last-Event-ID`
// when given, so the frontend replays what came after it (or says EVENT_LOSS). Reconnecting is the
// caller's (the provider's channel hub keeps one loop for it). SYSTEM events are passed on, never
// swallowed: EVENT_LOSS and IN_Q_OVERFLOW mean "rescan what you watch"; COMPETING_CLIENT ends the
// stream (another client took the channel, and reconnecting at once would only take it back); a 404
// means the channel is gone (expired or the frontend restarted) and the caller must re-create it and
// its subscriptions.
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

export interface StreamOptions {
  /** resume after this event id (the last one the caller has fully processed) */
  lastEventId?: string;
  signal?: AbortSignal;
  /** called once the frontend accepted the connection */
  onConnect?(info: { lastEventId: string | undefined }): void;
}

/** The channel no longer exists (404): re-create it and its subscriptions. */
export class ChannelGoneError extends DcacheError {
  constructor(url: string) {
    super(
      404,
      url,
      `event channel ${url} no longer exists (expired without a client, deleted, or the frontend restarted); create a new channel and subscribe again`,
    );
    this.name = "ChannelGoneError";
  }
}

function toMessage(m: EventSourceMessage): ChannelMessage | undefined {
  let data: { type?: string; subscription?: string; event?: unknown };
  try {
    data = JSON.parse(m.data);
  } catch {
    return undefined;
  }
  if (m.event === "SYSTEM") return { kind: "system", type: data.type ?? "UNKNOWN", subscription: data.subscription };
  if (m.event === "inotify" && m.id !== undefined)
    return { kind: "inotify", id: m.id, subscription: data.subscription ?? "", event: data.event as InotifyEvent };
  return { kind: "other", type: m.event ?? "message", id: m.id, subscription: data.subscription, event: data.event };
}

/**
 * Yields the events of one connection until the frontend closes it, `signal` aborts, or another client
 * takes the channel (COMPETING_CLIENT, the last message). Throws ChannelGoneError on 404, DcacheError
 * on 401/403 (retrying cannot help either), and an Error saying why for any other failure.
 */
export async function* streamChannel(ep: DcacheEndpoint, channelUrl: string, opts: StreamOptions = {}): AsyncGenerator<ChannelMessage> {
  const where = redact(channelUrl);
  const url = new URL(channelUrl);
  const headers: Record<string, string> = { Accept: "text/event-stream" };
  if (opts.lastEventId !== undefined) headers["Last-Event-ID"] = opts.lastEventId;
  authorise(url, headers, ep.credentials);
  let res: Response;
  try {
    res = await fetch(url, { headers, signal: opts.signal });
  } catch (e) {
    if (opts.signal?.aborted) return;
    throw new Error(`cannot open the event stream ${where}: ${(e as Error & { cause?: Error }).cause?.message ?? (e as Error).message}`);
  }
  if (res.status === 404) {
    await res.body?.cancel();
    throw new ChannelGoneError(where);
  }
  if (res.status === 401 || res.status === 403) {
    await res.body?.cancel();
    throw new DcacheError(
      res.status,
      where,
      `opening the event stream ${where} was refused (HTTP ${res.status}); check the credentials and that the channel belongs to this user`,
    );
  }
  if (res.status !== 200 || !res.body) {
    await res.body?.cancel();
    throw new Error(`opening the event stream ${where} answered HTTP ${res.status}`);
  }
  opts.onConnect?.({ lastEventId: opts.lastEventId });
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
      let chunk: Awaited<ReturnType<typeof reader.read>>;
      try {
        chunk = await reader.read();
      } catch (e) {
        if (opts.signal?.aborted) return;
        throw new Error(`the event stream ${where} broke: ${(e as Error & { cause?: Error }).cause?.message ?? (e as Error).message}`);
      }
      if (chunk.done) return;
      parser.feed(chunk.value);
      while (pending.length > 0) {
        const msg = pending.shift()!;
        yield msg;
        if (msg.kind === "system" && msg.type === "COMPETING_CLIENT") return;
      }
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}

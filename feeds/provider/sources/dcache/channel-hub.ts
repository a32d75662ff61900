// One dCache event channel shared by every registration that uses the same frontend and credential
// (dCache allows 128 channels per user). The hub finds its channel again by client-id after a
// provider restart, keeps it alive across short outages (disconnect timeout), reference-counts the
// inotify subscriptions of its listeners, reads the SSE stream and hands every event to every
// listener in order, waiting for them (backpressure: while a listener's outbox is full, the frontend
// keeps the events). It turns the stream's trouble into listener calls: `loss` for EVENT_LOSS,
// SHUTDOWN and a re-created channel (frontend restart → 404), `fatal` for refused credentials.
import {
  ChannelGoneError,
  DcacheError,
  findOrCreateChannel,
  getChannelTimeout,
  getSubscription,
  setChannelTimeout,
  streamChannel,
  subscribeInotify,
  deleteChannel,
  unsubscribe,
  type DcacheEndpoint,
  type InotifyEvent,
} from "../../../../lib/dcache/index.ts";
import type { SelectorFlag } from "../../../../lib/events/inotify.ts";
import { Backoff, sleep } from "../../../../lib/retry.ts";
import type { Logger } from "../../log.ts";

export type HubItem =
  | { kind: "event"; id: number; dir: string; subscription: string; event: InotifyEvent; receivedAt: Date }
  /** events may have been lost; `newChannel`: the channel was (re)created, so no earlier id counts */
  | { kind: "loss"; reason: string; newChannel: boolean };

export interface HubListener {
  readonly regId: string;
  /** id of the last event this listener has processed on `channel`, if it has a position there */
  position(channel: string): number | undefined;
  /** items in stream order; the hub reads on only once the returned promise settles */
  onItems(channel: string, items: HubItem[]): Promise<void> | void;
  onState(state: "connected" | "reconnecting", detail?: string): void;
  /** retrying cannot help (credentials refused): stop until the registration changes */
  onFatal(reason: string): void;
}

export interface HubOptions {
  endpoint: DcacheEndpoint;
  clientId: string;
  /** seconds the channel survives without a connected client */
  channelTimeoutS: number;
  log: Logger;
  backoff?: { initialMs: number; maxMs: number };
  /** how long to leave the channel to a competing client before taking it back */
  competingBackoffMs?: { initialMs: number; maxMs: number };
}

interface Watch {
  url?: string;
  pending?: Promise<string>;
  owners: Map<string, SelectorFlag[] | undefined>;
}

const MAX_QUEUED = 2000;

/** Union of flag sets; undefined (all events) wins. */
function unionFlags(sets: Iterable<SelectorFlag[] | undefined>): SelectorFlag[] | undefined {
  const out = new Set<SelectorFlag>();
  for (const s of sets) {
    if (!s) return undefined;
    for (const f of s) out.add(f);
  }
  return [...out].sort();
}

export class ChannelHub {
  private readonly listeners = new Map<string, HubListener>();
  private readonly watches = new Map<string, Watch>();
  private readonly pathOfSub = new Map<string, string>();
  /** subscriptions that no longer exist, so their queued events do not each cost a lookup */
  private readonly goneSubs = new Set<string>();
  private channel: string | undefined;
  /** resolves when the stream is connected on the current channel */
  private connected!: Promise<void>;
  private markConnected!: () => void;
  private loop?: Promise<void>;
  private stopCtl = new AbortController();
  private streamCtl?: AbortController;
  private lastQueued: number | undefined;
  private failed: string | undefined;
  /** a rescan owed before the next events: a new channel, or a reconnect that cannot resume */
  private lossPending: { reason: string; newChannel: boolean } | undefined;
  /** the channel a connection was last opened on */
  private streamed: string | undefined;
  private current: { state: "connected" | "reconnecting"; detail?: string } | undefined;

  constructor(private readonly o: HubOptions) {
    this.resetConnected();
  }

  private resetConnected(): void {
    this.connected = new Promise((res) => (this.markConnected = res));
  }

  get channelUrl(): string | undefined {
    return this.channel;
  }

  get size(): number {
    return this.listeners.size;
  }

  /** Adds a listener and starts the stream if needed; replays from an older position if it has one. */
  attach(l: HubListener): void {
    this.listeners.set(l.regId, l);
    if (this.current) l.onState(this.current.state, this.current.detail);
    if (this.failed && this.loop) {
      l.onFatal(this.failed);
      return;
    }
    if (!this.loop) {
      this.failed = undefined;
      this.stopCtl = new AbortController();
      this.loop = this.run().finally(() => (this.loop = undefined));
      return;
    }
    const pos = this.channel ? l.position(this.channel) : undefined;
    if (pos !== undefined && pos >= 0 && this.lastQueued !== undefined && pos < this.lastQueued) {
      this.o.log.info("replaying the channel from an older position for a joining registration", { registration: l.regId, from: pos });
      this.streamCtl?.abort();
    }
  }

  /** Removes a listener; with `forget`, its subscriptions go, and the channel with the last listener. */
  async detach(regId: string, forget: boolean): Promise<void> {
    this.listeners.delete(regId);
    const drops: Promise<void>[] = [];
    for (const [path, w] of this.watches) {
      if (!w.owners.delete(regId)) continue;
      if (w.owners.size === 0) {
        this.watches.delete(path);
        if (forget && w.url) {
          this.pathOfSub.delete(w.url);
          drops.push(unsubscribe(this.o.endpoint, w.url).catch(() => {}));
        }
      }
    }
    await Promise.all(drops);
    if (this.listeners.size === 0) {
      this.stopCtl.abort();
      await this.loop;
      if (forget && this.channel) await deleteChannel(this.o.endpoint, this.channel).catch(() => {});
    }
  }

  /** Waits until the stream is connected (events from subscriptions made now are not lost). */
  ready(): Promise<void> {
    return this.connected;
  }

  /** Watches `path` for `owner` (flags undefined = all events); returns the subscription URL. */
  async watch(owner: string, path: string, flags: SelectorFlag[] | undefined): Promise<string> {
    let w = this.watches.get(path);
    const before = w ? unionFlags(w.owners.values()) : null;
    if (!w) {
      w = { owners: new Map() };
      this.watches.set(path, w);
    }
    w.owners.set(owner, flags);
    const after = unionFlags(w.owners.values());
    if (w.url && JSON.stringify(before) === JSON.stringify(after)) return w.url;
    if (w.pending && JSON.stringify(before) === JSON.stringify(after)) return w.pending;
    return this.subscribe(path, w);
  }

  private subscribe(path: string, w: Watch): Promise<string> {
    const channel = this.channel;
    if (!channel) return Promise.reject(new Error("no event channel yet"));
    const flags = unionFlags(w.owners.values());
    const p = subscribeInotify(this.o.endpoint, channel, flags ? { path, flags } : { path }).then(
      ({ url }) => {
        if (this.channel === channel) {
          w.url = url;
          this.pathOfSub.set(url, path);
        }
        if (w.pending === p) w.pending = undefined;
        return url;
      },
      (e) => {
        if (w.pending === p) w.pending = undefined;
        throw e;
      },
    );
    w.pending = p;
    return p;
  }

  /** Stops watching `path` for `owner`; the subscription goes when nobody needs it. */
  async unwatch(owner: string, path: string): Promise<void> {
    const w = this.watches.get(path);
    if (!w?.owners.delete(owner) || w.owners.size > 0) return;
    this.watches.delete(path);
    if (w.url) {
      this.pathOfSub.delete(w.url);
      await unsubscribe(this.o.endpoint, w.url).catch((e) => this.o.log.warn("could not remove a subscription", { path, err: e as Error }));
    }
  }

  isWatched(path: string): boolean {
    return this.watches.has(path);
  }

  /** Ensures the channel exists; returns whether it is a new one (every earlier event id is void). */
  private async ensureChannel(): Promise<boolean> {
    if (this.channel) return false;
    const { url, created } = await findOrCreateChannel(this.o.endpoint, this.o.clientId);
    const timeout = created ? null : await getChannelTimeout(this.o.endpoint, url);
    if (timeout !== this.o.channelTimeoutS) await setChannelTimeout(this.o.endpoint, url, this.o.channelTimeoutS);
    this.channel = url;
    this.o.log.info(created ? "created an event channel" : "found the event channel again by client-id", {
      channel: url,
      clientId: this.o.clientId,
    });
    return created;
  }

  private resumeId(): number | undefined {
    let min: number | undefined;
    for (const l of this.listeners.values()) {
      const p = this.channel ? l.position(this.channel) : undefined;
      // a negative position means "on this channel, before any event": nothing to replay for it
      if (p !== undefined && p >= 0 && (min === undefined || p < min)) min = p;
    }
    return min ?? this.lastQueued;
  }

  private broadcastState(state: "connected" | "reconnecting", detail?: string): void {
    this.current = { state, detail };
    for (const l of this.listeners.values()) l.onState(state, detail);
  }

  /**
   * The one loop that keeps the channel's stream open: (re)creates the channel, connects from the
   * oldest position a listener still needs (Last-Event-ID), and after a broken or closed connection,
   * an unreachable frontend or COMPETING_CLIENT connects again after a backoff.
   */
  private async run(): Promise<void> {
    const stop = this.stopCtl.signal;
    const backoff = new Backoff(this.o.backoff ?? { initialMs: 250, maxMs: 30_000 });
    const competing = new Backoff(this.o.competingBackoffMs ?? { initialMs: 10_000, maxMs: 300_000 });
    while (!stop.aborted) {
      let why: string;
      let connected = false;
      try {
        const created = await this.ensureChannel();
        if (created) {
          this.lastQueued = undefined;
          // a new channel: subscriptions of the old one are gone and events in between are lost
          await this.resubscribeAll();
          this.lossPending ??= {
            reason: "a new event channel (first start, or the old one expired or the frontend restarted)",
            newChannel: true,
          };
        }
        const outcome = await this.readStream(stop, () => {
          connected = true;
          backoff.reset();
        });
        if (stop.aborted) break;
        if (outcome.tookOver) {
          // another client with our client-id (a second replica configured with the same id, or a
          // bridge) took the channel; taking it straight back would start a reconnect war
          const wait = competing.next();
          this.o.log.error(
            "another client took over the event channel (COMPETING_CLIENT); is a second provider running with the same --replica-id? backing off before taking it back",
            { channel: this.channel, retryInMs: wait },
          );
          this.broadcastState(
            "reconnecting",
            `another client took over the event channel (COMPETING_CLIENT); retrying in ${Math.round(wait / 1000)} s — check that no two providers share a replica id`,
          );
          this.resetConnected();
          await sleep(wait + Math.random() * wait * 0.2, stop);
          continue;
        }
        competing.reset();
        why = "the frontend closed the stream";
      } catch (e) {
        if (stop.aborted) break;
        if (e instanceof ChannelGoneError) {
          this.o.log.warn("the event channel is gone (frontend restart or expiry): creating a new one, re-subscribing and rescanning", {
            channel: this.channel,
          });
          this.channel = undefined;
          this.resetConnected();
          continue;
        }
        if (e instanceof DcacheError && (e.status === 401 || e.status === 403)) {
          this.failed = `dCache refused the credentials (HTTP ${e.status}) at ${e.url}; fix source.auth with a trigger update — no retries until then`;
          this.o.log.error("dCache refused the credentials; the registrations using them stop", { status: e.status, url: e.url });
          for (const l of this.listeners.values()) l.onFatal(this.failed);
          return;
        }
        why = (e as Error).message;
      }
      const wait = backoff.next();
      if (connected)
        this.o.log.warn("event stream broke; reconnecting with Last-Event-ID", { channel: this.channel, reason: why, retryInMs: wait });
      else this.o.log.warn("cannot reach the dCache events API; retrying", { reason: why, retryInMs: wait });
      this.broadcastState(
        "reconnecting",
        connected ? `event stream broke (${why}); reconnecting` : `dCache events API unreachable: ${why}`,
      );
      await sleep(wait, stop);
    }
  }

  /** One connection: passes its events to the listeners, in order, until it ends; says whether another client took the channel. */
  private async readStream(stop: AbortSignal, onConnect: () => void): Promise<{ tookOver: boolean }> {
    this.streamCtl = new AbortController();
    const signal = AbortSignal.any([stop, this.streamCtl.signal]);
    const from = this.resumeId();
    const channel = this.channel!;
    // dCache replays nothing to a connection without Last-Event-ID: what happened since the last
    // connection of this channel is found by a rescan
    if (from === undefined && this.streamed === channel)
      this.lossPending ??= { reason: "reconnected before any event had a position to resume from", newChannel: false };
    let tookOver = false;
    const queue: HubItem[] = [];
    let flushing: Promise<void> | undefined;
    const flush = async () => {
      while (queue.length > 0) {
        const items = queue.splice(0, queue.length);
        // each registration works through its own items in order; one that enriches its events
        // (a namespace lookup each) does not hold back another's
        await Promise.all([...this.listeners.values()].map((l) => l.onItems(channel, items)));
      }
    };
    const push = async (item: HubItem) => {
      queue.push(item);
      flushing ??= flush().finally(() => (flushing = undefined));
      while (queue.length >= MAX_QUEUED && flushing) await flushing;
    };
    try {
      if (this.lossPending) {
        await push({ kind: "loss", ...this.lossPending });
        this.lossPending = undefined;
      }
      const stream = streamChannel(this.o.endpoint, channel, {
        lastEventId: from === undefined ? undefined : String(from),
        signal,
        onConnect: ({ lastEventId }) => {
          this.streamed = channel;
          onConnect();
          this.o.log.info("event stream connected", { channel, lastEventId: lastEventId ?? null });
          this.broadcastState("connected");
          this.markConnected();
        },
      });
      for await (const m of stream) {
        if (m.kind === "system") {
          if (m.type === "COMPETING_CLIENT") tookOver = true;
          else if (m.type === "EVENT_LOSS" || m.type === "SHUTDOWN") {
            this.o.log.warn(`dCache sent ${m.type}: the watched trees will be rescanned`, { channel });
            await push({ kind: "loss", reason: m.type, newChannel: false });
          } else if (m.type === "SUBSCRIPTION_CLOSED" && m.subscription) {
            const path = this.pathOfSub.get(m.subscription);
            this.pathOfSub.delete(m.subscription);
            if (path) this.watches.delete(path);
          }
          continue;
        }
        if (m.kind !== "inotify") continue;
        const id = Number(m.id);
        this.lastQueued = id;
        const dir = await this.pathOf(m.subscription);
        if (dir === undefined) continue;
        await push({ kind: "event", id, dir, subscription: m.subscription, event: m.event, receivedAt: new Date() });
      }
    } finally {
      // what this connection delivered is handed on before the next one starts
      await flushing;
    }
    return { tookOver };
  }

  private async pathOf(subscription: string): Promise<string | undefined> {
    const known = this.pathOfSub.get(subscription);
    if (known !== undefined) return known;
    if (this.goneSubs.has(subscription)) return undefined;
    // a subscription made before a provider restart and replayed before it was re-made
    const sel = await getSubscription(this.o.endpoint, subscription).catch(() => null);
    if (sel) this.pathOfSub.set(subscription, sel.path);
    else if (this.goneSubs.size < 10_000) this.goneSubs.add(subscription);
    return sel?.path;
  }

  private async resubscribeAll(): Promise<void> {
    this.pathOfSub.clear();
    const jobs = [...this.watches].map(([path, w]) => {
      w.url = undefined;
      w.pending = undefined;
      return this.subscribe(path, w).catch((e) => this.o.log.warn("cannot re-subscribe", { path, err: e as Error }));
    });
    await Promise.all(jobs);
  }
}

// A channel: one client's event stream. It numbers events from 0, keeps the last ones for
// Last-Event-ID replay, allows one SSE connection at a time (a newcomer makes the old one receive
// COMPETING_CLIENT and be closed) and closes itself when no client is connected for `timeout`.
import { randomBytes } from "node:crypto";
import type { ServerResponse } from "node:http";
import type { Subscription, SubscriptionOwner } from "./subscription.ts";

interface BufferedEvent {
  id: number;
  frame: string;
}

/** Fixed-capacity ring of the most recent events. */
class RingBuffer {
  private items: (BufferedEvent | undefined)[];
  private start = 0;
  private count = 0;

  constructor(private readonly capacity: number) {
    this.items = new Array(capacity);
  }

  push(e: BufferedEvent): void {
    this.items[(this.start + this.count) % this.capacity] = e;
    if (this.count < this.capacity) this.count++;
    else this.start = (this.start + 1) % this.capacity;
  }

  /** Removes events older than `id`; true if `id` itself is still held. */
  keepFrom(id: number): boolean {
    while (this.count > 0) {
      const head = this.items[this.start]!;
      if (head.id === id) return true;
      this.items[this.start] = undefined;
      this.start = (this.start + 1) % this.capacity;
      this.count--;
    }
    return false;
  }

  *after(id: number): Generator<BufferedEvent> {
    for (let i = 0; i < this.count; i++) {
      const e = this.items[(this.start + i) % this.capacity]!;
      if (e.id > id) yield e;
    }
  }

  clear(): void {
    this.items = new Array(this.capacity);
    this.start = 0;
    this.count = 0;
  }
}

const MAX_UNSENT = 32 * 1024 * 1024;

export interface ChannelSettings {
  /** events a reconnecting client can have replayed (the buffer also keeps the last one it saw) */
  replayable: number;
  subscriptionQueue: number;
}

export class Channel implements SubscriptionOwner {
  readonly id = randomBytes(16).toString("base64url");
  private readonly buffer: RingBuffer;
  private nextEventId = 0;
  private sink: ServerResponse | undefined;
  private paused = false;
  private expiry: NodeJS.Timeout | undefined;
  private readonly subs = new Map<string, Subscription>();
  private readonly waiting = new Set<Subscription>();
  private drainScheduled = false;
  private closedFlag = false;
  /** e.g. http://127.0.0.1:3880/api/v1/events/channels/ID — the base of subscription URLs */
  readonly url: string;

  constructor(
    readonly uid: number,
    readonly username: string,
    readonly clientId: string | undefined,
    urlOf: (id: string) => string,
    public timeoutSeconds: number,
    readonly settings: ChannelSettings,
    private readonly onClose: (c: Channel) => void,
  ) {
    this.url = urlOf(this.id);
    this.buffer = new RingBuffer(settings.replayable + 1);
    this.scheduleExpiry();
  }

  get isClosed(): boolean {
    return this.closedFlag;
  }

  get connected(): boolean {
    return this.sink !== undefined;
  }

  subscriptionUrl(sub: Subscription): string {
    return `${this.url}/subscriptions/${sub.type}/${sub.id}`;
  }

  subscriptions(): Subscription[] {
    return [...this.subs.values()];
  }

  subscription(type: string, id: string): Subscription | undefined {
    const s = this.subs.get(`${type}/${id}`);
    return s && !s.isClosed ? s : undefined;
  }

  add(sub: Subscription): void {
    this.subs.set(`${sub.type}/${sub.id}`, sub);
    this.system({ type: "NEW_SUBSCRIPTION", subscription: this.subscriptionUrl(sub) });
  }

  // SubscriptionOwner
  ready(sub: Subscription): void {
    this.waiting.add(sub);
    if (!this.drainScheduled && !this.paused) {
      this.drainScheduled = true;
      setImmediate(() => this.drain());
    }
  }

  closed(sub: Subscription): void {
    this.subs.delete(`${sub.type}/${sub.id}`);
    this.system({ type: "SUBSCRIPTION_CLOSED", subscription: this.subscriptionUrl(sub) });
  }

  /** Moves queued events from subscriptions into the stream, pausing while the client's socket is full. */
  private drain(): void {
    this.drainScheduled = false;
    // One write to the socket for everything sent in this round, not one per event.
    const sink = this.sink;
    sink?.cork();
    try {
      this.drainRound();
    } finally {
      sink?.uncork();
    }
  }

  private drainRound(): void {
    while (!this.paused && this.waiting.size > 0) {
      for (const sub of this.waiting) {
        const payload = sub.take();
        if (payload === undefined) {
          this.waiting.delete(sub);
          continue;
        }
        this.send(sub, payload);
        if (this.paused) break;
      }
    }
  }

  private send(sub: Subscription, payload: unknown): void {
    if (this.closedFlag) return;
    const id = this.nextEventId++;
    const data = JSON.stringify({ event: payload, subscription: this.subscriptionUrl(sub) });
    const frame = `event: ${sub.type}\nid: ${id}\ndata: ${data}\n\n`;
    this.buffer.push({ id, frame });
    this.write(frame);
  }

  private write(frame: string): void {
    const sink = this.sink;
    if (!sink) return;
    // Like dCache, a client that reads a little slowly does not lose events: they wait in the
    // connection's buffer. Only past MAX_UNSENT bytes does the channel stop taking events from its
    // subscriptions, whose queues then overflow (IN_Q_OVERFLOW) instead of memory growing without end.
    sink.write(frame);
    if (sink.writableLength > MAX_UNSENT && !this.paused) {
      this.paused = true;
      sink.once("drain", () => {
        if (this.sink !== sink) return;
        this.paused = false;
        if (this.waiting.size > 0) this.ready([...this.waiting][0]!);
      });
    }
  }

  /** SYSTEM events carry no id and are not buffered: only a connected client sees them. */
  system(data: Record<string, string>): void {
    if (this.sink) this.sink.write(`event: SYSTEM\ndata: ${JSON.stringify(data)}\n\n`);
  }

  connect(res: ServerResponse, lastEventId: string | undefined): void {
    if (this.sink) {
      const old = this.sink;
      this.system({ type: "COMPETING_CLIENT" });
      this.sink = undefined;
      old.end();
    }
    clearTimeout(this.expiry);
    this.expiry = undefined;
    this.paused = false;
    res.writeHead(200, { "Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no" });
    res.flushHeaders();
    res.socket?.setNoDelay(true);
    this.sink = res;
    res.once("close", () => {
      if (this.sink !== res) return;
      this.sink = undefined;
      this.paused = false;
      if (!this.closedFlag) this.scheduleExpiry();
      if (this.waiting.size > 0) this.ready([...this.waiting][0]!);
    });
    const last = lastEventId !== undefined && /^-?\d+$/.test(lastEventId.trim()) ? Number(lastEventId.trim()) : undefined;
    if (last !== undefined) {
      // The buffer keeps the event the client saw last, so that the same Last-Event-ID replays
      // the same events again; older ones are dropped.
      if (!this.buffer.keepFrom(last)) this.system({ type: "EVENT_LOSS" });
      else for (const e of this.buffer.after(last)) this.write(e.frame);
    }
    if (this.waiting.size > 0) this.ready([...this.waiting][0]!);
  }

  setTimeout(seconds: number): void {
    this.timeoutSeconds = seconds;
    if (this.expiry) {
      clearTimeout(this.expiry);
      this.scheduleExpiry();
    }
  }

  private scheduleExpiry(): void {
    this.expiry = setTimeout(() => this.close(), this.timeoutSeconds * 1000);
    this.expiry.unref();
  }

  /** Tells a connected client the service is stopping, then closes. */
  shutdown(): void {
    this.system({ type: "SHUTDOWN" });
    this.close();
  }

  close(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    clearTimeout(this.expiry);
    for (const s of this.subs.values()) s.close(undefined, true);
    this.subs.clear();
    this.waiting.clear();
    this.buffer.clear();
    const sink = this.sink;
    this.sink = undefined;
    sink?.end();
    this.onClose(this);
  }
}

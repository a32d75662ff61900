// A subscription: a selector on a channel plus a bounded queue of events waiting to be handed to the
// channel. When the queue is full, events are dropped and the next hand-over ends with
// IN_Q_OVERFLOW, so the client knows to rescan (dCache: 1000 events per subscription).
import { randomBytes } from "node:crypto";
import type { EventType } from "../../../lib/events/inotify.ts";

export interface SubscriptionOwner {
  /** the subscription has events queued; the owner will call `take()` when it can send */
  ready(sub: Subscription): void;
  /** the subscription finished (its last event has been taken) */
  closed(sub: Subscription): void;
}

export abstract class Subscription {
  readonly id = randomBytes(12).toString("base64url");
  private queue: unknown[] = [];
  private overflowed = false;
  private closing = false;
  private finished = false;

  constructor(
    readonly type: "inotify" | "metronome",
    protected readonly owner: SubscriptionOwner,
    private readonly capacity: number,
  ) {}

  abstract selector(): unknown;
  protected abstract overflowPayload(): unknown;
  /** releases what the subscription holds (watches, timers) */
  protected abstract release(): void;

  get isClosed(): boolean {
    return this.closing;
  }

  protected enqueue(payload: unknown): void {
    if (this.closing) return;
    if (this.queue.length >= this.capacity) this.overflowed = true;
    else this.queue.push(payload);
    this.owner.ready(this);
  }

  /**
   * Ends the subscription; `last` (e.g. IN_IGNORED) is queued even if the queue is full, so that it
   * is the final event. `silently` skips it (the channel itself is going away).
   */
  close(last?: unknown, silently = false): void {
    if (this.closing) return;
    this.closing = true;
    this.release();
    if (silently) {
      this.queue = [];
      this.finished = true;
      return;
    }
    if (last !== undefined) this.queue.push(last);
    this.owner.ready(this);
  }

  /** Takes the next event to send, or undefined when none is waiting. */
  take(): unknown | undefined {
    if (this.overflowed && this.queue.length === 0) {
      this.overflowed = false;
      return this.overflowPayload();
    }
    const next = this.queue.shift();
    if (next === undefined && this.closing && !this.finished) {
      this.finished = true;
      this.owner.closed(this);
    }
    return next;
  }

  get pending(): number {
    return this.queue.length + (this.overflowed ? 1 : 0);
  }
}

export interface InotifySelector {
  path: string;
  flags?: string[];
}

export interface WatchListener {
  unwatch(sub: InotifySubscription): void;
}

export class InotifySubscription extends Subscription {
  constructor(
    owner: SubscriptionOwner,
    capacity: number,
    private sel: InotifySelector,
    public events: Set<EventType>,
    /** the watched target on the local file system; follows the target when it is moved */
    public fsPath: string,
    private readonly watches: WatchListener,
  ) {
    super("inotify", owner, capacity);
  }

  selector(): InotifySelector {
    return this.sel;
  }

  get oneshot(): boolean {
    return this.sel.flags?.includes("IN_ONESHOT") ?? false;
  }

  reselect(sel: InotifySelector, events: Set<EventType>): void {
    this.sel = sel;
    this.events = events;
  }

  protected overflowPayload(): unknown {
    return { mask: ["IN_Q_OVERFLOW"] };
  }

  protected release(): void {
    this.watches.unwatch(this);
  }

  /** Offers an event of `type`; only selected types are queued. */
  offer(type: EventType, payload: unknown): void {
    if (this.isClosed || !this.events.has(type)) return;
    this.enqueue(payload);
    if (this.oneshot) this.close({ mask: ["IN_IGNORED"] });
  }

  /** Kernel-side overflow or a lost event source: the client must rescan. */
  overflow(): void {
    if (this.isClosed) return;
    this.enqueue(this.overflowPayload());
  }

  /** IN_DELETE_SELF: the target is gone, the watch ends with IN_IGNORED. */
  targetDeleted(): void {
    this.offer("IN_DELETE_SELF", { mask: ["IN_DELETE_SELF"] });
    this.close({ mask: ["IN_IGNORED"] });
  }
}

export interface MetronomeSelector {
  frequency?: number;
  delay?: number;
  message?: string;
  count?: number;
}

export class MetronomeSubscription extends Subscription {
  private timer: NodeJS.Timeout;
  private sent = 0;

  constructor(
    owner: SubscriptionOwner,
    capacity: number,
    private readonly sel: MetronomeSelector,
    username: string,
  ) {
    super("metronome", owner, capacity);
    const periodMs = sel.frequency !== undefined ? 1000 / sel.frequency : sel.delay! * 1000;
    const template = (sel.message ?? "tick").replaceAll("${username}", username);
    this.timer = setInterval(
      () => {
        this.sent++;
        this.enqueue(template.replaceAll("${count}", String(this.sent)));
        if (sel.count && this.sent >= sel.count) this.close();
      },
      Math.max(1, periodMs),
    );
    this.timer.unref();
  }

  selector(): MetronomeSelector {
    return this.sel;
  }

  protected overflowPayload(): unknown {
    return "overflow";
  }

  protected release(): void {
    clearInterval(this.timer);
  }
}

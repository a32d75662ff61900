// The one path every change takes on its way to subscriptions, whether the kernel (inotifywait) or
// the WebDAV door reported it: in order, repeated IN_MODIFY/IN_ACCESS of a file suppressed for 10 s
// (as dCache's pools do), and IN_CLOSE_WRITE held back until the file's size and ADLER32 are
// readable from the namespace, followed by IN_ATTRIB (the checksum attribute was set).
import { randomBytes } from "node:crypto";
import { dirname, basename } from "node:path";
import type { ChangeNotifier } from "../changes.ts";
import type { ChecksumStore } from "../checksum-store.ts";
import type { Change, WatchTable } from "./watches.ts";

const REPEAT_SUPPRESSION_MS = 10_000;
/** how many queued IN_CLOSE_WRITE may be hashed ahead of their turn (in parallel, order kept) */
const CHECKSUM_LOOKAHEAD = 64;
/**
 * Changes handled before the pump lets channels send what was queued. Well below the 1000-event
 * subscription queue, so that a burst overflows it only when a client reads too slowly.
 */
const YIELD_EVERY = 200;

type Queued = Change & { ready?: Promise<void> };

export class EventHub implements ChangeNotifier {
  private queue: Queued[] = [];
  private head = 0;
  private pumping = false;
  private readonly lastRepeat = new Map<string, number>();
  /** MOVED_FROM cookie → path, so that a stored checksum follows a file renamed by any program */
  private readonly movedFrom = new Map<string, string>();
  /** true while the kernel reports changes; the door's write notifications are then redundant */
  kernelActive = false;

  constructor(
    private readonly watches: WatchTable,
    private readonly checksums: ChecksumStore,
    private readonly log: (line: string) => void,
  ) {}

  /** Entry point for changes, handled strictly in the order submitted. */
  submit(change: Change): void {
    this.queue.push(change);
    if (!this.pumping) void this.pump();
  }

  /** Every subscription must rescan (kernel queue overflow, lost event source). */
  overflowAll(): void {
    for (const sub of this.watches.all()) sub.overflow();
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    let handled = 0;
    try {
      while (this.head < this.queue.length) {
        if (++handled % YIELD_EVERY === 0) await new Promise((r) => setImmediate(r));
        this.prefetch();
        const c = this.queue[this.head]!;
        this.queue[this.head++] = undefined as unknown as Queued;
        if (this.head > 4096 && this.head * 2 > this.queue.length) {
          this.queue = this.queue.slice(this.head);
          this.head = 0;
        }
        try {
          const pending = this.handle(c);
          if (pending) await pending;
        } catch (e) {
          // One bad change must not stop the events of all others.
          this.log(`events: dropped ${c.type} of ${c.dir}/${c.name}: ${(e as Error).stack ?? e}`);
        }
      }
    } finally {
      this.pumping = false;
    }
  }

  /** Starts hashing the files of upcoming IN_CLOSE_WRITE events, so a burst is hashed in parallel. */
  private prefetch(): void {
    const end = Math.min(this.queue.length, this.head + CHECKSUM_LOOKAHEAD);
    for (let i = this.head; i < end; i++) {
      const c = this.queue[i]!;
      if (c.type === "IN_CLOSE_WRITE" && !c.isDir && !c.ready && this.watches.interested(c)) c.ready = this.checksum(`${c.dir}/${c.name}`);
    }
  }

  private checksum(path: string): Promise<void> {
    return this.checksums.adler32(path).then(
      () => undefined,
      (e) => {
        // Gone or unreadable already: the close still happened, report it without a checksum.
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== "ENOENT") this.log(`events: cannot checksum ${path}: ${(e as Error).message}`);
      },
    );
  }

  private handle(c: Queued): Promise<void> | undefined {
    const path = `${c.dir}/${c.name}`;
    switch (c.type) {
      case "IN_MODIFY":
      case "IN_ACCESS": {
        const key = `${c.type}\0${path}`;
        const now = Date.now();
        const last = this.lastRepeat.get(key);
        if (last !== undefined && now - last < REPEAT_SUPPRESSION_MS) return;
        this.lastRepeat.set(key, now);
        if (this.lastRepeat.size > 100_000) this.lastRepeat.clear();
        break;
      }
      case "IN_CLOSE_WRITE":
        this.lastRepeat.delete(`IN_MODIFY\0${path}`);
        if (!c.isDir && this.watches.interested(c)) return this.closeWrite(c, path);
        break;
      case "IN_CLOSE_NOWRITE":
        this.lastRepeat.delete(`IN_ACCESS\0${path}`);
        break;
      case "IN_DELETE":
        this.checksums.forget(path);
        break;
      case "IN_MOVED_FROM":
        if (c.cookie) {
          this.movedFrom.set(c.cookie, path);
          if (this.movedFrom.size > 10_000) this.movedFrom.delete(this.movedFrom.keys().next().value!);
        }
        break;
      case "IN_MOVED_TO": {
        const from = c.cookie ? this.movedFrom.get(c.cookie) : undefined;
        if (from) {
          this.movedFrom.delete(c.cookie!);
          this.checksums.rename(from, path);
        }
        break;
      }
    }
    this.watches.dispatch(c);
    return undefined;
  }

  private async closeWrite(c: Queued, path: string): Promise<void> {
    await (c.ready ?? this.checksum(path));
    const { ready: _ready, ...change } = c;
    this.watches.dispatch(change);
    this.watches.dispatch({ ...change, type: "IN_ATTRIB", cookie: undefined });
  }

  // ChangeNotifier: what the WebDAV door did. While the kernel watches, it reports all of these
  // itself (reads included), so the door's notifications are dropped rather than duplicated.
  private door(c: Omit<Change, "dir" | "name"> & { fsPath: string }): void {
    if (this.kernelActive) return;
    this.submit({ dir: dirname(c.fsPath), name: basename(c.fsPath), type: c.type, isDir: c.isDir, cookie: c.cookie });
  }

  created(fsPath: string, isDir: boolean): void {
    this.door({ fsPath, type: "IN_CREATE", isDir });
  }
  openedForWrite(fsPath: string): void {
    this.door({ fsPath, type: "IN_OPEN", isDir: false });
  }
  modified(fsPath: string): void {
    this.door({ fsPath, type: "IN_MODIFY", isDir: false });
  }
  closedWrite(fsPath: string): void {
    this.door({ fsPath, type: "IN_CLOSE_WRITE", isDir: false });
  }
  read(fsPath: string, phase: "open" | "access" | "close"): void {
    this.door({ fsPath, type: phase === "open" ? "IN_OPEN" : phase === "access" ? "IN_ACCESS" : "IN_CLOSE_NOWRITE", isDir: false });
  }
  deleted(fsPath: string, isDir: boolean): void {
    this.door({ fsPath, type: "IN_DELETE", isDir });
  }
  moved(from: string, to: string, isDir: boolean): void {
    const cookie = newCookie();
    this.door({ fsPath: from, type: "IN_MOVED_FROM", isDir, cookie });
    this.door({ fsPath: to, type: "IN_MOVED_TO", isDir, cookie });
  }
}

/** dCache's move cookies are 128 random bits in base64. */
export function newCookie(): string {
  return randomBytes(16).toString("base64").replace(/=+$/, "");
}

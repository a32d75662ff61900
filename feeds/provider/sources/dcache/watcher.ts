// One registration's view of a dCache channel: which directories it watches (all of the tree when
// recursive, up to a bound), what it has seen, and how raw inotify events become the events its
// trigger gets — full paths, moves paired by cookie, IN_CLOSE_WRITE optionally enriched with size
// and ADLER32, new directories watched and listed, lost events recovered by rescanning. Everything a
// registration does runs in order on one chain, so the cursor committed with a batch covers exactly
// the events before it.
import { fromDcacheEvent } from "../../../../lib/events/normalise.ts";
import type { StorageCloudEvent } from "../../../../lib/events/cloudevent.ts";
import { listDirectory, stat, type DcacheEndpoint } from "../../../../lib/dcache/index.ts";
import { isArrivalMask, isDirectoryMask, selectedTypes, type EventType, type SelectorFlag } from "../../../../lib/events/inotify.ts";
import type { DcacheSourceParams } from "../../../common/feed-params.ts";
import type { Logger } from "../../log.ts";
import type { SourceMessage, SourceSink } from "../types.ts";
import type { ChannelHub, HubItem, HubListener } from "./channel-hub.ts";
import { decodeCursor, encodeCursor } from "./cursor.ts";
import type { SeenEntry, SeenStore } from "./seen-store.ts";

/** Flags the watcher itself needs, whatever the registration asks for: directories and seen records. */
const OWN_FLAGS: EventType[] = ["IN_CLOSE_WRITE", "IN_CREATE", "IN_DELETE", "IN_MOVED_FROM", "IN_MOVED_TO", "IN_DELETE_SELF"];
const DEFAULT_MAX_DIRECTORIES = 10_000;
/**
 * A file listed while it may still be written (in a directory made a moment ago, before its watch
 * existed) waits this long for its own IN_CLOSE_WRITE; then, if it has not changed since the listing,
 * it was closed before the watch began and fires. Short, because this is the latency of every file
 * written into a new scan directory; a writer that pauses longer mid-file makes the file fire once
 * now and again when it closes (changed), never not at all.
 */
const PENDING_GRACE_MS = 200;
const PENDING_CHECK_MS = 50;
/** a listed file modified this recently may still be open: it waits for its event, or to settle */
const SETTLE_MS = 1000;
/** a file moved in within this long after a listing emitted it may be that listing's file (see movedInRepeat) */
const LISTED_REPEAT_MS = 30_000;
/** an IN_MOVED_FROM waits this long for its IN_MOVED_TO before it counts as moved away */
const MOVE_PAIR_MS = 250;
const LIST_CONCURRENCY = 8;
const ENRICH_CONCURRENCY = 16;
/**
 * Arrivals enriched and committed together at most. A burst reaches the watcher as one long run of
 * events; enriched whole, its first file waited for the last one's stat before it could fire (a
 * second for a run of 600 on a busy machine). In slices, the first ones fire while the rest are
 * enriched: event → fire at 1,000 files went from ~1.0 s to ~0.65 s mean (npm run bench -- e2e).
 */
const ENRICH_SLICE = 2 * ENRICH_CONCURRENCY;

/** baseline: watch and record; emit: also fire files new or changed since seen; all: fire every file */
type ScanMode = "baseline" | "emit" | "all";

interface Listed {
  dir: string;
  name: string;
  size: number;
  mtime: number;
  since: number;
  subscription: string;
  /** the cursor stays below this event id until the file is settled (replayed after a crash) */
  holdId: number;
}

interface Held {
  item: Extract<HubItem, { kind: "event" }>;
  timer: NodeJS.Timeout;
}

interface Batch {
  out: SourceMessage[];
  seen: { dir: string; name: string; entry: SeenEntry | null }[];
  enrich: { event: StorageCloudEvent; dir: string; name: string }[];
}

export interface WatcherOptions {
  regId: string;
  cfg: DcacheSourceParams;
  cursor: string | null;
  hub: ChannelHub;
  endpoint: DcacheEndpoint;
  seen: SeenStore;
  sink: SourceSink;
  log: Logger;
  /** the types the registration's filter can pass (undefined: any): the subscriptions ask for no others */
  types?: ReadonlySet<EventType>;
  /** whether the registration's filter passes a path (undefined: any): only those are enriched */
  passes?: (path: string) => boolean;
}

function join(dir: string, name: string): string {
  return dir === "/" ? `/${name}` : `${dir}/${name}`;
}

function under(path: string, root: string): boolean {
  return path === root || path.startsWith(root === "/" ? "/" : `${root}/`);
}

async function inParallel<T>(items: T[], limit: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

export class DcacheWatcher implements HubListener {
  readonly regId: string;
  private chain: Promise<void>;
  private stopped = false;
  private lastChannel: string | undefined;
  private lastId: number | undefined;
  private lastCommit = 0;
  private scannedChannel: string | undefined;
  private readonly dirs = new Set<string>();
  private readonly moves = new Map<string, Held>();
  private readonly pending = new Map<string, Listed>();
  /** files a listing emitted, and when: a move event for one of them may be older than the listing */
  private readonly listedAt = new Map<string, number>();
  private readonly pendingTimer: NodeJS.Timeout;
  private checkQueued = false;
  private readonly wanted: Set<EventType> | undefined;
  private readonly subFlags: SelectorFlag[] | undefined;
  private readonly maxDirs: number;
  private limitNote: string | undefined;
  private connState: { state: "connected" | "reconnecting"; detail?: string } | undefined;
  private readonly origin: string;

  constructor(private readonly o: WatcherOptions) {
    this.regId = o.regId;
    const c = decodeCursor(o.cursor);
    if (c) {
      this.lastChannel = c.channel;
      this.lastId = c.id;
    }
    const all = !o.cfg.flags || o.cfg.flags.includes("IN_ALL_EVENTS");
    const flagged = all ? undefined : selectedTypes(o.cfg.flags);
    this.wanted = o.types ? new Set([...o.types].filter((t) => !flagged || flagged.has(t))) : flagged;
    this.subFlags = this.wanted ? [...new Set<SelectorFlag>([...OWN_FLAGS, ...this.wanted])] : undefined;
    this.maxDirs = o.cfg.maxDirectories ?? DEFAULT_MAX_DIRECTORIES;
    this.origin = `${o.endpoint.url}/api/v1/events`;
    this.chain = o.hub
      .ready()
      .then(() => this.initial())
      .catch((e) => this.fail(e));
    this.pendingTimer = setInterval(() => {
      // one check at a time on the chain, however busy it is
      if (this.pending.size === 0 || this.checkQueued) return;
      this.checkQueued = true;
      void this.enqueue(() => {
        this.checkQueued = false;
        return this.checkPending();
      });
    }, PENDING_CHECK_MS);
    this.pendingTimer.unref();
  }

  /**
   * Lists the watched tree and emits every file in it, seen or not (the file ledger recognises what
   * it has processed by size and mtime); resolves with the number of files emitted.
   */
  reconcile(): Promise<number> {
    let emitted = 0;
    return this.enqueue(async () => {
      const b = this.newBatch();
      await this.scanTrees(this.o.cfg.paths, "all", b, "reconcile");
      emitted = b.out.length;
      await this.commit(b, true);
    }).then(() => emitted);
  }

  position(channel: string): number | undefined {
    return channel === this.lastChannel ? this.lastId : undefined;
  }

  onItems(channel: string, items: HubItem[]): Promise<void> {
    return this.enqueue(() => this.process(channel, items));
  }

  onState(state: "connected" | "reconnecting", detail?: string): void {
    this.connState = { state, detail };
    this.report();
  }

  onFatal(reason: string): void {
    this.stopped = true;
    this.o.sink.state("failed", reason);
    this.o.sink.disable?.(reason);
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.pendingTimer);
    for (const h of this.moves.values()) clearTimeout(h.timer);
  }

  private report(): void {
    // "connected" only once the tree is watched: events before that may be part of the baseline
    if (this.stopped || !this.connState || this.scannedChannel === undefined) return;
    const detail = [this.connState.detail, this.limitNote].filter(Boolean).join("; ");
    this.o.sink.state(this.connState.state, detail || undefined);
  }

  private fail(e: unknown): void {
    if (this.stopped) return;
    this.o.log.error("dCache source step failed", { err: e as Error });
  }

  private enqueue(step: () => Promise<void>): Promise<void> {
    const next = this.chain.then(() => (this.stopped ? undefined : step()));
    this.chain = next.catch((e) => this.fail(e));
    return this.chain;
  }

  // ---- start ---------------------------------------------------------------------------------

  private async initial(): Promise<void> {
    const channel = this.o.hub.channelUrl!;
    const roots = this.o.cfg.paths;
    const batch = this.newBatch();
    if (this.lastChannel === channel && this.lastId !== undefined && this.lastId >= 0) {
      // same channel as before the restart: the frontend replays what we missed; re-watch only
      const known = this.o.seen.watchedDirs(this.regId).filter((d) => roots.some((r) => under(d, r)));
      if (known.length === 0) {
        // no seen records here (e.g. another provider replica ran this registration before): the
        // listing must not count as "already seen", or the replayed events of files that arrived in
        // between would look like repeats — record them as "event only" (size -1) instead
        await this.scanTrees(roots, "baseline", batch);
        for (const s of batch.seen) if (s.entry) s.entry = { size: -1, mtime: s.entry.mtime };
      } else await inParallel(known, LIST_CONCURRENCY, (d) => this.addWatch(d).then(() => undefined));
      this.o.log.info("resuming on the same event channel", { channel, after: this.lastId, directories: this.dirs.size });
    } else if (this.lastChannel !== undefined) {
      // a new channel, or ours without a position to replay from (stopped before any event came)
      this.o.log.warn("no position to resume from on this channel: rescanning the watched tree", {
        channel,
        storedChannel: this.lastChannel,
      });
      await this.scanTrees(roots, "emit", batch, this.lastChannel === channel ? "restart without a position" : "channel re-created");
    } else {
      // a new registration: files already there fire only when the feed asks for them (`existing`)
      await this.scanTrees(roots, this.o.cfg.existing ? "all" : "baseline", batch, "existing");
      this.o.log.info("watching", {
        paths: roots,
        recursive: this.o.cfg.recursive,
        directories: this.dirs.size,
        existing: batch.out.length,
      });
    }
    this.scannedChannel = channel;
    this.report();
    if (this.lastChannel !== channel || this.lastId === undefined) {
      // -1: on this channel, before any event id; stored so that a restart knows the baseline exists
      this.lastChannel = channel;
      this.lastId = -1;
    }
    await this.commit(batch, true);
  }

  // ---- events --------------------------------------------------------------------------------

  private async process(channel: string, items: HubItem[]): Promise<void> {
    let batch = this.newBatch();
    let advanced = false;
    for (const item of items) {
      if (item.kind === "loss") {
        if (item.newChannel && this.scannedChannel === channel) continue;
        this.o.log.warn("events may have been lost: rescanning the watched tree", { reason: item.reason });
        if (item.newChannel) {
          this.lastChannel = channel;
          this.lastId = -1;
        }
        await this.scanTrees(this.o.cfg.paths, "emit", batch, item.reason);
        this.scannedChannel = channel;
        advanced = true;
        continue;
      }
      if (channel === this.lastChannel && this.lastId !== undefined && item.id <= this.lastId) continue;
      this.lastChannel = channel;
      this.lastId = item.id;
      advanced = true;
      if (this.dirs.has(item.dir)) await this.handle(item, batch);
      if (batch.enrich.length >= ENRICH_SLICE) {
        await this.commit(batch, true);
        batch = this.newBatch();
        advanced = false;
      }
    }
    if (advanced) await this.commit(batch, false);
  }

  private async handle(item: Extract<HubItem, { kind: "event" }>, b: Batch): Promise<void> {
    const { name, mask, cookie } = item.event;
    const dir = item.dir;
    const isDir = isDirectoryMask(mask);
    if (mask.includes("IN_Q_OVERFLOW")) {
      this.o.log.warn("dCache dropped events of a subscription (IN_Q_OVERFLOW): rescanning it", { dir });
      await this.scanTrees([dir], "emit", b, "IN_Q_OVERFLOW", item.id - 1);
      return;
    }
    if (!name) {
      // IN_DELETE_SELF / IN_MOVE_SELF / IN_IGNORED of a watched directory: its watch is gone
      if (mask.includes("IN_IGNORED") || mask.includes("IN_DELETE_SELF")) this.dropTree(dir, false);
      if (this.wants(mask)) this.emit(b, item, dir, undefined, mask);
      return;
    }
    const path = join(dir, name);
    if (mask.includes("IN_MOVED_FROM") && cookie) {
      const timer = setTimeout(() => void this.enqueue(() => this.movedAway(cookie)), MOVE_PAIR_MS);
      this.moves.set(cookie, { item, timer });
      return;
    }
    if (mask.includes("IN_MOVED_TO")) {
      const from = cookie ? this.moves.get(cookie) : undefined;
      const repeat = !isDir && (await this.movedInRepeat(b, dir, name));
      if (from) {
        clearTimeout(from.timer);
        this.moves.delete(cookie!);
        const oldPath = join(from.item.dir, from.item.event.name!);
        if ((this.wants(["IN_MOVED_TO"]) || this.wants(["IN_MOVED_FROM"])) && !repeat)
          this.emit(b, item, dir, name, mask, { oldPath, cookie });
        if (isDir) {
          this.dropTree(oldPath, true);
          this.o.seen.renameTree(this.regId, oldPath, path);
          if (this.o.cfg.recursive) await this.scanTrees([path], "emit", b, undefined, item.id - 1);
        } else {
          b.seen.push({ dir: from.item.dir, name: from.item.event.name!, entry: null });
          b.seen.push({ dir, name, entry: { size: -1, mtime: item.receivedAt.getTime() } });
        }
        return;
      }
      // moved in from outside what we watch: new to us
      if (this.wants(mask) && !repeat) this.emit(b, item, dir, name, mask);
      if (isDir && this.o.cfg.recursive) await this.scanTrees([path], "emit", b, "directory moved in", item.id - 1);
      else if (!isDir) b.seen.push({ dir, name, entry: { size: -1, mtime: item.receivedAt.getTime() } });
      return;
    }
    if (!isDir && mask.includes("IN_CLOSE_WRITE") && (await this.alreadyListed(b, dir, name))) return;
    if (this.wants(mask)) this.emit(b, item, dir, name, mask);
    if (isDir) {
      if (mask.includes("IN_CREATE") && this.o.cfg.recursive) await this.scanTrees([path], "emit", b, "new directory", item.id - 1);
      else if (mask.includes("IN_DELETE")) this.dropTree(path, true);
      return;
    }
    if (mask.includes("IN_CLOSE_WRITE")) {
      this.pending.delete(path);
      b.seen.push({ dir, name, entry: { size: -1, mtime: item.receivedAt.getTime() } });
    } else if (mask.includes("IN_DELETE")) {
      this.pending.delete(path);
      b.seen.push({ dir, name, entry: null });
    }
  }

  /**
   * A rescan may have emitted a file whose own IN_CLOSE_WRITE was still on its way (queued behind
   * the loss): when the file is exactly as listed, the event is a repeat.
   */
  private async alreadyListed(b: Batch, dir: string, name: string): Promise<boolean> {
    let rec: SeenEntry | null | undefined;
    for (const s of b.seen) if (s.dir === dir && s.name === name) rec = s.entry;
    if (rec === undefined) rec = this.o.seen.entry(this.regId, dir, name);
    if (!rec || rec.size < 0) return false;
    const st = await stat(this.o.endpoint, join(dir, name)).catch(() => null);
    return !!st && st.size === rec.size && st.mtime === rec.mtime;
  }

  /**
   * A file moved in is its own event, so a listing that found it need not wait for one. But when the
   * directory was listed after the move (rsync renaming into a directory it just made, before the
   * listing) the listing has emitted the file already: the move repeats it when the file is exactly
   * as that recent listing saw it.
   */
  private async movedInRepeat(b: Batch, dir: string, name: string): Promise<boolean> {
    const path = join(dir, name);
    this.pending.delete(path);
    const at = this.listedAt.get(path);
    if (at === undefined) return false;
    this.listedAt.delete(path);
    return Date.now() - at < LISTED_REPEAT_MS && (await this.alreadyListed(b, dir, name));
  }

  /** An IN_MOVED_FROM whose partner did not come: the entry left the watched tree. */
  private async movedAway(cookie: string): Promise<void> {
    const held = this.moves.get(cookie);
    if (!held) return;
    this.moves.delete(cookie);
    const b = this.newBatch();
    const { dir, event } = held.item;
    if (this.wants(event.mask)) this.emit(b, held.item, dir, event.name, event.mask);
    if (isDirectoryMask(event.mask)) this.dropTree(join(dir, event.name!), true);
    else b.seen.push({ dir, name: event.name!, entry: null });
    await this.commit(b, true);
  }

  private wants(mask: string[]): boolean {
    return !this.wanted || mask.some((f) => this.wanted!.has(f as EventType));
  }

  private newBatch(): Batch {
    return { out: [], seen: [], enrich: [] };
  }

  private emit(
    b: Batch,
    item: { id?: number; subscription: string; receivedAt: Date },
    dir: string,
    name: string | undefined,
    mask: string[],
    extra: { oldPath?: string; cookie?: string; recovered?: string; time?: string } = {},
  ): void {
    const { oldPath, recovered, time } = extra;
    const evMask = oldPath ? mask.filter((f) => f !== "IN_MOVED_FROM") : mask;
    const n = fromDcacheEvent(
      { event: { name, mask: evMask, ...(extra.cookie ? { cookie: extra.cookie } : {}) }, subscription: item.subscription },
      {
        watchedPath: dir,
        eventId: item.id === undefined ? undefined : String(item.id),
        receivedAt: item.receivedAt,
        fallbackSource: this.origin,
        time,
      },
    );
    if (!n.ok) {
      this.o.log.warn("cannot express a dCache event as a CloudEvent; skipped", { error: n.error, dir });
      return;
    }
    if (oldPath) n.event.data.oldPath = oldPath;
    if (recovered) n.event.data.recovered = recovered;
    // a file renamed or moved in is as much an arrival as one closed after writing
    const arrival = isArrivalMask(evMask);
    // a file the filter drops is not worth a lookup
    if (this.o.cfg.enrich && name && arrival && (!this.o.passes || this.o.passes(n.event.subject)))
      b.enrich.push({ event: n.event, dir, name });
    b.out.push({ event: n.event, receivedAt: item.receivedAt });
  }

  // ---- directories ---------------------------------------------------------------------------

  private async addWatch(dir: string): Promise<string | undefined> {
    if (!this.dirs.has(dir) && this.dirs.size >= this.maxDirs) {
      if (!this.limitNote) {
        this.limitNote = `watching ${this.maxDirs} directories, the limit (source.maxDirectories): new directories such as ${dir} are not watched`;
        this.o.log.warn("directory watch limit reached", { maxDirectories: this.maxDirs, notWatched: dir });
        this.report();
      }
      return undefined;
    }
    // counted before the subscription returns: listings run in parallel and must not overshoot the bound
    const isNew = !this.dirs.has(dir);
    this.dirs.add(dir);
    try {
      const url = await this.o.hub.watch(this.regId, dir, this.subFlags);
      if (isNew) this.o.seen.addDir(this.regId, dir);
      return url;
    } catch (e) {
      if (isNew) this.dirs.delete(dir);
      this.o.log.warn("cannot watch a directory", { dir, err: e as Error });
      return undefined;
    }
  }

  private dropTree(root: string, forgetSeen: boolean): void {
    for (const d of [...this.dirs]) {
      if (!under(d, root)) continue;
      this.dirs.delete(d);
      void this.o.hub.unwatch(this.regId, d);
    }
    for (const p of [...this.pending.keys()]) if (under(p, root)) this.pending.delete(p);
    if (forgetSeen) this.o.seen.forgetTree(this.regId, root);
  }

  /**
   * Watches and lists each directory below `roots` (just the roots when not recursive). Each
   * directory is watched before it is listed, so a file is either listed or its event comes. In
   * "emit" mode, files that are new or changed since last seen become IN_CLOSE_WRITE events — unless
   * they changed after the watch was active, when their own event is coming (kept pending, in case not).
   */
  private async scanTrees(roots: string[], mode: ScanMode, b: Batch, reason?: string, holdId = this.lastId ?? -1): Promise<void> {
    const started = performance.now();
    let queue = [...roots];
    let files = 0;
    let emitted = 0;
    while (queue.length > 0) {
      const next: string[] = [];
      await inParallel(queue, LIST_CONCURRENCY, async (dir) => {
        if (this.stopped) return;
        const subscription = await this.addWatch(dir);
        if (subscription === undefined) return;
        // the watch is active now: a file modified from now on has its IN_CLOSE_WRITE coming (kept
        // pending in case the clocks disagree); one listed that was closed just before this instant
        // but after the watch began is emitted here, and its event is then recognised as a repeat
        const since = Date.now();
        const before = this.o.seen.directory(this.regId, dir);
        // changes earlier in this batch are not stored yet (that waits for the outbox)
        for (const s of b.seen) if (s.dir === dir) s.entry ? before.set(s.name, s.entry) : before.delete(s.name);
        const present = new Set<string>();
        try {
          for await (const child of listDirectory(this.o.endpoint, dir)) {
            if (child.fileType === "DIR") {
              if (this.o.cfg.recursive) next.push(join(dir, child.fileName));
              continue;
            }
            files++;
            present.add(child.fileName);
            const size = child.size ?? 0;
            const mtime = child.mtime ?? 0;
            const rec = before.get(child.fileName);
            const changed = mode === "all" || !rec || (rec.size < 0 ? mtime > rec.mtime : rec.size !== size || rec.mtime !== mtime);
            if (!changed) continue;
            const path = join(dir, child.fileName);
            if (mode !== "baseline" && mtime >= since - SETTLE_MS) {
              if (!this.pending.has(path))
                this.pending.set(path, { dir, name: child.fileName, size, mtime, since: Date.now(), subscription, holdId });
              continue;
            }
            b.seen.push({ dir, name: child.fileName, entry: { size, mtime } });
            if (mode !== "baseline") {
              emitted++;
              this.emitListed(b, { dir, name: child.fileName, size, mtime, since, subscription, holdId }, reason ?? "rescan");
            }
          }
        } catch (e) {
          this.o.log.warn("cannot list a directory", { dir, err: e as Error });
          return;
        }
        for (const name of before.keys()) if (!present.has(name)) b.seen.push({ dir, name, entry: null });
      });
      queue = next;
    }
    if (mode !== "baseline")
      this.o.log.info("rescanned", {
        roots,
        reason: reason ?? null,
        files,
        emitted,
        pending: this.pending.size,
        ms: Math.round(performance.now() - started),
      });
  }

  private emitListed(b: Batch, f: Listed, recovered: string): void {
    const at = new Date();
    const path = join(f.dir, f.name);
    // kept in listing order, so that expired entries are always at the front
    this.listedAt.delete(path);
    this.listedAt.set(path, at.getTime());
    for (const [p, t] of this.listedAt) {
      if (at.getTime() - t < LISTED_REPEAT_MS) break;
      this.listedAt.delete(p);
    }
    this.emit(b, { subscription: f.subscription, receivedAt: at }, f.dir, f.name, ["IN_CLOSE_WRITE"], {
      recovered,
      time: new Date(f.mtime).toISOString(),
    });
    const last = b.out.at(-1);
    const ev = last && "event" in last ? last.event : undefined;
    if (ev && ev.subject === join(f.dir, f.name)) {
      ev.data.size = f.size;
      ev.data.mtime = f.mtime;
    }
  }

  /** Listed files whose own IN_CLOSE_WRITE did not come: emitted once they stop changing. */
  private async checkPending(): Promise<void> {
    const now = Date.now();
    const due = [...this.pending.entries()].filter(([, f]) => now - f.since >= PENDING_GRACE_MS);
    if (due.length === 0) return;
    const b = this.newBatch();
    await inParallel(due, LIST_CONCURRENCY, async ([path, f]) => {
      const st = await stat(this.o.endpoint, path).catch(() => undefined);
      if (st === undefined) return;
      if (!this.pending.has(path)) return;
      if (st === null) {
        this.pending.delete(path);
        return;
      }
      if (st.size !== f.size || st.mtime !== f.mtime) {
        this.pending.set(path, { ...f, size: st.size ?? 0, mtime: st.mtime ?? 0, since: Date.now() });
        return;
      }
      this.pending.delete(path);
      b.seen.push({ dir: f.dir, name: f.name, entry: { size: f.size, mtime: f.mtime } });
      this.emitListed(b, f, "listed, no event");
    });
    if (b.out.length > 0) await this.commit(b, true);
  }

  // ---- commit --------------------------------------------------------------------------------

  private async enrich(b: Batch): Promise<void> {
    await inParallel(b.enrich, ENRICH_CONCURRENCY, async (e) => {
      const st = await stat(this.o.endpoint, join(e.dir, e.name), { checksum: true }).catch((err) => {
        this.o.log.warn("cannot enrich an event with size and checksum", { path: join(e.dir, e.name), err: err as Error });
        return null;
      });
      if (!st) return;
      e.event.data.size = st.size;
      if (st.mtime !== undefined) e.event.data.mtime = st.mtime;
      const adler = st.checksums?.find((c) => c.type.toUpperCase() === "ADLER32")?.value.toLowerCase();
      if (adler) e.event.data.adler32 = adler;
      // exact size and mtime make the seen record exact too
      if (st.size !== undefined && st.mtime !== undefined) {
        for (const s of b.seen)
          if (s.entry && s.dir === e.dir && s.name === e.name && s.entry.size < 0) s.entry = { size: st.size, mtime: st.mtime };
      }
    });
  }

  /** Delivers the batch with the cursor; retried until stored (the hub waits meanwhile). */
  private async commit(b: Batch, force: boolean): Promise<void> {
    if (b.enrich.length > 0) await this.enrich(b);
    // events whose consequences are not final yet (a move waiting for its partner, a listed file
    // waiting to settle) keep the cursor below them, so a crash replays them
    let id = this.lastId;
    for (const h of this.moves.values()) if (id !== undefined && h.item.id - 1 < id) id = h.item.id - 1;
    for (const f of this.pending.values()) if (id !== undefined && f.holdId < id) id = f.holdId;
    const cursor = this.lastChannel !== undefined && id !== undefined ? encodeCursor({ channel: this.lastChannel, id }) : undefined;
    // batches of events for other registrations' paths move the cursor only now and then
    if (b.out.length === 0 && !force && Date.now() - this.lastCommit < 1000) {
      if (b.seen.length > 0) this.o.seen.apply(this.regId, b.seen);
      return;
    }
    for (let attempt = 0; !this.stopped; attempt++) {
      try {
        await this.o.sink.deliver(b.out, cursor);
        break;
      } catch (e) {
        this.o.log.error("could not store dCache events; retrying", { err: e as Error, attempt });
        await new Promise((r) => setTimeout(r, Math.min(5000, 100 * 2 ** attempt)));
      }
    }
    this.lastCommit = Date.now();
    if (b.seen.length > 0) this.o.seen.apply(this.regId, b.seen);
  }
}

// Which subscriptions watch which local path, and how a change in a directory reaches them:
// watchers of the directory get the event with the entry's name; watchers of the entry itself get
// the "self" form (no name), IN_DELETE_SELF on deletion and IN_MOVE_SELF on a move, after which
// the watch follows its target (and everything below it) to the new path.
import type { EventType } from "../../../lib/events/inotify.ts";
import type { InotifySubscription, WatchListener } from "./subscription.ts";

export interface Change {
  /** the directory the change happened in (local path, no trailing slash) */
  dir: string;
  name: string;
  type: EventType;
  isDir: boolean;
  cookie?: string;
}

export class WatchTable implements WatchListener {
  private readonly byPath = new Map<string, Set<InotifySubscription>>();
  /** MOVED_FROM cookie → the path the entry left, until its MOVED_TO arrives */
  private readonly departed = new Map<string, string>();

  watch(sub: InotifySubscription): void {
    let set = this.byPath.get(sub.fsPath);
    if (!set) this.byPath.set(sub.fsPath, (set = new Set()));
    set.add(sub);
  }

  unwatch(sub: InotifySubscription): void {
    const set = this.byPath.get(sub.fsPath);
    set?.delete(sub);
    if (set?.size === 0) this.byPath.delete(sub.fsPath);
  }

  /** Whether anyone would receive events of this change (to skip work, e.g. hashing, otherwise). */
  interested(change: Pick<Change, "dir" | "name">): boolean {
    return this.byPath.has(change.dir) || this.byPath.has(`${change.dir}/${change.name}`);
  }

  all(): InotifySubscription[] {
    return [...this.byPath.values()].flatMap((s) => [...s]);
  }

  dispatch(c: Change): void {
    const mask = c.isDir ? [c.type, "IN_ISDIR"] : [c.type];
    const payload = c.cookie ? { name: c.name, cookie: c.cookie, mask } : { name: c.name, mask };
    for (const sub of this.byPath.get(c.dir) ?? []) sub.offer(c.type, payload);

    const path = `${c.dir}/${c.name}`;
    const self = [...(this.byPath.get(path) ?? [])];
    switch (c.type) {
      case "IN_DELETE":
        for (const sub of self) sub.targetDeleted();
        break;
      case "IN_MOVED_FROM":
        for (const sub of self) sub.offer("IN_MOVE_SELF", { mask: c.isDir ? ["IN_MOVE_SELF", "IN_ISDIR"] : ["IN_MOVE_SELF"] });
        if (c.cookie) {
          this.departed.set(c.cookie, path);
          if (this.departed.size > 10000) this.departed.delete(this.departed.keys().next().value!);
        }
        break;
      case "IN_MOVED_TO": {
        const from = c.cookie ? this.departed.get(c.cookie) : undefined;
        if (from) {
          this.departed.delete(c.cookie!);
          this.follow(from, path);
        }
        break;
      }
      case "IN_CREATE":
        break;
      default:
        for (const sub of self) sub.offer(c.type, { mask });
    }
  }

  private follow(from: string, to: string): void {
    for (const [p, subs] of [...this.byPath]) {
      if (p !== from && !p.startsWith(`${from}/`)) continue;
      const moved = to + p.slice(from.length);
      this.byPath.delete(p);
      for (const sub of subs) {
        sub.fsPath = moved;
        this.watch(sub);
      }
    }
  }
}

// The kernel's inotify events for the whole storage tree, read from Debian's `inotifywait`
// (inotify-tools): Node's fs.watch has no IN_CLOSE_WRITE and no move cookies, and the `inotify`
// addon does not build on Node 20. Fields are NUL-separated, so any file name is safe.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { EventType } from "../../../lib/events/inotify.ts";
import { newCookie } from "./hub.ts";
import type { Change } from "./watches.ts";

const WATCHED = [
  "create",
  "open",
  "modify",
  "attrib",
  "close_write",
  "close_nowrite",
  "moved_from",
  "moved_to",
  "delete",
  "delete_self",
  "move_self",
];
const KERNEL_TO_TYPE: Record<string, EventType> = {
  ACCESS: "IN_ACCESS",
  MODIFY: "IN_MODIFY",
  ATTRIB: "IN_ATTRIB",
  CLOSE_WRITE: "IN_CLOSE_WRITE",
  CLOSE_NOWRITE: "IN_CLOSE_NOWRITE",
  OPEN: "IN_OPEN",
  MOVED_FROM: "IN_MOVED_FROM",
  MOVED_TO: "IN_MOVED_TO",
  CREATE: "IN_CREATE",
  DELETE: "IN_DELETE",
  DELETE_SELF: "IN_DELETE_SELF",
  MOVE_SELF: "IN_MOVE_SELF",
};

export interface KernelSink {
  change(c: Change): void;
  /** the kernel dropped events (IN_Q_OVERFLOW) */
  overflow(): void;
  /** inotifywait stopped unexpectedly */
  lost(reason: string): void;
}

/**
 * inotifywait does not pass on the kernel's IN_Q_OVERFLOW. To notice lost events anyway, the same
 * inotify instance also watches a private sentinel directory, in which numbered files are created
 * (often while events flow, rarely when idle). The kernel's queue is first in, first out: a sentinel
 * that never arrives while a later one does was dropped, and with it whatever else was queued then.
 */
// Each sentinel is four kernel events to parse (create, open, close, delete): one per 100 ms while
// events flow finds a loss within a tenth of a second without adding a load of its own to a burst.
const SENTINEL_BUSY_MS = 100;
const SENTINEL_IDLE_MS = 1000;

export class KernelEvents {
  private sentinelDir: string | undefined;
  private sentinelTimer: NodeJS.Timeout | undefined;
  private nextSentinel = 0;
  private expectedSentinel = 0;
  private lastSentinelAt = 0;
  private lastEventAt = 0;
  private proc: ChildProcess | undefined;
  private stopping = false;
  private rest = "";
  private readonly cookies = new Map<string, string>();
  /** opens (and the matching closes) the server makes itself, e.g. to hash a file: not events */
  private readonly ownReads = new Map<string, { open: number; close: number }>();

  private constructor(
    private readonly root: string,
    private readonly sink: KernelSink,
  ) {}

  /** Starts inotifywait on `root`; resolves once every watch is set up, rejects if it cannot run. */
  static async start(root: string, sink: KernelSink): Promise<KernelEvents> {
    const k = new KernelEvents(root, sink);
    k.sentinelDir = mkdtempSync(join(tmpdir(), "dcache-inotify-sentinel-"));
    try {
      await k.spawn();
    } catch (e) {
      k.removeSentinels();
      throw e;
    }
    k.sentinelTimer = setInterval(() => k.tick(), SENTINEL_BUSY_MS);
    k.sentinelTimer.unref();
    return k;
  }

  private tick(): void {
    const now = Date.now();
    const busy = now - this.lastEventAt < 1000;
    if (now - this.lastSentinelAt < (busy ? SENTINEL_BUSY_MS : SENTINEL_IDLE_MS)) return;
    this.lastSentinelAt = now;
    const file = join(this.sentinelDir!, String(this.nextSentinel++));
    try {
      writeFileSync(file, "");
      unlinkSync(file);
    } catch {
      // the sentinel directory vanished (tmp cleaner): detection pauses, events still flow
    }
  }

  private sentinel(type: EventType, name: string): void {
    if (type !== "IN_CREATE") return;
    const seq = Number(name);
    if (seq > this.expectedSentinel) this.sink.overflow();
    if (seq >= this.expectedSentinel) this.expectedSentinel = seq + 1;
  }

  private removeSentinels(): void {
    clearInterval(this.sentinelTimer);
    if (this.sentinelDir) rmSync(this.sentinelDir, { recursive: true, force: true });
  }

  expectOwnRead(fsPath: string): void {
    const e = this.ownReads.get(fsPath) ?? { open: 0, close: 0 };
    e.open++;
    e.close++;
    this.ownReads.set(fsPath, e);
  }

  private spawn(): Promise<void> {
    const args = [
      "-m",
      "-r",
      "--no-newline",
      "--format",
      "%w%0%f%0%e%0%c%0",
      ...WATCHED.flatMap((e) => ["-e", e]),
      this.root,
      this.sentinelDir!,
    ];
    const proc = spawn("inotifywait", args, { stdio: ["ignore", "pipe", "pipe"] });
    this.proc = proc;
    return new Promise((resolve, reject) => {
      let stderr = "";
      let ready = false;
      proc.once("error", (e) => reject(e));
      proc.stderr!.setEncoding("utf8").on("data", (d: string) => {
        stderr += d;
        if (!ready && stderr.includes("Watches established")) {
          ready = true;
          resolve();
        }
      });
      proc.stdout!.setEncoding("utf8").on("data", (d: string) => this.parse(d));
      proc.once("exit", (code, signal) => {
        const why = `inotifywait exited (${code ?? signal}): ${stderr.trim().split("\n").slice(-2).join(" ")}`;
        if (!ready) reject(new Error(why));
        else if (!this.stopping) this.sink.lost(why);
      });
    });
  }

  private parse(chunk: string): void {
    const fields = (this.rest + chunk).split("\0");
    // Records are four fields; keep an incomplete trailing record for the next chunk.
    const complete = Math.floor((fields.length - 1) / 4) * 4;
    this.rest = fields.slice(complete).join("\0");
    for (let i = 0; i < complete; i += 4) this.record(fields[i]!, fields[i + 1]!, fields[i + 2]!, fields[i + 3]!);
  }

  private record(w: string, f: string, e: string, c: string): void {
    const flags = e.split(",");
    if (flags.includes("Q_OVERFLOW")) {
      this.sink.overflow();
      return;
    }
    // Self events (no name) are derived from the parent's events instead, for every source alike.
    if (f === "") return;
    const kernelType = flags.find((x) => x in KERNEL_TO_TYPE);
    if (!kernelType) return;
    const type = KERNEL_TO_TYPE[kernelType]!;
    const isDir = flags.includes("ISDIR");
    const dir = w.endsWith("/") ? w.slice(0, -1) : w;
    if (dir === this.sentinelDir) {
      this.sentinel(type, f);
      return;
    }
    this.lastEventAt = Date.now();
    const path = `${dir}/${f}`;
    // Listing a directory is not an event in dCache's namespace.
    if (isDir && (type === "IN_OPEN" || type === "IN_CLOSE_NOWRITE" || type === "IN_ACCESS")) return;
    if (type === "IN_OPEN" || type === "IN_CLOSE_NOWRITE") {
      const own = this.ownReads.get(path);
      if (own) {
        const key = type === "IN_OPEN" ? "open" : "close";
        if (own[key] > 0) {
          own[key]--;
          if (own.open === 0 && own.close === 0) this.ownReads.delete(path);
          return;
        }
      }
    }
    let cookie: string | undefined;
    if (c !== "" && c !== "0") {
      cookie = this.cookies.get(c);
      if (!cookie) {
        cookie = newCookie();
        this.cookies.set(c, cookie);
        if (this.cookies.size > 10000) this.cookies.delete(this.cookies.keys().next().value!);
      } else if (type === "IN_MOVED_TO") this.cookies.delete(c);
    }
    this.sink.change({ dir, name: f, type, isDir, cookie });
  }

  /** the inotifywait process, e.g. for tests that pause it */
  get pid(): number | undefined {
    return this.proc?.pid;
  }

  stop(): void {
    this.stopping = true;
    this.proc?.kill("SIGTERM");
    this.removeSentinels();
  }
}

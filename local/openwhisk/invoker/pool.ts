// The container pool: bounds how many containers exist, reuses warm ones per action version, keeps
// started-but-uninitialised "stem cells" ready so a cold start skips the fork, queues work past the
// bound, evicts idle containers of other actions when full, and reaps containers idle too long.
import { Container } from "./container.ts";

const STEM_REFILL_DELAY_MS = 200;

export interface PoolOptions {
  /** most containers (busy + idle) at once; work beyond waits in a queue */
  maxContainers: number;
  /** stem cells kept started for the default memory size */
  prewarm: number;
  prewarmMemoryMb: number;
  /** an idle warm container is destroyed after this long */
  idleTimeoutMs: number;
  apiHost: string;
  nodePath?: string;
}

export interface Lease {
  container: Container;
  /** true when the container still has to be initialised with the action */
  cold: boolean;
}

interface Waiter {
  key: string;
  memoryMb: number;
  resolve: (lease: Lease) => void;
}

export class ContainerPool {
  private idle = new Map<string, Container[]>();
  private busy = new Set<Container>();
  private stems: Container[] = [];
  private queue: Waiter[] = [];
  private reaper: NodeJS.Timeout;
  private closed = false;

  constructor(private readonly opts: PoolOptions) {
    this.reaper = setInterval(() => this.reap(), Math.min(opts.idleTimeoutMs, 10_000));
    this.reaper.unref();
  }

  private get idleCount(): number {
    let n = 0;
    for (const list of this.idle.values()) n += list.length;
    return n;
  }

  get size(): { busy: number; idle: number; stems: number; queued: number } {
    return { busy: this.busy.size, idle: this.idleCount, stems: this.stems.length, queued: this.queue.length };
  }

  /** Containers get the API host in their environment: known once the server listens. */
  setApiHost(url: string): void {
    this.opts.apiHost = url;
    this.fillStems();
  }

  private fillStems(): void {
    if (this.closed || !this.opts.apiHost) return;
    while (this.stems.length < this.opts.prewarm) {
      const c = new Container({ memoryMb: this.opts.prewarmMemoryMb, apiHost: this.opts.apiHost, nodePath: this.opts.nodePath });
      this.stems.push(c);
      c.proc.once("exit", () => {
        this.stems = this.stems.filter((s) => s !== c);
      });
    }
  }

  /** Waits until the pre-warmed stem cells have started (used at start-up and by benchmarks). */
  async warmedUp(): Promise<void> {
    await Promise.allSettled(this.stems.map((s) => s.ready));
  }

  acquire(key: string, memoryMb: number): Promise<Lease> {
    const lease = this.tryAcquire(key, memoryMb);
    if (lease) return Promise.resolve(lease);
    return new Promise((resolve) => this.queue.push({ key, memoryMb, resolve }));
  }

  private tryAcquire(key: string, memoryMb: number): Lease | undefined {
    const warm = this.idle.get(key);
    while (warm && warm.length > 0) {
      const c = warm.pop()!;
      if (!c.alive) continue;
      this.busy.add(c);
      return { container: c, cold: false };
    }
    if (this.busy.size + this.idleCount >= this.opts.maxContainers && !this.evictOneIdle()) return undefined;
    let c: Container | undefined;
    if (memoryMb === this.opts.prewarmMemoryMb) {
      while (this.stems.length > 0 && !c) {
        const s = this.stems.shift()!;
        if (s.alive) c = s;
      }
      // Replace the stem cell once this cold start is over (or soon, for a long run): forking now
      // would take a core away from the initialisation that is about to happen.
      setTimeout(() => this.fillStems(), STEM_REFILL_DELAY_MS).unref();
    }
    c ??= new Container({ memoryMb, apiHost: this.opts.apiHost, nodePath: this.opts.nodePath });
    c.actionKey = key;
    this.busy.add(c);
    return { container: c, cold: true };
  }

  private evictOneIdle(): boolean {
    let oldest: { key: string; c: Container } | undefined;
    for (const [key, list] of this.idle) {
      for (const c of list) if (!oldest || c.lastUsed < oldest.c.lastUsed) oldest = { key, c };
    }
    if (!oldest) return false;
    this.removeIdle(oldest.key, oldest.c);
    void oldest.c.destroy();
    return true;
  }

  private removeIdle(key: string, c: Container): void {
    const list = this.idle.get(key);
    if (!list) return;
    const rest = list.filter((x) => x !== c);
    if (rest.length) this.idle.set(key, rest);
    else this.idle.delete(key);
  }

  /** Gives a container back after a run; a broken one (killed, crashed, failed init) is destroyed. */
  release(c: Container, reusable: boolean): void {
    this.busy.delete(c);
    c.lastUsed = Date.now();
    if (reusable && c.alive && !this.closed && c.actionKey) {
      const list = this.idle.get(c.actionKey) ?? [];
      list.push(c);
      this.idle.set(c.actionKey, list);
    } else {
      void c.destroy();
    }
    if (this.stems.length < this.opts.prewarm) setImmediate(() => this.fillStems());
    this.dispatch();
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      const w = this.queue[0]!;
      const lease = this.tryAcquire(w.key, w.memoryMb);
      if (!lease) return;
      this.queue.shift();
      w.resolve(lease);
    }
  }

  /** A changed or deleted action must never run old code: drop its warm containers. */
  forget(keyPrefix: string): void {
    for (const [key, list] of [...this.idle]) {
      if (!key.startsWith(keyPrefix)) continue;
      this.idle.delete(key);
      for (const c of list) void c.destroy();
    }
    this.dispatch();
  }

  private reap(): void {
    const cutoff = Date.now() - this.opts.idleTimeoutMs;
    for (const [key, list] of [...this.idle]) {
      for (const c of list) {
        if (c.lastUsed < cutoff || !c.alive) {
          this.removeIdle(key, c);
          void c.destroy();
        }
      }
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.reaper);
    const all = [...this.stems, ...this.busy];
    for (const list of this.idle.values()) all.push(...list);
    this.idle.clear();
    this.stems = [];
    await Promise.all(all.map((c) => c.destroy()));
  }
}

// The container pool: bounds how many containers exist, reuses warm ones per action version, keeps
// started-but-uninitialised "stem cells" ready so a cold start skips the fork, queues work past the
// bound, evicts idle containers of other actions when full, and reaps containers idle too long.
// An action with `limits.concurrency` N > 1 gets up to N activations per container (a busy one with
// room is used before a new one is made), as OpenWhisk's pool does for intra-container concurrency.
// Work past the bound waits in one queue per action, and a freed slot goes to the actions in turn:
// a burst of one action (previews of a thousand files) never holds up another (the first steps of
// ingest, a feed's lifecycle call), as with OpenWhisk's per-action scheduling queues.
import { Container } from "./container.ts";

const STEM_REFILL_DELAY_MS = 200;

export interface PoolOptions {
  /** most containers (busy + idle) at once; work beyond waits in a queue */
  maxContainers: number;
  /** most memory (their memory limits, MB) of all containers (busy + idle) at once, as an invoker's user memory */
  userMemoryMb?: number;
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
  maxConcurrent: number;
  resolve: (lease: Lease) => void;
}

export class ContainerPool {
  private idle = new Map<string, Container[]>();
  private busy = new Set<Container>();
  /** busy containers of actions with limits.concurrency > 1, by action version: they may take more */
  private shared = new Map<string, Set<Container>>();
  private stems: Container[] = [];
  /** waiting activations, one FIFO queue per action version; keys in the order they are served */
  private queues = new Map<string, Waiter[]>();
  private queued = 0;
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
    return { busy: this.busy.size, idle: this.idleCount, stems: this.stems.length, queued: this.queued };
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

  /** A container for one activation of action version `key`; `maxConcurrent` is its limits.concurrency. */
  acquire(key: string, memoryMb: number, maxConcurrent = 1): Promise<Lease> {
    // behind others of the same action: never overtake them
    const lease = this.queues.has(key) ? undefined : this.tryAcquire(key, memoryMb, maxConcurrent);
    if (lease) return Promise.resolve(lease);
    return new Promise((resolve) => {
      const q = this.queues.get(key) ?? [];
      q.push({ key, memoryMb, maxConcurrent, resolve });
      this.queues.set(key, q);
      this.queued++;
    });
  }

  private lease(c: Container, cold: boolean): Lease {
    c.active++;
    this.busy.add(c);
    if (c.maxConcurrent > 1) this.setShared(c, c.active < c.maxConcurrent);
    return { container: c, cold };
  }

  private tryAcquire(key: string, memoryMb: number, maxConcurrent: number): Lease | undefined {
    // a busy container with room first (the fullest: the others can go idle and be reclaimed)
    let roomy: Container | undefined;
    for (const c of this.shared.get(key) ?? []) if (c.alive && (!roomy || c.active > roomy.active)) roomy = c;
    if (roomy) return this.lease(roomy, false);
    const warm = this.idle.get(key);
    while (warm && warm.length > 0) {
      const c = warm.pop()!;
      if (!warm.length) this.idle.delete(key);
      if (!c.alive) continue;
      return this.lease(c, false);
    }
    // a further container of an action that has one already (busy) only takes free room or another
    // action's surplus: scaling out one action never cold-starts another's only warm container
    const scaleOut = [...this.busy].some((c) => c.actionKey === key);
    while (!this.fits(memoryMb)) if (!this.evictOneIdle(scaleOut)) return undefined;
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
    c.maxConcurrent = maxConcurrent;
    return this.lease(c, true);
  }

  /** Whether one more container of `memoryMb` stays within the bounds. */
  private fits(memoryMb: number): boolean {
    if (this.busy.size + this.idleCount >= this.opts.maxContainers) return false;
    if (this.opts.userMemoryMb === undefined) return true;
    let used = memoryMb;
    for (const c of this.busy) used += c.memoryMb;
    for (const list of this.idle.values()) for (const c of list) used += c.memoryMb;
    // a container bigger than all the user memory still runs, alone
    return used <= this.opts.userMemoryMb || used === memoryMb;
  }

  /**
   * Destroys the least recently used idle container — one that is not its action's last container
   * if there is such (a burst of one action then gives back its own surplus, and the warm container
   * of every other step of a pipeline survives it); else, unless `spareOnly`, the least recently used.
   */
  private evictOneIdle(spareOnly = false): boolean {
    const containers = new Map<string, number>();
    for (const c of this.busy) if (c.actionKey) containers.set(c.actionKey, (containers.get(c.actionKey) ?? 0) + 1);
    for (const [key, list] of this.idle) containers.set(key, (containers.get(key) ?? 0) + list.length);
    let oldest: { key: string; c: Container } | undefined;
    let oldestSpare: { key: string; c: Container } | undefined;
    for (const [key, list] of this.idle) {
      const spare = (containers.get(key) ?? 0) > 1;
      for (const c of list) {
        if (!oldest || c.lastUsed < oldest.c.lastUsed) oldest = { key, c };
        if (spare && (!oldestSpare || c.lastUsed < oldestSpare.c.lastUsed)) oldestSpare = { key, c };
      }
    }
    oldest = spareOnly ? oldestSpare : (oldestSpare ?? oldest);
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

  /**
   * Gives a container back after a run; a broken one (killed, crashed, failed init) is destroyed,
   * and runs still in it end with it. A container still running other activations stays busy.
   */
  release(c: Container, reusable: boolean): void {
    c.active = Math.max(0, c.active - 1);
    c.lastUsed = Date.now();
    const ok = reusable && c.alive && !this.closed && !!c.actionKey;
    if (!ok) c.kill();
    this.setShared(c, ok && c.active > 0 && c.maxConcurrent > 1);
    if (c.active === 0) {
      this.busy.delete(c);
      if (ok) {
        const list = this.idle.get(c.actionKey!) ?? [];
        list.push(c);
        this.idle.set(c.actionKey!, list);
      } else {
        void c.destroy();
      }
      if (this.stems.length < this.opts.prewarm) setImmediate(() => this.fillStems());
    }
    this.dispatch();
  }

  /** Whether a busy container of a concurrent action may take more activations. */
  private setShared(c: Container, room: boolean): void {
    if (!c.actionKey) return;
    const set = this.shared.get(c.actionKey) ?? new Set<Container>();
    if (room) set.add(c);
    else set.delete(c);
    if (set.size) this.shared.set(c.actionKey, set);
    else this.shared.delete(c.actionKey);
  }

  /**
   * Serves the per-action queues in turn, one activation each per round, while containers allow.
   * Each round first serves actions without any container (a feed's lifecycle call, the first batch
   * of a step: they may take the room of an idle container), then those a warm container of their
   * own awaits, and only then those that need another container: two busy actions never take each
   * other's freed containers in turn, each taking a cold start.
   */
  private dispatch(): void {
    let progress = true;
    while (this.queued > 0 && progress) {
      progress = false;
      for (const cls of ["first", "warm", "more"] as const) {
        for (const [key, q] of [...this.queues]) {
          if (this.classOf(key) !== cls) continue;
          const w = q[0]!;
          const lease = this.tryAcquire(w.key, w.memoryMb, w.maxConcurrent);
          if (!lease) continue;
          q.shift();
          this.queued--;
          // served: to the back of the round
          this.queues.delete(key);
          if (q.length) this.queues.set(key, q);
          progress = true;
          w.resolve(lease);
        }
      }
    }
  }

  /** first: the action has no container; warm: one of its own can take it now; more: it needs another. */
  private classOf(key: string): "first" | "warm" | "more" {
    if ((this.shared.get(key)?.size ?? 0) > 0 || (this.idle.get(key)?.length ?? 0) > 0) return "warm";
    for (const c of this.busy) if (c.actionKey === key) return "more";
    return "first";
  }

  /** A changed or deleted action must never run old code: drop its warm containers. */
  forget(keyPrefix: string): void {
    for (const key of [...this.shared.keys()]) if (key.startsWith(keyPrefix)) this.shared.delete(key);
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

// Waiting for the activations the file ledger follows. One GET per activation per round does not
// scale: in a burst, hundreds of sequences wait in OpenWhisk's queue for seconds, and each GET
// answers 404 (ten for every record found, at 1,000 files, most of the provider's CPU). Instead,
// each round lists the namespace's finished activations of each followed name since the oldest of
// them started (ids only: one request covers a few hundred) and reads with a GET only those that
// appear, each once. An activation the listing does not show (a listing that lags behind, as
// OpenWhisk's database views may; one older than the listing window) is still read directly, less
// often. Public API only, so it works unchanged against a facility's OpenWhisk.
import type { Logger } from "../log.ts";
import type { FireTarget } from "../pipeline/firer.ts";
import { getActivation, listActivationIds, type ActivationDoc } from "./openwhisk-api.ts";

/**
 * Rounds while few activations are followed (a single file's outcome is known at once), and while
 * many are: under a burst, each round lists what finished since the oldest of them started, so
 * rounds are spaced out rather than repeating most of the previous one's listing.
 */
const ROUND_FEW_MS = 100;
const ROUND_MANY_MS = 1000;
const FEW = 10;
/** the listing reaches this far back (older activations are read directly only), plus clock skew */
const LIST_WINDOW_MS = 30_000;
const CLOCK_SKEW_MS = 5000;
const PAGE = 200;
const MAX_PAGES = 5;
/** a direct read of each waiting activation at most this often; more waiting, less often */
const DIRECT_MIN_MS = 5000;
const DIRECT_PER_WAITER_MS = 50;

interface Waiter {
  id: string;
  name: string;
  /** when we started waiting (epoch ms): the activation started no earlier, up to clock skew */
  since: number;
  deadline: number;
  lastDirect: number;
  done: (record: ActivationDoc | undefined) => void;
}

export class Completions {
  private readonly waiting = new Map<string, Waiter>();
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  private stopped = false;
  private warned = false;

  constructor(private readonly o: { target: () => FireTarget; log: Logger }) {}

  /** The activation's record once it exists; undefined after `deadline` (epoch ms) or at stop. */
  wait(id: string, name: string, deadline: number): Promise<ActivationDoc | undefined> {
    if (this.stopped) return Promise.resolve(undefined);
    return new Promise((done) => {
      const now = Date.now();
      this.waiting.set(id, { id, name, since: now, deadline, lastDirect: now, done });
      this.schedule(this.roundMs());
    });
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    for (const w of this.waiting.values()) w.done(undefined);
    this.waiting.clear();
  }

  private schedule(ms: number): void {
    if (this.stopped || this.busy || this.timer || this.waiting.size === 0) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.round();
    }, ms);
    this.timer.unref();
  }

  private finish(w: Waiter, record: ActivationDoc | undefined): void {
    if (this.waiting.get(w.id) !== w) return;
    this.waiting.delete(w.id);
    w.done(record);
  }

  /** Reads one activation: done when its record is there. */
  private async read(w: Waiter): Promise<void> {
    w.lastDirect = Date.now();
    const a = await getActivation(this.o.target(), w.id);
    if (a.status === 200 && a.body) this.finish(w, a.body);
    else if ((a.status === 401 || a.status === 403) && !this.warned) {
      this.warned = true;
      this.o.log.warn("cannot read activations with the trigger owner's key", { activationId: w.id, status: a.status });
    }
  }

  private async round(): Promise<void> {
    if (this.stopped) return;
    this.busy = true;
    try {
      const now = Date.now();
      const byName = new Map<string, Waiter[]>();
      for (const w of this.waiting.values()) {
        const ws = byName.get(w.name);
        if (ws) ws.push(w);
        else byName.set(w.name, [w]);
      }
      const read = new Set<Waiter>();
      for (const [name, ws] of byName) {
        const from = Math.max(Math.min(...ws.map((w) => w.since)), now - LIST_WINDOW_MS) - CLOCK_SKEW_MS;
        const finished = await this.listed(name, from);
        for (const w of ws) if (finished.has(w.id)) read.add(w);
      }
      const directEvery = Math.max(DIRECT_MIN_MS, this.waiting.size * DIRECT_PER_WAITER_MS);
      for (const w of this.waiting.values()) if (now - w.lastDirect >= directEvery) read.add(w);
      for (const w of read) if (!this.stopped) await this.read(w);
      const after = Date.now();
      for (const w of [...this.waiting.values()]) if (after > w.deadline) this.finish(w, undefined);
    } catch (e) {
      this.o.log.warn("looking for finished activations failed; trying again", { err: e as Error });
    } finally {
      this.busy = false;
    }
    this.schedule(this.roundMs());
  }

  private roundMs(): number {
    return this.waiting.size <= FEW ? ROUND_FEW_MS : ROUND_MANY_MS;
  }

  /** Ids of finished activations of `name` started since `from`: what listing shows within its pages. */
  private async listed(name: string, from: number): Promise<Set<string>> {
    const ids = new Set<string>();
    for (let page = 0; page < MAX_PAGES; page++) {
      const a = await listActivationIds(this.o.target(), name, from, page * PAGE, PAGE);
      if (a.status !== 200 || !a.body) break;
      for (const id of a.body) ids.add(id);
      if (a.body.length < PAGE) break;
    }
    return ids;
  }
}

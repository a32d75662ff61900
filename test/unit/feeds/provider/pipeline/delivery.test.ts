// Delivery for one registration (delivery.ts) over the real SQLite store in a temporary file, with the
// fire stage replaced by a function the test answers as OpenWhisk would (what each answer means is
// tested against a real HTTP exchange in firer.test.ts). The contract: batches fire one at a time in
// outbox order; outbox rows leave only once OpenWhisk acknowledged them; throttling and transient
// failures are retried with backoff, not before Retry-After, and what arrives meanwhile joins the next
// fire; what outlives maxAgeSeconds is dead-lettered (or dropped, counted); a rejected batch is
// dead-lettered at once; a trigger that is gone disables the registration and keeps its events;
// PAUSE holds events in the outbox, UNPAUSE drains them in order.
// (Coalescing of a file's queued arrivals is covered in test/feeds/arrival.test.ts.)
import { expect } from "chai";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BatchParams, DeliveryParams } from "../../../../../feeds/common/feed-params.ts";
import { Logger } from "../../../../../feeds/provider/log.ts";
import { ProviderMetrics } from "../../../../../feeds/provider/metrics.ts";
import { Delivery, type DeliveryOptions } from "../../../../../feeds/provider/pipeline/delivery.ts";
import type { FireOutcome } from "../../../../../feeds/provider/pipeline/firer.ts";
import { SqliteStore } from "../../../../../feeds/provider/store/sqlite.ts";
import { emptyStats, type StatusReason } from "../../../../../feeds/provider/store/types.ts";

const REG = "guest/closed";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 3_000): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!(await cond())) {
    if (performance.now() > end) throw new Error(`timed out waiting until ${what}`);
    await sleep(2);
  }
}

interface FireCall {
  ids: string[];
  at: number;
}

describe("feeds/provider delivery: outbox to OpenWhisk", function () {
  this.timeout(10_000);
  let dir: string;
  let store: SqliteStore;
  let fires: FireCall[];
  /** OpenWhisk's answer to fire number n (0-based); default 202 */
  let answer: (n: number) => FireOutcome | Promise<FireOutcome>;
  let disabled: StatusReason[];
  let deliveries: Delivery[];
  let metrics: ProviderMetrics;
  let nextId: number;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "unit-delivery-"));
    store = new SqliteStore(join(dir, "provider.sqlite"));
    await store.migrate();
    await store.putRegistration({
      id: REG,
      namespace: "guest",
      trigger: "closed",
      publicConfig: {},
      sealed: "v1:x",
      state: "active",
      reason: null,
      dateChanged: 0,
      cursor: null,
      stats: emptyStats(),
      createdAt: 0,
    });
    fires = [];
    answer = () => ({ kind: "acknowledged", status: 202, activationId: "a" });
    disabled = [];
    deliveries = [];
    metrics = new ProviderMetrics();
    nextId = 1;
  });
  afterEach(async () => {
    for (const d of deliveries) await d.stop();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function delivery(opts: { batch?: Partial<BatchParams>; delivery?: Partial<DeliveryParams>; maxPending?: number } = {}): Delivery {
    const o: DeliveryOptions = {
      regId: REG,
      label: `/${REG}`,
      store,
      target: { apihost: "http://127.0.0.1:9", namespace: "guest", trigger: "closed", authKey: "k:k" },
      batch: { maxEvents: 100, maxWaitMs: 0, maxBytes: 900_000, ...opts.batch },
      delivery: { maxAgeSeconds: 3600, deadLetter: true, ledger: false, reconcileSeconds: 0, ...opts.delivery },
      stats: emptyStats(),
      backoff: { baseMs: 40, maxMs: 80 },
      maxPending: opts.maxPending ?? 10_000,
      fireTimeoutMs: 1_000,
      fire: async (_target, body) => {
        const n = fires.length;
        fires.push({ ids: (JSON.parse(body) as { events: { id: string }[] }).events.map((e) => e.id), at: performance.now() });
        // an answer comes back over the network: never within the same event-loop turn
        await new Promise((r) => setImmediate(r));
        return answer(n);
      },
      onDisable: (reason) => disabled.push(reason),
      log: new Logger(() => {}),
      metrics,
    };
    const d = new Delivery(o);
    deliveries.push(d);
    return d;
  }

  /** Appends n events to the outbox (as the intake does) and hands them to the delivery; returns their ids. */
  async function add(d: Delivery, n: number, receivedAt = Date.now()): Promise<string[]> {
    const events = Array.from({ length: n }, () => {
      const id = `e${nextId++}`;
      const body = JSON.stringify({ id, subject: `/d/${id}.nxs` });
      return { eventId: id, body, bytes: Buffer.byteLength(body), receivedAt };
    });
    d.enqueue(await store.appendIntake(REG, { events, dead: [] }));
    return events.map((e) => e.eventId);
  }
  const outboxIds = async () => (await store.loadOutbox(REG)).map((e) => e.eventId);
  const deadIds = async () => (await store.listDeadLetters(REG, { limit: 1000 })).map((e) => e.eventId);

  it("fires batches one at a time, in outbox order, none larger than maxEvents", async () => {
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    answer = async () => {
      await gate;
      return { kind: "acknowledged", status: 202 };
    };
    const d = delivery({ batch: { maxEvents: 3 } });
    const ids = await add(d, 3);
    await until("the first fire", () => fires.length === 1);
    ids.push(...(await add(d, 5)));
    await sleep(30);
    expect(fires, "a second fire while the first is in flight").to.have.length(1);
    open();
    await until("everything fired", () => fires.flatMap((f) => f.ids).length === 8);
    expect(fires.map((f) => f.ids)).to.deep.equal([ids.slice(0, 3), ids.slice(3, 6), ids.slice(6, 8)]);
    await until("the outbox is empty", async () => (await outboxIds()).length === 0);
    expect(d.stats).to.include({ fires: 3, firedEvents: 8, lastFireStatus: 202 });
    expect((await store.getRegistration(REG))!.stats).to.include({ fires: 3, firedEvents: 8 });
  });

  it("removes outbox rows only after OpenWhisk acknowledged the fire", async () => {
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    answer = async () => {
      await gate;
      return { kind: "acknowledged", status: 202 };
    };
    const d = delivery();
    const ids = await add(d, 4);
    await until("the fire is in flight", () => fires.length === 1);
    expect(await outboxIds(), "in flight, not yet acknowledged").to.deep.equal(ids);
    expect(d.pending).to.equal(4);
    open();
    await until("the rows are gone", async () => (await outboxIds()).length === 0);
    expect(d.pending).to.equal(0);
  });

  it("keeps the rows and retries with growing backoff after 5xx and network failures, then delivers", async () => {
    const answers: FireOutcome[] = [
      { kind: "retry", status: 503, message: "Service unavailable" },
      { kind: "retry", status: 0, message: "OpenWhisk unreachable: ECONNREFUSED" },
    ];
    answer = (n) => answers[n] ?? { kind: "acknowledged", status: 202 };
    const d = delivery();
    const ids = await add(d, 2);
    await until("the first failure", () => fires.length === 1);
    expect(await outboxIds()).to.deep.equal(ids);
    await until("the third attempt", () => fires.length === 3);
    expect(fires.map((f) => f.ids)).to.deep.equal([ids, ids, ids]);
    // backoff base 40 ms: the first retry waits at least 20 ms, the second at least 40 ms
    expect(fires[1]!.at - fires[0]!.at).to.be.at.least(19);
    expect(fires[2]!.at - fires[1]!.at).to.be.at.least(39);
    await until("the rows are gone", async () => (await outboxIds()).length === 0);
    expect(d.stats).to.include({ retries: 2, fires: 1, firedEvents: 2, deadLettered: 0, lastFireStatus: 202 });
    expect(await deadIds()).to.deep.equal([]);
  });

  it("throttled: waits for Retry-After, and what arrived meanwhile goes in the same, larger fire", async () => {
    answer = (n) =>
      n === 0 ? { kind: "throttled", status: 429, retryAfterMs: 150, message: "Too many requests" } : { kind: "acknowledged", status: 202 };
    const d = delivery();
    const first = await add(d, 1);
    await until("the throttled fire", () => fires.length === 1);
    const later = [...(await add(d, 3)), ...(await add(d, 2))];
    await until("the retry", () => fires.length === 2);
    expect(fires[1]!.at - fires[0]!.at, "not before Retry-After").to.be.at.least(149);
    expect(fires[1]!.ids).to.deep.equal([...first, ...later]);
    await sleep(20);
    expect(fires).to.have.length(2);
    expect(d.stats).to.include({ retries: 1, fires: 1, firedEvents: 6 });
  });

  it("dead-letters what is older than maxAgeSeconds when a fire fails, keeping the rest queued", async () => {
    answer = (n) => (n === 0 ? { kind: "retry", status: 503, message: "Service unavailable" } : { kind: "acknowledged", status: 202 });
    const d = delivery({ delivery: { maxAgeSeconds: 60 } });
    d.pause();
    const old = await add(d, 2, Date.now() - 61_000);
    const fresh = await add(d, 1);
    d.resume();
    await until("both fires", () => fires.length === 2);
    expect(fires[0]!.ids).to.deep.equal([...old, ...fresh]);
    expect(fires[1]!.ids).to.deep.equal(fresh);
    const dead = await store.listDeadLetters(REG, { limit: 10 });
    expect(dead.map((e) => e.eventId)).to.deep.equal(old);
    expect(dead[0]!.reason)
      .to.match(/maxAgeSeconds=60/)
      .and.match(/Service unavailable/);
    expect(dead[0]!.statusCode).to.equal(503);
    await until("the outbox is empty", async () => (await outboxIds()).length === 0);
    expect(d.stats).to.include({ deadLettered: 2, firedEvents: 1 });
  });

  it("with deadLetter off, expired events are dropped and counted, not kept", async () => {
    answer = () => ({ kind: "retry", status: 500, message: "boom" });
    const d = delivery({ delivery: { maxAgeSeconds: 1, deadLetter: false } });
    await add(d, 3, Date.now() - 5_000);
    await until("the events are dropped", () => d.stats.dropped === 3);
    expect(await deadIds()).to.deep.equal([]);
    expect(await outboxIds()).to.deep.equal([]);
    expect(d.pending).to.equal(0);
  });

  it("a batch OpenWhisk rejects (413) is dead-lettered at once with the reason; the next goes on", async () => {
    answer = (n) =>
      n === 0
        ? { kind: "reject", status: 413, message: "Request larger than allowed: 1048577 > 1048576 bytes." }
        : { kind: "acknowledged", status: 202 };
    const d = delivery({ batch: { maxEvents: 2 } });
    const ids = await add(d, 3);
    await until("both fires", () => fires.length === 2);
    const dead = await store.listDeadLetters(REG, { limit: 10 });
    expect(dead.map((e) => e.eventId)).to.deep.equal(ids.slice(0, 2));
    expect(dead[0]!.statusCode).to.equal(413);
    expect(dead[0]!.reason).to.match(/OpenWhisk rejected the fire: Request larger than allowed/);
    expect(fires[1]!.ids).to.deep.equal(ids.slice(2));
    expect(d.stats.retries).to.equal(0);
  });

  it("an event larger than a lowered maxBytes is dead-lettered, never fired", async () => {
    const d = delivery();
    d.pause();
    const ids = await add(d, 2);
    const t = { apihost: "http://127.0.0.1:9", namespace: "guest", trigger: "closed", authKey: "k:k" };
    d.reconfigure(
      { maxEvents: 100, maxWaitMs: 0, maxBytes: 20 },
      { maxAgeSeconds: 3600, deadLetter: true, ledger: false, reconcileSeconds: 0 },
      t,
    );
    d.resume();
    await until("both dead-lettered", async () => (await deadIds()).length === 2);
    expect(await deadIds()).to.deep.equal(ids);
    expect((await store.listDeadLetters(REG, { limit: 1 }))[0]!.reason).to.match(/exceeds maxBytes 20/);
    expect(fires).to.deep.equal([]);
  });

  it("404 (trigger deleted) disables the registration; its events stay in the outbox and nothing more fires", async () => {
    answer = () => ({ kind: "disable", status: 404, message: "The requested resource does not exist." });
    const d = delivery();
    const ids = await add(d, 2);
    await until("disabled", () => disabled.length === 1);
    expect(disabled[0]).to.deep.equal({ kind: "AUTO", statusCode: 404, message: "The requested resource does not exist." });
    expect(d.isPaused).to.equal(true);
    const more = await add(d, 1);
    await sleep(120);
    expect(fires).to.have.length(1);
    expect(await outboxIds()).to.deep.equal([...ids, ...more]);
    expect(await deadIds()).to.deep.equal([]);
    // the owner fixed the trigger: UNPAUSE drains what was kept, in order
    answer = () => ({ kind: "acknowledged", status: 202 });
    d.resume();
    await until("delivered", async () => (await outboxIds()).length === 0);
    expect(fires[1]!.ids).to.deep.equal([...ids, ...more]);
  });

  it("PAUSE holds events in the outbox; UNPAUSE fires them in order", async () => {
    const d = delivery({ batch: { maxEvents: 4 } });
    d.pause();
    const ids = await add(d, 6);
    await sleep(100);
    expect(fires).to.deep.equal([]);
    expect(await outboxIds()).to.deep.equal(ids);
    d.resume();
    await until("delivered", async () => (await outboxIds()).length === 0);
    expect(fires.map((f) => f.ids)).to.deep.equal([ids.slice(0, 4), ids.slice(4)]);
  });

  it("waits maxWaitMs for a batch to fill, and fires a full one at once", async () => {
    const d = delivery({ batch: { maxEvents: 3, maxWaitMs: 250 } });
    const t0 = performance.now();
    const one = await add(d, 1);
    await until("the partial batch fires", () => fires.length === 1);
    expect(fires[0]!.at - t0, "a partial batch waits maxWaitMs").to.be.at.least(249);
    expect(fires[0]!.ids).to.deep.equal(one);
    // a full batch does not wait maxWaitMs (a minute here, far beyond `until`'s limit)
    const full = delivery({ batch: { maxEvents: 3, maxWaitMs: 60_000 } });
    const three = await add(full, 3);
    await until("the full batch fires", () => fires.length === 2);
    expect(fires[1]!.ids).to.deep.equal(three);
  });

  it("holds the source back at maxPending: room() resolves once fires made room", async () => {
    const d = delivery({ maxPending: 3 });
    d.pause();
    await add(d, 3);
    expect(d.hasRoom()).to.equal(false);
    let roomy = false;
    const room = d.room().then(() => (roomy = true));
    await sleep(30);
    expect(roomy).to.equal(false);
    d.resume();
    await room;
    expect(d.hasRoom()).to.equal(true);
  });

  it("flush at shutdown fires what is queued without waiting maxWaitMs; what is left stays in the outbox", async () => {
    const d = delivery({ batch: { maxEvents: 10, maxWaitMs: 60_000 } });
    const ids = await add(d, 3);
    await sleep(20);
    expect(fires).to.deep.equal([]);
    await d.flush(performance.now() + 5_000);
    expect(fires.map((f) => f.ids)).to.deep.equal([ids]);
    expect(await outboxIds()).to.deep.equal([]);
    // a failing fire ends the flush: the rest waits in the outbox for the next start
    answer = () => ({ kind: "retry", status: 503, message: "Service unavailable" });
    const d2 = delivery({ batch: { maxEvents: 10, maxWaitMs: 60_000 } });
    const left = await add(d2, 2);
    await d2.flush(performance.now() + 5_000);
    expect(await outboxIds()).to.deep.equal(left);
  });
});

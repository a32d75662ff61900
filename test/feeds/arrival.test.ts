// The arrival stage in-process: which events are a file arriving, writers' temporary names, and the
// coalescing of queued arrivals of one file in the delivery (over a real SQLite outbox, with a
// recording fire function instead of OpenWhisk).
import { expect } from "chai";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkFeedConfig, arrivalWarnings, DEFAULT_TEMPORARY, type FeedConfig } from "../../feeds/common/feed-params.ts";
import { arrivalKeys, compileArrival, PendingArrivals } from "../../feeds/provider/pipeline/arrival.ts";
import { batchDueAt, cutBatch } from "../../feeds/provider/pipeline/batcher.ts";
import { Delivery } from "../../feeds/provider/pipeline/delivery.ts";
import { compileFilter } from "../../feeds/provider/pipeline/filter.ts";
import type { FireOutcome } from "../../feeds/provider/pipeline/firer.ts";
import { Intake } from "../../feeds/provider/pipeline/intake.ts";
import { Logger } from "../../feeds/provider/log.ts";
import { ProviderMetrics } from "../../feeds/provider/metrics.ts";
import { SqliteStore } from "../../feeds/provider/store/sqlite.ts";
import { emptyStats, type OutboxEntry } from "../../feeds/provider/store/types.ts";
import { normaliseStorageEvent } from "../../lib/events/normalise.ts";
import type { StorageCloudEvent } from "../../lib/events/cloudevent.ts";
import { inputFiles } from "../../functions/_shared/files.ts";

const ctx = { receivedAt: new Date(), fallbackSource: "test:arrival" };

function ev(path: string, mask: string[], extra: Record<string, unknown> = {}): StorageCloudEvent {
  const dir = path.slice(0, path.lastIndexOf("/")) || "/";
  const n = normaliseStorageEvent({ event: { name: path.slice(path.lastIndexOf("/") + 1), mask }, path: dir }, ctx);
  if (!n.ok) throw new Error(n.error);
  Object.assign(n.event.data, extra);
  return n.event;
}

const ON = { arrivals: true, temporary: DEFAULT_TEMPORARY, settleMs: 20 };

describe("feeds/provider arrival stage: what is a file arriving", () => {
  const a = compileArrival(ON);

  it("a regular file closed after writing or moved in is an arrival", () => {
    expect(a.classify(ev("/d/run-1.nxs", ["IN_CLOSE_WRITE"]))).to.equal("arrival");
    expect(a.classify(ev("/d/run-1.nxs", ["IN_MOVED_TO"], { cookie: "c1", oldPath: "/d/run-1.nxs.part" }))).to.equal("arrival");
    // moved in from outside the watched tree: no old path
    expect(a.classify(ev("/d/run-2.nxs", ["IN_MOVED_TO"]))).to.equal("arrival");
    // a listing after lost events reports files as IN_CLOSE_WRITE with `recovered`
    expect(a.classify(ev("/d/run-3.nxs", ["IN_CLOSE_WRITE"], { recovered: "rescan" }))).to.equal("arrival");
  });

  it("other events and directories are not arrivals", () => {
    for (const m of [
      ["IN_CREATE"],
      ["IN_OPEN"],
      ["IN_MODIFY"],
      ["IN_ATTRIB"],
      ["IN_CLOSE_NOWRITE"],
      ["IN_DELETE"],
      ["IN_MOVED_FROM"],
      ["IN_ACCESS"],
    ])
      expect(a.classify(ev("/d/run-1.nxs", m)), m[0]).to.equal("not-arrival");
    expect(a.classify(ev("/d/scan7", ["IN_MOVED_TO", "IN_ISDIR"]))).to.equal("directory");
    expect(a.classify(ev("/d/scan8", ["IN_CLOSE_WRITE"], { isDir: true }))).to.equal("directory");
  });

  it("writers' temporary names are not arrivals, their final names are", () => {
    for (const p of ["/d/scan.nxs.part", "/d/x.tmp", "/d/notes.txt~", "/d/sub/.run-1.nxs.Xq3bZ9", "/.a.h5.AbCdEf"])
      expect(a.classify(ev(p, ["IN_CLOSE_WRITE"])), p).to.equal("temporary");
    expect(a.classify(ev("/d/.scan.nxs.k2J9xA", ["IN_MOVED_TO"]))).to.equal("temporary");
    for (const p of ["/d/scan.nxs", "/d/part/x.nxs", "/d/x.partial", "/d/.hidden", "/d/.a.b", "/d/tmp.h5", "/d/.part/y.h5"])
      expect(a.classify(ev(p, ["IN_CLOSE_WRITE"])), p).to.equal("arrival");
  });

  it("temporary names are configurable; arrivals off passes every event on", () => {
    const own = compileArrival({ arrivals: true, temporary: ["*.writing"] });
    expect(own.classify(ev("/d/a.nxs.writing", ["IN_CLOSE_WRITE"]))).to.equal("temporary");
    expect(own.classify(ev("/d/a.nxs.part", ["IN_CLOSE_WRITE"]))).to.equal("arrival");
    const raw = compileArrival({ arrivals: false });
    expect(raw.enabled).to.equal(false);
    expect(raw.classify(ev("/d/a.nxs.part", ["IN_CREATE"]))).to.equal("raw");
    // registrations stored before arrivals existed keep raw events
    expect(compileArrival({}).classify(ev("/d/a", ["IN_DELETE"]))).to.equal("raw");
    expect(compileArrival({ arrivals: true }).settleMs).to.equal(20);
    expect(compileArrival({ arrivals: false, settleMs: 500 }).settleMs).to.equal(0);
  });

  it("never throws on an event without a usable mask", () => {
    const bad = { ...ev("/d/x", ["IN_CLOSE_WRITE"]), data: { path: "/d/x" } } as unknown as StorageCloudEvent;
    expect(a.classify(bad)).to.equal("not-arrival");
    expect(a.classify({ ...bad, data: undefined } as unknown as StorageCloudEvent)).to.equal("not-arrival");
  });

  it("keys an outbox body by its path, a rename also by its old name", () => {
    expect(arrivalKeys(JSON.stringify(ev("/d/a.nxs", ["IN_CLOSE_WRITE"])))).to.deep.equal({ path: "/d/a.nxs", replaces: ["/d/a.nxs"] });
    expect(arrivalKeys(JSON.stringify(ev("/d/b.nxs", ["IN_MOVED_TO"], { oldPath: "/d/a.nxs" })))).to.deep.equal({
      path: "/d/b.nxs",
      replaces: ["/d/b.nxs", "/d/a.nxs"],
    });
    for (const b of ["", "{", "null", "[]", '{"subject":3}']) expect(arrivalKeys(b), b).to.equal(undefined);
  });

  it("indexes pending arrivals by path", () => {
    const p = new PendingArrivals<{ n: number }>();
    const x = { n: 1 },
      y = { n: 2 };
    p.add("/a", x);
    p.add("/b", y);
    expect(p.replaced(["/b", "/a", "/a"])).to.deep.equal([y, x]);
    p.remove(x);
    expect(p.free("/a")).to.equal(true);
    expect(p.pathOfEntry(x)).to.equal("/a");
    // removing an entry that is no longer the path's pending one leaves the newer one
    const z = { n: 3 };
    p.add("/b", z);
    p.remove(y);
    expect(p.replaced(["/b"])).to.deep.equal([z]);
  });
});

describe("feeds/common: arrival parameters", () => {
  const mqtt = { kind: "mqtt", url: "mqtt://127.0.0.1:1883", topic: "t/#" };
  it("defaults to arrivals with the common temporary names and a 20 ms settle window", () => {
    const c = checkFeedConfig({ source: mqtt });
    if (!c.ok) throw new Error(c.error);
    expect(c.value.filter).to.deep.equal({ arrivals: true, temporary: ["*.part", "*.tmp", "*~", ".*.??????"], settleMs: 20 });
    expect(arrivalWarnings(c.value)).to.deep.equal([]);
  });
  it("names bad arrival parameters", () => {
    const cases: [unknown, RegExp][] = [
      [{ filter: { arrivals: "yes" } }, /`filter.arrivals` must be boolean/],
      [{ filter: { temporary: "*.part" } }, /`filter.temporary` must be array/],
      [{ filter: { temporary: [""] } }, /`filter.temporary.0` must NOT have fewer than 1 characters/],
      [{ filter: { settleMs: -1 } }, /`filter.settleMs` must be >= 0/],
      [{ filter: { settleMs: 1.5 } }, /`filter.settleMs` must be integer/],
      [
        { filter: { types: ["IN_CREATE", "IN_DELETE"] } },
        /`filter.types` \(IN_CREATE, IN_DELETE\) selects no arrival.*set `filter.arrivals` to false/,
      ],
    ];
    for (const [patch, re] of cases) {
      const c = checkFeedConfig({ source: mqtt, ...(patch as object) });
      expect(c.ok, JSON.stringify(patch)).to.equal(false);
      if (!c.ok) expect(c.error).to.match(re);
    }
    expect(checkFeedConfig({ source: mqtt, filter: { arrivals: false, types: ["IN_DELETE"] } }).ok).to.equal(true);
  });
  it("says when types or source flags leave a kind of arrival out", () => {
    const c = checkFeedConfig({
      source: { kind: "dcache", url: "http://d:3880", paths: ["/a"], flags: ["IN_CLOSE_WRITE"] },
      filter: { types: ["IN_CLOSE_WRITE"] },
    });
    if (!c.ok) throw new Error(c.error);
    const w = arrivalWarnings(c.value as FeedConfig);
    expect(w).to.have.length(2);
    expect(w.join("\n"))
      .to.match(/filter.types leaves out IN_MOVED_TO/)
      .and.match(/source.flags leaves out IN_MOVED_TO/);
    const all = checkFeedConfig({ source: { kind: "dcache", url: "http://d:3880", paths: ["/a"], flags: ["IN_CLOSE", "IN_MOVE"] } });
    if (!all.ok) throw new Error(all.error);
    expect(arrivalWarnings(all.value)).to.deep.equal([]);
  });
  it("the filter stage still narrows arrivals by path and type", () => {
    const f = compileFilter({ ...ON, paths: ["**/*.nxs"], types: ["IN_MOVED_TO"] });
    expect(f(ev("/d/a.nxs", ["IN_MOVED_TO"]))).to.equal(true);
    expect(f(ev("/d/a.nxs", ["IN_CLOSE_WRITE"]))).to.equal(false);
  });
});

describe("functions/_shared inputFiles: a file moved in is a file to process", () => {
  it("takes IN_MOVED_TO events as files and skips what is gone", () => {
    const moved = ev("/d/b.nxs", ["IN_MOVED_TO"], { oldPath: "/d/a.nxs", cookie: "c" });
    const { files, skipped } = inputFiles({ events: [moved, ev("/d/a.nxs", ["IN_MOVED_FROM"]), ev("/d/c.nxs", ["IN_CLOSE_WRITE"])] });
    expect(files.map((f) => f.path)).to.deep.equal(["/d/b.nxs", "/d/c.nxs"]);
    expect(files[0]!.event?.type).to.equal("org.dcache.storage.IN_MOVED_TO");
    expect(skipped.map((s) => s.path)).to.deep.equal(["/d/a.nxs"]);
  });
});

describe("feeds/provider batch stage: settle window", () => {
  const limits = { maxEvents: 3, maxWaitMs: 100, maxBytes: 900_000 };
  const entry = (seq: number): OutboxEntry => ({ seq, eventId: `e${seq}`, body: "{}", bytes: 2, receivedAt: 0 });
  it("cuts only settled entries, from the head", () => {
    const q = [entry(1), entry(2), entry(3), entry(4)];
    const settled = new Set([1, 2, 4]);
    const cut = cutBatch(q, limits, (e) => settled.has(e.seq));
    expect(cut.kind === "batch" && cut.entries.map((e) => e.seq)).to.deep.equal([1, 2]);
    expect(cutBatch(q, limits, () => false).kind).to.equal("empty");
  });
  it("is due no sooner than the head's settle window, which hides inside maxWaitMs", () => {
    const q = [entry(1)];
    expect(batchDueAt(q, 2, limits, () => 1000, 20)).to.equal(1100);
    expect(batchDueAt(q, 2, { ...limits, maxWaitMs: 5 }, () => 1000, 20)).to.equal(1020);
    // a full batch is due at once, but waits for its newest event to settle, so that it goes whole
    const full = [entry(1), entry(2), entry(3), entry(4)];
    const at = (e: OutboxEntry) => 1000 + e.seq;
    expect(batchDueAt(full, 8, limits, at, 0)).to.equal(0);
    expect(batchDueAt(full, 8, limits, at, 20)).to.equal(1023);
    const cut = cutBatch(full, limits, (e) => at(e) + 20 <= 1023);
    expect(cut.kind === "batch" && cut.entries.length).to.equal(3);
  });
});

describe("feeds/provider delivery: queued arrivals of one file coalesce", function () {
  this.timeout(10_000);
  let dir: string;
  let store: SqliteStore;
  let fires: { body: { events: StorageCloudEvent[] }; at: number }[];
  let gate: Promise<void> | undefined;
  let logs: string[];
  let metrics: ProviderMetrics;
  const deliveries: Delivery[] = [];
  const REG = "guest/arrivals";

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "arrival-test-"));
    store = new SqliteStore(join(dir, "p.sqlite"));
    await store.migrate();
    await store.putRegistration({
      id: REG,
      namespace: "guest",
      trigger: "arrivals",
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
    gate = undefined;
    logs = [];
    metrics = new ProviderMetrics();
  });
  afterEach(async () => {
    for (const d of deliveries.splice(0)) await d.stop();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function delivery(arrivals: { settleMs: number } | undefined, maxWaitMs = 0): Delivery {
    const d = new Delivery({
      regId: REG,
      label: `/${REG}`,
      store,
      target: { apihost: "http://127.0.0.1:9", namespace: "guest", trigger: "arrivals", authKey: "k:k" },
      batch: { maxEvents: 100, maxWaitMs, maxBytes: 900_000 },
      delivery: { maxAgeSeconds: 60, deadLetter: true, ledger: false, reconcileSeconds: 0 },
      arrivals,
      stats: emptyStats(),
      backoff: { baseMs: 10, maxMs: 20 },
      maxPending: 1000,
      fireTimeoutMs: 1000,
      fire: async (_t, body): Promise<FireOutcome> => {
        fires.push({ body: JSON.parse(body), at: performance.now() });
        await gate;
        return { kind: "acknowledged", status: 202 };
      },
      onDisable: () => {},
      log: new Logger((l) => logs.push(l), undefined, {}, "debug"),
      metrics,
    });
    deliveries.push(d);
    return d;
  }

  async function add(d: Delivery, ...events: StorageCloudEvent[]): Promise<void> {
    const entries = await store.appendIntake(REG, {
      events: events.map((e) => ({
        eventId: e.id,
        body: JSON.stringify(e),
        bytes: Buffer.byteLength(JSON.stringify(e)),
        receivedAt: Date.now(),
      })),
      dead: [],
    });
    d.enqueue(entries);
  }
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const fired = () => fires.flatMap((f) => f.body.events);

  it("a file closed three times within the settle window fires once, as last closed", async () => {
    const d = delivery({ settleMs: 150 });
    const t0 = performance.now();
    for (let i = 0; i < 3; i++) {
      await add(d, ev("/d/grow.nxs", ["IN_CLOSE_WRITE"], { size: 100 * (i + 1) }));
      await sleep(30);
    }
    await add(d, ev("/d/other.nxs", ["IN_CLOSE_WRITE"]));
    await sleep(400);
    expect(
      fired()
        .map((e) => e.subject)
        .sort(),
    ).to.deep.equal(["/d/grow.nxs", "/d/other.nxs"]);
    expect(fired().find((e) => e.subject === "/d/grow.nxs")!.data.size).to.equal(300);
    // not before the window after the first close
    expect(fires[0]!.at - t0).to.be.at.least(145);
    expect(metrics.coalesced.get({ trigger: `/${REG}` })).to.equal(2);
    // the replaced rows left the outbox too: nothing fires again after a restart
    expect(await store.loadOutbox(REG)).to.deep.equal([]);
    expect(logs.some((l) => l.includes("replaced by their newer arrival"))).to.equal(true);
  });

  it("without a settle window the same closes fire separately (the window is what merges them)", async () => {
    const d = delivery({ settleMs: 0 });
    for (let i = 0; i < 3; i++) {
      await add(d, ev("/d/grow.nxs", ["IN_CLOSE_WRITE"], { size: i }));
      await sleep(30);
    }
    await sleep(100);
    expect(fired().map((e) => e.subject)).to.deep.equal(["/d/grow.nxs", "/d/grow.nxs", "/d/grow.nxs"]);
  });

  it("a rename replaces the queued arrival of the old name", async () => {
    const d = delivery({ settleMs: 100 });
    await add(d, ev("/d/scan.nxs", ["IN_CLOSE_WRITE"]), ev("/d/keep.nxs", ["IN_CLOSE_WRITE"]));
    await add(d, ev("/d/final.nxs", ["IN_MOVED_TO"], { oldPath: "/d/scan.nxs", cookie: "c1" }));
    await sleep(300);
    expect(fired().map((e) => e.subject)).to.deep.equal(["/d/final.nxs", "/d/keep.nxs"]);
    expect(await store.loadOutbox(REG)).to.deep.equal([]);
  });

  it("an arrival while the file's earlier one is in flight is a new arrival", async () => {
    const d = delivery({ settleMs: 10 });
    let open!: () => void;
    gate = new Promise((r) => (open = r));
    await add(d, ev("/d/a.nxs", ["IN_CLOSE_WRITE"], { size: 1 }));
    while (fires.length === 0) await sleep(5);
    await add(d, ev("/d/a.nxs", ["IN_CLOSE_WRITE"], { size: 2 }));
    open();
    gate = undefined;
    await sleep(200);
    expect(fired().map((e) => e.data.size)).to.deep.equal([1, 2]);
    expect(metrics.coalesced.get({ trigger: `/${REG}` })).to.equal(0);
  });

  it("coalesces what a restart loads from the outbox, and nothing when arrivals are off", async () => {
    // two arrivals of one file left in the outbox by a crash
    await store.appendIntake(REG, {
      events: [1, 2].map((i) => ({
        eventId: `x${i}`,
        body: JSON.stringify(ev("/d/x.nxs", ["IN_CLOSE_WRITE"], { size: i })),
        bytes: 300,
        receivedAt: Date.now(),
      })),
      dead: [],
    });
    const d = delivery({ settleMs: 10 });
    d.enqueue(await store.loadOutbox(REG));
    await sleep(150);
    expect(fired().map((e) => e.data.size)).to.deep.equal([2]);
    await d.stop();
    fires = [];
    const raw = delivery(undefined);
    await add(raw, ev("/d/y.nxs", ["IN_CLOSE_WRITE"]), ev("/d/y.nxs", ["IN_CLOSE_WRITE"]));
    await sleep(100);
    expect(fired()).to.have.length(2);
  });
});

describe("feeds/provider intake: the arrival stage before the filter", () => {
  it("stores only arrivals and counts what it passed over, temporary names in the debug log", async () => {
    const dir = mkdtempSync(join(tmpdir(), "arrival-intake-"));
    const store = new SqliteStore(join(dir, "p.sqlite"));
    await store.migrate();
    try {
      const queued: OutboxEntry[] = [];
      const logs: string[] = [];
      const metrics = new ProviderMetrics();
      const intake = new Intake({
        regId: "guest/t",
        label: "/guest/t",
        store,
        delivery: () =>
          ({
            hasRoom: () => true,
            room: async () => {},
            enqueue: (e: OutboxEntry[]) => queued.push(...e),
            stats: emptyStats(),
          }) as unknown as Delivery,
        arrival: () => compileArrival(ON),
        filter: () => compileFilter({ ...ON, exclude: ["**/skip/**"] }),
        maxEventBytes: () => 100_000,
        metrics,
        log: new Logger((l) => logs.push(l), undefined, {}, "debug"),
        onState: () => {},
      });
      const msg = (name: string, mask: string[], extra: object = {}) => ({
        payload: {
          event: { name, mask, ...extra },
          path: "/beam",
          subscription: "http://d/api/v1/events/channels/C/subscriptions/inotify/S",
        },
        receivedAt: new Date(),
        origin: "test",
      });
      await intake.deliver([
        msg("a.nxs", ["IN_CREATE"]),
        msg("a.nxs.part", ["IN_CLOSE_WRITE"]),
        msg("a.nxs", ["IN_MOVED_TO"], { cookie: "k" }),
        msg(".b.h5.Qw3rTy", ["IN_CLOSE_WRITE"]),
        msg("b.h5", ["IN_MOVED_TO"], { cookie: "j" }),
        msg("scan", ["IN_CREATE", "IN_ISDIR"]),
        msg("c.h5", ["IN_CLOSE_WRITE"]),
        msg("c.h5", ["IN_DELETE"]),
        { payload: Buffer.from("{not json"), receivedAt: new Date(), origin: "test" },
      ]);
      expect(queued.map((e) => JSON.parse(e.body).subject)).to.deep.equal(["/beam/a.nxs", "/beam/b.h5", "/beam/c.h5"]);
      const t = { trigger: "/guest/t" };
      expect(metrics.notArrivals.get({ ...t, reason: "temporary" })).to.equal(2);
      expect(metrics.notArrivals.get({ ...t, reason: "directory" })).to.equal(1);
      expect(metrics.notArrivals.get({ ...t, reason: "not-arrival" })).to.equal(2);
      expect(metrics.filtered.get(t)).to.equal(5);
      expect(metrics.malformed.get(t)).to.equal(1);
      const debug = logs.filter((l) => l.includes("a temporary name is not an arrival"));
      expect(debug.map((l) => JSON.parse(l).path)).to.deep.equal(["/beam/a.nxs.part", "/beam/.b.h5.Qw3rTy"]);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

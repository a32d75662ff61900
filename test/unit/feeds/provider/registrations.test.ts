// The feed lifecycle on the provider side (registrations/), in-process: the real SQLite store in a
// temporary file, the OpenWhisk trigger API answered by the loopback stand-in (test/feeds/support,
// an in-process HTTP handler that speaks the contract), and a source that the test drives by hand.
// What is checked is OpenWhisk's feed contract (contracts: "Feeds") and the reference providers'
// practice: ownership is proven by GETting the trigger with the given key; READ answers
// `{config, status:{active, dateChanged, dateChangedISO, reason}}`; a fire refused with 404 disables
// the registration (`reason.kind` AUTO, with the status); credentials never show in READ, the store
// or the log.
import { expect } from "chai";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { SourceParams } from "../../../../feeds/common/feed-params.ts";
import { Logger } from "../../../../feeds/provider/log.ts";
import { ProviderMetrics } from "../../../../feeds/provider/metrics.ts";
import { assembleRegistrations, type Assembled } from "../../../../feeds/provider/registrations/assemble.ts";
import type { Registrations } from "../../../../feeds/provider/registrations/registrations.ts";
import { ApiError } from "../../../../feeds/provider/registrations/types.ts";
import { SecretBox } from "../../../../feeds/provider/secrets.ts";
import type { Source, SourceRegistration, SourceSink, StopOptions } from "../../../../feeds/provider/sources/types.ts";
import { SqliteStore } from "../../../../feeds/provider/store/sqlite.ts";
import { GUEST_KEY, OpenWhiskStandIn } from "../../../feeds/support/openwhisk-standin.ts";

const OTHER_KEY = "0e6a2b4c-1111-2222-3333-444455556666:someoneElsesKeyWhichOpenWhiskDoesNotKnowAtAll";
const MQTT_PASSWORD = "mqtt-Pa55-s3cret";
const config = (extra: Record<string, unknown> = {}) => ({
  source: { kind: "mqtt", url: "mqtt://broker.example.org:1883", topic: "dcache/events/#", username: "feeds", password: MQTT_PASSWORD },
  delivery: { ledger: false },
  batch: { maxWaitMs: 0 },
  ...extra,
});

/** A source the test drives: records starts and stops, and hands out the sink to deliver messages into. */
class ManualSource implements Source {
  readonly kind = "mqtt" as const;
  readonly started: { id: string; config: SourceParams; cursor: string | null }[] = [];
  readonly stopped: { id: string; forget: boolean }[] = [];
  readonly sinks = new Map<string, SourceSink>();
  async start(reg: SourceRegistration, sink: SourceSink) {
    this.started.push({ id: reg.id, config: reg.config, cursor: reg.cursor });
    this.sinks.set(reg.id, sink);
    return {
      stop: async (opts?: StopOptions) => {
        this.stopped.push({ id: reg.id, forget: !!opts?.forget });
        if (this.sinks.get(reg.id) === sink) this.sinks.delete(reg.id);
      },
    };
  }
  /** one IN_CLOSE_WRITE of `path` as dCache's SSE envelope carries it */
  async closeWrite(id: string, path: string): Promise<void> {
    const sink = this.sinks.get(id);
    if (!sink) throw new Error(`no running source for ${id}`);
    const i = path.lastIndexOf("/");
    await sink.deliver([
      {
        payload: { event: { name: path.slice(i + 1), mask: ["IN_CLOSE_WRITE"] }, path: path.slice(0, i) },
        receivedAt: new Date(),
        origin: "mqtt://broker.example.org:1883/dcache/events",
      },
    ]);
  }
}

async function until(what: string, cond: () => boolean, timeoutMs = 3_000): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

async function rejects(p: Promise<unknown>, status: number, message: RegExp): Promise<void> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e, "expected a refusal").to.be.instanceOf(ApiError);
  expect((e as ApiError).status, (e as ApiError).message).to.equal(status);
  expect((e as ApiError).message).to.match(message);
}

describe("feeds/provider registrations: the feed lifecycle in-process", function () {
  this.timeout(10_000);
  let dir: string;
  let store: SqliteStore;
  let ow: OpenWhiskStandIn;
  let source: ManualSource;
  let sys: Assembled;
  let regs: Registrations;
  let logLines: string[];

  before(async () => {
    ow = new OpenWhiskStandIn();
    await ow.start();
  });
  after(async () => {
    await ow.stop();
  });
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "unit-registrations-"));
    store = new SqliteStore(join(dir, "provider.sqlite"));
    await store.migrate();
    ow.triggers.clear();
    ow.triggers.add("closed");
    ow.attempts.length = 0;
    ow.answer = () => ({ status: 202 });
    source = new ManualSource();
    logLines = [];
    sys = assembleRegistrations({
      store,
      box: SecretBox.fromString("8f".repeat(32)),
      sources: new Map([["mqtt", source]]),
      metrics: new ProviderMetrics(),
      log: new Logger((l) => logLines.push(l)),
      apihost: ow.url,
      replicaId: "unit",
      backoff: { baseMs: 10, maxMs: 20 },
      maxPending: 1000,
      fireTimeoutMs: 2_000,
    });
    regs = sys.registrations;
  });
  afterEach(async () => {
    await sys.runner.shutdown(0);
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const create = (extra: Record<string, unknown> = {}, key = GUEST_KEY, triggerName = "/guest/closed") =>
    regs.create({ triggerName, authKey: key, config: config(extra) });

  it("CREATE with the owner's key: active, the source started with its credentials, nothing secret in READ, the store or the log", async () => {
    const view = await create();
    expect(view.status.active).to.equal(true);
    expect(view.status.reason).to.equal(null);
    expect(new Date(view.status.dateChangedISO).getTime()).to.equal(view.status.dateChanged);
    expect(view.config.source).to.include({ kind: "mqtt", username: "feeds", password: "[redacted]" });
    expect(source.started).to.have.length(1);
    expect(source.started[0]!.config).to.include({ password: MQTT_PASSWORD });
    const rec = (await store.getRegistration("guest/closed"))!;
    expect(rec.state).to.equal("active");
    const stored = JSON.stringify(rec);
    expect(stored).to.not.include(MQTT_PASSWORD);
    expect(stored).to.not.include(GUEST_KEY.split(":")[1]!);
    expect(logLines.join("")).to.not.include(MQTT_PASSWORD);
    expect(logLines.join("")).to.not.include(GUEST_KEY.split(":")[1]!);
  });

  it("CREATE with a key that is not the trigger owner's is refused, and nothing is stored", async () => {
    await rejects(create({}, OTHER_KEY), 403, /not authorized for trigger \/guest\/closed/);
    expect(await store.listRegistrations()).to.deep.equal([]);
    expect(source.started).to.deep.equal([]);
  });

  it("CREATE is refused for a trigger OpenWhisk does not have, a malformed name or key, and bad parameters", async () => {
    await rejects(create({}, GUEST_KEY, "/guest/nope"), 404, /trigger \/guest\/nope does not exist/);
    await rejects(create({}, GUEST_KEY, "closed"), 400, /`triggerName` must look like \/namespace\/trigger/);
    await rejects(create({}, "no-colon"), 400, /`authKey` must be the trigger owner's OpenWhisk key/);
    await rejects(create({ batch: { maxEvents: 0 } }), 400, /`batch.maxEvents` must be >= 1/);
    await rejects(create({ filter: { paths: ["/d/{a,b"] } }), 400, /bad glob/);
    await rejects(
      regs.create({
        triggerName: "/guest/closed",
        authKey: GUEST_KEY,
        config: { source: { kind: "dcache", url: "https://d:3880", paths: ["/d"] } },
      }),
      400,
      /`source.kind` "dcache" is not served by this provider \(available: mqtt\)/,
    );
    expect(await store.listRegistrations()).to.deep.equal([]);
  });

  it("/_/name: OpenWhisk's answer gives the real namespace", async () => {
    await create({}, GUEST_KEY, "/_/closed");
    expect((await store.listRegistrations()).map((r) => r.id)).to.deep.equal(["guest/closed"]);
    expect((await regs.read("/_/closed", GUEST_KEY)).status.active).to.equal(true);
  });

  it("READ, UPDATE, PAUSE, UNPAUSE and DELETE refuse a wrong key, a missing key and an unknown trigger", async () => {
    await create();
    for (const call of [
      (k?: string) => regs.read("/guest/closed", k),
      (k?: string) => regs.update("/guest/closed", k, { batch: { maxEvents: 5 } }),
      (k?: string) => regs.pause("/guest/closed", k),
      (k?: string) => regs.unpause("/guest/closed", k),
      (k?: string) => regs.remove("/guest/closed", k),
    ]) {
      await rejects(call(OTHER_KEY), 403, /not authorized/);
      await rejects(call(undefined), 401, /owner's key is missing/);
    }
    await rejects(regs.read("/guest/other", GUEST_KEY), 404, /no feed registration for trigger \/guest\/other/);
    expect((await regs.read("/guest/closed", GUEST_KEY)).status.active, "still there, unchanged").to.equal(true);
    expect((await regs.read("/guest/closed", GUEST_KEY)).config.batch.maxEvents).to.equal(1000);
  });

  it("events from the source are fired to the trigger with the owner's key", async () => {
    await create();
    await source.closeWrite("guest/closed", "/data/run-1.nxs");
    await until("the fire", () => ow.accepted("closed").length === 1);
    // the stand-in accepts only the owner's key (else 401, which would disable the registration)
    expect(ow.acceptedEvents("closed").map((e) => e.subject)).to.deep.equal(["/data/run-1.nxs"]);
    let view = await regs.read("/guest/closed", GUEST_KEY);
    const end = performance.now() + 3_000;
    while (view.delivery.fires === 0 && performance.now() < end) {
      await new Promise((r) => setTimeout(r, 2)); // the store answers in microtasks: let the fire's answer in
      view = await regs.read("/guest/closed", GUEST_KEY);
    }
    expect(view.delivery).to.include({ fires: 1, firedEvents: 1, pending: 0, lastFireStatus: 202 });
  });

  it("UPDATE merges over the stored config; a new source restarts it from no cursor, dropping upstream state", async () => {
    await create();
    const v = await regs.update("/guest/closed", GUEST_KEY, { batch: { maxEvents: 5 } });
    expect(v.config.batch).to.include({ maxEvents: 5, maxWaitMs: 0 });
    expect(v.config.source).to.include({ topic: "dcache/events/#", password: "[redacted]" });
    // every change restarts what runs from the stored record; the same source keeps its upstream state
    expect(source.stopped, "same source: upstream state kept").to.deep.equal([{ id: "guest/closed", forget: false }]);
    await rejects(regs.update("/guest/closed", GUEST_KEY, { batch: { maxBytes: 10 } }), 400, /`batch.maxBytes` must be >= 1024/);
    await rejects(regs.update("/guest/closed", GUEST_KEY, [1]), 400, /the update must be an object/);
    const moved = await regs.update("/guest/closed", GUEST_KEY, { source: { topic: "facility/other/#" } });
    expect(moved.config.source).to.include({ topic: "facility/other/#" });
    expect(source.stopped.at(-1), "another source: the old one's upstream state goes").to.deep.equal({ id: "guest/closed", forget: true });
    expect(source.started.map((s) => (s.config as { topic: string }).topic)).to.deep.equal([
      "dcache/events/#",
      "dcache/events/#",
      "facility/other/#",
    ]);
    expect(source.started.at(-1)!.cursor).to.equal(null);
    expect(((await store.getRegistration("guest/closed"))!.publicConfig as { batch: { maxEvents: number } }).batch.maxEvents).to.equal(5);
  });

  it("PAUSE keeps events in the outbox and says why; UNPAUSE fires them", async () => {
    await create();
    const paused = await regs.pause("/guest/closed", GUEST_KEY);
    expect(paused.status.active).to.equal(false);
    expect(paused.status.reason).to.include({ kind: "USER" });
    expect((await store.getRegistration("guest/closed"))!.state).to.equal("paused");
    await source.closeWrite("guest/closed", "/data/a.nxs");
    await source.closeWrite("guest/closed", "/data/b.nxs");
    await new Promise((r) => setTimeout(r, 50));
    expect(ow.attempts).to.deep.equal([]);
    expect((await regs.read("/guest/closed", GUEST_KEY)).delivery.pending).to.equal(2);
    // PAUSE twice changes nothing
    expect((await regs.pause("/guest/closed", GUEST_KEY)).status.dateChanged).to.equal(paused.status.dateChanged);
    const resumed = await regs.unpause("/guest/closed", GUEST_KEY);
    expect(resumed.status).to.include({ active: true, reason: null });
    await until("the fire", () => ow.acceptedEvents("closed").length === 2);
    expect(ow.acceptedEvents("closed").map((e) => e.subject)).to.deep.equal(["/data/a.nxs", "/data/b.nxs"]);
    expect((await store.getRegistration("guest/closed"))!.state).to.equal("active");
  });

  it("a fire refused with 404 (trigger deleted) disables the registration; UNPAUSE is refused until the trigger exists again", async () => {
    await create();
    ow.triggers.delete("closed");
    await source.closeWrite("guest/closed", "/data/a.nxs");
    await until("the refused fire", () => ow.attempts.length === 1);
    await until("disabled", () => source.stopped.length === 1);
    const view = await regs.read("/guest/closed", GUEST_KEY);
    expect(view.status.active).to.equal(false);
    expect(view.status.reason).to.deep.include({ kind: "AUTO", statusCode: 404 });
    expect(view.delivery.pending, "the event is kept").to.equal(1);
    expect((await store.getRegistration("guest/closed"))!.state).to.equal("disabled");
    await rejects(regs.unpause("/guest/closed", GUEST_KEY), 404, /does not exist in OpenWhisk/);
    ow.triggers.add("closed");
    const back = await regs.unpause("/guest/closed", GUEST_KEY);
    expect(back.status.active).to.equal(true);
    await until("the kept event fires", () => ow.acceptedEvents("closed").length === 1);
    expect(source.started).to.have.length(2);
  });

  it("DELETE removes the registration and its upstream state; READ then finds nothing", async () => {
    await create();
    await regs.remove("/guest/closed", GUEST_KEY);
    expect(await store.getRegistration("guest/closed")).to.equal(undefined);
    expect(source.stopped).to.deep.equal([{ id: "guest/closed", forget: true }]);
    await rejects(regs.read("/guest/closed", GUEST_KEY), 404, /no feed registration/);
    expect(sys.runner.size).to.equal(0);
  });

  it("CREATE again on the same trigger replaces the old registration", async () => {
    await create();
    await regs.pause("/guest/closed", GUEST_KEY);
    const again = await create({ batch: { maxEvents: 7, maxWaitMs: 0 } });
    expect(again.status.active).to.equal(true);
    expect(again.config.batch.maxEvents).to.equal(7);
    expect(await store.listRegistrations()).to.have.length(1);
    expect(source.stopped.at(-1), "the old registration's upstream state goes").to.deep.equal({ id: "guest/closed", forget: true });
  });

  it("a provider restart (the owner starts what the store holds) resumes stored registrations in their state, with their sealed credentials", async () => {
    await create();
    await regs.pause("/guest/closed", GUEST_KEY);
    await sys.runner.shutdown(0);
    const again = assembleRegistrations({
      store,
      box: SecretBox.fromString("8f".repeat(32)),
      sources: new Map([["mqtt", source]]),
      metrics: new ProviderMetrics(),
      log: new Logger(() => {}),
      apihost: ow.url,
      replicaId: "unit",
      backoff: { baseMs: 10, maxMs: 20 },
      maxPending: 1000,
      fireTimeoutMs: 2_000,
    });
    await again.owner.start();
    try {
      const view = await again.registrations.read("/guest/closed", GUEST_KEY);
      expect(view.status.active).to.equal(false);
      expect(view.status.reason).to.include({ kind: "USER" });
      expect(source.started.at(-1)!.config).to.include({ password: MQTT_PASSWORD });
    } finally {
      await again.runner.shutdown(0);
    }
  });
});

// Crashes and restarts: the provider killed with SIGKILL mid-stream (SQLite and PostgreSQL stores),
// a broker restart, and a graceful shutdown that flushes waiting batches.
import { expect } from "chai";
import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import mqtt from "mqtt";
import pg from "pg";
import type { RunningService } from "../support/service.ts";
import { GUEST_KEY, OpenWhiskStandIn } from "./support/openwhisk-standin.ts";
import { ProviderClient, envelope, publisher, startProvider, tmp, uniqueTopic, waitFor } from "./support/provider.ts";
import { freePort } from "../../scripts/stack/broker.ts";

const PG_URL = process.env.FEED_TEST_PG ?? "postgres://postgres@127.0.0.1:5432/test";
const SECRETS = ["mqtt-resilience-secret-pw", GUEST_KEY.split(":")[1]!, "s3cret-provider-pass-0123"];
const allOutput: string[] = [];

/**
 * A private Mosquitto on an ephemeral port (the system one must never be restarted by tests), with
 * persistence and a queue deep enough to hold what arrives while the provider is down — the broker
 * settings a deployment needs too (Mosquitto's default max_queued_messages of 1000 drops the rest).
 */
class PrivateBroker {
  proc: ChildProcess | undefined;
  port = 0;
  constructor(readonly dir: string) {}
  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }
  async start(): Promise<void> {
    if (!this.port) this.port = await freePort();
    // mosquitto started as root drops to the `mosquitto` user, which must be able to write its database
    chmodSync(this.dir, 0o777);
    const conf = join(this.dir, "mosquitto.conf");
    writeFileSync(
      conf,
      `listener ${this.port} 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location ${this.dir}/\nautosave_interval 1\nmax_queued_messages 1000000\nmax_inflight_messages 100\n`,
    );
    this.proc = spawn("mosquitto", ["-c", conf], { stdio: "ignore" });
    this.proc.once("error", () => {});
    await waitFor(
      "private mosquitto listening",
      async () => {
        const c = await mqtt.connectAsync(this.url, { reconnectPeriod: 0, connectTimeout: 500 });
        await c.endAsync();
        return true;
      },
      10000,
      100,
    ).catch((e) => {
      throw new Error(`cannot start a private mosquitto (needs the mosquitto binary on PATH): ${e.message}`);
    });
  }
  async stop(): Promise<void> {
    if (!this.proc || this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const exited = new Promise((r) => this.proc!.once("exit", r));
    this.proc.kill("SIGTERM");
    await exited;
  }
}

const brokerDir = tmp("feed-broker-");
const broker = new PrivateBroker(brokerDir);
before(async () => broker.start());
after(async () => {
  await broker.stop();
  rmSync(brokerDir, { recursive: true, force: true });
});

function expectedSubjects(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `/data/beamline/run-${String(i).padStart(5, "0")}.nxs`);
}

for (const storeKind of ["sqlite", "postgres"] as const) {
  describe(`feeds/provider crash safety (${storeKind} store)`, function () {
    this.timeout(60000);
    const ow = new OpenWhiskStandIn();
    const dataDir = tmp("feed-kill-");
    const schema = `feedkill_${process.pid}_${Date.now().toString(36)}`;
    const extra = storeKind === "postgres" ? ["--store", `${PG_URL}?schema=${schema}`] : [];
    let provider: RunningService | undefined;

    before(async () => {
      await ow.start();
      if (storeKind === "postgres") {
        const c = new pg.Client({ connectionString: PG_URL });
        await c.connect().catch((e) => {
          throw new Error(`PostgreSQL is needed at ${PG_URL} (FEED_TEST_PG): ${e.message}`);
        });
        await c.end();
      }
    });
    after(async () => {
      if (provider) allOutput.push(provider.output());
      await provider?.stop();
      await ow.stop();
      rmSync(dataDir, { recursive: true, force: true });
      if (storeKind === "postgres") {
        const c = new pg.Client({ connectionString: PG_URL });
        await c.connect();
        await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
        await c.end();
      }
    });

    it("SIGKILL mid-stream, restart: every event delivered at least once, duplicates recognisable by id", async () => {
      const N = storeKind === "postgres" ? 600 : 1500;
      ow.triggers.add("crashy");
      // slow acknowledgements keep events in flight and in the outbox when the kill comes
      ow.answer = () => ({ status: 202 });
      provider = await startProvider({ dataDir, apihost: ow.url, extra });
      let api = new ProviderClient(provider.urls.provider!, GUEST_KEY);
      const topic = uniqueTopic(`crashy-${storeKind}`);
      const created = await api.create("crashy", GUEST_KEY, {
        source: { kind: "mqtt", url: broker.url, topic, username: "feed", password: SECRETS[0] },
        batch: { maxEvents: 40, maxWaitMs: 20 },
      });
      expect(created.status, JSON.stringify(created.body)).to.equal(201);
      await waitFor("source connected", async () => (await api.read("crashy")).body.source.state === "connected");

      const pub = await publisher(broker.url);
      let published = 0;
      const publishing = (async () => {
        for (; published < N; published++) {
          await pub.publishAsync(topic, envelope(published), { qos: 1 });
          if (published % 50 === 0) await new Promise((r) => setTimeout(r, 5));
        }
      })();
      await waitFor("some events fired", () => ow.acceptedEvents("crashy").length >= 300);
      const firedBeforeKill = ow.acceptedEvents("crashy").length;
      allOutput.push(provider.output());
      provider.proc.kill("SIGKILL");
      await new Promise((r) => provider!.proc.once("exit", r));
      expect(firedBeforeKill).to.be.lessThan(N);
      await new Promise((r) => setTimeout(r, 300)); // the broker queues for the dead session meanwhile
      provider = await startProvider({ dataDir, apihost: ow.url, extra });
      api = new ProviderClient(provider.urls.provider!, GUEST_KEY);
      await publishing;
      await pub.endAsync();

      await waitFor(`all ${N} distinct events delivered`, () => new Set(ow.acceptedEvents("crashy").map((e) => e.id)).size >= N, 30000);
      const events = ow.acceptedEvents("crashy");
      const bySubject = new Map<string, Set<string>>();
      for (const e of events) (bySubject.get(e.subject) ?? bySubject.set(e.subject, new Set()).get(e.subject)!).add(e.id);
      expect([...bySubject.keys()].sort()).to.deep.equal(expectedSubjects(N));
      // a duplicate (redelivered by the broker or re-fired from the outbox) carries the same id
      for (const ids of bySubject.values()) expect(ids.size).to.equal(1);
      const duplicates = events.length - N;
      console.log(`      ${storeKind}: ${N} events, ${firedBeforeKill} fired before SIGKILL, ${duplicates} duplicates after restart`);
      // duplicates the broker redelivered may still be on their way through the outbox
      await waitFor("the outbox drained", async () => (await api.read("crashy")).body.delivery.pending === 0, 15000);
      const read = await api.read("crashy");
      expect(read.body.status.active).to.equal(true);
      // every file of the stream is in the ledger once, its outcome followed to the end
      let files: Record<string, number> = {};
      await waitFor(
        "every file's outcome followed",
        async () => {
          files = (await api.read("crashy")).body.files;
          return files.succeeded === N;
        },
        15000,
      ).catch((e: Error) => {
        throw new Error(`${e.message}; the ledger counts ${JSON.stringify(files)}`);
      });
    });
  });
}

describe("feeds/provider: broker restart and graceful shutdown", function () {
  this.timeout(60000);
  const ow = new OpenWhiskStandIn();
  const dir = tmp("feed-restart-");
  let provider: RunningService | undefined;

  before(async () => {
    await ow.start();
  });
  after(async () => {
    if (provider) allOutput.push(provider.output());
    await provider?.stop();
    await ow.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("reconnects after the broker restarts and loses nothing", async () => {
    ow.triggers.add("brokered");
    provider = await startProvider({ dataDir: join(dir, "p"), apihost: ow.url });
    const api = new ProviderClient(provider.urls.provider!, GUEST_KEY);
    const url = broker.url;
    const topic = uniqueTopic("restart");
    expect(
      (await api.create("brokered", GUEST_KEY, { source: { kind: "mqtt", url, topic }, batch: { maxEvents: 20, maxWaitMs: 20 } })).status,
    ).to.equal(201);
    await waitFor("connected", async () => (await api.read("brokered")).body.source.state === "connected");
    let pub = await mqtt.connectAsync(url, { protocolVersion: 5 });
    for (let i = 0; i < 50; i++) await pub.publishAsync(topic, envelope(i), { qos: 1 });
    await pub.endAsync();
    await waitFor("first 50", () => ow.acceptedEvents("brokered").length >= 50);
    await broker.stop();
    await waitFor("provider notices", async () => (await api.read("brokered")).body.source.state !== "connected");
    await broker.start();
    // published before the provider is back: the persisted session queues them
    pub = await mqtt.connectAsync(url, { protocolVersion: 5 });
    for (let i = 50; i < 100; i++) await pub.publishAsync(topic, envelope(i), { qos: 1 });
    await pub.endAsync();
    await waitFor("all 100 after the restart", () => ow.acceptedEvents("brokered").length >= 100, 20000).catch((e) => {
      throw new Error(`${e.message}; fired ${ow.acceptedEvents("brokered").length}; provider output:\n${provider!.output().slice(-3000)}`);
    });
    expect(ow.acceptedEvents("brokered").map((e) => e.subject)).to.deep.equal(expectedSubjects(100));
    expect((await api.read("brokered")).body.source.state).to.equal("connected");
  });

  it("SIGTERM flushes a waiting batch before exiting", async () => {
    ow.triggers.add("flushed");
    const api = new ProviderClient(provider!.urls.provider!, GUEST_KEY);
    const url = broker.url;
    expect(
      (
        await api.create("flushed", GUEST_KEY, {
          source: { kind: "mqtt", url, topic: "flush/events" },
          batch: { maxEvents: 1000, maxWaitMs: 600000 },
        })
      ).status,
    ).to.equal(201);
    await waitFor("connected", async () => (await api.read("flushed")).body.source.state === "connected");
    const pub = await mqtt.connectAsync(url, { protocolVersion: 5 });
    for (let i = 0; i < 7; i++) await pub.publishAsync("flush/events", envelope(i), { qos: 1 });
    await pub.endAsync();
    await waitFor("7 waiting", async () => (await api.read("flushed")).body.delivery.pending === 7);
    expect(ow.accepted("flushed")).to.have.length(0);
    const exit = new Promise<number | null>((r) => provider!.proc.once("exit", (code) => r(code)));
    provider!.proc.kill("SIGTERM");
    expect(await exit).to.equal(0);
    expect(ow.accepted("flushed")).to.have.length(1);
    expect(ow.acceptedEvents("flushed").map((e) => e.subject)).to.deep.equal(expectedSubjects(7));
    expect(provider!.output()).to.match(/"msg":"feed provider stopped"/);
  });

  it("no secret appears in any provider log of these runs", () => {
    const text = allOutput.join("\n") + (provider?.output() ?? "");
    expect(text.length).to.be.greaterThan(1000);
    for (const s of SECRETS) expect(text.includes(s), `found ${s.slice(0, 4)}… in the logs`).to.equal(false);
  });
});

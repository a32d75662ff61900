// Three provider replicas on one PostgreSQL store share the registrations through leases. Events flow
// from MQTT (the machine's Mosquitto) and from the local dCache storage (a real process: files written
// into its root become SSE events) into a loopback OpenWhisk stand-in that records every fire. The
// tests SIGKILL replicas under load, restart all of them one by one, and change a registration
// through a replica that does not run it; meanwhile a watcher samples every replica's /health and
// fails the run if two replicas ever run one unit, and no replica may see COMPETING_CLIENT.
import { expect } from "chai";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { MqttClient } from "mqtt";
import pg from "pg";
import { startService, type RunningService } from "../support/service.ts";
import { GUEST_KEY, OpenWhiskStandIn } from "../feeds/support/openwhisk-standin.ts";
import { MQTT_URL, envelope, publisher, tmp, uniqueTopic, waitFor } from "../feeds/support/provider.ts";
import { Cluster, OwnershipWatch, PG_URL, checkPostgres, type Replica } from "./support/cluster.ts";

const LEASE_MS = 2000;
const MQTT_REGS = 4;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("feed provider replicas sharing one PostgreSQL store", function () {
  this.timeout(120_000);
  const ow = new OpenWhiskStandIn();
  const root = tmp("feed-ha-storage-");
  let dcache: RunningService;
  let cluster: Cluster;
  let pub: MqttClient;
  let watch: OwnershipWatch;
  const tag = Date.now().toString(36);
  const topics = Array.from({ length: MQTT_REGS }, (_, k) => uniqueTopic(`ha-${k}`));
  /** subjects expected per trigger */
  const expected = new Map<string, string[]>();
  const takeovers: number[] = [];

  function expect1(trigger: string, subject: string): void {
    expected.set(trigger, [...(expected.get(trigger) ?? []), subject]);
  }

  /** MQTT messages on every topic and files in both dCache directories, until stopped. */
  function load(ratePerTopic: number, filesPerSecond: number): { stop(): Promise<void> } {
    let i = 0;
    let f = 0;
    const base = Math.floor(Math.random() * 1e6) * 100;
    const mqttTimer = setInterval(() => {
      for (let k = 0; k < MQTT_REGS; k++) {
        const n = base + i;
        const dir = `ha-${tag}-m${k}`;
        expect1(`m${k}`, `/data/${dir}/run-${String(n).padStart(5, "0")}.nxs`);
        pub.publish(topics[k]!, envelope(n, dir), { qos: 1 });
      }
      i++;
    }, 1000 / ratePerTopic);
    const fileTimer = setInterval(() => {
      const d = f % 2 === 0 ? "a" : "b";
      const name = `f-${base + f}.nxs`;
      writeFileSync(join(root, "ha", d, name), Buffer.alloc(32, name));
      expect1(`d${d}`, `/ha/${d}/${name}`);
      f++;
    }, 1000 / filesPerSecond);
    return {
      async stop() {
        clearInterval(mqttTimer);
        clearInterval(fileTimer);
        await sleep(50);
      },
    };
  }

  async function allDelivered(timeoutMs = process.env.FEEDS_HA_DEBUG ? 5000 : 40_000): Promise<{ events: number; duplicates: number }> {
    let events = 0;
    let duplicates = 0;
    await waitFor(
      "every event fired at least once",
      () => {
        events = 0;
        duplicates = 0;
        const missing: string[] = [];
        for (const [trigger, subjects] of expected) {
          const got = new Map<string, number>();
          for (const e of ow.acceptedEvents(trigger)) got.set(e.subject, (got.get(e.subject) ?? 0) + 1);
          for (const s of subjects) if (!got.has(s)) missing.push(`${trigger}:${s}`);
          events += subjects.length;
          for (const n of got.values()) duplicates += n - 1;
        }
        if (missing.length > 0 && process.env.FEEDS_HA_DEBUG) {
          for (const [trigger, subjects] of expected) {
            const got = new Set(ow.acceptedEvents(trigger).map((e) => e.subject));
            console.log(trigger, subjects.map((s) => (got.has(s) ? "+" : "-")).join(""));
          }
        }
        if (missing.length > 0)
          throw new Error(
            `${missing.length} not fired yet (${[...new Set(missing.map((m) => m.split(":")[0]))].join(", ")}), e.g. ${missing.slice(0, 3).join(", ")}`,
          );
        return true;
      },
      timeoutMs,
      200,
    );
    return { events, duplicates };
  }

  /** Waits until every unit is run by exactly one live replica, none above its fair share. */
  async function spread(units: number): Promise<Map<string, string[]>> {
    return waitFor(
      "units spread over the live replicas",
      async (): Promise<Map<string, string[]> | false> => {
        const claims = await cluster.claims();
        const share = Math.ceil(units / cluster.live().length);
        const per = new Map<string, number>();
        for (const ids of claims.values()) for (const id of ids) per.set(id, (per.get(id) ?? 0) + 1);
        const ok =
          claims.size === units && [...claims.values()].every((ids) => ids.length === 1) && [...per.values()].every((n) => n <= share);
        return ok ? claims : false;
      },
      30_000,
      100,
    ) as Promise<Map<string, string[]>>;
  }

  /** Waits until every registration's source is connected on the replica running it (files written
   *  before a dCache watch exists make no event: that would be the test's fault, not a loss). */
  async function connected(): Promise<void> {
    const triggers = [...Array.from({ length: MQTT_REGS }, (_, k) => `m${k}`), "da", "db"];
    await waitFor(
      "every source connected on its owner",
      async () => {
        for (const t of triggers) {
          const states = await Promise.all(
            cluster.live().map((r) =>
              r.client
                .read(t)
                .then((x) => x.body?.source?.state as string)
                .catch(() => ""),
            ),
          );
          if (!states.includes("connected")) return false;
        }
        return true;
      },
      30_000,
      100,
    );
  }

  /** SIGKILLs a replica and returns how long until the survivors ran all of its units. */
  async function killAndTime(victim: Replica): Promise<number> {
    const units = (await cluster.held(victim)).map((u) => u.unit);
    const t0 = performance.now();
    await cluster.kill(victim);
    await waitFor(
      "the victim's units taken over",
      async () => {
        const claims = await cluster.claims();
        return units.every((u) => (claims.get(u) ?? []).length === 1);
      },
      30_000,
      25,
    );
    const ms = performance.now() - t0;
    takeovers.push(ms);
    console.log(`      takeover after SIGKILL of ${victim.id} (${units.length} units): ${Math.round(ms)} ms (lease ${LEASE_MS} ms)`);
    return ms;
  }

  before(async () => {
    await checkPostgres();
    pub = await publisher();
    await ow.start();
    for (let k = 0; k < MQTT_REGS; k++) ow.triggers.add(`m${k}`);
    ow.triggers.add("da");
    ow.triggers.add("db");
    mkdirSync(join(root, "ha", "a"), { recursive: true });
    mkdirSync(join(root, "ha", "b"), { recursive: true });
    dcache = await startService(
      "local/dcache/main.ts",
      ["--root", root, "--frontend-port", "0", "--webdav-port", "0", "--inotify", "auto"],
      {
        listeners: ["dcache-frontend", "dcache-webdav"],
      },
    );
    cluster = new Cluster({ apihost: ow.url, leaseMs: LEASE_MS });
    for (let n = 0; n < 3; n++) await cluster.add();
    const api = cluster.replicas[0]!.client;
    for (let k = 0; k < MQTT_REGS; k++) {
      const r = await api.create(`m${k}`, GUEST_KEY, {
        source: { kind: "mqtt", url: MQTT_URL, topic: topics[k] },
        batch: { maxEvents: 100, maxWaitMs: 20 },
      });
      expect(r.status, JSON.stringify(r.body)).to.equal(201);
    }
    // two registrations on one dCache channel (same frontend and credential): one unit
    for (const d of ["a", "b"]) {
      const r = await api.create(`d${d}`, GUEST_KEY, {
        source: {
          kind: "dcache",
          url: dcache.urls["dcache-frontend"],
          paths: [`/ha/${d}`],
          flags: ["IN_CLOSE_WRITE"],
          auth: { username: "demo", password: "demo" },
        },
        batch: { maxEvents: 100, maxWaitMs: 20 },
      });
      expect(r.status, JSON.stringify(r.body)).to.equal(201);
    }
    watch = new OwnershipWatch(cluster, 50);
    watch.start();
  });

  after(async function () {
    if (takeovers.length > 0) console.log(`      takeover times: ${takeovers.map((t) => Math.round(t)).join(", ")} ms`);
    await watch?.stop();
    if (process.env.FEEDS_HA_LOG) writeFileSync(process.env.FEEDS_HA_LOG, cluster?.output() ?? "");
    else if (this.currentTest?.state === "failed") process.stderr.write(cluster?.output().slice(-12000) ?? "");
    await cluster?.stop().catch(() => {});
    await dcache?.stop();
    await ow.stop();
    await pub?.endAsync();
    rmSync(root, { recursive: true, force: true });
  });

  it("spreads the units evenly and keeps the lease table in step with what runs", async () => {
    const claims = await spread(MQTT_REGS + 1);
    const ids = new Set([...claims.values()].flat());
    expect(ids.size, "every replica runs something").to.equal(3);
    // the dCache registrations sharing a channel are one unit, on one replica
    const dUnit = [...claims.keys()].find((u) => u.startsWith("dcache:"))!;
    const owner = cluster.live().find((r) => r.id === claims.get(dUnit)![0])!;
    const held = await cluster.held(owner);
    expect(held.find((u) => u.unit === dUnit)!.registrations).to.deep.equal(["guest/da", "guest/db"]);
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    try {
      const rows = (await c.query(`SELECT unit, owner FROM ${cluster.schema}.provider_leases`)).rows as { unit: string; owner: string }[];
      for (const [unit, [id]] of claims) expect(rows.find((r) => r.unit === unit)?.owner, unit).to.equal(id);
    } finally {
      await c.end();
    }
  });

  it("SIGKILL of one replica, then another, under load: every event fired, each unit run by one replica at a time", async () => {
    await connected();
    const l = load(50, 20);
    await waitFor("events flowing on every registration", () => [...expected.keys()].every((t) => ow.acceptedEvents(t).length > 0), 20_000);
    await sleep(500);
    const claims = await cluster.claims();
    const dOwner = claims.get([...claims.keys()].find((u) => u.startsWith("dcache:"))!)![0]!;
    // first the replica running the dCache channel: its SSE connection must move without competition
    await killAndTime(cluster.live().find((r) => r.id === dOwner)!);
    await sleep(1500);
    await killAndTime(cluster.live()[0]!);
    await sleep(1500);
    await l.stop();
    const { events, duplicates } = await allDelivered();
    console.log(`      ${events} events, all fired; ${duplicates} duplicates (recognisable by id); ${watch.samples} ownership samples`);
    expect(watch.overlaps, "a unit run by two replicas").to.deep.equal([]);
    expect(cluster.output()).not.to.include("COMPETING_CLIENT");
    // duplicates carry the same CloudEvent id: the same subject never arrives under two ids
    for (const t of expected.keys()) {
      const idOf = new Map<string, string>();
      for (const e of ow.acceptedEvents(t)) {
        expect(idOf.get(e.subject) ?? e.id, `id of ${e.subject}`).to.equal(e.id);
        idOf.set(e.subject, e.id);
      }
    }
  });

  it("a frozen replica (SIGSTOP past its lease) loses its units, commits nothing stale, and stops them when it wakes", async () => {
    while (cluster.live().length < 3) await cluster.add();
    await spread(MQTT_REGS + 1);
    const claims = await cluster.claims();
    const dOwner = claims.get([...claims.keys()].find((u) => u.startsWith("dcache:"))!)![0]!;
    // freeze one that runs only MQTT units: a frozen SSE client would (rightly) be kicked by dCache
    const victim = cluster.live().find((r) => r.id !== dOwner && [...claims.values()].some((ids) => ids[0] === r.id))!;
    const units = (await cluster.held(victim)).map((u) => u.unit);
    await connected();
    const l = load(50, 10);
    await sleep(500);
    victim.svc.proc.kill("SIGSTOP");
    victim.alive = false; // not sampled while frozen
    const t0 = performance.now();
    await waitFor(
      "the frozen replica's units taken over",
      async () => {
        const c = await cluster.claims();
        return units.every((u) => (c.get(u) ?? []).length === 1);
      },
      30_000,
      25,
    );
    console.log(`      takeover from a frozen replica (${units.length} units): ${Math.round(performance.now() - t0)} ms`);
    await sleep(LEASE_MS);
    victim.svc.proc.kill("SIGCONT");
    victim.alive = true;
    await waitFor(
      "the woken replica no longer runs the units taken from it",
      async () => {
        const mine = (await cluster.held(victim)).map((u) => u.unit);
        const c = await cluster.claims();
        return [...c.values()].every((ids) => ids.length === 1) && units.every((u) => !mine.includes(u) || (c.get(u) ?? []).length === 1);
      },
      15_000,
      50,
    );
    await sleep(1000);
    await l.stop();
    await allDelivered();
    expect(victim.svc.output()).to.include("lease lost");
    expect(watch.overlaps, "a unit run by two replicas").to.deep.equal([]);
  });

  it("a rolling restart of all replicas under load loses nothing", async () => {
    // back to three replicas, then replace each one in turn (SIGTERM, start a successor)
    while (cluster.live().length < 3) await cluster.add();
    await spread(MQTT_REGS + 1);
    await connected();
    const l = load(50, 20);
    for (const old of [...cluster.live()]) {
      await cluster.terminate(old);
      const fresh = await cluster.add();
      await waitFor(`${fresh.id} takes its share`, async () => (await cluster.held(fresh)).length > 0, 30_000, 100);
    }
    await spread(MQTT_REGS + 1);
    await l.stop();
    const { events, duplicates } = await allDelivered();
    console.log(`      rolling restart: ${events} events in total, all fired; ${duplicates} duplicates`);
    expect(watch.overlaps, "a unit run by two replicas").to.deep.equal([]);
    expect(cluster.output()).not.to.include("COMPETING_CLIENT");
  });

  it("PAUSE and UNPAUSE through a replica that does not run the registration reach its owner", async () => {
    const claims = await spread(MQTT_REGS + 1);
    const unit = [...claims.keys()].find((u) => u === "reg:guest/m0")!;
    const owner = claims.get(unit)![0]!;
    const others = cluster.live().filter((r) => r.id !== owner);
    const t0 = performance.now();
    const p = await others[0]!.client.call("POST", "/api/v1/registrations/guest/m0/pause");
    expect(p.status, JSON.stringify(p.body)).to.equal(200);
    const ownerClient = cluster.live().find((r) => r.id === owner)!.client;
    await waitFor("the owner paused", async () => (await ownerClient.read("m0")).body.status.active === false, 10_000, 20);
    console.log(`      PAUSE through ${others[0]!.id} reached the owner ${owner} in ${Math.round(performance.now() - t0)} ms`);
    const before = ow.acceptedEvents("m0").length;
    for (let i = 0; i < 10; i++) {
      const n = 9_000_000 + i;
      expect1("m0", `/data/ha-${tag}-m0/run-${n}.nxs`);
      pub.publish(topics[0]!, envelope(n, `ha-${tag}-m0`), { qos: 1 });
    }
    await waitFor("paused events in the outbox", async () => (await ownerClient.read("m0")).body.delivery.pending === 10, 10_000, 50);
    expect(ow.acceptedEvents("m0").length, "nothing fired while paused").to.equal(before);
    const u = await others[1]!.client.call("POST", "/api/v1/registrations/guest/m0/unpause");
    expect(u.status, JSON.stringify(u.body)).to.equal(200);
    await allDelivered(15_000);
    expect(watch.overlaps).to.deep.equal([]);
  });

  it("dead-letter replay, UPDATE and DELETE through replicas that do not run the registration", async () => {
    const claims = await spread(MQTT_REGS + 1);
    const owner = claims.get("reg:guest/m1")![0]!;
    const others = cluster.live().filter((r) => r.id !== owner);
    // OpenWhisk rejects the next batches: they become dead letters
    ow.answer = (trigger) => ({ status: trigger === "m1" ? 400 : 202 });
    const dead: string[] = [];
    for (let i = 0; i < 5; i++) {
      const n = 8_000_000 + i;
      dead.push(`/data/ha-${tag}-m1/run-${n}.nxs`);
      pub.publish(topics[1]!, envelope(n, `ha-${tag}-m1`), { qos: 1 });
    }
    await waitFor(
      "5 dead letters",
      async () => (await others[0]!.client.call("GET", "/api/v1/registrations/guest/m1/dead-letters")).body.deadLetters?.length === 5,
      15_000,
      100,
    );
    ow.answer = () => ({ status: 202 });
    const r = await others[0]!.client.call("POST", "/api/v1/registrations/guest/m1/dead-letters/replay", {});
    expect(r.body).to.deep.include({ replayed: 5 });
    for (const d of dead) expect1("m1", d);
    await allDelivered(15_000);

    // UPDATE through a non-owner: a filter that lets nothing through reaches the owner
    const u = await others[1]!.client.call("PATCH", "/api/v1/registrations/guest/m1", { config: { filter: { paths: ["/nothing/**"] } } });
    expect(u.status, JSON.stringify(u.body)).to.equal(200);
    const ownerClient = cluster.live().find((x) => x.id === owner)!.client;
    await waitFor(
      "the owner runs the new filter",
      async () => {
        const v = (await ownerClient.read("m1")).body;
        return v.source?.state === "connected" && JSON.stringify(v.config.filter?.paths) === JSON.stringify(["/nothing/**"]);
      },
      10_000,
      50,
    );
    const before = ow.acceptedEvents("m1").length;
    pub.publish(topics[1]!, envelope(8_100_000, `ha-${tag}-m1`), { qos: 1 });
    await sleep(1000);
    expect(ow.acceptedEvents("m1").length, "filtered out by the updated filter").to.equal(before);

    // DELETE through a non-owner: the owner stops it, its lease row goes
    const del = await others[0]!.client.call("DELETE", "/api/v1/registrations/guest/m1");
    expect(del.status, JSON.stringify(del.body)).to.equal(200);
    await waitFor("the owner stopped the deleted registration", async () => !(await cluster.claims()).has("reg:guest/m1"), 10_000, 50);
    expect((await ownerClient.read("m1")).status).to.equal(404);
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    try {
      await waitFor(
        "lease row pruned",
        async () => (await c.query(`SELECT 1 FROM ${cluster.schema}.provider_leases WHERE unit = 'reg:guest/m1'`)).rowCount === 0,
        10_000,
        100,
      );
    } finally {
      await c.end();
    }
    expected.delete("m1");
    expect(watch.overlaps).to.deep.equal([]);
  });
});

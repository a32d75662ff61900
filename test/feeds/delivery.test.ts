// The provider as a real process, fed through a real Mosquitto broker, firing at a loopback
// OpenWhisk stand-in that injects faults per trigger.
import { expect } from "chai";
import { rmSync } from "node:fs";
import type { MqttClient } from "mqtt";
import type { RunningService } from "../support/service.ts";
import { GUEST_KEY, OpenWhiskStandIn, type FireAnswer } from "./support/openwhisk-standin.ts";
import { MQTT_URL, ProviderClient, envelope, publisher, startProvider, tmp, uniqueTopic, waitFor } from "./support/provider.ts";

const MQTT_PASSWORD = "mqtt-pass-should-never-be-logged";

describe("feeds/provider delivery (real provider process, Mosquitto, OpenWhisk stand-in)", function () {
  this.timeout(60000);
  const ow = new OpenWhiskStandIn();
  const answers = new Map<string, (n: number) => FireAnswer>();
  let dataDir: string;
  let provider: RunningService;
  let api: ProviderClient;
  let pub: MqttClient;
  const outputs: string[] = [];

  async function register(trigger: string, config: Record<string, unknown> = {}, answer?: (n: number) => FireAnswer) {
    ow.triggers.add(trigger);
    if (answer) answers.set(trigger, answer);
    const topic = uniqueTopic(trigger);
    const res = await api.create(trigger, GUEST_KEY, {
      source: { kind: "mqtt", url: MQTT_URL, topic, username: "feed", password: MQTT_PASSWORD },
      batch: { maxEvents: 50, maxWaitMs: 30 },
      ...config,
    });
    expect(res.status, JSON.stringify(res.body)).to.equal(201);
    await waitFor(`${trigger} source connected`, async () => (await api.read(trigger)).body.source.state === "connected");
    return topic;
  }

  async function publish(topic: string, from: number, to: number, dir = "beamline") {
    for (let i = from; i < to; i++) await pub.publishAsync(topic, envelope(i, dir), { qos: 1 });
  }

  const subjects = (trigger: string) => ow.acceptedEvents(trigger).map((e) => e.subject);
  /** at-least-once: a redelivered event carries the same id; the first delivery of each counts */
  const firstDeliveries = (trigger: string) => {
    const seen = new Set<string>();
    return ow
      .acceptedEvents(trigger)
      .filter((e) => !seen.has(e.id) && seen.add(e.id))
      .map((e) => e.subject);
  };
  const expected = (from: number, to: number, dir = "beamline") =>
    Array.from({ length: to - from }, (_, k) => `/data/${dir}/run-${String(from + k).padStart(5, "0")}.nxs`);

  before(async () => {
    await ow.start();
    ow.answer = (t, n) => answers.get(t)?.(n) ?? { status: 202 };
    dataDir = tmp("feed-delivery-");
    provider = await startProvider({ dataDir, apihost: ow.url });
    api = new ProviderClient(provider.urls.provider!, GUEST_KEY);
    pub = await publisher();
  });

  after(async () => {
    outputs.push(provider?.output() ?? "");
    await provider?.stop();
    await pub?.endAsync();
    await ow.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("batches a stream into few fires, in order, each a CloudEvents batch", async () => {
    // maxWaitMs far above the publishing time: batches are cut by count, 50 + 50 + the rest
    const topic = await register("happy", { batch: { maxEvents: 50, maxWaitMs: 8000 } });
    await publish(topic, 0, 120);
    await waitFor("120 events fired", () => ow.acceptedEvents("happy").length >= 120);
    expect(subjects("happy")).to.deep.equal(expected(0, 120));
    const fires = ow.accepted("happy");
    // few fires, each at most maxEvents; the first cut can be smaller when the broker's delivery
    // pauses longer than the settle window on a loaded machine, so only the count is bounded
    const sizes = fires.map((f) => f.body.events.length);
    expect(sizes.length, `fire sizes ${sizes.join(", ")}`).to.be.within(3, 5);
    expect(Math.max(...sizes), `fire sizes ${sizes.join(", ")}`).to.equal(50);
    const e = fires[0]!.body.events[0]!;
    expect(e).to.include({
      specversion: "1.0",
      type: "org.dcache.storage.IN_CLOSE_WRITE",
      source: "https://dcache.example:3880/api/v1/events/channels/CHbeamline",
    });
    const read = await api.read("happy");
    expect(read.body.delivery).to.include({ firedEvents: 120, pending: 0, deadLettered: 0 });
    expect(read.body.status.active).to.equal(true);
    expect(JSON.stringify(read.body)).to.not.include(MQTT_PASSWORD);
  });

  it("429 then 503 for a while: everything arrives, in order, in fewer and larger fires", async () => {
    // the first 6 attempts fail (3× throttled with Retry-After, 3× unavailable), then OpenWhisk recovers
    const topic = await register("faulty", { batch: { maxEvents: 1000, maxWaitMs: 10 } }, (n) =>
      n < 3 ? { status: 429, headers: { "retry-after": "0" } } : n < 6 ? { status: 503 } : { status: 202 },
    );
    const publishing = publish(topic, 0, 300);
    await publishing;
    await waitFor("300 events fired", () => ow.acceptedEvents("faulty").length >= 300);
    expect(subjects("faulty")).to.deep.equal(expected(0, 300));
    const failed = ow.attempts.filter((f) => f.trigger === "faulty" && f.status !== 202);
    expect(failed.map((f) => f.status)).to.deep.equal([429, 429, 429, 503, 503, 503]);
    // while OpenWhisk refused, events kept coalescing: the first accepted fire carries more than the first attempt
    const attempts = ow.attempts.filter((f) => f.trigger === "faulty");
    expect(ow.accepted("faulty")[0]!.body.events.length).to.be.greaterThan(attempts[0]!.body.events.length);
    expect(ow.accepted("faulty").length).to.be.lessThan(300 / 5);
    expect(await api.metric("feed_fire_retries_total", "faulty")).to.equal(6);
    expect((await api.read("faulty")).body.delivery.retries).to.equal(6);
  });

  it("404 from OpenWhisk disables the registration with the reason; UNPAUSE re-enables it and nothing is lost", async () => {
    let gone = true;
    const topic = await register("vanishing", {}, () => (gone ? { status: 404 } : { status: 202 }));
    ow.triggers.delete("vanishing"); // also makes the stand-in answer 404
    await publish(topic, 0, 10);
    const read = await waitFor("disabled", async () => {
      const r = await api.read("vanishing");
      return r.body.status.active === false && r.body.status.reason ? r : undefined;
    });
    expect(read!.body.status.reason).to.deep.include({ kind: "AUTO", statusCode: 404 });
    expect(read!.body.status.reason.message).to.match(/does not exist/);
    expect(read!.body.status.dateChangedISO).to.match(/^\d{4}-\d\d-\d\dT/);
    // the owner fixes the trigger and resumes: the events kept in the outbox (and at the broker) arrive
    await publish(topic, 10, 15);
    ow.triggers.add("vanishing");
    gone = false;
    const un = await api.call("POST", "/api/v1/registrations/guest/vanishing/unpause");
    expect(un.status, JSON.stringify(un.body)).to.equal(200);
    await waitFor("15 events after re-enabling", () => firstDeliveries("vanishing").length >= 15);
    expect(firstDeliveries("vanishing")).to.deep.equal(expected(0, 15));
  });

  it("5xx past maxAgeSeconds dead-letters; dead letters are listed and replayed", async () => {
    let down = true;
    const topic = await register("deadletters", { delivery: { maxAgeSeconds: 1 } }, () => (down ? { status: 502 } : { status: 202 }));
    await publish(topic, 0, 5);
    await waitFor("5 dead letters", async () => (await api.read("deadletters")).body.delivery.deadLettered === 5);
    const list = await api.call("GET", "/api/v1/registrations/guest/deadletters/dead-letters?limit=10");
    expect(list.status).to.equal(200);
    expect(list.body.deadLetters).to.have.length(5);
    expect(list.body.deadLetters[0].reason).to.match(/maxAgeSeconds=1/);
    expect(list.body.deadLetters[0].statusCode).to.equal(502);
    expect(list.body.deadLetters.map((d: { event: { subject: string } }) => d.event.subject)).to.deep.equal(expected(0, 5));
    down = false;
    // operators replay with the provider's credentials only
    const operator = new ProviderClient(api.url);
    const replay = await operator.call("POST", "/api/v1/registrations/guest/deadletters/dead-letters/replay", {});
    expect(replay.body).to.deep.equal({ status: "success", replayed: 5 });
    await waitFor("replayed events fired", () => ow.acceptedEvents("deadletters").length >= 5);
    expect(subjects("deadletters")).to.deep.equal(expected(0, 5));
    expect((await api.read("deadletters")).body.delivery.deadLettered).to.equal(0);
  });

  it("an event larger than maxBytes on its own is dead-lettered, the rest still flows", async () => {
    const topic = await register("huge", { batch: { maxEvents: 10, maxWaitMs: 10, maxBytes: 2048 } });
    const big = JSON.stringify({ event: { name: `${"x".repeat(3000)}.nxs`, mask: ["IN_CLOSE_WRITE"] }, path: "/data/big" });
    await publish(topic, 0, 2);
    await pub.publishAsync(topic, big, { qos: 1 });
    await publish(topic, 2, 4);
    await waitFor("4 small events", () => ow.acceptedEvents("huge").length >= 4);
    expect(subjects("huge")).to.deep.equal(expected(0, 4));
    const dl = await api.call("GET", "/api/v1/registrations/guest/huge/dead-letters");
    expect(dl.body.deadLetters).to.have.length(1);
    expect(dl.body.deadLetters[0].reason).to.match(/exceeds maxBytes/);
    for (const f of ow.accepted("huge")) expect(Buffer.byteLength(JSON.stringify(f.body))).to.be.at.most(2048);
  });

  it("malformed messages are counted and logged truncated, never fatal", async () => {
    const topic = await register("malformed");
    await pub.publishAsync(topic, `not json at all ${"z".repeat(1000)}`, { qos: 1 });
    await pub.publishAsync(topic, JSON.stringify({ event: { mask: ["NOPE"] }, path: "/x" }), { qos: 1 });
    await pub.publishAsync(topic, Buffer.from([0xff, 0xfe, 0x00]), { qos: 1 });
    await publish(topic, 0, 3);
    await waitFor("valid events fired", () => ow.acceptedEvents("malformed").length >= 3);
    expect(await api.metric("feed_events_malformed_total", "malformed")).to.equal(3);
    const lines = provider
      .output()
      .split("\n")
      .filter((l) => l.includes("malformed message ignored"));
    expect(lines).to.have.length(3);
    for (const l of lines) expect(l.length).to.be.lessThan(900);
    expect((await fetch(`${api.url}/health`)).status).to.equal(200);
  });

  it("filters by path glob and event type", async () => {
    const topic = await register("filtered", { filter: { paths: ["/data/keep/**/*.nxs"], types: ["IN_CLOSE_WRITE"] } });
    await publish(topic, 0, 3, "drop");
    await publish(topic, 0, 3, "keep");
    await pub.publishAsync(topic, JSON.stringify({ event: { name: "a.nxs", mask: ["IN_CREATE"] }, path: "/data/keep" }), { qos: 1 });
    await publish(topic, 3, 4, "keep");
    await waitFor("kept events", () => ow.acceptedEvents("filtered").length >= 4);
    expect(subjects("filtered")).to.deep.equal(expected(0, 4, "keep"));
    expect(await api.metric("feed_events_filtered_total", "filtered")).to.equal(4);
  });

  it("PAUSE buffers, UNPAUSE drains in order", async () => {
    const topic = await register("pausable");
    const p = await api.call("POST", "/api/v1/registrations/guest/pausable/pause");
    expect(p.body.registration.status).to.deep.include({ active: false });
    expect(p.body.registration.status.reason).to.deep.include({ kind: "USER" });
    await publish(topic, 0, 40);
    await waitFor("40 buffered", async () => (await api.read("pausable")).body.delivery.pending === 40);
    expect(ow.accepted("pausable")).to.have.length(0);
    await api.call("POST", "/api/v1/registrations/guest/pausable/unpause");
    await waitFor("40 fired", () => ow.acceptedEvents("pausable").length >= 40);
    expect(subjects("pausable")).to.deep.equal(expected(0, 40));
  });

  it("answers clear errors for bad requests and other owners", async () => {
    ow.triggers.add("errs");
    const bad = await api.create("errs", GUEST_KEY, { source: { kind: "mqtt", url: MQTT_URL } });
    expect(bad.status).to.equal(400);
    expect(bad.body.error).to.match(/missing parameter `source.topic`/);
    const glob = await api.create("errs", GUEST_KEY, { source: { kind: "mqtt", url: MQTT_URL, topic: "t" }, filter: { paths: ["/a/{b"] } });
    expect(glob.status).to.equal(400);
    expect(glob.body.error).to.match(/filter.*\/a\/\{b/);
    const wrongKey = await api.create("errs", "someone:else-entirely", { source: { kind: "mqtt", url: MQTT_URL, topic: "t" } });
    expect(wrongKey.status).to.equal(403);
    const noTrigger = await api.create("no-such-trigger", GUEST_KEY, { source: { kind: "mqtt", url: MQTT_URL, topic: "t" } });
    expect(noTrigger.status).to.equal(404);
    expect(noTrigger.body.error).to.match(/does not exist/);
    expect((await api.read("errs")).status).to.equal(404);
    const noAuth = await fetch(`${api.url}/api/v1/registrations`);
    expect(noAuth.status).to.equal(401);
    const other = await new ProviderClient(api.url, "someone:else-entirely").read("happy");
    expect(other.status).to.equal(403);
  });

  it("exposes health and Prometheus metrics", async () => {
    const h = (await (await fetch(`${api.url}/health`)).json()) as any;
    expect(h).to.deep.include({ status: "ok", live: true, ready: true });
    expect(h.store).to.deep.include({ kind: "sqlite", ok: true });
    const m = (await api.call("GET", "/metrics")).body as string;
    for (const name of [
      "feed_events_received_total",
      "feed_events_fired_total",
      "feed_fires_total",
      "feed_fire_duration_seconds_bucket",
      "feed_outbox_depth",
      "feed_events_dead_lettered_total",
    ])
      expect(m).to.include(name);
  });

  it("metrics say where events waited: from arrival to the outbox, then in the outbox until their fire", async () => {
    // a batch that does not fill fires maxWaitMs after its oldest event arrived (docs/feed-provider.md)
    const topic = await register("timed", { batch: { maxEvents: 50, maxWaitMs: 400 } });
    await publish(topic, 0, 3);
    await waitFor("3 fired", () => ow.acceptedEvents("timed").length >= 3);
    // the provider counts a fire once OpenWhisk answered it and the outbox row is gone: a moment after the stand-in saw it
    await waitFor("the fire counted", async () => (await api.metric("feed_events_fired_total", "timed")) === 3);
    expect(await api.metric("feed_events_stored_total", "timed")).to.equal(3);
    const outbox = (await api.metric("feed_event_outbox_seconds_total", "timed")) / 3;
    const intake = (await api.metric("feed_event_intake_seconds_total", "timed")) / 3;
    // the three arrive within a few ms of each other: each waited nearly the whole 400 ms
    expect(outbox, "mean outbox wait, s").to.be.within(0.3, 5);
    expect(intake, "mean arrival → outbox, s").to.be.within(0, outbox);
  });

  it("DELETE removes the registration and its broker session", async () => {
    const topic = await register("deleted");
    const d = await api.call("DELETE", "/api/v1/registrations/guest/deleted");
    expect(d.body).to.deep.equal({ status: "success" });
    expect((await api.read("deleted")).status).to.equal(404);
    await publish(topic, 0, 3);
    await new Promise((r) => setTimeout(r, 200));
    expect(ow.accepted("deleted")).to.have.length(0);
  });

  it("never writes a secret into its logs", () => {
    const out = provider.output();
    expect(out).to.include("registration created");
    for (const secret of [
      MQTT_PASSWORD,
      GUEST_KEY,
      GUEST_KEY.split(":")[1]!,
      "s3cret-provider-pass-0123",
      "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
    ])
      expect(out.includes(secret), `a log line contains ${secret.slice(0, 4)}…`).to.equal(false);
  });
});

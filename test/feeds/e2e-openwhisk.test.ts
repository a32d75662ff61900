// End to end, wsk-style: the local OpenWhisk platform, the feed action deployed into it as a
// bundled zip in a `dcache` package (provider URL and credentials as package parameters, the action
// annotated `final`), the provider, Mosquitto, and the `openwhisk` npm client driving the feed
// lifecycle the way `wsk trigger create --feed` does.
import { expect } from "chai";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { MqttClient } from "mqtt";
import openwhisk from "openwhisk";
import { bundleAction } from "../../scripts/build/bundle.ts";
import { projectRoot, startService, type RunningService } from "../support/service.ts";
import { GUEST_KEY } from "./support/openwhisk-standin.ts";
import {
  MQTT_URL,
  PROVIDER_AUTH,
  ProviderClient,
  envelope,
  publisher,
  startProvider,
  tmp,
  uniqueTopic,
  waitFor,
} from "./support/provider.ts";

const MQTT_PASSWORD = "e2e-mqtt-password-not-for-logs";
const FEED = "/guest/dcache/events";

describe("feeds e2e: local OpenWhisk + feed action + provider + Mosquitto", function () {
  this.timeout(120000);
  const dir = tmp("feed-e2e-");
  let platform: RunningService;
  let provider: RunningService;
  let ow: any;
  let pub: MqttClient;
  const topic = uniqueTopic("e2e");

  /** What `wsk trigger create T --feed F -p …` does: create the trigger, invoke CREATE, roll back on failure. */
  async function createTriggerWithFeed(trigger: string, params: Record<string, unknown>) {
    await ow.triggers.create({ name: trigger, trigger: { annotations: [{ key: "feed", value: FEED }] } });
    try {
      return await ow.feeds.create({ name: FEED, trigger, params });
    } catch (e) {
      await ow.triggers.delete({ name: trigger });
      throw e;
    }
  }

  async function lifecycle(event: "PAUSE" | "UNPAUSE", trigger: string) {
    return ow.actions.invoke({
      name: FEED,
      blocking: true,
      result: true,
      params: { lifecycleEvent: event, triggerName: `/guest/${trigger}`, authKey: GUEST_KEY },
    });
  }

  async function batchesSeen(): Promise<{ subjects: string[]; count: number; specversion: string }[]> {
    const list = await ow.activations.list({ name: "record-batch", docs: true, limit: 200 });
    return list.filter((a: any) => a.response?.success).map((a: any) => a.response.result);
  }

  before(async () => {
    platform = await startService("local/openwhisk/main.ts", ["--port", "0", "--data-dir", join(dir, "ow")], { listeners: ["openwhisk"] });
    provider = await startProvider({ dataDir: join(dir, "provider"), apihost: platform.urls.openwhisk });
    ow = openwhisk({ apihost: platform.urls.openwhisk!, api_key: GUEST_KEY, namespace: "guest" });
    const built = await bundleAction({ name: "dcache-feed", entry: join(projectRoot, "feeds/dcache/index.ts") }, join(dir, "dist"), {
      projectDir: projectRoot,
      storeDir: join(dir, "store"),
    });
    await ow.packages.create({
      name: "dcache",
      package: {
        parameters: [
          { key: "providerUrl", value: provider.urls.provider },
          { key: "providerAuth", value: PROVIDER_AUTH },
        ],
      },
    });
    await ow.actions.create({
      name: "dcache/events",
      action: {
        exec: { kind: "nodejs:20", code: readFileSync(built.zipPath).toString("base64"), binary: true },
        annotations: [
          { key: "feed", value: true },
          { key: "final", value: true },
        ],
      },
    });
    await ow.actions.create({
      name: "record-batch",
      action: `function main(p) { return { count: p.events.length, subjects: p.events.map(e => e.subject), ids: p.events.map(e => e.id), specversion: p.events[0].specversion }; }`,
      kind: "nodejs:20",
    });
    pub = await publisher();
  });

  after(async () => {
    await pub?.endAsync();
    const out = (provider?.output() ?? "") + (platform?.output() ?? "");
    await provider?.stop();
    await platform?.stop();
    rmSync(dir, { recursive: true, force: true });
    for (const s of [MQTT_PASSWORD, PROVIDER_AUTH.split(":")[1]!, GUEST_KEY.split(":")[1]!])
      if (out.includes(s)) throw new Error(`a secret (${s.slice(0, 4)}…) appeared in the provider's or platform's output`);
  });

  it("CREATE: trigger with the feed, rule to an action, MQTT events arrive as batched CloudEvents activations", async () => {
    const res = await createTriggerWithFeed("files", {
      source: { kind: "mqtt", url: MQTT_URL, topic, username: "e2e", password: MQTT_PASSWORD },
      filter: { paths: ["/data/**/*.nxs"], types: ["IN_CLOSE_WRITE"] },
      batch: { maxEvents: 10, maxWaitMs: 50 },
    });
    expect(res.response.result).to.deep.equal({ status: "success" });
    await ow.rules.create({ name: "files-to-record", action: "/guest/record-batch", trigger: "/guest/files" });
    await waitFor(
      "source connected",
      async () => (await ow.feeds.get({ name: FEED, trigger: "files" })).response.result.source.state === "connected",
    );
    for (let i = 0; i < 25; i++) await pub.publishAsync(topic, envelope(i), { qos: 1 });
    const batches = await waitFor(
      "25 events in activations",
      async () => {
        const b = await batchesSeen();
        return b.reduce((n, x) => n + x.count, 0) >= 25 ? b : undefined;
      },
      30000,
      200,
    );
    expect(batches!.length).to.be.at.most(10);
    for (const b of batches!) expect(b.count).to.be.at.most(10);
    const subjects = batches!.flatMap((b) => b.subjects).sort();
    expect(subjects).to.deep.equal(Array.from({ length: 25 }, (_, i) => `/data/beamline/run-${String(i).padStart(5, "0")}.nxs`));
    expect(batches![0]!.specversion).to.equal("1.0");
  });

  it("READ shows config (no secrets), status and delivery counters", async () => {
    const r = (await ow.feeds.get({ name: FEED, trigger: "files" })).response.result;
    expect(r.status).to.deep.include({ active: true, reason: null });
    expect(r.status.dateChangedISO).to.be.a("string");
    expect(r.config.source).to.include({ kind: "mqtt", topic, password: "[redacted]" });
    expect(r.delivery).to.include({ firedEvents: 25, pending: 0, deadLettered: 0 });
    expect(r.delivery.lastFireISO).to.be.a("string");
    expect(JSON.stringify(r)).to.not.include(MQTT_PASSWORD);
  });

  it("PAUSE buffers, UNPAUSE drains", async () => {
    const paused = await lifecycle("PAUSE", "files");
    expect(paused).to.deep.equal({ status: "success" });
    const before = (await batchesSeen()).length;
    for (let i = 100; i < 105; i++) await pub.publishAsync(topic, envelope(i), { qos: 1 });
    await waitFor("5 buffered", async () => (await ow.feeds.get({ name: FEED, trigger: "files" })).response.result.delivery.pending === 5);
    const r = (await ow.feeds.get({ name: FEED, trigger: "files" })).response.result;
    expect(r.status.active).to.equal(false);
    expect(r.status.reason.kind).to.equal("USER");
    expect((await batchesSeen()).length).to.equal(before);
    expect(await lifecycle("UNPAUSE", "files")).to.deep.equal({ status: "success" });
    await waitFor("drained", async () => (await batchesSeen()).reduce((n, x) => n + x.count, 0) >= 30, 30000, 200);
  });

  it("UPDATE changes the filter; only the given parameters change", async () => {
    const res = await ow.feeds.update({ name: FEED, trigger: "files", params: { filter: { paths: ["**/*.h5"] } } });
    expect(res.response.result).to.deep.equal({ status: "success" });
    const r = (await ow.feeds.get({ name: FEED, trigger: "files" })).response.result;
    // the defaults of arrivals show in READ too
    expect(r.config.filter).to.deep.equal({
      paths: ["**/*.h5"],
      types: ["IN_CLOSE_WRITE"],
      arrivals: true,
      temporary: ["*.part", "*.tmp", "*~", ".*.??????"],
      settleMs: 20,
    });
    expect(r.config.batch.maxEvents).to.equal(10);
    await pub.publishAsync(topic, envelope(200), { qos: 1 });
    await pub.publishAsync(topic, JSON.stringify({ event: { name: "derived.h5", mask: ["IN_CLOSE_WRITE"] }, path: "/data/out" }), {
      qos: 1,
    });
    await waitFor("the .h5 event", async () => (await batchesSeen()).some((b) => b.subjects.includes("/data/out/derived.h5")), 30000, 200);
    expect((await batchesSeen()).some((b) => b.subjects.includes("/data/beamline/run-00200.nxs"))).to.equal(false);
  });

  it("bad feed parameters: a clear error naming the parameter, the trigger rolled back, no registration left", async () => {
    let err: any;
    try {
      await createTriggerWithFeed("broken", { source: { kind: "mqtt", url: MQTT_URL }, batch: { maxBytes: 5_000_000 } });
    } catch (e) {
      err = e;
    }
    expect(err, "CREATE should fail").to.exist;
    const text = JSON.stringify(err.error ?? err.message);
    expect(text).to.match(/source\.topic/);
    expect(text).to.match(/batch\.maxBytes/);
    expect(await ow.triggers.get({ name: "broken" }).catch((e: any) => e.statusCode)).to.equal(404);
    const list = await new ProviderClient(provider.urls.provider!).call("GET", "/api/v1/registrations");
    expect(list.body.registrations.map((r: { trigger: string }) => r.trigger)).to.deep.equal(["/guest/files"]);
  });

  it("the provider URL cannot be overridden by the caller (final)", async () => {
    const r = await ow.actions
      .invoke({
        name: FEED,
        blocking: true,
        params: { lifecycleEvent: "READ", triggerName: "/guest/files", authKey: GUEST_KEY, providerUrl: "http://evil.example" },
      })
      .catch((e: any) => e);
    expect(r.statusCode).to.equal(400);
  });

  it("DELETE removes the registration; the trigger can then be deleted", async () => {
    const res = await ow.feeds.delete({ name: FEED, trigger: "files" });
    expect(res.response.result).to.deep.equal({ status: "success" });
    await ow.triggers.delete({ name: "files" });
    const list = await new ProviderClient(provider.urls.provider!).call("GET", "/api/v1/registrations");
    expect(list.body.registrations).to.deep.equal([]);
    // deleting what is not there succeeds: `serverless deploy` deletes before every create
    const again = await ow.feeds.delete({ name: FEED, trigger: "files" });
    expect(again.response.result).to.deep.equal({ status: "success", detail: "no feed registration to delete" });
    const read = await ow.feeds.get({ name: FEED, trigger: "files" }).catch((e: any) => e);
    expect(JSON.stringify(read.error ?? read)).to.match(/no feed registration/);
  });
});

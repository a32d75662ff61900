// The SSE→MQTT bridge as a real process between the local dCache storage and Mosquitto: every file
// of a new tree arrives on the topic once, as a storage CloudEvent; a restarted bridge resumes from
// its stored position and misses nothing written while it was down.
import { expect } from "chai";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import mqtt, { type MqttClient } from "mqtt";
import { checkStorageCloudEvent } from "../../lib/events/check.ts";
import { startService, type RunningService } from "../support/service.ts";
import { tally, tmp, waitFor } from "./support/stack.ts";

const MQTT_URL = process.env.FEED_TEST_MQTT ?? "mqtt://127.0.0.1:1883";

describe("dCache → MQTT bridge (local dCache, Mosquitto, bridge as processes)", function () {
  this.timeout(60_000);
  const dir = tmp("dcache-bridge-");
  const root = join(dir, "storage");
  const topic = `bridgetest/${process.pid}/${Date.now().toString(36)}`;
  let dcache: RunningService;
  let bridge: RunningService | undefined;
  let sub: MqttClient;
  const received: { subject: string }[] = [];

  const startBridge = async () => {
    bridge = await startService(
      "feeds/provider/bridge.ts",
      [
        "--dcache",
        dcache.urls["dcache-frontend"]!,
        "--path",
        "/beamtime",
        "--flags",
        "IN_CLOSE_WRITE",
        "--mqtt",
        MQTT_URL,
        "--topic",
        topic,
        "--state-dir",
        join(dir, "bridge"),
      ],
      { listeners: [], env: { BRIDGE_DCACHE_USER: "demo", BRIDGE_DCACHE_PASSWORD: "demo" } },
    );
    await waitFor("bridge watching", () => /"state":"connected"/.test(bridge!.output()));
  };

  before(async () => {
    try {
      sub = await mqtt.connectAsync(MQTT_URL, { connectTimeout: 3000, reconnectPeriod: 0 });
    } catch (e) {
      throw new Error(`the bridge test needs Mosquitto at ${MQTT_URL} (CI starts it: .ci/run): ${(e as Error).message}`);
    }
    await sub.subscribeAsync(topic, { qos: 1 });
    sub.on("message", (_t, payload) => received.push(JSON.parse(payload.toString())));
    mkdirSync(join(root, "beamtime"), { recursive: true });
    dcache = await startService("local/dcache/main.ts", ["--root", root, "--frontend-port", "0", "--webdav-port", "0"], {
      listeners: ["dcache-frontend", "dcache-webdav"],
    });
  });

  after(async () => {
    await bridge?.stop();
    await dcache?.stop();
    await sub?.endAsync();
    rmSync(dir, { recursive: true, force: true });
  });

  it("publishes every file of a new tree once, and resumes after a restart without missing any", async () => {
    // startService waits for listeners; the bridge has none, so it is ready once it says so
    await startBridge();
    const written: string[] = [];
    const write = (scan: string, n: number) => {
      mkdirSync(join(root, "beamtime", scan), { recursive: true });
      for (let i = 0; i < n; i++) {
        writeFileSync(join(root, "beamtime", scan, `f${i}.h5`), Buffer.alloc(10 + i));
        written.push(`/beamtime/${scan}/f${i}.h5`);
      }
    };
    write("scan-1", 30);
    await waitFor(
      "scan-1 published",
      () =>
        tally(
          written,
          received.map((e) => e.subject),
        ).missing.length === 0,
    );
    await bridge!.stop();
    write("scan-2", 30);
    await startBridge();
    write("scan-3", 30);
    await waitFor(
      "all published",
      () =>
        tally(
          written,
          received.map((e) => e.subject),
        ).missing.length === 0,
      20000,
    );
    await new Promise((r) => setTimeout(r, 1000));
    const t = tally(
      written,
      received.map((e) => e.subject),
    );
    console.log(`      written ${written.length}, published ${received.length}, missing ${t.missing.length}, duplicates ${t.duplicates}`);
    expect(t.missing).to.deep.equal([]);
    expect(t.duplicates).to.equal(0);
    for (const e of received) expect(checkStorageCloudEvent(e)).to.equal(undefined);
    expect(bridge!.output()).to.not.include('"password"');
  });
});

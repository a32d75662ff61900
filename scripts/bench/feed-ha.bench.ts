// Feed provider replicas on one PostgreSQL store (real processes, a private Mosquitto, a loopback
// OpenWhisk trigger endpoint in this process):
//  1. sustained events/s from MQTT publish to acknowledged fires over 6 registrations with 1, 2 and
//     3 replicas (baseline: 1 replica). This machine has 2 cores shared by broker, PostgreSQL, the
//     replicas and this process: more replicas than cores cannot add throughput here;
//  2. takeover time after SIGKILL of a replica (until the survivors run all of its units), p50 and
//     max over several kills (baseline: the lease time).
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer as createHttpServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt from "mqtt";
import { GUEST_KEY } from "../../test/feeds/support/openwhisk-standin.ts";
import { envelope } from "../../test/feeds/support/provider.ts";
import { Cluster, checkPostgres } from "../../test/feeds-ha/support/cluster.ts";
import { percentile, report } from "./report.ts";
import type { AddressInfo } from "node:net";
import { freePort } from "../stack/broker.ts";

const UNITS = 6;
const EVENTS = Number(process.env.FEED_HA_BENCH_EVENTS ?? 12_000);
const KILLS = Number(process.env.FEED_HA_BENCH_KILLS ?? 5);
const LEASE_MS = 3000;
const dir = mkdtempSync(join(tmpdir(), "feed-ha-bench-"));
const cleanups: (() => Promise<void>)[] = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function startBroker(): Promise<string> {
  const port = await freePort();
  const conf = join(dir, "mosquitto.conf");
  writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\nmax_inflight_messages 1000\n`);
  const proc: ChildProcess = spawn("mosquitto", ["-c", conf], { stdio: "ignore" });
  cleanups.push(async () => {
    proc.kill("SIGTERM");
    await new Promise((r) => proc.once("exit", r));
  });
  const url = `mqtt://127.0.0.1:${port}`;
  for (let i = 0; i < 50; i++) {
    try {
      await (await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 500 })).endAsync();
      return url;
    } catch {
      await sleep(100);
    }
  }
  throw new Error("mosquitto did not start (is it installed?)");
}

/** Every trigger exists; every fire is accepted and its events counted by id. */
class TriggerEndpoint {
  readonly ids = new Set<string>();
  url = "";
  private server?: Server;
  async start(): Promise<void> {
    this.server = createHttpServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c) => chunks.push(c));
      req.on("end", () => {
        const trigger = decodeURIComponent((req.url ?? "").split("/").pop() ?? "");
        res.writeHead(req.method === "GET" ? 200 : 202, { "content-type": "application/json" });
        if (req.method === "GET") return res.end(JSON.stringify({ namespace: "guest", name: trigger }));
        for (const e of (JSON.parse(Buffer.concat(chunks).toString()) as { events: { subject: string }[] }).events) this.ids.add(e.subject);
        res.end('{"activationId":"0123456789abcdef0123456789abcdef"}');
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, "127.0.0.1", r));
    this.url = `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
    cleanups.push(async () => {
      this.server!.closeAllConnections();
      this.server!.close();
    });
  }
}

async function spread(cluster: Cluster): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const claims = await cluster.claims();
    const share = Math.ceil(UNITS / cluster.live().length);
    const per = new Map<string, number>();
    for (const ids of claims.values()) for (const id of ids) per.set(id, (per.get(id) ?? 0) + 1);
    if (
      claims.size === UNITS &&
      [...claims.values()].every((x) => x.length === 1) &&
      [...per.values()].every((n) => n <= share) &&
      per.size === cluster.live().length
    )
      return;
    await sleep(50);
  }
  throw new Error("the units did not spread over the replicas within 30 s");
}

async function throughput(replicas: number, broker: string, ow: TriggerEndpoint, round: number): Promise<number> {
  const cluster = new Cluster({
    apihost: ow.url,
    leaseMs: LEASE_MS,
    extra: ["--log-level", "warn", "--retry-base-ms", "100", "--retry-max-ms", "2000"],
  });
  try {
    for (let n = 0; n < replicas; n++) await cluster.add();
    const topics = Array.from({ length: UNITS }, (_, k) => `bench/ha/${round}/${k}`);
    for (let k = 0; k < UNITS; k++) {
      const r = await cluster.replicas[0]!.client.create(`t${round}-${k}`, GUEST_KEY, {
        source: { kind: "mqtt", url: broker, topic: topics[k] },
        batch: { maxEvents: 500, maxWaitMs: 20 },
      });
      if (r.status !== 201) throw new Error(`registration failed: ${r.status} ${JSON.stringify(r.body)}`);
    }
    await spread(cluster);
    await sleep(500); // sources subscribed
    const pub = await mqtt.connectAsync(broker, { protocolVersion: 5 });
    const before = ow.ids.size;
    const t0 = performance.now();
    const sent: Promise<unknown>[] = [];
    for (let i = 0; i < EVENTS; i++) {
      sent.push(pub.publishAsync(topics[i % UNITS]!, envelope(i, `ha-${round}-${i % UNITS}`), { qos: 1 }));
      if (i % 500 === 499) await Promise.all(sent.splice(0));
    }
    await Promise.all(sent);
    while (ow.ids.size - before < EVENTS) {
      if (performance.now() - t0 > 180_000) throw new Error(`only ${ow.ids.size - before} of ${EVENTS} events fired within 180 s`);
      await sleep(20);
    }
    const rate = EVENTS / ((performance.now() - t0) / 1000);
    await pub.endAsync();
    return rate;
  } finally {
    await cluster.stop();
  }
}

async function takeovers(broker: string, ow: TriggerEndpoint): Promise<number[]> {
  const cluster = new Cluster({ apihost: ow.url, leaseMs: LEASE_MS, extra: ["--log-level", "warn"] });
  const times: number[] = [];
  try {
    for (let n = 0; n < 3; n++) await cluster.add();
    for (let k = 0; k < UNITS; k++)
      await cluster.replicas[0]!.client.create(`k-${k}`, GUEST_KEY, { source: { kind: "mqtt", url: broker, topic: `bench/ha/kill/${k}` } });
    for (let i = 0; i < KILLS; i++) {
      await spread(cluster);
      const victim = cluster.live()[i % cluster.live().length]!;
      const units = (await cluster.held(victim)).map((u) => u.unit);
      const t0 = performance.now();
      await cluster.kill(victim);
      for (;;) {
        const claims = await cluster.claims();
        if (units.every((u) => (claims.get(u) ?? []).length === 1)) break;
        if (performance.now() - t0 > 60_000) throw new Error("units not taken over within 60 s");
        await sleep(20);
      }
      times.push(performance.now() - t0);
      await cluster.add();
    }
    return times;
  } finally {
    await cluster.stop();
  }
}

async function main(): Promise<void> {
  await checkPostgres();
  const broker = await startBroker();
  const ow = new TriggerEndpoint();
  await ow.start();
  console.log(`${EVENTS} events over ${UNITS} MQTT registrations, PostgreSQL store, lease ${LEASE_MS} ms; this machine has 2 cores`);
  const rates: number[] = [];
  for (const n of [1, 2, 3]) {
    rates.push(await throughput(n, broker, ow, n));
    report(`events/s with ${n} replica${n > 1 ? "s" : ""}`, rates[n - 1]!, "events/s", { name: "1 replica", value: rates[0]! });
  }
  const t = (await takeovers(broker, ow)).sort((a, b) => a - b);
  report(`takeover after SIGKILL, p50 (${t.length} kills)`, percentile(t, 50), "ms", { name: "lease", value: LEASE_MS });
  report(`takeover after SIGKILL, max (${t.length} kills)`, t[t.length - 1]!, "ms", { name: "lease", value: LEASE_MS });
}

main()
  .catch((e) => {
    console.error(`feed-ha bench failed: ${(e as Error).message}`);
    process.exitCode = 1;
  })
  .finally(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  });

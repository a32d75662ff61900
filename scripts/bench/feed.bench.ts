// Feed provider benchmarks, all against the real provider process, a private Mosquitto and a loopback
// OpenWhisk trigger endpoint in this process:
//  1. sustained events/s from MQTT publish to acknowledged fires, batching on vs one fire per event,
//     and with the file ledger (admission, fired records, outcomes followed) vs without it;
//  2. the same under OpenWhisk's stock limit of 60 fires per minute (enforced as 1 fire/s);
//  3. p50/p99 latency publish → fire acknowledged at 1,000 events/s, next to plain MQTT delivery;
//  4. provider memory with 1,000 registrations, next to the idle provider.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer as createHttpServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt, { type MqttClient } from "mqtt";
import { startService, type RunningService } from "../../test/support/service.ts";
import { report, summarise } from "./report.ts";
import type { AddressInfo } from "node:net";
import { freePort } from "../stack/broker.ts";

const KEY = "23bc46b1-71f6-4ed5-8c54-816aa4f8c502:123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP";
const AUTH = "bench:bench-provider-password";
const dir = mkdtempSync(join(tmpdir(), "feed-bench-"));
const children: (() => Promise<void>)[] = [];

async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

/** Mosquitto with a queue deep enough for bursts (its default of 1000 queued messages drops the rest). */
async function startBroker(): Promise<string> {
  const port = await freePort();
  const conf = join(dir, "mosquitto.conf");
  writeFileSync(
    conf,
    `listener ${port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\nmax_inflight_messages 1000\nmax_connections -1\n`,
  );
  const proc: ChildProcess = spawn("mosquitto", ["-c", conf], { stdio: "ignore" });
  children.push(async () => {
    proc.kill("SIGTERM");
    await new Promise((r) => proc.once("exit", r));
  });
  const url = `mqtt://127.0.0.1:${port}`;
  for (let i = 0; i < 50; i++) {
    try {
      const c = await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 500 });
      await c.endAsync();
      return url;
    } catch {
      await sleep(100);
    }
  }
  throw new Error("mosquitto did not start (is it installed?)");
}

/**
 * Loopback OpenWhisk trigger endpoint: every trigger exists; fires are 202 unless the limiter says
 * 429. As OpenWhisk does, each accepted fire leaves a trigger activation whose logs name one rule's
 * activation, which has succeeded: what the provider's file ledger reads to follow a fire.
 */
class TriggerEndpoint {
  private activations = new Map<string, string>();
  private nextId = 0;
  events = new Map<string, number>();
  fires = new Map<string, number>();
  /** per event: ms from the publisher's timestamp (data.sentAt, performance.now of this process) to this fire */
  latencies: number[] = [];
  /** minimum spacing of accepted fires (1000 = 60 fires/minute), 0 = unlimited; kept per trigger, as if
   *  each lived in its own namespace, so the two registrations compared do not share one budget */
  fireIntervalMs = 0;
  private nextAllowed = new Map<string, number>();
  url = "";
  private server?: Server;

  async start(): Promise<void> {
    this.server = createHttpServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c) => chunks.push(c));
      req.on("end", () => {
        const trigger = decodeURIComponent((req.url ?? "").split("/").pop() ?? "");
        const activation = /\/activations\/([0-9a-f]+)$/.exec(req.url ?? "");
        if (req.method === "GET" && activation) {
          const doc = this.activations.get(activation[1]!);
          res.writeHead(doc ? 200 : 404, { "content-type": "application/json" });
          return res.end(doc ?? '{"error":"The requested resource does not exist."}');
        }
        if (req.method === "GET") {
          res.writeHead(200, { "content-type": "application/json" });
          return res.end(JSON.stringify({ namespace: "guest", name: trigger }));
        }
        const now = performance.now();
        if (this.fireIntervalMs > 0) {
          const next = this.nextAllowed.get(trigger) ?? 0;
          if (now < next) {
            res.writeHead(429, { "content-type": "application/json", "retry-after": String(Math.ceil((next - now) / 1000)) });
            return res.end('{"error":"Too many requests in the last minute (count: 61, allowed: 60)."}');
          }
          this.nextAllowed.set(trigger, now + this.fireIntervalMs);
        }
        const body = JSON.parse(Buffer.concat(chunks).toString()) as { events: { data: { sentAt?: number } }[] };
        for (const e of body.events) if (typeof e.data.sentAt === "number") this.latencies.push(now - e.data.sentAt);
        this.events.set(trigger, (this.events.get(trigger) ?? 0) + body.events.length);
        this.fires.set(trigger, (this.fires.get(trigger) ?? 0) + 1);
        const id = (++this.nextId).toString(16).padStart(32, "0");
        const rule = (++this.nextId).toString(16).padStart(32, "0");
        this.activations.set(
          id,
          JSON.stringify({
            activationId: id,
            logs: [
              JSON.stringify({ statusCode: 0, success: true, activationId: rule, rule: `guest/${trigger}-rule`, action: "guest/action" }),
            ],
            response: { success: true, result: {} },
          }),
        );
        this.activations.set(
          rule,
          JSON.stringify({ activationId: rule, logs: [], response: { success: true, status: "success", result: {} } }),
        );
        res.writeHead(202, { "content-type": "application/json" });
        res.end(JSON.stringify({ activationId: id }));
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, "127.0.0.1", r));
    this.url = `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
    children.push(async () => {
      this.server!.closeAllConnections();
      this.server!.close();
    });
  }
}

async function startProvider(apihost: string, name: string, extra: string[] = []): Promise<RunningService> {
  const p = await startService(
    "feeds/provider/main.ts",
    [
      "--port",
      "0",
      "--data-dir",
      join(dir, name),
      "--openwhisk-url",
      apihost,
      "--retry-base-ms",
      "100",
      "--retry-max-ms",
      "2000",
      "--log-level",
      "warn",
      ...extra,
    ],
    { listeners: ["provider"], env: { PROVIDER_AUTH: AUTH, PROVIDER_KEY: "b".repeat(64) }, timeoutMs: 60000 },
  );
  children.push(() => p.stop());
  return p;
}

async function register(
  provider: RunningService,
  trigger: string,
  broker: string,
  topic: string,
  batch: Record<string, number>,
  delivery: Record<string, unknown> = {},
): Promise<void> {
  const res = await fetch(`${provider.urls.provider}/api/v1/registrations`, {
    method: "POST",
    headers: { authorization: `Basic ${Buffer.from(AUTH).toString("base64")}`, "content-type": "application/json" },
    body: JSON.stringify({
      triggerName: `/guest/${trigger}`,
      authKey: KEY,
      config: { source: { kind: "mqtt", url: broker, topic }, batch, delivery },
    }),
  });
  if (res.status !== 201) throw new Error(`registration ${trigger} failed: ${res.status} ${await res.text()}`);
}

async function remove(provider: RunningService, trigger: string): Promise<void> {
  const res = await fetch(`${provider.urls.provider}/api/v1/registrations/guest/${trigger}`, {
    method: "DELETE",
    headers: { authorization: `Basic ${Buffer.from(AUTH).toString("base64")}`, "x-owner-key": KEY },
  });
  if (res.status !== 200) throw new Error(`deleting ${trigger} failed: ${res.status} ${await res.text()}`);
}

async function waitConnected(provider: RunningService, triggers: string[]): Promise<void> {
  for (const t of triggers) {
    for (let i = 0; ; i++) {
      const r = await fetch(`${provider.urls.provider}/api/v1/registrations/guest/${t}`, {
        headers: { authorization: `Basic ${Buffer.from(AUTH).toString("base64")}`, "x-owner-key": KEY },
      });
      if (((await r.json()) as { source: { state: string } }).source.state === "connected") break;
      if (i > 200) throw new Error(`${t}: source never connected`);
      await sleep(50);
    }
  }
}

function message(i: number, sentAt?: number): string {
  const path = `/data/beamline/run-${String(i).padStart(7, "0")}.nxs`;
  return JSON.stringify({
    specversion: "1.0",
    id: `bench-${i}`,
    source: "mqtt://bench",
    type: "org.dcache.storage.IN_CLOSE_WRITE",
    time: "2026-11-28T12:00:00.000Z",
    subject: path,
    data: { path, mask: ["IN_CLOSE_WRITE"], isDir: false, ...(sentAt === undefined ? {} : { sentAt }) },
  });
}

async function publishers(broker: string, n: number): Promise<MqttClient[]> {
  const list: MqttClient[] = [];
  for (let i = 0; i < n; i++) {
    const c = await mqtt.connectAsync(broker, { protocolVersion: 5 });
    (c.stream as unknown as { setNoDelay(v: boolean): void }).setNoDelay(true);
    list.push(c);
  }
  return list;
}

/** Publishes `count` events as fast as the broker takes them, spread over the publishers, 200 in flight each. */
async function flood(pubs: MqttClient[], topic: string, count: number): Promise<void> {
  let next = 0;
  await Promise.all(
    pubs.map(async (p) => {
      const inflight = new Set<Promise<unknown>>();
      while (next < count) {
        const pr = p.publishAsync(topic, message(next++), { qos: 1 }).finally(() => inflight.delete(pr));
        inflight.add(pr);
        if (inflight.size >= 200) await Promise.race(inflight);
      }
      await Promise.all(inflight);
    }),
  );
}

async function until(what: string, cond: () => boolean, timeoutMs: number): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`timed out: ${what}`);
    await sleep(5);
  }
}

function rssMB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function main(): Promise<void> {
  const broker = await startBroker();
  const ow = new TriggerEndpoint();
  await ow.start();
  const provider = await startProvider(ow.url, "p1");
  const pubs = await publishers(broker, 4);

  // 1. sustained throughput, no fire limit
  const N = Number(process.env.FEED_BENCH_EVENTS ?? 30000);
  const NB = Math.max(2000, Math.round(N / 10));
  await register(provider, "batched", broker, "bench/batched", { maxEvents: 5000, maxWaitMs: 20, maxBytes: 900000 });
  await register(provider, "single", broker, "bench/single", { maxEvents: 1, maxWaitMs: 0 });
  await waitConnected(provider, ["batched", "single"]);
  let t0 = performance.now();
  await flood(pubs, "bench/batched", N);
  await until("batched events fired", () => (ow.events.get("batched") ?? 0) >= N, 300000);
  const batchedRate = N / ((performance.now() - t0) / 1000);
  t0 = performance.now();
  await flood(pubs, "bench/single", NB);
  await until("single events fired", () => (ow.events.get("single") ?? 0) >= NB, 300000);
  const singleRate = NB / ((performance.now() - t0) / 1000);
  // what the broker delivers to one plain QoS 1 subscriber that acknowledges at once: the ceiling
  const sub = await mqtt.connectAsync(broker, {
    protocolVersion: 5,
    clean: false,
    clientId: `bench-plain-${process.pid}`,
    properties: { sessionExpiryInterval: 60 },
  });
  (sub.stream as unknown as { setNoDelay(v: boolean): void }).setNoDelay(true);
  let got = 0;
  sub.on("message", () => got++);
  await sub.subscribeAsync("bench/ceiling", { qos: 1 });
  t0 = performance.now();
  await flood(pubs, "bench/ceiling", N);
  await until("plain subscriber received", () => got >= N, 300000);
  const plainRate = N / ((performance.now() - t0) / 1000);
  await sub.endAsync();
  // the file ledger's cost: the same batched stream without it, and how long until the ledger has
  // every file's outcome (fires followed through the trigger and rule activations)
  await register(provider, "no-ledger", broker, "bench/no-ledger", { maxEvents: 5000, maxWaitMs: 20, maxBytes: 900000 }, { ledger: false });
  await waitConnected(provider, ["no-ledger"]);
  t0 = performance.now();
  await flood(pubs, "bench/no-ledger", N);
  await until("no-ledger events fired", () => (ow.events.get("no-ledger") ?? 0) >= N, 300000);
  const noLedgerRate = N / ((performance.now() - t0) / 1000);
  report(`MQTT → acked fires, batching, file ledger on (${N} events)`, batchedRate, "events/s", {
    name: "file ledger off",
    value: noLedgerRate,
  });
  report(`MQTT → acked fires, batching, file ledger off`, noLedgerRate, "events/s");
  const outcomes = performance.now();
  for (;;) {
    const r = await fetch(`${provider.urls.provider}/api/v1/registrations/guest/batched`, {
      headers: { authorization: `Basic ${Buffer.from(AUTH).toString("base64")}`, "x-owner-key": KEY },
    });
    if (((await r.json()) as { files: { succeeded: number } }).files.succeeded >= N) break;
    if (performance.now() - outcomes > 120000) throw new Error("the ledger did not record every file's outcome within 2 minutes");
    await sleep(50);
  }
  report(`file ledger: every file's outcome recorded, after its fire (${N} files)`, performance.now() - outcomes, "ms");
  await remove(provider, "no-ledger");
  report(`MQTT → acked fires, batching (${N} events, ${ow.fires.get("batched")} fires)`, batchedRate, "events/s", {
    name: "one fire per event",
    value: singleRate,
  });
  report(`MQTT → acked fires, batching`, batchedRate, "events/s", { name: "plain QoS 1 subscriber", value: plainRate });
  report(`MQTT → acked fires, one fire per event (${NB} events)`, singleRate, "events/s");
  report(`plain QoS 1 subscriber, same broker (${N} events)`, plainRate, "events/s");

  // 2. under 60 fires per minute (1 fire/s sustained); each registration measured alone, then deleted
  //    so that its backlog does not disturb what follows
  ow.fireIntervalMs = 1000;
  const WINDOW_S = Number(process.env.FEED_BENCH_LIMIT_SECONDS ?? 12);
  async function limitedRate(trigger: string, batch: Record<string, number>, offered: number): Promise<number> {
    await register(provider, trigger, broker, `bench/${trigger}`, batch);
    await waitConnected(provider, [trigger]);
    const flooding = flood(pubs, `bench/${trigger}`, offered);
    await sleep(1000); // past the first fire, into the steady state
    const e0 = ow.events.get(trigger) ?? 0;
    const t = performance.now();
    await sleep(WINDOW_S * 1000);
    const rate = ((ow.events.get(trigger) ?? 0) - e0) / ((performance.now() - t) / 1000);
    await flooding;
    await remove(provider, trigger);
    return rate;
  }
  const limitedSingle = Math.max(await limitedRate("limited-single", { maxEvents: 1, maxWaitMs: 0 }, 2 * WINDOW_S + 20), 1e-9);
  const limitedBatched = await limitedRate(
    "limited-batched",
    { maxEvents: 100000, maxWaitMs: 100, maxBytes: 900000 },
    Math.round(batchedRate * (WINDOW_S + 2)),
  );
  report("under 60 fires/min: batching", limitedBatched, "events/s", { name: "one fire per event", value: limitedSingle });
  report("under 60 fires/min: one fire per event", limitedSingle, "events/s");
  ow.fireIntervalMs = 0;
  await remove(provider, "batched");
  await remove(provider, "single");

  // 3. latency at 1,000 events/s
  await register(provider, "latency", broker, "bench/latency", { maxEvents: 1000, maxWaitMs: 10, maxBytes: 900000 });
  await waitConnected(provider, ["latency"]);
  const plain = await mqtt.connectAsync(broker, { protocolVersion: 5 });
  (plain.stream as unknown as { setNoDelay(v: boolean): void }).setNoDelay(true);
  const plainLat: number[] = [];
  plain.on("message", (_t, payload) =>
    plainLat.push(performance.now() - (JSON.parse(payload.toString()) as { data: { sentAt: number } }).data.sentAt),
  );
  await plain.subscribeAsync("bench/plain", { qos: 1 });
  ow.latencies = [];
  const RATE = 1000;
  const SECONDS = Number(process.env.FEED_BENCH_LATENCY_SECONDS ?? 8);
  const start = performance.now();
  for (let i = 0; i < RATE * SECONDS; i++) {
    const due = start + (i * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    const now = performance.now();
    void pubs[0]!.publishAsync("bench/latency", message(i, now), { qos: 1 });
    void pubs[1]!.publishAsync("bench/plain", message(i, now), { qos: 1 });
  }
  await until("latency events fired", () => ow.latencies.length >= RATE * SECONDS, 60000);
  await until("plain events received", () => plainLat.length >= RATE * SECONDS, 60000);
  await plain.endAsync();
  const lat = summarise(ow.latencies);
  const base = summarise(plainLat);
  report("publish → fire acked p50 @1,000 ev/s (maxWaitMs 10)", lat.p50, "ms", { name: "plain MQTT delivery p50", value: base.p50 });
  report("publish → fire acked p99 @1,000 ev/s (maxWaitMs 10)", lat.p99, "ms", { name: "plain MQTT delivery p99", value: base.p99 });
  report("plain MQTT publish → subscriber p50", base.p50, "ms");
  report("plain MQTT publish → subscriber p99", base.p99, "ms");
  for (const p of pubs) await p.endAsync();

  // 4. memory with 1,000 registrations (each with its own MQTT session)
  const p2 = await startProvider(ow.url, "p2");
  const pid = p2.proc.pid!;
  await sleep(500);
  const idle = rssMB(pid);
  const REGS = Number(process.env.FEED_BENCH_REGISTRATIONS ?? 1000);
  for (let i = 0; i < REGS; i += 20)
    await Promise.all(
      Array.from({ length: Math.min(20, REGS - i) }, (_, k) =>
        register(p2, `mem-${i + k}`, broker, `bench/mem/${i + k}`, { maxEvents: 100, maxWaitMs: 100 }),
      ),
    );
  await sleep(2000);
  const loaded = rssMB(pid);
  report(`provider RSS with ${REGS} registrations`, loaded, "MB", { name: "idle provider", value: idle });
  report("provider RSS, idle", idle, "MB");
  report("memory per registration", ((loaded - idle) * 1024) / REGS, "KB");
}

main()
  .catch((e) => {
    console.error(`feed bench failed: ${(e as Error).message}`);
    process.exitCode = 1;
  })
  .finally(async () => {
    for (const stop of children.reverse()) await stop().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  });

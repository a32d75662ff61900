// dCache source benchmarks, against the local dCache storage (events from the kernel through
// inotifywait) and the real provider process, firing at a loopback OpenWhisk trigger endpoint in this
// process that acknowledges (202) and notes when each event arrived. The reference for every figure is
// a plain SSE client (lib/dcache streamChannel) reading the same storage in the same run.
//  1. files/s from creation to acknowledged fire across a 1,000-directory tree;
//  2. p50/p99 from close() to acknowledged fire at 500 files/s;
//  3. recovery after EVENT_LOSS: rescan of a large tree (scaled down from 100,000 files; see FILES_RESCAN).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findOrCreateChannel, streamChannel, subscribeInotify, deleteChannel, type DcacheEndpoint } from "../../lib/dcache/index.ts";
import { startService, type RunningService } from "../../test/support/service.ts";
import { report, summarise } from "./report.ts";

const KEY = "23bc46b1-71f6-4ed5-8c54-816aa4f8c502:123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP";
const PROVIDER_AUTH = "bench:bench-provider-password";
const DIRS = 1000;
const FILES_TREE = Number(process.env.BENCH_DCACHE_TREE_FILES ?? 5000);
const RATE = 500;
const LATENCY_SECONDS = 4;
// 100,000 files take minutes to create and list on a 2-core machine next to other work; the figure
// scales linearly with the file count (one listing page per 1,000 entries), so a smaller tree is used
// unless BENCH_DCACHE_RESCAN_FILES says otherwise
const FILES_RESCAN = Number(process.env.BENCH_DCACHE_RESCAN_FILES ?? 20_000);

const dir = mkdtempSync(join(tmpdir(), "feed-dcache-bench-"));
const root = join(dir, "storage");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const began = performance.now();
const step = (what: string) => process.stderr.write(`  [${((performance.now() - began) / 1000).toFixed(1)} s] ${what}\n`);

/** Loopback trigger endpoint: every trigger exists; each fire is acknowledged and its events timed. */
class TriggerEndpoint {
  readonly ackAt = new Map<string, number>();
  private server?: Server;
  url = "";
  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c) => chunks.push(c));
      req.on("end", () => {
        if (req.method === "GET") {
          const name = decodeURIComponent((req.url ?? "").split("?")[0]!.split("/").pop() ?? "t");
          res.writeHead(200, { "content-type": "application/json" });
          return res.end(
            JSON.stringify({ namespace: "guest", name, parameters: [], limits: {}, version: "0.0.1", publish: false, annotations: [] }),
          );
        }
        const now = performance.now();
        const body = JSON.parse(Buffer.concat(chunks).toString() || "{}") as { events?: { subject: string }[] };
        for (const e of body.events ?? []) if (!this.ackAt.has(e.subject)) this.ackAt.set(e.subject, now);
        res.writeHead(202, { "content-type": "application/json" });
        res.end(JSON.stringify({ activationId: "0".repeat(32) }));
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, "127.0.0.1", r));
    this.url = `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
  }
  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((r) => this.server?.close(r));
  }
}

async function waitUntil(what: string, fn: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await sleep(20);
  }
}

/** A plain SSE reader on its own channel, subscribed to the given directories; notes when each file's IN_CLOSE_WRITE was read. */
async function rawReader(ep: DcacheEndpoint, dirs: string[]) {
  const { url } = await findOrCreateChannel(ep, `bench-raw-${process.pid}`);
  const subs = new Map<string, string>();
  const readAt = new Map<string, number>();
  const ctl = new AbortController();
  let connected!: () => void;
  const isConnected = new Promise<void>((r) => (connected = r));
  const loop = (async () => {
    for await (const m of streamChannel(ep, url, { signal: ctl.signal, onConnect: () => connected() })) {
      if (m.kind !== "inotify" || !m.event.mask.includes("IN_CLOSE_WRITE")) continue;
      const d = subs.get(m.subscription);
      if (d) readAt.set(`${d}/${m.event.name}`, performance.now());
    }
  })().catch(() => {});
  await isConnected;
  for (let i = 0; i < dirs.length; i += 50) {
    await Promise.all(
      dirs.slice(i, i + 50).map(async (d) => subs.set((await subscribeInotify(ep, url, { path: d, flags: ["IN_CLOSE_WRITE"] })).url, d)),
    );
  }
  return {
    readAt,
    async stop() {
      ctl.abort();
      await loop;
      await deleteChannel(ep, url);
    },
  };
}

async function provider(ow: TriggerEndpoint): Promise<RunningService> {
  return startService("feeds/provider/main.ts", ["--port", "0", "--data-dir", join(dir, "provider"), "--openwhisk-url", ow.url], {
    listeners: ["provider"],
    env: { PROVIDER_AUTH, PROVIDER_KEY: "2f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f2", PROVIDER_LOG_LEVEL: "info" },
  });
}

async function register(p: RunningService, trigger: string, path: string, frontend: string): Promise<void> {
  const res = await fetch(`${p.urls.provider}/api/v1/registrations`, {
    method: "POST",
    headers: { authorization: `Basic ${Buffer.from(PROVIDER_AUTH).toString("base64")}`, "content-type": "application/json" },
    body: JSON.stringify({
      triggerName: `/guest/${trigger}`,
      authKey: KEY,
      config: {
        source: {
          kind: "dcache",
          url: frontend,
          paths: [path],
          recursive: true,
          flags: ["IN_CLOSE_WRITE"],
          auth: { username: "demo", password: "demo" },
        },
        batch: { maxEvents: 1000, maxWaitMs: 20 },
      },
    }),
  });
  if (res.status !== 201) throw new Error(`registration failed: ${res.status} ${await res.text()}`);
}

async function sourceConnected(p: RunningService, trigger: string): Promise<void> {
  const end = Date.now() + 600_000;
  for (;;) {
    const r = await fetch(`${p.urls.provider}/api/v1/registrations/guest/${trigger}`, {
      headers: { authorization: `Basic ${Buffer.from(PROVIDER_AUTH).toString("base64")}`, "x-owner-key": KEY },
    });
    const body = (await r.json()) as { source?: { state?: string } };
    if (body.source?.state === "connected") return;
    if (Date.now() > end) throw new Error(`source of ${trigger} not connected: ${JSON.stringify(body)}`);
    await sleep(100);
  }
}

/** Writes `n` files spread over `dirs`, paced at `rate`/s (0 = as fast as possible); returns path → close time. */
async function writeFiles(dirs: string[], n: number, rate: number, prefix: string): Promise<Map<string, number>> {
  const closed = new Map<string, number>();
  const start = performance.now();
  for (let i = 0; i < n; i++) {
    if (rate > 0) {
      const due = start + (i * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 1) await sleep(wait);
    }
    const d = dirs[i % dirs.length]!;
    const path = `${d}/${prefix}-${i}.dat`;
    writeFileSync(join(root, path), Buffer.alloc(256, i));
    closed.set(path, performance.now());
  }
  return closed;
}

function throughput(closed: Map<string, number>, seen: Map<string, number>): number {
  const first = Math.min(...closed.values());
  let last = 0;
  for (const p of closed.keys()) last = Math.max(last, seen.get(p) ?? Infinity);
  return closed.size / ((last - first) / 1000);
}

function latencies(closed: Map<string, number>, seen: Map<string, number>): number[] {
  return [...closed].map(([p, t]) => (seen.get(p) ?? NaN) - t).filter((x) => Number.isFinite(x));
}

async function main(): Promise<void> {
  const tree = Array.from({ length: DIRS }, (_, i) => `/tree/d${String(i).padStart(4, "0")}`);
  for (const d of tree) mkdirSync(join(root, d), { recursive: true });
  const lat = ["/lat/a", "/lat/b", "/lat/c", "/lat/d"];
  for (const d of lat) mkdirSync(join(root, d), { recursive: true });
  const dcache = await startService(
    "local/dcache/main.ts",
    ["--root", root, "--frontend-port", "0", "--webdav-port", "0", "--inotify", "auto", "--replay-buffer", "1000"],
    {
      listeners: ["dcache-frontend", "dcache-webdav"],
    },
  );
  const frontend = dcache.urls["dcache-frontend"]!;
  const ep: DcacheEndpoint = { url: frontend, credentials: { type: "basic", username: "demo", password: "demo" } };
  const ow = new TriggerEndpoint();
  await ow.start();
  let prov: RunningService | undefined;
  try {
    console.log(
      `tree of ${DIRS} directories, ${FILES_TREE} files; latency at ${RATE} files/s for ${LATENCY_SECONDS} s; rescan of ${FILES_RESCAN} files (2 cores: scaled down from 100,000)`,
    );
    // reference: a plain SSE client on the same storage
    step("raw SSE reader");
    const raw = await rawReader(ep, [...tree, ...lat]);
    await sleep(300);
    const rawTree = await writeFiles(tree, FILES_TREE, 0, "raw");
    await waitUntil("raw reader saw every file", () => [...rawTree.keys()].every((p) => raw.readAt.has(p)), 120_000);
    const rawRate = throughput(rawTree, raw.readAt);
    const rawLatClosed = await writeFiles(lat, RATE * LATENCY_SECONDS, RATE, "raw");
    await waitUntil("raw reader saw every paced file", () => [...rawLatClosed.keys()].every((p) => raw.readAt.has(p)), 60_000);
    const rawLat = summarise(latencies(rawLatClosed, raw.readAt));
    await raw.stop();

    step("provider: watching the tree");
    prov = await provider(ow);
    let t0 = performance.now();
    await register(prov, "tree", "/tree", frontend);
    await register(prov, "lat", "/lat", frontend);
    await sourceConnected(prov, "tree");
    await sourceConnected(prov, "lat");
    const watchMs = performance.now() - t0;

    step("provider: tree burst");
    const provTree = await writeFiles(tree, FILES_TREE, 0, "prov");
    await waitUntil("provider fired every file", () => [...provTree.keys()].every((p) => ow.ackAt.has(p)), 300_000);
    const provRate = throughput(provTree, ow.ackAt);
    const provLatClosed = await writeFiles(lat, RATE * LATENCY_SECONDS, RATE, "prov");
    await waitUntil("provider fired every paced file", () => [...provLatClosed.keys()].every((p) => ow.ackAt.has(p)), 120_000);
    const provLat = summarise(latencies(provLatClosed, ow.ackAt));

    report("raw SSE read rate, 1,000-directory tree", rawRate, "files/s");
    report("creation → acknowledged fire, 1,000-directory tree", provRate, "files/s", { name: "raw SSE read", value: rawRate });
    report(`watch setup of ${DIRS} directories (subscribe + list)`, watchMs, "ms");
    report(`raw SSE close() → read p50 at ${RATE} files/s`, rawLat.p50, "ms");
    report(`close() → acknowledged fire p50 at ${RATE} files/s`, provLat.p50, "ms", { name: "raw SSE p50", value: rawLat.p50 });
    report(`raw SSE close() → read p99 at ${RATE} files/s`, rawLat.p99, "ms");
    report(`close() → acknowledged fire p99 at ${RATE} files/s`, provLat.p99, "ms", { name: "raw SSE p99", value: rawLat.p99 });

    // recovery: a big tree, the provider down while more is written than the channel's replay buffer
    // keeps (1,000 events), so the frontend answers the resume with EVENT_LOSS and the provider rescans
    const big = Array.from({ length: FILES_RESCAN / 100 }, (_, i) => `/big/d${i}`);
    for (const d of big) mkdirSync(join(root, d), { recursive: true });
    step("writing the big tree");
    await writeFiles(big, FILES_RESCAN, 0, "base");
    step("provider: first watch of the big tree");
    t0 = performance.now();
    await register(prov, "big", "/big", frontend);
    await sourceConnected(prov, "big");
    const baselineMs = performance.now() - t0;
    step("provider down; writing past the replay buffer");
    await prov.stop();
    const missed = await writeFiles(big, 1500, 0, "missed");
    step("provider restart: EVENT_LOSS, rescan");
    t0 = performance.now();
    prov = await provider(ow);
    await waitUntil("every missed file fired after EVENT_LOSS", () => [...missed.keys()].every((p) => ow.ackAt.has(p)), 600_000);
    const recoverMs = performance.now() - t0;
    const log = prov.output();
    const scans = [...log.matchAll(/"msg":"rescanned".*?"roots":\["\/big"\].*?"files":(\d+).*?"ms":(\d+)/g)].map((m) => ({
      files: Number(m[1]),
      ms: Number(m[2]),
    }));
    const scan = scans.at(-1);
    if (!/EVENT_LOSS/.test(log) || !scan) throw new Error("the provider did not report an EVENT_LOSS rescan of /big");
    report(`first watch of the ${FILES_RESCAN}-file tree (baseline listing)`, baselineMs, "ms");
    report(`rescan after EVENT_LOSS of ${scan.files} files (listing + compare)`, scan.ms, "ms");
    report("rescan rate (listed files/s)", scan.files / (scan.ms / 1000), "files/s", { name: "raw SSE read", value: rawRate });
    report("provider restart → all 1,500 missed files fired", recoverMs, "ms");
  } finally {
    await prov?.stop();
    await ow.stop();
    await dcache.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(`feed-dcache benchmark failed: ${(e as Error).message}`);
    process.exit(1);
  },
);

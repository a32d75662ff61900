// The container pool: a bound on containers with a queue behind it, warm reuse per action version,
// eviction of idle containers of other actions when full, and reaping of idle containers.
import { expect } from "chai";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eventually, startPlatform, removeDir, type Platform } from "./support.ts";

function annotation(rec: { annotations: { key: string; value: unknown }[] }, key: string): unknown {
  return rec.annotations.find((a) => a.key === key)?.value;
}

describe("local openwhisk: container pool", function () {
  this.timeout(30_000);
  let p: Platform;
  let dir: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "ow-pool-"));
    const config = join(dir, "config.json");
    writeFileSync(config, JSON.stringify({ idleTimeoutMs: 1000 }));
    p = await startPlatform({ dataDir: join(dir, "data"), args: ["--max-containers", "1", "--prewarm", "0", "--config", config] });
    const slow = `function main(p) { return new Promise(r => setTimeout(() => r({ who: p.who }), 400)); }`;
    for (const name of ["a", "b"]) {
      const r = await p.http("PUT", `/api/v1/namespaces/_/actions/${name}`, { exec: { kind: "nodejs:20", code: slow } });
      expect(r.status).to.equal(200);
    }
  });
  after(async () => {
    await p?.stop();
    if (dir) removeDir(dir);
  });

  it("queues work past the bound and runs it when a container frees up", async () => {
    const [ra, rb] = await Promise.all([
      p.http("POST", "/api/v1/namespaces/_/actions/a?blocking=true", { who: "a" }),
      p.http("POST", "/api/v1/namespaces/_/actions/b?blocking=true", { who: "b" }),
    ]);
    expect(ra.status).to.equal(200);
    expect(rb.status).to.equal(200);
    expect(ra.body.response.result).to.deep.equal({ who: "a" });
    expect(rb.body.response.result).to.deep.equal({ who: "b" });
    const waits = [annotation(ra.body, "waitTime"), annotation(rb.body, "waitTime")] as number[];
    expect(Math.max(...waits), "one of them waited for the other's container").to.be.greaterThan(300);
  });

  it("reuses a warm container for the same action version and starts cold for a new version", async () => {
    await p.http("POST", "/api/v1/namespaces/_/actions/a?blocking=true", { who: "warmup" });
    const warm = await p.http("POST", "/api/v1/namespaces/_/actions/a?blocking=true", { who: "again" });
    expect(annotation(warm.body, "initTime")).to.equal(undefined);
    await p.http("PUT", "/api/v1/namespaces/_/actions/a?overwrite=true", {
      exec: { kind: "nodejs:20", code: "function main() { return { v: 2 }; }" },
    });
    const fresh = await p.http("POST", "/api/v1/namespaces/_/actions/a?blocking=true", {});
    expect(fresh.body.response.result).to.deep.equal({ v: 2 });
    expect(annotation(fresh.body, "initTime")).to.be.a("number");
  });

  it("reaps containers left idle past the idle timeout", async () => {
    await p.http("POST", "/api/v1/namespaces/_/actions/b?blocking=true", { who: "x" });
    const warm = await p.http("POST", "/api/v1/namespaces/_/actions/b?blocking=true", { who: "y" });
    expect(annotation(warm.body, "initTime")).to.equal(undefined);
    await new Promise((r) => setTimeout(r, 2500));
    const cold = await p.http("POST", "/api/v1/namespaces/_/actions/b?blocking=true", { who: "z" });
    expect(annotation(cold.body, "initTime"), "the idle container was reaped").to.be.a("number");
  });

  it("removes a container's directory (the action's files) with the container", async () => {
    const code = "function main() { return { dir: __dirname, there: require('fs').statSync(__dirname).isDirectory() }; }";
    expect((await p.http("PUT", "/api/v1/namespaces/_/actions/files", { exec: { kind: "nodejs:20", code } })).status).to.equal(200);
    const r = await p.http("POST", "/api/v1/namespaces/_/actions/files?blocking=true", {});
    const { dir: own, there } = r.body.response.result as { dir: string; there: boolean };
    expect(there, `${own} is the running container's directory`).to.equal(true);
    // killed when reaped (idle past the timeout), as every container is: nothing of it stays behind
    await eventually(async () => (existsSync(own) ? undefined : true), `${own} removed with its container`);
  });
});

// limits.concurrency (OpenWhisk's intra-container concurrency): the action itself counts how many
// of its activations are in its process at once, so the figures are the runtime's, not the pool's.
const COUNTING = `
let inFlight = 0;
function main(p) {
  inFlight++;
  const seen = inFlight;
  return new Promise((r) => setTimeout(() => { inFlight--; r({ pid: process.pid, seen, who: p.who }); }, 400));
}`;

describe("local openwhisk: limits.concurrency and per-action queues", function () {
  this.timeout(60_000);
  let p: Platform;
  let dir: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "ow-concurrency-"));
    p = await startPlatform({ dataDir: join(dir, "data"), args: ["--max-containers", "1", "--prewarm", "0"] });
  });
  after(async () => {
    await p?.stop();
    if (dir) removeDir(dir);
  });

  it("accepts limits.concurrency 1…500 and refuses others with OpenWhisk's message", async () => {
    const code = { kind: "nodejs:20", code: COUNTING };
    const low = await p.http("PUT", "/api/v1/namespaces/_/actions/c0", { exec: code, limits: { concurrency: 0 } });
    expect(low.status).to.equal(400);
    expect(low.body.error).to.equal("The request content was malformed:\nconcurrency 0 below allowed threshold of 1");
    const high = await p.http("PUT", "/api/v1/namespaces/_/actions/c0", { exec: code, limits: { concurrency: 501 } });
    expect(high.status).to.equal(400);
    expect(high.body.error).to.equal("The request content was malformed:\nconcurrency 501 exceeds allowed threshold of 500");
    const ok = await p.http("PUT", "/api/v1/namespaces/_/actions/c3", { exec: code, limits: { concurrency: 3 } });
    expect(ok.status).to.equal(200);
    expect(ok.body.limits).to.deep.equal({ timeout: 60000, memory: 256, logs: 10, concurrency: 3 });
    // an update that leaves limits out keeps the stored concurrency
    const kept = await p.http("PUT", "/api/v1/namespaces/_/actions/c3?overwrite=true", { exec: code });
    expect(kept.body.limits.concurrency).to.equal(3);
  });

  it("runs up to limits.concurrency activations in one container at once", async () => {
    const runs = await Promise.all(["a", "b", "c"].map((who) => p.http("POST", "/api/v1/namespaces/_/actions/c3?blocking=true", { who })));
    for (const r of runs) expect(r.status).to.equal(200);
    const results = runs.map((r) => r.body.response.result as { pid: number; seen: number });
    expect(new Set(results.map((x) => x.pid)).size, "one container (one process) for all three").to.equal(1);
    expect(Math.max(...results.map((x) => x.seen)), "three activations inside it at once").to.equal(3);
    // logs are not cut per activation for a concurrent action (as OpenWhisk without log collection)
    for (const r of runs) expect(r.body.logs).to.deep.equal([]);
  });

  it("never runs more than limits.concurrency at once in a container; the rest wait", async () => {
    const put = await p.http("PUT", "/api/v1/namespaces/_/actions/c2", {
      exec: { kind: "nodejs:20", code: COUNTING },
      limits: { concurrency: 2 },
    });
    expect(put.status).to.equal(200);
    const runs = await Promise.all([1, 2, 3, 4, 5].map((who) => p.http("POST", "/api/v1/namespaces/_/actions/c2?blocking=true", { who })));
    const results = runs.map((r) => r.body.response.result as { pid: number; seen: number });
    expect(new Set(results.map((x) => x.pid)).size).to.equal(1);
    expect(Math.max(...results.map((x) => x.seen))).to.equal(2);
    const waited = runs.map((r) => annotation(r.body, "waitTime") as number);
    expect(waited.filter((w) => w >= 300).length, "three of five waited for a free slot").to.equal(3);
  });

  it("serves each action's queue in turn: an action never waits behind another's backlog", async () => {
    const slow = `function main(p) { return new Promise((r) => setTimeout(() => r({ who: p.who }), 300)); }`;
    for (const name of ["bulk", "urgent"]) {
      const r = await p.http("PUT", `/api/v1/namespaces/_/actions/${name}`, { exec: { kind: "nodejs:20", code: slow } });
      expect(r.status).to.equal(200);
    }
    // one container for everything: five bulk activations queue, then one urgent one arrives
    const bulk = [];
    for (let i = 0; i < 5; i++) bulk.push(await p.http("POST", "/api/v1/namespaces/_/actions/bulk", { who: i }));
    const urgent = await p.http("POST", "/api/v1/namespaces/_/actions/urgent?blocking=true", { who: "urgent" });
    expect(urgent.status).to.equal(200);
    const ids = bulk.map((r) => r.body.activationId as string);
    const records = await eventually(
      async () => {
        const all = await Promise.all(ids.map((id) => p.http("GET", `/api/v1/namespaces/_/activations/${id}`)));
        return all.every((r) => r.status === 200) ? all.map((r) => r.body) : undefined;
      },
      "bulk activations done",
      20_000,
    );
    const before = records.filter((b) => b.start < urgent.body.start).length;
    // FIFO across actions would run all five first; in turn, the running one and at most one more
    expect(before, "bulk activations that started before the urgent one").to.be.at.most(2);
  });
});

describe("local openwhisk: containers bounded by their memory (an invoker's user memory)", function () {
  this.timeout(60_000);
  let p: Platform;
  let dir: string;
  const slow = `function main(p) { return new Promise((r) => setTimeout(() => r({ who: p.who }), 400)); }`;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "ow-memory-"));
    p = await startPlatform({ dataDir: join(dir, "data"), args: ["--user-memory", "512", "--prewarm", "0"] });
    for (const [name, memory] of [
      ["small1", 256],
      ["small2", 256],
      ["big", 512],
    ] as const) {
      const r = await p.http("PUT", `/api/v1/namespaces/_/actions/${name}`, {
        exec: { kind: "nodejs:20", code: slow },
        limits: { memory },
      });
      expect(r.status).to.equal(200);
    }
  });
  after(async () => {
    await p?.stop();
    if (dir) removeDir(dir);
  });

  it("runs two 256 MB actions side by side in 512 MB, but a 512 MB one only alone", async () => {
    const pair = await Promise.all(
      ["small1", "small2"].map((a) => p.http("POST", `/api/v1/namespaces/_/actions/${a}?blocking=true`, { who: a })),
    );
    const pairWaits = pair.map((r) => annotation(r.body, "waitTime") as number);
    expect(Math.max(...pairWaits), "neither waited for the other").to.be.lessThan(300);
    const mixed = await Promise.all(
      ["small1", "big"].map((a) => p.http("POST", `/api/v1/namespaces/_/actions/${a}?blocking=true`, { who: a })),
    );
    for (const r of mixed) expect(r.status).to.equal(200);
    const mixedWaits = mixed.map((r) => annotation(r.body, "waitTime") as number);
    expect(Math.max(...mixedWaits), "one waited for the other's memory").to.be.greaterThan(300);
  });
});

describe("local openwhisk: which idle container makes room", function () {
  this.timeout(60_000);
  let p: Platform;
  let dir: string;
  const slow = `function main(p) { return new Promise((r) => setTimeout(() => r({ who: p.who }), 300)); }`;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "ow-evict-"));
    p = await startPlatform({ dataDir: join(dir, "data"), args: ["--user-memory", "768", "--prewarm", "0"] });
    for (const name of ["one", "two", "three"]) {
      const r = await p.http("PUT", `/api/v1/namespaces/_/actions/${name}`, {
        exec: { kind: "nodejs:20", code: slow },
        limits: { memory: 256 },
      });
      expect(r.status).to.equal(200);
    }
  });
  after(async () => {
    await p?.stop();
    if (dir) removeDir(dir);
  });

  it("evicts an action's surplus idle container before another action's only one, even if that one is older", async () => {
    await p.http("POST", "/api/v1/namespaces/_/actions/one?blocking=true", { who: "oldest" });
    // two of "two" side by side: the 768 MB are full, "one" is the least recently used
    await Promise.all([1, 2].map((who) => p.http("POST", "/api/v1/namespaces/_/actions/two?blocking=true", { who })));
    const three = await p.http("POST", "/api/v1/namespaces/_/actions/three?blocking=true", { who: "needs room" });
    expect(annotation(three.body, "initTime")).to.be.a("number");
    const one = await p.http("POST", "/api/v1/namespaces/_/actions/one?blocking=true", { who: "again" });
    expect(annotation(one.body, "initTime"), "one's only container stayed warm").to.equal(undefined);
    const two = await p.http("POST", "/api/v1/namespaces/_/actions/two?blocking=true", { who: "again" });
    expect(annotation(two.body, "initTime"), "two still has its other container").to.equal(undefined);
  });

  it("scales an action out only into free room or surplus, never by evicting another action's only container", async () => {
    // 768 MB, full: "one", "two" and "three" warm and idle, "one" the least recently used; then
    // three of "two" at once
    await p.http("POST", "/api/v1/namespaces/_/actions/one?blocking=true", { who: "warm" });
    await p.http("POST", "/api/v1/namespaces/_/actions/three?blocking=true", { who: "warm" });
    const runs = await Promise.all([1, 2, 3].map((who) => p.http("POST", "/api/v1/namespaces/_/actions/two?blocking=true", { who })));
    for (const r of runs) expect(r.status).to.equal(200);
    const waits = runs.map((r) => annotation(r.body, "waitTime") as number);
    expect(Math.max(...waits), "the third waited for a container of its own action").to.be.greaterThan(250);
    const one = await p.http("POST", "/api/v1/namespaces/_/actions/one?blocking=true", { who: "still warm?" });
    expect(annotation(one.body, "initTime"), "one's only container was not evicted").to.equal(undefined);
  });
});

describe("local openwhisk: busy actions keep their containers", function () {
  this.timeout(60_000);
  let p: Platform;
  let dir: string;
  const slow = `function main(p) { return new Promise((r) => setTimeout(() => r({ who: p.who }), 300)); }`;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "ow-churn-"));
    p = await startPlatform({ dataDir: join(dir, "data"), args: ["--user-memory", "768", "--prewarm", "0"] });
  });
  after(async () => {
    await p?.stop();
    if (dir) removeDir(dir);
  });

  it("two actions with backlogs keep their own containers: a freed container goes to its own action first", async () => {
    for (const name of ["left", "right"]) {
      const r = await p.http("PUT", `/api/v1/namespaces/_/actions/${name}`, {
        exec: { kind: "nodejs:20", code: slow },
        limits: { memory: 256 },
      });
      expect(r.status).to.equal(200);
    }
    // 768 MB: "left" takes all three containers, "right" gets the first one freed; from then on a
    // freed container is reused by its own action, not evicted for the other's cold start (which
    // would then cost the first a cold start in turn)
    const runs = await Promise.all([
      ...[1, 2, 3, 4, 5, 6].map((who) => p.http("POST", "/api/v1/namespaces/_/actions/left?blocking=true", { who })),
      ...[1, 2, 3, 4, 5, 6].map((who) => p.http("POST", "/api/v1/namespaces/_/actions/right?blocking=true", { who })),
    ]);
    for (const r of runs) expect(r.status).to.equal(200);
    const cold = (from: typeof runs) => from.filter((r) => annotation(r.body, "initTime") !== undefined).length;
    expect(cold(runs.slice(0, 6)), "left: its three first containers, never another").to.equal(3);
    // right: the first freed container, and perhaps one of left's once left has no work left
    expect(cold(runs.slice(6))).to.be.within(1, 2);
  });
});

// Faulty actions get the activation status real OpenWhisk gives them, and the platform keeps
// serving; a restart keeps entities and activations; throttles answer 429.
import { expect } from "chai";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startPlatform, removeDir, type Platform } from "./support.ts";

async function invoke(p: Platform, name: string, body: unknown = {}) {
  return p.http("POST", `/api/v1/namespaces/_/actions/${name}?blocking=true`, body);
}

async function create(p: Platform, name: string, code: string, limits?: object) {
  const r = await p.http("PUT", `/api/v1/namespaces/_/actions/${name}?overwrite=true`, {
    exec: { kind: "nodejs:20", code },
    ...(limits ? { limits } : {}),
  });
  expect(r.status, JSON.stringify(r.body)).to.equal(200);
}

describe("local openwhisk: faults, restarts and throttles", function () {
  this.timeout(40_000);
  let p: Platform;

  before(async () => {
    p = await startPlatform();
    await create(p, "ok", `function main(p) { return { fine: true, n: p.n }; }`);
  });
  after(async () => {
    await p?.stop();
    if (p) removeDir(p.dataDir);
  });

  async function stillServes() {
    const r = await invoke(p, "ok", { n: 7 });
    expect(r.status).to.equal(200);
    expect(r.body.response.result).to.deep.equal({ fine: true, n: 7 });
  }

  it("a thrown error is an action developer error (502)", async () => {
    await create(p, "throws", `function main() { console.log("about to fail"); throw new Error("boom"); }`);
    const r = await invoke(p, "throws");
    expect(r.status).to.equal(502);
    expect(r.body.response.status).to.equal("action developer error");
    expect(r.body.response.success).to.equal(false);
    expect(r.body.response.result.error).to.match(/boom/);
    expect(r.body.logs.join("\n")).to.match(/stdout: about to fail/);
    const again = await invoke(p, "throws");
    expect(again.status).to.equal(502);
    expect(
      again.body.annotations.some((a: { key: string }) => a.key === "initTime"),
      "a container that threw is not reused",
    ).to.equal(true);
    await stillServes();
  });

  it("a rejected Promise or a result with error is an application error (502); a non-object result a developer error", async () => {
    await create(p, "rejects", `function main() { return Promise.reject(new Error("not found")); }`);
    const r = await invoke(p, "rejects");
    expect(r.status).to.equal(502);
    expect(r.body.response).to.deep.include({ status: "application error", result: { error: "not found" } });
    await create(p, "noobj", `function main() { return 42; }`);
    const n = await invoke(p, "noobj");
    expect(n.status).to.equal(502);
    expect(n.body.response.status).to.equal("action developer error");
    expect(n.body.response.result.error).to.equal("The action did not return a dictionary.");
  });

  it("an action that never resolves is killed at its timeout with the contract's message", async () => {
    await create(p, "hangs", `function main() { console.log("waiting forever"); return new Promise(() => {}); }`, { timeout: 300 });
    const r = await invoke(p, "hangs");
    expect(r.status).to.equal(502);
    expect(r.body.response.status).to.equal("action developer error");
    expect(r.body.response.result).to.deep.equal({ error: "The action exceeded its time limits of 300 milliseconds." });
    expect(r.body.annotations).to.deep.include({ key: "timeout", value: true });
    expect(r.body.logs.join("\n")).to.match(/waiting forever/);
    await stillServes();
  });

  it("an action that allocates past its memory limit is aborted and recorded", async () => {
    await create(p, "hog", `function main() { const keep = []; for (;;) keep.push(new Array(1e6).fill(Math.random())); }`, { memory: 128 });
    const r = await invoke(p, "hog");
    expect(r.status).to.equal(502);
    expect(r.body.response.status).to.equal("action developer error");
    expect(r.body.response.result).to.deep.equal({ error: "The action exhausted its memory and was aborted." });
    await stillServes();
  });

  it("an action that fills memory outside the JavaScript heap is stopped too", async () => {
    await create(
      p,
      "bufhog",
      `function main() { const keep = []; return new Promise(() => setInterval(() => keep.push(Buffer.alloc(16 * 1024 * 1024, 1)), 5)); }`,
      { memory: 128, timeout: 20000 },
    );
    const r = await invoke(p, "bufhog");
    expect(r.status).to.equal(502);
    expect(r.body.response.result).to.deep.equal({ error: "The action exhausted its memory and was aborted." });
  });

  it("an action that calls process.exit gets a developer error, and the next invoke starts a fresh container", async () => {
    await create(p, "exits", `function main(p) { if (p.exit) process.exit(3); return { alive: true }; }`);
    const r = await invoke(p, "exits", { exit: true });
    expect(r.status).to.equal(502);
    expect(r.body.response.status).to.equal("action developer error");
    expect(r.body.response.result).to.deep.equal({ error: "The action did not produce a valid response and exited unexpectedly." });
    const next = await invoke(p, "exits", {});
    expect(next.status).to.equal(200);
    expect(
      next.body.annotations.some((a: { key: string }) => a.key === "initTime"),
      "a cold start after the crash",
    ).to.equal(true);
    await stillServes();
  });

  it("code that fails to initialise is a developer error with the runtime's message", async () => {
    await create(p, "broken", `function main( { return {}; }`);
    const r = await invoke(p, "broken");
    expect(r.status).to.equal(502);
    expect(r.body.response.status).to.equal("action developer error");
    expect(r.body.response.result.error).to.match(/^Initialization has failed due to: SyntaxError/);
    await create(p, "nomain", `function other() { return {}; }`);
    const m = await invoke(p, "nomain");
    expect(m.body.response.result.error).to.match(/Initialization has failed due to: .*'main' is not a function/);
  });

  it("a restart of the platform keeps entities and activations", async () => {
    await p.ow.triggers.create({ name: "kept" });
    const before = await invoke(p, "ok", { n: 1 });
    const id = before.body.activationId;
    await p.stop();
    p = await startPlatform({ dataDir: p.dataDir });
    const got = await p.ow.actions.get({ name: "ok" });
    expect(got.name).to.equal("ok");
    expect((await p.ow.triggers.get({ name: "kept" })).name).to.equal("kept");
    const rec = await p.ow.activations.get({ name: id });
    expect(rec.response.result).to.deep.equal({ fine: true, n: 1 });
    await stillServes();
  });
});

describe("local openwhisk: namespaces from config and throttles", function () {
  this.timeout(30_000);
  let p: Platform;
  let dir: string;
  const ALICE = "0f0f0f0f-1111-2222-3333-444444444444:alicesecretalicesecretalicesecretalicesecret";

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "ow-cfg-"));
    const config = join(dir, "config.json");
    writeFileSync(
      config,
      JSON.stringify({ namespaces: [{ namespace: "alice", auth: ALICE }], limits: { invocationsPerMinute: 3, firesPerMinute: 2 } }),
    );
    p = await startPlatform({ dataDir: join(dir, "data"), args: ["--config", config] });
  });
  after(async () => {
    await p?.stop();
    removeDir(dir);
  });

  it("serves extra namespaces with their own keys and keeps them apart", async () => {
    const mine = await p.http(
      "PUT",
      "/api/v1/namespaces/_/actions/a",
      { exec: { kind: "nodejs:20", code: "function main(){return {who:'alice'}}" } },
      ALICE,
    );
    expect(mine.status).to.equal(200);
    expect(mine.body.namespace).to.equal("alice");
    expect((await p.http("GET", "/api/v1/namespaces", undefined, ALICE)).body).to.deep.equal(["alice"]);
    expect((await p.http("GET", "/api/v1/namespaces/alice/actions/a")).status, "guest may not read alice's action").to.equal(403);
    expect((await p.http("GET", "/api/v1/namespaces/_/actions/a")).status).to.equal(404);
  });

  it("answers 429 past the invocations and fires per minute", async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await p.http("POST", "/api/v1/namespaces/_/actions/a?blocking=true", {}, ALICE)).status);
    expect(statuses).to.deep.equal([200, 200, 200, 429]);
    const r = await p.http("POST", "/api/v1/namespaces/_/actions/a?blocking=true", {}, ALICE);
    expect(r.body.error).to.match(/^Too many requests in the last minute \(count: \d+, allowed: 3\)\.$/);
    await p.http("PUT", "/api/v1/namespaces/_/triggers/t", {});
    const fires: number[] = [];
    for (let i = 0; i < 3; i++) fires.push((await p.http("POST", "/api/v1/namespaces/_/triggers/t", {})).status);
    expect(fires).to.deep.equal([204, 204, 429]);
  });

  it("refuses an invalid config file with a clear message", async () => {
    const bad = join(dir, "bad.json");
    writeFileSync(bad, JSON.stringify({ namespaces: [{ namespace: "x" }] }));
    let err: Error | undefined;
    try {
      await startPlatform({ dataDir: join(dir, "bad"), args: ["--config", bad] });
    } catch (e) {
      err = e as Error;
    }
    expect(err?.message).to.match(/config file .* is not valid: .*auth/);
  });
});

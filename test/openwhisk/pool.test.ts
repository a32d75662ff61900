// The container pool: a bound on containers with a queue behind it, warm reuse per action version,
// eviction of idle containers of other actions when full, and reaping of idle containers.
import { expect } from "chai";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startPlatform, removeDir, type Platform } from "./support.ts";

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
    await p.http("PUT", "/api/v1/namespaces/_/actions/a?overwrite=true", { exec: { kind: "nodejs:20", code: "function main() { return { v: 2 }; }" } });
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
});

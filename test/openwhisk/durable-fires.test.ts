// A trigger fire's rule invocations survive the platform being killed: after a restart on the same
// data directory they run again under the activation ids the trigger activation names, exactly
// once; finished ones are not run again; rule-fired activations carry the trigger activation as cause.
import { expect } from "chai";
import Database from "better-sqlite3";
import { join } from "node:path";
import { startPlatform, removeDir, eventually, type Platform } from "./support.ts";

const SLOW_MS = 3000;

describe("local openwhisk: durable rule invocations", function () {
  this.timeout(60_000);
  let p: Platform;

  before(async () => {
    p = await startPlatform();
    const put = async (path: string, body: unknown) => {
      const r = await p.http("PUT", `/api/v1/namespaces/_/${path}?overwrite=true`, body);
      expect(r.status, JSON.stringify(r.body)).to.equal(200);
    };
    await put("actions/slow", {
      exec: {
        kind: "nodejs:20",
        code: `function main(p) { return new Promise((r) => setTimeout(() => r({ file: p.file, site: p.site, done: true }), ${SLOW_MS})); }`,
      },
    });
    await put("actions/mark", { exec: { kind: "nodejs:20", code: `function main(p) { return { ...p, marked: true }; }` } });
    await put("actions/fast", { exec: { kind: "nodejs:20", code: `function main(p) { return { got: p.n }; }` } });
    await put("actions/slowseq", { exec: { kind: "sequence", components: ["/_/mark", "/_/slow"] } });
    for (const [t, a] of [
      ["t-slow", "slow"],
      ["t-seq", "slowseq"],
      ["t-fast", "fast"],
    ] as const) {
      await put(`triggers/${t}`, { parameters: [{ key: "site", value: "desy" }] });
      await put(`rules/r-${t}`, { trigger: `/_/${t}`, action: `/_/${a}` });
    }
  });
  after(async () => {
    await p?.stop();
    if (p) removeDir(p.dataDir);
  });

  /** Fires `trigger` and returns the trigger activation id and the one rule activation id it names. */
  async function fire(trigger: string, payload: object): Promise<{ triggerId: string; runId: string }> {
    const r = await p.http("POST", `/api/v1/namespaces/_/triggers/${trigger}`, payload);
    expect(r.status, JSON.stringify(r.body)).to.equal(202);
    const t = await p.http("GET", `/api/v1/namespaces/_/activations/${r.body.activationId}`);
    expect(t.status).to.equal(200);
    const log = JSON.parse(t.body.logs[0]);
    expect(log).to.include({ success: true });
    return { triggerId: r.body.activationId, runId: log.activationId };
  }

  async function restart(signal: NodeJS.Signals): Promise<number> {
    const port = new URL(p.url).port;
    await p.service.stop(signal);
    const restartedAt = Date.now();
    p = await startPlatform({ dataDir: p.dataDir, args: ["--port", port] });
    expect(new URL(p.url).port, "restarted on the same port").to.equal(port);
    return restartedAt;
  }

  async function completed(id: string): Promise<any> {
    return eventually(
      async () => {
        const r = await p.http("GET", `/api/v1/namespaces/_/activations/${id}`);
        return r.status === 200 ? r.body : undefined;
      },
      `activation ${id}`,
      20_000,
    );
  }

  async function recordsOf(name: string): Promise<{ activationId: string }[]> {
    const r = await p.http("GET", `/api/v1/namespaces/_/activations?name=${name}&limit=200`);
    expect(r.status).to.equal(200);
    return r.body;
  }

  function unfinishedRows(): number {
    const db = new Database(join(p.dataDir, "openwhisk.sqlite"), { readonly: true });
    try {
      return (db.prepare("SELECT count(*) AS n FROM rule_invocations").get() as { n: number }).n;
    } finally {
      db.close();
    }
  }

  it("runs an action again after a SIGKILL during its run, under the promised activation id, exactly once", async () => {
    const { triggerId, runId } = await fire("t-slow", { file: "/data/a.nxs" });
    await new Promise((r) => setTimeout(r, 800)); // the action is sleeping in its container now
    expect((await p.http("GET", `/api/v1/namespaces/_/activations/${runId}`)).status, "not finished before the kill").to.equal(404);
    const restartedAt = await restart("SIGKILL");

    const trig = await p.http("GET", `/api/v1/namespaces/_/activations/${triggerId}`);
    expect(trig.status, "the trigger activation survived").to.equal(200);
    const rec = await completed(runId);
    expect(rec.response).to.deep.include({ status: "success", success: true });
    expect(rec.response.result).to.deep.equal({ file: "/data/a.nxs", site: "desy", done: true });
    expect(rec.start, "it ran again after the restart").to.be.at.least(restartedAt);
    expect(rec.cause).to.equal(triggerId);
    expect(rec.annotations.map((a: { key: string }) => a.key)).to.not.include("causedBy");
    const ids = (await recordsOf("slow")).map((a) => a.activationId);
    expect(ids.filter((id) => id === runId)).to.have.length(1);
    expect(ids).to.have.length(1);
    expect(unfinishedRows()).to.equal(0);
  });

  it("runs a sequence again from its start after a SIGKILL during a component", async () => {
    const { triggerId, runId } = await fire("t-seq", { file: "/data/b.nxs" });
    await new Promise((r) => setTimeout(r, 1000)); // mark done, slow sleeping
    const restartedAt = await restart("SIGKILL");
    const rec = await completed(runId);
    expect(rec.response.result).to.deep.equal({ file: "/data/b.nxs", site: "desy", done: true });
    expect(rec.cause).to.equal(triggerId);
    expect(rec.annotations).to.deep.include({ key: "topmost", value: true });
    expect(rec.annotations.map((a: { key: string }) => a.key)).to.not.include("causedBy");
    expect(rec.logs).to.have.length(2);
    for (const c of rec.logs) {
      const component = await completed(c);
      expect(component.cause).to.equal(runId);
      expect(component.annotations).to.deep.include({ key: "causedBy", value: "sequence" });
      expect(component.start).to.be.at.least(restartedAt);
    }
    expect((await recordsOf("slowseq")).map((a) => a.activationId)).to.deep.equal([runId]);
    expect(unfinishedRows()).to.equal(0);
  });

  it("does not run a fire again whose invocations all finished before the kill", async () => {
    const fired = [];
    for (let n = 0; n < 5; n++) fired.push(await fire("t-fast", { n }));
    for (const f of fired) expect((await completed(f.runId)).response.result).to.deep.equal({ got: fired.indexOf(f) });
    // Listing writes out pending records: from here on they are on disk.
    expect(await recordsOf("fast")).to.have.length(5);
    expect(unfinishedRows()).to.equal(0);
    await restart("SIGKILL");
    await new Promise((r) => setTimeout(r, 1500));
    expect((await recordsOf("fast")).map((a) => a.activationId).sort()).to.deep.equal(fired.map((f) => f.runId).sort());
  });

  it("runs again after a clean stop (SIGTERM) a rule invocation the stop cut short", async () => {
    const { triggerId, runId } = await fire("t-slow", { file: "/data/c.nxs" });
    await new Promise((r) => setTimeout(r, 800));
    await restart("SIGTERM");
    const rec = await completed(runId);
    expect(rec.response.result).to.deep.equal({ file: "/data/c.nxs", site: "desy", done: true });
    expect(rec.cause).to.equal(triggerId);
  });

  it("gives a rule-fired action activation the trigger activation as cause, without causedBy", async () => {
    const { triggerId, runId } = await fire("t-fast", { n: 9 });
    const rec = await completed(runId);
    expect(rec.cause).to.equal(triggerId);
    expect(rec.annotations.map((a: { key: string }) => a.key)).to.not.include("causedBy");
    // Through the openwhisk npm client too.
    const viaClient = await p.ow.activations.get({ name: runId });
    expect(viaClient.cause).to.equal(triggerId);
  });
});

// The accounting action against a real Mosquitto (127.0.0.1:1883): records for succeeded, failed
// and skipped files; running totals that a subscriber arriving after concurrent activations reads
// exactly from the retained per-file records; stacks on one broker kept apart by their prefix; the
// totals CLI's /metrics; clear errors without secrets.
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import mqtt from "mqtt";
import { main } from "../../functions/accounting/index.ts";
import { fileTopic, type AccountingRecord } from "../../functions/accounting/records.ts";
import { watchAccounting } from "../../scripts/accounting/watch.ts";
import { startService } from "../support/service.ts";
import { clearRetained, MQTT_URL, requireMosquitto } from "./support/stack.ts";

const SECRET = "s3cret-pw";
const prefixes: string[] = [];

function newPrefix(name: string): string {
  const p = `test/accounting/${process.pid}-${randomBytes(3).toString("hex")}/${name}`;
  prefixes.push(p);
  return p;
}

const step = (fn: string) => ({
  function: fn,
  version: "0.1.0",
  startedAt: new Date().toISOString(),
  durationMs: 5,
  files: 1,
  bytesRead: 0,
  outcome: "ok" as const,
});
const ev = (id: string, agoMs = 1000) => ({
  id,
  type: "org.dcache.storage.IN_CLOSE_WRITE",
  time: new Date(Date.now() - agoMs).toISOString(),
  source: "/dcache",
});
const adler = (n: number) => n.toString(16).padStart(8, "0");

// What the activations print (OpenWhisk would keep it as their logs): captured for the whole suite,
// since activations run concurrently.
let logs = "";
const realLog = console.log;

async function run(params: Record<string, unknown>): Promise<{ result: Record<string, any> }> {
  return { result: (await main(params)) as Record<string, any> };
}

describe("accounting: records, running totals and topic prefixes on a real Mosquitto", function () {
  this.timeout(60_000);

  before(async () => {
    await requireMosquitto();
    console.log = (...a: unknown[]) => void (logs += `${a.join(" ")}\n`);
  });
  after(async () => {
    console.log = realLog;
    expect(logs).to.include("accounting: ").and.not.include(SECRET);
    for (const p of prefixes) await clearRetained(p);
  });

  it("a batch with succeeded, failed and skipped files: one retained record each, with outcome, step, reason and permanent", async () => {
    const prefix = newPrefix("batch");
    const { result } = await run({
      mqttUrl: MQTT_URL,
      mqttTopicPrefix: prefix,
      mqttUsername: "accounting",
      mqttPassword: SECRET,
      facility: "test-facility",
      files: [
        {
          path: "/beamtime/raw/ok-1.nxs",
          size: 100,
          adler32: adler(1),
          metadata: { format: "nexus", contentType: "application/x-hdf5", size: 100 },
          catalogue: { pid: "20.500/x" },
          event: ev("1", 2000),
        },
        { path: "/beamtime/raw/ok-2.cbf", size: 50, adler32: adler(2), event: ev("2") },
      ],
      failed: [
        {
          path: "/beamtime/raw/bad.nxs",
          step: "checksum",
          reason: "ADLER32 mismatch: storage 0000abcd, computed 0000dcba",
          permanent: true,
          size: 70,
          adler32: adler(3),
          event: ev("3", 3000),
        },
        {
          path: "/beamtime/raw/later.h5",
          step: "catalogue",
          reason: "SciCat answered 503; retry later",
          permanent: false,
          event: { id: "4" },
        },
      ],
      skipped: [{ path: "/beamtime/raw/gone.nxs", reason: "not found in storage" }],
      steps: [step("checksum"), step("metadata")],
    });
    expect(result.error, String(result.error)).to.equal(undefined);
    expect(result.accounting).to.deep.equal({ prefix, published: 5, succeeded: 2, failed: 2, skipped: 1 });
    expect(result.failed).to.have.length(2); // passed on unchanged
    expect(result.metrics.counters['storage_pipeline_files_total{facility="test-facility",outcome="failed"}']).to.equal(2);
    expect(
      result.metrics.counters['storage_pipeline_failed_files_total{facility="test-facility",step="checksum",permanent="true"}'],
    ).to.equal(1);
    expect(result.metrics.counters['storage_pipeline_bytes_total{facility="test-facility"}']).to.equal(150);
    expect(result.metrics.counters['storage_pipeline_failed_bytes_total{facility="test-facility"}']).to.equal(70);
    expect(logs + JSON.stringify(result)).to.not.include(SECRET);

    // a subscriber that comes afterwards still gets every file's record
    const w = await watchAccounting(MQTT_URL, prefix);
    const byPath = new Map<string, AccountingRecord>(w.totals.records().map((r) => [r.path, r]));
    await w.stop();
    expect([...byPath.keys()].sort()).to.deep.equal([
      "/beamtime/raw/bad.nxs",
      "/beamtime/raw/gone.nxs",
      "/beamtime/raw/later.h5",
      "/beamtime/raw/ok-1.nxs",
      "/beamtime/raw/ok-2.cbf",
    ]);
    const ok = byPath.get("/beamtime/raw/ok-1.nxs")!;
    expect(ok).to.include({
      outcome: "ok",
      bytes: 100,
      adler32: adler(1),
      format: "nexus",
      catalogue: "20.500/x",
      facility: "test-facility",
    });
    expect(ok.latencyMs).to.be.at.least(2000);
    expect(ok.steps.map((s) => s.function)).to.deep.equal(["checksum", "metadata"]);
    expect(ok).to.not.have.property("step");
    const bad = byPath.get("/beamtime/raw/bad.nxs")!;
    expect(bad).to.include({
      outcome: "failed",
      step: "checksum",
      permanent: true,
      bytes: 70,
      adler32: adler(3),
      facility: "test-facility",
    });
    expect(bad.reason).to.match(/ADLER32 mismatch/);
    expect(bad.event!.id).to.equal("3");
    expect(bad.latencyMs).to.be.at.least(3000);
    const later = byPath.get("/beamtime/raw/later.h5")!;
    expect(later).to.include({ outcome: "failed", step: "catalogue", permanent: false, reason: "SciCat answered 503; retry later" });
    expect(later).to.not.have.property("bytes");
    expect(later).to.not.have.property("latencyMs"); // no event time
    expect(byPath.get("/beamtime/raw/gone.nxs")).to.include({ outcome: "skipped", reason: "not found in storage" });
    expect(w.totals.totals()).to.deep.equal({
      files: 5,
      succeeded: 2,
      failed: 2,
      skipped: 1,
      permanentFailures: 1,
      bytes: { succeeded: 150, failed: 70 },
      failedByStep: { checksum: 1, catalogue: 1 },
    });
  });

  it("concurrent activations: a subscriber arriving afterwards reads exact totals (replayed files count once)", async () => {
    const prefix = newPrefix("concurrent");
    const live = await watchAccounting(MQTT_URL, prefix); // and one that watched all along
    const expected = new Map<string, { outcome: string; bytes: number; step?: string; permanent?: boolean }>();
    const batches = Array.from({ length: 24 }, (_, a) => {
      const files = Array.from({ length: 5 }, (_, i) => ({
        path: `/raw/a${a}/f${i}.nxs`,
        size: 1000 * a + i,
        adler32: adler(a * 10 + i),
        event: ev(`${a}.${i}`),
      }));
      const failed = [
        { path: `/raw/a${a}/bad.nxs`, step: a % 3 ? "metadata" : "checksum", reason: "corrupt HDF5", permanent: a % 2 === 0, size: 7 },
      ];
      // every activation also replays the same two files (as a redelivered event does): same outcome each time
      files.push({ path: "/raw/replayed.nxs", size: 11, adler32: adler(99), event: ev("r") });
      failed.push({ path: "/raw/replayed-bad.nxs", step: "placement", reason: "Rucio 500", permanent: false, size: 13 });
      for (const f of files) expected.set(f.path, { outcome: "ok", bytes: f.size });
      for (const f of failed) expected.set(f.path, { outcome: "failed", bytes: f.size, step: f.step, permanent: f.permanent });
      return { files, failed };
    });
    const results = await Promise.all(
      batches.map((b) => run({ mqttUrl: MQTT_URL, mqttTopicPrefix: prefix, ...b, steps: [step("checksum")] })),
    );
    for (const r of results) expect(r.result.error, String(r.result.error)).to.equal(undefined);
    expect(results.reduce((n, r) => n + r.result.accounting.published, 0)).to.equal(24 * 8);

    const values = [...expected.values()];
    const failed = values.filter((v) => v.outcome === "failed");
    const want = {
      files: expected.size,
      succeeded: values.length - failed.length,
      failed: failed.length,
      skipped: 0,
      permanentFailures: failed.filter((v) => v.permanent).length,
      bytes: {
        succeeded: values.filter((v) => v.outcome === "ok").reduce((a, v) => a + v.bytes, 0),
        failed: failed.reduce((a, v) => a + v.bytes, 0),
      },
      failedByStep: { checksum: 8, metadata: 16, placement: 1 },
    };
    expect(want.files).to.equal(24 * 6 + 2);
    const late = await watchAccounting(MQTT_URL, prefix);
    try {
      expect(late.totals.totals()).to.deep.equal(want);
      const metrics = late.totals.prometheus();
      expect(metrics)
        .to.include("# TYPE storage_pipeline_files gauge")
        .and.include(`storage_pipeline_files{outcome="ok"} ${want.succeeded}`);
      expect(metrics).to.include(`storage_pipeline_bytes{outcome="ok"} ${want.bytes.succeeded}`);
      // the subscriber that watched live saw the same
      for (let i = 0; i < 50 && live.totals.totals().files < want.files; i++) await new Promise((r) => setTimeout(r, 50));
      expect(live.totals.totals()).to.deep.equal(want);
    } finally {
      await late.stop();
      await live.stop();
    }
  });

  it("two stacks on one broker, two prefixes: their records and totals do not mix", async () => {
    const a = newPrefix("stack-a");
    const b = newPrefix("stack-b");
    const batch = (stack: string, n: number) => ({
      files: Array.from({ length: n }, (_, i) => ({ path: `/beamtime/raw/${stack}-${i}.nxs`, size: 10 })),
      failed: [{ path: "/beamtime/raw/same-name.nxs", step: "checksum", reason: `bad in ${stack}`, permanent: true }],
    });
    await Promise.all([
      run({ mqttUrl: MQTT_URL, mqttTopicPrefix: a, ...batch("a", 3) }),
      run({ mqttUrl: MQTT_URL, mqttTopicPrefix: b, ...batch("b", 5) }),
    ]);
    // what `mosquitto_sub -t '<prefix>/#'` shows
    const sub = await mqtt.connectAsync(MQTT_URL);
    const seen: Record<string, string[]> = { [a]: [], [b]: [] };
    sub.on("message", (t, m) =>
      (t.startsWith(`${a}/`) ? seen[a] : seen[b])!.push(JSON.parse(m.toString()).reason ?? JSON.parse(m.toString()).path),
    );
    await sub.subscribeAsync(`${a}/#`, { qos: 1 });
    const wa = await watchAccounting(MQTT_URL, a);
    const wb = await watchAccounting(MQTT_URL, b);
    try {
      expect(wa.totals.totals()).to.include({ files: 4, succeeded: 3, failed: 1 });
      expect(wb.totals.totals()).to.include({ files: 6, succeeded: 5, failed: 1 });
      expect(
        wa.totals
          .records()
          .map((r) => r.reason ?? r.path)
          .sort(),
      ).to.deep.equal(["/beamtime/raw/a-0.nxs", "/beamtime/raw/a-1.nxs", "/beamtime/raw/a-2.nxs", "bad in a"]);
      expect(wb.totals.records().every((r) => !r.path.includes("/a-") && r.reason !== "bad in a")).to.equal(true);
      expect(seen[a]).to.have.length(4);
      expect(seen[b]).to.have.length(0);
    } finally {
      await Promise.all([wa.stop(), wb.stop(), sub.endAsync()]);
    }
  });

  it("npm run accounting -- --serve: cumulative Prometheus gauges and JSON totals of a prefix", async () => {
    const prefix = newPrefix("serve");
    await run({
      mqttUrl: MQTT_URL,
      mqttTopicPrefix: prefix,
      facility: "f",
      files: [{ path: "/x/1.nxs", size: 5 }],
      failed: [{ path: "/x/2.nxs", step: "metadata", reason: "corrupt", permanent: true, size: 3 }],
    });
    const svc = await startService("scripts/accounting/cli.ts", ["--mqtt", MQTT_URL, "--prefix", prefix, "--serve", "0"], {
      listeners: ["accounting"],
    });
    try {
      const metrics = await (await fetch(`${svc.urls.accounting}/metrics`)).text();
      expect(metrics)
        .to.include('storage_pipeline_files{facility="f",outcome="ok"} 1')
        .and.include('storage_pipeline_failed_files{facility="f",step="metadata",permanent="true"} 1');
      // a later activation shows up without a restart
      await run({ mqttUrl: MQTT_URL, mqttTopicPrefix: prefix, facility: "f", files: [{ path: "/x/3.nxs", size: 7 }] });
      let totals: any;
      for (let i = 0; i < 40; i++) {
        totals = await (await fetch(`${svc.urls.accounting}/totals`)).json();
        if (totals.files === 3) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(totals).to.deep.include({ prefix, files: 3, succeeded: 2, failed: 1, bytes: { succeeded: 12, failed: 3 } });
    } finally {
      await svc.stop();
    }
  });

  it("topics: one per file under <prefix>/files, the path's levels kept, MQTT wildcards encoded", () => {
    expect(fileTopic("p/q", "/beamtime/raw/run-1.nxs")).to.equal("p/q/files/beamtime/raw/run-1.nxs");
    expect(fileTopic("p", "/a/b+c#d%e.h5")).to.equal("p/files/a/b%2Bc%23d%25e.h5");
  });

  it("clear errors, with no secret in them: bad failed entries, bad prefix, the old mqttTopic, an unreachable broker", async () => {
    const base = { mqttUrl: MQTT_URL, mqttUsername: "accounting", mqttPassword: SECRET, files: [{ path: "/x" }] };
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ failed: [{ path: "/y", step: "checksum", reason: "r" }] }, /invalid parameters for accounting: failed\.0\.permanent is required/],
      [{ failed: [{ path: "y", step: "checksum", reason: "r", permanent: true }] }, /failed\.0\.path must match pattern "\^\/"/],
      [{ mqttTopicPrefix: "a/#" }, /mqttTopicPrefix must match pattern/],
      [{ mqttTopicPrefix: "a/" }, /mqttTopicPrefix must match pattern/],
      [{ mqttTopic: "old/topic" }, /mqttTopic is no longer used: set mqttTopicPrefix/],
      [{ mqttUsername: undefined }, /must have property mqttUsername when property mqttPassword is present/],
      [{ mqttUrl: `mqtt://user:${SECRET}@127.0.0.1:1` }, /cannot reach the MQTT broker at mqtt:\/\/127\.0\.0\.1:1 \(connection refused\)/],
    ];
    for (const [extra, want] of cases) {
      const params: Record<string, unknown> = { ...base, ...extra };
      for (const k of Object.keys(params)) if (params[k] === undefined) delete params[k];
      const { result } = await run(params);
      expect(result.error, JSON.stringify(extra)).to.match(want);
      expect(logs + JSON.stringify(result), JSON.stringify(extra)).to.not.include(SECRET);
    }
  });
});

describe("accounting: the local stack's topic prefix", () => {
  it("each state folder gets its own valid prefix, stable across restarts; --mqtt-prefix / MQTT_TOPIC_PREFIX override it", async () => {
    const { stackTopicPrefix, watchCommand } = await import("../../scripts/stack/stack.ts");
    const { parseStackOptions } = await import("../../scripts/stack/options.ts");
    const a = stackTopicPrefix("/tmp/stack-a/state");
    expect(a).to.match(/^storage-events\/stack-[0-9a-f]{10}\/accounting$/);
    expect(stackTopicPrefix("/tmp/stack-a/state/")).to.equal(a);
    expect(stackTopicPrefix("/tmp/stack-b/state")).to.not.equal(a);
    const { validator } = await import("../../functions/_shared/schema.ts");
    const { paramsSchema } = await import("../../functions/accounting/schema.ts");
    expect(() => validator(paramsSchema, "parameters")({ mqttUrl: MQTT_URL, mqttTopicPrefix: a, files: [] })).to.not.throw();
    expect(watchCommand("mqtt://127.0.0.1:1883", a)).to.equal(`mosquitto_sub -h 127.0.0.1 -p 1883 -t '${a}/#' -v`);
    expect(parseStackOptions(["--mqtt-prefix", "site/dev/accounting"], {}).mqttTopicPrefix).to.equal("site/dev/accounting");
    expect(parseStackOptions([], { MQTT_TOPIC_PREFIX: "x/y" }).mqttTopicPrefix).to.equal("x/y");
    expect(parseStackOptions([], {}).mqttTopicPrefix).to.equal(undefined);
    expect(() => parseStackOptions(["--mqtt-prefix", "a/#"], {})).to.throw(/--mqtt-prefix must be an MQTT topic without wildcards/);
  });
});

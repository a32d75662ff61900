// The real serverless@3 CLI with serverless-openwhisk and the project plugin, against a loopback
// server that records the REST calls: what reaches OpenWhisk is asserted call by call.
import { expect } from "chai";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { unzipSync } from "fflate";
import { projectRoot } from "../support/service.ts";
import { GUEST_KEY, startRecordingOpenWhisk, type RecordedCall, type RecordingOpenWhisk } from "../support/recording-openwhisk.ts";

const service = join(projectRoot, "test/fixtures/service");
const slsBin = join(projectRoot, "node_modules/serverless/bin/serverless.js");
const home = mkdtempSync(join(tmpdir(), "sls-home-"));

function sls(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [slsBin, ...args],
      // HOME without a .wskprops: only the OW_* variables configure the CLI.
      {
        cwd: service,
        env: { ...process.env, HOME: home, SLS_TELEMETRY_DISABLED: "1", SLS_NOTIFICATIONS_MODE: "off", ...env },
        timeout: 120000,
      },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr }),
    );
  });
}

function zipFiles(base64: string): Record<string, string> {
  const files = unzipSync(Buffer.from(base64, "base64"));
  return Object.fromEntries(Object.entries(files).map(([k, v]) => [k, Buffer.from(v).toString("utf8")]));
}

const feedCalls = (calls: RecordedCall[]) =>
  calls.filter((c) => c.method === "POST" && c.path.endsWith("/actions/dcache/changes")).map((c) => ({ query: c.query, body: c.body }));

describe("serverless CLI with the project plugin", function () {
  this.timeout(180000);
  let ow: RecordingOpenWhisk;
  let env: NodeJS.ProcessEnv;

  beforeEach(async () => {
    ow = await startRecordingOpenWhisk();
    env = { OW_APIHOST: ow.url, OW_AUTH: GUEST_KEY };
  });
  afterEach(() => ow.close());
  after(() => rmSync(join(service, ".serverless"), { recursive: true, force: true }));

  it("`package` leaves one zip per action in .serverless/, each only its bundle and package.json", async () => {
    const r = await sls(["package"], env);
    expect(r.code, r.out).to.equal(0);
    expect(r.out).to.match(/greet\s+[\d.]+ (B|KiB)\s+[\d.]+ (B|KiB)/);
    expect(readdirSync(join(service, ".serverless")).sort()).to.deep.equal(["changes.zip", "greet.zip"]);
    for (const zip of ["changes.zip", "greet.zip"]) {
      const files = zipFiles(readFileSync(join(service, ".serverless", zip)).toString("base64"));
      expect(Object.keys(files).sort(), zip).to.deep.equal(["index.js", "package.json"]);
      expect(JSON.parse(files["package.json"]!).main).to.equal("index.js");
    }
    expect(ow.calls, "package talks to nobody").to.deep.equal([]);
  });

  it("`deploy` sends each action as its own zip, trigger parameters, feed DELETE then CREATE, and active rules", async () => {
    const r = await sls(["deploy"], env);
    expect(r.code, r.out).to.equal(0);
    expect(r.out).to.include("Deployment successful!");
    const puts = Object.fromEntries(
      ow.calls.filter((c) => c.method === "PUT").map((c) => [c.path.replace("/api/v1/namespaces/_/", ""), c]),
    );

    const greet = puts["actions/fixture-dev-greet"]!;
    expect(greet.query).to.deep.equal({ overwrite: "true" });
    expect(greet.body.exec).to.include({ kind: "nodejs:20", main: "main" });
    expect(greet.body.parameters).to.deep.equal([{ key: "greeting", value: "Moin" }]);
    expect(greet.body.limits).to.include({ concurrency: 4 });
    const files = zipFiles(greet.body.exec.code);
    expect(Object.keys(files).sort()).to.deep.equal(["index.js", "package.json"]);
    expect(JSON.parse(files["package.json"]!)).to.deep.equal({ name: "greet", main: "index.js" });
    expect(files["index.js"])
      .to.include("Hello")
      .and.not.to.match(/^import /m);
    // the shipped zip is the build's, byte for byte
    expect(Buffer.from(greet.body.exec.code, "base64").equals(readFileSync(join(service, "dist/actions/greet.zip")))).to.equal(true);

    // what the action is, as an annotation: bundle hash, commit, bundled packages, kind
    const provenance = greet.body.annotations.find((a: { key: string }) => a.key === "provenance").value;
    expect(provenance).to.include({ action: "greet", kind: "nodejs:20", source: "functions/greet/index.ts" });
    expect(provenance.bundleSha256).to.equal(createHash("sha256").update(files["index.js"]!).digest("hex"));
    expect(provenance.git.commit).to.match(/^[0-9a-f]{40}$/);
    expect(provenance.git.dirty).to.be.a("boolean");

    expect(zipFiles(puts["actions/dcache/changes"]!.body.exec.code)).to.have.keys("index.js", "package.json");
    expect(puts["actions/fixture-dev-twice"]!.body.exec).to.deep.equal({
      kind: "sequence",
      components: ["/_/fixture-dev-greet", "/_/fixture-dev-greet"],
    });

    expect(puts["triggers/ticks"]!.body).to.deep.equal({
      parameters: [
        { key: "site", value: "DESY" },
        { key: "beamline", value: "P11" },
      ],
      annotations: [],
    });
    expect(puts["triggers/files"]!.body).to.deep.equal({
      parameters: [{ key: "site", value: "XFEL" }],
      annotations: [{ key: "feed", value: "/guest/dcache/changes" }],
    });

    expect(feedCalls(ow.calls)).to.deep.equal([
      { query: { blocking: "true" }, body: { lifecycleEvent: "DELETE", authKey: GUEST_KEY, triggerName: "/guest/files" } },
      {
        query: { blocking: "true" },
        body: { lifecycleEvent: "CREATE", authKey: GUEST_KEY, triggerName: "/guest/files", path: "/data/raw", flags: "IN_CLOSE_WRITE" },
      },
    ]);
    // the feed is bound after its trigger exists
    const order = ow.calls.map((c) => `${c.method} ${c.path}`);
    expect(order.indexOf("PUT /api/v1/namespaces/_/triggers/files")).to.be.lessThan(
      order.findIndex((o) => o.startsWith("POST") && o.endsWith("/actions/dcache/changes")),
    );

    expect(puts["rules/fixture_ticks_to_greet"]!.body).to.deep.equal({ action: "/_/fixture-dev-greet", trigger: "/_/ticks" });
    const states = ow.calls.filter((c) => c.method === "POST" && c.path.includes("/rules/"));
    expect(states.map((c) => [c.path.split("/").pop(), c.body])).to.have.deep.members([
      ["fixture_ticks_to_greet", { status: "active" }],
      ["fixture_files_to_twice", { status: "active" }],
    ]);
  });

  it("`deploy` fails, naming the trigger and the feed's error, when the feed refuses the binding", async () => {
    ow.failAction = { path: "/actions/dcache/changes", error: "parameter 'path' must be an absolute dCache path" };
    const r = await sls(["deploy"], env);
    expect(r.code).to.not.equal(0);
    expect(r.out).not.to.include("Deployment successful!");
    expect(r.out).to.include("binding trigger /guest/files to feed /guest/dcache/changes failed");
    expect(r.out).to.include("parameter 'path' must be an absolute dCache path");
    expect(r.out).to.include("resources.triggers.files.feed_parameters");
    expect(r.out).not.to.include(GUEST_KEY.split(":")[1]!);
  });

  it("`deploy function -f greet` sends just that action, as its own zip", async () => {
    const r = await sls(["deploy", "function", "-f", "greet"], env);
    expect(r.code, r.out).to.equal(0);
    const writes = ow.calls.filter((c) => c.method !== "GET");
    expect(writes.map((c) => `${c.method} ${c.path}`)).to.deep.equal(["PUT /api/v1/namespaces/_/actions/fixture-dev-greet"]);
    expect(Object.keys(zipFiles(writes[0]!.body.exec.code)).sort()).to.deep.equal(["index.js", "package.json"]);
    expect(writes[0]!.body.limits).to.include({ concurrency: 4 });
    expect(writes[0]!.body.annotations.map((a: { key: string }) => a.key)).to.include("provenance");
  });

  it("`invoke local` runs the bundle with the function's parameters", async () => {
    const r = await sls(["invoke", "local", "-f", "greet", "-d", '{"name":"Lise"}'], env);
    expect(r.code, r.out).to.equal(0);
    expect(r.out).to.include('"message": "Moin, Lise"');
  });

  it("`remove` unbinds the feed with the real namespace, never /undefined/", async () => {
    const r = await sls(["remove"], env);
    expect(r.code, r.out).to.equal(0);
    expect(feedCalls(ow.calls)).to.deep.equal([
      { query: { blocking: "true" }, body: { lifecycleEvent: "DELETE", authKey: GUEST_KEY, triggerName: "/guest/files" } },
    ]);
    expect(ow.calls.some((c) => c.method === "DELETE" && c.path.endsWith("/triggers/files"))).to.equal(true);
    expect(JSON.stringify(ow.calls)).not.to.include("undefined");
  });

  it("never packages the service folder", () => {
    expect(existsSync(join(service, ".serverless", "fixture.zip"))).to.equal(false);
  });
});

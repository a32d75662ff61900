// Provenance end to end on the local OpenWhisk platform: `serverless deploy` annotates each action with
// what it is, and `npm run rerun` runs a recorded activation again with the exact bundle and input.
import { expect } from "chai";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import openwhisk from "openwhisk";
import { projectRoot, startService, type RunningService } from "../support/service.ts";
import { GUEST_KEY } from "../support/recording-openwhisk.ts";

const service = join(projectRoot, "test/fixtures/service");

function run(cmd: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, cmd, { cwd, env: { ...process.env, ...env }, timeout: 120000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr }),
    );
  });
}

describe("provenance on the local OpenWhisk platform", function () {
  this.timeout(240000);
  let platform: RunningService;
  let env: NodeJS.ProcessEnv;
  let ow: ReturnType<typeof openwhisk>;
  const home = mkdtempSync(join(tmpdir(), "prov-home-"));

  before(async () => {
    platform = await startService("local/openwhisk/main.ts", ["--port", "0", "--data-dir", mkdtempSync(join(tmpdir(), "ow-"))], {
      listeners: ["openwhisk"],
    });
    env = { OW_APIHOST: platform.urls.openwhisk, OW_AUTH: GUEST_KEY, HOME: home, SLS_TELEMETRY_DISABLED: "1" };
    ow = openwhisk({ apihost: platform.urls.openwhisk!, api_key: GUEST_KEY });
    const r = await run([join(projectRoot, "node_modules/serverless/bin/serverless.js"), "deploy"], service, env);
    expect(r.code, r.out).to.equal(0);
  });
  after(async () => {
    await platform?.stop();
    rmSync(join(service, ".serverless"), { recursive: true, force: true });
  });

  it("shows each deployed action's bundle hash, commit and packages through the openwhisk client", async () => {
    const action = await ow.actions.get({ name: "fixture-dev-greet" });
    const p = action.annotations!.find((a) => a.key === "provenance")!.value as Record<string, any>;
    const bundle = readFileSync(join(service, "dist/actions/greet/index.js"));
    expect(p.bundleSha256).to.equal(createHash("sha256").update(bundle).digest("hex"));
    expect(p.kind).to.equal("nodejs:20");
    expect(p.git.commit).to.match(/^[0-9a-f]{40}$/);
  });

  it("reruns a sequence component with the exact bundle and the previous component's result as input", async () => {
    const seq = await ow.actions.invoke({ name: "fixture-dev-twice", params: { name: "Lise" }, blocking: true });
    const components = seq.logs as unknown as string[];
    expect(components).to.have.length(2);
    const second = await ow.activations.get({ name: components[1]! });
    expect(second.response!.result).to.deep.equal({ message: "Moin, world" });
    const r = await run(
      ["--import", "tsx", "scripts/rerun/cli.ts", components[1]!, "--store", join(service, "dist/store")],
      projectRoot,
      env,
    );
    expect(r.code, r.out).to.equal(0);
    expect(r.out).to.match(/input\s+result of sequence component 1/);
    expect(r.out).to.include("result  matches the recorded result");
  });

  it("asks for the input of a direct invocation, and reruns it when given", async () => {
    const a = await ow.actions.invoke({ name: "fixture-dev-greet", params: { name: "Ada" }, blocking: true });
    const asked = await run(
      ["--import", "tsx", "scripts/rerun/cli.ts", a.activationId, "--store", join(service, "dist/store")],
      projectRoot,
      env,
    );
    expect(asked.code).to.equal(2);
    expect(asked.out).to.include("give it with --input FILE.json");
    const input = join(mkdtempSync(join(tmpdir(), "in-")), "input.json");
    writeFileSync(input, JSON.stringify({ name: "Ada" }));
    const r = await run(
      ["--import", "tsx", "scripts/rerun/cli.ts", a.activationId, "--store", join(service, "dist/store"), "--input", input],
      projectRoot,
      env,
    );
    expect(r.code, r.out).to.equal(0);
    expect(r.out).to.include("matches the recorded result");
    const other = join(mkdtempSync(join(tmpdir(), "in-")), "input.json");
    writeFileSync(other, JSON.stringify({ name: "Bob" }));
    const d = await run(
      ["--import", "tsx", "scripts/rerun/cli.ts", a.activationId, "--store", join(service, "dist/store"), "--input", other],
      projectRoot,
      env,
    );
    expect(d.code).to.equal(1);
    expect(d.out).to.include("DIFFERS at $.message");
  });

  it("reruns a rule-fired activation with its trigger's payload as input, found through cause", async () => {
    const fired = await ow.triggers.invoke({ name: "ticks", params: { name: "Grace" } });
    const trigger = await ow.activations.get({ name: fired.activationId });
    const id = JSON.parse((trigger.logs as unknown as string[])[0]!).activationId as string;
    let rec;
    for (let i = 0; i < 200 && !rec; i++) {
      rec = await ow.activations.get({ name: id }).catch(() => undefined);
      if (!rec) await new Promise((r) => setTimeout(r, 50));
    }
    expect(rec, `the rule's activation ${id}`).to.not.equal(undefined);
    expect((rec as { cause?: string }).cause).to.equal(fired.activationId);
    const r = await run(["--import", "tsx", "scripts/rerun/cli.ts", id, "--store", join(service, "dist/store")], projectRoot, env);
    expect(r.code, r.out).to.equal(0);
    expect(r.out).to.match(/input\s+payload of trigger ticks/);
    expect(r.out).to.include("result  matches the recorded result");
  });

  it("says where to find a bundle that is not in the store", async () => {
    const a = await ow.actions.invoke({ name: "fixture-dev-greet", params: {}, blocking: true });
    const r = await run(
      ["--import", "tsx", "scripts/rerun/cli.ts", a.activationId, "--store", mkdtempSync(join(tmpdir(), "empty-"))],
      projectRoot,
      env,
    );
    expect(r.code).to.equal(2);
    expect(r.out).to.match(/bundle [0-9a-f]{64} is not in the store .*build commit [0-9a-f]{40}/);
  });
});

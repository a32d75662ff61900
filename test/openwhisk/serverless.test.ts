// The real `serverless` CLI (v3 + serverless-openwhisk 0.18.4) deploys a small service with
// functions, a sequence, a trigger and a rule into the local platform, invokes it, and removes it.
import { expect } from "chai";
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { projectRoot } from "../support/service.ts";
import { startPlatform, removeDir, eventually, GUEST_AUTH, type Platform } from "./support.ts";

const run = promisify(execFile);
const SERVERLESS = join(projectRoot, "node_modules/serverless/bin/serverless.js");

const SERVICE_YML = `service: owlocal
frameworkVersion: "3"
configValidationMode: off
provider:
  name: openwhisk
  runtime: nodejs:20
package:
  patterns:
    - "!node_modules/**"
    - "!home/**"
plugins:
  - serverless-openwhisk
functions:
  greet:
    handler: handler.greet
    parameters:
      greeting: hello
    events:
      - trigger: ping
  shout:
    handler: handler.shout
    concurrency: 4
  chain:
    sequence:
      - greet
      - shout
resources:
  triggers:
    ping:
      parameters:
        who: trigger
`;

const HANDLER = `exports.greet = (params) => {
  console.log("greeting", params.who || "world");
  return { message: params.greeting + " " + (params.who || "world") };
};
exports.shout = (params) => ({ message: String(params.message).toUpperCase() + "!" });
`;

describe("local openwhisk: serverless deploy / invoke / remove", function () {
  this.timeout(120_000);
  let p: Platform;
  let dir: string;

  async function sls(...args: string[]): Promise<string> {
    try {
      const { stdout, stderr } = await run(process.execPath, [SERVERLESS, ...args], {
        cwd: dir,
        env: {
          ...process.env,
          HOME: join(dir, "home"),
          SLS_TELEMETRY_DISABLED: "1",
          SLS_NOTIFICATIONS_MODE: "off",
          OW_APIHOST: p.url,
          OW_AUTH: GUEST_AUTH,
          OW_NAMESPACE: "guest",
        },
        maxBuffer: 16 * 1024 * 1024,
      });
      return stdout + stderr;
    } catch (e) {
      const err = e as { stdout?: string; stderr?: string; message: string };
      throw new Error(`serverless ${args.join(" ")} failed: ${err.message}\n${err.stdout ?? ""}\n${err.stderr ?? ""}`);
    }
  }

  before(async () => {
    p = await startPlatform();
    dir = mkdtempSync(join(tmpdir(), "ow-sls-"));
    mkdirSync(join(dir, "home"));
    writeFileSync(join(dir, "serverless.yml"), SERVICE_YML);
    writeFileSync(join(dir, "handler.js"), HANDLER);
    symlinkSync(join(projectRoot, "node_modules"), join(dir, "node_modules"));
  });
  after(async () => {
    await p?.stop();
    if (p) removeDir(p.dataDir);
    if (dir) removeDir(dir);
  });

  it("deploys functions, a sequence, a trigger and an active rule", async () => {
    const out = await sls("deploy");
    expect(out).to.include("Deployment successful!");
    expect(out).to.include("**no routes deployed**");
    const names = (await p.ow.actions.list()).map((a: { name: string }) => a.name).sort();
    expect(names).to.deep.equal(["owlocal-dev-chain", "owlocal-dev-greet", "owlocal-dev-shout"]);
    const greet = await p.ow.actions.get({ name: "owlocal-dev-greet" });
    expect(greet.exec.binary).to.equal(true);
    expect(greet.exec.kind).to.equal("nodejs:20");
    // a function's \`concurrency\` becomes the action's limits.concurrency; absent, 1
    expect(greet.limits.concurrency).to.equal(1);
    expect((await p.ow.actions.get({ name: "owlocal-dev-shout" })).limits.concurrency).to.equal(4);
    const chain = await p.ow.actions.get({ name: "owlocal-dev-chain" });
    expect(chain.exec).to.deep.equal({ kind: "sequence", components: ["/guest/owlocal-dev-greet", "/guest/owlocal-dev-shout"] });
    expect((await p.ow.triggers.get({ name: "ping" })).name).to.equal("ping");
    const rule = await p.ow.rules.get({ name: "owlocal_ping_to_greet" });
    expect(rule).to.deep.include({ status: "active", action: { path: "guest", name: "owlocal-dev-greet" } });
  });

  it("invokes a function and a sequence and prints the result", async () => {
    const one = await sls("invoke", "-f", "greet", "-d", JSON.stringify({ who: "ada" }));
    expect(JSON.parse(one.slice(one.indexOf("{"), one.lastIndexOf("}") + 1))).to.deep.equal({ message: "hello ada" });
    const seq = await sls("invoke", "-f", "chain", "-d", JSON.stringify({ who: "ada" }));
    expect(JSON.parse(seq.slice(seq.indexOf("{"), seq.lastIndexOf("}") + 1))).to.deep.equal({ message: "HELLO ADA!" });
  });

  it("runs the deployed rule when the trigger fires", async () => {
    const fired = await p.ow.triggers.invoke({ name: "ping", params: { who: "bob" } });
    const trig = await p.ow.activations.get({ name: fired.activationId });
    const id = JSON.parse(trig.logs[0]).activationId;
    const rec = await eventually(async () => (await p.ow.activations.get({ name: id })) as any, "the rule activation");
    expect(rec.response.result).to.deep.equal({ message: "hello bob" });
    expect(rec.logs.join("\n")).to.match(/stdout: greeting bob/);
  });

  it("removes everything it deployed", async () => {
    const out = await sls("remove");
    expect(out).to.include("Resource removal successful!");
    expect(out).to.not.match(/Failed to delete/);
    expect(await p.ow.actions.list()).to.deep.equal([]);
    expect(await p.ow.triggers.list()).to.deep.equal([]);
    expect(await p.ow.rules.list()).to.deep.equal([]);
  });
});

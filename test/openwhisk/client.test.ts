// The `openwhisk` npm client drives every entity type of the local platform end to end, as it
// would a real OpenWhisk: actions (code, zip, packaged, sequences), packages and bindings,
// triggers, rules, activations, namespaces and limits.
import { expect } from "chai";
import { zipSync, strToU8 } from "fflate";
import { startPlatform, removeDir, eventually, GUEST_AUTH, type Platform } from "./support.ts";

describe("local openwhisk: the openwhisk npm client", function () {
  this.timeout(30_000);
  let p: Platform;

  before(async () => {
    p = await startPlatform();
  });
  after(async () => {
    await p?.stop();
    if (p) removeDir(p.dataDir);
  });

  async function statusOf(promise: Promise<unknown>): Promise<{ statusCode: number; message: string }> {
    try {
      await promise;
    } catch (e) {
      const err = e as { statusCode: number; message: string; error?: { error?: string } };
      return { statusCode: err.statusCode, message: err.error?.error ?? err.message };
    }
    throw new Error("expected the call to fail");
  }

  describe("namespaces and info", () => {
    it("lists the caller's namespace", async () => {
      expect(await p.ow.namespaces.list()).to.deep.equal(["guest"]);
    });
    it("serves the API info object without credentials", async () => {
      const r = await p.http("GET", "/api/v1", undefined, null);
      expect(r.status).to.equal(200);
      expect(r.body.description).to.be.a("string");
      expect(r.body.api_paths).to.deep.equal(["/api/v1"]);
    });
    it("reports the namespace limits", async () => {
      const r = await p.http("GET", "/api/v1/namespaces/_/limits");
      expect(r.status).to.equal(200);
      expect(r.body).to.include.keys("invocationsPerMinute", "concurrentInvocations", "firesPerMinute");
    });
  });

  describe("actions", () => {
    const code = `function main(params) { console.log("hello", params.name); return { greeting: "hello " + (params.name || "world") }; }`;

    it("creates, gets, lists, updates and deletes an action", async () => {
      const created = await p.ow.actions.create({ name: "crud", action: code, params: { name: "default" } });
      expect(created).to.include({ namespace: "guest", name: "crud", version: "0.0.1", publish: false });
      expect(created.exec).to.include({ kind: "nodejs:20", binary: false });
      expect(created.limits).to.deep.equal({ timeout: 60000, memory: 256, logs: 10, concurrency: 1 });
      expect(created.annotations).to.deep.include({ key: "exec", value: "nodejs:20" });
      expect(created.annotations).to.deep.include({ key: "provide-api-key", value: false });
      expect(created.parameters).to.deep.equal([{ key: "name", value: "default" }]);

      const got = await p.ow.actions.get({ name: "crud" });
      expect(got.exec.code).to.equal(code);

      const list = await p.ow.actions.list();
      const item = list.find((a: { name: string }) => a.name === "crud");
      expect(item.exec).to.deep.equal({ binary: false });

      const updated = await p.ow.actions.update({ name: "crud", action: code.replace("hello ", "hi "), limits: { timeout: 5000 } });
      expect(updated.version).to.equal("0.0.2");
      expect(updated.limits.timeout).to.equal(5000);
      expect(updated.parameters, "absent fields are kept on overwrite").to.deep.equal([{ key: "name", value: "default" }]);
      const r = await p.ow.actions.invoke({ name: "crud", blocking: true, result: true });
      expect(r, "a changed action never runs old code").to.deep.equal({ greeting: "hi default" });

      const deleted = await p.ow.actions.delete({ name: "crud" });
      expect(deleted.name).to.equal("crud");
      const e = await statusOf(p.ow.actions.get({ name: "crud" }));
      expect(e.statusCode).to.equal(404);
      expect(e.message).to.equal("The requested resource does not exist.");
    });

    it("answers 409 for a second create without overwrite, and for a name used by another collection", async () => {
      await p.ow.actions.create({ name: "twice", action: code });
      const e = await statusOf(p.ow.actions.create({ name: "twice", action: code }));
      expect(e.statusCode).to.equal(409);
      expect(e.message).to.equal("resource already exists");
      const t = await statusOf(p.ow.triggers.create({ name: "twice" }));
      expect(t.statusCode).to.equal(409);
    });

    it("answers 404 for unknown actions, triggers, rules, packages and activations", async () => {
      for (const call of [
        p.ow.actions.invoke({ name: "nope", blocking: true }),
        p.ow.triggers.get({ name: "nope" }),
        p.ow.rules.get({ name: "nope" }),
        p.ow.packages.get({ name: "nope" }),
        p.ow.activations.get({ name: "0123456789abcdef0123456789abcdef" }),
      ]) {
        expect((await statusOf(call)).statusCode).to.equal(404);
      }
    });

    it("rejects bad input with 400 and a message saying what is wrong", async () => {
      const badLimit = await p.http("PUT", "/api/v1/namespaces/_/actions/badlimit", {
        exec: { kind: "nodejs:20", code },
        limits: { memory: 4096 },
      });
      expect(badLimit.status).to.equal(400);
      expect(badLimit.body.error).to.match(/limits\.memory is 4096 but must be between 128 and 512/);
      expect(badLimit.body.code).to.match(/^[0-9a-f]{32}$/);
      const badKind = await p.http("PUT", "/api/v1/namespaces/_/actions/badkind", { exec: { kind: "cobol:1", code } });
      expect(badKind.status).to.equal(400);
      expect(badKind.body.error).to.match(/runtime 'cobol:1' is not supported/);
      const badName = await p.http("PUT", "/api/v1/namespaces/_/actions/-bad", { exec: { kind: "nodejs:20", code } });
      expect(badName.status).to.equal(400);
      const malformed = await fetch(`${p.url}/api/v1/namespaces/_/actions/x`, {
        method: "PUT",
        headers: { authorization: `Basic ${Buffer.from(GUEST_AUTH).toString("base64")}` },
        body: "{not json",
      });
      expect(malformed.status).to.equal(400);
      expect(((await malformed.json()) as { error: string }).error).to.match(/malformed/);
    });

    it("invokes blocking (200 with the full record), non-blocking (202) and with result=true", async () => {
      await p.ow.actions.create({ name: "greet", action: code });
      const rec = await p.ow.actions.invoke({ name: "greet", blocking: true, params: { name: "ada" } });
      expect(rec.activationId).to.match(/^[0-9a-f]{32}$/);
      expect(rec.response).to.deep.include({ status: "success", success: true, result: { greeting: "hello ada" } });
      expect(rec.logs).to.have.length(1);
      expect(rec.logs[0]).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z stdout: hello ada$/);
      const annotations = Object.fromEntries(rec.annotations.map((a: { key: string; value: unknown }) => [a.key, a.value]));
      expect(annotations.path).to.equal("guest/greet");
      expect(annotations.kind).to.equal("nodejs:20");
      expect(annotations.timeout).to.equal(false);
      expect(annotations.waitTime).to.be.a("number");
      expect(annotations.limits).to.deep.equal({ timeout: 60000, memory: 256, logs: 10, concurrency: 1 });

      const warm = await p.ow.actions.invoke({ name: "greet", blocking: true });
      expect(
        warm.annotations.some((a: { key: string }) => a.key === "initTime"),
        "warm: no initTime",
      ).to.equal(false);

      const nb = await p.ow.actions.invoke({ name: "greet", params: { name: "bob" } });
      expect(Object.keys(nb)).to.deep.equal(["activationId"]);
      const later = await eventually(async () => (await p.ow.activations.get({ name: nb.activationId })) as any, "the activation record");
      expect(later.response.result).to.deep.equal({ greeting: "hello bob" });

      const raw = await p.http("POST", "/api/v1/namespaces/guest/actions/greet?blocking=true&result=true", { name: "cy" });
      expect(raw.status).to.equal(200);
      expect(raw.body).to.deep.equal({ greeting: "hello cy" });
      expect(raw.headers.get("x-openwhisk-activation-id")).to.match(/^[0-9a-f]{32}$/);
      const nbRaw = await p.http("POST", "/api/v1/namespaces/guest/actions/greet", {});
      expect(nbRaw.status).to.equal(202);
      expect(nbRaw.headers.get("x-openwhisk-activation-id")).to.equal(nbRaw.body.activationId);
    });

    it("collects each activation's stdout and stderr, also text written without a final newline", async () => {
      await p.ow.actions.create({
        name: "chatty",
        action: `function main(p) { console.log("line one"); console.error("warn", p.n); process.stdout.write("no newline"); return { n: p.n }; }`,
      });
      for (const n of [1, 2]) {
        const rec = await p.ow.actions.invoke({ name: "chatty", blocking: true, params: { n } });
        const text = rec.logs.map((l: string) => l.replace(/^\S+ /, ""));
        expect(text).to.have.members(["stdout: line one", `stderr: warn ${n}`, "stdout: no newline"]);
      }
    });

    it("answers 202 when a blocking invoke outlasts the wait limit, and the activation still completes", async () => {
      await p.ow.actions.create({
        name: "slow",
        action: `function main() { return new Promise(r => setTimeout(() => r({ done: true }), 600)); }`,
      });
      const r = await p.http("POST", "/api/v1/namespaces/_/actions/slow?blocking=true&timeout=100", {});
      expect(r.status).to.equal(202);
      expect(r.body.activationId).to.match(/^[0-9a-f]{32}$/);
      const rec = await eventually(async () => (await p.ow.activations.get({ name: r.body.activationId })) as any, "the slow activation");
      expect(rec.response.result).to.deep.equal({ done: true });
      const bad = await p.http("POST", "/api/v1/namespaces/_/actions/slow?blocking=true&timeout=70000", {});
      expect(bad.status).to.equal(400);
    });

    it("gives the action its __OW_* environment", async () => {
      await p.ow.actions.create({
        name: "env",
        action: `function main() { return { ns: process.env.__OW_NAMESPACE, name: process.env.__OW_ACTION_NAME, id: process.env.__OW_ACTIVATION_ID,
          deadline: process.env.__OW_DEADLINE, host: process.env.__OW_API_HOST, version: process.env.__OW_ACTION_VERSION, key: process.env.__OW_API_KEY || null }; }`,
      });
      const rec = await p.ow.actions.invoke({ name: "env", blocking: true });
      const env = rec.response.result;
      expect(env).to.include({ ns: "guest", name: "/guest/env", id: rec.activationId, host: p.url, version: "0.0.1", key: null });
      expect(Number(env.deadline)).to.be.greaterThan(Date.now());
      await p.ow.actions.update({ name: "env", annotations: { "provide-api-key": true } });
      const withKey = await p.ow.actions.invoke({ name: "env", blocking: true, result: true });
      expect(withKey.key).to.equal(GUEST_AUTH);
    });

    it("lets an action require the preinstalled openwhisk client and call the platform with its own key", async () => {
      await p.ow.actions.create({
        name: "caller",
        action: `const openwhisk = require("openwhisk");
          async function main(p) {
            const ow = openwhisk();
            const echoed = await ow.actions.invoke({ name: "/whisk.system/utils/echo", blocking: true, result: true, params: { hop: p.hop } });
            return { echoed };
          }`,
        annotations: { "provide-api-key": true },
      });
      expect(await p.ow.actions.invoke({ name: "caller", blocking: true, result: true, params: { hop: 2 } })).to.deep.equal({
        echoed: { hop: 2 },
      });
    });

    it("runs a zip action through package.json main, with module.fn main and a Promise result", async () => {
      const zip = zipSync({
        "package.json": strToU8(JSON.stringify({ name: "zipped", main: "lib/entry.js" })),
        "lib/entry.js": strToU8(`const helper = require("./helper"); exports.main = async (p) => ({ shout: helper(p.text) });`),
        "lib/helper.js": strToU8(`module.exports = (t) => String(t).toUpperCase();`),
        "other.js": strToU8(`exports.handler = () => ({ from: "other" });`),
      });
      const created = await p.ow.actions.create({ name: "zipped", action: Buffer.from(zip), kind: "nodejs:20" });
      expect(created.exec.binary).to.equal(true);
      expect(await p.ow.actions.invoke({ name: "zipped", blocking: true, result: true, params: { text: "quiet" } })).to.deep.equal({
        shout: "QUIET",
      });
      await p.ow.actions.create({ name: "zipped-fn", action: Buffer.from(zip), exec: { main: "other.handler" } as any });
      expect(await p.ow.actions.invoke({ name: "zipped-fn", blocking: true, result: true })).to.deep.equal({ from: "other" });
    });

    it("refuses a payload that overrides a parameter of a final action with 400", async () => {
      await p.ow.actions.create({
        name: "fixed",
        action: `function main(p) { return { target: p.target }; }`,
        params: { target: "prod" },
        annotations: { final: true },
      });
      const e = await statusOf(p.ow.actions.invoke({ name: "fixed", blocking: true, params: { target: "evil" } }));
      expect(e.statusCode).to.equal(400);
      expect(e.message).to.match(/parameters that are not allowed/);
      expect(await p.ow.actions.invoke({ name: "fixed", blocking: true, result: true, params: { other: 1 } })).to.deep.equal({
        target: "prod",
      });
    });
  });

  describe("packages and bindings", () => {
    it("inherits parameters package < binding < action < payload and lists package contents", async () => {
      await p.ow.packages.create({
        name: "tools",
        package: {
          parameters: [
            { key: "a", value: "pkg" },
            { key: "b", value: "pkg" },
            { key: "c", value: "pkg" },
            { key: "d", value: "pkg" },
          ],
        },
      });
      await p.ow.actions.create({ name: "tools/show", action: `function main(p) { return p; }`, params: { c: "action", d: "action" } });
      await p.ow.packages.create({
        name: "mytools",
        package: {
          binding: { namespace: "guest", name: "tools" },
          parameters: [
            { key: "b", value: "binding" },
            { key: "c", value: "binding" },
          ],
        },
      });
      expect(await p.ow.actions.invoke({ name: "tools/show", blocking: true, result: true })).to.deep.equal({
        a: "pkg",
        b: "pkg",
        c: "action",
        d: "action",
      });
      expect(await p.ow.actions.invoke({ name: "mytools/show", blocking: true, result: true, params: { d: "payload" } })).to.deep.equal({
        a: "pkg",
        b: "binding",
        c: "action",
        d: "payload",
      });
      const pkg = await p.ow.packages.get({ name: "tools" });
      expect(pkg.actions.map((a: { name: string }) => a.name)).to.deep.equal(["show"]);
      const list = await p.ow.actions.list();
      expect(list.find((a: { name: string }) => a.name === "show").namespace).to.equal("guest/tools");
      const inPkg = await p.http("GET", "/api/v1/namespaces/_/actions/tools/");
      expect(inPkg.body.map((a: { name: string }) => a.name)).to.deep.equal(["show"]);
    });

    it("binds a public package of another namespace and refuses bindings to nothing", async () => {
      const b = await p.ow.packages.create({
        name: "myutils",
        package: { binding: { namespace: "whisk.system", name: "utils" }, parameters: [{ key: "from", value: "binding" }] },
      });
      expect(b.binding).to.deep.equal({ namespace: "whisk.system", name: "utils" });
      expect(await p.ow.actions.invoke({ name: "myutils/echo", blocking: true, result: true, params: { x: 1 } })).to.deep.equal({
        from: "binding",
        x: 1,
      });
      const missing = await p.http("PUT", "/api/v1/namespaces/_/packages/nobind", { binding: { namespace: "guest", name: "absent" } });
      expect(missing.status).to.equal(400);
      expect(missing.body.error).to.equal("Binding references a package that does not exist.");
      const intoSystem = await p.http("PUT", "/api/v1/namespaces/whisk.system/actions/utils/mine", {
        exec: { kind: "nodejs:20", code: "function main(){return {}}" },
      });
      expect(intoSystem.status).to.equal(403);
      const huge = await p.http("PUT", "/api/v1/namespaces/_/actions/huge", {
        exec: { kind: "nodejs:20", code: "function main(){return {}}" },
        parameters: [{ key: "k", value: "x".repeat(1100 * 1024) }],
      });
      expect(huge.status).to.equal(413);
      expect(huge.body.error).to.match(/^Parameters larger than allowed: \d+ > 1048576 bytes\.$/);
    });

    it("refuses to delete a non-empty package unless forced", async () => {
      await p.ow.packages.create({ name: "full" });
      await p.ow.actions.create({ name: "full/one", action: `function main() { return {}; }` });
      const r = await p.http("DELETE", "/api/v1/namespaces/_/packages/full");
      expect(r.status).to.equal(409);
      expect(r.body.error).to.equal("Package not empty (contains 1 entity)");
      const forced = await p.http("DELETE", "/api/v1/namespaces/_/packages/full?force=true");
      expect(forced.status).to.equal(200);
      expect((await statusOf(p.ow.actions.get({ name: "full/one" }))).statusCode).to.equal(404);
    });

    it("shows the public whisk.system/utils package and runs its echo and sort", async () => {
      const pkgs = await p.http("GET", "/api/v1/namespaces/whisk.system/packages");
      expect(pkgs.body.map((x: { name: string }) => x.name)).to.include("utils");
      const utils = await p.http("GET", "/api/v1/namespaces/whisk.system/packages/utils");
      expect(utils.body.actions.map((a: { name: string }) => a.name)).to.include.members(["echo", "sort", "cat", "head", "split", "date"]);
      const sorted = await p.http("POST", "/api/v1/namespaces/whisk.system/actions/utils/sort?blocking=true", { lines: ["b", "c", "a"] });
      expect(sorted.status).to.equal(200);
      expect(sorted.body.response.result).to.deep.equal({ lines: ["a", "b", "c"], length: 3 });
      expect(sorted.body.logs.join("\n")).to.match(/sort after: a,b,c/);
    });
  });

  describe("sequences", () => {
    it("chains whisk.system/utils/echo with own actions and records component activations", async () => {
      await p.ow.actions.create({ name: "double", action: `function main(p) { return { n: p.n * 2 }; }` });
      await p.ow.actions.create({ name: "inc", action: `function main(p) { return { n: p.n + (p.step || 1) }; }`, params: { step: 10 } });
      const seq = await p.ow.actions.create({ name: "pipeline", sequence: ["/whisk.system/utils/echo", "/_/double", "/guest/inc"] });
      expect(seq.exec).to.deep.equal({ kind: "sequence", components: ["/whisk.system/utils/echo", "/guest/double", "/guest/inc"] });
      expect(seq.parameters).to.deep.equal([{ key: "_actions", value: ["/whisk.system/utils/echo", "/guest/double", "/guest/inc"] }]);
      const rec = await p.ow.actions.invoke({ name: "pipeline", blocking: true, params: { n: 1 } });
      expect(rec.response.result).to.deep.equal({ n: 12 });
      expect(rec.logs).to.have.length(3);
      const annotations = Object.fromEntries(rec.annotations.map((a: { key: string; value: unknown }) => [a.key, a.value]));
      expect(annotations).to.include({ kind: "sequence", topmost: true, path: "guest/pipeline" });
      let total = 0;
      for (const id of rec.logs) {
        const c = await p.ow.activations.get({ name: id });
        expect(c.cause).to.equal(rec.activationId);
        expect(c.annotations).to.deep.include({ key: "causedBy", value: "sequence" });
        total += c.duration;
      }
      expect(rec.duration).to.equal(total);
    });

    it("stops at a component whose result has error", async () => {
      await p.ow.actions.create({ name: "fail", action: `function main() { return { error: "stop here" }; }` });
      await p.ow.actions.create({ name: "stops", sequence: ["/_/fail", "/whisk.system/utils/echo"] });
      const r = await p.http("POST", "/api/v1/namespaces/_/actions/stops?blocking=true", {});
      expect(r.status).to.equal(502);
      expect(r.body.response).to.deep.include({ status: "application error", result: { error: "stop here" } });
      expect(r.body.logs).to.have.length(1);
    });

    it("refuses empty, cyclic and dangling sequences with OpenWhisk's messages", async () => {
      const empty = await p.http("PUT", "/api/v1/namespaces/_/actions/s0", { exec: { kind: "sequence", components: [] } });
      expect(empty.body.error).to.equal("No component specified for the sequence.");
      const missing = await p.http("PUT", "/api/v1/namespaces/_/actions/s1", { exec: { kind: "sequence", components: ["/_/missing"] } });
      expect(missing.body.error).to.equal("Sequence component does not exist.");
      await p.ow.actions.create({ name: "s2", sequence: ["/whisk.system/utils/echo"] });
      const cyclic = await p.http("PUT", "/api/v1/namespaces/_/actions/s2?overwrite=true", {
        exec: { kind: "sequence", components: ["/_/s2"] },
      });
      expect(cyclic.status).to.equal(400);
      expect(cyclic.body.error).to.equal("Sequence may not refer to itself.");
    });
  });

  describe("triggers and rules", () => {
    it("fires a trigger through a rule to an activation whose result and logs are checked", async () => {
      await p.ow.actions.create({
        name: "onfire",
        action: `function main(p) { console.log("got", p.file, p.site); return { seen: p.file, site: p.site }; }`,
      });
      await p.ow.triggers.create({ name: "landed", trigger: { parameters: [{ key: "site", value: "desy" }] } });
      const rule = await p.ow.rules.create({ name: "landed-rule", action: "/_/onfire", trigger: "/_/landed" });
      expect(rule).to.deep.include({
        status: "active",
        trigger: { path: "guest", name: "landed" },
        action: { path: "guest", name: "onfire" },
      });
      const t = await p.ow.triggers.get({ name: "landed" });
      expect(t.rules).to.deep.equal({ "guest/landed-rule": { action: { path: "guest", name: "onfire" }, status: "active" } });

      const fired = await p.ow.triggers.invoke({ name: "landed", params: { file: "/data/run1.nxs" } });
      expect(fired.activationId).to.match(/^[0-9a-f]{32}$/);
      const trig = await p.ow.activations.get({ name: fired.activationId });
      expect(trig.response.result, "the payload as fired, without the trigger's parameters").to.deep.equal({ file: "/data/run1.nxs" });
      expect(trig.logs).to.have.length(1);
      const ruleLog = JSON.parse(trig.logs[0]);
      expect(ruleLog).to.include({ statusCode: 0, success: true, rule: "guest/landed-rule", action: "guest/onfire" });
      const act = await eventually(async () => {
        const a = (await p.ow.activations.get({ name: ruleLog.activationId })) as any;
        return a;
      }, "the rule's activation");
      expect(act.response.result).to.deep.equal({ seen: "/data/run1.nxs", site: "desy" });
      expect(act.logs.join("\n")).to.match(/stdout: got \/data\/run1\.nxs desy/);

      const filtered = await p.ow.activations.list({ name: "onfire", docs: true } as any);
      expect(filtered.map((a: { activationId: string }) => a.activationId)).to.include(ruleLog.activationId);
      expect((await p.ow.activations.logs({ name: ruleLog.activationId })).logs).to.deep.equal(act.logs);
      expect((await p.ow.activations.result({ name: ruleLog.activationId })).result).to.deep.equal(act.response.result);
    });

    it("answers 204 with no record when the only rule is disabled, and fires again once enabled", async () => {
      await p.ow.actions.create({ name: "quiet", action: `function main() { return {}; }` });
      await p.ow.triggers.create({ name: "t2" });
      await p.ow.rules.create({ name: "r2", action: "quiet", trigger: "t2" });
      await p.ow.rules.disable({ name: "r2" });
      expect((await p.ow.rules.get({ name: "r2" })).status).to.equal("inactive");
      const r = await p.http("POST", "/api/v1/namespaces/_/triggers/t2", { x: 1 });
      expect(r.status).to.equal(204);
      await p.ow.rules.enable({ name: "r2" });
      const again = await p.http("POST", "/api/v1/namespaces/_/triggers/t2", { x: 1 });
      expect(again.status).to.equal(202);
      await p.ow.rules.delete({ name: "r2" });
      await p.ow.triggers.delete({ name: "t2" });
      expect((await statusOf(p.ow.triggers.get({ name: "t2" }))).statusCode).to.equal(404);
    });

    it("fires a rule whose action is a sequence", async () => {
      await p.ow.actions.create({ name: "upper", action: `function main(p) { return { v: String(p.v).toUpperCase() }; }` });
      await p.ow.actions.create({ name: "seq-on-fire", sequence: ["/whisk.system/utils/echo", "/_/upper"] });
      await p.ow.triggers.create({ name: "t3" });
      await p.ow.rules.create({ name: "r3", action: "seq-on-fire", trigger: "t3" });
      const fired = await p.ow.triggers.invoke({ name: "t3", params: { v: "abc" } });
      const trig = await p.ow.activations.get({ name: fired.activationId });
      const id = JSON.parse(trig.logs[0]).activationId;
      const rec = await eventually(async () => (await p.ow.activations.get({ name: id })) as any, "the sequence activation");
      expect(rec.response.result).to.deep.equal({ v: "ABC" });
    });
  });

  describe("activations", () => {
    it("lists newest first with skip, limit, since/upto and count", async () => {
      await p.ow.actions.create({ name: "tick", action: `function main(p) { return { i: p.i }; }` });
      const before = Date.now();
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) ids.push((await p.ow.actions.invoke({ name: "tick", blocking: true, params: { i } })).activationId);
      const list = await p.ow.activations.list({ name: "tick", limit: 2 } as any);
      expect(list.map((a: { activationId: string }) => a.activationId)).to.deep.equal([ids[2], ids[1]]);
      expect(list[0]).to.not.have.property("logs");
      const skipped = await p.ow.activations.list({ name: "tick", limit: 1, skip: 2 } as any);
      expect(skipped[0].activationId).to.equal(ids[0]);
      const count = await p.http("GET", "/api/v1/namespaces/_/activations?name=tick&count=true");
      expect(count.body).to.deep.equal({ activations: 3 });
      const since = await p.http("GET", `/api/v1/namespaces/_/activations?name=tick&since=${before}&upto=${Date.now()}`);
      expect(since.body).to.have.length(3);
      const bad = await p.http("GET", "/api/v1/namespaces/_/activations?limit=500");
      expect(bad.status).to.equal(400);
    });
  });

  describe("authentication", () => {
    it("answers 401 for a missing or wrong key and 403 for another namespace", async () => {
      const none = await p.http("GET", "/api/v1/namespaces/_/actions", undefined, null);
      expect(none.status).to.equal(401);
      expect(none.body).to.have.keys("error", "code");
      const wrong = await p.http("GET", "/api/v1/namespaces/_/actions", undefined, "23bc46b1-71f6-4ed5-8c54-816aa4f8c502:wrong");
      expect(wrong.status).to.equal(401);
      expect(wrong.body.error).to.not.include("123zO3x");
      const other = await p.http("GET", "/api/v1/namespaces/someone/actions");
      expect(other.status).to.equal(403);
      expect(other.body.error).to.equal("The supplied authentication is not authorized to access this resource.");
      const sys = await p.http("GET", "/api/v1/namespaces/whisk.system/actions");
      expect(sys.status).to.equal(403);
    });
  });
});

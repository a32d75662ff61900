// What third-party clients (the `openwhisk` npm client, `aio rt`, serverless) trip over when the
// local platform differs from Apache OpenWhisk: trigger activation shapes, the 1 MB limit on fires
// and invokes, list views, package bindings, rule state changes and init error messages. Expected
// values come from OpenWhisk's controller, its CouchDB views and its Node.js runtime.
import { expect } from "chai";
import { request } from "node:http";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { projectRoot } from "../support/service.ts";
import { startPlatform, removeDir, eventually, GUEST_AUTH, type Platform } from "./support.ts";

const MB = 1024 * 1024;
const keysOf = (o: object) => Object.keys(o).sort();

/** Sends a body of `declared` bytes but writes only its first 64 KB, then waits for the answer. */
function postDeclaringSize(url: string, path: string, declared: number): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = request(url + path, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "content-length": declared,
        authorization: `Basic ${Buffer.from(GUEST_AUTH).toString("base64")}`,
      },
    });
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        resolve({ status: res.statusCode!, body: JSON.parse(Buffer.concat(chunks).toString("utf8")) });
        req.destroy();
      });
    });
    req.on("error", (e) => {
      // the server may close the socket once it has answered: only an error before that counts
      if (!req.destroyed) reject(e);
    });
    req.write(`{"x":"${"a".repeat(64 * 1024)}`);
  });
}

/** A JSON object body of exactly `n` bytes. */
function bodyOfSize(n: number): string {
  const frame = `{"x":""}`;
  return `{"x":"${"a".repeat(n - frame.length)}"}`;
}

describe("local openwhisk: fidelity to Apache OpenWhisk", function () {
  this.timeout(30_000);
  let p: Platform;

  before(async () => {
    p = await startPlatform();
    await p.ow.actions.create({ name: "echo-params", action: `function main(p) { return p; }` });
    await p.ow.triggers.create({
      name: "arrived",
      trigger: {
        parameters: [
          { key: "site", value: "desy" },
          { key: "token", value: "secret-in-trigger" },
        ],
      },
    });
    await p.ow.rules.create({ name: "arrived-rule", action: "echo-params", trigger: "arrived" });
  });
  after(async () => {
    await p?.stop();
    if (p) removeDir(p.dataDir);
  });

  async function fireAndFollow(params: object, headers: Record<string, string> = {}): Promise<{ trigger: any; action: any }> {
    const res = await fetch(`${p.url}/api/v1/namespaces/_/triggers/arrived`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Basic ${Buffer.from(GUEST_AUTH).toString("base64")}`, ...headers },
      body: JSON.stringify(params),
    });
    expect(res.status).to.equal(202);
    const { activationId } = (await res.json()) as { activationId: string };
    // Real OpenWhisk stores the trigger activation after the rules' invokes were posted: 404 until then.
    const trigger = await eventually(async () => {
      const r = await p.http("GET", `/api/v1/namespaces/_/activations/${activationId}`);
      return r.status === 200 ? r.body : undefined;
    }, "the trigger activation");
    const runId = JSON.parse(trigger.logs[0]).activationId;
    const action = await eventually(async () => {
      const r = await p.http("GET", `/api/v1/namespaces/_/activations/${runId}`);
      return r.status === 200 ? r.body : undefined;
    }, "the rule's activation");
    return { trigger, action };
  }

  describe("trigger activations", () => {
    it("have a start but no end, duration, annotations or result size, and keep the payload as fired", async () => {
      const { trigger, action } = await fireAndFollow({ file: "/data/run7.nxs" });
      expect(keysOf(trigger)).to.deep.equal([
        "activationId",
        "annotations",
        "logs",
        "name",
        "namespace",
        "publish",
        "response",
        "start",
        "subject",
        "version",
      ]);
      expect(trigger.start).to.be.a("number");
      expect(trigger.annotations).to.deep.equal([]);
      expect(trigger.response, "the payload only: trigger parameters are not recorded").to.deep.equal({
        result: { file: "/data/run7.nxs" },
        status: "success",
        success: true,
      });
      expect(action.response.result, "the rule's action still gets the trigger's parameters under the payload").to.deep.equal({
        site: "desy",
        token: "secret-in-trigger",
        file: "/data/run7.nxs",
      });
    });

    it("show in the list view without end, duration and statusCode, while action rows have them", async () => {
      const { trigger, action } = await fireAndFollow({ file: "/data/run8.nxs" });
      const list = await p.ow.activations.list({ limit: 50 } as never);
      const t = list.find((a: { activationId: string }) => a.activationId === trigger.activationId);
      const a = list.find((x: { activationId: string }) => x.activationId === action.activationId);
      expect(keysOf(t)).to.deep.equal(["activationId", "annotations", "name", "namespace", "publish", "start", "version"]);
      expect(keysOf(a)).to.deep.equal([
        "activationId",
        "annotations",
        "cause",
        "duration",
        "end",
        "name",
        "namespace",
        "publish",
        "start",
        "statusCode",
        "version",
      ]);
      expect(a).to.include({ cause: trigger.activationId, statusCode: 0 });
      const docs = await p.ow.activations.list({ name: "arrived", docs: true, limit: 1 } as never);
      expect(docs[0]).to.not.have.any.keys("end", "duration");
      expect(docs[0].response).to.not.have.property("statusCode");
    });

    it("do not forward the fire's HTTP headers to the rule's action (OpenWhisk 1.x controller)", async () => {
      const { action } = await fireAndFollow({ file: "/data/run9.nxs" }, { "x-github-event": "push" });
      expect(action.response.result).to.deep.equal({ site: "desy", token: "secret-in-trigger", file: "/data/run9.nxs" });
    });

    it("log each rule's outcome for a feed provider, a refused invocation with its error", async () => {
      const dir = mkdtempSync(join(tmpdir(), "ow-fid-"));
      const config = join(dir, "config.json");
      writeFileSync(config, JSON.stringify({ limits: { invocationsPerMinute: 1 } }));
      const q = await startPlatform({ dataDir: join(dir, "data"), args: ["--config", config] });
      try {
        await q.ow.actions.create({ name: "a", action: `function main(p) { return { n: p.n }; }` });
        await q.ow.triggers.create({ name: "t" });
        await q.ow.rules.create({ name: "r1", action: "a", trigger: "t" });
        await q.ow.rules.create({ name: "r2", action: "a", trigger: "t" });
        const fired = await q.ow.triggers.invoke({ name: "t", params: { n: 1 } });
        const t = await eventually(async () => {
          const r = await q.http("GET", `/api/v1/namespaces/guest/activations/${fired.activationId}`);
          return r.status === 200 ? r.body : undefined;
        }, "the trigger activation");
        const logs = t.logs.map((l: string) => JSON.parse(l));
        const ok = logs.filter((l: { success: boolean }) => l.success);
        const refused = logs.filter((l: { success: boolean }) => !l.success);
        expect(ok).to.have.length(1);
        expect(keysOf(ok[0])).to.deep.equal(["action", "activationId", "rule", "statusCode", "success"]);
        expect(ok[0]).to.include({ statusCode: 0, action: "guest/a" });
        expect(refused).to.have.length(1);
        expect(keysOf(refused[0])).to.deep.equal(["action", "error", "rule", "statusCode", "success"]);
        // OpenWhisk's activation response code (1: application error), not the HTTP status
        expect(refused[0]).to.include({ statusCode: 1, action: "guest/a" });
        expect(refused[0].error).to.match(/^Too many requests in the last minute \(count: 2, allowed: 1\)\.$/);
        const outcome = await eventually(async () => {
          const r = await q.http("GET", `/api/v1/namespaces/guest/activations/${ok[0].activationId}`);
          return r.status === 200 ? r.body : undefined;
        }, "the admitted rule's activation");
        expect(outcome.response).to.deep.include({ success: true, result: { n: 1 } });
      } finally {
        await q.stop();
        removeDir(dir);
      }
    });
  });

  describe("the 1 MB limit on activation bodies", () => {
    const message = (n: number) => `Request larger than allowed: ${n} > 1048576 bytes.`;

    it("refuses a 1.5 MB fire and a 1.5 MB invoke through the client with OpenWhisk's message, and stores nothing", async () => {
      const params = { x: "a".repeat(1.5 * MB) };
      const size = Buffer.byteLength(JSON.stringify(params));
      const before = (await p.http("GET", "/api/v1/namespaces/_/activations?name=arrived&count=true")).body.activations;
      for (const call of [p.ow.triggers.invoke({ name: "arrived", params }), p.ow.actions.invoke({ name: "echo-params", params })]) {
        const e = await call.then(
          () => undefined,
          (err: { statusCode: number; error: { error: string } }) => err,
        );
        expect(e, "refused").to.not.equal(undefined);
        expect(e!.statusCode).to.equal(413);
        expect(e!.error.error).to.equal(message(size));
      }
      const after = (await p.http("GET", "/api/v1/namespaces/_/activations?name=arrived&count=true")).body.activations;
      expect(after).to.equal(before);
    });

    it("answers a 60 MB fire with 413 before reading its body", async () => {
      const r = await postDeclaringSize(p.url, "/api/v1/namespaces/_/triggers/arrived", 60 * MB);
      expect(r.status).to.equal(413);
      expect(r.body.error).to.equal(message(60 * MB));
      expect(r.body.code).to.match(/^[0-9a-f]{32}$/);
    });

    it("refuses a chunked fire past 1 MB and admits a body of exactly 1 MB", async () => {
      const auth = `Basic ${Buffer.from(GUEST_AUTH).toString("base64")}`;
      const over = bodyOfSize(MB + 1);
      const chunked = await fetch(`${p.url}/api/v1/namespaces/_/triggers/arrived`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: auth },
        body: new Blob([over]).stream(),
        duplex: "half",
      } as RequestInit);
      expect(chunked.status).to.equal(413);
      expect(((await chunked.json()) as { error: string }).error).to.equal(message(MB + 1));
      const exact = await fetch(`${p.url}/api/v1/namespaces/_/triggers/arrived`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: auth },
        body: bodyOfSize(MB),
      });
      expect(exact.status).to.equal(202);
    });

    it("authenticates before it measures: 401 beats 413", async () => {
      const r = await fetch(`${p.url}/api/v1/namespaces/_/triggers/arrived`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: bodyOfSize(2 * MB),
      });
      expect(r.status).to.equal(401);
    });
  });

  describe("list views", () => {
    it("list actions, packages and triggers without parameters; an ordinary package has binding false", async () => {
      await p.ow.actions.create({ name: "with-secret", action: `function main() { return {}; }`, params: { password: "hunter2" } });
      await p.ow.packages.create({ name: "plain", package: { parameters: [{ key: "password", value: "hunter2" }] } });
      await p.ow.packages.create({
        name: "bound",
        package: { binding: { namespace: "guest", name: "plain" }, parameters: [{ key: "user", value: "me" }] },
      });
      const actions = await p.ow.actions.list();
      const action = actions.find((a: { name: string }) => a.name === "with-secret");
      expect(keysOf(action)).to.deep.equal(["annotations", "exec", "limits", "name", "namespace", "publish", "updated", "version"]);
      expect(action.exec).to.deep.equal({ binary: false });
      const packages = await p.ow.packages.list();
      const plain = packages.find((x: { name: string }) => x.name === "plain");
      const bound = packages.find((x: { name: string }) => x.name === "bound");
      expect(keysOf(plain)).to.deep.equal(["annotations", "binding", "name", "namespace", "publish", "updated", "version"]);
      expect(plain.binding).to.equal(false);
      expect(bound.binding).to.deep.equal({ namespace: "guest", name: "plain" });
      const trigger = (await p.ow.triggers.list()).find((t: { name: string }) => t.name === "arrived");
      expect(keysOf(trigger)).to.deep.equal(["annotations", "name", "namespace", "publish", "updated", "version"]);
      const all = await p.http("GET", "/api/v1/namespaces/_");
      expect(JSON.stringify(all.body)).to.not.include("hunter2").and.not.include("secret-in-trigger");
      expect((await p.ow.packages.get({ name: "plain" })).binding, "the package itself still has {}").to.deep.equal({});
    });
  });

  describe("package bindings", () => {
    before(async () => {
      await p.ow.packages.create({
        name: "lib",
        package: {
          parameters: [
            { key: "host", value: "lib" },
            { key: "port", value: 1 },
          ],
        },
      });
      await p.ow.actions.create({ name: "lib/show", action: `function main(p) { return p; }` });
      await p.ow.packages.create({
        name: "mylib",
        package: {
          binding: { namespace: "guest", name: "lib" },
          parameters: [
            { key: "port", value: 2 },
            { key: "user", value: "me" },
          ],
        },
      });
    });

    it("shows the bound package's parameters merged under the binding's own", async () => {
      const b = await p.ow.packages.get({ name: "mylib" });
      expect(b.binding).to.deep.equal({ namespace: "guest", name: "lib" });
      expect(b.parameters).to.have.deep.members([
        { key: "host", value: "lib" },
        { key: "port", value: 2 },
        { key: "user", value: "me" },
      ]);
      expect(b.parameters).to.have.length(3);
    });

    it("annotates activations invoked through a binding with it, and filters them by binding/action", async () => {
      const rec = await p.ow.actions.invoke({ name: "mylib/show", blocking: true });
      expect(rec.response.result).to.deep.equal({ host: "lib", port: 2, user: "me" });
      expect(rec.annotations).to.deep.include({ key: "binding", value: "guest/mylib" });
      expect(rec.annotations).to.deep.include({ key: "path", value: "guest/lib/show" });
      const direct = await p.ow.actions.invoke({ name: "lib/show", blocking: true });
      expect(direct.annotations.map((a: { key: string }) => a.key)).to.not.include("binding");
      const viaBinding = await p.ow.activations.list({ name: "mylib/show" } as never);
      expect(viaBinding.map((a: { activationId: string }) => a.activationId)).to.deep.equal([rec.activationId]);
      const inPackage = await p.ow.activations.list({ name: "lib/show" } as never);
      expect(inPackage.map((a: { activationId: string }) => a.activationId)).to.deep.equal([direct.activationId]);
    });
  });

  describe("wording and shapes", () => {
    it("answers a rule state change with a bare 200, also when the state does not change", async () => {
      await p.ow.triggers.create({ name: "toggled" });
      await p.ow.rules.create({ name: "toggle-rule", action: "echo-params", trigger: "toggled" });
      const off = await p.http("POST", "/api/v1/namespaces/_/rules/toggle-rule", { status: "inactive" });
      expect(off.status).to.equal(200);
      expect(off.body).to.equal("OK");
      expect(off.headers.get("content-type")).to.match(/^text\/plain/);
      expect((await p.ow.rules.get({ name: "toggle-rule" })).status).to.equal("inactive");
      expect((await p.http("POST", "/api/v1/namespaces/_/rules/toggle-rule", { status: "inactive" })).status).to.equal(200);
      expect(await p.ow.rules.enable({ name: "toggle-rule" })).to.equal("OK");
      expect((await p.ow.rules.get({ name: "toggle-rule" })).status).to.equal("active");
      await p.ow.triggers.delete({ name: "toggled" });
      const orphan = await p.http("POST", "/api/v1/namespaces/_/rules/toggle-rule", { status: "inactive" });
      expect(orphan.status).to.equal(404);
      expect(orphan.body.error).to.equal("Only rules with existing triggers can be activated");
    });

    it("reports a syntax error on init without the platform's paths on the host", async () => {
      await p.ow.actions.create({ name: "syntax", action: `function main( { return 1 }` });
      const r = await p.http("POST", "/api/v1/namespaces/_/actions/syntax?blocking=true", {});
      expect(r.status).to.equal(502);
      const error: string = r.body.response.result.error;
      expect(error).to.match(/^Initialization has failed due to: SyntaxError: [^\n]+$/);
      await p.ow.actions.create({ name: "throws-on-load", action: `throw new Error("no config"); function main() {}` });
      const t = await p.http("POST", "/api/v1/namespaces/_/actions/throws-on-load?blocking=true", {});
      const thrown: string = t.body.response.result.error;
      expect(thrown).to.match(/^Initialization has failed due to: Error: no config\n/);
      for (const text of [error, thrown]) {
        expect(text).to.not.include(projectRoot).and.not.include("node:internal");
      }
    });
  });
});

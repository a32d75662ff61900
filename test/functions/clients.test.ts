// The SciCat and Rucio clients of the catalogue and placement functions keep their login between
// calls (as in a warm action container), renew it before it runs out, and log in again when the
// service no longer accepts it.
import { expect } from "chai";
import { ScicatClient, forgetScicatTokens } from "../../functions/catalogue/scicat-client.ts";
import { RucioClient, forgetRucioTokens } from "../../functions/_shared/rucio-client.ts";
import { startService, type RunningService } from "../support/service.ts";

describe("functions: SciCat and Rucio login handling", function () {
  this.timeout(30_000);
  const running: RunningService[] = [];
  after(async () => {
    await Promise.all(running.map((s) => s.stop()));
  });

  it("SciCat: one login for many calls, renewed before expires_in, again after a 401", async () => {
    forgetScicatTokens();
    let svc = await startService("local/scicat/main.ts", ["--port", "0", "--token-ttl", "2"], { listeners: ["scicat"] });
    running.push(svc);
    const client = new ScicatClient({ scicatUrl: svc.urls.scicat!, scicatUsername: "ingestor", scicatPassword: "ingestor" });
    const t1 = await client.token();
    expect(await client.token()).to.equal(t1);
    expect((await client.call("GET", "/datasets")).status).to.equal(200);
    await new Promise((r) => setTimeout(r, 1900));
    const t2 = await client.token();
    expect(t2).to.not.equal(t1);
    // A restarted SciCat (in-memory database) no longer knows the token: the call logs in again.
    const port = new URL(svc.urls.scicat!).port;
    await svc.stop();
    svc = await startService("local/scicat/main.ts", ["--port", port, "--token-ttl", "3600"], { listeners: ["scicat"] });
    running.push(svc);
    expect((await client.call("GET", "/datasets")).status).to.equal(200);
    expect(await client.token()).to.not.equal(t2);
  });

  it("Rucio: token renewed before X-Rucio-Auth-Token-Expires", async () => {
    forgetRucioTokens();
    const svc = await startService("local/rucio/main.ts", ["--port", "0", "--token-lifetime", "2"], { listeners: ["rucio"] });
    running.push(svc);
    const client = new RucioClient({ rucioUrl: svc.urls.rucio!, rucioAccount: "demo", rucioUsername: "demo", rucioPassword: "demo" });
    const t1 = await client.token();
    expect(await client.token()).to.equal(t1);
    expect((await client.call("GET", "/rules/none")).exceptionClass).to.equal("RuleNotFound");
    await new Promise((r) => setTimeout(r, 1900));
    expect(await client.token()).to.not.equal(t1);
  });
});

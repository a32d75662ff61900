// The view server's safety rules, over real HTTP: loopback by default; on any other address it will
// not start without a login, and then every request needs it (HTTP Basic); a POST needs the
// X-View-Request header a cross-site form cannot send; an unreachable OpenWhisk is reported, not fatal.
import { expect } from "chai";
import { startViewServer, type ViewServer } from "../../scripts/view/server.ts";

const ow = { apihost: "http://127.0.0.1:9", auth: "u:k" };

describe("view server safety (scripts/view/server.ts)", function () {
  this.timeout(30_000);
  const open: ViewServer[] = [];
  after(async () => {
    for (const v of open) await v.close();
  });

  it("binds 127.0.0.1 by default and serves the bundled page without any other origin", async () => {
    const v = await startViewServer({ host: "127.0.0.1", port: 0, openwhisk: ow, since: Date.now() });
    open.push(v);
    expect(new URL(v.url).hostname).to.equal("127.0.0.1");
    const page = await (await fetch(v.url)).text();
    expect(page).to.include('<script type="module" src="/app.js">');
    expect(page).not.to.match(/https?:\/\/(?!127)/);
    const js = await fetch(`${v.url}app.js`);
    expect(js.headers.get("content-type")).to.match(/javascript/);
    expect(js.headers.get("content-security-policy")).to.include("default-src 'self'");
    const acts = (await (await fetch(`${v.url}api/activations`)).json()) as { records: unknown[]; error: string | null };
    expect(acts.records).to.deep.equal([]);
  });

  it("refuses a non-loopback address without a login", async () => {
    let err: Error | undefined;
    await startViewServer({ host: "0.0.0.0", port: 0, openwhisk: ow, since: Date.now() }).catch((e: Error) => (err = e));
    expect(err?.message).to.match(/needs a login: give --login USER:PASSWORD \(HTTP Basic\)/);
  });

  it("with a login, answers 401 without it or with a wrong one, and serves with it", async () => {
    const v = await startViewServer({ host: "0.0.0.0", port: 0, openwhisk: ow, login: "ops:correct horse", since: Date.now() });
    open.push(v);
    const url = `http://127.0.0.1:${new URL(v.url).port}/`;
    const none = await fetch(url);
    expect(none.status).to.equal(401);
    expect(none.headers.get("www-authenticate")).to.match(/^Basic /);
    const wrong = await fetch(url, { headers: { authorization: `Basic ${Buffer.from("ops:wrong").toString("base64")}` } });
    expect(wrong.status).to.equal(401);
    const right = await fetch(url, { headers: { authorization: `Basic ${Buffer.from("ops:correct horse").toString("base64")}` } });
    expect(right.status).to.equal(200);
  });

  it("refuses a POST without X-View-Request, and a retry without a provider says what to configure", async () => {
    const v = await startViewServer({ host: "127.0.0.1", port: 0, openwhisk: ow, since: Date.now() });
    open.push(v);
    const bare = await fetch(`${v.url}api/files/retry`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '{"paths":["/a"]}',
    });
    expect(bare.status).to.equal(403);
    const ok = await fetch(`${v.url}api/files/retry`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-view-request": "1" },
      body: '{"paths":["/a"]}',
    });
    expect(ok.status).to.equal(503);
    expect(((await ok.json()) as { error: string }).error).to.match(/--provider URL --provider-auth/);
    const bad = await fetch(`${v.url}api/files/retry`, { method: "POST", headers: { "x-view-request": "1" }, body: '{"paths":"x"}' });
    expect(bad.status).to.equal(400);
  });
});

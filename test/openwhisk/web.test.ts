// Web actions: actions annotated web-export answer plain HTTP under /api/v1/web without credentials.
import { expect } from "chai";
import { startPlatform, removeDir, type Platform } from "./support.ts";

describe("local openwhisk: web actions", function () {
  this.timeout(30_000);
  let p: Platform;

  before(async () => {
    p = await startPlatform();
    const code = `function main(p) {
      if (p.__ow_path === "/fail") return { error: "bad input" };
      if (p.name === "teapot") return { statusCode: 418, headers: { "x-kind": "teapot" }, body: { short: true } };
      return { statusCode: 200, headers: { "content-type": "text/plain" }, body: "hi " + (p.name || "anon") + " via " + p.__ow_method + p.__ow_path,
               html: "<b>" + p.name + "</b>", name: p.name };
    }`;
    await p.ow.actions.create({ name: "page", action: code, annotations: { "web-export": true, final: true }, params: { fixed: "yes" } });
    await p.ow.actions.create({ name: "hidden", action: code });
    await p.ow.packages.create({ name: "site" });
    await p.ow.actions.create({
      name: "site/raw",
      action: `function main(p) { return { body: { q: p.__ow_query, b: p.__ow_body } }; }`,
      annotations: { "web-export": true, "raw-http": true },
    });
  });
  after(async () => {
    await p?.stop();
    if (p) removeDir(p.dataDir);
  });

  it("turns query, body and path into parameters and the result into the HTTP response", async () => {
    const r = await fetch(`${p.url}/api/v1/web/guest/default/page/some/path?name=ada`);
    expect(r.status).to.equal(200);
    expect(r.headers.get("content-type")).to.equal("text/plain");
    expect(r.headers.get("x-openwhisk-activation-id")).to.match(/^[0-9a-f]{32}$/);
    expect(await r.text()).to.equal("hi ada via get/some/path");
    const post = await fetch(`${p.url}/api/v1/web/guest/default/page.http`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "teapot" }),
    });
    expect(post.status).to.equal(418);
    expect(post.headers.get("x-kind")).to.equal("teapot");
    expect(await post.json()).to.deep.equal({ short: true });
  });

  it("serves .json and .html projections and form posts", async () => {
    const j = await fetch(`${p.url}/api/v1/web/guest/default/page.json?name=bo`);
    expect(((await j.json()) as { name: string }).name).to.equal("bo");
    const h = await fetch(`${p.url}/api/v1/web/guest/default/page.html`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "name=cy",
    });
    expect(h.headers.get("content-type")).to.match(/^text\/html/);
    expect(await h.text()).to.equal("<b>cy</b>");
  });

  it("answers 404 for actions not exported, 400 for an application error and for overriding a final parameter", async () => {
    expect((await fetch(`${p.url}/api/v1/web/guest/default/hidden`)).status).to.equal(404);
    expect((await fetch(`${p.url}/api/v1/web/guest/default/nothing.json`)).status).to.equal(404);
    const fail = await fetch(`${p.url}/api/v1/web/guest/default/page.json/fail`);
    expect(fail.status).to.equal(400);
    expect(((await fail.json()) as { error: string }).error).to.equal("bad input");
    expect((await fetch(`${p.url}/api/v1/web/guest/default/page.json?fixed=no`)).status).to.equal(400);
  });

  it("gives raw-http actions the query and body as they came", async () => {
    const r = await fetch(`${p.url}/api/v1/web/guest/site/raw.json?a=1&b=2`, {
      method: "PUT",
      headers: { "content-type": "text/plain" },
      body: "plain words",
    });
    expect(((await r.json()) as { body: unknown }).body).to.deep.equal({ q: "a=1&b=2", b: "plain words" });
  });
});

// The storage-events REST API: every endpoint with its status codes, as dCache's frontend answers.
import { expect } from "chai";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { auth, createChannel, raw, startStorage, subscribe, type Storage } from "./support.ts";

const basic = (u: string, p: string) => ({ Authorization: `Basic ${Buffer.from(`${u}:${p}`).toString("base64")}` });
const bob = basic("bob", "builder");
const carol = basic("carol", "singer");

describe("local dCache: storage events REST API", () => {
  let s: Storage;
  let accountsDir = "";
  before(async () => {
    accountsDir = mkdtempSync(join(tmpdir(), "dcache-accounts-"));
    const dir = accountsDir;
    const file = join(dir, "accounts.json");
    writeFileSync(
      file,
      JSON.stringify({
        accounts: [
          { username: "demo", password: "demo", uid: 1000, home: "/", tokens: ["demo-token"] },
          { username: "bob", password: "builder", uid: 1001, home: "/bob" },
          { username: "carol", password: "singer", uid: 1002, home: "/" },
        ],
      }),
    );
    s = await startStorage(["--accounts", file]);
    mkdirSync(join(s.root, "bob"));
    mkdirSync(join(s.root, "data"));
    writeFileSync(join(s.root, "data/file.txt"), "x");
  });
  after(async () => {
    if (accountsDir) rmSync(accountsDir, { recursive: true, force: true });
    await s?.stop();
  });

  const get = (path: string, headers: Record<string, string> = auth()) => raw(s.frontend, "GET", path, { headers });
  const pathOf = (url: string) => new URL(url).pathname;

  it("401 for anonymous requests on every events endpoint", async () => {
    const ch = await createChannel(s.frontend);
    const paths: [string, string][] = [
      ["GET", "/api/v1/events"],
      ["GET", "/api/v1/events/eventTypes"],
      ["GET", "/api/v1/events/eventTypes/inotify/selector"],
      ["GET", "/api/v1/events/channels"],
      ["POST", "/api/v1/events/channels"],
      ["GET", pathOf(ch)],
      ["PATCH", pathOf(ch)],
      ["DELETE", pathOf(ch)],
      ["GET", `${pathOf(ch)}/subscriptions`],
      ["POST", `${pathOf(ch)}/subscriptions/inotify`],
    ];
    for (const [method, p] of paths) {
      const r = await raw(s.frontend, method, p);
      expect(r.status, `${method} ${p}`).to.equal(401);
      expect(JSON.parse(r.text).errors[0].message).to.match(/anonymous/);
    }
    const sse = await raw(s.frontend, "GET", pathOf(ch), { headers: { Accept: "text/event-stream" } });
    expect(sse.status).to.equal(401);
  });

  it("GET /events, /eventTypes and the JSON Schemas", async () => {
    expect(JSON.parse((await get("/api/v1/events")).text)).to.deep.equal({
      channels: { lifetimeWhenDisconnected: { minimum: 1, maximum: 86400, default: 300 }, maximumPerUser: 128 },
    });
    expect(JSON.parse((await get("/api/v1/events/eventTypes")).text)).to.deep.equal(["inotify", "metronome"]);
    const sel = JSON.parse((await get("/api/v1/events/eventTypes/inotify/selector")).text);
    expect(sel.required).to.deep.equal(["path"]);
    expect(sel.properties.path.pattern).to.equal("^/(.*[^/])?$");
    const ev = JSON.parse((await get("/api/v1/events/eventTypes/inotify/event")).text);
    expect(ev.properties).to.have.keys("name", "cookie", "mask");
    expect((await get("/api/v1/events/eventTypes/nosuch/selector")).status).to.equal(404);
  });

  it("POST /channels: 201 + Location; listed; client-id filter; JSON metadata; PATCH; DELETE → 404", async () => {
    const r = await raw(s.frontend, "POST", "/api/v1/events/channels", {
      headers: { ...auth(), "Content-Type": "application/json" },
      body: '{"client-id":"feed-1"}',
    });
    expect(r.status).to.equal(201);
    const url = r.headers.location as string;
    expect(url).to.match(/^http:\/\/127\.0\.0\.1:\d+\/api\/v1\/events\/channels\/[A-Za-z0-9_-]{22}$/);
    const plain = await createChannel(s.frontend);
    expect(JSON.parse((await get("/api/v1/events/channels")).text)).to.include.members([url, plain]);
    expect(JSON.parse((await get("/api/v1/events/channels?client-id=feed-1")).text)).to.deep.equal([url]);
    expect(JSON.parse((await get("/api/v1/events/channels?client-id=")).text))
      .to.include(plain)
      .and.not.include(url);
    expect(JSON.parse((await get(pathOf(url), { ...auth(), Accept: "application/json" })).text)).to.deep.equal({ timeout: 300 });

    const patch = (body: string) =>
      raw(s.frontend, "PATCH", pathOf(url), { headers: { ...auth(), "Content-Type": "application/json" }, body });
    expect((await patch('{"timeout":3600}')).status).to.equal(204);
    expect(JSON.parse((await get(pathOf(url))).text)).to.deep.equal({ timeout: 3600 });
    for (const bad of ['{"timeout":0}', '{"timeout":86401}', '{"timeout":"x"}', "{}", "not json"]) {
      const b = await patch(bad);
      expect(b.status, bad).to.equal(400);
      expect(JSON.parse(b.text).errors[0].message).to.be.a("string").and.not.be.empty;
    }
    expect((await raw(s.frontend, "DELETE", pathOf(url), { headers: auth() })).status).to.equal(204);
    expect((await get(pathOf(url))).status).to.equal(404);
    expect((await raw(s.frontend, "DELETE", pathOf(url), { headers: auth() })).status).to.equal(404);
    expect(JSON.parse((await get("/api/v1/events/channels?client-id=feed-1")).text)).to.deep.equal([]);
    expect((await raw(s.frontend, "POST", "/api/v1/events/channels", { headers: auth(), body: '{"client-id":5}' })).status).to.equal(400);
  });

  it("403 on another user's channel; channels are listed only to their owner", async () => {
    const mine = await createChannel(s.frontend);
    expect((await get(pathOf(mine), carol)).status).to.equal(403);
    expect((await raw(s.frontend, "DELETE", pathOf(mine), { headers: carol })).status).to.equal(403);
    expect((await subscribe(mine, { path: "/data" }, carol)).status).to.equal(403);
    expect(JSON.parse((await get("/api/v1/events/channels", carol)).text)).to.not.include(mine);
    expect((await get("/api/v1/events/channels/doesnotexist")).status).to.equal(404);
  });

  it("429 once a user has 128 channels", async () => {
    const made: string[] = [];
    for (let i = 0; i < 128; i++) made.push(await createChannel(s.frontend, carol));
    const r = await raw(s.frontend, "POST", "/api/v1/events/channels", { headers: carol });
    expect(r.status).to.equal(429);
    expect(JSON.parse(r.text).errors[0].message).to.match(/128/);
    expect((await raw(s.frontend, "POST", "/api/v1/events/channels", { headers: auth() })).status).to.equal(201);
    await raw(s.frontend, "DELETE", pathOf(made[0]!), { headers: carol });
    expect((await raw(s.frontend, "POST", "/api/v1/events/channels", { headers: carol })).status).to.equal(201);
  });

  it("subscriptions: 201 + Location, listed, selector readable, 303 for the same path, DELETE → 404", async () => {
    const ch = await createChannel(s.frontend);
    const r = await subscribe(ch, { path: "/data", flags: ["IN_CLOSE_WRITE"] });
    expect(r.status).to.equal(201);
    const sub = r.headers.location as string;
    expect(sub).to.match(new RegExp(`^${ch}/subscriptions/inotify/[A-Za-z0-9_-]+$`));
    expect(JSON.parse((await get(`${pathOf(ch)}/subscriptions`)).text)).to.deep.equal([sub]);
    expect(JSON.parse((await get(pathOf(sub))).text)).to.deep.equal({ path: "/data", flags: ["IN_CLOSE_WRITE"] });

    const again = await subscribe(ch, { path: "/data", flags: ["IN_CREATE", "IN_MASK_ADD"] });
    expect(again.status).to.equal(303);
    expect(again.headers.location).to.equal(sub);
    expect(JSON.parse((await get(pathOf(sub))).text).flags).to.have.members(["IN_CLOSE_WRITE", "IN_CREATE"]);
    const replaced = await subscribe(ch, { path: "/data", flags: ["IN_DELETE"] });
    expect(replaced.status).to.equal(303);
    expect(JSON.parse((await get(pathOf(sub))).text).flags).to.deep.equal(["IN_DELETE"]);

    const file = await subscribe(ch, { path: "/data/file.txt" });
    expect(file.status).to.equal(201);
    expect(JSON.parse((await get(`${pathOf(ch)}/subscriptions`)).text)).to.have.length(2);

    expect((await raw(s.frontend, "DELETE", pathOf(sub), { headers: auth() })).status).to.equal(204);
    expect((await get(pathOf(sub))).status).to.equal(404);
    expect((await raw(s.frontend, "DELETE", pathOf(sub), { headers: auth() })).status).to.equal(404);
    expect(JSON.parse((await get(`${pathOf(ch)}/subscriptions`)).text)).to.deep.equal([file.headers.location]);
  });

  it("400 with a JSON errors message for bad selectors, paths and permissions", async () => {
    const ch = await createChannel(s.frontend);
    const cases: [unknown, RegExp][] = [
      [{ path: "data" }, /Bad selector/],
      [{ path: "/data/" }, /Bad selector/],
      [{ path: "/data", flags: ["IN_NOPE"] }, /Bad selector/],
      [{ path: "/data", extra: 1 }, /Bad selector/],
      [{ flags: ["IN_CREATE"] }, /Bad selector/],
      [{ path: "/nonexistent" }, /Not found/],
      [{ path: "/data/../etc" }, /Bad selector/],
      [{ path: "/data/file.txt", flags: ["IN_ONLYDIR"] }, /not a directory/],
    ];
    for (const [sel, why] of cases) {
      const r = await subscribe(ch, sel);
      expect(r.status, JSON.stringify(sel)).to.equal(400);
      const body = JSON.parse(r.text);
      expect(body.errors[0].status).to.equal("400");
      expect(body.errors[0].message, JSON.stringify(sel)).to.match(why);
    }
    const bobs = await createChannel(s.frontend, bob);
    const denied = await subscribe(bobs, { path: "/data" }, bob);
    expect(denied.status).to.equal(400);
    expect(JSON.parse(denied.text).errors[0].message).to.match(/Permission denied/);
    expect((await subscribe(bobs, { path: "/bob" }, bob)).status).to.equal(201);
    const u = new URL(ch);
    const empty = await raw(u.origin, "POST", `${u.pathname}/subscriptions/inotify`, { headers: auth() });
    expect(empty.status).to.equal(400);
    expect(JSON.parse(empty.text).errors[0].message).to.match(/Missing JSON/);
    const unknownType = await raw(u.origin, "POST", `${u.pathname}/subscriptions/nosuch`, { headers: auth(), body: "{}" });
    expect(unknownType.status).to.equal(400);
    const metronome = await raw(u.origin, "POST", `${u.pathname}/subscriptions/metronome`, {
      headers: auth(),
      body: '{"frequency":1,"delay":1}',
    });
    expect(metronome.status).to.equal(400);
  });

  it("bearer tokens work in the Authorization header and as ?authz=", async () => {
    expect((await get("/api/v1/events/channels", { Authorization: "Bearer demo-token" })).status).to.equal(200);
    expect((await raw(s.frontend, "GET", "/api/v1/events/channels?authz=demo-token")).status).to.equal(200);
    expect((await raw(s.frontend, "GET", "/api/v1/events/channels?authz=not-a-token")).status).to.equal(401);
  });
});

// Bad input and broken transfers: the storage answers with clear errors and keeps running.
import { expect } from "chai";
import { existsSync, mkdirSync, readdirSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { auth, createChannel, isInotify, openSse, raw, startStorage, subscribe, type Storage } from "./support.ts";

describe("local dCache: robustness", function () {
  this.timeout(30_000);
  let s: Storage;
  before(async () => {
    s = await startStorage(["--inotify", "off"]);
    mkdirSync(join(s.root, "in"));
  });
  after(async () => {
    await s?.stop();
  });

  it("an upload aborted by the client leaves no partial file, reports IN_DELETE, and the server keeps serving", async () => {
    const ch = await createChannel(s.frontend);
    const sse = await openSse(ch);
    await subscribe(ch, { path: "/in" });
    const u = new URL(s.webdav);
    await new Promise<void>((resolve) => {
      const req = request({
        host: u.hostname,
        port: u.port,
        method: "PUT",
        path: "/in/partial.bin",
        headers: { ...auth(), "Content-Length": String(10 * 1024 * 1024) },
        agent: false,
      });
      req.on("error", () => resolve());
      req.write(Buffer.alloc(256 * 1024));
      setTimeout(() => {
        req.destroy();
        resolve();
      }, 300);
    });
    await sse.waitFor(isInotify("partial.bin", "IN_DELETE"));
    expect(existsSync(join(s.root, "in/partial.bin"))).to.equal(false);
    const seq = sse.messages.filter((m) => m.event === "inotify").map((m) => m.json.event.mask[0]);
    expect(seq).to.not.include("IN_CLOSE_WRITE");
    expect((await raw(s.webdav, "PUT", "/in/after.bin", { headers: auth(), body: "ok" })).status).to.equal(201);
    sse.close();
  });

  it("a short upload (fewer bytes than Content-Length) is refused and removed", async () => {
    const u = new URL(s.webdav);
    const status = await new Promise<number | string>((resolve) => {
      const req = request(
        {
          host: u.hostname,
          port: u.port,
          method: "PUT",
          path: "/in/short.bin",
          headers: { ...auth(), "Content-Length": "100" },
          agent: false,
        },
        (res) => {
          res.resume();
          resolve(res.statusCode!);
        },
      );
      req.on("error", (e) => resolve(e.message));
      req.write("only a few bytes");
      setTimeout(() => req.socket?.end(), 200);
    });
    expect(status).to.not.equal(201);
    await new Promise((r) => setTimeout(r, 200));
    expect(readdirSync(join(s.root, "in"))).to.not.include("short.bin");
  });

  it("malformed requests get 4xx with a message, never a crash", async () => {
    const ch = new URL(await createChannel(s.frontend)).pathname;
    const j = { ...auth(), "Content-Type": "application/json" };
    const cases: [string, string, string | undefined, number][] = [
      ["POST", `${ch}/subscriptions/inotify`, "{not json", 400],
      ["POST", `${ch}/subscriptions/inotify`, "[1,2]", 400],
      ["POST", `${ch}/subscriptions/inotify`, JSON.stringify({ path: `/${"x".repeat(70_000)}` }), 413],
      ["PATCH", ch, "null", 400],
      ["GET", "/api/v1/events/channels/%E0%A4%A", undefined, 400],
      ["GET", "/api/v1/namespace/%E0%A4%A", undefined, 400],
      ["GET", "/api/v1/nothing", undefined, 404],
      ["PUT", "/api/v1/events", undefined, 405],
    ];
    for (const [method, path, body, status] of cases) {
      const r = await raw(s.frontend, method, path, { headers: j, body });
      expect(r.status, `${method} ${path}`).to.equal(status);
      expect(JSON.parse(r.text).errors[0].message, `${method} ${path}`).to.be.a("string").and.not.empty;
    }
    const big = await raw(s.webdav, "PROPFIND", "/in", {
      headers: auth({ Depth: "0" }),
      body: `<?xml version='1.0'?>${" ".repeat(300 * 1024)}`,
    });
    expect(big.status).to.equal(413);
    expect((await raw(s.webdav, "GET", "/in/%E0%A4%A", { headers: auth() })).status).to.equal(400);
    expect((await raw(s.frontend, "GET", "/api/v1/events", { headers: auth() })).status).to.equal(200);
  });

  it("says clearly when inotifywait is missing: only WebDAV changes produce events", async () => {
    const noTools = await startStorage([], { PATH: "/nonexistent" });
    try {
      expect(noTools.svc.output()).to.match(
        /inotifywait not found \(install inotify-tools\); only changes made through the WebDAV door produce events/,
      );
      mkdirSync(join(noTools.root, "in"));
      const ch = await createChannel(noTools.frontend);
      const sse = await openSse(ch);
      await subscribe(ch, { path: "/in" });
      await raw(noTools.webdav, "PUT", "/in/x", { headers: auth(), body: "x" });
      await sse.waitFor(isInotify("x", "IN_CLOSE_WRITE"));
      sse.close();
    } finally {
      await noTools.stop();
    }
  });

  it("refuses an invalid accounts file and bad options with a message saying what to fix", async () => {
    const err = await startStorage(["--accounts", "/nonexistent/accounts.json"]).catch((e) => e);
    expect(String(err)).to.match(/cannot read the accounts file/);
    const port = await startStorage(["--frontend-port", "99999"]).catch((e) => e);
    expect(String(port)).to.match(/--frontend-port must be a port number/);
  });
});

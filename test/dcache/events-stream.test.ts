// The SSE stream with events from real changes: WebDAV operations and files written by other
// programs (cp, mv, rm), in both event-source modes (kernel inotify and WebDAV door only).
import { expect } from "chai";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { Adler32 } from "../../lib/checksum/adler32.ts";
import {
  auth,
  createChannel,
  isInotify,
  isSystem,
  openSse,
  raw,
  startStorage,
  subscribe,
  type SseMessage,
  type Storage,
} from "./support.ts";

const hasInotifywait = (() => {
  try {
    execFileSync("inotifywait", ["--help"], { stdio: "ignore" });
    return true;
  } catch (e) {
    return (e as { status?: number }).status !== undefined;
  }
})();

const names = (ms: SseMessage[], name: string) =>
  ms.filter((m) => m.event === "inotify" && m.json.event.name === name).map((m) => m.json.event.mask.join("+"));

for (const mode of ["kernel", "webdav-only"] as const) {
  describe(`local dCache: event stream (${mode === "kernel" ? "events from inotifywait" : "--inotify off: events from the WebDAV door"})`, function () {
    this.timeout(30_000);
    let s: Storage;
    before(async () => {
      if (mode === "kernel" && !hasInotifywait) {
        throw new Error(
          "inotifywait is not installed: install inotify-tools (apt-get install inotify-tools; .ci/run does this) to test kernel events",
        );
      }
      s = await startStorage(mode === "kernel" ? [] : ["--inotify", "off"]);
      mkdirSync(join(s.root, "in"));
      mkdirSync(join(s.root, "other"));
    });
    after(async () => {
      await s?.stop();
    });

    it("says where its events come from", () => {
      expect(s.svc.output()).to.include(
        mode === "kernel" ? "events from the kernel (inotifywait)" : "only changes made through the WebDAV door produce events",
      );
    });

    it("a WebDAV upload gives IN_CREATE, IN_OPEN, IN_MODIFY, IN_CLOSE_WRITE, IN_ATTRIB; size and ADLER32 readable at IN_CLOSE_WRITE", async () => {
      const ch = await createChannel(s.frontend);
      const sse = await openSse(ch);
      expect(sse.status).to.equal(200);
      const sub = await subscribe(ch, { path: "/in" });
      expect(sub.status).to.equal(201);
      const nsub = await sse.waitFor(isSystem("NEW_SUBSCRIPTION"));
      expect(nsub.id).to.equal(undefined);
      expect(nsub.json.subscription).to.equal(sub.headers.location);

      const data = randomBytes(3 * 1024 * 1024 + 5);
      const put = await raw(s.webdav, "PUT", "/in/run-0042.nxs", { headers: auth(), body: data });
      expect(put.status).to.equal(201);
      const close = await sse.waitFor(isInotify("run-0042.nxs", "IN_CLOSE_WRITE"));
      const ns = JSON.parse((await raw(s.frontend, "GET", "/api/v1/namespace/in/run-0042.nxs?checksum=true", { headers: auth() })).text);
      expect(ns.size).to.equal(data.length);
      expect(ns.checksums[0].value).to.equal(new Adler32().update(data).hex());
      await sse.waitFor(isInotify("run-0042.nxs", "IN_ATTRIB"));
      expect(names(sse.messages, "run-0042.nxs")).to.deep.equal(["IN_CREATE", "IN_OPEN", "IN_MODIFY", "IN_CLOSE_WRITE", "IN_ATTRIB"]);
      expect(close.data).to.equal(
        JSON.stringify({ event: { name: "run-0042.nxs", mask: ["IN_CLOSE_WRITE"] }, subscription: sub.headers.location }),
      );
      const ids = sse.messages.filter((m) => m.event === "inotify").map((m) => Number(m.id));
      expect(ids).to.deep.equal([0, 1, 2, 3, 4]);
      sse.close();
    });

    it("MKCOL gives IN_CREATE+IN_ISDIR; MOVE gives paired IN_MOVED_FROM/IN_MOVED_TO with one cookie; DELETE gives IN_DELETE", async () => {
      const ch = await createChannel(s.frontend);
      const sse = await openSse(ch);
      await subscribe(ch, { path: "/in" });
      await subscribe(ch, { path: "/other" });
      expect((await raw(s.webdav, "MKCOL", "/in/scan7", { headers: auth() })).status).to.equal(201);
      const mk = await sse.waitFor(isInotify("scan7", "IN_CREATE"));
      expect(mk.json.event.mask).to.deep.equal(["IN_CREATE", "IN_ISDIR"]);

      await raw(s.webdav, "PUT", "/in/m.dat", { headers: auth(), body: "m" });
      await sse.waitFor(isInotify("m.dat", "IN_ATTRIB"));
      expect((await raw(s.webdav, "MOVE", "/in/m.dat", { headers: auth({ Destination: `${s.webdav}/in/n.dat` }) })).status).to.equal(201);
      const from = await sse.waitFor(isInotify("m.dat", "IN_MOVED_FROM"));
      const to = await sse.waitFor(isInotify("n.dat", "IN_MOVED_TO"));
      expect(from.json.event.cookie).to.be.a("string").with.length.greaterThan(10);
      expect(to.json.event.cookie).to.equal(from.json.event.cookie);
      expect(Number(to.id)).to.equal(Number(from.id) + 1);

      expect((await raw(s.webdav, "MOVE", "/in/n.dat", { headers: auth({ Destination: "/other/n.dat" }) })).status).to.equal(201);
      const from2 = await sse.waitFor(isInotify("n.dat", "IN_MOVED_FROM"));
      const to2 = await sse.waitFor((m) => isInotify("n.dat", "IN_MOVED_TO")(m) && m.json.subscription !== from2.json.subscription);
      expect(to2.json.event.cookie).to.equal(from2.json.event.cookie).and.not.equal(from.json.event.cookie);

      expect((await raw(s.webdav, "DELETE", "/other/n.dat", { headers: auth() })).status).to.equal(204);
      const del = await sse.waitFor(isInotify("n.dat", "IN_DELETE"));
      expect(del.json.event.mask).to.deep.equal(["IN_DELETE"]);
      sse.close();
    });

    it("watches are not recursive: changes in a subdirectory reach only a watch on that subdirectory", async () => {
      const ch = await createChannel(s.frontend);
      const sse = await openSse(ch);
      await subscribe(ch, { path: "/in" });
      await raw(s.webdav, "MKCOL", "/in/deep", { headers: auth() });
      await sse.waitFor(isInotify("deep", "IN_CREATE"));
      await raw(s.webdav, "PUT", "/in/deep/a.txt", { headers: auth(), body: "a" });
      // the kernel's events come in order: once a later file's reach the /in watch, a.txt's were
      // handled too (a watch made sooner would rightly get them, however late the kernel told)
      await raw(s.webdav, "PUT", "/in/marker.txt", { headers: auth(), body: "m" });
      await sse.waitFor(isInotify("marker.txt", "IN_ATTRIB"));
      await subscribe(ch, { path: "/in/deep" });
      await raw(s.webdav, "PUT", "/in/deep/b.txt", { headers: auth(), body: "b" });
      await sse.waitFor(isInotify("b.txt", "IN_ATTRIB"));
      expect(names(sse.messages, "a.txt")).to.deep.equal([]);
      sse.close();
    });

    it("a watched target deleted gives IN_DELETE_SELF, IN_IGNORED, then SUBSCRIPTION_CLOSED", async () => {
      await raw(s.webdav, "PUT", "/in/doomed.txt", { headers: auth(), body: "d" });
      const ch = await createChannel(s.frontend);
      const sse = await openSse(ch);
      const sub = (await subscribe(ch, { path: "/in/doomed.txt" })).headers.location as string;
      await raw(s.webdav, "DELETE", "/in/doomed.txt", { headers: auth() });
      const closed = await sse.waitFor(isSystem("SUBSCRIPTION_CLOSED"));
      expect(closed.json.subscription).to.equal(sub);
      const seq = sse.messages
        .filter((m) => m.json?.subscription === sub)
        .map((m) => (m.event === "SYSTEM" ? m.json.type : m.json.event.mask.join("+")));
      expect(seq).to.deep.equal(["NEW_SUBSCRIPTION", "IN_DELETE_SELF", "IN_IGNORED", "SUBSCRIPTION_CLOSED"]);
      expect((await raw(s.frontend, "GET", new URL(sub).pathname, { headers: auth() })).status).to.equal(404);
      sse.close();
    });

    it("a watch on a file reports its own events without a name", async () => {
      await raw(s.webdav, "PUT", "/in/watched.dat", { headers: auth(), body: "v1" });
      const ch = await createChannel(s.frontend);
      const sse = await openSse(ch);
      await subscribe(ch, { path: "/in/watched.dat" });
      await raw(s.webdav, "PUT", "/in/watched.dat", { headers: auth(), body: "version 2" });
      await sse.waitFor((m) => m.event === "inotify" && m.json.event.mask[0] === "IN_ATTRIB");
      const self = sse.messages.filter((m) => m.event === "inotify").map((m) => m.json.event);
      expect(self).to.deep.equal([{ mask: ["IN_OPEN"] }, { mask: ["IN_MODIFY"] }, { mask: ["IN_CLOSE_WRITE"] }, { mask: ["IN_ATTRIB"] }]);
      sse.close();
    });

    it("a watch follows its directory when it is moved", async () => {
      await raw(s.webdav, "MKCOL", "/in/before", { headers: auth() });
      const ch = await createChannel(s.frontend);
      const sse = await openSse(ch);
      await subscribe(ch, { path: "/in/before" });
      await raw(s.webdav, "MOVE", "/in/before", { headers: auth({ Destination: "/in/after" }) });
      await sse.waitFor((m) => m.event === "inotify" && m.json.event.mask[0] === "IN_MOVE_SELF");
      await raw(s.webdav, "PUT", "/in/after/f.txt", { headers: auth(), body: "f" });
      await sse.waitFor(isInotify("f.txt", "IN_CLOSE_WRITE"));
      sse.close();
    });

    it("selector flags filter the events", async () => {
      const ch = await createChannel(s.frontend);
      const sse = await openSse(ch);
      await subscribe(ch, { path: "/in", flags: ["IN_CLOSE_WRITE", "IN_MOVED_TO"] });
      await raw(s.webdav, "PUT", "/in/only.txt", { headers: auth(), body: "o" });
      await raw(s.webdav, "MOVE", "/in/only.txt", { headers: auth({ Destination: "/in/only2.txt" }) });
      await sse.waitFor(isInotify("only2.txt", "IN_MOVED_TO"));
      expect(sse.messages.filter((m) => m.event === "inotify").map((m) => m.json.event.mask[0])).to.deep.equal([
        "IN_CLOSE_WRITE",
        "IN_MOVED_TO",
      ]);
      sse.close();
    });

    it("Last-Event-ID replays what followed it; without it nothing is replayed", async () => {
      const ch = await createChannel(s.frontend);
      const first = await openSse(ch);
      await subscribe(ch, { path: "/in", flags: ["IN_CLOSE_WRITE"] });
      await raw(s.webdav, "PUT", "/in/r1", { headers: auth(), body: "1" });
      const e1 = await first.waitFor(isInotify("r1", "IN_CLOSE_WRITE"));
      first.close();
      await first.ended;
      for (const n of ["r2", "r3", "r4"]) await raw(s.webdav, "PUT", `/in/${n}`, { headers: auth(), body: n });
      // let the events reach the channel while no client is connected
      const deadline = Date.now() + 5000;
      while (Date.now() < deadline) {
        const probe = await openSse(ch, { ...auth(), "Last-Event-ID": e1.id! });
        const got = await probe.waitForCount((m) => m.event === "inotify", 3, 500).catch(() => undefined);
        probe.close();
        if (got) break;
      }
      const again = await openSse(ch, { ...auth(), "Last-Event-ID": e1.id! });
      const replayed = await again.waitForCount((m) => m.event === "inotify", 3);
      expect(replayed.map((m) => m.json.event.name)).to.deep.equal(["r2", "r3", "r4"]);
      expect(replayed.map((m) => Number(m.id))).to.deep.equal([1, 2, 3].map((i) => Number(e1.id) + i));
      again.close();
      const fresh = await openSse(ch);
      await raw(s.webdav, "PUT", "/in/r5", { headers: auth(), body: "5" });
      const next = await fresh.waitFor((m) => m.event === "inotify");
      expect(next.json.event.name).to.equal("r5");
      expect(Number(next.id)).to.equal(Number(e1.id) + 4);
      fresh.close();
    });

    it("a second connection makes the first receive COMPETING_CLIENT and be closed", async () => {
      const ch = await createChannel(s.frontend);
      const a = await openSse(ch);
      const b = await openSse(ch);
      const competing = await a.waitFor(isSystem("COMPETING_CLIENT"));
      expect(competing.id).to.equal(undefined);
      await a.ended;
      await subscribe(ch, { path: "/in", flags: ["IN_CLOSE_WRITE"] });
      await raw(s.webdav, "PUT", "/in/c.txt", { headers: auth(), body: "c" });
      await b.waitFor(isInotify("c.txt", "IN_CLOSE_WRITE"));
      expect(a.messages.filter((m) => m.event === "inotify")).to.have.length(0);
      b.close();
    });

    it("a channel without a client expires after its timeout; afterwards it is 404", async () => {
      const ch = await createChannel(s.frontend);
      const path = new URL(ch).pathname;
      expect(
        (await raw(s.frontend, "PATCH", path, { headers: { ...auth(), "Content-Type": "application/json" }, body: '{"timeout":1}' }))
          .status,
      ).to.equal(204);
      const sse = await openSse(ch);
      await new Promise((r) => setTimeout(r, 1500));
      expect((await raw(s.frontend, "GET", path, { headers: auth() })).status, "connected channels do not expire").to.equal(200);
      sse.close();
      await sse.ended;
      await new Promise((r) => setTimeout(r, 1600));
      expect((await raw(s.frontend, "GET", path, { headers: auth() })).status).to.equal(404);
      expect((await openSse(ch)).status).to.equal(404);
    });

    if (mode === "kernel") {
      it("files written by other programs (cp, mv, rm, an instrument writing in place) give the same events", async () => {
        const ch = await createChannel(s.frontend);
        const sse = await openSse(ch);
        await subscribe(ch, { path: "/in" });
        const src = join(mkdtempSync(join(tmpdir(), "dcache-src-")), "detector.cbf");
        const data = randomBytes(2 * 1024 * 1024);
        writeFileSync(src, data);
        execFileSync("cp", [src, join(s.root, "in/detector.cbf")]);
        rmSync(dirname(src), { recursive: true, force: true });
        await sse.waitFor(isInotify("detector.cbf", "IN_CLOSE_WRITE"));
        const ns = JSON.parse((await raw(s.frontend, "GET", "/api/v1/namespace/in/detector.cbf?checksum=true", { headers: auth() })).text);
        expect(ns.checksums[0].value).to.equal(new Adler32().update(data).hex());
        await sse.waitFor(isInotify("detector.cbf", "IN_ATTRIB"));
        expect(names(sse.messages, "detector.cbf")).to.deep.equal(["IN_CREATE", "IN_OPEN", "IN_MODIFY", "IN_CLOSE_WRITE", "IN_ATTRIB"]);

        execFileSync("mv", [join(s.root, "in/detector.cbf"), join(s.root, "in/detector-1.cbf")]);
        const from = await sse.waitFor(isInotify("detector.cbf", "IN_MOVED_FROM"));
        const to = await sse.waitFor(isInotify("detector-1.cbf", "IN_MOVED_TO"));
        expect(to.json.event.cookie).to.equal(from.json.event.cookie);
        execFileSync("mkdir", [join(s.root, "in/byhand")]);
        expect((await sse.waitFor(isInotify("byhand", "IN_CREATE"))).json.event.mask).to.deep.equal(["IN_CREATE", "IN_ISDIR"]);
        rmSync(join(s.root, "in/detector-1.cbf"));
        await sse.waitFor(isInotify("detector-1.cbf", "IN_DELETE"));
        // The server's own reads (hashing) are not reported as IN_OPEN/IN_CLOSE_NOWRITE.
        expect(sse.messages.some((m) => m.json?.event?.mask?.includes("IN_CLOSE_NOWRITE"))).to.equal(false);
        sse.close();
      });

      it("events lost in the kernel's queue (inotifywait fell behind) are reported as IN_Q_OVERFLOW", async function () {
        this.timeout(60_000);
        const pid = Number(/inotifywait \(pid (\d+)\)/.exec(s.svc.output())?.[1]);
        expect(pid, "the log names the inotifywait process").to.be.greaterThan(0);
        mkdirSync(join(s.root, "flood"));
        const ch = await createChannel(s.frontend);
        const sse = await openSse(ch);
        await subscribe(ch, { path: "/flood", flags: ["IN_CLOSE_WRITE"] });
        const limit = Number(readFileSync("/proc/sys/fs/inotify/max_queued_events", "utf8"));
        // While inotifywait is stopped the kernel queue fills up and overflows. The storage notices an
        // overflow only through a sentinel made while the queue is full, one a second when idle
        // (local/dcache/README.md): the queue is kept full for longer than that, since a fast flood
        // and a short stop could otherwise fit between two sentinels.
        process.kill(pid, "SIGSTOP");
        try {
          execFileSync("python3", [
            "-c",
            `import sys\nfor i in range(${Math.ceil(limit / 3) + 10000}): open(sys.argv[1] + "/f" + str(i), "w").close()`,
            join(s.root, "flood"),
          ]);
          await new Promise((r) => setTimeout(r, 1500));
        } finally {
          process.kill(pid, "SIGCONT");
        }
        const overflow = await sse.waitFor((m) => m.event === "inotify" && m.json.event.mask.includes("IN_Q_OVERFLOW"), 30_000);
        expect(overflow.json.event).to.deep.equal({ mask: ["IN_Q_OVERFLOW"] });
        // the log line may reach our pipe a moment after the event reached the SSE client
        for (let i = 0; i < 100 && !s.svc.output().includes("inotify queue overflowed"); i++) await new Promise((r) => setTimeout(r, 100));
        expect(s.svc.output()).to.include("inotify queue overflowed");
        sse.close();
      });
    }
  });
}

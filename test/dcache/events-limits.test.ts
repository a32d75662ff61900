// Limits of the event stream: EVENT_LOSS once Last-Event-ID has left the replay buffer,
// IN_Q_OVERFLOW when a subscription's queue overflows, SHUTDOWN when the storage stops, and the
// metronome event type. Buffer and queue are made small here (--replay-buffer, --subscription-queue)
// so that their limits are reached quickly; the defaults are dCache's 16383 and 1000.
import { expect } from "chai";
import { execSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { auth, createChannel, isInotify, isSystem, openSse, raw, startStorage, subscribe, type Storage } from "./support.ts";

describe("local dCache: event stream limits", function () {
  this.timeout(30_000);
  let s: Storage;
  before(async () => {
    s = await startStorage(["--replay-buffer", "5", "--subscription-queue", "4"]);
    mkdirSync(join(s.root, "in"));
  });
  after(async () => {
    await s?.stop();
  });

  it("EVENT_LOSS (a SYSTEM event without id) when Last-Event-ID has left the replay buffer; replay while it is held", async () => {
    const ch = await createChannel(s.frontend);
    const sse = await openSse(ch);
    await subscribe(ch, { path: "/in", flags: ["IN_CLOSE_WRITE"] });
    for (let i = 0; i < 9; i++) {
      await raw(s.webdav, "PUT", `/in/f${i}`, { headers: auth(), body: String(i) });
      await sse.waitFor(isInotify(`f${i}`, "IN_CLOSE_WRITE"));
    }
    sse.close();
    await sse.ended;
    // ids 0…8; the buffer holds the last 5 replayable events plus the last one a client saw: 3…8
    const held = await openSse(ch, { ...auth(), "Last-Event-ID": "3" });
    const replayed = await held.waitForCount((m) => m.event === "inotify", 5);
    expect(replayed.map((m) => m.id)).to.deep.equal(["4", "5", "6", "7", "8"]);
    held.close();
    await held.ended;
    const lost = await openSse(ch, { ...auth(), "Last-Event-ID": "1" });
    const loss = await lost.waitFor(isSystem("EVENT_LOSS"));
    expect(loss.id).to.equal(undefined);
    expect(loss.data).to.equal('{"type":"EVENT_LOSS"}');
    await new Promise((r) => setTimeout(r, 200));
    expect(lost.messages.filter((m) => m.event === "inotify")).to.have.length(0);
    lost.close();
  });

  it("IN_Q_OVERFLOW when more events arrive at once than a subscription can queue", async () => {
    const ch = await createChannel(s.frontend);
    const sse = await openSse(ch);
    await subscribe(ch, { path: "/in", flags: ["IN_CREATE", "IN_CLOSE_WRITE"] });
    const big = join(mkdtempSync(join(tmpdir(), "dcache-big-")), "big");
    writeFileSync(big, randomBytes(64 * 1024 * 1024));
    // While the storage hashes the big file before reporting its IN_CLOSE_WRITE, the directories
    // made right after it pile up and reach the subscription together.
    execSync(`cp ${big} ${join(s.root, "in/big")} && mkdir ${Array.from({ length: 40 }, (_, i) => join(s.root, `in/d${i}`)).join(" ")}`);
    rmSync(dirname(big), { recursive: true, force: true });
    const overflow = await sse.waitFor((m) => m.event === "inotify" && m.json.event.mask.includes("IN_Q_OVERFLOW"));
    expect(overflow.json.event).to.deep.equal({ mask: ["IN_Q_OVERFLOW"] });
    expect(overflow.id).to.match(/^\d+$/);
    await new Promise((r) => setTimeout(r, 300));
    const created = sse.messages.filter((m) => m.event === "inotify" && m.json.event.mask.includes("IN_ISDIR"));
    expect(created.length).to.be.lessThan(40);
    sse.close();
  });

  it("metronome subscriptions send messages and close after count", async () => {
    const ch = await createChannel(s.frontend);
    const sse = await openSse(ch);
    const u = new URL(ch);
    const r = await raw(u.origin, "POST", `${u.pathname}/subscriptions/metronome`, {
      headers: { ...auth(), "Content-Type": "application/json" },
      body: JSON.stringify({ frequency: 50, count: 3, message: "tick ${count} for ${username}" }),
    });
    expect(r.status).to.equal(201);
    await sse.waitFor(isSystem("SUBSCRIPTION_CLOSED"));
    const ticks = sse.messages.filter((m) => m.event === "metronome").map((m) => m.json.event);
    expect(ticks).to.deep.equal(["tick 1 for demo", "tick 2 for demo", "tick 3 for demo"]);
    sse.close();
  });

  it("IN_ONESHOT ends the watch after its first event", async () => {
    const ch = await createChannel(s.frontend);
    const sse = await openSse(ch);
    await subscribe(ch, { path: "/in", flags: ["IN_CLOSE_WRITE", "IN_ONESHOT"] });
    await raw(s.webdav, "PUT", "/in/once", { headers: auth(), body: "1" });
    await sse.waitFor(isSystem("SUBSCRIPTION_CLOSED"));
    const seq = sse.messages.filter((m) => m.event === "inotify").map((m) => m.json.event.mask[0]);
    expect(seq).to.deep.equal(["IN_CLOSE_WRITE", "IN_IGNORED"]);
    sse.close();
  });

  it("stopping the storage sends SHUTDOWN to connected clients and ends their streams", async () => {
    const ch = await createChannel(s.frontend);
    const sse = await openSse(ch);
    await s.svc.stop("SIGTERM");
    const shutdown = await sse.waitFor(isSystem("SHUTDOWN"));
    expect(shutdown.id).to.equal(undefined);
    await sse.ended;
    expect(s.svc.proc.exitCode).to.equal(0);
  });
});

// The default replay buffer at its real size (dCache: the last 16383 events can be replayed),
// exercised in-process on a Channel served by a real HTTP server, since filling it through the
// file system would take minutes.
import { expect } from "chai";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Channel } from "../../local/dcache/events/channel.ts";
import { selectedTypes } from "../../lib/events/inotify.ts";
import { InotifySubscription } from "../../local/dcache/events/subscription.ts";
import { WatchTable } from "../../local/dcache/events/watches.ts";
import { parseOptions } from "../../local/dcache/options.ts";
import { isSystem, openSse } from "./support.ts";

describe("local dCache: replay buffer at its default size", function () {
  this.timeout(60_000);
  const opts = parseOptions([], {});
  let server: Server;
  let channel: Channel;
  let url: string;
  const watches = new WatchTable();

  before(async () => {
    server = createServer((req, res) => {
      const last = req.headers["last-event-id"];
      channel.connect(res, Array.isArray(last) ? last[0] : last);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/channel`;
    channel = new Channel(
      1000,
      "demo",
      undefined,
      (id) => `${url}/${id}`,
      300,
      { replayable: opts.replayBuffer, subscriptionQueue: opts.subscriptionQueue },
      () => {},
    );
  });
  after(() => {
    channel.close();
    server.close();
  });

  it("defaults to dCache's sizes", () => {
    expect(opts.replayBuffer).to.equal(16383);
    expect(opts.subscriptionQueue).to.equal(1000);
  });

  it("replays 16383 events after a Last-Event-ID still held, EVENT_LOSS for one older", async () => {
    const sub = new InotifySubscription(channel, opts.subscriptionQueue, { path: "/d" }, selectedTypes(undefined), "/fs/d", watches);
    channel.add(sub);
    const total = 16384 + 10; // ids 0 … 16393
    for (let i = 0; i < total; i++) {
      sub.offer("IN_CREATE", { name: `f${i}`, mask: ["IN_CREATE"] });
      if (i % 500 === 499) await new Promise((r) => setImmediate(r));
    }
    await new Promise((r) => setTimeout(r, 50));
    // the buffer holds ids 10 … 16393: from id 10 on, 16383 events follow
    const held = await openSse(url, { "Last-Event-ID": "10" });
    const replayed = await held.waitForCount((m) => m.event === "inotify", 16383, 30_000);
    expect(replayed[0]!.id).to.equal("11");
    expect(replayed.at(-1)!.id).to.equal(String(total - 1));
    held.close();
    await held.ended;
    const lost = await openSse(url, { "Last-Event-ID": "9" });
    await lost.waitFor(isSystem("EVENT_LOSS"));
    lost.close();
  });
});

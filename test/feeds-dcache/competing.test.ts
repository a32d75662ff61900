// COMPETING_CLIENT: another client takes the shared channel (e.g. a second provider started with the
// same replica id). The hub must say so clearly and back off instead of taking the channel straight
// back — two clients doing that would kick each other off forever.
import { expect } from "chai";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { streamChannel, type DcacheEndpoint } from "../../lib/dcache/index.ts";
import { ChannelHub, type HubItem } from "../../feeds/provider/sources/dcache/channel-hub.ts";
import { Logger } from "../../feeds/provider/log.ts";
import { startService, type RunningService } from "../support/service.ts";
import { tmp, waitFor } from "./support/stack.ts";

describe("dCache source: competing client on the shared channel (local dCache as a process)", function () {
  this.timeout(30_000);
  const dir = tmp("dcache-competing-");
  let dcache: RunningService;
  const lines: string[] = [];

  before(async () => {
    mkdirSync(join(dir, "root/data"), { recursive: true });
    dcache = await startService("local/dcache/main.ts", ["--root", join(dir, "root"), "--frontend-port", "0", "--webdav-port", "0"], {
      listeners: ["dcache-frontend", "dcache-webdav"],
    });
  });
  after(async () => {
    await dcache?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("backs off, says why, and takes the channel back only after the back-off", async () => {
    const ep: DcacheEndpoint = { url: dcache.urls["dcache-frontend"]!, credentials: { type: "basic", username: "demo", password: "demo" } };
    const hub = new ChannelHub({
      endpoint: ep,
      clientId: "owfeed-test-competing",
      channelTimeoutS: 600,
      log: new Logger((l) => void lines.push(l), undefined, {}, "debug"),
      competingBackoffMs: { initialMs: 1500, maxMs: 3000 },
    });
    const states: { state: string; detail?: string; at: number }[] = [];
    hub.attach({
      regId: "r",
      position: () => undefined,
      onItems: (_c: string, _i: HubItem[]) => undefined,
      onState: (state, detail) => void states.push({ state, detail, at: Date.now() }),
      onFatal: (reason) => void states.push({ state: "fatal", detail: reason, at: Date.now() }),
    });
    await hub.ready();
    const channel = hub.channelUrl!;
    // the competitor: a plain client on the same channel
    const ctl = new AbortController();
    const competitor = (async () => {
      for await (const _m of streamChannel(ep, channel, { signal: ctl.signal })) {
        // just hold the connection
      }
    })().catch(() => {});
    const kickedAt = Date.now();
    const backedOff = await waitFor("hub reports the competing client", () =>
      states.find((s) => s.state === "reconnecting" && /COMPETING_CLIENT/.test(s.detail ?? "")),
    );
    expect(backedOff!.detail).to.match(/replica id/);
    expect(lines.join("")).to.match(/"level":"error".*COMPETING_CLIENT/);
    // during the back-off the hub leaves the channel alone
    await new Promise((r) => setTimeout(r, 1000));
    expect(states.filter((s) => s.state === "connected" && s.at > kickedAt)).to.have.length(0);
    // then it takes the channel back (once), and no war follows
    await waitFor("hub reconnected after the back-off", () => states.some((s) => s.state === "connected" && s.at > kickedAt), 10_000);
    ctl.abort();
    await competitor;
    await hub.detach("r", true);
    const reconnects = states.filter((s) => s.state === "connected" && s.at > kickedAt).length;
    expect(reconnects).to.be.at.most(2);
  });
});

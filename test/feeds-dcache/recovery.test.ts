// Nothing missed when things break: the provider SIGKILLed mid-burst and restarted (resume with
// Last-Event-ID from the committed cursor), the connection to the frontend cut (reconnect from
// Last-Event-ID), the storage restarted (channel gone → 404 → new channel,
// re-subscribe, rescan), the per-subscription queue overflowing (IN_Q_OVERFLOW → rescan), and wrong
// credentials (disabled with a reason, no retry storm). Each test counts files written vs delivered
// and reports duplicates.
import { expect } from "chai";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cuttableProxy } from "../support/cuttable-proxy.ts";
import { sharedStack, Stack, stopSharedStack, tally, waitFor } from "./support/stack.ts";

// a root hook: the shared stack outlives every file that uses it
after(stopSharedStack);

const AUTH = { username: "demo", password: "demo" };

async function allDelivered(stack: Stack, trigger: string, written: string[], only?: RegExp, timeoutMs = 40000) {
  await waitFor(
    `every file delivered to ${trigger}`,
    async () => {
      const t = tally(
        written,
        (await stack.firedEvents(trigger)).map((e) => e.subject),
      );
      if (t.missing.length > 0)
        throw new Error(`${t.missing.length} of ${written.length} missing, e.g. ${t.missing.slice(0, 3).join(", ")}`);
      return true;
    },
    timeoutMs,
    300,
  );
  await new Promise((r) => setTimeout(r, 1000));
  // only this test's directories: the trigger may have earlier tests' files too
  const dirs = new Set(written.map((p) => p.slice(0, p.lastIndexOf("/"))));
  const mine = (await stack.firedEvents(trigger))
    .map((e) => e.subject)
    .filter((p) => dirs.has(p.slice(0, p.lastIndexOf("/"))) && (!only || only.test(p)));
  const t = tally(written, mine);
  const seenOnce = new Set<string>();
  const dupDirs = new Map<string, number>();
  for (const p of mine) {
    if (seenOnce.has(p)) dupDirs.set(p.slice(0, p.lastIndexOf("/")), (dupDirs.get(p.slice(0, p.lastIndexOf("/"))) ?? 0) + 1);
    seenOnce.add(p);
  }
  if (dupDirs.size > 0) console.log(`      duplicates by directory: ${JSON.stringify(Object.fromEntries(dupDirs))}`);
  console.log(`      written ${written.length}, missing ${t.missing.length}, duplicates ${t.duplicates}`);
  expect(t.missing).to.deep.equal([]);
  expect(t.extra).to.deep.equal([]);
  return t;
}

function burst(stack: Stack, scan: string, dirs: number, files: number, written: string[]): void {
  for (let d = 0; d < dirs; d++) {
    const dir = join(stack.root, `${scan}-${d}`);
    mkdirSync(dir, { recursive: true });
    for (let f = 0; f < files; f++) {
      writeFileSync(join(dir, `f${f}.h5`), Buffer.alloc(50 + f));
      written.push(`/${scan}-${d}/f${f}.h5`.replace(/\/+/g, "/"));
    }
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("dCache source: recovery (local dCache, local OpenWhisk, provider as processes)", function () {
  this.timeout(120_000);

  describe("provider and storage restarts", () => {
    let stack: Stack;
    before(async () => {
      stack = await sharedStack();
      mkdirSync(join(stack.root, "facility/raw"), { recursive: true });
      await stack.createFeed("crash", {
        source: { kind: "dcache", url: stack.frontend, paths: ["/facility"], recursive: true, flags: ["IN_CLOSE_WRITE"], auth: AUTH },
        batch: { maxEvents: 200, maxWaitMs: 50 },
      });
      await waitFor("source connected", async () => (await stack.readFeed("crash"))?.source?.state === "connected");
    });
    after(async function () {
      if (this.currentTest?.state === "failed") process.stderr.write(stack.output().slice(-8000));
      if (process.env.FEEDS_DCACHE_LOG) (await import("node:fs")).writeFileSync(process.env.FEEDS_DCACHE_LOG, stack.output());
    });

    it("SIGKILL of the provider mid-burst, then restart: no file missed", async () => {
      const written: string[] = [];
      burst(stack, "facility/raw/kill-a", 4, 40, written);
      await sleep(150);
      stack.provider.proc.kill("SIGKILL");
      await new Promise((r) => stack.provider.proc.once("exit", r));
      // the storage keeps producing while the provider is down; the channel keeps the events
      burst(stack, "facility/raw/kill-b", 4, 40, written);
      await stack.startProvider();
      burst(stack, "facility/raw/kill-c", 2, 40, written);
      await waitFor("the restarted provider finds its channel", () =>
        /found the event channel again by client-id/.test(stack.provider.output()),
      );
      await allDelivered(stack, "crash", written);
    });

    it("connection to the frontend cut twice mid-burst: reconnects from Last-Event-ID — no file missed", async () => {
      const proxy = await cuttableProxy(stack.frontend);
      try {
        mkdirSync(join(stack.root, "facility/cut"), { recursive: true });
        await stack.createFeed("cut", {
          source: { kind: "dcache", url: proxy.url, paths: ["/facility/cut"], recursive: true, flags: ["IN_CLOSE_WRITE"], auth: AUTH },
          batch: { maxEvents: 200, maxWaitMs: 50 },
        });
        await waitFor("source connected", async () => (await stack.readFeed("cut"))?.source?.state === "connected");
        const before = stack.provider.output().split("reconnecting with Last-Event-ID").length;
        const written: string[] = [];
        burst(stack, "facility/cut/a", 2, 40, written);
        proxy.cut();
        burst(stack, "facility/cut/b", 2, 40, written);
        await sleep(100);
        proxy.cut();
        burst(stack, "facility/cut/c", 2, 40, written);
        await allDelivered(stack, "cut", written);
        expect(
          stack.provider.output().split("reconnecting with Last-Event-ID").length - before,
          "each cut is seen and said",
        ).to.be.greaterThan(0);
      } finally {
        proxy.close();
      }
    });

    it("storage restart (channel gone → 404): new channel, re-subscribed, rescan — no file missed", async () => {
      const written: string[] = [];
      burst(stack, "facility/raw/rs-a", 2, 30, written);
      await allDelivered(stack, "crash", written);
      await stack.dcache.stop();
      // written while the storage is down: no event will ever say so, only a rescan finds them
      burst(stack, "facility/raw/rs-b", 2, 30, written);
      await stack.startDcache();
      await waitFor(
        "the provider re-created its channel",
        () => /creating a new one, re-subscribing and rescanning/.test(stack.provider.output()),
        20000,
      );
      burst(stack, "facility/raw/rs-c", 2, 30, written);
      await allDelivered(stack, "crash", written);
      const log = stack.provider.output();
      expect(log).to.match(/"msg":"rescanned"/);
    });

    it("wrong credentials: registration disabled with a clear reason, no retry storm", async () => {
      mkdirSync(join(stack.root, "other"), { recursive: true });
      await stack.createFeed("badauth", {
        source: {
          kind: "dcache",
          url: stack.frontend,
          paths: ["/other"],
          recursive: false,
          auth: { username: "demo", password: "wrong-password-123" },
        },
      });
      const read = await waitFor("disabled", async () => {
        const r = await stack.readFeed("badauth");
        return r?.status?.active === false ? r : undefined;
      });
      expect(read.status.reason.message).to.match(/refused the credentials \(HTTP 401\).*source\.auth/);
      expect(JSON.stringify(read)).to.not.include("wrong-password-123");
      const refusals = () =>
        stack.provider
          .output()
          .split("\n")
          .filter((l) => l.includes("dCache refused the credentials")).length;
      const n = refusals();
      await sleep(3000);
      expect(refusals()).to.equal(n);
      expect(n).to.be.at.most(2);
      expect(stack.provider.output()).to.not.include("wrong-password-123");
      // the owner's fix: a trigger update with the right password re-enables it
      await (stack.ow().feeds as unknown as { update(o: object): Promise<unknown> }).update({
        name: "/guest/dcache/events",
        trigger: "badauth",
        params: {
          source: {
            kind: "dcache",
            url: stack.frontend,
            paths: ["/other"],
            recursive: false,
            auth: { username: "demo", password: "demo" },
          },
        },
      });
      const fixed = await waitFor("re-enabled and connected", async () => {
        const r = await stack.readFeed("badauth");
        return r?.status?.active === true && r?.source?.state === "connected" ? r : undefined;
      });
      expect(fixed.status.reason).to.equal(null);
    });
  });

  describe("small queues: subscription overflow, replay buffer exceeded", () => {
    const stack = new Stack();
    before(async () => {
      mkdirSync(join(stack.root, "fast"), { recursive: true });
      await stack.start({ subscriptionQueue: 10, replayBuffer: 50 });
      await stack.createFeed("overflow", {
        source: {
          kind: "dcache",
          url: stack.frontend,
          paths: ["/fast"],
          recursive: true,
          flags: ["IN_CLOSE_WRITE"],
          auth: { token: "demo-token" },
        },
        batch: { maxEvents: 500, maxWaitMs: 50 },
      });
      await waitFor("source connected", async () => (await stack.readFeed("overflow"))?.source?.state === "connected");
    });
    after(async function () {
      if (this.currentTest?.state === "failed") process.stderr.write(stack.output().slice(-8000));
      await stack.stop();
    });

    it("overflowing the per-subscription queue: the rescan recovers every file", async () => {
      const written: string[] = [];
      for (let f = 0; f < 400; f++) {
        writeFileSync(join(stack.root, "fast", `burst-${f}.dat`), Buffer.alloc(10 + (f % 7)));
        written.push(`/fast/burst-${f}.dat`);
      }
      await allDelivered(stack, "overflow", written, /burst-/);
      expect(stack.provider.output()).to.match(/IN_Q_OVERFLOW|EVENT_LOSS/);
    });

    it("more written while the provider is down than the channel replays: EVENT_LOSS, rescan recovers every file", async () => {
      await stack.provider.stop();
      const written: string[] = [];
      // 120 files are over 300 events, far beyond the 50 the channel keeps for Last-Event-ID. Written
      // two at a time, so that the 10-event subscription queue keeps up and the loss is the replay
      // buffer's (all at once, the queue itself overflows first: IN_Q_OVERFLOW, the test above)
      for (let f = 0; f < 120; f++) {
        writeFileSync(join(stack.root, "fast", `while-down-${f}.dat`), Buffer.alloc(20));
        written.push(`/fast/while-down-${f}.dat`);
        if (f % 2 === 1) await new Promise((r) => setTimeout(r, 5));
      }
      await stack.startProvider();
      await allDelivered(stack, "overflow", written, /while-down-/);
      expect(stack.provider.output()).to.match(/dCache sent EVENT_LOSS/);
    });
  });
});

// lib/dcache against the local storage: the events client (channels, subscriptions, SSE with
// reconnect and Last-Event-ID), the namespace client and the WebDAV helpers.
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { Adler32 } from "../../lib/checksum/adler32.ts";
import {
  adler32Of,
  ChannelGoneError,
  createChannel,
  DcacheError,
  deleteChannel,
  deletePath,
  findOrCreateChannel,
  getChannelTimeout,
  getRange,
  getStream,
  getSubscription,
  headFile,
  listChannels,
  listDirectory,
  listSubscriptions,
  makeDirectories,
  movePath,
  putFile,
  setChannelTimeout,
  stat,
  streamChannel,
  subscribeInotify,
  unsubscribe,
  type ChannelMessage,
  type DcacheEndpoint,
} from "../../lib/dcache/index.ts";
import { startStorage, type Storage } from "./support.ts";
import { cuttableProxy } from "../support/cuttable-proxy.ts";

async function collect(
  it: AsyncGenerator<ChannelMessage>,
  until: (m: ChannelMessage, all: ChannelMessage[]) => boolean,
  timeoutMs = 10_000,
): Promise<ChannelMessage[]> {
  const all: ChannelMessage[] = [];
  const timer = setTimeout(() => void it.return(undefined), timeoutMs);
  try {
    for await (const m of it) {
      all.push(m);
      if (until(m, all)) return all;
    }
  } finally {
    clearTimeout(timer);
  }
  throw new Error(`stream ended before the expected message; got ${JSON.stringify(all)}`);
}

const closeWrite = (name: string) => (m: ChannelMessage) =>
  m.kind === "inotify" && m.event.name === name && m.event.mask.includes("IN_CLOSE_WRITE");

describe("lib/dcache clients against the local storage", function () {
  this.timeout(30_000);
  let s: Storage;
  let fe: DcacheEndpoint;
  let dav: DcacheEndpoint;
  before(async () => {
    s = await startStorage();
    mkdirSync(join(s.root, "in"));
    fe = { url: s.frontend, credentials: { type: "basic", username: "demo", password: "demo" } };
    dav = { url: s.webdav, credentials: { type: "bearer", token: "demo-token" } };
  });
  after(async () => {
    await s?.stop();
  });

  describe("events: channels and subscriptions", () => {
    it("creates, finds by client-id, sets the timeout, subscribes (201/303), unsubscribes and deletes", async () => {
      const { url, created } = await findOrCreateChannel(fe, "lib-test");
      expect(created).to.equal(true);
      expect(await findOrCreateChannel(fe, "lib-test")).to.deep.equal({ url, created: false });
      expect(await listChannels(fe, { clientId: "lib-test" })).to.deep.equal([url]);
      expect(await getChannelTimeout(fe, url)).to.equal(300);
      await setChannelTimeout(fe, url, 120);
      expect(await getChannelTimeout(fe, url)).to.equal(120);
      const err = await setChannelTimeout(fe, url, 0).catch((e) => e);
      expect(err).to.be.instanceOf(DcacheError);
      expect(err.status).to.equal(400);
      expect(err.message).to.match(/minimum/);

      const sub = await subscribeInotify(fe, url, { path: "/in", flags: ["IN_CLOSE_WRITE"] });
      expect(sub.existed).to.equal(false);
      expect(await subscribeInotify(fe, url, { path: "/in", flags: ["IN_MOVED_TO", "IN_MASK_ADD"] })).to.deep.equal({
        url: sub.url,
        existed: true,
      });
      expect(await listSubscriptions(fe, url)).to.deep.equal([sub.url]);
      expect((await getSubscription(fe, sub.url))?.flags).to.have.members(["IN_CLOSE_WRITE", "IN_MOVED_TO"]);
      await unsubscribe(fe, sub.url);
      expect(await getSubscription(fe, sub.url)).to.equal(null);
      const bad = await subscribeInotify(fe, url, { path: "/nonexistent" }).catch((e) => e);
      expect(bad.status).to.equal(400);
      expect(bad.message).to.match(/Not found/);
      await deleteChannel(fe, url);
      expect(await getChannelTimeout(fe, url)).to.equal(null);
    });

    it("sends bearer tokens as ?authz= when asked, and never puts secrets in errors", async () => {
      const viaQuery: DcacheEndpoint = { url: s.frontend, credentials: { type: "bearer", token: "demo-token", via: "query" } };
      expect(await createChannel(viaQuery)).to.match(/\/channels\//);
      const wrong: DcacheEndpoint = { url: s.frontend, credentials: { type: "basic", username: "demo", password: "s3cret-pw" } };
      const e = await createChannel(wrong).catch((x) => x);
      expect(e.status).to.equal(401);
      expect(e.message).to.not.include("s3cret-pw");
      const wrongQuery: DcacheEndpoint = { url: s.frontend, credentials: { type: "bearer", token: "leaky-token-value", via: "query" } };
      const e2 = await createChannel(wrongQuery).catch((x) => x);
      expect(e2.message + e2.url).to.not.include("leaky-token-value");
    });
  });

  describe("events: the SSE stream", () => {
    it("yields inotify and SYSTEM events in order", async () => {
      const ch = await createChannel(fe);
      const ac = new AbortController();
      const it = streamChannel(fe, ch, { signal: ac.signal });
      const got = collect(it, closeWrite("a.nxs"));
      await new Promise((r) => setTimeout(r, 200));
      await subscribeInotify(fe, ch, { path: "/in" });
      await putFile(dav, "/in/a.nxs", "abc");
      const msgs = await got;
      ac.abort();
      expect(msgs[0]).to.deep.include({ kind: "system", type: "NEW_SUBSCRIPTION" });
      expect(msgs.filter((m) => m.kind === "inotify").map((m) => (m as { event: { mask: string[] } }).event.mask[0])).to.deep.equal([
        "IN_CREATE",
        "IN_OPEN",
        "IN_MODIFY",
        "IN_CLOSE_WRITE",
      ]);
    });

    it("ends with an error when the connection breaks; a new one from Last-Event-ID gets what was missed", async () => {
      const proxy = await cuttableProxy(s.frontend);
      try {
        const viaProxy: DcacheEndpoint = { ...fe, url: proxy.url };
        const ch = await createChannel(viaProxy);
        await subscribeInotify(viaProxy, ch, { path: "/in", flags: ["IN_CLOSE_WRITE"] });
        const seen: ChannelMessage[] = [];
        let lastId: string | undefined;
        let connected!: () => void;
        const isConnected = new Promise<void>((r) => (connected = r));
        const first = (async () => {
          for await (const m of streamChannel(viaProxy, ch, { onConnect: () => connected() })) {
            seen.push(m);
            if (m.kind === "inotify") lastId = m.id;
          }
        })();
        // a connection without Last-Event-ID gets nothing from before it: write once it is there
        await isConnected;
        await putFile(dav, "/in/r1", "1");
        while (!seen.some(closeWrite("r1"))) await new Promise((r) => setTimeout(r, 20));
        proxy.cut();
        const err = await first.then(
          () => undefined,
          (e: Error) => e,
        );
        expect(err?.message, "a cut connection is an error the caller sees, naming the stream").to.match(/event stream .* broke/);
        // written while no client is connected
        await putFile(dav, "/in/r2", "2");
        await putFile(dav, "/in/r3", "3");
        const connects: (string | undefined)[] = [];
        const again = streamChannel(viaProxy, ch, { lastEventId: lastId, onConnect: (c) => connects.push(c.lastEventId) });
        await Promise.race([
          collect(again, closeWrite("r3")).then((m) => seen.push(...m)),
          new Promise((_, rej) => setTimeout(() => rej(new Error(`no replay; seen ${JSON.stringify(seen)}`)), 10_000)),
        ]);
        const names = seen.filter((m) => m.kind === "inotify").map((m) => (m as { event: { name: string } }).event.name);
        expect(names).to.deep.equal(["r1", "r2", "r3"]);
        expect(connects).to.deep.equal([lastId]);
        expect(lastId).to.equal("0");
      } finally {
        proxy.close();
      }
    });

    it("throws ChannelGoneError for a deleted or expired channel", async () => {
      const ch = await createChannel(fe);
      await deleteChannel(fe, ch);
      const err = await collect(streamChannel(fe, ch), () => true).catch((e) => e);
      expect(err).to.be.instanceOf(ChannelGoneError);
      expect(err.status).to.equal(404);
    });

    it("ends after COMPETING_CLIENT instead of fighting for the channel", async () => {
      const ch = await createChannel(fe);
      const first = streamChannel(fe, ch);
      const firstDone = (async () => {
        const all: ChannelMessage[] = [];
        for await (const m of first) all.push(m);
        return all;
      })();
      await new Promise((r) => setTimeout(r, 200));
      const ac = new AbortController();
      const second = streamChannel(fe, ch, { signal: ac.signal });
      const secondNext = second.next();
      const all = await firstDone;
      expect(all.at(-1)).to.deep.include({ kind: "system", type: "COMPETING_CLIENT" });
      ac.abort();
      expect((await secondNext).done).to.equal(true);
    });
  });

  describe("namespace", () => {
    it("stat, null for missing, paged listing, ADLER32", async () => {
      mkdirSync(join(s.root, "list"));
      for (const n of ["e", "a", "c", "b", "d"]) await putFile(dav, `/list/${n}`, n.repeat(10));
      const a = await stat(fe, "/list/a", { checksum: true });
      expect(a?.fileType).to.equal("REGULAR");
      expect(a?.size).to.equal(10);
      expect(a?.checksums?.[0]).to.deep.equal({ type: "ADLER32", value: new Adler32().update(Buffer.from("a".repeat(10))).hex() });
      expect(await stat(fe, "/list/none")).to.equal(null);
      const names: string[] = [];
      for await (const c of listDirectory(fe, "/list", { pageSize: 2 })) names.push(c.fileName);
      expect(names).to.deep.equal(["a", "b", "c", "d", "e"]);
      expect(await adler32Of(fe, "/list/b")).to.equal(new Adler32().update(Buffer.from("b".repeat(10))).hex());
      expect(await adler32Of(fe, "/list/none")).to.equal(undefined);
    });
  });

  describe("WebDAV", () => {
    it("streams an upload (with Digest verification), reads ranges, HEADs with Want-Digest", async () => {
      const data = randomBytes(5 * 1024 * 1024 + 3);
      const sum = new Adler32().update(data).hex();
      await makeDirectories(dav, "/w/x/y");
      // again, and a sibling under parents that exist: both succeed
      await makeDirectories(dav, "/w/x/y");
      await makeDirectories(dav, "/w/x/z/");
      expect(await putFile(dav, "/w/x/z/f.txt", Buffer.from("f"))).to.deep.equal({ created: true });
      const chunks = Array.from({ length: 6 }, (_, i) => data.subarray(i * 1024 * 1024, (i + 1) * 1024 * 1024));
      expect(await putFile(dav, "/w/x/y/big.bin", Readable.from(chunks), { contentLength: data.length, adler32: sum })).to.deep.equal({
        created: true,
      });
      expect(await putFile(dav, "/w/x/y/big.bin", () => Readable.from(chunks))).to.deep.equal({ created: false });
      const h = await headFile(dav, "/w/x/y/big.bin");
      expect(h).to.deep.include({ size: data.length, adler32: sum });
      expect(await headFile(dav, "/w/none")).to.equal(null);
      const range = await getRange(dav, "/w/x/y/big.bin", 1_000_000, 1_000_099);
      expect(range.bytes.equals(data.subarray(1_000_000, 1_000_100))).to.equal(true);
      expect(range.total).to.equal(data.length);
      const whole = await getStream(dav, "/w/x/y/big.bin");
      const parts: Buffer[] = [];
      for await (const c of whole.body) parts.push(c as Buffer);
      expect(Buffer.concat(parts).equals(data)).to.equal(true);
      const past = await getRange(dav, "/w/x/y/big.bin", data.length + 10, data.length + 20).catch((e) => e);
      expect(past.status).to.equal(416);
      const mismatch = await putFile(dav, "/w/bad.bin", "data", { adler32: "00000000" }).catch((e) => e);
      expect(mismatch.status).to.equal(409);
      const noParent = await putFile(dav, "/nowhere/f", "x").catch((e) => e);
      expect(noParent).to.be.instanceOf(DcacheError);
      expect(noParent.status).to.equal(409);
    });

    it("moves and deletes", async () => {
      await putFile(dav, "/w/m1", "m");
      await movePath(dav, "/w/m1", "/w/m2");
      expect(await headFile(dav, "/w/m1")).to.equal(null);
      await putFile(dav, "/w/m3", "n");
      const refused = await movePath(dav, "/w/m2", "/w/m3").catch((e) => e);
      expect(refused.status).to.equal(412);
      await movePath(dav, "/w/m2", "/w/m3", { overwrite: true });
      await deletePath(dav, "/w/m3");
      expect(await headFile(dav, "/w/m3")).to.equal(null);
    });
  });
});

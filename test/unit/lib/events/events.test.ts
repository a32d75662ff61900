import { expect } from "chai";
import { checkStorageEventBatch } from "../../../../lib/events/check.ts";
import { eventKind } from "../../../../lib/events/inotify.ts";
import { fromDcacheEvent, normaliseStorageEvent } from "../../../../lib/events/normalise.ts";
import { compileFilter } from "../../../../feeds/provider/pipeline/filter.ts";
import { compileGlob, GlobError } from "../../../../feeds/provider/pipeline/glob.ts";
import { checkFeedConfig, redactConfig, updateConfig, type FeedConfig } from "../../../../feeds/common/feed-params.ts";

const ctx = { receivedAt: new Date("2026-11-28T10:00:00.000Z"), fallbackSource: "mqtt://broker:1883/dcache/events" };
const envelope = {
  event: { name: "run-0042.nxs", mask: ["IN_CLOSE_WRITE"] },
  subscription: "https://h:3880/api/v1/events/channels/MwcX/subscriptions/inotify/AACF",
  path: "/data/beamline",
  id: 4,
};

describe("lib/events: normalising storage events to CloudEvents", () => {
  it("turns a dCache SSE envelope with path and id into a CloudEvent whose subject is the file path", () => {
    const n = normaliseStorageEvent(envelope, ctx);
    expect(n.ok).to.equal(true);
    if (!n.ok) return;
    expect(n.event).to.include({
      specversion: "1.0",
      subject: "/data/beamline/run-0042.nxs",
      type: "org.dcache.storage.IN_CLOSE_WRITE",
      time: "2026-11-28T10:00:00.000Z",
    });
    expect(n.event.source).to.equal("https://h:3880/api/v1/events/channels/MwcX");
    expect(n.event.data).to.deep.include({ path: "/data/beamline/run-0042.nxs", mask: ["IN_CLOSE_WRITE"], isDir: false, eventId: "4" });
    expect(checkStorageEventBatch({ events: [n.event] })).to.equal(undefined);
  });

  it("gives the same id to the same event delivered twice, a different id to a different event", () => {
    const a = normaliseStorageEvent(envelope, ctx);
    const b = normaliseStorageEvent(structuredClone(envelope), { ...ctx, receivedAt: new Date() });
    const c = normaliseStorageEvent({ ...envelope, id: 5 }, ctx);
    expect(a.ok && b.ok && c.ok).to.equal(true);
    if (!a.ok || !b.ok || !c.ok) return;
    expect(a.event.id).to.equal(b.event.id);
    expect(a.event.id).to.not.equal(c.event.id);
    // without an SSE id, the content identifies the event
    const noId = { event: { name: "x.h5", mask: ["IN_CLOSE_WRITE"] }, path: "/d", time: "2026-11-28T10:00:01Z" };
    const d1 = normaliseStorageEvent(noId, ctx);
    const d2 = normaliseStorageEvent(structuredClone(noId), { ...ctx, receivedAt: new Date() });
    expect(d1.ok && d2.ok && d1.event.id === d2.event.id).to.equal(true);
  });

  it("keeps move cookies and directory flags, and types by the first non-modifier flag", () => {
    const n = fromDcacheEvent(
      { event: { name: "scan7", cookie: "0r6/Jb", mask: ["IN_MOVED_TO", "IN_ISDIR"] } },
      { watchedPath: "/d", receivedAt: ctx.receivedAt, fallbackSource: "x:y" },
    );
    expect(n.ok).to.equal(true);
    if (!n.ok) return;
    expect(n.event.type).to.equal("org.dcache.storage.IN_MOVED_TO");
    expect(n.event.data).to.include({ cookie: "0r6/Jb", isDir: true, path: "/d/scan7" });
    expect(eventKind(["IN_ISDIR", "IN_CREATE"])).to.equal("IN_CREATE");
  });

  it("passes our own CloudEvent JSON through and rejects one whose subject is not its path", () => {
    const n = normaliseStorageEvent(envelope, ctx);
    if (!n.ok) throw new Error(n.error);
    const again = normaliseStorageEvent(JSON.parse(JSON.stringify(n.event)), ctx);
    expect(again).to.deep.equal({ ok: true, event: n.event });
    const bad = normaliseStorageEvent({ ...n.event, subject: "/elsewhere" }, ctx);
    expect(bad.ok).to.equal(false);
  });

  it("explains what is wrong with malformed input, never throws", () => {
    const cases: unknown[] = [
      null,
      42,
      "x",
      [],
      {},
      { event: {}, path: "/d" },
      { event: { mask: [] }, path: "/d" },
      { event: { mask: ["IN_CLOSE_WRITE"] } },
      { event: { mask: ["IN_CLOSE_WRITE"], name: "a/b" }, path: "/d" },
      { event: { mask: ["IN_CLOSE_WRITE"] }, path: "relative" },
      { specversion: "1.0" },
    ];
    for (const c of cases) {
      const n = normaliseStorageEvent(c, ctx);
      expect(n.ok, JSON.stringify(c)).to.equal(false);
      if (!n.ok) expect(n.error).to.be.a("string").and.not.empty;
    }
    const m = normaliseStorageEvent({ event: { mask: ["IN_CLOSE_WRITE"] } }, ctx);
    expect(!m.ok && m.error).to.match(/needs `path`/);
  });
});

describe("feeds/provider: glob filter", () => {
  const t = (pattern: string, path: string) => compileGlob(pattern).test(path);
  it("matches *, ?, ** and {a,b} on path segments", () => {
    expect(t("**/*.nxs", "/data/x/run.nxs")).to.equal(true);
    expect(t("**/*.nxs", "/run.nxs")).to.equal(true);
    expect(t("*.nxs", "/data/deep/er/run.nxs")).to.equal(true);
    expect(t("/data/*.nxs", "/data/x/run.nxs")).to.equal(false);
    expect(t("/data/**/*.nxs", "/data/run.nxs")).to.equal(true);
    expect(t("/data/**/*.nxs", "/data/a/b/run.nxs")).to.equal(true);
    expect(t("/data/**", "/data/a/b")).to.equal(true);
    expect(t("/data/**", "/other/a")).to.equal(false);
    expect(t("**/*.{h5,nxs}", "/d/a.h5")).to.equal(true);
    expect(t("**/*.{h5,nxs}", "/d/a.cbf")).to.equal(false);
    expect(t("/d/run-??.h5", "/d/run-07.h5")).to.equal(true);
    expect(t("/d/run-??.h5", "/d/run-007.h5")).to.equal(false);
    expect(t("/d/[ab]*.h5", "/d/b1.h5")).to.equal(true);
    expect(t("/d/[!ab]*.h5", "/d/b1.h5")).to.equal(false);
    expect(t("/d/a.b", "/d/aXb")).to.equal(false);
  });
  it("rejects malformed patterns with a message naming them", () => {
    expect(() => compileGlob("/d/{a,b")).to.throw(GlobError, /\/d\/\{a,b/);
    expect(() => compileGlob("/d/a**")).to.throw(GlobError, /whole path segment/);
    expect(() => compileGlob("/d/[ab")).to.throw(GlobError, /unclosed/);
  });
  it("combines paths, exclude and types", () => {
    const f = compileFilter({ paths: ["**/*.nxs"], exclude: ["/tmp/**"], types: ["IN_CLOSE_WRITE"] });
    const ev = (path: string, mask: string[]) => {
      const n = normaliseStorageEvent({ event: { mask }, path }, ctx);
      if (!n.ok) throw new Error(n.error);
      return n.event;
    };
    expect(f(ev("/data/a.nxs", ["IN_CLOSE_WRITE"]))).to.equal(true);
    expect(f(ev("/data/a.nxs", ["IN_CREATE"]))).to.equal(false);
    expect(f(ev("/tmp/a.nxs", ["IN_CLOSE_WRITE"]))).to.equal(false);
    expect(f(ev("/data/a.h5", ["IN_CLOSE_WRITE"]))).to.equal(false);
    expect(compileFilter({ types: ["IN_MOVE"] })(ev("/a", ["IN_MOVED_TO"]))).to.equal(true);
    expect(compileFilter({})(ev("/a", ["IN_OPEN"]))).to.equal(true);
  });
});

describe("feeds/common: feed parameters", () => {
  const mqtt = { kind: "mqtt", url: "mqtt://127.0.0.1:1883", topic: "dcache/events/#", password: "hunter2-secret", username: "u" };
  it("fills defaults", () => {
    const c = checkFeedConfig({ source: mqtt });
    expect(c.ok).to.equal(true);
    if (!c.ok) return;
    expect(c.value.batch).to.deep.equal({ maxEvents: 1000, maxWaitMs: 1000, maxBytes: 900000 });
    expect(c.value.delivery).to.deep.equal({ maxAgeSeconds: 86400, deadLetter: true, ledger: true, reconcileSeconds: 86400 });
    expect(c.value.source).to.include({ qos: 1 });
  });
  it("names the bad parameter", () => {
    const cases: [unknown, RegExp][] = [
      [{}, /missing parameter `source`/],
      [{ source: { kind: "mqtt", url: "mqtt://h" } }, /missing parameter `source.topic`/],
      [{ source: { ...mqtt, url: "http://x" } }, /`source.url` is malformed/],
      [{ source: mqtt, batch: { maxBytes: 2_000_000 } }, /`batch.maxBytes` must be <= 900000/],
      [{ source: mqtt, batch: { maxEvents: 0 } }, /`batch.maxEvents` must be >= 1/],
      [{ source: mqtt, filter: { types: ["IN_BOGUS"] } }, /`filter.types.0` must be one of/],
      [{ source: mqtt, colour: "red" }, /unknown parameter `colour`/],
      [{ source: { kind: "kafka" } }, /`source.kind` must be one of "mqtt", "dcache"/],
      [{ source: { kind: "dcache", url: "https://d:3880", paths: ["data"] } }, /`source.paths.0` is malformed/],
    ];
    for (const [input, re] of cases) {
      const c = checkFeedConfig(input);
      expect(c.ok, JSON.stringify(input)).to.equal(false);
      if (!c.ok) expect(c.error).to.match(re);
    }
  });
  it("redacts secrets and merges updates", () => {
    const c = checkFeedConfig({ source: mqtt });
    if (!c.ok) throw new Error(c.error);
    expect(JSON.stringify(redactConfig(c.value))).to.not.include("hunter2-secret");
    const u = updateConfig(c.value, { source: { topic: "other/#" }, batch: { maxEvents: 5 } }) as FeedConfig;
    expect(u.source).to.include({ topic: "other/#", password: "hunter2-secret" });
    expect(u.batch).to.include({ maxEvents: 5, maxBytes: 900000 });
    const k = updateConfig(c.value, { source: { kind: "dcache", url: "https://d", paths: ["/a"] } }) as FeedConfig;
    expect(k.source).to.deep.equal({ kind: "dcache", url: "https://d", paths: ["/a"] });
  });
});

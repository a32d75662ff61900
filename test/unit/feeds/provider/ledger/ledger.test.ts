// The file ledger's decisions, in process: which arrivals fire, what OpenWhisk's records say about
// each file, and how rule outcomes settle into a file's state. The records are shaped as OpenWhisk
// writes them (trigger activation logs, per-file results of the functions).
import { expect } from "chai";
import { admit, arrivalOf, reconsider, sameContent } from "../../../../../feeds/provider/ledger/arrivals.ts";
import { retryEntry } from "../../../../../feeds/provider/ledger/ledger.ts";
import { addFinally, pipelinesOf, qualified } from "../../../../../feeds/provider/ledger/finally.ts";
import { isInactiveRule, outcomesOf, ruleLines } from "../../../../../feeds/provider/ledger/outcomes.ts";
import { overallState, settle, type FileEntry } from "../../../../../feeds/provider/ledger/types.ts";

function event(id: string, path: string, mask = ["IN_CLOSE_WRITE"], data: Record<string, unknown> = {}): string {
  return JSON.stringify({
    specversion: "1.0",
    id,
    source: "/dcache",
    type: `org.dcache.storage.${mask[0]}`,
    time: "2026-12-01T10:00:00Z",
    subject: path,
    data: { path, mask, isDir: false, ...data },
  });
}

describe("feeds/provider ledger: arrivals", () => {
  it("a close or a move-in of a regular file is an arrival; deletes, directories and bad JSON are not", () => {
    expect(arrivalOf(event("1", "/a/x.nxs"), 5)).to.deep.include({ path: "/a/x.nxs", eventId: "1", at: 5 });
    expect(arrivalOf(event("2", "/a/x.nxs", ["IN_MOVED_TO"]), 5)?.path).to.equal("/a/x.nxs");
    expect(arrivalOf(event("3", "/a/x.nxs", ["IN_DELETE"]), 5)).to.equal(undefined);
    expect(arrivalOf(event("4", "/a/dir", ["IN_MOVED_TO", "IN_ISDIR"]), 5)).to.equal(undefined);
    expect(arrivalOf("{not json", 5)).to.equal(undefined);
    expect(arrivalOf(event("5", "/a/x.nxs", ["IN_CLOSE_WRITE"], { size: 10, mtime: 99, adler32: "0A0B0C0D" }), 5)).to.deep.include({
      size: 10,
      mtime: 99,
      adler32: "0a0b0c0d",
    });
  });

  it("same content: size and ADLER32, else size and mtime; unknown when either side lacks them", () => {
    expect(sameContent({ size: 1, adler32: "a" }, { size: 1, adler32: "a", mtime: 5 })).to.equal(true);
    expect(sameContent({ size: 1, adler32: "a" }, { size: 1, adler32: "b" })).to.equal(false);
    expect(sameContent({ size: 1, mtime: 5 }, { size: 1, mtime: 5 })).to.equal(true);
    expect(sameContent({ size: 1, mtime: 5 }, { size: 2, mtime: 5 })).to.equal(false);
    expect(sameContent({ size: 1 }, { size: 1, mtime: 5 })).to.equal(undefined);
    expect(sameContent({}, { size: 1, mtime: 5 })).to.equal(undefined);
  });

  const a = (id: string, data: Record<string, unknown> = {}, path = "/a/x.nxs") =>
    arrivalOf(event(id, path, ["IN_CLOSE_WRITE"], data), 1000)!;

  it("a new file fires; the same event again (a replay) or the same content (a rescan) does not", () => {
    const first = admit("r", undefined, a("e1", { size: 10, mtime: 7 }), 1);
    expect(first.fire).to.equal(true);
    const done: FileEntry = { ...first.entry, state: "succeeded" };
    expect(admit("r", done, a("e1"), 2)).to.deep.include({ fire: false, why: "replay" });
    const rescan = admit("r", done, a("r9", { size: 10, mtime: 7 }), 2);
    expect(rescan).to.deep.include({ fire: false, why: "same-content" });
    expect(rescan.entry.eventIds).to.deep.equal(["e1", "r9"]);
  });

  it("new content of a processed file fires again, as a new entry", () => {
    const done: FileEntry = { ...admit("r", undefined, a("e1", { size: 10, mtime: 7 }), 1).entry, state: "failed", reason: "x" };
    const changed = admit("r", done, a("e2", { size: 20, mtime: 9 }), 5);
    expect(changed.fire).to.equal(true);
    expect(changed.entry).to.deep.include({ state: "pending", size: 20, mtime: 9, arrivedAt: 5 });
    expect(changed.entry.reason).to.equal(undefined);
    expect(changed.entry.eventIds).to.deep.equal(["e1", "e2"]);
    expect(admit("r", { ...changed.entry, state: "succeeded" }, a("e1"), 6)).to.deep.include({ fire: false, why: "replay" });
    // a close without size/mtime (no enrichment) may be new content: it fires
    expect(admit("r", done, a("e3"), 5).fire).to.equal(true);
  });

  it("a file not fired yet: the newer arrival passes (delivery puts it in the older one's place)", () => {
    const pending = admit("r", undefined, a("e1"), 1).entry;
    const next = admit("r", pending, a("e2", { size: 3, mtime: 4 }), 2);
    expect(next.fire).to.equal(true);
    expect(next.entry).to.deep.include({ state: "pending", size: 3, mtime: 4 });
    expect(next.entry.eventIds).to.deep.equal(["e1", "e2"]);
  });

  it("a file in flight: the arrival waits; afterwards it fires only if the content may differ from what ran", () => {
    const fired: FileEntry = { ...admit("r", undefined, a("e1"), 1).entry, state: "fired" };
    const held = admit("r", fired, a("e2", { size: 10, mtime: 7 }), 2);
    expect(held).to.deep.include({ fire: false, why: "in-flight" });
    expect(held.entry.again).to.deep.include({ size: 10, mtime: 7 });
    // the run read the same content: nothing more to do
    expect(reconsider({ ...held.entry, state: "succeeded", size: 10, mtime: 7 })).to.equal(undefined);
    // the run read older content: the newer arrival fires
    expect(reconsider({ ...held.entry, state: "succeeded", size: 5, mtime: 6 })).to.deep.include({
      path: "/a/x.nxs",
      eventId: "e2",
      size: 10,
    });
    // without an identity on the new arrival it may differ: it fires
    const blind = admit("r", fired, a("e3"), 2);
    expect(reconsider({ ...blind.entry, state: "succeeded", size: 5, mtime: 6 })?.eventId).to.equal("e3");
  });
});

describe("feeds/provider ledger: OpenWhisk's records", () => {
  it("reads the rule lines of a trigger activation, refused and inactive rules included", () => {
    const logs = [
      JSON.stringify({ statusCode: 0, success: true, activationId: "a1", rule: "guest/ingest", action: "guest/facility-dev-ingest" }),
      JSON.stringify({
        statusCode: 1,
        success: false,
        error: "Too many requests in the last minute (count: 61, allowed: 60).",
        rule: "guest/derive",
        action: "guest/facility/derive",
      }),
      JSON.stringify({
        statusCode: 1,
        success: false,
        error: "Rule 'guest/off' is inactive, action 'guest/x' was not activated.",
        rule: "guest/off",
        action: "guest/x",
      }),
      "2026-12-01T10:00:00.000Z stdout: not a rule line",
    ];
    const lines = ruleLines(logs);
    expect(lines.map((l) => [l.rule, l.success, l.activationId])).to.deep.equal([
      ["guest/ingest", true, "a1"],
      ["guest/derive", false, undefined],
      ["guest/off", false, undefined],
    ]);
    expect(lines.map(isInactiveRule)).to.deep.equal([false, false, true]);
    expect(ruleLines(undefined)).to.deep.equal([]);
  });

  it("per-file outcomes of a sequence: files, skipped, failed with step and permanence", () => {
    const record = {
      response: {
        success: true,
        status: "success",
        result: {
          files: [{ path: "/g.nxs", size: 10, adler32: "0000000a", mtime: "2026-12-01T10:00:00.000Z" }],
          skipped: [{ path: "/gone.nxs", reason: "not found in storage (deleted after the event?)" }],
          failed: [
            { path: "/bad.nxs", step: "metadata", reason: "/bad.nxs: expected HDF5 (NeXus) but found no known signature", permanent: true },
            { path: "/later.nxs", step: "catalogue", reason: "SciCat 500", permanent: false },
          ],
        },
      },
    };
    const o = outcomesOf(record, ["/g.nxs", "/gone.nxs", "/bad.nxs", "/later.nxs"]);
    expect(o.get("/g.nxs")).to.deep.equal({
      state: "succeeded",
      size: 10,
      adler32: "0000000a",
      mtime: Date.parse("2026-12-01T10:00:00.000Z"),
    });
    expect(o.get("/gone.nxs")).to.deep.include({ state: "skipped" });
    expect(o.get("/bad.nxs")).to.deep.include({ state: "failed", step: "metadata", permanent: true });
    expect(o.get("/later.nxs")).to.deep.include({ state: "failed", step: "catalogue", permanent: false });
  });

  it("a step that failed as a whole: its files share the error; earlier failures keep theirs", () => {
    const record = {
      response: {
        success: false,
        status: "application error",
        result: {
          error: "cannot reach SciCat",
          step: "catalogue",
          transient: true,
          paths: ["/a", "/b"],
          failed: [{ path: "/c", step: "checksum", reason: "mismatch", permanent: true }],
        },
      },
    };
    const o = outcomesOf(record, ["/a", "/b", "/c"]);
    expect(o.get("/a")).to.deep.equal({ state: "failed", step: "catalogue", reason: "cannot reach SciCat", permanent: false });
    expect(o.get("/c")).to.deep.include({ step: "checksum", permanent: true });
    const bad = outcomesOf({ response: { success: false, result: { error: "bad parameters", step: "placement", transient: false } } }, [
      "/a",
    ]);
    expect(bad.get("/a")).to.deep.include({ permanent: true, step: "placement" });
  });

  it("a time-out or crash is transient; an action that does not speak the files protocol succeeds or fails as a whole", () => {
    const timeout = outcomesOf(
      {
        response: {
          success: false,
          status: "action developer error",
          result: { error: "The action exceeded its time limits of 300000 milliseconds." },
        },
      },
      ["/a"],
    );
    expect(timeout.get("/a")).to.deep.include({ state: "failed", permanent: false });
    expect(outcomesOf({ response: { success: true, result: { greeting: "hi" } } }, ["/a"]).get("/a")).to.deep.equal({ state: "succeeded" });
  });
});

describe("feeds/provider ledger: a file's state from its rules", () => {
  const entry = (rules: FileEntry["rules"]): FileEntry => ({
    regId: "r",
    path: "/p",
    state: "fired",
    event: "{}",
    eventIds: ["e"],
    arrivedAt: 0,
    updatedAt: 0,
    rules,
  });
  const r = (state: FileEntry["rules"][string]["state"], extra = {}) => ({ action: "guest/a", state, attempt: 1, ...extra });

  it("in flight while a rule runs or retries; then failed if one failed; all skipped is skipped; inactive rules do not count as run", () => {
    expect(overallState(entry({ a: r("succeeded"), b: r("failed") }))).to.equal("failed");
    expect(overallState(entry({ a: r("failed"), b: r("running") }))).to.equal("fired");
    expect(overallState(entry({ a: r("failed"), b: r("retrying") }))).to.equal("retrying");
    expect(overallState(entry({ a: r("succeeded"), b: r("retrying") }))).to.equal("retrying");
    expect(overallState(entry({ a: r("succeeded"), b: r("running") }))).to.equal("fired");
    expect(overallState(entry({ a: r("skipped"), b: r("skipped") }))).to.equal("skipped");
    expect(overallState(entry({ a: r("succeeded"), b: r("skipped") }))).to.equal("succeeded");
    expect(overallState(entry({ a: r("succeeded"), b: r("inactive") }))).to.equal("succeeded");
    expect(overallState(entry({ a: r("inactive") }))).to.equal("failed");
  });

  it("settle names the first failure and the next retry", () => {
    const e = settle(
      entry({
        a: r("retrying", { nextAt: 50, step: "catalogue", reason: "SciCat 500", permanent: false }),
        b: r("retrying", { nextAt: 20, step: "fire", reason: "429" }),
      }),
      7,
    );
    expect(e).to.deep.include({ state: "retrying", nextAt: 20, step: "catalogue", updatedAt: 7 });
    const none = settle(entry({ a: r("inactive") }), 8);
    expect(none.reason).to.match(/every rule of the trigger was inactive/);
  });

  it("settle names the same failure whichever rule's outcome was recorded first", () => {
    const ingest = r("failed", { step: "metadata", reason: "not HDF5", permanent: true });
    const derive = r("failed", { step: "derive", reason: "cannot read a frame", permanent: true });
    const one = settle(entry({ "guest/raw-files-ingest": ingest, "guest/raw-files-derive": derive }), 1);
    const other = settle(entry({ "guest/raw-files-derive": derive, "guest/raw-files-ingest": ingest }), 1);
    expect(one.step).to.equal(other.step);
    expect(one.reason).to.equal(other.reason);
  });

  it("retry: failed and inactive rules run again now with a fresh maxAgeSeconds; with no rule the file starts over", () => {
    const e = retryEntry(
      {
        ...entry({ a: r("failed", { step: "metadata", reason: "x", permanent: true }), b: r("succeeded"), c: r("inactive") }),
        state: "failed",
        arrivedAt: 1,
      },
      100,
    );
    expect(e.rules.a).to.deep.include({ state: "retrying", nextAt: 100 });
    expect(e.rules.b!.state).to.equal("succeeded");
    expect(e.rules.c).to.deep.include({ state: "retrying", nextAt: 100 });
    expect(e).to.deep.include({ state: "retrying", arrivedAt: 100, nextAt: 100 });
    expect(retryEntry({ ...entry({}), state: "failed" }, 100)).to.deep.include({ state: "pending", arrivedAt: 100 });
  });
});

describe("feeds/provider ledger: the finally step (delivery.finally)", () => {
  const entry = (rules: FileEntry["rules"]): FileEntry =>
    settle({ regId: "r", path: "/p", state: "fired", event: "{}", eventIds: ["e"], arrivedAt: 0, updatedAt: 0, rules }, 0);
  const r = (state: FileEntry["rules"][string]["state"], action = "guest/facility-dev-ingest") => ({ action, state, attempt: 1 });

  it("is added, due at once, when every rule succeeded (skipped ones count as done); the file is in flight until it ends", () => {
    const e = entry({ "guest/ingest-rule": r("succeeded"), "guest/derive-rule": r("skipped", "guest/facility/derive") });
    expect(e.state).to.equal("succeeded");
    expect(addFinally(e, "facility/lifecycle", "guest", 9)).to.equal(true);
    expect(e.rules["finally:facility/lifecycle"]).to.deep.equal({
      action: "guest/facility/lifecycle",
      state: "retrying",
      attempt: 0,
      nextAt: 9,
    });
    settle(e, 9);
    expect(e).to.deep.include({ state: "retrying", nextAt: 9 });
    // what the trigger's rules did: passed to the step as `pipelines`
    expect(pipelinesOf(e)).to.deep.equal([
      { action: "guest/facility-dev-ingest", state: "succeeded" },
      { action: "guest/facility/derive", state: "skipped" },
    ]);
    // once: a second outcome does not add it again
    expect(addFinally(settle(e, 10), "facility/lifecycle", "guest", 10)).to.equal(false);
    // it ends the file's run: its transient failure keeps the file retrying, its success makes it succeeded
    e.rules["finally:facility/lifecycle"] = { ...e.rules["finally:facility/lifecycle"]!, state: "succeeded" };
    expect(settle(e, 11).state).to.equal("succeeded");
  });

  it("is not added while a rule runs, when one failed, when all were skipped, or when none is configured", () => {
    for (const rules of [
      { a: r("succeeded"), b: r("running") },
      { a: r("succeeded"), b: r("failed") },
      { a: r("skipped"), b: r("skipped") },
      { a: r("succeeded"), b: r("retrying") },
    ]) {
      const e = entry(rules);
      expect(addFinally(e, "facility/lifecycle", "guest", 1), JSON.stringify(rules)).to.equal(false);
      expect(Object.keys(e.rules).some((k) => k.startsWith("finally:"))).to.equal(false);
    }
    expect(addFinally(entry({ a: r("succeeded") }), undefined, "guest", 1)).to.equal(false);
  });

  it("a failed file gets it once a retry succeeded: retry runs the failed rule, not the finally step that never ran", () => {
    const failed = entry({ a: r("failed"), b: r("succeeded") });
    const again = retryEntry(failed, 100);
    expect(Object.keys(again.rules)).to.deep.equal(["a", "b"]);
    again.rules.a = { ...again.rules.a!, state: "succeeded" };
    settle(again, 101);
    expect(addFinally(again, "facility/lifecycle", "guest", 101)).to.equal(true);
  });

  it("names actions as trigger activations do: relative to the trigger's namespace, or absolute", () => {
    expect(qualified("facility/lifecycle", "alice")).to.equal("alice/facility/lifecycle");
    expect(qualified("/shared/facility/lifecycle", "alice")).to.equal("shared/facility/lifecycle");
  });
});

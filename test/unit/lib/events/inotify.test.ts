// The inotify vocabulary, checked against inotify(7) and dCache's storage-events documentation:
// IN_CLOSE is IN_CLOSE_WRITE|IN_CLOSE_NOWRITE, IN_MOVE is IN_MOVED_FROM|IN_MOVED_TO, IN_ALL_EVENTS
// every event type; IN_ISDIR, IN_IGNORED, IN_Q_OVERFLOW and IN_UNMOUNT only qualify a mask.
import { expect } from "chai";
import { eventKind, EVENT_TYPES, isArrivalMask, isDirectoryMask, isGoneMask, selectedTypes } from "../../../../lib/events/inotify.ts";

describe("lib/events/inotify: the vocabulary", () => {
  it("has inotify(7)'s twelve event types", () => {
    expect([...EVENT_TYPES].sort()).to.deep.equal([
      "IN_ACCESS",
      "IN_ATTRIB",
      "IN_CLOSE_NOWRITE",
      "IN_CLOSE_WRITE",
      "IN_CREATE",
      "IN_DELETE",
      "IN_DELETE_SELF",
      "IN_MODIFY",
      "IN_MOVED_FROM",
      "IN_MOVED_TO",
      "IN_MOVE_SELF",
      "IN_OPEN",
    ]);
  });

  it("expands combined flags; no list selects all, an empty one none (as a dCache selector)", () => {
    expect([...selectedTypes(["IN_CLOSE"])].sort()).to.deep.equal(["IN_CLOSE_NOWRITE", "IN_CLOSE_WRITE"]);
    expect([...selectedTypes(["IN_MOVE", "IN_CREATE"])].sort()).to.deep.equal(["IN_CREATE", "IN_MOVED_FROM", "IN_MOVED_TO"]);
    expect(selectedTypes(["IN_ALL_EVENTS"]).size).to.equal(12);
    expect(selectedTypes(undefined).size).to.equal(12);
    expect(selectedTypes([]).size).to.equal(0);
    // watch modifiers select nothing by themselves
    expect(selectedTypes(["IN_ONLYDIR", "IN_ONESHOT"]).size).to.equal(0);
  });

  it("names an event by its first flag that is not a modifier", () => {
    expect(eventKind(["IN_ISDIR", "IN_CREATE"])).to.equal("IN_CREATE");
    expect(eventKind(["IN_MOVED_TO", "IN_ISDIR"])).to.equal("IN_MOVED_TO");
    expect(eventKind(["IN_Q_OVERFLOW"])).to.equal("IN_Q_OVERFLOW");
    expect(eventKind([])).to.equal("UNKNOWN");
  });

  it("tells arrivals, directories and entries that are gone", () => {
    expect(isArrivalMask(["IN_CLOSE_WRITE"])).to.equal(true);
    expect(isArrivalMask(["IN_MOVED_TO"])).to.equal(true);
    expect(isArrivalMask(["IN_MOVED_TO", "IN_ISDIR"]), "a directory moved in is not a file arriving").to.equal(false);
    expect(isArrivalMask(["IN_CLOSE_NOWRITE"])).to.equal(false);
    expect(isArrivalMask(["IN_CREATE"]), "created is not yet written").to.equal(false);
    expect(isDirectoryMask(["IN_CREATE", "IN_ISDIR"])).to.equal(true);
    expect(isGoneMask(["IN_DELETE"]) && isGoneMask(["IN_MOVED_FROM"]) && isGoneMask(["IN_DELETE_SELF"])).to.equal(true);
    expect(isGoneMask(["IN_MOVED_TO"])).to.equal(false);
  });
});

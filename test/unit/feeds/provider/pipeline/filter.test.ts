// The filter stage (filter.ts): declarative data decides whether an event goes on — a path must match
// one of `paths` (none: every path) and none of `exclude`; its inotify mask must hold one of `types`
// (none: every type). Composite flags mean what inotify(7) defines: IN_CLOSE = IN_CLOSE_WRITE |
// IN_CLOSE_NOWRITE, IN_MOVE = IN_MOVED_FROM | IN_MOVED_TO; IN_ALL_EVENTS is every event.
// (paths+exclude+types together and IN_MOVE are in test/feeds/events.test.ts.)
import { expect } from "chai";
import { compileFilter } from "../../../../../feeds/provider/pipeline/filter.ts";
import type { StorageCloudEvent } from "../../../../../lib/events/cloudevent.ts";
import { GlobError } from "../../../../../feeds/provider/pipeline/glob.ts";
import { normaliseStorageEvent } from "../../../../../lib/events/normalise.ts";

function ev(path: string, mask: string[]): StorageCloudEvent {
  const i = path.lastIndexOf("/");
  const n = normaliseStorageEvent(
    { event: { name: path.slice(i + 1), mask }, path: path.slice(0, i) || "/" },
    { receivedAt: new Date(), fallbackSource: "test:filter" },
  );
  if (!n.ok) throw new Error(n.error);
  return n.event;
}

describe("feeds/provider filter stage: the edges", () => {
  it("IN_CLOSE passes closes after writing and after reading, nothing else", () => {
    const f = compileFilter({ types: ["IN_CLOSE"] });
    expect(f(ev("/d/a", ["IN_CLOSE_WRITE"]))).to.equal(true);
    expect(f(ev("/d/a", ["IN_CLOSE_NOWRITE"]))).to.equal(true);
    for (const m of ["IN_OPEN", "IN_MODIFY", "IN_MOVED_TO", "IN_CREATE"]) expect(f(ev("/d/a", [m])), m).to.equal(false);
  });

  it("IN_ALL_EVENTS passes every type; an event passes when any flag of its mask is selected", () => {
    const all = compileFilter({ types: ["IN_ALL_EVENTS"] });
    for (const m of ["IN_ACCESS", "IN_ATTRIB", "IN_DELETE", "IN_MOVED_FROM"]) expect(all(ev("/d/a", [m])), m).to.equal(true);
    const created = compileFilter({ types: ["IN_CREATE", "IN_DELETE"] });
    expect(created(ev("/d/sub", ["IN_CREATE", "IN_ISDIR"]))).to.equal(true);
    expect(created(ev("/d/sub", ["IN_DELETE", "IN_ISDIR"]))).to.equal(true);
    expect(created(ev("/d/sub", ["IN_ATTRIB", "IN_ISDIR"]))).to.equal(false);
  });

  it("any one of several `paths` lets an event through; `exclude` alone drops only its matches", () => {
    const f = compileFilter({ paths: ["/raw/**/*.nxs", "/processed/*.h5"] });
    expect(f(ev("/raw/2026/a.nxs", ["IN_CLOSE_WRITE"]))).to.equal(true);
    expect(f(ev("/processed/a.h5", ["IN_CLOSE_WRITE"]))).to.equal(true);
    expect(f(ev("/processed/a.nxs", ["IN_CLOSE_WRITE"]))).to.equal(false);
    const x = compileFilter({ exclude: ["**/.snapshot/**", "*.log"] });
    expect(x(ev("/d/run.nxs", ["IN_CLOSE_WRITE"]))).to.equal(true);
    expect(x(ev("/d/.snapshot/run.nxs", ["IN_CLOSE_WRITE"]))).to.equal(false);
    expect(x(ev("/d/deep/er/daq.log", ["IN_CLOSE_WRITE"]))).to.equal(false);
  });

  it("`exclude` wins over `paths`", () => {
    const f = compileFilter({ paths: ["/d/**"], exclude: ["/d/tmp/**"] });
    expect(f(ev("/d/a.nxs", ["IN_CLOSE_WRITE"]))).to.equal(true);
    expect(f(ev("/d/tmp/a.nxs", ["IN_CLOSE_WRITE"]))).to.equal(false);
  });

  it("a bad pattern in `paths` or `exclude` is refused when the filter is compiled, naming the pattern", () => {
    expect(() => compileFilter({ paths: ["/ok/**", "/bad/{a"] })).to.throw(GlobError, /"\/bad\/\{a"/);
    expect(() => compileFilter({ exclude: ["/bad/[x"] })).to.throw(GlobError, /"\/bad\/\[x"/);
  });
});

// Path globs (glob.ts) as docs/feed-provider.md and the module describe them — the shell's rules
// (bash with globstar): `*` and `?` stay within one path segment, `**` spans any number of whole
// segments (none too), `{a,b}` alternates, `[abc]`, `[a-z]`, `[!a]` classes (never matching `/`),
// `\` escapes; a pattern without a leading `/` matches at any depth. Everything else is literal.
// (Common cases are in test/feeds/events.test.ts; these are the edges.)
import { expect } from "chai";
import { compileGlob, GlobError } from "../../../../../feeds/provider/pipeline/glob.ts";

const t = (pattern: string, path: string) => compileGlob(pattern).test(path);

describe("feeds/provider glob: the edges", () => {
  it("`*` and `?` never cross a `/`", () => {
    expect(t("/data/*", "/data/a")).to.equal(true);
    expect(t("/data/*", "/data/a/b")).to.equal(false);
    expect(t("/data/*", "/data/")).to.equal(true); // `*` matches the empty string
    expect(t("/data/a?c", "/data/a/c")).to.equal(false);
    expect(t("/data/a?c", "/data/abc")).to.equal(true);
  });

  it("`**` in the middle matches zero or more whole segments, and nothing inside a name", () => {
    for (const p of ["/raw/x.h5", "/raw/a/x.h5", "/raw/a/b/c/x.h5"]) expect(t("/raw/**/x.h5", p), p).to.equal(true);
    expect(t("/raw/**/x.h5", "/raw/ax.h5")).to.equal(false);
    expect(t("/raw/**/x.h5", "/rawx/x.h5")).to.equal(false);
    expect(t("/**", "/anything/at/all")).to.equal(true);
  });

  it("a relative pattern matches at any depth, but only whole names", () => {
    expect(t("run.nxs", "/run.nxs")).to.equal(true);
    expect(t("run.nxs", "/a/b/run.nxs")).to.equal(true);
    expect(t("run.nxs", "/a/b/prerun.nxs")).to.equal(false);
    expect(t("raw/*.h5", "/beamline/raw/x.h5")).to.equal(true);
    expect(t("raw/*.h5", "/beamline/notraw/x.h5")).to.equal(false);
  });

  it("regular-expression characters in names are literal", () => {
    expect(t("/d/run(1)+[x].h5", "/d/run(1)+[x].h5")).to.equal(false); // `[x]` is a class: matches "x" only
    expect(t("/d/run(1)+x.h5", "/d/run(1)+x.h5")).to.equal(true);
    expect(t("/d/a.b", "/d/a.b")).to.equal(true);
    expect(t("/d/$HOME^|", "/d/$HOME^|")).to.equal(true);
    expect(t("/d/a+b", "/d/aab")).to.equal(false);
  });

  it("`\\` makes the next character literal", () => {
    expect(t("/d/\\*.h5", "/d/*.h5")).to.equal(true);
    expect(t("/d/\\*.h5", "/d/x.h5")).to.equal(false);
    expect(t("/d/\\{a,b\\}", "/d/{a,b}")).to.equal(true);
    expect(t("/d/\\?", "/d/x")).to.equal(false);
  });

  it("classes: sets, ranges and negation, never a `/`", () => {
    expect(t("/d/run-[0-9][0-9].h5", "/d/run-42.h5")).to.equal(true);
    expect(t("/d/run-[0-9][0-9].h5", "/d/run-4x.h5")).to.equal(false);
    expect(t("/d/[!.]*", "/d/visible")).to.equal(true);
    expect(t("/d/[!.]*", "/d/.hidden")).to.equal(false);
    expect(t("/d/[^.]*", "/d/.hidden")).to.equal(false);
    expect(t("/d[!x]e", "/d/e")).to.equal(false);
    expect(t("/d/[]]", "/d/]")).to.equal(true); // a `]` first in a class is literal, as in the shell
  });

  it("alternatives may hold globs and paths", () => {
    const g = "/data/{raw/**/*.nxs,processed/*.h5}";
    expect(t(g, "/data/raw/2026/run.nxs")).to.equal(true);
    expect(t(g, "/data/processed/run.h5")).to.equal(true);
    expect(t(g, "/data/processed/sub/run.h5")).to.equal(false);
    expect(t(g, "/data/raw/run.h5")).to.equal(false);
    expect(t("/d/x.{,gz}", "/d/x.")).to.equal(true); // an empty alternative
  });

  it("a malformed pattern is refused with a message quoting it and saying what is wrong", () => {
    for (const [p, why] of [
      ["/d/{a,{b,c}", /unclosed "\{"/],
      ["/d/[a-", /unclosed "\["/],
      ["/d/x**", /"\*\*" must be a whole path segment/],
      ["/d/**x/y", /"\*\*" must be a whole path segment/],
    ] as const) {
      expect(() => compileGlob(p), p).to.throw(GlobError, why);
      try {
        compileGlob(p);
      } catch (e) {
        expect((e as Error).message).to.include(`glob "${p}"`);
      }
    }
  });
});

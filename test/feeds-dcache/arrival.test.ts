// Files that arrive by rename are files too (issue 13): `mv` within the tree and from outside it,
// `mv` from another file system, `rsync -a`, an instrument's `x.nxs.part` renamed to `x.nxs`, and
// `cp -r` of a directory each reach the trigger exactly once per final file, with the feed's default
// filter; writers' temporary names never. The kernel's inotify events (inotifywait in the local
// dCache), the provider and the local OpenWhisk run as processes; the trigger's activations are what
// is counted.
import { expect } from "chai";
import { execFileSync } from "node:child_process";
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PROVIDER_AUTH, sharedStack, stopSharedStack, tmp, waitFor, type Stack } from "./support/stack.ts";

after(stopSharedStack);

const TEMPORARY = /(\.part|\.tmp|~)$|\/\.[^/]*\.[^/]{6}$/;

describe("dCache source: files arriving by rename (local dCache, local OpenWhisk, provider as processes)", function () {
  this.timeout(120_000);
  let stack: Stack;
  let outside: string;
  const root = () => join(stack.root, "arrive");

  before(async () => {
    for (const tool of ["inotifywait", "rsync"]) {
      try {
        execFileSync("which", [tool]);
      } catch {
        throw new Error(`these tests need ${tool} (CI installs it: .ci/run)`);
      }
    }
    stack = await sharedStack();
    outside = tmp("arrive-outside-");
    // present before the feed starts: the baseline, not arrivals. Made outside and moved in whole:
    // `inotifywait -r` (the local dCache's kernel events) misses subdirectories made in quick
    // succession right after their parent (6 of 40 tries here), and then their files' events.
    const tree = join(outside, "tree");
    for (const d of ["staging", "final", "in", "shm", "rsync", "instrument", "cp", "grow", "reads"])
      mkdirSync(join(tree, d), { recursive: true });
    for (let i = 0; i < 3; i++) writeFileSync(join(tree, `staging/m${i}.nxs`), `staged ${i}`);
    renameSync(tree, root());
  });
  after(() => {
    if (outside) rmSync(outside, { recursive: true, force: true });
  });
  afterEach(function () {
    if (this.currentTest?.state === "failed")
      process.stderr.write(`${stack.output().slice(-8000)}\n--- local dCache:\n${stack.dcache.output().slice(-4000)}\n`);
  });

  async function metric(name: string, labels: string): Promise<number> {
    const res = await fetch(`${stack.provider.urls.provider}/metrics`, {
      headers: { authorization: `Basic ${Buffer.from(PROVIDER_AUTH).toString("base64")}` },
    });
    const line = (await res.text()).split("\n").find((l) => l.startsWith(`${name}{`) && l.includes(labels));
    return line ? Number(line.split(" ").pop()) : 0;
  }

  /** Fired events per path, once every expected path fired and late duplicates had time to show. */
  async function firedPerPath(
    trigger: string,
    expected: string[],
  ): Promise<Map<string, { n: number; types: string[]; data: Record<string, unknown>[] }>> {
    await waitFor(
      `${expected.length} arrivals`,
      async () => {
        const got = new Set((await stack.firedEvents(trigger)).map((e) => e.subject));
        const missing = expected.filter((p) => !got.has(p));
        if (missing.length > 0) throw new Error(`missing ${missing.join(", ")}`);
        return true;
      },
      30_000,
      200,
    );
    // a listed file waits up to 2 s for its own event: give repeats that long to show up
    await new Promise((r) => setTimeout(r, 2500));
    const out = new Map<string, { n: number; types: string[]; data: Record<string, unknown>[] }>();
    for (const e of await stack.firedEvents(trigger)) {
      const c = out.get(e.subject) ?? { n: 0, types: [], data: [] };
      c.n++;
      c.types.push(e.type.replace("org.dcache.storage.", ""));
      c.data.push(e.data);
      out.set(e.subject, c);
    }
    return out;
  }

  function expectOnce(per: Map<string, { n: number; types: string[] }>, expected: string[], under: string): void {
    const seen = [...per.entries()].filter(([p]) => p.startsWith(under));
    const temps = seen.filter(([p]) => TEMPORARY.test(p));
    expect(
      temps.map(([p]) => p),
      "temporary names fired",
    ).to.deep.equal([]);
    expect(
      seen.filter(([, c]) => c.n !== 1).map(([p, c]) => `${p} ×${c.n} (${c.types.join(",")})`),
      "fired more than once",
    ).to.deep.equal([]);
    expect(seen.map(([p]) => p).sort()).to.deep.equal([...expected].sort());
  }

  it("with the default filter, every final file fires once however it arrived, temporary names never", async () => {
    await stack.createFeed("arrivals", {
      source: {
        kind: "dcache",
        url: stack.frontend,
        paths: ["/arrive"],
        recursive: true,
        enrich: true,
        auth: { username: "demo", password: "demo" },
      },
      // the latency-tuned batching of serverless.yml; the filter is the feed's default
      batch: { maxEvents: 100, maxWaitMs: 20 },
    });
    await waitFor("source connected", async () => (await stack.readFeed("arrivals")).source?.state === "connected");
    const read = await stack.readFeed("arrivals");
    expect(read.config.filter).to.deep.include({ arrivals: true, settleMs: 20 });
    const expected: string[] = [];

    // mv within the tree
    for (let i = 0; i < 3; i++) renameSync(join(root(), `staging/m${i}.nxs`), join(root(), `final/m${i}.nxs`));
    expected.push("/arrive/final/m0.nxs", "/arrive/final/m1.nxs", "/arrive/final/m2.nxs");

    // mv from a folder outside the watched tree (same file system: a rename)
    for (let i = 0; i < 3; i++) {
      writeFileSync(join(outside, `o${i}.h5`), `outside ${i}`);
      renameSync(join(outside, `o${i}.h5`), join(root(), `in/o${i}.h5`));
      expected.push(`/arrive/in/o${i}.h5`);
    }

    // mv from another file system: copied under the final name, then closed
    if (existsSync("/dev/shm")) {
      const shm = mkdtempSync("/dev/shm/arrive-");
      writeFileSync(join(shm, "s0.nxs"), "from shm");
      execFileSync("mv", [join(shm, "s0.nxs"), join(root(), "shm/s0.nxs")]);
      rmSync(shm, { recursive: true, force: true });
      expected.push("/arrive/shm/s0.nxs");
    }

    // rsync -a: `.name.XXXXXX` written, then renamed; also into a directory rsync makes itself
    const src = join(outside, "rsync-src");
    mkdirSync(join(src, "sub"), { recursive: true });
    for (let i = 0; i < 4; i++) writeFileSync(join(src, `r${i}.nxs`), Buffer.alloc(20_000 + i, i));
    for (let i = 0; i < 4; i++) writeFileSync(join(src, `sub/q${i}.h5`), Buffer.alloc(5_000 + i, i));
    // rsync -a keeps modification times: files from an archive look old to a listing of the new directory
    const hourAgo = new Date(Date.now() - 3600_000);
    for (const f of ["r0.nxs", "sub/q0.h5", "sub/q1.h5"]) utimesSync(join(src, f), hourAgo, hourAgo);
    execFileSync("rsync", ["-a", `${src}/`, join(root(), "rsync/")]);
    for (let i = 0; i < 4; i++) expected.push(`/arrive/rsync/r${i}.nxs`);
    for (let i = 0; i < 4; i++) expected.push(`/arrive/rsync/sub/q${i}.h5`);

    // an instrument writes x.nxs.part and renames it when done
    for (let i = 0; i < 3; i++) {
      const part = join(root(), `instrument/x${i}.nxs.part`);
      writeFileSync(part, Buffer.alloc(1000, i));
      appendFileSync(part, "end");
      renameSync(part, join(root(), `instrument/x${i}.nxs`));
      expected.push(`/arrive/instrument/x${i}.nxs`);
    }

    // cp -r of a directory
    const tree = join(outside, "cp-src/scan-9");
    mkdirSync(join(tree, "det"), { recursive: true });
    for (let i = 0; i < 3; i++) writeFileSync(join(tree, `f${i}.cbf`), `frame ${i}`);
    writeFileSync(join(tree, "det/master.nxs"), "master");
    execFileSync("cp", ["-r", tree, join(root(), "cp/")]);
    expected.push("/arrive/cp/scan-9/f0.cbf", "/arrive/cp/scan-9/f1.cbf", "/arrive/cp/scan-9/f2.cbf", "/arrive/cp/scan-9/det/master.nxs");

    const per = await firedPerPath("arrivals", expected);
    const report = [...per.entries()].map(([p, c]) => `${p.replace("/arrive/", "")}:${c.types.join(",")}`).join(" ");
    console.log(`      ${expected.length} files, fired ${[...per.values()].reduce((s, c) => s + c.n, 0)}: ${report}`);
    expectOnce(per, expected, "/arrive/");
    for (const p of ["/arrive/final/m0.nxs", "/arrive/in/o0.h5", "/arrive/rsync/r0.nxs", "/arrive/instrument/x0.nxs"])
      expect(per.get(p)!.types, p).to.deep.equal(["IN_MOVED_TO"]);
    // renamed into place: the old (temporary) name, and size and checksum like a closed file
    expect(per.get("/arrive/instrument/x0.nxs")!.data[0]).to.include({ oldPath: "/arrive/instrument/x0.nxs.part", size: 1003 });
    expect(per.get("/arrive/rsync/r1.nxs")!.data[0]!.oldPath).to.match(/^\/arrive\/rsync\/\.r1\.nxs\.[A-Za-z0-9]{6}$/);
    expect(per.get("/arrive/rsync/r1.nxs")!.data[0]!.adler32).to.match(/^[0-9a-f]{8}$/);
    // the temporary names were seen, and passed over (countable)
    expect(await metric("feed_events_not_arrivals_total", 'reason="temporary",trigger="/guest/arrivals"')).to.be.at.least(3 + 3);
  });

  it("says in the provider's log when filter types or source flags leave renames out", async () => {
    await stack.createFeed("narrow", {
      source: {
        kind: "dcache",
        url: stack.frontend,
        paths: ["/arrive/final"],
        flags: ["IN_CLOSE_WRITE"],
        auth: { username: "demo", password: "demo" },
      },
      filter: { types: ["IN_CLOSE_WRITE"] },
    });
    const lines = await waitFor(
      "the warnings",
      () => {
        const l = stack
          .output()
          .split("\n")
          .filter((x) => x.includes('"trigger":"/guest/narrow"') && x.includes("the feed passes only some arrivals"));
        return l.length >= 2 ? l : undefined;
      },
      10_000,
    );
    expect(lines!.join("\n"))
      .to.match(/filter.types leaves out IN_MOVED_TO/)
      .and.match(/source.flags leaves out IN_MOVED_TO/);
  });

  it("asks dCache for arrivals only: reads and attribute changes in the watched tree stream nothing to the provider", async () => {
    await stack.createFeed("reads", {
      source: { kind: "dcache", url: stack.frontend, paths: ["/arrive/reads"], auth: { username: "demo", password: "demo" } },
      batch: { maxEvents: 100, maxWaitMs: 20 },
    });
    await waitFor("source connected", async () => (await stack.readFeed("reads")).source?.state === "connected");
    const received = () => metric("feed_events_received_total", 'trigger="/guest/reads"');
    const first = join(root(), "reads/first.nxs");
    writeFileSync(first, "first");
    await firedPerPath("reads", ["/arrive/reads/first.nxs"]);
    const before = await received();
    // what the functions do to every file (read it, often more than once) and a touch: IN_OPEN,
    // IN_ACCESS, IN_CLOSE_NOWRITE and IN_ATTRIB, none of them an arrival
    for (let i = 0; i < 10; i++) readFileSync(first);
    utimesSync(first, new Date(), new Date());
    writeFileSync(join(root(), "reads/second.nxs"), "second");
    const per = await firedPerPath("reads", ["/arrive/reads/first.nxs", "/arrive/reads/second.nxs"]);
    expectOnce(per, ["/arrive/reads/first.nxs", "/arrive/reads/second.nxs"], "/arrive/reads/");
    // the second file's close is the one event that reached the provider
    expect((await received()) - before).to.equal(1);
  });

  it("a growing file closed three times within the settle window fires once", async () => {
    await stack.createFeed("growing", {
      source: {
        kind: "dcache",
        url: stack.frontend,
        paths: ["/arrive/grow"],
        recursive: true,
        auth: { username: "demo", password: "demo" },
      },
      filter: { settleMs: 600 },
      batch: { maxEvents: 100, maxWaitMs: 20 },
    });
    await waitFor("source connected", async () => (await stack.readFeed("growing")).source?.state === "connected");
    const file = join(root(), "grow/run.h5");
    for (let i = 0; i < 3; i++) {
      appendFileSync(file, Buffer.alloc(1000, i));
      await new Promise((r) => setTimeout(r, 80));
    }
    // a second file closed once: the window does not hold other files back past their own
    writeFileSync(join(root(), "grow/other.h5"), "x");
    const per = await firedPerPath("growing", ["/arrive/grow/run.h5", "/arrive/grow/other.h5"]);
    expectOnce(per, ["/arrive/grow/run.h5", "/arrive/grow/other.h5"], "/arrive/grow/");
    expect(await metric("feed_arrivals_coalesced_total", 'trigger="/guest/growing"')).to.equal(2);
  });
});

// A tree `beamtime/raw/scan-N/` made while the feed runs: every file's IN_CLOSE_WRITE reaches the
// trigger exactly once — also files written into a new directory in the same millisecond it was made
// (before any watch on it can exist) — with full paths, paired moves and enrichment.
import { expect } from "chai";
import { execFileSync } from "node:child_process";
import { closeSync, mkdirSync, openSync, renameSync, writeFileSync, writeSync } from "node:fs";
import { createServer, request } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { sharedStack, stopSharedStack, tally, waitFor, type Stack } from "./support/stack.ts";

/** ADLER32 of each buffer by zlib (through python3): the independent reference. */
function zlibAdler32(buffers: Buffer[]): string[] {
  const script = "import sys,zlib,json;print(json.dumps(['%08x' % zlib.adler32(bytes.fromhex(h)) for h in json.load(sys.stdin)]))";
  return JSON.parse(execFileSync("python3", ["-c", script], { input: JSON.stringify(buffers.map((b) => b.toString("hex"))) }).toString());
}

// a root hook: the shared stack outlives every file that uses it
after(stopSharedStack);

describe("dCache source: recursive tree (local dCache, local OpenWhisk, provider as processes)", function () {
  this.timeout(90_000);
  let stack: Stack;

  before(async () => {
    stack = await sharedStack();
    mkdirSync(join(stack.root, "beamtime/raw"), { recursive: true });
  });
  afterEach(function () {
    if (this.currentTest?.state === "failed") process.stderr.write(stack.output().slice(-6000));
  });

  /** The events `trigger` fired, once there are at least `n`. */
  const firedAtLeast = async (trigger: string, n: number, what: string, timeoutMs = 15000) =>
    (await waitFor(
      what,
      async () => {
        const e = await stack.firedEvents(trigger);
        return e.length >= n ? e : undefined;
      },
      timeoutMs,
      200,
    ))!;

  it("delivers every file of scan directories made while the feed runs, exactly once", async () => {
    await stack.createFeed("tree", {
      source: {
        kind: "dcache",
        url: stack.frontend,
        paths: ["/beamtime"],
        recursive: true,
        flags: ["IN_CLOSE_WRITE"],
        auth: { username: "demo", password: "demo" },
      },
      batch: { maxEvents: 500, maxWaitMs: 100 },
    });
    await waitFor("source connected", async () => (await stack.readFeed("tree")).source?.state === "connected");
    const written: string[] = [];
    for (let s = 0; s < 6; s++) {
      const dir = join(stack.root, `beamtime/raw/scan-${s}`);
      // the directory and its first files in the same millisecond: nothing can watch it yet
      mkdirSync(dir);
      for (let f = 0; f < 25; f++) {
        writeFileSync(join(dir, `frame-${f}.h5`), Buffer.alloc(100 + f, s));
        written.push(`/beamtime/raw/scan-${s}/frame-${f}.h5`);
      }
      const sub = join(dir, "det1");
      mkdirSync(sub);
      writeFileSync(join(sub, "master.nxs"), "x");
      written.push(`/beamtime/raw/scan-${s}/det1/master.nxs`);
      await new Promise((r) => setTimeout(r, 30));
    }
    let got = await waitFor(
      "every file delivered",
      async () => {
        const ev = await stack.firedEvents("tree");
        const t = tally(
          written,
          ev.map((e) => e.subject),
        );
        if (t.missing.length > 0)
          throw new Error(`${t.missing.length} of ${written.length} missing, e.g. ${t.missing.slice(0, 3).join(", ")}`);
        return ev;
      },
      30000,
      300,
    );
    // let late duplicates (pending listings, replays) show up before counting them
    await new Promise((r) => setTimeout(r, 2000));
    got = await stack.firedEvents("tree");
    const t = tally(
      written,
      got.map((e) => e.subject),
    );
    console.log(`      written ${written.length}, delivered ${got.length}, missing ${t.missing.length}, duplicates ${t.duplicates}`);
    expect(t.missing).to.deep.equal([]);
    expect(t.extra).to.deep.equal([]);
    expect(t.duplicates).to.equal(0);
    for (const e of got) expect(e.type).to.equal("org.dcache.storage.IN_CLOSE_WRITE");
  });

  it("existing: true fires the files already in the tree once; the default leaves them alone", async () => {
    const before: string[] = [];
    for (const d of ["existing/a", "existing/b/c"]) {
      mkdirSync(join(stack.root, d), { recursive: true });
      for (let f = 0; f < 3; f++) {
        writeFileSync(join(stack.root, d, `old-${f}.nxs`), Buffer.alloc(50 + f, 1));
        before.push(`/${d}/old-${f}.nxs`);
      }
    }
    const source = {
      kind: "dcache",
      url: stack.frontend,
      paths: ["/existing"],
      recursive: true,
      auth: { username: "demo", password: "demo" },
    };
    await stack.createFeed("existing-on", { source: { ...source, existing: true }, batch: { maxEvents: 100, maxWaitMs: 50 } });
    await stack.createFeed("existing-off", { source, batch: { maxEvents: 100, maxWaitMs: 50 } });
    const got = await waitFor(
      "the existing files fired",
      async () => {
        const ev = await stack.firedEvents("existing-on");
        return ev.length >= before.length ? ev : undefined;
      },
      30000,
      300,
    );
    await new Promise((r) => setTimeout(r, 2000));
    const t = tally(
      before,
      (await stack.firedEvents("existing-on")).map((e) => e.subject),
    );
    expect(t.missing).to.deep.equal([]);
    expect(t.duplicates).to.equal(0);
    expect(
      got!.every((e) => e.data.size !== undefined && e.data.mtime !== undefined),
      "listed files carry size and mtime",
    ).to.equal(true);
    expect(await stack.firedEvents("existing-off")).to.deep.equal([]);
  });

  it("stops adding watches at maxDirectories and says so in READ", async () => {
    for (const d of ["capped/a", "capped/b", "capped/c"]) mkdirSync(join(stack.root, d), { recursive: true });
    await stack.createFeed("capped", {
      source: {
        kind: "dcache",
        url: stack.frontend,
        paths: ["/capped"],
        recursive: true,
        maxDirectories: 2,
        auth: { username: "demo", password: "demo" },
      },
    });
    const read = await waitFor("limit reported", async () => {
      const r = await stack.readFeed("capped");
      return /maxDirectories/.test(r?.source?.detail ?? "") ? r : undefined;
    });
    expect(read.source.detail).to.match(/watching 2 directories, the limit \(source\.maxDirectories\)/);
    expect(read.status.active).to.equal(true);
  });

  it("pairs a move into one event with old and new path, and enriches IN_CLOSE_WRITE with size and ADLER32", async () => {
    mkdirSync(join(stack.root, "beamtime/moves"), { recursive: true });
    await stack.createFeed("moves", {
      source: {
        kind: "dcache",
        url: stack.frontend,
        paths: ["/beamtime/moves"],
        recursive: true,
        enrich: true,
        auth: { token: "demo-token", via: "query" },
      },
      filter: { types: ["IN_CLOSE_WRITE", "IN_MOVED_TO"] },
      batch: { maxEvents: 100, maxWaitMs: 50 },
    });
    await waitFor("source connected", async () => (await stack.readFeed("moves")).source?.state === "connected");
    writeFileSync(join(stack.root, "beamtime/moves/a.dat"), "hello world");
    await firedAtLeast("moves", 1, "close event");
    renameSync(join(stack.root, "beamtime/moves/a.dat"), join(stack.root, "beamtime/moves/b.dat"));
    const ev = await firedAtLeast("moves", 2, "move event");
    const close = ev.find((e) => e.type.endsWith("IN_CLOSE_WRITE"))!;
    expect(close.subject).to.equal("/beamtime/moves/a.dat");
    expect(close.data).to.include({ size: 11, adler32: "1a0b045d" });
    const moved = ev.find((e) => e.type.endsWith("IN_MOVED_TO"))!;
    expect(moved.subject).to.equal("/beamtime/moves/b.dat");
    expect(moved.data).to.include({ oldPath: "/beamtime/moves/a.dat" });
    expect(moved.data.mask).to.not.include("IN_MOVED_FROM");
    expect(ev.filter((e) => e.type.endsWith("IN_MOVED_FROM"))).to.have.length(0);
  });

  it("enriches every file of a burst with its own size and ADLER32, each file once (the burst is enriched in slices)", async () => {
    mkdirSync(join(stack.root, "beamtime/burst"), { recursive: true });
    await stack.createFeed("burst", {
      source: {
        kind: "dcache",
        url: stack.frontend,
        paths: ["/beamtime/burst"],
        recursive: true,
        enrich: true,
        flags: ["IN_CLOSE_WRITE"],
        auth: { username: "demo", password: "demo" },
      },
      batch: { maxEvents: 1000, maxWaitMs: 50 },
    });
    await waitFor("source connected", async () => (await stack.readFeed("burst")).source?.state === "connected");
    // more files than one enrichment slice (32), written at once: the watcher gets them as one run
    const contents = Array.from({ length: 150 }, (_, i) => Buffer.alloc(500 + i, i % 251));
    const expected = zlibAdler32(contents);
    for (const [i, c] of contents.entries()) writeFileSync(join(stack.root, `beamtime/burst/f-${i}.h5`), c);
    await firedAtLeast("burst", contents.length, "every file of the burst fired", 30000);
    // late duplicates would show up meanwhile
    await new Promise((r) => setTimeout(r, 1000));
    const all = await stack.firedEvents("burst");
    expect(all).to.have.length(contents.length);
    for (const e of all) {
      const i = Number(/f-(\d+)\.h5$/.exec(e.subject)![1]);
      expect(e.data, e.subject).to.include({ size: contents[i]!.length, adler32: expected[i] });
    }
    expect(new Set(all.map((e) => e.subject)).size).to.equal(contents.length);
  });

  it("enriches only files the filter's paths pass: a file the filter drops is never looked up", async () => {
    mkdirSync(join(stack.root, "beamtime/picky"), { recursive: true });
    // the feed reaches dCache through a proxy that notes every request: the lookups are what is counted
    const seen: string[] = [];
    const proxy = createServer((req, res) => {
      seen.push(decodeURIComponent(req.url ?? ""));
      const target = new URL(req.url ?? "/", stack.frontend);
      const up = request(target, { method: req.method, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        // an event stream's headers go at once: dCache sends nothing more until an event
        res.flushHeaders();
        r.pipe(res);
      });
      up.on("error", () => res.destroy());
      res.on("close", () => up.destroy());
      req.pipe(up);
    });
    await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", r));
    try {
      await stack.createFeed("picky", {
        source: {
          kind: "dcache",
          url: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
          paths: ["/beamtime/picky"],
          recursive: true,
          enrich: true,
          auth: { username: "demo", password: "demo" },
        },
        filter: { arrivals: true, paths: ["**/*.nxs"], exclude: ["**/derived/**"] },
        batch: { maxEvents: 100, maxWaitMs: 50 },
      });
      await waitFor("source connected", async () => (await stack.readFeed("picky")).source?.state === "connected");
      const wanted = Buffer.from("a NeXus file");
      writeFileSync(join(stack.root, "beamtime/picky/notes.txt"), "not a NeXus file");
      mkdirSync(join(stack.root, "beamtime/picky/derived"));
      writeFileSync(join(stack.root, "beamtime/picky/derived/scan.nxs"), "a preview");
      writeFileSync(join(stack.root, "beamtime/picky/scan.nxs"), wanted);
      const ev = await firedAtLeast("picky", 1, "the NeXus file fired");
      // anything else would fire or be looked up meanwhile
      await new Promise((r) => setTimeout(r, 1000));
      expect((await stack.firedEvents("picky")).map((e) => e.subject)).to.deep.equal(["/beamtime/picky/scan.nxs"]);
      expect(ev[0]!.data).to.include({ size: wanted.length, adler32: zlibAdler32([wanted])[0] });
      const lookups = seen.filter((u) => u.startsWith("/api/v1/namespace/") && u.includes("checksum=true"));
      expect(lookups.map((u) => u.split("?")[0])).to.deep.equal(["/api/v1/namespace/beamtime/picky/scan.nxs"]);
    } finally {
      proxy.closeAllConnections();
      proxy.close();
    }
  });

  it("a file still being written when its new directory is listed fires once, whole, when it closes", async () => {
    mkdirSync(join(stack.root, "beamtime/slow"), { recursive: true });
    await stack.createFeed("slow", {
      source: {
        kind: "dcache",
        url: stack.frontend,
        paths: ["/beamtime/slow"],
        recursive: true,
        enrich: true,
        flags: ["IN_CLOSE_WRITE"],
        auth: { username: "demo", password: "demo" },
      },
      batch: { maxEvents: 100, maxWaitMs: 50 },
    });
    await waitFor("source connected", async () => (await stack.readFeed("slow")).source?.state === "connected");
    // the directory and the open file in the same instant: the listing finds the file before it is
    // closed; the writer goes on in small writes for well over the listing's wait for a close
    const dir = join(stack.root, "beamtime/slow/scan");
    mkdirSync(dir);
    const fd = openSync(join(dir, "growing.h5"), "w");
    const chunk = Buffer.alloc(1000, 7);
    for (let i = 0; i < 20; i++) {
      writeSync(fd, chunk);
      await new Promise((r) => setTimeout(r, 50));
    }
    closeSync(fd);
    const ev = await firedAtLeast("slow", 1, "the close fired");
    // late duplicates would come within the listing's wait: give them time to show
    await new Promise((r) => setTimeout(r, 1500));
    const all = await stack.firedEvents("slow");
    expect(all.map((e) => e.subject)).to.deep.equal(["/beamtime/slow/scan/growing.h5"]);
    expect(ev[0]!.data).to.include({ size: 20_000 });
  });
});

// Standard functions: (1) bundle size and start of each function's bundle vs. an empty Node
// process; (2) the metadata action on small real NeXus files over the local dCache vs. h5wasm
// opening and walking the same bytes from memory in-process; (3) cold start of metadata and derive
// (bundle required in a fresh process → first result) vs. the warm run; (4) metadata of a 2 GiB
// NeXus file over HTTP Range vs. reading the file whole, in bytes and wall time. All baselines
// are measured in the same run. BENCH_FUNCTIONS=bundles,small,cold,big (default all) picks parts.
// (ADLER32 throughput is in adler32.bench.ts.)
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startService } from "../../test/support/service.ts";
import { SyncRangeReader } from "../../lib/http/sync-range-reader.ts";
import { describe } from "../../lib/formats/describe.ts";
import { loadH5wasm } from "../../lib/formats/hdf5-open.ts";
import { nexusEntries } from "../../lib/formats/nexus.ts";
import { report, summarise } from "./report.ts";

const FUNCTIONS = ["checksum", "metadata", "catalogue", "placement", "derive", "accounting"];
const root = join(import.meta.dirname, "../..");
const dir = mkdtempSync(join(tmpdir(), "bench-functions-"));
const auth = { Authorization: `Basic ${Buffer.from("demo:demo").toString("base64")}` };
const PARTS = new Set((process.env.BENCH_FUNCTIONS ?? "bundles,small,cold,big").split(",").map((x) => x.trim()));
const bundlesDir = join(dir, "bundles");
let built = false;
/** Small real NeXus files (test/data/nexus, with their origin in its README). */
const SMALL = ["DLS_i03_i04_NXmx_hdf5_Therm_6_2.nxs", "APS_EPICSareaDetector_hdf5_AgBehenate_228.hdf5", "DLS_i16_hdf5_538039.nxs"];
/** What each cold start reads: derive needs a frame in the file itself (APS: 487 × 195). */
const COLD: Record<string, string> = { metadata: SMALL[0]!, derive: SMALL[1]! };
const NEXUS_DATA = join(root, "test/data/nexus");

/** A NeXus file of `frames` 1024×1024 uint16 frames (2 MiB each), one chunk per frame, metadata after the data. */
async function writeBigNexus(path: string, frames: number): Promise<void> {
  const m = await import("h5wasm/node");
  await m.ready;
  const f = new m.File(path, "w");
  const e = f.create_group("entry");
  e.create_attribute("NX_class", "NXentry");
  e.create_dataset({ name: "title", data: "2 GiB benchmark scan" });
  e.create_dataset({ name: "start_time", data: "2026-11-28T10:00:00Z" });
  const d = e.create_group("data");
  d.create_attribute("NX_class", "NXdata");
  d.create_attribute("signal", "data");
  const frame = new Uint16Array(1024 * 1024);
  for (let i = 0; i < frame.length; i++) frame[i] = i % 4093;
  const ds = d.create_dataset({
    name: "data",
    data: frame,
    shape: [1, 1024, 1024],
    dtype: "<H",
    maxshape: [null, 1024, 1024],
    chunks: [1, 1024, 1024],
  });
  ds.resize([frames, 1024, 1024]);
  for (let k = 1; k < frames; k++) ds.write_slice([[k, k + 1], [], []], frame);
  const inst = e.create_group("instrument");
  inst.create_attribute("NX_class", "NXinstrument");
  inst.create_dataset({ name: "name", data: "BENCH" });
  const s = e.create_group("sample");
  s.create_attribute("NX_class", "NXsample");
  s.create_dataset({ name: "name", data: "written after the data" });
  f.close();
}

async function metadataFigures(): Promise<void> {
  const storage = join(dir, "storage");
  spawnSync("mkdir", ["-p", join(storage, "raw")]);
  const file = join(storage, "raw", "big.nxs");
  const t0 = performance.now();
  await writeBigNexus(file, 1024);
  const size = statSync(file).size;
  console.log(`(generated ${(size / 2 ** 30).toFixed(2)} GiB NeXus in ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  const dcache = await startService(
    "local/dcache/main.ts",
    ["--root", storage, "--frontend-port", "0", "--webdav-port", "0", "--inotify", "off"],
    { listeners: ["dcache-frontend", "dcache-webdav"] },
  );
  try {
    const url = `${dcache.urls["dcache-webdav"]}/raw/big.nxs`;
    // Warm h5wasm once so that both sides measure transfer, not the wasm compile.
    await describe(new SyncRangeReader(url, { headers: auth }), "warm-up.nxs");
    const ranged: number[] = [];
    let bytes = 0;
    let requests = 0;
    for (let i = 0; i < 5; i++) {
      const reader = new SyncRangeReader(url, { headers: auth });
      const t = performance.now();
      const d = await describe(reader, "/raw/big.nxs");
      ranged.push(performance.now() - t);
      if (d.nexus?.entries[0]?.sample?.name !== "written after the data") throw new Error("metadata incomplete");
      bytes = reader.stats.bytes;
      requests = reader.stats.requests;
      reader.close();
    }
    const whole: number[] = [];
    for (let i = 0; i < 2; i++) {
      const t = performance.now();
      const res = await fetch(url, { headers: auth });
      let n = 0;
      for await (const c of res.body as unknown as AsyncIterable<Uint8Array>) n += c.length;
      if (n !== size) throw new Error(`read ${n} of ${size}`);
      whole.push(performance.now() - t);
    }
    const r = summarise(ranged);
    const w = summarise(whole);
    report("metadata 2 GiB NeXus: bytes transferred", bytes, "B", { name: "whole file", value: size });
    report("metadata 2 GiB NeXus: share of the file read", (100 * bytes) / size, "%");
    report("metadata 2 GiB NeXus: HTTP Range requests", requests, "req");
    report("metadata 2 GiB NeXus: wall time p50", r.p50, "ms", { name: "GET whole file", value: w.p50 });
    report("GET whole file over WebDAV p50", w.p50, "ms");
  } finally {
    await dcache.stop();
    rmSync(file, { force: true });
  }
}

function buildBundles(): string {
  if (!built) {
    const b = spawnSync(
      process.execPath,
      ["--import", "tsx", join(root, "scripts/build/cli.ts"), "--out", bundlesDir, "--skip-typecheck", ...FUNCTIONS],
      { cwd: root, encoding: "utf8" },
    );
    if (b.status !== 0) throw new Error(`build failed: ${b.stderr}`);
    built = true;
  }
  return bundlesDir;
}

function bundleFigures(): void {
  const out = buildBundles();
  const startMs = (args: string[]): number => {
    const t = performance.now();
    const r = spawnSync(process.execPath, args, { cwd: dir, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`node ${args.join(" ")} failed: ${r.stderr}`);
    return performance.now() - t;
  };
  // Interleaved (empty process, then each bundle, per round) so that load on the machine hits all alike.
  const runs = 9;
  const samples: Record<string, number[]> = { empty: [] };
  for (let i = 0; i < runs; i++) {
    samples.empty!.push(startMs(["-e", ""]));
    // Cold start as the runtime sees it: a fresh process that requires the bundle (its /init).
    for (const fn of FUNCTIONS) (samples[fn] ??= []).push(startMs(["-e", `require(${JSON.stringify(join(out, fn, "index.js"))})`]));
  }
  const empty = summarise(samples.empty!).p50;
  report("empty node process start p50", empty, "ms");
  for (const fn of FUNCTIONS) {
    report(`${fn}: bundle size`, statSync(join(out, fn, "index.js")).size / 1024, "KiB");
    report(`${fn}: zip size`, statSync(join(out, `${fn}.zip`)).size / 1024, "KiB");
    report(`${fn}: cold start (fresh process + require) p50`, summarise(samples[fn]!).p50, "ms", { name: "empty node", value: empty });
  }
}

/** A local dCache over a folder holding the small files under /raw. */
async function smallStorage() {
  const storage = join(dir, "small");
  mkdirSync(join(storage, "raw"), { recursive: true });
  for (const f of SMALL) copyFileSync(join(NEXUS_DATA, f), join(storage, "raw", f));
  const dcache = await startService(
    "local/dcache/main.ts",
    ["--root", storage, "--frontend-port", "0", "--webdav-port", "0", "--inotify", "off"],
    { listeners: ["dcache-frontend", "dcache-webdav"] },
  );
  const params = {
    webdavUrl: dcache.urls["dcache-webdav"]!,
    frontendUrl: dcache.urls["dcache-frontend"]!,
    dcacheUser: "demo",
    dcachePassword: "demo",
  };
  return { dcache, params };
}

/**
 * The baseline: h5wasm opens the file from memory (its in-memory file system) and the same NeXus
 * walk runs over it, in this process, nothing over the network.
 */
async function inMemoryWalk(bytes: Uint8Array): Promise<number> {
  const h5 = await loadH5wasm();
  const FS = h5.FS as unknown as { writeFile(p: string, d: Uint8Array): void; unlink(p: string): void };
  const t = performance.now();
  FS.writeFile("/bench-memory.h5", bytes);
  const f = new h5.File("/bench-memory.h5", "r");
  const entries = nexusEntries(f);
  f.close();
  FS.unlink("/bench-memory.h5");
  const ms = performance.now() - t;
  if (!entries.length) throw new Error("no NXentry found in memory");
  return ms;
}

async function smallFigures(): Promise<void> {
  const { main } = await import("../../functions/metadata/index.ts");
  const { dcache, params } = await smallStorage();
  const log = console.log;
  try {
    for (const f of SMALL) {
      const bytes = new Uint8Array(readFileSync(join(NEXUS_DATA, f)));
      const path = `/raw/${f}`;
      const memory: number[] = [];
      // invoked with the path alone, and as the ingest sequence does (after checksum, which looked the
      // file up: its size and mtime known)
      const mtime = statSync(join(dir, "small", "raw", f)).mtime.toISOString();
      const inputs = { path: { path }, sequence: { files: [{ path, size: bytes.length, mtime }] } };
      const action: Record<keyof typeof inputs, number[]> = { path: [], sequence: [] };
      let bytesRead = 0;
      // warm both (wasm compiled and tiered up, connections open, the local dCache's handlers
      // optimised), then interleave so load hits both alike
      console.log = () => {};
      for (let i = 0; i < 20; i++) {
        await inMemoryWalk(bytes);
        for (const input of Object.values(inputs)) await main({ ...params, ...input });
      }
      for (let i = 0; i < 30; i++) {
        memory.push(await inMemoryWalk(bytes));
        for (const [k, input] of Object.entries(inputs) as Array<[keyof typeof inputs, object]>) {
          const t = performance.now();
          const r = (await main({ ...params, ...input })) as {
            files?: Array<{ metadata?: { format?: string } }>;
            steps?: Array<{ bytesRead: number }>;
          };
          action[k].push(performance.now() - t);
          if (r.files?.[0]?.metadata?.format !== "nexus") throw new Error(`metadata of ${path}: ${JSON.stringify(r)}`);
          bytesRead = r.steps!.at(-1)!.bytesRead;
        }
      }
      console.log = log;
      const m = summarise(memory).p50;
      const label = `${(bytes.length / 1024).toFixed(0)} KiB NeXus`;
      report(`h5wasm open + walk from memory, ${label} p50`, m, "ms");
      report(`metadata (warm, path alone), ${label} p50`, summarise(action.path).p50, "ms", { name: "h5wasm from memory", value: m });
      report(`metadata (warm, in the sequence), ${label} p50`, summarise(action.sequence).p50, "ms", {
        name: "h5wasm from memory",
        value: m,
      });
      report(`metadata (warm), ${label}: bytes read`, bytesRead, "B", { name: "file size", value: bytes.length });
    }
    // derive on its own rule: the file read, opened and walked once, then its frame made into a PNG
    const deriveMain = (await import("../../functions/derive/index.ts")).main;
    const f = COLD.derive!;
    const bytes = new Uint8Array(readFileSync(join(NEXUS_DATA, f)));
    const memory: number[] = [];
    const derive: number[] = [];
    console.log = () => {};
    await deriveMain({ ...params, path: `/raw/${f}` });
    for (let i = 0; i < 20; i++) {
      memory.push(await inMemoryWalk(bytes));
      const t = performance.now();
      const r = (await deriveMain({ ...params, path: `/raw/${f}` })) as { files?: Array<{ derived?: unknown[] }> };
      derive.push(performance.now() - t);
      if (r.files?.[0]?.derived?.length !== 2) throw new Error(`derive of ${f}: ${JSON.stringify(r)}`);
    }
    console.log = log;
    report(`derive (warm), ${(bytes.length / 1024).toFixed(0)} KiB NeXus frame → PNG p50`, summarise(derive).p50, "ms", {
      name: "h5wasm from memory",
      value: summarise(memory).p50,
    });
  } finally {
    console.log = log;
    await dcache.stop();
  }
}

// The runtime's part of a cold start, timed from inside the fresh process: require the bundle
// (OpenWhisk's /init), then main(params) twice (the first /run, and a warm one for comparison).
// CPU time (all of the process's threads) is reported beside wall time: it varies less with the
// machine's load.
const coldRunner = `
const c0 = process.cpuUsage();
const t0 = performance.now();
const mod = require(process.argv[1]);
const t1 = performance.now();
console.log = () => {};
(async () => {
  const params = JSON.parse(process.argv[2]);
  const r1 = await mod.main(params);
  const t2 = performance.now();
  const c = process.cpuUsage(c0);
  await mod.main(params);
  const t3 = performance.now();
  if (!r1.files || r1.files.length !== 1) { process.stderr.write(JSON.stringify(r1)); process.exit(1); }
  process.stdout.write(JSON.stringify({ init: t1 - t0, first: t2 - t1, warm: t3 - t2, cpu: (c.user + c.system) / 1000 }));
})();`;

async function coldFigures(): Promise<void> {
  const out = buildBundles();
  const { dcache, params } = await smallStorage();
  try {
    const cold = Object.keys(COLD);
    const samples: Record<string, Array<{ init: number; first: number; warm: number; cpu: number; wall: number }>> = {};
    const empty: number[] = [];
    for (let i = 0; i < 7; i++) {
      let t = performance.now();
      spawnSync(process.execPath, ["-e", ""], { cwd: dir });
      empty.push(performance.now() - t);
      for (const fn of cold) {
        t = performance.now();
        const r = spawnSync(
          process.execPath,
          ["-e", coldRunner, join(out, fn, "index.js"), JSON.stringify({ ...params, path: `/raw/${COLD[fn]}` })],
          { cwd: dir, encoding: "utf8" },
        );
        const wall = performance.now() - t;
        if (r.status !== 0) throw new Error(`${fn} cold run failed: ${r.stderr}`);
        (samples[fn] ??= []).push({ ...JSON.parse(r.stdout), wall });
      }
    }
    const e = summarise(empty).p50;
    for (const fn of cold) {
      const s = samples[fn]!;
      const warm = summarise(s.map((x) => x.warm)).p50;
      const p = (k: "init" | "first") => summarise(s.map((x) => x[k])).p50;
      report(`${fn}: cold start, require bundle (init) p50`, p("init"), "ms");
      report(`${fn}: cold start, first run p50`, p("first"), "ms", { name: "warm run", value: warm });
      report(`${fn}: cold start, init + first run p50`, summarise(s.map((x) => x.init + x.first)).p50, "ms", {
        name: "warm run",
        value: warm,
      });
      report(`${fn}: cold start, init + first run CPU p50`, summarise(s.map((x) => x.cpu)).p50, "ms");
      report(`${fn}: fresh process → first result p50`, summarise(s.map((x) => x.wall - x.warm)).p50, "ms", {
        name: "empty node",
        value: e,
      });
    }
  } finally {
    await dcache.stop();
  }
}

try {
  if (PARTS.has("bundles")) bundleFigures();
  if (PARTS.has("small")) await smallFigures();
  if (PARTS.has("cold")) await coldFigures();
  if (PARTS.has("big")) await metadataFigures();
} finally {
  rmSync(dir, { recursive: true, force: true });
}

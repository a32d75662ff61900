// Standard functions: (1) metadata of a 2 GiB NeXus file over HTTP Range against the local dCache
// vs. reading the file whole, in bytes and wall time; (2) bundle size and cold start of each
// function's bundle vs. an empty Node process, all in the same run. (ADLER32 throughput is in
// adler32.bench.ts.)
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startService } from "../../test/support/service.ts";
import { SyncRangeReader } from "../../lib/http/sync-range-reader.ts";
import { describe } from "../../lib/formats/describe.ts";
import { report, summarise } from "./report.ts";

const FUNCTIONS = ["checksum", "metadata", "catalogue", "placement", "derive", "accounting"];
const root = join(import.meta.dirname, "../..");
const dir = mkdtempSync(join(tmpdir(), "bench-functions-"));
const auth = { Authorization: "Basic " + Buffer.from("demo:demo").toString("base64") };

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
  const ds = d.create_dataset({ name: "data", data: frame, shape: [1, 1024, 1024], dtype: "<H", maxshape: [null, 1024, 1024], chunks: [1, 1024, 1024] });
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
  const dcache = await startService("local/dcache/main.ts", ["--root", storage, "--frontend-port", "0", "--webdav-port", "0", "--inotify", "off"], { listeners: ["dcache-frontend", "dcache-webdav"] });
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

function bundleFigures(): void {
  const out = join(dir, "bundles");
  const b = spawnSync(process.execPath, ["--import", "tsx", join(root, "scripts/build/cli.ts"), "--out", out, "--skip-typecheck", ...FUNCTIONS], { cwd: root, encoding: "utf8" });
  if (b.status !== 0) throw new Error(`build failed: ${b.stderr}`);
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

try {
  bundleFigures();
  await metadataFigures();
} finally {
  rmSync(dir, { recursive: true, force: true });
}

// Local dCache storage: event throughput and latency next to raw inotify (inotifywait) measured in
// the same run, and WebDAV PUT/GET throughput of a 1 GB file next to a plain file copy on the same
// disk. (ADLER32 throughput per core is in adler32.bench.ts.)
//   DCACHE_BENCH_FILES   files in the creation burst (default 100000)
//   DCACHE_BENCH_GB      size of the transfer file in GB (default 1)
import { spawn, execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, createReadStream, createWriteStream, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import {
  createChannel,
  getStream,
  putFile,
  streamChannel,
  subscribeInotify,
  type ChannelMessage,
  type DcacheEndpoint,
} from "../../lib/dcache/index.ts";
import { startService } from "../../test/support/service.ts";
import { report, summarise } from "./report.ts";

const FILES = Number(process.env.DCACHE_BENCH_FILES ?? 100_000);
const GB = Number(process.env.DCACHE_BENCH_GB ?? 1);
const work = mkdtempSync(join(tmpdir(), "dcache-bench-"));

/** Creates `n` empty files in `dir` from one python3 process (open+close each: CREATE, OPEN, CLOSE_WRITE). */
function burst(dir: string, n: number, prefix: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn("python3", ["-c", `import sys\nfor i in range(${n}): open(sys.argv[1] + "/${prefix}" + str(i), "w").close()`, dir], {
      stdio: "inherit",
    });
    p.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`python3 exited ${code}`))));
  });
}

/** Raw inotify: inotifywait on a fresh directory, counting the lines for the same burst. */
async function rawInotifyRate(n: number): Promise<{ eventsPerS: number; filesPerS: number; latencies: number[] }> {
  const dir = join(work, "raw");
  mkdirSync(dir);
  const iw = spawn("inotifywait", ["-m", "-r", "--no-newline", "--format", "%w%0%f%0%e%0%c%0", dir], { stdio: ["ignore", "pipe", "pipe"] });
  await new Promise<void>((r) => iw.stderr.on("data", (d) => String(d).includes("Watches established") && r()));
  let closes = 0;
  let events = 0;
  let rest = "";
  let onClose: ((name: string) => void) | undefined;
  iw.stdout.setEncoding("utf8").on("data", (d: string) => {
    const f = (rest + d).split("\0");
    const complete = Math.floor((f.length - 1) / 4) * 4;
    rest = f.slice(complete).join("\0");
    for (let i = 0; i < complete; i += 4) {
      events++;
      if (f[i + 2]!.startsWith("CLOSE_WRITE")) {
        closes++;
        onClose?.(f[i + 1]!);
      }
    }
  });
  const t0 = performance.now();
  await burst(dir, n, "f");
  while (closes < n) await new Promise((r) => setTimeout(r, 5));
  const secs = (performance.now() - t0) / 1000;
  const total = events;
  const latencies = await closeLatencies(dir, (cb) => (onClose = cb));
  iw.kill();
  return { eventsPerS: total / secs, filesPerS: n / secs, latencies };
}

/** close() of a written file → its IN_CLOSE_WRITE seen by the consumer, 200 times in a row. */
async function closeLatencies(dir: string, listen: (cb: (name: string) => void) => void): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < 200; i++) {
    const name = `lat${i}`;
    const seen = new Promise<number>((resolve) => listen((n) => n === name && resolve(performance.now())));
    const fd = openSync(join(dir, name), "w");
    writeSync(fd, "some bytes of data");
    closeSync(fd);
    const t = performance.now();
    out.push((await seen) - t);
  }
  return out;
}

async function storageRates(n: number) {
  const root = join(work, "store");
  mkdirSync(join(root, "burst"), { recursive: true });
  const svc = await startService("local/dcache/main.ts", ["--root", root, "--frontend-port", "0", "--webdav-port", "0"], {
    listeners: ["dcache-frontend", "dcache-webdav"],
  });
  try {
    const fe: DcacheEndpoint = { url: svc.urls["dcache-frontend"]!, credentials: { type: "basic", username: "demo", password: "demo" } };
    const dav: DcacheEndpoint = { url: svc.urls["dcache-webdav"]!, credentials: { type: "basic", username: "demo", password: "demo" } };
    const ch = await createChannel(fe);
    await subscribeInotify(fe, ch, { path: "/burst" });
    const ac = new AbortController();
    let events = 0;
    let closes = 0;
    let overflows = 0;
    let onClose: ((name: string) => void) | undefined;
    const reading = (async () => {
      for await (const m of streamChannel(fe, ch, { signal: ac.signal }) as AsyncGenerator<ChannelMessage>) {
        if (m.kind !== "inotify") continue;
        events++;
        if (m.event.mask.includes("IN_Q_OVERFLOW")) overflows++;
        if (m.event.mask.includes("IN_CLOSE_WRITE")) {
          closes++;
          onClose?.(m.event.name!);
        }
      }
    })();
    await new Promise((r) => setTimeout(r, 300));
    const t0 = performance.now();
    await burst(join(root, "burst"), n, "f");
    let lastProgress = performance.now();
    let lastCloses = 0;
    // With overflows some IN_CLOSE_WRITE never arrive: stop once nothing came for 10 s.
    while (closes < n && performance.now() - lastProgress < 10_000) {
      await new Promise((r) => setTimeout(r, 20));
      if (closes !== lastCloses) {
        lastCloses = closes;
        lastProgress = performance.now();
      }
    }
    const secs = (closes < n ? lastProgress : performance.now()) / 1000 - t0 / 1000;
    const result = { eventsPerS: events / secs, filesPerS: closes / secs, events, closes, overflows, secs };
    const latencies = await closeLatencies(join(root, "burst"), (cb) => (onClose = cb));

    // WebDAV 1 GB PUT/GET vs plain copies of the same file on the same disk
    const src = join(work, "big.bin");
    const block = randomBytes(16 * 1024 * 1024);
    const fd = openSync(src, "w");
    for (let done = 0; done < GB * 1024 ** 3; done += block.length) writeSync(fd, block);
    closeSync(fd);
    const bytes = GB * 1024 ** 3;
    execFileSync("sync");
    let t = performance.now();
    execFileSync("cp", [src, join(work, "copy1.bin")]);
    const cpS = (performance.now() - t) / 1000;
    t = performance.now();
    await pipeline(
      createReadStream(src, { highWaterMark: 1 << 20 }),
      createWriteStream(join(work, "copy2.bin"), { highWaterMark: 4 << 20 }),
    );
    const nodeCopyS = (performance.now() - t) / 1000;
    t = performance.now();
    await putFile(dav, "/big.bin", () => createReadStream(src, { highWaterMark: 1 << 20 }), { contentLength: bytes });
    const putS = (performance.now() - t) / 1000;
    t = performance.now();
    const got = await getStream(dav, "/big.bin");
    await pipeline(got.body, createWriteStream(join(work, "got.bin"), { highWaterMark: 4 << 20 }));
    const getS = (performance.now() - t) / 1000;
    ac.abort();
    await reading.catch(() => {});
    return {
      ...result,
      latencies,
      cpMBs: bytes / 1e6 / cpS,
      nodeCopyMBs: bytes / 1e6 / nodeCopyS,
      putMBs: bytes / 1e6 / putS,
      getMBs: bytes / 1e6 / getS,
    };
  } finally {
    await svc.stop();
  }
}

try {
  console.log(`burst of ${FILES} file creations (python3 open+close each); transfers of ${GB} GB`);
  const raw = await rawInotifyRate(FILES);
  const ours = await storageRates(FILES);
  report("raw inotify (inotifywait) events/s, burst", raw.eventsPerS, "ev/s");
  report("local dCache events/s to one SSE client, burst", ours.eventsPerS, "ev/s", { name: "raw inotify", value: raw.eventsPerS });
  report("local dCache files/s to IN_CLOSE_WRITE at client", ours.filesPerS, "files/s", { name: "raw inotify", value: raw.filesPerS });
  console.log(
    `  (${ours.events} events, ${ours.closes}/${FILES} IN_CLOSE_WRITE, ${ours.overflows} IN_Q_OVERFLOW in ${ours.secs.toFixed(1)} s)`,
  );
  if (ours.closes < FILES && ours.overflows === 0) {
    const limit = readFileSync("/proc/sys/fs/inotify/max_queued_events", "utf8").trim();
    console.log(
      `  ${FILES - ours.closes} files lost in the kernel's inotify queue (max_queued_events ${limit}) without an IN_Q_OVERFLOW: the sentinels missed the overflow`,
    );
  }
  const rl = summarise(raw.latencies);
  const ol = summarise(ours.latencies);
  report("raw inotify close()→CLOSE_WRITE latency p50", rl.p50, "ms");
  report("raw inotify close()→CLOSE_WRITE latency p99", rl.p99, "ms");
  report("local dCache close()→IN_CLOSE_WRITE at SSE client p50", ol.p50, "ms", { name: "raw inotify p50", value: rl.p50 });
  report("local dCache close()→IN_CLOSE_WRITE at SSE client p99", ol.p99, "ms", { name: "raw inotify p99", value: rl.p99 });
  report("plain file copy (cp) throughput", ours.cpMBs, "MB/s");
  report("Node stream file copy throughput (context)", ours.nodeCopyMBs, "MB/s", { name: "cp", value: ours.cpMBs });
  report(`WebDAV PUT ${GB} GB throughput (ADLER32 while streaming)`, ours.putMBs, "MB/s", { name: "cp", value: ours.cpMBs });
  report(`WebDAV GET ${GB} GB throughput`, ours.getMBs, "MB/s", { name: "cp", value: ours.cpMBs });
  report(`WebDAV PUT ${GB} GB vs a Node stream copy`, ours.putMBs, "MB/s", { name: "Node copy", value: ours.nodeCopyMBs });
  report(`WebDAV GET ${GB} GB vs a Node stream copy`, ours.getMBs, "MB/s", { name: "Node copy", value: ours.nodeCopyMBs });
} finally {
  rmSync(work, { recursive: true, force: true });
}

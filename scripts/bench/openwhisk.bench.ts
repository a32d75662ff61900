// Local OpenWhisk platform: warm blocking invoke latency and throughput at concurrency 1 and 8
// against a bare Node.js HTTP echo server (same client, same run), cold start of an esbuild-bundled
// zip action against a bare fork, a 3-action sequence against one warm invoke, and the platform's
// resident memory with 100 warm containers behind it against its idle size.
import { execFileSync, spawn, fork, type ChildProcess } from "node:child_process";
import { Agent, request } from "node:http";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { zipSync, strToU8 } from "fflate";
import { report, summarise } from "./report.ts";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const AUTH = "23bc46b1-71f6-4ed5-8c54-816aa4f8c502:123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP";
const AUTH_HEADER = `Basic ${Buffer.from(AUTH).toString("base64")}`;
const agent = new Agent({ keepAlive: true, maxSockets: 64 });
const children: ChildProcess[] = [];
const tmp = mkdtempSync(join(tmpdir(), "ow-bench-"));

function cleanup(): void {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
  rmSync(tmp, { recursive: true, force: true });
}
process.on("exit", cleanup);

/** Starts a process and resolves with the URL from its `listening <name> <url>` line. */
function startListening(cmd: string, args: string[], name: string): Promise<{ url: string; proc: ChildProcess }> {
  const proc = spawn(cmd, args, { cwd: root, stdio: ["ignore", "pipe", "inherit"] });
  children.push(proc);
  return new Promise((res, rej) => {
    let out = "";
    proc.stdout!.on("data", (d) => {
      out += d;
      const m = new RegExp(`^listening ${name} (http\\S+)$`, "m").exec(out);
      if (m) res({ url: m[1]!, proc });
    });
    proc.once("exit", (code) => rej(new Error(`${name} exited with ${code} before listening:\n${out}`)));
  });
}

function startPlatform(dataDir: string, extra: string[] = []) {
  return startListening(
    process.execPath,
    ["--import", "tsx", "local/openwhisk/main.ts", "--port", "0", "--data-dir", dataDir, ...extra],
    "openwhisk",
  );
}

function startEcho() {
  const code = `require("node:http").createServer((req, res) => { const b = []; req.on("data", (c) => b.push(c));
    req.on("end", () => { const body = Buffer.concat(b); res.writeHead(200, { "content-type": "application/json", "content-length": body.length }); res.end(body); });
  }).listen(0, "127.0.0.1", function () { console.log("listening echo http://127.0.0.1:" + this.address().port); });`;
  return startListening(process.execPath, ["-e", code], "echo");
}

function call(url: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const data = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((res, rej) => {
    const req = request(
      url + path,
      {
        method,
        agent,
        headers: {
          authorization: AUTH_HEADER,
          "content-type": "application/json",
          ...(data ? { "content-length": Buffer.byteLength(data) } : {}),
        },
      },
      (r) => {
        const chunks: Buffer[] = [];
        r.on("data", (c) => chunks.push(c));
        r.on("end", () => {
          const text = Buffer.concat(chunks).toString();
          res({ status: r.statusCode!, body: text ? JSON.parse(text) : undefined });
        });
      },
    );
    req.on("error", rej);
    req.end(data);
  });
}

async function put(url: string, path: string, body: unknown): Promise<any> {
  const r = await call(url, "PUT", `${path}?overwrite=true`, body);
  if (r.status !== 200) throw new Error(`PUT ${path} → ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** Runs `total` requests from `concurrency` loops; returns per-request latencies and requests/s. */
async function load(concurrency: number, total: number, one: () => Promise<void>): Promise<{ lat: number[]; perSecond: number }> {
  const lat: number[] = [];
  let left = total;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (left-- > 0) {
        const s = performance.now();
        await one();
        lat.push(performance.now() - s);
      }
    }),
  );
  return { lat, perSecond: (total / (performance.now() - t0)) * 1000 };
}

function childPids(pid: number): number[] {
  // Children of the platform: its action containers (warm ones and pre-warmed stem cells).
  return execFileSync("ps", ["-o", "pid=", "--ppid", String(pid)])
    .toString()
    .trim()
    .split(/\s+/)
    .filter(Boolean)
    .map(Number);
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function bundledZip(): Promise<string> {
  // A realistic bundled action: TypeScript from lib/ pulled in and bundled by esbuild into CommonJS.
  const entry = join(tmp, "action.ts");
  writeFileSync(
    entry,
    `import { adler32Hex } from ${JSON.stringify(join(root, "lib/checksum/adler32.ts"))};
     export function main(p: { text?: string }) { return { adler32: adler32Hex(Buffer.from(p.text ?? "")) }; }`,
  );
  const out = await build({ entryPoints: [entry], bundle: true, platform: "node", target: "node20", format: "cjs", write: false });
  const zip = zipSync({ "package.json": strToU8(JSON.stringify({ main: "index.js" })), "index.js": out.outputFiles[0]!.contents });
  return Buffer.from(zip).toString("base64");
}

async function bareFork(): Promise<number> {
  const file = join(tmp, "ready.cjs");
  writeFileSync(file, "process.send('ready');");
  const s = performance.now();
  const c = fork(file, [], { stdio: ["ignore", "ignore", "ignore", "ipc"] });
  await new Promise((r) => c.once("message", r));
  const ms = performance.now() - s;
  c.kill();
  return ms;
}

async function main(): Promise<void> {
  const echo = await startEcho();
  const platform = await startPlatform(join(tmp, "data"));
  const ow = platform.url;
  const ns = "/api/v1/namespaces/guest";
  await put(ow, `${ns}/actions/trivial`, { exec: { kind: "nodejs:20", code: "function main(p) { return { ok: true, n: p.n }; }" } });
  const payload = { n: 1 };

  // Warm up both servers, and enough warm containers for concurrency 8.
  await load(8, 400, async () => void (await call(echo.url, "POST", "/", payload)));
  await load(8, 400, async () => void (await call(ow, "POST", `${ns}/actions/trivial?blocking=true`, payload)));

  for (const concurrency of [1, 8]) {
    const total = concurrency === 1 ? 3000 : 6000;
    const e = await load(concurrency, total, async () => {
      const r = await call(echo.url, "POST", "/", payload);
      if (r.status !== 200) throw new Error("echo failed");
    });
    const o = await load(concurrency, total, async () => {
      const r = await call(ow, "POST", `${ns}/actions/trivial?blocking=true`, payload);
      if (r.status !== 200) throw new Error(`invoke failed: ${r.status} ${JSON.stringify(r.body)}`);
    });
    const es = summarise(e.lat);
    const os = summarise(o.lat);
    report(`warm blocking invoke p50, concurrency ${concurrency}`, os.p50, "ms", { name: "echo p50", value: es.p50 });
    report(`warm blocking invoke p99, concurrency ${concurrency}`, os.p99, "ms", { name: "echo p99", value: es.p99 });
    report(`warm blocking invokes/s, concurrency ${concurrency}`, o.perSecond, "req/s", { name: "echo req/s", value: e.perSecond });
    report(`bare node http echo p50, concurrency ${concurrency}`, es.p50, "ms");
    report(`bare node http echo req/s, concurrency ${concurrency}`, e.perSecond, "req/s");
  }

  // Cold start: a new version of a bundled zip action, with the pre-warmed stem cells ready.
  const code = await bundledZip();
  const cold: number[] = [];
  const initTimes: number[] = [];
  for (let i = 0; i < 15; i++) {
    await put(ow, `${ns}/actions/bundled`, { exec: { kind: "nodejs:20", code, binary: true } });
    await new Promise((r) => setTimeout(r, 300)); // let the pool replace the stem cell it gave away
    const s = performance.now();
    const r = await call(ow, "POST", `${ns}/actions/bundled?blocking=true`, { text: "hello" });
    cold.push(performance.now() - s);
    if (r.status !== 200) throw new Error(`cold invoke failed: ${JSON.stringify(r.body)}`);
    initTimes.push(r.body.annotations.find((a: { key: string }) => a.key === "initTime").value);
  }
  const forks: number[] = [];
  for (let i = 0; i < 5; i++) forks.push(await bareFork());
  const forkP50 = summarise(forks).p50;
  report("cold start of a bundled zip action, p50 (client)", summarise(cold).p50, "ms", { name: "bare fork→IPC", value: forkP50 });
  report("  its initTime annotation, p50", summarise(initTimes).p50, "ms");
  report("bare node fork to first IPC message, p50", forkP50, "ms");

  // A 3-action sequence, warm.
  for (const n of ["s1", "s2", "s3"])
    await put(ow, `${ns}/actions/${n}`, { exec: { kind: "nodejs:20", code: "function main(p) { return { n: (p.n || 0) + 1 }; }" } });
  await put(ow, `${ns}/actions/seq3`, { exec: { kind: "sequence", components: ["/_/s1", "/_/s2", "/_/s3"] } });
  await load(1, 50, async () => void (await call(ow, "POST", `${ns}/actions/seq3?blocking=true`, {})));
  const single = await load(1, 500, async () => void (await call(ow, "POST", `${ns}/actions/trivial?blocking=true`, payload)));
  const seq = await load(1, 500, async () => {
    const r = await call(ow, "POST", `${ns}/actions/seq3?blocking=true`, {});
    if (r.body.response.result.n !== 3) throw new Error("sequence gave a wrong result");
  });
  report("3-action sequence blocking invoke p50", summarise(seq.lat).p50, "ms", {
    name: "one warm invoke",
    value: summarise(single.lat).p50,
  });
  report("3-action sequence blocking invoke p99", summarise(seq.lat).p99, "ms", {
    name: "one warm invoke",
    value: summarise(single.lat).p99,
  });
  platform.proc.kill("SIGTERM");

  // Resident memory: a platform allowed 110 containers, after 100 distinct actions ran warm.
  const big = await startPlatform(join(tmp, "data-mem"), ["--max-containers", "110"]);
  await new Promise((r) => setTimeout(r, 500));
  const idle = rssMb(big.proc.pid!);
  for (let i = 0; i < 100; i++)
    await put(big.url, `${ns}/actions/m${i}`, { exec: { kind: "nodejs:20", code: `function main(p) { return { i: ${i} }; }` } });
  await load(
    4,
    100,
    (() => {
      let i = 0;
      return async () => {
        const r = await call(big.url, "POST", `${ns}/actions/m${i++}?blocking=true`, {});
        if (r.status !== 200) throw new Error(`invoke failed: ${JSON.stringify(r.body)}`);
      };
    })(),
  );
  for (let round = 0; round < 5; round++) {
    await load(
      4,
      100,
      (() => {
        let i = 0;
        return async () => void (await call(big.url, "POST", `${ns}/actions/m${i++}?blocking=true`, {}));
      })(),
    );
  }
  const after = rssMb(big.proc.pid!);
  const containers = childPids(big.proc.pid!);
  const containersMb = containers.reduce((sum, pid) => sum + rssMb(pid), 0);
  report(`platform resident memory, ${containers.length - 2} warm containers`, after, "MB", { name: "idle platform", value: idle });
  report("platform resident memory, idle", idle, "MB");
  report("  all its container processes together", containersMb, "MB", { name: "platform", value: after });
  big.proc.kill("SIGTERM");
  await new Promise((r) => setTimeout(r, 300));
}

main().then(
  () => {
    cleanup();
    process.exit(0);
  },
  (e) => {
    console.error(e);
    cleanup();
    process.exit(1);
  },
);

// The local Rucio's transfer daemon: (1) throughput of archive copies made through rules (REST
// calls, the conveyor's checked copy, rule OK) vs. the same bytes copied and ADLER32-summed
// directly in this process; (2) time from adding a rule for a small file to the rule being OK, with
// the daemon's default interval (200 ms). All measured in the same run.
import { createReadStream, createWriteStream, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { Adler32, adler32Hex } from "../../lib/checksum/adler32.ts";
import { startService } from "../../test/support/service.ts";
import { report, summarise } from "./report.ts";

const dir = mkdtempSync(join(tmpdir(), "bench-rucio-"));
const buffer = join(dir, "buffer");
const FILES = Number(process.env.BENCH_RUCIO_FILES ?? 40);
const MIB = Number(process.env.BENCH_RUCIO_MIB ?? 8);

async function main(): Promise<void> {
  mkdirSync(join(buffer, "b"), { recursive: true });
  const content = Buffer.alloc(MIB * 1024 * 1024);
  for (let i = 0; i < content.length; i += 4) content.writeUInt32LE((i * 2654435761) >>> 0, i);
  const sum = adler32Hex(content);
  for (let i = 0; i < FILES; i++) writeFileSync(join(buffer, "b", `f${i}.nxs`), content);

  // baseline: the same copies, streamed and summed in this process
  mkdirSync(join(dir, "plain"), { recursive: true });
  let t = performance.now();
  for (let i = 0; i < FILES; i++) {
    const a = new Adler32();
    const tap = new Transform({
      transform(c: Buffer, _e, done) {
        a.update(c);
        done(null, c);
      },
    });
    await pipeline(createReadStream(join(buffer, "b", `f${i}.nxs`)), tap, createWriteStream(join(dir, "plain", `f${i}.nxs`)));
    if (a.hex() !== sum) throw new Error("baseline copy differs");
  }
  const plainMs = performance.now() - t;

  const svc = await startService(
    "local/rucio/main.ts",
    [
      "--port",
      "0",
      "--db",
      join(dir, "rucio.sqlite"),
      "--accounts",
      "root:root:pw",
      "--rses",
      "BUF:type=buffer,ARCH:type=archive",
      "--storage",
      JSON.stringify({ BUF: { dir: buffer, pfn: "http://dcache.bench" } }),
      "--storage-root",
      join(dir, "rses"),
    ],
    { listeners: ["rucio"] },
  );
  try {
    const base = svc.urls.rucio!;
    const token = (
      await fetch(`${base}/auth/userpass`, { headers: { "X-Rucio-Account": "root", "X-Rucio-Username": "root", "X-Rucio-Password": "pw" } })
    ).headers.get("x-rucio-auth-token")!;
    const call = async (method: string, path: string, body?: unknown) => {
      const r = await fetch(base + path, {
        method,
        headers: { "X-Rucio-Auth-Token": token, "Content-Type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return {
        status: r.status,
        json: (await r
          .text()
          .then((x) => (x ? JSON.parse(x) : undefined))
          .catch(() => undefined)) as unknown,
      };
    };
    const files = Array.from({ length: FILES }, (_, i) => ({
      scope: "raw",
      name: `/b/f${i}.nxs`,
      bytes: content.length,
      adler32: sum,
      pfn: `http://dcache.bench/b/f${i}.nxs`,
    }));
    if ((await call("POST", "/replicas", { rse: "BUF", files })).status !== 201) throw new Error("replica registration failed");
    const okOf = async (ids: string[]) => {
      for (;;) {
        const states = await Promise.all(ids.map(async (id) => ((await call("GET", `/rules/${id}`)).json as { state: string }).state));
        if (states.includes("STUCK")) throw new Error("a rule is STUCK");
        if (states.every((s) => s === "OK")) return;
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    t = performance.now();
    const ids: string[] = [];
    for (const f of files)
      ids.push(
        (
          (await call("POST", "/rules/", { dids: [{ scope: "raw", name: f.name }], account: "root", copies: 1, rse_expression: "ARCH" }))
            .json as string[]
        )[0]!,
      );
    await okOf(ids);
    const ruleMs = performance.now() - t;
    const mb = (FILES * content.length) / 1e6;
    report(`archive copies through rules (${FILES} × ${MIB} MiB)`, mb / (ruleMs / 1000), "MB/s", {
      name: "direct copy+ADLER32",
      value: mb / (plainMs / 1000),
    });
    report("direct copy + ADLER32 in-process (baseline)", mb / (plainMs / 1000), "MB/s");

    // latency of one small file's rule to OK (daemon interval 200 ms)
    writeFileSync(join(buffer, "b", "small.nxs"), "x");
    await call("POST", "/replicas", {
      rse: "BUF",
      files: [
        { scope: "raw", name: "/b/small.nxs", bytes: 1, adler32: adler32Hex(Buffer.from("x")), pfn: "http://dcache.bench/b/small.nxs" },
      ],
    });
    const lat: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t1 = performance.now();
      const [id] = (
        await call("POST", "/rules/", {
          dids: [{ scope: "raw", name: "/b/small.nxs" }],
          account: "root",
          copies: 1,
          rse_expression: "ARCH",
        })
      ).json as string[];
      await okOf([id!]);
      lat.push(performance.now() - t1);
      await call("DELETE", `/rules/${id}`, { purge_replicas: true });
      // wait for the reaper, so the next rule copies again
      for (;;) {
        const r = await fetch(`${base}/replicas/raw/${encodeURIComponent("/b/small.nxs")}?all_states=True`, {
          headers: { "X-Rucio-Auth-Token": token },
        });
        if (!(await r.text()).includes("ARCH")) break;
        await new Promise((res) => setTimeout(res, 20));
      }
    }
    const s = summarise(lat);
    report("small file: rule added → OK, p50", s.p50, "ms", { name: "daemon interval", value: 200 });
    report("small file: rule added → OK, p99", s.p99, "ms", { name: "daemon interval", value: 200 });
  } finally {
    await svc.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e: Error) => {
  console.error(e.stack ?? e.message);
  rmSync(dir, { recursive: true, force: true });
  process.exit(1);
});

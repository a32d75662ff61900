// The whole pipeline on this machine, as `npm start` runs it: small NeXus files copied into the
// storage folder, through storage event → provider → trigger fire → ingest sequence. For 10, 100 and
// 1,000 files: files/s, latency from close() to the catalogue step's end (p50/p99), and where the
// time goes — storage event + provider (close → fire accepted), platform dispatch (fire → sequence
// start, and the gaps between steps), and each function's own time. The reference is the functions'
// own time in the same run: the goal is provider + platform adding < 10 % to it.
import { closeSync, copyFileSync, mkdirSync, mkdtempSync, openSync, fsyncSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import openwhisk, { type Activation, type Dict } from "openwhisk";
import { writeNexus } from "../samples/detector-files.ts";
import { GUEST_AUTH, LocalStack } from "../stack/stack.ts";
import { report, summarise } from "./report.ts";

type Rec = Activation<Dict> & { end: number; start: number };
const pathOf = (a: Rec) => String(a.annotations?.find((x) => x.key === "path")?.value ?? "");

const root = mkdtempSync(join(tmpdir(), "e2e-bench-"));
process.env.SKIP_TYPECHECK = "1";
const stack = LocalStack.onFreePorts(root);

async function all(ow: ReturnType<typeof openwhisk>, since: number): Promise<Rec[]> {
  const out: Rec[] = [];
  for (let skip = 0; ; skip += 200) {
    const page = (await ow.activations.list({ docs: true, since, limit: 200, skip } as never)) as unknown as Rec[];
    out.push(...page);
    if (page.length < 200) return out;
  }
}

async function round(ow: ReturnType<typeof openwhisk>, sample: string, n: number, label: string): Promise<void> {
  const dir = join(stack.data, "bench", label);
  mkdirSync(dir, { recursive: true });
  const closed = new Map<string, number>();
  const since = Date.now();
  for (let i = 0; i < n; i++) {
    const name = `f-${String(i).padStart(5, "0")}.nxs`;
    copyFileSync(sample, join(dir, name));
    const fd = openSync(join(dir, name), "r");
    fsyncSync(fd);
    closeSync(fd);
    closed.set(`/bench/${label}/${name}`, Date.now());
  }
  let recs: Rec[] = [];
  const done = new Map<string, Rec>();
  const deadline = Date.now() + 20 * 60_000;
  while (done.size < n && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 1000));
    recs = await all(ow, since - 1000);
    for (const a of recs) {
      if (!pathOf(a).endsWith("/facility-dev-ingest") || !a.response?.success) continue;
      for (const f of ((a.response.result as Dict).files ?? []) as Array<{ path: string }>) if (closed.has(f.path)) done.set(f.path, a);
    }
  }
  const byId = new Map(recs.map((a) => [a.activationId, a]));
  const fires = recs.filter((a) => a.name === "raw-files");
  const fireOf = new Map<string, Rec>();
  for (const t of fires) for (const e of ((t.response?.result as Dict)?.events ?? []) as Array<{ subject: string }>) fireOf.set(e.subject, t);
  const latency: number[] = [];
  let eventProvider = 0;
  let dispatch = 0;
  let functions = 0;
  const perFunction = new Map<string, number>();
  const seqsSeen = new Set<string>();
  for (const [path, seq] of done) {
    const steps = ((seq.logs ?? []) as unknown as string[]).map((id) => byId.get(id)).filter((x): x is Rec => !!x);
    const cat = steps.find((s) => pathOf(s).endsWith("/facility/catalogue"));
    if (!cat) continue;
    latency.push(cat.end - closed.get(path)!);
    const fire = fireOf.get(path);
    if (fire) eventProvider += fire.start - closed.get(path)!;
    if (seqsSeen.has(seq.activationId)) continue;
    // per sequence run (a batch of files): dispatch and the functions' own time, up to catalogue
    seqsSeen.add(seq.activationId);
    const upto = steps.slice(0, steps.indexOf(cat) + 1);
    if (fire) dispatch += upto[0]!.start - fire.start;
    for (let i = 0; i < upto.length; i++) {
      const s = upto[i]!;
      functions += s.end - s.start;
      const fn = pathOf(s).split("/").pop()!;
      perFunction.set(fn, (perFunction.get(fn) ?? 0) + (s.end - s.start));
      if (i > 0) dispatch += s.start - upto[i - 1]!.end;
    }
  }
  const seconds = (Math.max(...[...done.values()].map((a) => a.end)) - since) / 1000;
  const l = summarise(latency);
  console.log(`-- ${n} files (${done.size} through ingest, ${seqsSeen.size} sequence runs)`);
  report(`${n} files: throughput close → ingest done`, done.size / seconds, "files/s");
  report(`${n} files: latency close → catalogue p50`, l.p50, "ms");
  report(`${n} files: latency close → catalogue p99`, l.p99, "ms");
  const perFile = (x: number) => x / Math.max(1, seqsSeen.size);
  report(`${n} files: storage event + provider, mean per file`, eventProvider / Math.max(1, done.size), "ms");
  report(`${n} files: platform dispatch per sequence run`, perFile(dispatch), "ms", { name: "functions' own time", value: perFile(functions) });
  for (const [fn, ms] of perFunction) report(`${n} files: ${fn} per sequence run`, perFile(ms), "ms", { name: "all functions", value: perFile(functions) });
}

async function main(): Promise<void> {
  const t0 = Date.now();
  await stack.start();
  await stack.serverless(["deploy"]);
  console.log(`stack up and deployed in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const ow = openwhisk({ apihost: stack.endpoints.OW_APIHOST, api_key: GUEST_AUTH });
  const sample = join(root, "scan.nxs");
  await writeNexus(sample, { title: "bench", proposal: "p1", run: "1", instrument: "P11", sample: "s" });
  await round(ow, sample, 3, "warmup");
  // BENCH_E2E_SIZES=10,100 for a shorter run
  const sizes = (process.env.BENCH_E2E_SIZES ?? "10,100,1000").split(",").map(Number);
  for (const n of sizes) await round(ow, sample, n, `n${n}`);
}

main()
  .catch((e: Error) => {
    console.error(`e2e bench: ${e.message}`);
    process.exitCode = 1;
  })
  .finally(() => stack.stop());

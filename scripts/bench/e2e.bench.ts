// The whole pipeline on this machine, as `npm start` runs it: small NeXus files copied at once into
// a watched folder of the storage, through storage event → provider → trigger fire → the ingest
// sequence and derive. For each size (BENCH_E2E_SIZES, default 1,10,100,1000): files/s through ingest
// and derive together (size 1: 20 single files one after the other, p50/p99 over them), the first
// catalogue entry after the copy, latency from close() to the
// catalogue step's end (p50/p99), and where the time goes per stage:
//   storage event     close() → the provider received the event (the event's `time`)
//   provider          event received → the trigger fire (settle, batch wait, outbox, ledger)
//   platform queue    fire → sequence start, the gaps between its steps, each step's waitTime
//   each function     its own time (activation duration) and its waits (waitTime, initTime)
//   CPU per file      what each process of the stack used over the round, storage to archive
//                     (cpu-use.ts): at a burst the cores are all busy and latencies follow how they
//                     are shared, while CPU seconds say what each part costs
// The reference is the functions' own time in the same run: the goal is storage event + provider +
// platform dispatch adding < 10 % to it. Waiting for a free container (waitTime) is shown apart:
// once CPU-bound steps keep every core busy, work queues for capacity, not for the platform. A last
// round copies one file into a directory made just before it (the new-directory path: watch, then
// list). The machine's state is printed before and after: how long an empty node process takes to
// start (figures of runs in periods of different speed do not compare; on this machine it has
// ranged from 75 to 170 ms).
import { spawnSync } from "node:child_process";
import { closeSync, copyFileSync, fsyncSync, mkdirSync, mkdtempSync, openSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import openwhisk, { type Activation, type Dict } from "openwhisk";
import { writeNexus } from "../samples/detector-files.ts";
import { CpuUse } from "./cpu-use.ts";
import { GUEST_AUTH, LocalStack } from "../stack/stack.ts";
import { parsePrometheus } from "../view/provider.ts";
import { report, summarise } from "./report.ts";

type Rec = Activation<Dict> & { end: number; start: number; duration: number };
type Ow = ReturnType<typeof openwhisk>;
const pathOf = (a: Rec) => String(a.annotations?.find((x) => x.key === "path")?.value ?? "");
const note = (a: Rec, key: string) => Number(a.annotations?.find((x) => x.key === key)?.value ?? 0);
/** The paths of the files an activation's result lists under `lists`. */
const pathsIn = (a: Rec, lists: Array<"files" | "skipped" | "failed">) => {
  const r = (a.response?.result ?? {}) as Record<string, Array<{ path: string }> | undefined>;
  return lists.flatMap((l) => r[l] ?? []).map((f) => f.path);
};
/** the files an activation is done with: processed, skipped or failed */
const filesOf = (a: Rec) => pathsIn(a, ["files", "skipped", "failed"]);
/** the files an activation processed (not those it skipped or failed, which may be retried) */
const processedOf = (a: Rec) => pathsIn(a, ["files"]);

const root = mkdtempSync(join(tmpdir(), "e2e-bench-"));
process.env.SKIP_TYPECHECK = "1";
const stack = LocalStack.onFreePorts(root);
const INGEST = "facility-dev-ingest";
const RAW_TRIGGER = "raw-files";
const DERIVE = "facility/derive";
const DERIVED = "facility-dev-derived";
const LIFECYCLE = "facility/lifecycle";
/** single files measured one after the other for the one-file latency */
const SINGLES = 20;

async function list(ow: Ow, since: number, name?: string): Promise<Rec[]> {
  const out: Rec[] = [];
  for (let skip = 0; ; skip += 200) {
    const page = (await ow.activations.list({
      docs: true,
      since,
      limit: 200,
      skip,
      ...(name ? { name } : {}),
    } as never)) as unknown as Rec[];
    out.push(...page);
    if (page.length < 200) return out;
  }
}

/**
 * The ended activations of `name` since `since`, each read once: the list without docs names them
 * (cheap for the platform), and only those not in `seen` yet are read whole. Polling whole records
 * every time would load the platform the bench measures with its own growing lists.
 */
async function ended(ow: Ow, since: number, name: string, seen: Map<string, Rec>): Promise<Rec[]> {
  const ids: string[] = [];
  for (let skip = 0; ; skip += 200) {
    const page = (await ow.activations.list({ since, limit: 200, skip, name } as never)) as unknown as Rec[];
    ids.push(...page.filter((a) => a.end && !seen.has(a.activationId)).map((a) => a.activationId));
    if (page.length < 200) break;
  }
  for (const id of ids) seen.set(id, (await ow.activations.get({ name: id } as never)) as unknown as Rec);
  return [...seen.values()];
}

/** Files of `closed` that an activation of `name` finished (`done`: which of its files count), and the activation. */
function finished(recs: Rec[], name: string, closed: Map<string, number>, into: Map<string, Rec>, done = filesOf): void {
  for (const a of recs) {
    if (!pathOf(a).endsWith(`/${name}`) || !a.response?.success) continue;
    for (const p of done(a)) if (closed.has(p)) into.set(p, a);
  }
}

interface ProviderFigures {
  /** fires made and seconds spent in them, all triggers */
  fires: number;
  fireSeconds: number;
  /** the raw-files trigger's events: stored in the outbox, and seconds from arrival to it */
  stored: number;
  intakeSeconds: number;
  /** …fired, and seconds they waited in the outbox */
  fired: number;
  outboxSeconds: number;
}

/** The provider's own account of where events spend their time (its Prometheus /metrics). */
async function providerMetrics(): Promise<ProviderFigures> {
  const samples = parsePrometheus(await (await fetch(`${stack.endpoints.PROVIDER_URL}/metrics`)).text());
  // all triggers (a series without labels), or one trigger's (labelled /namespace/trigger)
  const value = (name: string, trigger?: string) =>
    samples.find((s) => s.name === name && (trigger ? s.labels.trigger?.endsWith(`/${trigger}`) : !s.labels.trigger))?.value ?? 0;
  const all = (name: string) => value(name);
  const rawFiles = (name: string) => value(name, RAW_TRIGGER);
  return {
    fires: all("feed_fire_duration_seconds_count"),
    fireSeconds: all("feed_fire_duration_seconds_sum"),
    stored: rawFiles("feed_events_stored_total"),
    intakeSeconds: rawFiles("feed_event_intake_seconds_total"),
    fired: rawFiles("feed_events_fired_total"),
    outboxSeconds: rawFiles("feed_event_outbox_seconds_total"),
  };
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

/** Latencies close → catalogue step's end of the files of `ingested` (the sequence records' steps looked up in `byId`). */
function catalogueLatency(ingested: Map<string, Rec>, byId: Map<string, Rec>, closed: Map<string, number>): number[] {
  const out: number[] = [];
  for (const [path, seq] of ingested) {
    const cat = ((seq.logs ?? []) as unknown as string[])
      .map((id) => byId.get(id))
      .find((s) => s && pathOf(s).endsWith("/facility/catalogue"));
    if (cat) out.push(cat.end - closed.get(path)!);
  }
  return out;
}

/** One round of `n` files copied at once; quiet: only the files' latencies close → catalogue are returned. */
async function round(ow: Ow, sample: string, n: number, dir: string, label: string, quiet = false): Promise<number[]> {
  const rel = dir.slice(stack.data.length);
  const closed = new Map<string, number>();
  const before = await providerMetrics();
  const cpu = quiet ? undefined : CpuUse.start();
  const since = Date.now();
  for (let i = 0; i < n; i++) {
    const name = `${label}-${String(i).padStart(5, "0")}.nxs`;
    // copyFileSync closes the file it wrote: that close() is the instant latency counts from
    copyFileSync(sample, join(dir, name));
    closed.set(`${rel}/${name}`, Date.now());
    const fd = openSync(join(dir, name), "r");
    fsyncSync(fd);
    closeSync(fd);
  }
  const ingested = new Map<string, Rec>();
  const derived = new Map<string, Rec>();
  const [seenIngest, seenDerive, seenDerived] = [new Map<string, Rec>(), new Map<string, Rec>(), new Map<string, Rec>()];
  const deadline = Date.now() + 20 * 60_000;
  const pause = () => new Promise((r) => setTimeout(r, n >= 100 ? 2000 : 250));
  // only the two finishing activations are polled (a full listing each time would load the platform)
  while ((ingested.size < n || derived.size < n) && Date.now() < deadline) {
    await pause();
    finished(await ended(ow, since - 1000, INGEST, seenIngest), INGEST, closed, ingested);
    finished(await ended(ow, since - 1000, DERIVE, seenDerive), DERIVE, closed, derived);
  }
  // the previews derive wrote go through the derived pipeline: the next round starts after it
  const previews = new Map<string, number>();
  for (const a of new Set(derived.values())) {
    for (const f of ((a.response?.result as Dict)?.files ?? []) as Array<{ derived?: Array<{ path: string }> }>)
      for (const d of f.derived ?? []) previews.set(d.path, 0);
  }
  const previewed = new Map<string, Rec>();
  while (previewed.size < previews.size && Date.now() < deadline) {
    await pause();
    finished(await ended(ow, since - 1000, DERIVED, seenDerived), DERIVED, previews, previewed);
  }
  // A file's life on the buffer ends with lifecycle (archive, then release the buffer copy), run by
  // the feed's ledger once ingest and derive succeeded: the round ends when every file got there, so
  // that the next round starts on a quiet stack, not beside this one's archive copies and deletions.
  // (a stack without a lifecycle step, or one whose files stay stuck, is waited for a minute at most)
  const released = new Map<string, Rec>();
  const seenLifecycle = new Map<string, Rec>();
  let progressAt = Date.now();
  while (!quiet && released.size < n && Date.now() < deadline && Date.now() - progressAt < 60_000) {
    await pause();
    const before = released.size;
    finished(await ended(ow, since - 1000, LIFECYCLE, seenLifecycle), LIFECYCLE, closed, released, processedOf);
    if (released.size > before) progressAt = Date.now();
  }
  const used = cpu?.stop();
  const recs = await list(ow, since - 1000);
  const byId = new Map(recs.map((a) => [a.activationId, a]));
  if (quiet) return catalogueLatency(ingested, byId, closed);
  const after = await providerMetrics();
  const fireOf = new Map<string, { fire: Rec; time: number; listed: boolean }>();
  for (const t of recs.filter((a) => a.name === RAW_TRIGGER)) {
    for (const e of ((t.response?.result as Dict)?.events ?? []) as Array<{
      subject: string;
      time: string;
      data?: { recovered?: string };
    }>) {
      if (closed.has(e.subject)) fireOf.set(e.subject, { fire: t, time: Date.parse(e.time), listed: !!e.data?.recovered });
    }
  }
  const first = Math.min(...closed.values());
  const latency: number[] = [];
  const storage: number[] = [];
  const provider: number[] = [];
  const closeToFire: number[] = [];
  let listed = 0;
  let firstCatalogue = Infinity;
  const runs = new Map<string, { seq: Rec; steps: Rec[]; fire?: Rec; firstClose: number }>();
  for (const [path, seq] of ingested) {
    const steps = ((seq.logs ?? []) as unknown as string[]).map((id) => byId.get(id)).filter((x): x is Rec => !!x);
    const cat = steps.find((s) => pathOf(s).endsWith("/facility/catalogue"));
    if (!cat) continue;
    const close = closed.get(path)!;
    latency.push(cat.end - close);
    firstCatalogue = Math.min(firstCatalogue, cat.end);
    const f = fireOf.get(path);
    if (f) {
      closeToFire.push(f.fire.start - close);
      if (f.listed) listed++;
      else {
        storage.push(f.time - close);
        provider.push(f.fire.start - f.time);
      }
    }
    const run = runs.get(seq.activationId) ?? { seq, steps, fire: f?.fire, firstClose: close };
    run.firstClose = Math.min(run.firstClose, close);
    runs.set(seq.activationId, run);
  }
  // per sequence run (a batch of files): platform dispatch and the functions' own time
  const queue: number[] = [];
  const gaps: number[] = [];
  const waits: number[] = [];
  const own: number[] = [];
  const perFn = new Map<string, { own: number[]; wait: number[]; init: number[] }>();
  for (const { seq, steps, fire } of runs.values()) {
    if (fire) queue.push(seq.start - fire.start);
    let g = steps.length ? steps[0]!.start - seq.start : 0;
    for (let i = 1; i < steps.length; i++) g += steps[i]!.start - steps[i - 1]!.end;
    gaps.push(g);
    // waitTime: from the step's invoke to its container (waiting for capacity: CPU-bound steps
    // queue once the cores are busy); the rest of a gap is the platform's own dispatch
    waits.push(steps.reduce((a, s) => a + note(s, "waitTime"), 0));
    own.push(steps.reduce((a, s) => a + s.duration, 0));
    for (const s of steps) {
      const fn = pathOf(s).split("/").pop()!;
      const e = perFn.get(fn) ?? { own: [], wait: [], init: [] };
      e.own.push(s.duration);
      e.wait.push(note(s, "waitTime"));
      if (note(s, "initTime")) e.init.push(note(s, "initTime"));
      perFn.set(fn, e);
    }
  }
  const deriveRuns = new Set([...derived.values()]);
  const derive = { own: [...deriveRuns].map((a) => a.duration), wait: [...deriveRuns].map((a) => note(a, "waitTime")) };
  const lastDone = Math.max(...[...ingested.values(), ...derived.values()].map((a) => a.end));
  const l = summarise(latency);
  const ownPerRun = mean(own);
  const stepDispatch = Math.max(0, mean(gaps) - mean(waits));
  const overheadPerRun = mean(closeToFire) + mean(queue) + stepDispatch;
  console.log(
    `-- ${label}: ${n} files (${ingested.size} through ingest, ${derived.size} through derive, ${runs.size} ingest runs, ${deriveRuns.size} derive runs, ${previewed.size} previews catalogued)`,
  );
  report(
    `${label}: throughput, ingest and derive together`,
    (Math.min(ingested.size, derived.size) * 1000) / (lastDone - first),
    "files/s",
  );
  report(`${label}: first catalogue entry after the copy`, firstCatalogue - first, "ms");
  if (previewed.size)
    report(`${label}: previews catalogued too, after the copy`, Math.max(...[...previewed.values()].map((a) => a.end)) - first, "ms");
  if (released.size)
    report(
      `${label}: archived and buffer copy released, ${released.size} files, after the copy`,
      Math.max(...[...released.values()].map((a) => a.end)) - first,
      "ms",
    );
  report(`${label}: latency close → catalogue p50`, l.p50, "ms");
  report(`${label}: latency close → catalogue p99`, l.p99, "ms");
  report(`${label}: close → fire, mean per file`, mean(closeToFire), "ms");
  report(`${label}:   storage event (close → provider), mean`, mean(storage), "ms");
  report(`${label}:   provider (event → fire), mean`, mean(provider), "ms");
  // per event, as the provider measured it: a mean of the difference over the round
  const perEvent = (seconds: keyof ProviderFigures, count: keyof ProviderFigures) => {
    const n = after[count] - before[count];
    return n ? ((after[seconds] - before[seconds]) * 1000) / n : 0;
  };
  report(`${label}:     arrival → outbox (enrich, filter, store), mean`, perEvent("intakeSeconds", "stored"), "ms");
  report(`${label}:     outbox → fire (settle, batch, fires ahead), mean`, perEvent("outboxSeconds", "fired"), "ms");
  report(
    `${label}:   provider's fires (both triggers), mean round trip`,
    perEvent("fireSeconds", "fires"),
    `ms × ${after.fires - before.fires}`,
  );
  if (listed) report(`${label}:   files found by listing a new directory`, listed, "files");
  report(`${label}: platform queue (fire → sequence start), mean`, mean(queue), "ms");
  report(`${label}: gaps between steps per ingest run`, mean(gaps), "ms");
  report(`${label}:   of which waiting for a free container`, mean(waits), "ms", { name: "functions' own time", value: ownPerRun });
  report(`${label}:   of which platform dispatch`, stepDispatch, "ms");
  report(`${label}: event + provider + dispatch per ingest run`, overheadPerRun, "ms", { name: "functions' own time", value: ownPerRun });
  report(`${label}:   the same with the waits for a free container`, overheadPerRun + mean(waits), "ms", {
    name: "functions' own time",
    value: ownPerRun,
  });
  for (const [fn, e] of perFn) {
    report(`${label}: ${fn} own time per run`, mean(e.own), "ms", { name: "ingest functions", value: ownPerRun });
    report(`${label}: ${fn} waitTime per run`, mean(e.wait), "ms");
    if (e.init.length) report(`${label}: ${fn} cold starts (initTime mean)`, mean(e.init), `ms × ${e.init.length}`);
  }
  report(`${label}: derive own time per run`, mean(derive.own), "ms", { name: "ingest functions", value: ownPerRun });
  report(`${label}: derive waitTime per run`, mean(derive.wait), "ms");
  if (used) {
    // what each part costs, whatever the cores' sharing did to the latencies above
    const perFile = (seconds: number) => (seconds * 1000) / n;
    const all = perFile([...used.values()].reduce((a, b) => a + b, 0));
    report(`${label}: CPU per file, the whole stack (storage to archive)`, all, "ms");
    for (const [kind, seconds] of [...used].sort((a, b) => b[1] - a[1]))
      report(`${label}:   ${kind}`, perFile(seconds), "ms", { name: "the whole stack", value: all });
  }
  return latency;
}

/** The machine's state: an empty node process's start, p50 of 5. */
function emptyNodeMs(): number {
  const ms = Array.from({ length: 5 }, () => {
    const t = performance.now();
    spawnSync(process.execPath, ["-e", ""]);
    return performance.now() - t;
  });
  return summarise(ms).p50;
}

async function main(): Promise<void> {
  report("machine: empty node process start p50, before", emptyNodeMs(), "ms");
  const t0 = Date.now();
  await stack.start();
  await stack.serverless(["deploy"]);
  console.log(`stack up and deployed in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const ow = openwhisk({ apihost: stack.endpoints.OW_APIHOST, api_key: GUEST_AUTH });
  const sample = join(root, "scan.nxs");
  // ~65 KB with two 128×128 detector frames: derive makes a preview of each file
  await writeNexus(sample, { title: "bench", proposal: "p1", run: "1", instrument: "P11", sample: "s", frames: [2, 128, 128] });
  // the files land in a folder the provider already watches (made, then warmed up with a few files)
  const dir = join(stack.data, "bench", "raw");
  mkdirSync(dir, { recursive: true });
  await new Promise((r) => setTimeout(r, 3000));
  await round(ow, sample, 3, dir, "warmup", true);
  // BENCH_E2E_SIZES=1,10,100 for a shorter run
  const sizes = (process.env.BENCH_E2E_SIZES ?? "1,10,100,1000").split(",").map(Number);
  for (const [i, n] of sizes.entries()) {
    if (n !== 1) {
      // a size given twice writes new names: the same names again would be the same content, which
      // the file ledger rightly fires nothing for
      await round(ow, sample, n, dir, sizes.indexOf(n) === i ? `n${n}` : `n${n}-${i}`);
      continue;
    }
    // one small file on a warm stack, as a beamline writes them: SINGLES files one after the other,
    // each waited for (the last one's stages are printed); p99 of 20 is their slowest
    const singles: number[] = [];
    for (let k = 1; k < SINGLES; k++) singles.push(...(await round(ow, sample, 1, dir, `single-${k}`, true)));
    singles.push(...(await round(ow, sample, 1, dir, "n1")));
    const l = summarise(singles);
    report(`n1 × ${singles.length}, one at a time: close → catalogue p50`, l.p50, "ms");
    report(`n1 × ${singles.length}, one at a time: close → catalogue p99`, l.p99, "ms");
  }
  const fresh = join(stack.data, "bench", `new-${Date.now()}`);
  mkdirSync(fresh);
  await round(ow, sample, 1, fresh, "new-dir");
  report("machine: empty node process start p50, after", emptyNodeMs(), "ms");
}

main()
  .catch((e: Error) => {
    console.error(`e2e bench: ${e.message}`);
    process.exitCode = 1;
  })
  .finally(async () => {
    await stack.stop();
    rmSync(root, { recursive: true, force: true });
  });

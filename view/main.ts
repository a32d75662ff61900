// The pipeline's web page: Live (every activation as it happens), Files (the feed provider's file
// ledger, history, catalogue and replica links, previews, Retry), Functions (the catalogue of
// deployed actions) and Health (the provider's metrics over time). Data from the view server only.
import { html } from "htm/preact";
import { render, type VNode } from "preact";
import { useEffect, useMemo, useState } from "preact/hooks";
import { ActivationStore, getJson, postJson, type Act, type LedgerFile } from "./api.ts";
import { Chart } from "./chart.ts";
import { VirtualList } from "./virtual-list.ts";
import "./style.css";

const time = (t: number) => new Date(t).toTimeString().slice(0, 8);
const short = (name: string) => name.split("/").slice(1).join("/") || name;
const list = (paths: string[], max = 3) =>
  paths.length > max ? `${paths.slice(0, max).join(", ")} … (+${paths.length - max})` : paths.join(", ");

let tick = 0;
const listeners = new Set<() => void>();
const store = new ActivationStore(() => {
  tick++;
  for (const l of listeners) l();
});
store.start(1000);

function useStore(): number {
  const [, set] = useState(0);
  useEffect(() => {
    const l = () => set(tick);
    listeners.add(l);
    return () => void listeners.delete(l);
  }, []);
  return tick;
}

/** Files this activation failed: a step those of its own step (earlier steps' failures ride along), others all. */
const ownFailures = (a: Act) => (a.kind === "step" ? a.failed.filter((f) => a.name.endsWith(`/${f.step}`)) : a.failed);

function outcome(a: Act): VNode {
  if (a.error) return html`<span class="bad">error</span>`;
  if (!a.success) return html`<span class="bad">${a.status}</span>`;
  const own = ownFailures(a).length;
  if (own) return html`<span class="warn">ok, ${own} failed</span>`;
  return html`<span class="ok">ok</span>`;
}

function reasons(a: Act): string {
  const parts: string[] = [];
  if (a.error) parts.push(`${a.error.step ?? ""}: ${a.error.message}${a.error.paths.length ? ` [${list(a.error.paths)}]` : ""}`);
  for (const f of ownFailures(a)) parts.push(`failed ${f.step}: ${f.reason}`);
  for (const s of a.skipped) parts.push(`skipped ${s.path}: ${s.reason}`);
  return parts.join(" · ");
}

interface FileFlow {
  path: string;
  /** when its storage event was fired */
  fired?: number;
  closed?: number;
  steps: number;
  sequences: string[];
  state: "running" | "ok" | "failed" | "skipped";
  reason?: string;
  lastEnd: number;
}

/**
 * Per file: its fire, the sequences and steps that ran for it, and how it ended (from the
 * activations): failed when any pipeline failed it, ok when a pipeline or action carried it to its
 * end, skipped when all that ran skipped it (a derive with no frame to preview next to a successful
 * ingest is a note, not the file's state), else still running.
 */
function flows(recs: Act[]): FileFlow[] {
  // failures by pipeline (sequence or action): a later run of the same pipeline that carries the file (a retry) clears its failure
  type Acc = FileFlow & { done: boolean; failedBy: Map<string, string>; skippedWhy?: string };
  const by = new Map<string, Acc>();
  const get = (path: string, t: number) => {
    let f = by.get(path);
    if (!f) by.set(path, (f = { path, steps: 0, sequences: [], state: "running", lastEnd: t, done: false, failedBy: new Map() }));
    f.lastEnd = Math.max(f.lastEnd, t);
    return f;
  };
  for (const a of recs) {
    if (a.kind === "trigger") {
      for (const x of a.files) {
        const f = get(x.path, a.end);
        f.fired ??= a.start;
        if (x.time) f.closed ??= x.time;
      }
      continue;
    }
    for (const x of a.files) {
      const f = get(x.path, a.end);
      if (a.kind === "step") f.steps++;
      else if (a.success && !a.error) {
        f.done = true;
        f.failedBy.delete(a.name);
      }
      if (a.kind === "sequence" && !f.sequences.includes(short(a.name))) f.sequences.push(short(a.name));
    }
    if (a.kind === "step") continue;
    const ran = (f: Acc) => {
      if (a.kind === "sequence" && !f.sequences.includes(short(a.name))) f.sequences.push(short(a.name));
    };
    for (const x of a.failed) {
      const f = get(x.path, a.end);
      f.failedBy.set(a.name, `${x.step}: ${x.reason}`);
      ran(f);
    }
    for (const x of a.skipped) get(x.path, a.end).skippedWhy = `${short(a.name)} skipped: ${x.reason}`;
    if (a.error) {
      for (const p of a.error.paths) {
        const f = get(p, a.end);
        f.failedBy.set(a.name, `${a.error.step ?? ""}: ${a.error.message}`);
        ran(f);
      }
    }
  }
  return [...by.values()]
    .map(({ done, failedBy, skippedWhy, ...f }) => {
      const failedWhy = [...failedBy.values()][0];
      const state: FileFlow["state"] = failedWhy ? "failed" : done ? "ok" : skippedWhy ? "skipped" : "running";
      const reason = failedWhy ?? skippedWhy;
      return reason ? { ...f, state, reason } : { ...f, state };
    })
    .sort((x, y) => y.lastEnd - x.lastEnd);
}

function Live(): VNode {
  useStore();
  const [byFile, setByFile] = useState(false);
  const recs = store.records;
  const counts = { trigger: 0, sequence: 0, step: 0, action: 0 } as Record<string, number>;
  let failed = 0;
  for (const a of recs) {
    counts[a.kind]!++;
    if (!a.success || a.error) failed++;
  }
  const newestFirst = useMemo(() => recs.slice().reverse(), [recs.length]);
  const files = useMemo(() => (byFile ? flows(recs) : []), [recs.length, byFile]);
  return html`<section>
    <p class="summary">Since ${new Date(store.since).toLocaleString()}: <b data-testid="live-count">${recs.length}</b> activations:${" "}
      <span data-testid="live-fires">${counts.trigger}</span> fires, ${counts.sequence} sequences, ${counts.step} steps, ${counts.action} actions,${" "}
      <span class=${failed ? "bad" : ""}>${failed} not successful</span>${store.error ? html` <span class="bad">(${store.error})</span>` : ""}</p>
    <p><label><input type="checkbox" data-testid="by-file" checked=${byFile} onChange=${() => setByFile(!byFile)} /> per file: storage event → fire → sequences → steps</label></p>
    ${
      byFile
        ? html`<div class="vhead flow"><span>file</span><span>closed → fired</span><span>pipelines</span><span>steps</span><span>state</span><span>reason</span></div>
    <${VirtualList} testid="live-files" items=${files} row=${(
      f: FileFlow,
    ) => html`<div class="flow" data-path=${f.path} data-state=${f.state}>
      <span>${f.path}</span><span class="num">${f.closed && f.fired ? `${((f.fired - f.closed) / 1000).toFixed(1)} s` : ""}</span><span>${f.sequences.join(", ")}</span><span class="num">${f.steps}</span>
      <span class=${f.state === "failed" ? "bad" : f.state === "ok" ? "ok" : "warn"}>${f.state}</span><span class=${f.state === "failed" ? "files bad" : "files note"}>${f.reason ?? ""}</span></div>`} />`
        : html`
    <div class="vhead"><span>time</span><span>kind</span><span>what</span><span>outcome</span><span>ms</span><span>files · reasons</span></div>
    <${VirtualList} testid="live-list" items=${newestFirst} row=${(
      a: Act,
    ) => html`<div class=${`live-row kind-${a.kind}`} data-id=${a.id} title=${reasons(a)}>
      <span>${time(a.end)}</span><span>${a.kind === "trigger" ? "fire" : a.kind}</span><span>${short(a.name)}</span><span>${outcome(a)}</span><span class="num">${a.duration}</span>
      <span class="files">${list(a.files.map((f) => f.path))}${reasons(a) ? html` <span class="bad">${reasons(a)}</span>` : ""}</span></div>`} />`
    }
  </section>`;
}

function FileDetail(props: { path: string; onClose: () => void }): VNode {
  const [d, setD] = useState<{
    ledger: LedgerFile[];
    history: Act[];
    pid: string | null;
    did: { scope: string; name: string } | null;
    derived: Array<{ path: string; kind?: string }>;
  } | null>(null);
  const [extra, setExtra] = useState<{ title: string; body: unknown } | null>(null);
  const [err, setErr] = useState("");
  useEffect(() => {
    getJson<typeof d>(`/api/file?path=${encodeURIComponent(props.path)}`).then(setD, (e: Error) => setErr(e.message));
  }, [props.path, useStore()]);
  const show = (title: string, url: string) =>
    getJson(url).then(
      (body) => setExtra({ title, body }),
      (e: Error) => setExtra({ title, body: { error: e.message } }),
    );
  return html`<div class="detail" data-testid="file-detail">
    <h3>${props.path} <button onClick=${props.onClose}>close</button></h3>
    ${err && html`<p class="bad">${err}</p>`}
    ${
      d &&
      html`<div>
      <h4>State per pipeline</h4>
      <table><tr><th>trigger</th><th>state</th><th>step</th><th>reason</th><th>arrived</th><th>updated</th></tr>
      ${d.ledger.map((f) => html`<tr data-testid="detail-state"><td>${f.trigger}</td><td class=${`state-${f.state}`}>${f.state}</td><td>${f.step ?? ""}</td><td>${f.reason ?? ""}</td><td>${f.arrived ?? ""}</td><td>${f.updated ?? ""}</td></tr>`)}</table>
      <p>${d.pid ? html`<button data-testid="scicat-link" onClick=${() => show(`SciCat dataset ${d.pid}`, `/api/scicat?pid=${encodeURIComponent(d.pid!)}`)}>SciCat dataset ${d.pid}</button>` : "no SciCat dataset yet"}
         ${" "}${d.did ? html`<button data-testid="rucio-link" onClick=${() => show(`Rucio rules of ${d.did!.scope}:${d.did!.name}`, `/api/rucio?scope=${encodeURIComponent(d.did!.scope)}&name=${encodeURIComponent(d.did!.name)}`)}>Rucio rules</button>` : "no Rucio DID yet"}</p>
      ${extra && html`<details open><summary>${extra.title}</summary><pre>${JSON.stringify(extra.body, null, 2)}</pre></details>`}
      ${d.derived.filter((x) => x.path.endsWith(".png")).map((x) => html`<figure><img data-testid="preview" alt=${`preview of ${props.path}`} src=${`/api/preview?path=${encodeURIComponent(x.path)}`} /><figcaption>${x.path}</figcaption></figure>`)}
      <h4>History</h4>
      <table>${d.history.map((a) => html`<tr><td>${time(a.end)}</td><td>${a.kind}</td><td>${short(a.name)}</td><td>${outcome(a)}</td><td class="num">${a.duration} ms</td><td>${reasons(a)}</td></tr>`)}</table>
    </div>`
    }
  </div>`;
}

function Files(): VNode {
  // #files?prefix=/some/path opens the view on that prefix (a link to share)
  const [prefix, setPrefix] = useState(new URLSearchParams(location.hash.split("?")[1] ?? "").get("prefix") ?? "/");
  const [state, setState] = useState("");
  const [files, setFiles] = useState<LedgerFile[] | null>(null);
  const [truncated, setTruncated] = useState(false);
  const [err, setErr] = useState("");
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [open, setOpen] = useState<string | null>(null);
  const [note, setNote] = useState("");
  const load = () =>
    getJson<{ files: LedgerFile[]; truncated: boolean }>(
      `/api/files?prefix=${encodeURIComponent(prefix)}${state ? `&state=${state}` : ""}`,
    ).then(
      (r) => {
        setFiles(r.files);
        setTruncated(r.truncated);
        setErr("");
      },
      (e: Error) => setErr(e.message),
    );
  useEffect(() => {
    void load();
    const t = setInterval(load, 3000);
    return () => clearInterval(t);
  }, [prefix, state]);
  const retry = (paths: string[]) =>
    postJson<{ retried: number }>("/api/files/retry", { paths }).then(
      (r) => {
        setNote(`${r.retried} file(s) sent again`);
        setSelected(new Set());
        void load();
      },
      (e: Error) => setNote(e.message),
    );
  const toggle = (p: string) => {
    const s = new Set(selected);
    if (s.has(p)) s.delete(p);
    else s.add(p);
    setSelected(s);
  };
  const counts: Record<string, number> = {};
  for (const f of files ?? []) counts[f.state] = (counts[f.state] ?? 0) + 1;
  return html`<section>
    <form class="bar" onSubmit=${(e: Event) => {
      e.preventDefault();
      void load();
    }}>
      <input data-testid="prefix" value=${prefix} size="50" placeholder="/path or prefix" onInput=${(e: Event) => setPrefix((e.target as HTMLInputElement).value)} />
      <select value=${state} onChange=${(e: Event) => setState((e.target as HTMLSelectElement).value)}>
        <option value="">any state</option>${["pending", "fired", "retrying", "succeeded", "skipped", "failed"].map((s) => html`<option value=${s}>${s}</option>`)}
      </select>
      <button type="submit">Find</button>
      <button type="button" data-testid="retry-selected" disabled=${selected.size === 0} onClick=${() => retry([...selected])}>Retry ${selected.size || ""} selected</button>
      <span data-testid="retry-note">${note}</span>
    </form>
    ${err && html`<p class="bad">${err}</p>`}
    <p class="summary" data-testid="files-count" data-count=${files ? files.length : ""}>${
      files
        ? `${files.length} file(s): ${Object.entries(counts)
            .map(([k, v]) => `${v} ${k}`)
            .join(", ")}${truncated ? " — the first ones only: narrow the prefix" : ""}`
        : "loading…"
    }</p>
    ${
      files &&
      html`<${VirtualList} testid="files-list" items=${files} height=${360} row=${(
        f: LedgerFile,
      ) => html`<div class="file-row" data-path=${f.path} data-state=${f.state} data-trigger=${f.trigger}>
      <input type="checkbox" disabled=${f.state !== "failed"} checked=${selected.has(f.path)} onChange=${() => toggle(f.path)} />
      <a href="#files" onClick=${(e: Event) => {
        e.preventDefault();
        setOpen(f.path);
      }}>${f.path}</a><span class=${`state state-${f.state}`}>${f.state}</span><span class="trig">${f.trigger.split("/").pop()}</span>
      <span class="reason">${f.step ? `${f.step}${f.permanent ? " (permanent)" : ""}: ${f.reason ?? ""}` : ""}</span>
      ${f.state === "failed" ? html`<button class="retry" data-testid="retry-one" onClick=${() => retry([f.path])}>Retry</button>` : ""}</div>`} />`
    }
    ${open && html`<${FileDetail} path=${open} onClose=${() => setOpen(null)} />`}
  </section>`;
}

interface Fn {
  name: string;
  kind: string;
  version: string;
  description?: string;
  parameters: Array<{ name: string; description: string; required: boolean; type?: string; default?: unknown; secret?: boolean }>;
  sampleInput?: unknown;
  sampleOutput?: unknown;
  provenance?: {
    bundleSha256: string;
    git: { commit: string | null; dirty: boolean | null };
    dependencies: Record<string, string>;
    source: string;
  };
  bound: Record<string, unknown>;
  components?: string[];
  stats: { invocations: number; errors: number; errorRate: number; p50: number | null; p99: number | null };
}

function Functions(): VNode {
  const [fns, setFns] = useState<Fn[] | null>(null);
  const [triggers, setTriggers] = useState<
    Array<{ name: string; feed?: string; rules: Array<{ name: string; action: string; status: string }> }>
  >([]);
  const [err, setErr] = useState("");
  useEffect(() => {
    const load = () =>
      getJson<{ functions: Fn[]; triggers: typeof triggers }>("/api/functions").then(
        (r) => {
          setFns(r.functions);
          setTriggers(r.triggers);
        },
        (e: Error) => setErr(e.message),
      );
    void load();
    const t = setInterval(load, 10_000);
    return () => clearInterval(t);
  }, []);
  const j = (v: unknown) => JSON.stringify(v, null, 2);
  return html`<section>
    ${err && html`<p class="bad">${err}</p>`}
    ${!fns && !err && html`<p>loading…</p>`}
    ${
      triggers.length > 0 &&
      html`<h3>Triggers and rules</h3><table data-testid="triggers"><tr><th>trigger</th><th>feed</th><th>rules → action (status)</th></tr>
      ${triggers.map((t) => html`<tr><td>${t.name}</td><td>${t.feed ?? ""}</td><td>${t.rules.map((r) => `${r.name} → ${r.action} (${r.status})`).join(" · ")}</td></tr>`)}</table>`
    }
    ${fns?.map(
      (f) => html`<article class="fn" data-testid="function" data-name=${f.name}>
      <h3>${f.name} <small>${f.kind} v${f.version}</small></h3>
      ${f.description && html`<p>${f.description}</p>`}
      ${f.components && html`<p>steps: ${f.components.join(" → ")}</p>`}
      <p class="stats">${f.stats.invocations} invocations · p50 ${f.stats.p50 ?? "–"} ms · p99 ${f.stats.p99 ?? "–"} ms · error rate ${(f.stats.errorRate * 100).toFixed(1)} %</p>
      ${
        f.parameters.length > 0 &&
        html`<table class="params"><tr><th>parameter</th><th>type</th><th>default</th><th>required</th><th>bound value</th><th>description</th></tr>
        ${f.parameters.map(
          (
            p,
          ) => html`<tr data-testid="param" data-param=${p.name}><td>${p.name}</td><td>${p.type ?? ""}</td><td>${p.default === undefined ? "" : String(p.default)}</td><td>${p.required ? "yes" : ""}</td>
          <td>${f.bound[p.name] === undefined ? "" : typeof f.bound[p.name] === "string" ? f.bound[p.name] : JSON.stringify(f.bound[p.name])}</td><td>${p.description}</td></tr>`,
        )}</table>`
      }
      ${
        f.provenance &&
        html`<p class="prov">bundle SHA-256 <code data-testid="bundle-sha">${f.provenance.bundleSha256}</code> · commit <code>${f.provenance.git.commit ?? "unknown"}${f.provenance.git.dirty ? " (uncommitted changes)" : ""}</code> · source ${f.provenance.source}<br />
        bundled: ${
          Object.entries(f.provenance.dependencies)
            .map(([n, v]) => `${n}@${v}`)
            .join(", ") || "no packages"
        }<br />
        citation: <a href=${`/api/cite?action=${encodeURIComponent(f.name)}&format=codemeta`} target="_blank">codemeta.json</a> · <a href=${`/api/cite?action=${encodeURIComponent(f.name)}&format=datacite`} target="_blank">datacite.json (DOI metadata)</a></p>`
      }
      ${f.sampleInput !== undefined && html`<details><summary>sample input and output</summary><pre>${j(f.sampleInput)}</pre><pre>${j(f.sampleOutput)}</pre></details>`}
    </article>`,
    )}
  </section>`;
}

type Point = Record<string, number> & { t: number };

/** Per-bucket rates of counters (their differences), and per-bucket levels of gauges. */
function rates(series: Point[], keys: string[]): number[][] {
  const xs: number[] = [];
  const ys = keys.map(() => [] as number[]);
  for (let i = 1; i < series.length; i++) {
    const dt = (series[i]!.t - series[i - 1]!.t) / 1000;
    xs.push(series[i]!.t / 1000);
    for (const [j, k] of keys.entries()) ys[j]!.push(Math.max(0, (series[i]![k]! - series[i - 1]![k]!) / dt));
  }
  return [xs, ...ys];
}

function Health(): VNode {
  useStore();
  const [h, setH] = useState<{ provider: unknown; series: Point[]; error: string | null } | null>(null);
  useEffect(() => {
    const load = () => getJson<typeof h>("/api/health").then(setH, () => {});
    void load();
    const t = setInterval(load, 5000);
    return () => clearInterval(t);
  }, []);
  // throughput and close → catalogue latency from the activations (10 s buckets)
  const perf = useMemo(() => {
    const fires = new Map<string, Act>();
    for (const a of store.records) if (a.kind === "trigger") fires.set(a.id, a);
    const buckets = new Map<number, { files: number; lat: number[] }>();
    for (const a of store.records) {
      if (a.kind !== "sequence" || !a.success) continue;
      const b = Math.floor(a.end / 10_000) * 10;
      const e = buckets.get(b) ?? { files: 0, lat: [] };
      e.files += a.files.length;
      const fire = a.cause ? fires.get(a.cause) : undefined;
      for (const f of a.files) {
        const t = fire?.files.find((x) => x.path === f.path)?.time ?? fire?.start;
        if (t) e.lat.push((a.end - t) / 1000);
      }
      buckets.set(b, e);
    }
    // every 10 s bucket from the first to the last, empty ones as 0 files (and no latency)
    const keys = [...buckets.keys()];
    const xs: number[] = [];
    if (keys.length) for (let x = Math.min(...keys); x <= Math.max(...keys); x += 10) xs.push(x);
    const med = (l: number[]) => (l.length ? l.sort((a, b) => a - b)[Math.floor(l.length / 2)]! : 0);
    return {
      thr: [xs, xs.map((x) => (buckets.get(x)?.files ?? 0) / 10)],
      lat: [xs, xs.map((x) => (buckets.get(x)?.lat.length ? med(buckets.get(x)!.lat) : null))],
    };
  }, [store.records.length]);
  const s = h?.series ?? [];
  // a series the provider does not export (replicas and leases exist only with a shared PostgreSQL store) stays empty
  const level = (keys: string[]) => [s.map((p) => p.t / 1000), ...keys.map((k) => s.map((p) => p[k] ?? null))];
  const ph = (h?.provider ?? {}) as {
    status?: string;
    store?: { kind?: string };
    registrations?: number;
    sources?: unknown;
    ha?: unknown;
    error?: string;
  };
  return html`<section class="charts">
    ${h?.error && html`<p class="bad">${h.error}</p>`}
    <p class="summary" data-testid="provider-status">Feed provider: <b class=${ph.status === "ok" ? "ok" : "bad"}>${ph.status ?? ph.error ?? "unknown"}</b>,
      store ${ph.store?.kind ?? "?"}, ${ph.registrations ?? "?"} registration(s); ${ph.ha ? "replicas share the store (leases below)" : "one replica (no leases: replicas need the PostgreSQL store)"}</p>
    <${Chart} testid="chart-throughput" title="Files through a pipeline (per s)" series=${["files/s"]} data=${perf.thr} />
    <${Chart} testid="chart-latency" title="File close → catalogued (median, s)" series=${["latency"]} data=${perf.lat} unit=" s" />
    <${Chart} testid="chart-fires" title="Feed: events received and fired (per s)" series=${["received", "fired", "fire retries"]} data=${rates(s, ["received", "fired", "retries"])} />
    <${Chart} testid="chart-outbox" title="Outbox depth and dead letters" series=${["outbox", "dead letters"]} data=${level(["outbox", "deadLettered"])} />
    <${Chart} testid="chart-replicas" title="Provider replicas and leases held" series=${["replicas", "leases"]} data=${level(["replicas", "leases"])} />
    <details><summary>provider /health</summary><pre>${JSON.stringify(h?.provider ?? null, null, 2)}</pre></details>
  </section>`;
}

const VIEWS: Record<string, () => VNode> = { live: Live, files: Files, functions: Functions, health: Health };

function App(): VNode {
  const viewOf = () => location.hash.slice(1).split("?")[0] || "live";
  const [view, setView] = useState(viewOf());
  useEffect(() => {
    const on = () => setView(viewOf());
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  const View = VIEWS[view] ?? Live;
  return html`<header><h1>Storage events pipeline</h1><nav>${Object.keys(VIEWS).map((v) => html`<a href=${`#${v}`} data-testid=${`tab-${v}`} class=${v === view ? "active" : ""}>${v[0]!.toUpperCase() + v.slice(1)}</a>`)}</nav></header>
    <main data-view=${view}><${View} /></main>`;
}

const root = document.getElementById("app")!;
root.textContent = "";
render(html`<${App} />`, root);
